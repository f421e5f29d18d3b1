"""`specsize bench --endpoint` through the CLI against a small real HTTP server started here (tests/openai_stub.py:
real sockets, keep-alive, chunked SSE, prometheus_client's exposition), whose every count is known: the spec
counters, the failures it injects, the streams it cuts."""

from __future__ import annotations

import json
import os
import signal

import pytest
from click.testing import CliRunner

from specsize.cli import cli
from tests.openai_stub import StubConfig, StubServer

pytest.importorskip("httpx")
pytest.importorskip("prometheus_client")


@pytest.fixture
def stub(request):
    s = StubServer(getattr(request, "param", None) or StubConfig(round_s=0.001)).start()
    yield s
    s.stop()


def bench(stub, tmp_path, *extra):
    args = ["bench", "--endpoint", stub.url, "--model", "tiny-r1", "--input", "24", "--output", "12",
            "--concurrency", "1,3", "--num-prompts", "9", "--warmup", "0", "--out", str(tmp_path),
            "--gpus", "2", "--spec", "mtp:2", "--json", *extra]  # fmt: skip
    r = CliRunner().invoke(cli, args)
    return r, (json.loads(r.output) if r.exit_code in (0, 130) else None)


def test_every_metric_and_the_spec_counters(stub, tmp_path):
    r, rep = bench(stub, tmp_path, "--slo-ttft-ms", "1000", "--slo-tpot-ms", "1000")
    assert r.exit_code == 0, r.output
    assert [lv["label"] for lv in rep["levels"]] == ["c1", "c3"]
    for lv in rep["levels"]:
        m = lv["metrics"]
        assert (m["requests"], m["completed"], m["failed"]) == (9, 9, 0)
        for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"):
            assert all(m[key][s] is not None and m[key][s] >= 0 for s in ("median", "mean", "p99")), key
        assert m["output_tok_s"] > 0 and m["total_tok_s"] > m["output_tok_s"]
        assert m["output_tok_s_per_gpu"] == pytest.approx(m["output_tok_s"] / 2)
        assert m["output_tok_s_per_user"] == pytest.approx(1e3 / m["tpot_ms"]["median"])
        assert m["goodput"]["good_requests"] == 9
        assert m["output_tokens_source"] == "server usage" and m["input_tokens_source"] == "server usage"
    # no warm-up: the levels' counter differences add up to everything the server counted
    s = stub.stats
    assert sum(lv["speculative"]["num_drafts"] for lv in rep["levels"]) == s.drafts
    assert sum(lv["speculative"]["num_accepted_tokens"] for lv in rep["levels"]) == s.accepted
    per_pos = [sum(lv["speculative"]["num_accepted_tokens_per_pos"][i] for lv in rep["levels"]) for i in range(2)]
    assert per_pos == s.per_pos
    points = [json.loads(x) for x in (tmp_path / "measured.jsonl").read_text().splitlines()]
    assert [p["workload"]["concurrency"] for p in points] == [1, 3]
    p = points[1]
    assert p["speculative"] == {"method": "mtp", "num_speculative_tokens": 2} and p["gpus"] == 2
    assert p["engine"] == "stub"  # from /v1/models owned_by
    assert p["measured"]["tpot_ms"] == rep["levels"][1]["metrics"]["tpot_ms"]["median"]
    assert p["bench"]["speculative"]["mean_acceptance_length"] == pytest.approx(
        1 + rep["levels"][1]["speculative"]["num_accepted_tokens"] / rep["levels"][1]["speculative"]["num_drafts"]
    )


def test_chat_api(stub, tmp_path):
    r, rep = bench(stub, tmp_path, "--api", "chat", "--concurrency", "2")
    assert r.exit_code == 0, r.output
    assert rep["levels"][0]["metrics"]["completed"] == 9


@pytest.mark.parametrize("stub", [StubConfig(fail_every=4)], indirect=True)
def test_errors_are_counted_not_dropped(stub, tmp_path):
    r, rep = bench(stub, tmp_path)
    assert r.exit_code == 0, r.output
    failed = sum(lv["metrics"]["failed"] for lv in rep["levels"])
    assert failed == 18 // 4  # requests 4, 8, 12, 16 answered 500
    assert all(e == "HTTP 500: stub failure" for lv in rep["levels"] for e in lv["metrics"]["errors"])
    assert sum(lv["metrics"]["completed"] for lv in rep["levels"]) == 18 - failed


@pytest.mark.parametrize("stub", [StubConfig(cut_after=12)], indirect=True)
def test_a_server_that_dies_mid_level(stub, tmp_path):
    r, rep = bench(stub, tmp_path)
    assert r.exit_code == 0, r.output
    c3 = rep["levels"][1]["metrics"]
    assert c3["failed"] == 6 and c3["completed"] == 3  # requests 13..18 cut mid-stream
    assert len((tmp_path / "measured.jsonl").read_text().splitlines()) == 2


def test_a_dead_server_is_one_line(tmp_path):
    s = StubServer().start()
    url = s.url
    s.stop()
    r = CliRunner().invoke(cli, ["bench", "--endpoint", url, "--tokenizer", "tiny-r1", "--concurrency", "1"])
    assert r.exit_code == 1 and "is the server up?" in r.output and "Traceback" not in r.output
    # with --model given, the level runs and every request fails, counted, and the file is written
    r = CliRunner().invoke(cli, ["bench", "--endpoint", url, "--model", "tiny-r1", "--concurrency", "2",
                                 "--num-prompts", "4", "--warmup", "0", "--out", str(tmp_path), "--json"])  # fmt: skip
    rep = json.loads(r.output)
    m = rep["levels"][0]["metrics"]
    assert m["failed"] == 4 and m["completed"] == 0 and "ConnectError" in next(iter(m["errors"]))
    assert rep["levels"][0]["speculative"]["source"] is None
    # the point says it measured nothing (nulls, not zeros), and validate still reads the file
    assert rep["points"][0]["measured"]["output_tok_s_per_gpu"] is None
    v = CliRunner().invoke(cli, ["validate", str(tmp_path / "measured.jsonl")])
    assert v.exit_code == 0, v.output


def test_ctrl_c_keeps_finished_levels(stub, tmp_path):
    from specsize.bench.datasets import Prompt
    from specsize.bench.loadgen import Deployment, EndpointOptions, run_endpoint_bench

    sent = []

    def progress(message, done, total):  # Ctrl-C as the terminal sends it: SIGINT, during the second level
        if message.startswith("c4") and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)

    o = EndpointOptions(stub.url, concurrency=(1, 4), num_prompts=3, warmup=0, out=tmp_path / "m.jsonl")
    rep = run_endpoint_bench(o, Deployment("tiny-r1"), lambda n, seed: [Prompt("a b", 2, 8)] * n, progress)
    assert rep["interrupted"] and [lv["label"] for lv in rep["levels"]] == ["c1"]
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 1


def test_api_key_from_the_environment_is_never_printed(stub, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    r, _ = bench(stub, tmp_path, "--api-key-env", "MY_KEY", "--concurrency", "1")
    assert r.exit_code == 0 and "sk-secret-123" not in r.output
    assert stub.authorization == "Bearer sk-secret-123"
    assert "sk-secret-123" not in (tmp_path / "measured.jsonl").read_text()


def test_request_rate_levels(stub, tmp_path):
    r, rep = bench(stub, tmp_path, "--request-rate", "50,200", "--max-concurrency", "4")
    assert r.exit_code == 0, r.output
    assert [lv["label"] for lv in rep["levels"]] == ["r50", "r200"]
    assert all(lv["metrics"]["completed"] == 9 for lv in rep["levels"])
    assert rep["points"][0]["workload"]["request_rate"] == 50


def test_specbench_file_and_the_served_model_by_default(stub, tmp_path):
    q = tmp_path / "question.jsonl"
    q.write_text("".join(json.dumps({"question_id": i, "category": "c", "turns": [f"question {i}"]}) + "\n"
                         for i in range(3)))  # fmt: skip
    r = CliRunner().invoke(cli, ["bench", "--endpoint", stub.url, "--dataset", "specbench", "--dataset-path", str(q),
                                 "--output", "8", "--concurrency", "2", "--warmup", "0", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["served_model"] == "stub" and rep["levels"][0]["metrics"]["completed"] == 20
    assert rep["levels"][0]["metrics"]["mean_input_tokens"] == 2  # "question i": the stub counts words
    assert rep["points"][0]["workload"]["input_tokens"] == 2  # a file's prompts: their mean, as counted
    # random prompts need the served model's tokenizer: "stub" has none here, so one line says what to give
    r = CliRunner().invoke(cli, ["bench", "--endpoint", stub.url, "--concurrency", "1"])
    assert r.exit_code == 1 and "needs the tokenizer of 'stub'" in r.output


def test_request_rate_arrivals_are_poisson(stub):
    """Arrival gaps at --request-rate r are exponential with mean 1/r: their mean within 5 standard errors
    (an exponential's standard deviation is its mean) and their coefficient of variation near 1."""
    import asyncio
    import itertools
    import random
    import statistics

    import httpx

    from specsize.bench.datasets import Prompt
    from specsize.bench.endpoint import Target
    from specsize.bench.loadgen import open_loop

    rate, n = 100.0, 200

    async def go():
        async with httpx.AsyncClient() as client:
            t = Target(stub.url, "completions", "stub")
            return await open_loop(client, t, [Prompt("a", 1, 2)] * n, rate, 0, random.Random(7), lambda: None)

    starts = sorted(r.start for r in asyncio.run(go()))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    mean = statistics.fmean(gaps)
    assert abs(mean - 1 / rate) < 5 * (1 / rate) / len(gaps) ** 0.5
    assert 0.7 < statistics.stdev(gaps) / mean < 1.3
