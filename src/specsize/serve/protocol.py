"""The OpenAI API's request bodies (the fields this server honours; unknown fields are ignored, as OpenAI
clients send some) and its error shape: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StreamOptions(BaseModel):
    include_usage: bool = False


class Sampling(BaseModel):
    """Fields shared by /v1/completions and /v1/chat/completions (top_k and ignore_eos are vLLM's extensions)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    ignore_eos: bool = False
    n: Literal[1] = 1  # one choice per request

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class CompletionRequest(Sampling):
    prompt: str | list[int] | list[str]
    max_tokens: int | None = Field(16, ge=1)  # OpenAI's default for completions
    echo: Literal[False] = False


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: str


class ChatCompletionRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)  # None: up to the slot's room
    max_completion_tokens: int | None = Field(None, ge=1)


def error_body(message: str, status: int, param: str | None = None) -> dict:
    kind = {400: "BadRequestError", 404: "NotFoundError", 413: "BadRequestError", 422: "BadRequestError",
            503: "ServiceUnavailableError"}.get(status, "InternalServerError")  # fmt: skip
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}  # vLLM's shape
