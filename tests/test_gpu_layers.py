"""llama.cpp's -ngl N as `--gpu-layers N|auto` (gpu_layers.py): all layers on the GPU is exactly the planner's
full-GPU answer; fewer layers on the GPU need less GPU memory and more RAM and are slower; auto is the most that
load; the launch command carries -ngl."""

import itertools
import json

import pytest
from click.testing import CliRunner

from specsize.cli import cli

BASE = ["r1-distill-qwen-7b", "--gpu", "rtx-4090", "--engine", "llamacpp", "--weights", "q4_k_m", "--context", "8192"]


def run(*args):
    r = CliRunner().invoke(cli, list(args))
    return r


def as_json(*args):
    r = run(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_all_layers_on_the_gpu_is_the_full_gpu_plan():
    full = as_json("plan", *BASE, "--spec", "none")["gpus"][0]["recommended"]
    split = as_json("plan", *BASE, "--gpu-layers", "28")["gpu_layers"]
    assert full["layout"]["text"] == "TP1"
    assert split["tpot_ms"] == pytest.approx(full["tpot_ms"], rel=1e-9)
    assert split["cpu_ms"] == 0


def test_fewer_gpu_layers_use_less_gpu_memory_more_ram_and_are_slower():
    splits = as_json("fit", *BASE, "--gpu-layers", "14")["splits"]
    for a, b in itertools.pairwise(splits):
        assert a["gpu_layers"] < b["gpu_layers"]
        assert a["gpu_bytes"] < b["gpu_bytes"] and a["host_bytes"] > b["host_bytes"] and a["tpot_ms"] > b["tpot_ms"]


def test_auto_is_the_most_layers_that_load_and_the_command_carries_ngl():
    args = ["r1-distill-qwen-32b", "--gpu", "rtx-4090", "--engine", "llamacpp", "--weights", "q8_0",
            "--context", "8192", "--gpu-layers"]  # fmt: skip
    d = as_json("plan", *args, "auto")
    n = d["gpu_layers"]["gpu_layers"]
    assert 0 < n < 64 and d["gpu_layers"]["fits"]
    assert not as_json("plan", *args, str(n + 1))["gpu_layers"]["fits"]
    assert d["commands"]["lines"][-1].endswith(f"-ngl {n}") and "-hf unsloth/" in d["commands"]["lines"][-1]
    r = run("plan", *args, "auto")
    assert r.output.startswith(f"llama.cpp -ngl {n}: {n} of 64 layers on the RTX-4090")


def test_gpu_layers_bad_input_is_one_line():
    for extra, needle in ((["--gpu-layers", "99"], "give 0 to 28"), (["--gpu-layers", "x"], "or auto"),
                          (["--gpu-layers", "4", "--engine", "vllm"], "add --engine llamacpp"),
                          (["--gpu-layers", "4", "--spec", "ngram"], "drop --spec")):  # fmt: skip
        r = run("plan", *BASE, *extra)
        assert r.exit_code == 1 and needle in r.output and "Traceback" not in r.output, r.output


def test_the_cpu_share_of_a_token_is_counted_once():
    """The -ngl split's FLOPs per token of R1: twice its 37B activated parameters (DeepSeek-V3 technical report) plus
    a 64-token context's attention, every MoE layer's experts once (a merge once counted them twice: 118 GFLOP)."""
    from specsize.deployment import HostCPU
    from specsize.gpu_layers import Splitter
    from specsize.resolve import load_model
    from specsize.scenario import Workload

    sp = Splitter(load_model("deepseek-r1"), "rtx-3090", "q4_k_m", "bf16", Workload(1, 32, 64), HostCPU())
    assert sp.flops == pytest.approx(2 * 37e9, rel=0.05)
