"""`plan --calibration measured.jsonl`: what the planner learns from measured points (bench --endpoint --out),
on hand-made points whose every figure is known."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from specsize.calibration import MeasuredRun, _predict, pooled_spec, read_calibration
from specsize.cli import cli


def point(i, conc, method="mtp", k=2, spec=None, gpu="h200", tpot=20.0, engine="sglang"):
    return {
        "id": f"p{i}", "source": "test", "date": "2026-11-30", "model": "deepseek-r1", "weights": "fp8",
        "kv_cache": None, "gpu": gpu, "gpus": 8, "nodes": 1, "engine": engine, "engine_version": None,
        "layout": {"tp": 8, "ep": 1, "dp_attention": False}, "disaggregated": None,
        "workload": {"input_tokens": 1024, "output_tokens": 1024, "concurrency": conc,
                     "lengths": "uniform in [0.8 L, L], ignore_eos"},
        "speculative": {"method": method, "num_speculative_tokens": k if method != "none" else None},
        "measured": {"output_tok_s_per_gpu": 100.0, "per_gpu_counts": "all", "output_tok_s_per_user": 1e3 / tpot,
                     "tpot_ms": tpot, "ttft_ms": 300.0, "itl_ms": tpot, "e2el_ms": 20000.0},
        "bench": {"speculative": spec or {}},
    }  # fmt: skip


def counters(drafts, per_pos):
    return {"num_drafts": drafts, "num_draft_tokens": 2 * drafts, "num_accepted_tokens": sum(per_pos),
            "num_accepted_tokens_per_pos": per_pos, "mean_acceptance_length": 1 + sum(per_pos) / drafts}  # fmt: skip


def write(tmp_path, points):
    f = tmp_path / "measured.jsonl"
    f.write_text("".join(json.dumps(p) + "\n" for p in points))
    return f


def test_acceptance_pooled_over_levels(tmp_path):
    run = read_calibration(write(tmp_path, [point(1, 1, spec=counters(100, [80, 60])),
                                            point(2, 16, spec=counters(300, [240, 120]))]))  # fmt: skip
    assert isinstance(run, MeasuredRun)
    s = pooled_spec(run, "mtp")
    # 400 drafts: 320 accepted the first token, 180 the first two
    assert s["num_drafts"] == 400 and s["num_accepted_tokens_per_pos"] == [320, 180]
    assert s["conditional_acceptance"] == pytest.approx([0.8, 180 / 320])
    assert s["mean_acceptance_length"] == pytest.approx(1 + 500 / 400)


def test_sglang_mean_only_gives_the_iid_alpha(tmp_path):
    run = read_calibration(write(tmp_path, [point(1, 4, spec={"mean_acceptance_length": 1.75})]))
    s = pooled_spec(run, "mtp")
    assert s["conditional_acceptance"] == pytest.approx([0.5, 0.5], abs=1e-9)  # 1 + 0.5 + 0.25 = 1.75
    assert "assumption" in s["how"]


def test_step_time_scale_is_measured_over_predicted(tmp_path):
    acc = (0.8, 0.5)
    probe = [point(i, c, spec=counters(100, [80, 40])) for i, c in enumerate((1, 8, 32))]
    predicted = [_predict(p, acc)[0] for p in probe]  # the planner's TPOT for each point's own deployment
    points = [point(i, c, spec=counters(100, [80, 40]), tpot=f * t)
              for i, (c, t, f) in enumerate(zip((1, 8, 32), predicted, (1.5, 2.0, 3.0), strict=True))]  # fmt: skip
    f = write(tmp_path, points)
    r = CliRunner().invoke(cli, ["plan", "deepseek-r1", "--gpu", "h200", "--gpu", "b200", "--spec", "mtp:2",
                                 "--engine", "sglang", "--calibration", str(f), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    c = rep["calibration"]
    assert [row["scale"] for row in c["step_time"]["rows"]] == pytest.approx([1.5, 2.0, 3.0])
    assert c["step_time"]["scale"] == pytest.approx(2.0)  # the median
    assert rep["gpus"][0]["recommended"]["spec"]["acceptance"][:2] == pytest.approx([0.8, 0.5])  # the plan used it
    (applied,) = c["applied"]  # h200 only: the scale was measured there
    assert applied["gpu"] == "h200" and applied["concurrency"] == 1  # the plan's: the scale of the c=1 level
    assert applied["scale"] == pytest.approx(1.5)
    for conc, want in (("8", 2.0), ("16", 2.5), ("100", 3.0)):  # 16 is halfway from 8 to 32 in log; 100 clamps
        r = CliRunner().invoke(cli, ["plan", "deepseek-r1", "--gpu", "h200", "--spec", "mtp:2", "--engine", "sglang",
                                     "--concurrency", conc, "--input", "1024", "--output", "1024", "--calibration",
                                     str(f), "--json"])  # fmt: skip
        (a,) = json.loads(r.output)["calibration"]["applied"]
        assert a["scale"] == pytest.approx(want)
        if conc == "8":  # a measured level at its own workload: calibrated gives back the measured TPOT exactly
            assert a["calibrated_tpot_ms"] == pytest.approx(points[1]["measured"]["tpot_ms"])
    text = CliRunner().invoke(cli, ["plan", "deepseek-r1", "--gpu", "h200", "--spec", "mtp:2", "--engine", "sglang",
                                    "--calibration", str(f)]).output  # fmt: skip
    assert "step-time scale (measured / predicted TPOT): median 2.00" in text
    assert "x scale 1.50" in text
    assert "acceptance per position (conditional) 0.80 0.50" in text


def test_points_without_a_gpu_or_method_say_so(tmp_path):
    f = write(tmp_path, [point(1, 1, method="none", gpu="unknown", engine="specsize")])
    r = CliRunner().invoke(cli, ["plan", "deepseek-r1", "--gpu", "h200", "--spec", "mtp:2", "--calibration", str(f),
                                 "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    c = json.loads(r.output)["calibration"]
    assert "no spec-decode measurement for method 'mtp'" in c["note"] and "scale" not in c["step_time"]
    assert c["step_time"]["skipped"][0]["reason"].startswith("no GPU declared")


def test_a_bench_json_still_works_and_a_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"measured": {}, "workload": {}}\n')
    r = CliRunner().invoke(cli, ["plan", "--calibration", str(bad)])
    assert r.exit_code == 1 and "missing field(s) id" in r.output and "Traceback" not in r.output
