"""`specsize serve` on the dense case: the bundled tiny-dense (Qwen2) drafted by tiny-r1-draft, started for
real and driven by the official `openai` client: 6 concurrent requests on 4 slots, each equal to its batch-1
greedy output (plain decoding of tiny-dense alone), and /metrics's spec counters gaining exactly their sum."""

import asyncio

import httpx
import pytest

from specsize.assets import bundled_model_dir
from tests.servers import start_serve, stop_serve

openai = pytest.importorskip("openai")
parser = pytest.importorskip("prometheus_client.parser")
pytestmark = pytest.mark.skipif(bundled_model_dir("tiny-dense") is None, reason="tiny-dense not bundled")

MODEL = "tiny-dense"


def counters(url: str) -> dict:
    out = {}
    for family in parser.text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for s in family.samples:
            if s.name.startswith("vllm:spec_decode_") and s.name.endswith("_total"):
                out[(s.name, s.labels.get("position"))] = s.value
    return out


def test_dense_target_with_its_draft_equals_batch1_greedy():
    from specsize.engine.generate import generate
    from specsize.engine.loader import find_model_dir, load_model
    from specsize.engine.tokenizer import Tokenizer

    root = find_model_dir(MODEL)
    target, tok = load_model(root).model.fuse(), Tokenizer.from_dir(root)
    prompts = [f"What is {i} plus {2 * i + 3}?" for i in range(6)]
    want = [tok.decode(generate(target, tok.encode(p), 24, eos_ids=tok.eos_token_ids).token_ids) for p in prompts]
    proc, url = start_serve("--model", MODEL, "--method", "draft", "--draft", "tiny-r1-draft", "-k", "4",
                            "--parallel", "4")  # fmt: skip
    try:
        before = counters(url)

        async def main():
            c = openai.AsyncOpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)
            return await asyncio.gather(
                *(c.completions.create(model=MODEL, prompt=p, max_tokens=24, temperature=0) for p in prompts)
            )

        got = asyncio.run(main())
        assert [r.choices[0].text for r in got] == want
        after = counters(url)
        s = [r.usage.model_dump()["spec_decode"] for r in got]
        drafts = after[("vllm:spec_decode_num_drafts_total", None)] - before.get(
            ("vllm:spec_decode_num_drafts_total", None), 0
        )
        accepted = after[("vllm:spec_decode_num_accepted_tokens_total", None)] - before.get(
            ("vllm:spec_decode_num_accepted_tokens_total", None), 0
        )
        assert drafts == sum(x["num_drafts"] for x in s) > 0
        assert accepted == sum(x["num_accepted_tokens"] for x in s) > 0  # the draft is accepted, at least sometimes
    finally:
        stop_serve(proc)
