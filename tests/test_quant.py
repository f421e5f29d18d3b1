"""Checkpoint sizes per precision against published file sizes (sources per case)."""

import copy
import itertools
from dataclasses import replace

import pytest

from specsize import catalog
from specsize.config import parse_config
from specsize.errors import CatalogError
from specsize.quant import GGML_BPW, PRECISIONS, checkpoint_bytes, get_precision
from specsize.resolve import load_model
from specsize.tensors import TensorGroup, tensor_groups


def size_gb(model, precision):
    return checkpoint_bytes(tensor_groups(load_model(model)), precision) / 1e9


@pytest.mark.parametrize(
    ("model", "precision", "published_gb", "tol"),
    [
        ("deepseek-r1", "fp8", 688.586727753, 0.001),  # model.safetensors.index.json total_size
        ("deepseek-r1", "q4_k_m", 404, 0.05),  # Ollama deepseek-r1:671b
        ("deepseek-r1", "ud-iq2_xxs", 183, 0.05),  # Unsloth blog 2025-01-27
        ("deepseek-r1", "ud-iq1_m", 158, 0.05),  # Unsloth blog 2025-01-27
        ("deepseek-r1", "nvfp4", 400, 0.05),  # nvidia/DeepSeek-R1-FP4 (~400 GB, reference/deepseek-r1.md)
        # Ollama library pages (deepseek-r1:7b/8b/14b/32b/70b are Q4_K_M of the distills)
        ("deepseek-r1-distill-qwen-7b", "q4_k_m", 4.7, 0.05),
        ("deepseek-r1-distill-llama-8b", "q4_k_m", 4.9, 0.05),
        ("deepseek-r1-distill-qwen-14b", "q4_k_m", 9.0, 0.05),
        ("deepseek-r1-distill-qwen-32b", "q4_k_m", 20, 0.05),
        ("deepseek-r1-distill-llama-70b", "q4_k_m", 43, 0.05),
    ],
)
def test_published_sizes(model, precision, published_gb, tol):
    assert size_gb(model, precision) == pytest.approx(published_gb, rel=tol)


def test_unsloth_iq1_s_is_bounded_by_its_expert_type():
    """Unsloth's '131GB' IQ1_S cannot be decimal GB: the routed experts alone at IQ1_S's 1.5625 bits per
    weight (ggml block_iq1_s: 50 bytes per 256 weights) take 127.7e9 bytes. Ours is 131 GiB to within 1%."""
    experts = sum(
        g.numel for g in tensor_groups(load_model("r1")) if g.component == "moe_routed" and g.scope == "model"
    )
    assert experts * GGML_BPW["iq1_s"] / 8 == pytest.approx(127.7e9, rel=0.001)
    assert size_gb("deepseek-r1", "ud-iq1_s") * 1e9 / 2**30 == pytest.approx(131, rel=0.01)


def test_gguf_drops_the_mtp_layer_and_fp8_keeps_it():
    r1 = load_model("deepseek-r1")
    groups = tensor_groups(r1)
    main = [g for g in groups if g.scope == "model"]
    assert checkpoint_bytes(groups, "q4_k_m") == checkpoint_bytes(main, "q4_k_m")
    assert checkpoint_bytes(groups, "fp8") > checkpoint_bytes(main, "fp8") + 11e9


def test_ordering_of_precisions():
    sizes = {p: size_gb("deepseek-r1-distill-qwen-7b", p) for p in PRECISIONS}
    order = ["bf16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k"]
    assert all(sizes[a] > sizes[b] for a, b in itertools.pairwise(order))
    assert sizes["awq-int4"] < sizes["int8"] < sizes["bf16"]


def test_unknown_precision():
    with pytest.raises(CatalogError, match="unknown weight precision 'int3'"):
        get_precision("int3")


def test_fp8_scales_follow_the_configs_weight_block_size():
    # a 256x256 weight: 65,536 e4m3 bytes + FP32 scales, 2x2 of them in 128-blocks, 4x4 in 64-blocks
    w = TensorGroup("w", (256, 256), 1, "linear", "attention", "o")
    assert get_precision("fp8").group_bytes(w) == 65536 + 4 * 4
    assert get_precision("fp8").group_bytes(replace(w, scale_block=(64, 64))) == 65536 + 16 * 4
    raw = copy.deepcopy(catalog.find_model("deepseek-r1")["config"])
    raw["quantization_config"]["weight_block_size"] = [64, 64]
    linears = [g for g in tensor_groups(parse_config(raw)) if g.kind == "linear"]
    assert linears and all(g.scale_block == (64, 64) for g in linears)
