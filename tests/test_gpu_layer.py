"""benchmarks/gpu_layer.py: its prediction side (runs anywhere) and its one-line exit without an accelerator."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from specsize.perf_constants import HBM_EFFICIENCY
from specsize.quant import get_precision
from specsize.resolve import load_model
from specsize.tensors import tensor_groups
from tests.scripts import load_script

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_layer.py"


def _bench():
    return load_script("benchmarks/gpu_layer.py")


def test_one_token_reads_one_layers_weights_and_eight_experts():
    """At batch 1, n = 1 the layer is memory-bound: its attention, shared expert, router and norms plus 8 of its
    256 routed experts, in BF16, at the H200's 4.8 TB/s x HBM_EFFICIENCY (the KV read of 2048 tokens adds ~0.2%)."""
    r1, bf16 = load_model("deepseek-r1"), get_precision("bf16")
    moe_layers = sum(r1.is_moe_layer(i) for i in range(r1.num_layers))
    per_layer = 0.0
    for g in tensor_groups(r1):
        if g.scope != "model" or g.block != "moe":  # the 58 MoE layers' tensors: attention, norms, router, experts
            continue
        share = 8 / 256 if g.component == "moe_routed" else 1.0
        per_layer += bf16.group_bytes(g) / moe_layers * share
    got = _bench().predict("h200", 1, 1, 2048)
    assert got == pytest.approx(per_layer / (4.8e12 * HBM_EFFICIENCY), rel=0.02)


def test_prediction_grows_with_tokens_and_batch():
    rows = _bench().prediction_rows("b200", 1024)
    by = {(r["batch"], r["tokens"]): r for r in rows}
    for b in (1, 8, 32):
        ts = [by[(b, n)]["roofline_ms"] for n in (1, 2, 4, 8, 16, 32, 64)]
        assert ts == sorted(ts)
    assert all(r["with_overhead_ms"] > r["roofline_ms"] for r in rows)


def test_without_an_accelerator_it_says_so_in_one_line():
    import torch

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run([sys.executable, str(BENCH)], capture_output=True, text=True, env=env)

    if torch.cuda.is_available():
        pytest.skip("an accelerator is present: the benchmark would run")
    assert r.returncode == 1 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert "no CUDA or ROCm accelerator" in r.stderr


def test_the_measurement_path_runs_on_cpu_with_a_tiny_model(capsys):
    """The timed path (engine Block, latent cache, rope tables) as a smoke test: tiny-r1's layer on the CPU."""
    assert _bench().main(["--model", "tiny-r1", "--device", "cpu", "--gpu", "h200", "--context", "32",
                          "--repeats", "1"]) == 0  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("tiny-r1 decoder layer") and "measured on cpu" in out[0]
    rows = [line.split() for line in out[2:]]
    assert len(rows) == 21 and all(float(r[4]) > 0 for r in rows)
