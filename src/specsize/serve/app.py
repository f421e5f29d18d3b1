"""The HTTP routes: /v1/completions and /v1/chat/completions (streamed as server-sent events or not),
/v1/models, /health, /metrics. Each request is tokenized here (the chat template included), submitted to the
scheduler, and answered from the events the engine thread posts back.

Every answer carries, besides the standard `usage`, this request's speculative-decoding counters in
`usage.spec_decode` (non-standard; the same counters /metrics sums), so a client can check the two agree.
Errors are OpenAI-shaped JSON (protocol.error_body): 400 malformed or invalid, 404 unknown model or route,
413 body too large, 503 queue full or shutting down; a failure inside one request answers 500 for it alone.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from specsize.engine.batch import Sequence
from specsize.engine.sampling import SamplingParams
from specsize.engine.tokenizer import Tokenizer
from specsize.errors import SpecsizeError
from specsize.serve.protocol import ChatCompletionRequest, CompletionRequest, error_body
from specsize.serve.scheduler import Job, QueueFull, Scheduler

MAX_BODY_BYTES = 4 * 1024 * 1024  # assumption: far above any prompt a slot holds; larger bodies get 413
FINISH = {"eos": "stop", "stop": "stop", "length": "length", "context": "length", "abort": "abort"}


class APIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


def _error(status: int, message: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, status, param), status_code=status)


@dataclass
class ServeState:
    scheduler: Scheduler
    tokenizer: Tokenizer
    model_name: str
    max_model_len: int
    draining: bool = False


def build_app(state: ServeState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.scheduler.start()
        yield
        state.draining = True  # uvicorn has stopped accepting connections and finished the open requests
        await asyncio.to_thread(state.scheduler.stop)

    app = FastAPI(title="specsize serve", lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _error(400, f"{where or 'body'}: {first.get('msg', 'invalid request')}", where or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError):
        return _error(exc.status, exc.message, exc.param)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    @app.get("/health")
    async def health():
        if state.draining:
            return _error(503, "the server is shutting down")
        return Response(status_code=200)

    @app.get("/metrics")
    async def metrics():
        return Response(generate_latest(state.scheduler.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models():
        card = {"id": state.model_name, "object": "model", "created": 0, "owned_by": "specsize",
                "max_model_len": state.max_model_len}  # fmt: skip
        return {"object": "list", "data": [card]}

    @app.post("/v1/completions")
    async def completions(request: Request):
        req = await _parse(request, CompletionRequest)
        prompt = req.prompt
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
            if len(prompt) != 1:
                raise APIError(400, "prompt: one prompt per request (a list of one string)", "prompt")
            prompt = prompt[0]
        ids = state.tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)
        vocab = state.tokenizer.vocab_size
        if any(not 0 <= t < vocab for t in ids):
            raise APIError(400, f"prompt: token ids must be in [0, {vocab})", "prompt")
        return await _serve(request, req, ids, "text_completion")

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        req = await _parse(request, ChatCompletionRequest)
        if not state.tokenizer.chat_template:
            raise APIError(400, f"{state.model_name} has no chat template; use /v1/completions")
        try:
            text = state.tokenizer.apply_chat_template([m.model_dump() for m in req.messages])
        except SpecsizeError as e:
            raise APIError(400, str(e), "messages") from None
        ids = state.tokenizer.encode(text, add_special=False)
        return await _serve(request, req, ids, "chat.completion")

    async def _parse(request: Request, schema):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise APIError(413, f"the request body is {int(length):,} bytes; the limit is {MAX_BODY_BYTES:,}")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise APIError(413, f"the request body is {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,}")
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise APIError(400, f"the body is not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise APIError(400, "the body must be a JSON object")
        try:
            req = schema.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise APIError(400, f"{where}: {first['msg']}", where) from None
        if req.model != state.model_name:
            raise APIError(404, f"the model `{req.model}` does not exist; this server has `{state.model_name}`",
                           "model")  # fmt: skip
        return req

    async def _serve(request: Request, req, ids: list[int], kind: str):
        if state.draining:
            raise APIError(503, "the server is shutting down")
        if not ids:
            raise APIError(400, "the prompt is empty", "prompt")
        engine = state.scheduler.engine
        room = engine.max_prompt_tokens()
        if len(ids) > room:
            raise APIError(400, f"the prompt has {len(ids):,} tokens; this server's maximum context length leaves "
                           f"room for {room:,} (see --max-model-len)", "prompt")  # fmt: skip
        max_tokens = getattr(req, "max_completion_tokens", None) or req.max_tokens or state.max_model_len
        try:
            params = SamplingParams(req.temperature, req.top_k, req.top_p)
        except SpecsizeError as e:
            raise APIError(400, str(e)) from None
        eos = () if req.ignore_eos else state.tokenizer.eos_token_ids
        seq = Sequence(ids, max_tokens, params, req.seed, eos)
        job = Job(seq, req.stops(), asyncio.get_running_loop(), asyncio.Queue())
        try:
            state.scheduler.submit(job)
        except QueueFull as e:
            raise APIError(503, str(e)) from None
        rid = ("cmpl-" if kind == "text_completion" else "chatcmpl-") + uuid.uuid4().hex
        created = int(time.time())
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return StreamingResponse(_stream(request, job, rid, created, kind, include_usage),
                                     media_type="text/event-stream")  # fmt: skip
        text, getter = [], None
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            while True:
                getter = getter or asyncio.ensure_future(job.events.get())  # one get at a time: no event lost
                await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():  # the client went away: free the slot at the next round
                    getter.cancel()
                    seq.cancelled = True
                    return Response(status_code=499)
                event, value = getter.result()
                getter = None
                if event == "tokens":
                    text.append(value)
                elif event == "error":
                    return _error(500, f"this request failed inside the engine: {value}")
                else:
                    break
        finally:
            gone.cancel()
        choice = {"index": 0, "finish_reason": FINISH.get(seq.finish_reason, seq.finish_reason)}
        if kind == "chat.completion":
            choice["message"] = {"role": "assistant", "content": "".join(text)}
        else:
            choice.update(text="".join(text), logprobs=None)
        return {"id": rid, "object": kind, "created": created, "model": state.model_name, "choices": [choice],
                "usage": _usage(seq)}  # fmt: skip

    async def _stream(request: Request, job: Job, rid: str, created: int, kind: str, include_usage: bool
                      ) -> AsyncIterator[str]:  # fmt: skip
        obj = "chat.completion.chunk" if kind == "chat.completion" else "text_completion"
        seq = job.seq

        def chunk(delta: str | None, finish: str | None, first: bool = False) -> str:
            if kind == "chat.completion":
                d = {"role": "assistant", "content": delta or ""} if first else {} if delta is None else {
                    "content": delta}  # fmt: skip
                choice = {"index": 0, "delta": d, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": delta or "", "logprobs": None, "finish_reason": finish}
            body = {"id": rid, "object": obj, "created": created, "model": state.model_name, "choices": [choice]}
            return f"data: {json.dumps(body)}\n\n"

        try:
            if kind == "chat.completion":
                yield chunk("", None, first=True)
            while True:
                event, value = await job.events.get()
                if event == "tokens":
                    yield chunk(value, None)
                elif event == "error":
                    err = error_body(f"this request failed inside the engine: {value}", 500)
                    yield f"data: {json.dumps(err)}\n\n"
                    break
                else:
                    yield chunk(None, FINISH.get(seq.finish_reason, seq.finish_reason))
                    if include_usage:
                        body = {"id": rid, "object": obj, "created": created, "model": state.model_name,
                                "choices": [], "usage": _usage(seq)}  # fmt: skip
                        yield f"data: {json.dumps(body)}\n\n"
                    break
            yield "data: [DONE]\n\n"
        finally:
            if not seq.done:  # the client went away (the generator was closed): free the slot next round
                seq.cancelled = True

    return app


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone (ASGI's http.disconnect; the body was read already, so nothing else
    arrives). Waiting on receive() keeps the server reading the socket, which is how it sees the close."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _usage(seq: Sequence) -> dict:
    s = seq.stats
    spec = {"num_drafts": s.num_drafts, "num_draft_tokens": s.num_draft_tokens,
            "num_accepted_tokens": s.num_accepted_tokens,
            "num_accepted_tokens_per_pos": list(s.num_accepted_tokens_per_pos)}  # fmt: skip
    return {"prompt_tokens": len(seq.prompt), "completion_tokens": len(seq.out),
            "total_tokens": len(seq.prompt) + len(seq.out), "spec_decode": spec}  # fmt: skip
