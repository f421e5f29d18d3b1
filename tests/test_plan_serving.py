"""`plan` reports the steady-state serving figures that `validate` checks against measured serving (one formula,
serving.steady_state): a plan on 8 GPUs and a measured point of the same setup (engine, GPU, weights, layout,
workload with exact lengths) get the same TTFT and TPOT, and the same tok/s per GPU but for the benchmark's finite
run (measured.first_wave_factor: the first wave of prompts, at most a tenth). The decode step stays the
breakdown."""

import json

import pytest
from click.testing import CliRunner

from specsize.cli import cli
from specsize.measured import evaluate_point, first_wave_factor, predict_case, resolve
from specsize.serving import decode_iteration


def plan_json(*args):
    r = CliRunner().invoke(cli, ["plan", "deepseek-r1", "--json", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["gpus"][0]["recommended"]


def point(gpu, concurrency, isl, osl, dp_attention=False):
    return {"id": "same-setup", "engine": "sglang", "engine_version": None, "gpu": gpu, "gpus": 8,
            "model": "deepseek-r1", "weights": "fp8", "kv_cache": "bf16",
            "layout": {"tp": 8, "ep": 8 if dp_attention else 1, "dp_attention": dp_attention},
            "speculative": {"method": "none"}, "disaggregated": None,
            "workload": {"concurrency": concurrency, "input_tokens": isl, "output_tokens": osl, "lengths": "fixed"},
            "measured": {"output_tok_s_per_gpu": 1.0, "output_tok_s_per_user": 1.0, "ttft_ms": 1.0,
                         "per_gpu_counts": "all"}}  # fmt: skip


@pytest.mark.parametrize("gpu, concurrency, layout", [("h200", 1, "TP8"), ("h200", 64, "TP8"),
                                                       ("mi300x", 256, "TP8 EP8 DP-attention")])  # fmt: skip
def test_plan_speeds_are_the_serving_figures_validate_checks(gpu, concurrency, layout):
    """The same figures for attention TP and for attention DP + EP (plan's faster layout on 8 MI300X at 256
    users)."""
    isl, osl = 1024, 1024
    got = plan_json("--gpu", gpu, "--gpus", "8", "--spec", "none", "--concurrency", str(concurrency),
                    "--input", str(isl), "--output", str(osl))  # fmt: skip
    assert got["layout"]["text"] == layout
    dp = layout != "TP8"
    want = evaluate_point(point(gpu, concurrency, isl, osl, dp))
    assert not want["reason"], want["reason"]
    m = want["metrics"]
    case = resolve(point(gpu, concurrency, isl, osl, dp))
    run = first_wave_factor(case, predict_case(case))
    assert 0.9 < run < 1
    assert got["tok_s_per_gpu"] * run == pytest.approx(m["output_tok_s_per_gpu"]["predicted"], rel=1e-9)
    assert got["tok_s_per_user"] == pytest.approx(m["output_tok_s_per_user"]["predicted"], rel=1e-9)
    assert got["ttft_ms"] == pytest.approx(m["ttft_ms"]["predicted"], rel=1e-9)


def test_a_measured_b200_sglang_point_differs_from_plan_by_its_recipes_poll_interval_only():
    """InferenceX's SGLang recipes on B200 poll for new requests every 30 iterations (recipes.recv_interval), which
    plan's own SGLang command leaves at every iteration: the same TPOT, and TTFT longer by 29 / 2 iterations."""
    got = plan_json("--gpu", "b200", "--gpus", "8", "--spec", "none", "--concurrency", "256", "--input", "1024",
                    "--output", "1024")  # fmt: skip
    case = resolve(point("b200", 256, 1024, 1024))
    assert case.decode.recv_interval == 30
    sp = predict_case(case)
    assert got["tok_s_per_user"] == pytest.approx(sp.tok_s_per_user, rel=1e-9)
    wait = 29 / 2 * decode_iteration(case.decode.dep, 256, 1024 + 512)[0]
    assert sp.ttft * 1e3 - got["ttft_ms"] == pytest.approx(wait * 1e3, rel=1e-6)


def test_the_decode_step_is_the_breakdown_and_prefill_its_share():
    """At one user there is no one else's prefill to share: TPOT is the decode step. At 64 users each decode step
    also carries the other users' prefill, so TPOT exceeds the step (the decode-only figure plan reported before)."""
    one = plan_json("--gpu", "h200", "--gpus", "8", "--spec", "none", "--concurrency", "1")
    step = one["decode_step"]
    assert one["tpot_ms"] == pytest.approx(max(step["memory_ms"], step["compute_ms"]) + step["communication_ms"]
                                           + step["overhead_ms"], rel=0.05)  # fmt: skip
    many = plan_json("--gpu", "h200", "--gpus", "8", "--spec", "none", "--concurrency", "64", "--input", "1024",
                     "--output", "1024")  # fmt: skip
    s = many["decode_step"]
    assert many["tpot_ms"] > max(s["memory_ms"], s["compute_ms"]) + s["communication_ms"] + s["overhead_ms"]


def test_speculative_figures_are_served_too():
    """MTP's TPOT and tok/s per GPU are the serving figures at its k: faster per user than plain serving at one
    user, and the speedup is the ratio of the two served TPOTs."""
    got = plan_json("--gpu", "h200", "--gpus", "8", "--spec", "mtp:2", "--concurrency", "1")
    s = got["spec"]
    assert s["tpot_ms"] < got["tpot_ms"]
    assert s["speedup"] == pytest.approx(got["tpot_ms"] / s["tpot_ms"], rel=1e-9)
    assert s["tok_s_per_gpu"] > got["tok_s_per_gpu"]
