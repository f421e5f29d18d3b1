"""Fit search against the published minimum setups, the consumer-GPU distill question, and bad input."""

import pytest

from specsize.errors import CatalogError, PlanError
from specsize.fit import fit_all, fit_gpu
from specsize.resolve import load_model
from specsize.scenario import Layout, Workload, parse_spec

# Which distills fit a 12 GB RTX 3060, a 24 GB RTX 4090 and a 32 GB RTX 5090 at 4K context on one GPU
# (llama.cpp). Explained by the breakdown: e.g. 14B BF16 is 29.5 GB of weights (> 24 GB, < 32 GB);
# 32B Q4_K_M is 19.8 GB (> 12 GB, < 24 GB); 70B Q4_K_M is 42.5 GB (no single consumer GPU).
CONSUMER = {
    ("deepseek-r1-distill-qwen-1.5b", "bf16"): (True, True, True),
    ("deepseek-r1-distill-qwen-7b", "bf16"): (False, True, True),
    ("deepseek-r1-distill-llama-8b", "bf16"): (False, True, True),
    ("deepseek-r1-distill-qwen-14b", "bf16"): (False, False, True),
    ("deepseek-r1-distill-qwen-32b", "bf16"): (False, False, False),
    ("deepseek-r1-distill-llama-70b", "bf16"): (False, False, False),
    ("deepseek-r1-distill-qwen-7b", "q4_k_m"): (True, True, True),
    ("deepseek-r1-distill-qwen-14b", "q4_k_m"): (True, True, True),
    ("deepseek-r1-distill-qwen-32b", "q4_k_m"): (False, True, True),
    ("deepseek-r1-distill-llama-70b", "q4_k_m"): (False, False, False),
}


@pytest.mark.parametrize(("model", "precision"), list(CONSUMER))
def test_distills_on_consumer_gpus(model, precision):
    a = load_model(model)
    w = Workload(concurrency=1, input_tokens=2048, output_tokens=2048)
    got = tuple(fit_gpu(a, g, precision, "bf16", w, "llamacpp", layout=Layout()).fits
                for g in ("rtx-3060", "rtx-4090", "rtx-5090"))  # fmt: skip
    assert got == CONSUMER[(model, precision)]


def test_fit_r1_covers_every_gpu():
    rows = fit_all(load_model("deepseek-r1"))  # its speed is measured in benchmarks/bench_fit.py
    assert {r.gpu.id for r in rows} >= {"h200", "h100-sxm", "b200", "mi300x", "rtx-4090"}
    fit = {r.gpu.id: r for r in rows}
    assert fit["h200"].gpus == 8 and fit["h200"].nodes == 1
    assert fit["h100-sxm"].nodes == 2


def test_max_concurrency_and_context_are_consistent():
    r = fit_gpu(load_model("r1"), "h200", "fp8", "bf16", Workload(1, 4096, 4096), "sglang")
    m = r.memory
    # one request holds 8,192 tokens x 70,272 B (R1's MLA cache by hand: 61 layers x (512 latent + 64 rope)
    # x 2 B, DeepSeek-V2 report §2.1.3), whole on every TP rank: as many as the KV budget holds, and no more
    assert r.max_concurrency * 8192 * 61 * 576 * 2 <= m.kv_budget < (r.max_concurrency + 1) * 8192 * 61 * 576 * 2
    assert r.max_concurrency > 0
    assert r.max_context == 163840  # capped at the model's maximum


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda a: fit_gpu(a, "h9000", "fp8", "bf16", Workload(), "vllm"), CatalogError, "unknown GPU 'h9000'"),
        (lambda a: Workload(concurrency=-1), PlanError, "concurrency"),
        (lambda a: fit_gpu(a, "h200", "fp8", "bf16", Workload(1, 200_000, 1), "vllm"), PlanError, "exceeds"),
        (lambda a: parse_spec("draft:llama-3.2-1b-instruct", a), PlanError, "do not share a tokenizer"),
        (lambda a: parse_spec("mtp:0", a), PlanError, "k must be >= 1"),
        (lambda a: parse_spec("medusa", a), PlanError, "unknown speculative method"),
        (lambda a: parse_spec("mtp", load_model("r1-distill-qwen-7b")), PlanError, "no MTP layer"),
        (
            lambda a: fit_gpu(a, "h200", "fp8", "bf16", Workload(), "llamacpp", parse_spec("mtp", a)),
            PlanError,
            "does not support",
        ),
    ],
)
def test_bad_input(call, error, needle):
    with pytest.raises(error, match=needle):
        call(load_model("deepseek-r1"))


def test_llamacpp_splits_layers_over_any_gpu_count_of_one_machine():
    """llama.cpp's layer split takes any number of GPUs (src/llama-model.cpp: layers by cumulative share), not only
    powers of two: on the catalog's 4-GPU RTX A6000 workstation every count 1-4 is a layout (PP n), 3 included."""
    from specsize.engines import get_engine
    from specsize.fit import candidate_layouts
    from specsize.hardware import get_gpu
    from specsize.resolve import load_model
    from specsize.scenario import Layout, Speculative

    lays = list(candidate_layouts(load_model("r1-distill-llama-70b"), get_gpu("rtx-a6000"), get_engine("llamacpp"),
                                  Speculative()))  # fmt: skip
    assert lays == [Layout(pp=n) for n in range(1, 5)]


def test_attention_dp_is_each_counts_second_candidate_for_an_mla_moe_model_on_engines_that_run_it():
    from specsize.engines import get_engine
    from specsize.fit import candidate_layouts
    from specsize.hardware import get_gpu
    from specsize.scenario import Speculative

    r1, gpu = load_model("deepseek-r1"), get_gpu("h200")
    sg = [x.describe() for x in candidate_layouts(r1, gpu, get_engine("sglang"), Speculative("mtp", 1))]
    assert sg[:8] == ["TP1", "TP2", "TP2 EP2 DP-attention", "TP4", "TP4 EP4 DP-attention", "TP8",
                      "TP8 EP8 DP-attention", "TP16"]  # fmt: skip
    assert "TP16 EP16 DP-attention" in sg and "TP24 EP24 DP-attention" not in sg  # 256 experts over 24 ranks: no
    atom = candidate_layouts(r1, gpu, get_engine("atom"), Speculative())
    assert not any(x.attention == "dp" for x in atom)
    dense = load_model("deepseek-r1-distill-llama-70b")  # GQA, dense: attention DP buys it nothing here
    assert not any(x.attention == "dp" for x in candidate_layouts(dense, gpu, get_engine("vllm"), Speculative()))


def test_many_users_fit_fewer_gpus_under_attention_dp():
    """128 users of 9,216 tokens: R1's latent KV on every GPU of TP8 needs 83 GB a GPU, which 8 H200s lack (TP16:
    2 nodes); under attention DP each GPU holds its 16 users' only."""
    w = Workload(concurrency=128, input_tokens=8192, output_tokens=1024)
    r = fit_gpu(load_model("deepseek-r1"), "h200", "fp8", "bf16", w, "sglang")
    assert r.fits and (r.gpus, r.layout) == (8, Layout(tp=8, ep=8, attention="dp"))
    tp_only = fit_gpu(load_model("deepseek-r1"), "h200", "fp8", "bf16", w, "sglang", layout=Layout(tp=8))
    assert not tp_only.fits
