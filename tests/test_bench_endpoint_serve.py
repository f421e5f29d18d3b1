"""`specsize bench --endpoint` against the real `specsize serve` (tiny-r1 with MTP) on a free localhost port:
every metric present, the /metrics spec counters of each level equal to the sum of what the responses carried
(usage.spec_decode), the measured-point file read back, and a server that answers errors or dies mid-level."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from specsize.cli import cli
from tests.servers import start_serve, stop_serve

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def serve():
    proc, url = start_serve("--parallel", "4")
    yield url
    stop_serve(proc)


def run(url, tmp_path, *extra):
    args = ["bench", "--endpoint", url, "--model", "tiny-r1", "--input", "32", "--output", "24", "--concurrency",
            "1,3", "--num-prompts", "3", "--warmup", "1", "--gpus", "1", "--spec", "mtp:2", "--out", str(tmp_path),
            "--json", "--slo-ttft-ms", "60000", "--slo-tpot-ms", "60000", *extra]  # fmt: skip
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_every_metric_and_counters_equal_the_responses(serve, tmp_path, api):
    rep = run(serve, tmp_path, "--api", api)
    assert rep["engine"] == "specsize" and [lv["label"] for lv in rep["levels"]] == ["c1", "c3"]
    for lv in rep["levels"]:
        m, sp = lv["metrics"], lv["speculative"]
        assert (m["completed"], m["failed"]) == (3, 0), m["errors"]
        for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"):
            assert all(m[key][s] is not None and m[key][s] > 0 for s in ("median", "mean", "p99")), key
        for key in (
            "output_tok_s",
            "total_tok_s",
            "output_tok_s_per_gpu",
            "output_tok_s_per_user",
            "request_throughput",
        ):
            assert m[key] > 0, key
        assert m["goodput"]["good_requests"] == 3
        # ignore_eos: every request made the output length it asked for (uniform in [int(0.8 * 24), 24])
        assert 19 * 3 <= m["output_tokens"] <= 24 * 3 and m["output_tokens_source"] == "server usage"
        # the /metrics difference over the level is exactly what the level's responses report
        resp = m["responses_spec_decode"]
        assert resp["responses"] == 3
        assert sp["source"] == "vllm counters"
        assert sp["num_drafts"] == resp["num_drafts"] > 0
        assert sp["num_draft_tokens"] == resp["num_draft_tokens"]
        assert sp["num_accepted_tokens"] == resp["num_accepted_tokens"]
        assert sp["num_accepted_tokens_per_pos"] == resp["num_accepted_tokens_per_pos"]
        assert sp["num_speculative_tokens"] == 2 and 1 <= sp["mean_acceptance_length"] <= 3
        assert len(sp["acceptance_per_position"]) == 2
    from specsize.measured import load_points

    # specsize validate reads the file back: no GPU was declared, so it lists both points as not predictable
    v = CliRunner().invoke(cli, ["validate", str(tmp_path / "measured.jsonl"), "--json"])
    assert v.exit_code == 0, v.output
    rows = json.loads(v.output)["measured"]
    assert len(rows) == 2 and all("unknown GPU 'unknown'" in r["reason"] for r in rows)
    points = load_points(tmp_path / "measured.jsonl")
    assert [p["workload"]["concurrency"] for p in points] == [1, 3]
    for p, lv in zip(points, rep["levels"], strict=True):
        assert p["measured"]["tpot_ms"] == lv["metrics"]["tpot_ms"]["median"]
        assert p["measured"]["output_tok_s_per_gpu"] == lv["metrics"]["output_tok_s_per_gpu"]
        assert p["bench"]["speculative"]["num_drafts"] == lv["speculative"]["num_drafts"]


def test_a_server_that_answers_errors(serve, tmp_path):
    rep = run(
        serve, tmp_path, "--model", "no-such-model", "--tokenizer", "tiny-r1", "--concurrency", "2", "--warmup", "0"
    )
    m = rep["levels"][0]["metrics"]
    assert m["failed"] == 3 and m["completed"] == 0
    (err,) = m["errors"]
    assert err.startswith("HTTP 404")
    assert len((tmp_path / "measured.jsonl").read_text().splitlines()) == 1


def test_a_server_that_dies_mid_level(tmp_path):
    from specsize.bench.datasets import load_tokenizer, random_prompts
    from specsize.bench.loadgen import Deployment, EndpointOptions, run_endpoint_bench

    proc, url = start_serve("--parallel", "2")
    tok = load_tokenizer("tiny-r1")
    killed = []

    def progress(message, done, total):  # SIGKILL the server once c2 has finished two of its requests
        if message.startswith("c2: measuring") and done >= 2 + 2 and not killed:
            killed.append(done)
            proc.kill()

    try:
        out = tmp_path / "m.jsonl"
        o = EndpointOptions(url, model="tiny-r1", concurrency=(1, 2, 4), num_prompts=6, warmup=2, out=out, timeout_s=30)
        rep = run_endpoint_bench(
            o, Deployment("tiny-r1"), lambda n, s: random_prompts(tok, n, 16, 16, 1.0, s), progress
        )
    finally:
        stop_serve(proc)
    assert killed
    c1, c2, c4 = (lv["metrics"] for lv in rep["levels"])
    assert (c1["completed"], c1["failed"]) == (6, 0)
    assert c2["completed"] >= 2 and c2["failed"] >= 1 and c2["completed"] + c2["failed"] == 6
    assert c4["failed"] == 6 and all("Connect" in e for e in c4["errors"])  # the warm-up fails too; nothing hangs
    assert rep["levels"][2]["speculative"]["source"] is None
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[1])["bench"]["failed"] == c2["failed"]
