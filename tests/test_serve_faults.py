"""A request that crashes inside the engine fails alone: the real app (serve.build) on uvicorn on a free
localhost port, driven by the official `openai` client, with one fault injected into the engine (the prefill of
requests whose prompt holds a marker raises, as a bug or an out-of-memory there would). That request gets an
OpenAI-style 500; the requests beside it get their batch-1 greedy output; the server keeps serving."""

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
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
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
        from prometheus_client.parser import text_string_to_metric_families

        running = [s.value for f in text_string_to_metric_families(httpx.get(url + "/metrics").text)
                   for s in f.samples if s.name == "vllm:num_requests_running"]  # fmt: skip
        assert running == [0.0]  # no slot left held by the failed request
    finally:
        server.should_exit = True
        thread.join(30)
