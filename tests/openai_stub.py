"""A tiny OpenAI-compatible streaming server on asyncio alone (HTTP/1.1, keep-alive, chunked SSE), for testing
the endpoint bench's client and measuring what the client costs (benchmarks/bench_endpoint_client.py).

It "generates" max_tokens tokens in rounds of a speculative decoder with k draft tokens whose acceptance follows
a fixed repeating pattern, streams each round's tokens as one chunk (as vLLM streams an accepted run), sleeps
`round_s` per round, and counts drafts in vLLM's spec-decode counters, exported by prometheus_client (the real
exposition format) at /metrics. Faults on demand: every n-th request answers HTTP 500; after m requests every
stream is cut mid-answer (the connection closed without the final chunk).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from dataclasses import dataclass, field


@dataclass
class StubConfig:
    k: int = 2
    accepted_pattern: tuple[int, ...] = (2, 1, 0, 2)  # drafts accepted per round, cycled
    round_s: float = 0.0
    fail_every: int = 0  # every n-th completion request answers 500 (0: never)
    cut_after: int = 0  # completion requests after the m-th are cut mid-stream (0: never)
    usage: bool = True


@dataclass
class StubStats:
    requests: int = 0
    drafts: int = 0
    draft_tokens: int = 0
    accepted: int = 0
    per_pos: list[int] = field(default_factory=list)


class StubServer:
    def __init__(self, cfg: StubConfig | None = None):
        from prometheus_client import CollectorRegistry, Counter

        self.cfg = cfg or StubConfig()
        self.stats = StubStats(per_pos=[0] * self.cfg.k)
        self.registry = CollectorRegistry()
        lab = ["model_name", "engine"]
        self.c_drafts = Counter("vllm:spec_decode_num_drafts", "drafts", lab, registry=self.registry)
        self.c_draft_tokens = Counter("vllm:spec_decode_num_draft_tokens", "draft tokens", lab, registry=self.registry)
        self.c_accepted = Counter("vllm:spec_decode_num_accepted_tokens", "accepted", lab, registry=self.registry)
        self.c_pos = Counter("vllm:spec_decode_num_accepted_tokens_per_pos", "per pos", [*lab, "position"],
                             registry=self.registry)  # fmt: skip
        self.pattern = itertools.cycle(self.cfg.accepted_pattern)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server = None
        self.port = 0
        self.authorization: str | None = None  # the last request's Authorization header
        self._thread: threading.Thread | None = None

    # --- HTTP ---
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if ":" in x)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                self.authorization = headers.get("authorization")
                if not await self._route(method, path, body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _plain(self, writer, status: str, ctype: str, data: bytes) -> None:
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                     + data)  # fmt: skip
        await writer.drain()

    async def _route(self, method: str, path: str, body: bytes, writer) -> bool:
        from prometheus_client import generate_latest

        if method == "GET" and path == "/v1/models":
            data = json.dumps({"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "stub"}]})
            await self._plain(writer, "200 OK", "application/json", data.encode())
            return True
        if method == "GET" and path == "/metrics":
            await self._plain(writer, "200 OK", "text/plain; version=0.0.4", generate_latest(self.registry))
            return True
        if method == "POST" and path in ("/v1/completions", "/v1/chat/completions"):
            return await self._complete(json.loads(body), path.endswith("chat/completions"), writer)
        await self._plain(writer, "404 Not Found", "application/json", b'{"error": {"message": "no such route"}}')
        return True

    async def _send_chunk(self, writer, event: dict | str) -> None:
        data = f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n".encode()
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await writer.drain()

    async def _complete(self, req: dict, chat: bool, writer) -> bool:
        self.stats.requests += 1
        n_req = self.stats.requests
        cfg = self.cfg
        if cfg.fail_every and n_req % cfg.fail_every == 0:
            await self._plain(writer, "500 Internal Server Error", "application/json",
                              b'{"error": {"message": "stub failure", "type": "server_error"}}')  # fmt: skip
            return True
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        prompt = req["messages"][-1]["content"] if chat else req["prompt"]
        total = int(req.get("max_tokens", 16))
        made, first = 0, True
        t0, rounds = asyncio.get_running_loop().time(), 0
        while made < total:
            if cfg.cut_after and n_req > cfg.cut_after and made > 0:
                return False  # close the connection without the terminating chunk
            if first:  # the prefill's token
                n = 1
                first = False
            else:
                acc = min(next(self.pattern), cfg.k)
                self._observe(acc)
                n = acc + 1
            n = min(n, total - made)
            made += n
            if cfg.round_s:  # a fixed pace: round i ends at t0 + i * round_s, whatever the loop's own delays
                rounds += 1
                await asyncio.sleep(max(0.0, t0 + rounds * cfg.round_s - asyncio.get_running_loop().time()))
            text = "x" * n
            choice = {"index": 0, "delta": {"content": text}} if chat else {"index": 0, "text": text}
            await self._send_chunk(writer, {"object": "chunk", "choices": [choice]})
        if cfg.usage:
            usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": made,
                     "total_tokens": len(prompt.split()) + made}  # fmt: skip
            await self._send_chunk(writer, {"object": "chunk", "choices": [], "usage": usage})
        await self._send_chunk(writer, "[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    def _observe(self, acc: int) -> None:
        s, lab = self.stats, ("stub", "0")
        s.drafts += 1
        s.draft_tokens += self.cfg.k
        s.accepted += acc
        self.c_drafts.labels(*lab).inc()
        self.c_draft_tokens.labels(*lab).inc(self.cfg.k)
        self.c_accepted.labels(*lab).inc(acc)
        for i in range(self.cfg.k):
            if i < acc:
                s.per_pos[i] += 1
            self.c_pos.labels(*lab, str(i)).inc(1 if i < acc else 0)

    # --- lifecycle: its own thread and event loop, so a synchronous caller (the CLI) can drive it ---
    async def _serve(self, ready: threading.Event) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        await self._stop.wait()
        self.server.close()  # asyncio.run then cancels the open connections' handlers and closes the loop

    def start(self) -> StubServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(ready),), daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            return
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
