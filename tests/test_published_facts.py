"""Exact accounting pinned to published DeepSeek-R1 and distill figures (sources in each test)."""

import pytest

from specsize.kvcache import kv_bytes_per_token, mtp_kv_bytes_per_token
from specsize.params import count_params
from specsize.quant import checkpoint_bytes
from specsize.resolve import load_model
from specsize.tensors import tensor_groups


@pytest.fixture(scope="module")
def r1():
    return load_model("deepseek-r1")


def test_r1_total_params(r1):
    # DeepSeek-V3 report (arXiv 2412.19437) §1 and the R1 model card: 671B total parameters.
    assert count_params(r1).total == pytest.approx(671.0e9, rel=0.002)


def test_r1_active_params(r1):
    # DeepSeek-V3 report: 37B activated per token (36.7B counting 0.9B embedding + 0.9B head).
    # Our convention: embedding + head + attention + dense MLP + shared + top-8 routed experts + router.
    assert 36.5e9 <= count_params(r1).active <= 38.0e9


def test_r1_mtp_params(r1):
    # DeepSeek-V3 README: the MTP module adds 11.5B unique parameters; layer 61 also stores copies of
    # the embedding and the output head (685B on the HF card = 671B + 14B).
    p = count_params(r1)
    assert p.mtp == pytest.approx(11.5e9, rel=0.02)
    assert p.total + p.mtp + p.mtp_stored_copies == pytest.approx(685e9, rel=0.002)


def test_r1_fp8_checkpoint_bytes(r1):
    # deepseek-ai/DeepSeek-R1 model.safetensors.index.json total_size over 163 shards.
    assert checkpoint_bytes(tensor_groups(r1), "fp8") == pytest.approx(688_586_727_753, rel=0.001)


def test_r1_bf16_checkpoint_is_about_1_3_to_1_4_tb(r1):
    # docs/reference/deepseek-r1.md: a BF16 copy is about 1.3-1.4 TB.
    assert 1.3e12 <= checkpoint_bytes(tensor_groups(r1), "bf16") <= 1.4e12


def test_r1_kv_bytes_per_token(r1):
    # MLA latent 512 + RoPE key 64 per layer; llama.cpp PR #11446: 2,196 MiB at 32K context in f16.
    assert kv_bytes_per_token(r1, "bf16") == 70_272
    assert kv_bytes_per_token(r1, "fp8") == 35_136
    assert kv_bytes_per_token(r1, "bf16") * 32768 == 2196 * 2**20
    assert mtp_kv_bytes_per_token(r1, "bf16") == 576 * 2


# Distill parameter counts: the model cards of deepseek-ai/DeepSeek-R1-Distill-* (safetensors metadata).
# KV per token: 2 x KV heads x head_dim x layers x 2 B (docs/reference/deepseek-r1.md).
DISTILLS = [
    ("deepseek-r1-distill-qwen-1.5b", 1.78e9, 28),
    ("deepseek-r1-distill-qwen-7b", 7.62e9, 56),
    ("deepseek-r1-distill-qwen-14b", 14.77e9, 192),
    ("deepseek-r1-distill-qwen-32b", 32.76e9, 256),
    ("deepseek-r1-distill-llama-8b", 8.03e9, 128),
    ("deepseek-r1-distill-llama-70b", 70.55e9, 320),
]


@pytest.mark.parametrize(("name", "params", "kv_kib"), DISTILLS)
def test_distill_params_and_kv(name, params, kv_kib):
    a = load_model(name)
    p = count_params(a)
    assert p.total == pytest.approx(params, rel=0.005)
    assert p.active == p.total  # dense
    assert p.mtp == 0
    assert kv_bytes_per_token(a, "bf16") == kv_kib * 1024


def test_components_sum_to_total(r1):
    p = count_params(r1)
    assert sum(n for _, n in p.components) == p.total
    assert sum(n for _, n in p.mtp_components) == p.mtp


def test_aliases_resolve_to_the_same_model():
    assert load_model("r1") == load_model("deepseek-r1") == load_model("DeepSeek-AI/DeepSeek-R1")
