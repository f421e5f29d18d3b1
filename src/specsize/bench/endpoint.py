"""One streamed request to an OpenAI-compatible server, timed the way the serving benchmarks time it.

Definitions follow vLLM's benchmarks/backend_request_func.py and SGLang's bench_serving.py (the same code,
SGLang's adapted from vLLM's):
- TTFT: from sending the request to the first streamed chunk that carries text;
- ITL: the gap between two successive chunks that carry text (a chunk may carry several tokens: with
  speculative decoding a server often streams an accepted run at once, and ITL then measures that gap);
- E2EL: from sending the request to the last chunk that carries text;
- output tokens: the server's `usage.completion_tokens` (asked for with stream_options.include_usage), else
  the number of text chunks (said so in the result).

A request fails (counted, with its error, never dropped) on a non-200 status, a connection error or timeout,
an `error` object in the stream, or a stream that ends without `data: [DONE]` (a server that died mid-answer).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """Where and how to send: the server's root URL, the API, the model name, headers (the API key)."""

    base_url: str  # e.g. http://127.0.0.1:8000 (no /v1)
    api: str  # "completions" | "chat"
    model: str
    headers: dict[str, str] = field(default_factory=dict)
    ignore_eos: bool = True

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/{'chat/completions' if self.api == 'chat' else 'completions'}"


@dataclass
class RequestResult:
    ok: bool = False
    error: str = ""
    prompt_tokens: int | None = None  # the server's usage.prompt_tokens
    output_tokens: int = 0
    usage_reported: bool = False  # False: output_tokens counts text chunks
    ttft: float = 0.0  # s
    e2el: float = 0.0  # s
    itl: list[float] = field(default_factory=list)  # s, between successive text chunks
    chunks: int = 0  # chunks that carried text
    start: float = 0.0  # time.perf_counter() when sent
    extra: dict[str, Any] = field(default_factory=dict)  # non-standard usage fields a server adds (e.g. spec stats)


def base_url(endpoint: str) -> str:
    """http://host:port[/v1][/] -> http://host:port (the paths /v1/... and /metrics hang off it)."""
    u = endpoint.strip().rstrip("/")
    if u.endswith("/v1"):
        u = u[: -len("/v1")]
    return u


def payload(t: Target, prompt: str, max_tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {"model": t.model, "max_tokens": max_tokens, "temperature": 0.0, "stream": True,
                            "stream_options": {"include_usage": True}}  # fmt: skip
    if t.api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if t.ignore_eos:
        body["ignore_eos"] = True  # vLLM, SGLang and specsize serve accept it (an extension of the OpenAI API)
    return body


def chunk_text(event: dict[str, Any], api: str) -> str:
    """The text a streamed chunk carries ('' for a role-only, finish-only or usage-only chunk)."""
    choices = event.get("choices") or []
    if not choices:
        return ""
    c = choices[0]
    if api == "chat":
        delta = c.get("delta") or {}
        return delta.get("content") or delta.get("reasoning_content") or ""  # R1 servers may split the reasoning
    return c.get("text") or ""


class StreamState:
    """Feeds SSE lines in order and keeps the timings; `finish` turns it into a RequestResult."""

    def __init__(self, api: str, start: float):
        self.api = api
        self.r = RequestResult(start=start)
        self.last = start
        self.done = False

    def line(self, line: str, now: float) -> None:
        if not line.startswith("data:"):
            return  # SSE comments, event names, blank separators
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            self.done = True
            return
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            raise StreamError(f"a stream chunk is not JSON: {data[:80]!r}") from None
        if not isinstance(event, dict):
            raise StreamError(f"a stream chunk is not a JSON object: {data[:80]!r}")
        if "error" in event:
            err = event["error"]
            raise StreamError(f"error in the stream: {err.get('message', err) if isinstance(err, dict) else err}")
        if usage := event.get("usage"):
            self.r.usage_reported = "completion_tokens" in usage
            self.r.output_tokens = int(usage.get("completion_tokens", 0))
            if "prompt_tokens" in usage:
                self.r.prompt_tokens = int(usage["prompt_tokens"])
            self.r.extra = {k: v for k, v in usage.items() if k not in ("prompt_tokens", "completion_tokens",
                                                                          "total_tokens")}  # fmt: skip
        if chunk_text(event, self.api):
            if self.r.chunks == 0:
                self.r.ttft = now - self.r.start
            else:
                self.r.itl.append(now - self.last)
            self.last = now
            self.r.chunks += 1

    def finish(self) -> RequestResult:
        r = self.r
        if not self.done:
            r.error = "the stream ended before data: [DONE] (server closed the connection)"
            return r
        if r.chunks == 0:
            r.error = "the stream carried no text"
            return r
        r.e2el = self.last - r.start
        if not r.usage_reported:
            r.output_tokens = r.chunks
        r.ok = True
        return r


class StreamError(Exception):
    pass


async def send(client, t: Target, prompt: str, max_tokens: int) -> RequestResult:
    """POST one streaming request on `client` (an httpx.AsyncClient shared by all requests) and time it."""
    import httpx

    start = time.perf_counter()
    state = StreamState(t.api, start)
    try:
        async with client.stream("POST", t.url, json=payload(t, prompt, max_tokens), headers=t.headers) as resp:
            if resp.status_code != 200:
                body = (await resp.aread()).decode("utf-8", "replace")
                return RequestResult(error=f"HTTP {resp.status_code}: {_error_message(body)}", start=start)
            async for line in resp.aiter_lines():
                state.line(line, time.perf_counter())
    except StreamError as e:
        state.r.error = str(e)
        return state.r
    except httpx.HTTPError as e:
        state.r.error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        return state.r
    except Exception as e:  # anything else one answer can raise (bad UTF-8, a malformed chunk): that request fails
        state.r.error = f"{type(e).__name__}: {e}"
        return state.r
    return state.finish()


def _error_message(body: str) -> str:
    try:
        err = json.loads(body)
        if isinstance(err, dict):
            e = err.get("error", err)
            msg = e.get("message") if isinstance(e, dict) else e
            if msg is None and isinstance(err, dict):
                msg = err.get("detail") or err.get("message")
            return str(msg)[:200]
    except json.JSONDecodeError:
        pass
    return body.strip()[:200] or "(empty body)"
