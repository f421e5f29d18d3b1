"""`specsize bench`: prompt files (Spec-Bench's question.jsonl included), the JSON report's shape, partial results
on interruption, the closed loop into `plan --calibration`, and bad input. Timings are not asserted (shared
machines are noisy); the README reports a full run."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from specsize.bench import runner
from specsize.bench.prompts import load_prompts
from specsize.cli import cli
from specsize.errors import SpecsizeError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "spec_bench" / "question.jsonl"
SPEC_BENCH = SHARED if SHARED.exists() else Path(__file__).parent / "data" / "spec_bench_question.jsonl"
SMALL = ["--max-prompts", "2", "--max-new-tokens", "24", "--repeats", "1", "-k", "2"]


def test_spec_bench_questions_load():
    prompts = load_prompts(SPEC_BENCH)
    assert len(prompts) == 480
    assert {p.category for p in prompts} >= {"writing", "translation", "summarization", "qa", "math_reasoning", "rag"}
    assert prompts[0].id == "81" and prompts[0].text.startswith("Compose an engaging travel blog post")
    assert len(load_prompts(SPEC_BENCH, limit=5)) == 5


@pytest.mark.parametrize(
    "content, needle",
    [("", "no prompts"), ("{oops\n", "line 1: not valid JSON"), ('{"id": 3}\n', "needs 'turns'"),
     ('{"turns": []}\n', "non-empty list"), ('{"prompt": "  "}\n', "empty prompt")],
)  # fmt: skip
def test_bad_prompt_files(tmp_path, content, needle):
    f = tmp_path / "p.jsonl"
    f.write_text(content)
    with pytest.raises(SpecsizeError, match=needle):
        load_prompts(f)
    r = CliRunner().invoke(cli, ["bench", "--prompts", str(f), "--no-peers"])
    assert r.exit_code != 0 and needle.strip(":1 ") in r.output and "Traceback" not in r.output


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    r = CliRunner().invoke(cli, ["bench", *SMALL, "--out", str(out), "--plot", str(out), "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), out


def test_report_shape_and_lossless_outputs(report):
    d, out = report
    assert set(d) >= {"model", "draft", "machine", "prompts", "settings", "baseline", "configs", "step_times", "peers",
                      "interrupted"}  # fmt: skip
    assert [(c["method"], c["k"]) for c in d["configs"]] == [("mtp", 2), ("draft", 2), ("ngram", 2)]
    for c in d["configs"]:
        assert c["outputs_identical"]  # greedy speculation reproduces plain decoding on every prompt
        assert set(c) >= {
            "tokens_per_s",
            "speedup",
            "acceptance_per_position",
            "mean_acceptance_length",
            "draft_time_s",
            "verify_time_s",
            "by_category",
            "predicted_speedup",
            "prediction_error",
        }
        assert c["mean_acceptance_length"] == pytest.approx(1 + c["num_accepted_tokens"] / c["num_drafts"])
        # the loop's own round parts next to the timed ones (one run: that run's draft and verify time per round)
        loop = c["loop_round_times_s"]
        assert loop["draft"] > 0 and c["num_rounds"] > 0
        assert loop["draft"] * c["num_rounds"] == pytest.approx(c["draft_time_s"])  # per round, not per run
        assert loop["verify"] * c["num_rounds"] == pytest.approx(c["verify_time_s"])
    assert len(d["step_times"]["target"]) == 16 and set(d["step_times"]) == {"target", "draft", "mtp"}
    # the round's parts, timed by replaying the loop's rounds; spread and recompilations reported with every figure
    assert set(d["round_times"]) == {"none", "mtp", "draft", "ngram"}
    for method, ks in d["round_times"].items():
        for rnd in ks.values():
            assert rnd["verify"] > 0 and rnd["rounds"] > 0 and (method == "none" or rnd["draft"] > 0)
            assert rnd["mismatches"] == 0 and rnd["recompiles"] >= 0  # the replay emitted what the loop emitted
    for c in d["configs"]:  # the closed loop's T(1) is plain decoding's replayed round
        assert c["round_times_s"]["t1"] == d["round_times"]["none"]["0"]["verify"]
    assert d["timing"]["passes"] == 1 and d["timing"]["recompiles"] >= 0
    for c in [*d["configs"], d["baseline"]]:
        assert c["tokens_per_s"]["spread"] == 0.0 and "flagged" in c  # one run: no spread
        assert c["recompiles"] >= 0
    assert {r["method"] for r in d["peers"]["rows"]} == {"none", "draft", "ngram"}
    assert (out / "bench.csv").read_text().startswith("method,k,tokens_per_s")
    assert (out / "speedup_vs_k.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "bench.json").read_text())["configs"] == d["configs"]


def test_plan_calibrates_with_the_measured_acceptance(report):
    d, out = report
    r = CliRunner().invoke(cli, ["plan", "tiny-r1", "--gpu", "rtx-3060", "--engine", "vllm", "--spec", "mtp:2",
                                 "--input", "256", "--output", "256", "--calibration", str(out / "bench.json"),
                                 "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    measured = next(c for c in d["configs"] if c["method"] == "mtp")["conditional_acceptance"]
    plan = json.loads(r.output)
    got = plan["gpus"][0]["recommended"]["spec"]["acceptance"]
    assert got == pytest.approx([max(a, 1e-6) for a in measured], abs=1e-4)
    # this machine: at the k the bench ran, the prediction comes from the round as the loop ran it (the bench's
    # own closed loop, speculative.round_speedup); the per-step model (speculative.measured_speedup) is kept
    # beside it and extends the prediction to the other k
    local = plan["this_machine"]
    bench_row = next(c for c in d["configs"] if c["method"] == "mtp")
    row = next(x for x in local["rows"] if x["k"] == 2)
    assert row["from"] == "rounds" and row["speedup"] == pytest.approx(bench_row["predicted_speedup"], rel=1e-3)
    assert row["step_model_speedup"] == pytest.approx(bench_row["step_model_speedup"], rel=1e-3)
    assert next(x for x in local["rows"] if x["k"] == 5)["from"] == "steps"
    assert row["measured_speedup"] == bench_row["speedup"]
    assert [x["k"] for x in local["rows"]] == list(range(1, 9)) and local["method"] == "mtp"
    other = CliRunner().invoke(cli, ["plan", "deepseek-r1", "--gpu", "h200", "--calibration", str(out / "bench.json"),
                                     "--json"])  # fmt: skip
    assert json.loads(other.output)["this_machine"]["reason"].endswith(
        "measured tiny-r1, not deepseek-r1: its acceptance only"
    )


def test_interrupted_bench_keeps_what_it_measured(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = runner.run_once

    def interrupted(*a, **kw):
        calls["n"] += 1
        if calls["n"] > 6:  # warm-ups of the 4 configurations, then the baseline and mtp; stop during draft
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(runner, "run_once", interrupted)
    r = CliRunner().invoke(cli, ["bench", *SMALL, "--no-peers", "--no-steps", "--out", str(tmp_path)])
    assert r.exit_code == 130
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["interrupted"] and [c["method"] for c in saved["configs"]] == ["mtp"]


@pytest.mark.parametrize(
    "args, needle",
    [(["--method", "beam"], "unknown method"), (["-k", "0"], "must be >= 1"),
     (["--model", "tiny-r1-draft", "--method", "mtp"], "no MTP layer")],
)  # fmt: skip
def test_bad_options(args, needle):
    r = CliRunner().invoke(cli, ["bench", "--no-peers", *args])
    assert r.exit_code != 0 and needle in r.output and "Traceback" not in r.output


def test_progress_hears_of_every_piece_of_work():
    from specsize.bench.run import BenchOptions, run_bench

    heard = []
    o = BenchOptions(methods=("ngram",), ks=(2,), max_prompts=1, max_new_tokens=8, repeats=2, peers=False)
    run_bench(o, lambda message, done, total: heard.append((message, done, total)))
    # warm-ups of the baseline and ngram, then per pass: baseline, ngram, T(n)
    assert [d for _, d, _ in heard] == list(range(8)) and {t for _, _, t in heard} == {8}
    assert heard[0][0] == "warm-up: none k=0" and heard[-1][0] == "pass 2/2: step times T(n)"


def test_closed_loop_formulas():
    from specsize.speculative import catchup_probs, round_speedup

    # 10 rounds of k = 2: 8 accepted the first draft, 5 both (conditional 0.8, 5/8) -> m = 0, 1, 2 in 2, 3, 5
    assert catchup_probs([0.8, 5 / 8], 2) == pytest.approx([0.2, 0.3, 0.5])
    # plain: 1 ms per token, of which T(1) = 0.8 ms; a round: E[L] = 1 + 0.8 + 0.5 = 2.3 tokens for 1 + 1.2 + 0.2 ms
    assert round_speedup([0.8, 5 / 8], 2, 0.8e-3, 0.2e-3, 1e-3, 1.2e-3) == pytest.approx(2.3 * 1.0 / 2.4)
    # MTP: the drafter's time by catch-up size 1..k+1, weighted by how often each occurs
    d = 0.2 * 1e-3 + 0.3 * 2e-3 + 0.5 * 3e-3
    assert round_speedup([0.8, 5 / 8], 2, 0.8e-3, 0.2e-3, [1e-3, 2e-3, 3e-3], 1.2e-3) == pytest.approx(
        2.3 * 1e-3 / (d + 1.4e-3)
    )
    assert runner.spread([1.0, 1.2, 1.1]) == pytest.approx(0.2 / 1.1)


def test_replay_checks_the_drafts_mtp_makes_inside_the_verification(monkeypatch):
    """MTP's fused round makes the next round's drafts inside the verification: the replay's own verification
    makes them again (the drafter's snapshot leaves them out), so drafts that come out wrong there are counted as
    mismatches, where restoring the loop's drafts would hide them."""
    import torch

    from specsize.engine import rounds

    from .test_spec_greedy import prompts, tiny

    model = tiny("deepseek_v3", 7)
    ps = [(p, "c") for p in prompts(2, 64, 3)]
    with torch.inference_mode():
        run = runner.run_once(model, None, ps, "mtp", 2, 16, ())
        assert runner.replay_rounds(model, None, run.rounds, "mtp", 2, 16)["mismatches"] == 0
        real = rounds.verify_mtp_round

        def wrong_drafts(*args):
            packed, hidden, nxt, dists = real(*args)
            return packed, hidden, (nxt + 1) % 64, dists

        monkeypatch.setattr(rounds, "verify_mtp_round", wrong_drafts)
        rep = runner.replay_rounds(model, None, run.rounds, "mtp", 2, 16)
        assert rep["mismatches"] > 0 and rep["rounds"] == run.stats.num_rounds


def test_replay_emits_what_the_loop_emitted_and_counts_graphs_compiled_while_timed():
    import torch

    from specsize.engine.compile import compile_steps

    from .test_spec_greedy import prompts, tiny

    model = compile_steps(tiny("llama", 3))
    ps = [(p, "c") for p in prompts(2, 64, 5)]
    with torch.inference_mode():
        run = runner.run_once(model, None, ps, "ngram", 2, 12, ())
        assert [r.output for r in run.rounds] == run.outputs and all(r.rounds for r in run.rounds)
        rep = runner.replay_rounds(model, None, run.rounds, "ngram", 2, 12)
        assert rep["rounds"] == run.stats.num_rounds and rep["mismatches"] == 0 and rep["recompiles"] == 0
        # the same weights in a model whose graphs were never built: the replay compiles them, and says so
        fresh = compile_steps(tiny("llama", 3))
        rep = runner.replay_rounds(fresh, None, run.rounds, "ngram", 2, 12)
        assert rep["mismatches"] == 0 and rep["recompiles"] > 0
