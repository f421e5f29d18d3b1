"""Prefill/decode disaggregation: the split plan_disagg picks, and `plan --disagg`."""

import json

import pytest
from click.testing import CliRunner

from specsize.cli import cli
from specsize.disagg import plan_disagg
from specsize.errors import PlanError
from specsize.hardware import get_gpu
from specsize.resolve import load_model
from specsize.scenario import Workload


def test_the_chosen_split_is_the_best_of_those_tried_and_says_why():
    r = plan_disagg(load_model("deepseek-r1"), get_gpu("h200"), "fp8", "bf16", Workload(256, 1024, 1024), "sglang")
    best = r["best"]
    assert best["prefill_gpus"] + best["decode_gpus"] == r["gpus"] == 32
    assert best["tok_s_per_gpu"] == max(s["tok_s_per_gpu"] for s in r["splits"])
    assert "prefill" in r["why"] and "aggregated" in r["why"]


def test_long_prompts_want_more_prefill_gpus_than_short_ones():
    a, gpu = load_model("deepseek-r1"), get_gpu("gb200")
    short = plan_disagg(a, gpu, "nvfp4", "fp8", Workload(1024, 1024, 8192), "trtllm")
    long = plan_disagg(a, gpu, "nvfp4", "fp8", Workload(1024, 8192, 1024), "trtllm")
    share = [x["best"]["prefill_gpus"] / x["gpus"] for x in (short, long)]
    assert share[0] < share[1]


def test_too_few_gpus_is_one_clear_error():
    with pytest.raises(PlanError, match="at least two instances"):
        plan_disagg(load_model("deepseek-r1"), get_gpu("h200"), "fp8", "bf16", Workload(8), "sglang", total_gpus=8)


def test_cli_plan_disagg():
    r = CliRunner().invoke(cli, ["plan", "--gpu", "gb200", "--disagg", "--concurrency", "512", "--input", "1024",
                                 "--output", "1024", "--weights", "nvfp4", "--spec", "none", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["gpus"] == 72 and data["best"]["decode"].endswith("DP-attention")
    r = CliRunner().invoke(cli, ["plan", "--gpu", "h200", "--disagg", "--disagg-gpus", "8"])
    assert r.exit_code != 0 and "at least two instances" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("extra, named", [(["--sheet"], "--sheet"), (["--gpus", "16"], "--gpus"),
                                          (["--gpu", "b200", "--explain"], "a second --gpu")])  # fmt: skip
def test_plan_disagg_refuses_the_options_it_would_ignore(extra, named):
    r = CliRunner().invoke(cli, ["plan", "--gpu", "h200", "--disagg", *extra])
    assert r.exit_code != 0 and named in r.output and "without --disagg" in r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
