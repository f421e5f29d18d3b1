"""Faults inside the engine, on the real app (serve.build) on uvicorn on a free localhost port, driven by the
official `openai` client and httpx. A request whose prefill raises (as a bug or an out-of-memory there would)
fails alone: a 500 for it, the requests beside it get their batch-1 greedy output, the server keeps serving. A
batched round that raises fails the rows in it (one forward serves them all) and the server goes on."""

import asyncio
import threading
import time

import httpx
import pytest

from tests.servers import free_port

openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")

MODEL = "tiny-r1"
POISON = "POISON"


def serve_in_thread(app):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    return server, thread, f"http://127.0.0.1:{port}"


def running(url: str) -> list[float]:
    from prometheus_client.parser import text_string_to_metric_families

    return [s.value for f in text_string_to_metric_families(httpx.get(url + "/metrics").text)
            for s in f.samples if s.name == "vllm:num_requests_running"]  # fmt: skip


def test_a_crash_inside_one_request_fails_that_request_only():
    from specsize.engine.generate import generate
    from specsize.serve.build import ServeOptions, build_app

    app, loaded = build_app(ServeOptions(MODEL, parallel=3, k=2))
    tok, engine = loaded.tokenizer, loaded.engine
    marker = tok.encode(POISON)
    real_add = engine.add

    def add(seq):  # the fault: this request's prefill raises, inside the engine's thread
        if any(seq.prompt[i : i + len(marker)] == marker for i in range(len(seq.prompt))):
            raise RuntimeError("injected fault in this request's prefill")
        real_add(seq)

    engine.add = add
    server, thread, url = serve_in_thread(app)
    try:
        prompts = ["What is 7 plus 5?", f"{POISON} then 2 plus 2", "Sort 4, 2, 9."]

        async def ask(c, p):
            try:
                r = await c.completions.create(model=MODEL, prompt=p, max_tokens=16, temperature=0)
                return r.choices[0].text
            except openai.InternalServerError as e:
                return e

        async def main():
            c = openai.AsyncOpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)
            return await asyncio.gather(*(ask(c, p) for p in prompts))

        got = asyncio.run(main())
        target = engine.target
        for p, g in zip(prompts, got, strict=True):
            if POISON in p:
                assert isinstance(g, openai.InternalServerError) and g.status_code == 500
                assert "failed inside the engine" in g.body["message"] and "injected fault" in g.body["message"]
            else:
                want = tok.decode(generate(target, tok.encode(p), 16, eos_ids=tok.eos_token_ids).token_ids)
                assert g == want
        assert httpx.get(url + "/health").status_code == 200  # still serving
        r = httpx.post(url + "/v1/completions", json={"model": MODEL, "prompt": prompts[0], "max_tokens": 16,
                                                      "temperature": 0}, timeout=60)  # fmt: skip
        assert r.status_code == 200 and r.json()["choices"][0]["text"] == got[0]
        assert running(url) == [0.0]  # no slot left held by the failed request
    finally:
        server.should_exit = True
        thread.join(30)


def test_a_failed_round_fails_its_rows_and_the_server_goes_on():
    """A batched round that raises (once) fails the requests decoding in it, each with a 500: a round is one
    forward of all its rows, so they cannot be told apart there. The slots are freed and the next request gets
    its greedy output."""
    from specsize.serve.build import ServeOptions, build_app

    app, loaded = build_app(ServeOptions(MODEL, parallel=2, k=2))
    engine, tok = loaded.engine, loaded.tokenizer
    real_step, fired = engine.step, []

    def step():
        if len(engine.active) == 2 and not fired:
            fired.append(1)
            raise RuntimeError("injected fault in a batched round")
        return real_step()

    engine.step = step
    server, thread, url = serve_in_thread(app)
    try:
        body = {"model": MODEL, "prompt": "Count", "max_tokens": 40, "ignore_eos": True, "temperature": 0}

        async def main():
            async with httpx.AsyncClient(timeout=120) as c:
                return await asyncio.gather(*(c.post(url + "/v1/completions", json=body) for _ in range(2)))

        rs = asyncio.run(main())
        assert fired and [r.status_code for r in rs] == [500, 500]
        assert all("injected fault in a batched round" in r.json()["error"]["message"] for r in rs)
        assert running(url) == [0.0]
        from specsize.engine.generate import generate

        want = tok.decode(generate(engine.target, tok.encode("Count"), 12, eos_ids=tok.eos_token_ids).token_ids)
        r = httpx.post(url + "/v1/completions", json={**body, "max_tokens": 12, "ignore_eos": False}, timeout=60)
        assert r.status_code == 200 and r.json()["choices"][0]["text"] == want
    finally:
        server.should_exit = True
        thread.join(30)
