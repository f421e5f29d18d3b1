"""`plan --calibration serve.json` (benchmarks/bench_serve.py's file): the round model at every concurrency the
batched engine measured, with what it learned printed; an exact identity on a constructed file; bad files in
one line."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from specsize.calibration import read_calibration, this_machine
from specsize.cli import cli
from specsize.speculative import expected_length

SERVE = str(Path(__file__).parents[1] / "benchmarks" / "results" / "serve" / "serve.json")


def serve_file(tmp_path, t=(0.004,) * 4, overhead=0.0, t_draft=(0.0,) * 4, alphas=(0.9, 0.5, 0.25)):
    res = {"k": 3, "T_draft": list(t_draft), "conditional_acceptance": list(alphas), "speedup": 1.5,
           "mean_acceptance_length": 2.0}  # fmt: skip
    rows = [{"concurrency": c, "T": [x * c for x in t], "overhead_s": overhead, "methods": {"draft": res},
             "plain": {"decode_tokens_per_s": 100.0 * c}} for c in (1, 4)]  # fmt: skip
    p = tmp_path / "serve.json"
    p.write_text(json.dumps({"model": "tiny-r1", "rows": rows, "machine": {"cpu": "x"}}))
    return p


def test_free_verification_and_drafts_give_the_expected_length(tmp_path):
    """T_C(k+1) = T_C(1), no drafter time, no loop overhead: the round model's speedup is E[L] at every C."""
    m = this_machine(read_calibration(serve_file(tmp_path)), "draft")
    assert [r["concurrency"] for r in m["batched"]] == [1, 4]
    for r in m["batched"]:
        assert abs(r["speedup"] - expected_length((0.9, 0.5, 0.25))) < 1e-12
        assert r["measured_speedup"] == 1.5


def test_given_acceptance_replaces_the_measured_one(tmp_path):
    m = this_machine(read_calibration(serve_file(tmp_path, overhead=0.001)), "draft", (0.5,))
    for r in m["batched"]:
        t1 = 0.004 * r["concurrency"]
        assert abs(r["speedup"] - expected_length((0.5,) * 3) * (t1 + 0.001) / (t1 + 0.001 + 3 * 0.001)) < 1e-12


def test_plan_prints_every_measured_concurrency():
    r = CliRunner().invoke(cli, ["plan", "tiny-r1", "--spec", "mtp:2", "--acceptance", "0.74,0.51", "--calibration",
                                 SERVE, "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["this_machine"]["batched"]
    assert [x["concurrency"] for x in rows] == [1, 2, 4, 8, 16]
    assert all(x["k"] == 2 and abs(x["expected_length"] - expected_length((0.74, 0.51))) < 1e-12 for x in rows)
    text = CliRunner().invoke(cli, ["plan", "tiny-r1", "--spec", "mtp:2", "--calibration", SERVE]).output
    assert "this machine, measured at every concurrency" in text and "T_C(1)" in text


def test_a_broken_serve_file_is_one_line(tmp_path):
    p = tmp_path / "serve.json"
    p.write_text(json.dumps({"rows": [{"concurrency": 1, "T": [0.1]}]}))
    r = CliRunner().invoke(cli, ["plan", "tiny-r1", "--spec", "mtp:2", "--calibration", str(p)])
    assert r.exit_code != 0 and "bench_serve.py serve.json" in r.output and "Traceback" not in r.output


def test_plan_gives_the_bench_s_own_prediction_at_every_concurrency():
    """Without --acceptance, plan's row at C is the prediction bench_serve.py wrote next to its measurement."""
    bench = json.loads(Path(SERVE).read_text())
    for method, spec in (("mtp", "mtp:2"), ("draft", "draft:tiny-r1-draft:4")):
        r = CliRunner().invoke(cli, ["plan", "tiny-r1", "--spec", spec, "--calibration", SERVE, "--json"])
        assert r.exit_code == 0, r.output
        rows = json.loads(r.output)["this_machine"]["batched"]
        want = [row["methods"][method]["predicted"] for row in bench["rows"]]
        assert [x["speedup"] for x in rows] == pytest.approx(want, rel=1e-12)
