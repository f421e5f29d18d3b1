"""`specsize serve --compile`, started for real: the batched steps run through torch.compile, and what the
official `openai` client gets back, concurrent requests and a stream included, is token for token the batch-1
greedy output of the uncompiled model. The dense tiny-r1-draft with plain decoding and 2 slots keeps the
compilation as short as it gets (the time the server took to answer is printed: pytest -s shows it)."""

import asyncio
import time

import pytest

from tests.servers import start_serve, stop_serve

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")

MODEL = "tiny-r1-draft"
PROMPTS = ["What is 12 plus 30?", "Sort 3, 1, 2.", "How many e are in seventeen?"]


def test_compiled_server_equals_uncompiled_batch1_greedy():
    from specsize.engine.generate import generate
    from specsize.engine.loader import find_model_dir, load_model
    from specsize.engine.tokenizer import Tokenizer

    root = find_model_dir(MODEL)
    model, tok = load_model(root).model.fuse(), Tokenizer.from_dir(root)
    want = [tok.decode(generate(model, tok.encode(p), 20, eos_ids=tok.eos_token_ids).token_ids) for p in PROMPTS]
    t0 = time.perf_counter()
    proc, url = start_serve("--model", MODEL, "--method", "none", "--parallel", "2", "--max-model-len", "256",
                            "--compile", timeout=600)  # fmt: skip
    try:

        async def ask(c, i, p):  # 3 requests on 2 slots: rows join and leave the compiled batch
            if i == 0:
                stream = await c.completions.create(model=MODEL, prompt=p, max_tokens=20, temperature=0, stream=True)
                return "".join([ch.choices[0].text async for ch in stream if ch.choices])
            r = await c.completions.create(model=MODEL, prompt=p, max_tokens=20, temperature=0)
            return r.choices[0].text

        async def main():
            c = openai.AsyncOpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=600)
            return await asyncio.gather(*(ask(c, i, p) for i, p in enumerate(PROMPTS)))

        got = asyncio.run(main())
        print(f"\nserve --compile: up and through the first requests in {time.perf_counter() - t0:.0f} s")
        assert got == want
        assert asyncio.run(main()) == want  # compiled graphs reused: still the same tokens
    finally:
        stop_serve(proc)
