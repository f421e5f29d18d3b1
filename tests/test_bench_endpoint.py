"""The endpoint bench's maths, parsers and file format, on hand-computed examples and against the references
(numpy.percentile, prometheus_client's own parser and exposition)."""

from __future__ import annotations

import json
import random

import pytest

from specsize.bench.endpoint import RequestResult, StreamError, StreamState, base_url, chunk_text
from specsize.bench.loadgen import level_sizes, spec_block
from specsize.bench.measured import is_measured_file, parse_layout
from specsize.bench.scrape import SpecCounters, conditional_rates, iid_alpha, parse_prometheus, spec_delta
from specsize.bench.serving_metrics import SLO, level_metrics, percentile, tpot
from specsize.errors import SpecsizeError
from specsize.measured import load_points


def req(ttft, e2el, out, itl=(), prompt=10, ok=True, error=""):
    return RequestResult(ok=ok, error=error, prompt_tokens=prompt, output_tokens=out, usage_reported=True,
                         ttft=ttft, e2el=e2el, itl=list(itl), chunks=len(itl) + 1)  # fmt: skip


def test_percentile_hand_and_numpy():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 99) == pytest.approx(3.97)  # rank 3 * 0.99 = 2.97: 3 + 0.97 * (4 - 3)
    assert percentile([5], 99) == 5
    np = pytest.importorskip("numpy")
    rng = random.Random(0)
    for n in (2, 3, 10, 101):
        xs = [rng.expovariate(1) for _ in range(n)]
        for p in (0, 1, 50, 90, 99, 100):
            assert percentile(xs, p) == pytest.approx(float(np.percentile(xs, p)), rel=1e-12)


def test_tpot_definition():
    # vLLM benchmark_serving: (latency - ttft) / (output_len - 1)
    assert tpot(req(0.1, 1.0, 10)) == pytest.approx(0.1)
    assert tpot(req(0.1, 0.1, 1)) is None  # one output token has no TPOT


def test_level_metrics_hand_computed():
    rs = [
        req(0.1, 1.0, 10, itl=[0.1] * 9, prompt=100),  # TPOT 0.1
        req(0.3, 2.3, 21, itl=[0.1] * 20, prompt=50),  # TPOT 0.1
        req(0.2, 0.6, 5, itl=[0.1, 0.1, 0.2], prompt=30),  # TPOT 0.1 (4 tokens after the first in 3 chunks)
        req(0, 0, 0, ok=False, error="HTTP 500: boom"),
    ]
    m = level_metrics(rs, duration_s=4.0, gpus=2, slo=SLO(ttft_ms=250, tpot_ms=150))
    assert (m["requests"], m["completed"], m["failed"]) == (4, 3, 1)
    assert m["errors"] == {"HTTP 500: boom": 1}
    assert m["output_tokens"] == 36 and m["input_tokens"] == 180
    assert m["output_tok_s"] == pytest.approx(9.0)  # 36 / 4
    assert m["total_tok_s"] == pytest.approx(54.0)  # (180 + 36) / 4
    assert m["output_tok_s_per_gpu"] == pytest.approx(4.5)
    assert m["request_throughput"] == pytest.approx(0.75)
    assert m["ttft_ms"]["median"] == pytest.approx(200) and m["ttft_ms"]["mean"] == pytest.approx(200)
    assert m["tpot_ms"]["median"] == pytest.approx(100)
    assert m["output_tok_s_per_user"] == pytest.approx(10.0)  # 1000 / 100 ms
    assert m["e2el_ms"]["median"] == pytest.approx(1000)
    assert m["itl_ms"]["median"] == pytest.approx(100)  # 32 gaps, one of 0.2
    assert m["itl_ms"]["mean"] == pytest.approx(1e3 * (0.9 + 2.0 + 0.4) / 32)  # the gaps of the three, pooled
    # goodput: TTFT <= 250 ms and TPOT <= 150 ms -> the first and the third
    assert m["goodput"]["good_requests"] == 2 and m["goodput"]["request_goodput"] == pytest.approx(0.5)


def test_level_metrics_all_failed_keeps_the_count():
    m = level_metrics([req(0, 0, 0, ok=False, error="ConnectError")] * 3, 1.0, 1)
    assert m["failed"] == 3 and m["completed"] == 0 and m["output_tok_s"] == 0
    assert m["ttft_ms"]["median"] is None and m["output_tok_s_per_user"] is None


def stream(lines, api="completions"):
    s = StreamState(api, start=0.0)
    for t, line in lines:
        s.line(line, t)
    return s


def test_sse_timings_and_usage():
    ev = lambda text: "data: " + json.dumps({"choices": [{"index": 0, "text": text}]})  # noqa: E731
    s = stream([(0.5, ev("")), (1.0, ev("a")), (1.2, ev("bc")), (1.5, ev("d")), (1.6, ": keep-alive comment"),
                (1.7, 'data: {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 4, '
                      '"total_tokens": 11, "spec": {"drafts": 2}}}'),
                (1.8, "data: [DONE]")])  # fmt: skip
    r = s.finish()
    assert r.ok and r.ttft == 1.0 and r.e2el == 1.5 and r.itl == pytest.approx([0.2, 0.3])
    assert (r.prompt_tokens, r.output_tokens, r.usage_reported) == (7, 4, True)
    assert r.extra == {"spec": {"drafts": 2}}


def test_sse_chat_delta_and_reasoning():
    assert chunk_text({"choices": [{"delta": {"role": "assistant"}}]}, "chat") == ""
    assert chunk_text({"choices": [{"delta": {"content": "hi"}}]}, "chat") == "hi"
    assert chunk_text({"choices": [{"delta": {"reasoning_content": "hm"}}]}, "chat") == "hm"


def test_sse_failures():
    ev = 'data: {"choices": [{"text": "a"}]}'
    r = stream([(1.0, ev)]).finish()  # no [DONE]: the server died mid-answer
    assert not r.ok and "before data: [DONE]" in r.error
    with pytest.raises(StreamError, match="overloaded"):
        stream([(1.0, ev), (1.1, 'data: {"error": {"message": "overloaded"}}')])
    no_usage = stream([(1.0, ev), (1.1, ev), (1.2, "data: [DONE]")]).finish()
    assert no_usage.ok and no_usage.output_tokens == 2 and not no_usage.usage_reported


VLLM_TEXT = """# HELP vllm:spec_decode_num_drafts_total Number of spec decoding drafts.
# TYPE vllm:spec_decode_num_drafts_total counter
vllm:spec_decode_num_drafts_total{engine="0",model_name="r1"} 100.0
vllm:spec_decode_num_drafts_total{engine="1",model_name="r1"} 50.0
vllm:spec_decode_num_draft_tokens_total{engine="0",model_name="r1"} 300.0
vllm:spec_decode_num_accepted_tokens_total{engine="0",model_name="r1"} 180.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="r1",position="0"} 90.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="r1",position="1"} 60.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="r1",position="2"} 30.0
vllm:num_requests_running{model_name="r1 \\"quoted\\", with comma"} 3
"""


def test_prometheus_parser_matches_prometheus_client():
    parser = pytest.importorskip("prometheus_client.parser")
    ours = parse_prometheus(VLLM_TEXT)
    theirs = [(s.name, s.labels, s.value) for fam in parser.text_string_to_metric_families(VLLM_TEXT)
              for s in fam.samples]  # fmt: skip
    assert sorted(ours, key=str) == sorted(theirs, key=str)
    c = SpecCounters.from_text(VLLM_TEXT)
    assert c.drafts == 150 and c.per_pos == {0: 90, 1: 60, 2: 30}  # engines summed


def test_spec_delta_hand_computed():
    before = SpecCounters(drafts=10, draft_tokens=20, accepted=10, per_pos={0: 6, 1: 4})
    after = SpecCounters(drafts=110, draft_tokens=220, accepted=130, per_pos={0: 86, 1: 54})
    d = spec_delta(before, after)
    # 100 drafts of k = 2: 80 accepted the first token, 50 both
    assert d["num_drafts"] == 100 and d["num_speculative_tokens"] == 2
    assert d["mean_acceptance_length"] == pytest.approx(2.2)  # 1 + 120 / 100
    assert d["draft_acceptance_rate"] == pytest.approx(0.6)  # 120 / 200
    assert d["acceptance_per_position"] == pytest.approx([0.8, 0.5])
    assert d["conditional_acceptance"] == pytest.approx([0.8, 0.625])
    assert conditional_rates([6, 3], 10) == [0.6, 0.5]


def test_spec_delta_sglang_gauges_and_nothing():
    text = 'sglang:spec_accept_length{model_name="r1"} 2.5\nsglang:spec_accept_rate{model_name="r1"} 0.75\n'
    d = spec_delta(SpecCounters(), SpecCounters.from_text(text))
    assert d["mean_acceptance_length"] == 2.5 and d["draft_acceptance_rate"] == 0.75 and "sglang" in d["source"]
    assert spec_delta(SpecCounters(), SpecCounters.from_text("vllm:num_requests_running 1\n"))["source"] is None


def test_iid_alpha_inverts_expected_length():
    assert iid_alpha(1.75, 2) == pytest.approx(0.5, abs=1e-9)  # 1 + 0.5 + 0.25
    assert iid_alpha(3.0, 2) == pytest.approx(1.0, abs=1e-9)
    assert iid_alpha(1.0, 3) == pytest.approx(0.0, abs=1e-9)


def test_layout_spec_and_levels():
    assert parse_layout(None, 8) == {"tp": 8, "ep": 1, "dp_attention": False}
    assert parse_layout("TP8 EP8 DP-attention", 8) == {"tp": 8, "ep": 8, "dp_attention": True}
    assert parse_layout("tp8,pp2", 16) == {"tp": 8, "ep": 1, "dp_attention": False, "pp": 2}
    with pytest.raises(SpecsizeError, match="cannot read 'xy3'"):
        parse_layout("TP8 XY3", 8)
    assert spec_block("mtp:2") == {"method": "mtp", "num_speculative_tokens": 2}
    assert spec_block("none") == {"method": "none", "num_speculative_tokens": None}
    assert spec_block("draft:tiny-r1-draft:4")["draft"] == "tiny-r1-draft"
    with pytest.raises(SpecsizeError, match="unknown method"):
        spec_block("magic:2")
    from specsize.bench.loadgen import EndpointOptions

    sizes = level_sizes(EndpointOptions("http://x", concurrency=(1, 4)))
    assert [(s[0], s[1], s[3], s[4]) for s in sizes] == [("c1", 1, 10, 1), ("c4", 4, 40, 4)]
    rates = level_sizes(EndpointOptions("http://x", request_rates=(0.5, 4.0)))
    assert [(s[0], s[2], s[3]) for s in rates] == [("r0.5", 0.5, 10), ("r4", 4.0, 40)]


def test_base_url():
    assert base_url("http://h:8000/v1/") == "http://h:8000"
    assert base_url("http://h:8000") == "http://h:8000"


def test_random_prompts_exact_lengths_in_range():
    from specsize.bench.datasets import load_tokenizer, random_prompts

    tok = load_tokenizer("tiny-r1")
    ps = random_prompts(tok, 40, 64, 32, 0.8, seed=1)
    assert all(51 <= p.input_tokens <= 64 for p in ps)  # [int(0.8 * 64), 64]
    assert all(25 <= p.output_tokens <= 32 for p in ps)
    assert all(len(tok.encode(p.text, add_special=False)) == p.input_tokens for p in ps)
    assert len({p.input_tokens for p in ps}) > 5  # lengths really vary
    assert random_prompts(tok, 3, 64, 32, 0.8, seed=1) == ps[:3]  # the seed fixes them


def test_file_datasets(tmp_path):
    from specsize.bench.datasets import cycle, sharegpt_prompts, specbench_prompts

    sb = tmp_path / "question.jsonl"
    sb.write_text('{"question_id": 1, "category": "math", "turns": ["What is 2+2?", "and 3+3?"]}\n')
    share = tmp_path / "sg.json"
    share.write_text(json.dumps([{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]},
                                 {"conversations": [{"from": "human", "value": "alone"}]}]))  # fmt: skip
    assert specbench_prompts(sb) == ["What is 2+2?"]
    assert sharegpt_prompts(share) == ["hi"]
    ps = cycle(["a", "b"], 5, 16, seed=0)
    assert len(ps) == 5 and {p.text for p in ps} == {"a", "b"} and all(p.output_tokens == 16 for p in ps)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(SpecsizeError, match="ShareGPT"):
        sharegpt_prompts(bad)


def test_read_points_checks_the_schema(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text('{"id": "x"}\n')
    with pytest.raises(SpecsizeError, match=r"missing field\(s\) model, weights, gpu"):
        load_points(f)
    assert not is_measured_file(f)
