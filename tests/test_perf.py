"""The roofline step-time model: each term against an exact identity or a sourced figure."""

import math

import pytest

from specsize.deployment import HostCPU, build_deployment
from specsize.engines import get_engine
from specsize.hardware import get_gpu
from specsize.perf import allreduce_time, build_stack, distinct_experts, make_machine, step_time, weight_bandwidth
from specsize.perf_constants import HBM_EFFICIENCY, engine_perf
from specsize.quant import checkpoint_bytes, get_precision
from specsize.resolve import load_model
from specsize.scenario import Host, Layout, Workload
from specsize.tensors import tensor_groups


@pytest.fixture(scope="module")
def r1():
    return load_model("deepseek-r1")


@pytest.mark.parametrize("n, expected", [(1, 8), (2, 15.8), (4, 30.5), (8, 57), (32, 163), (128, 252)])
def test_uniform_routing_matches_the_reference_table(n, expected):
    # docs/reference/speculative.md: E (1 - (1 - k/E)^n) for DeepSeek-V3, E = 256, top-8
    assert distinct_experts(n, 256, 8, seqs=n) == pytest.approx(expected, abs=0.6)
    assert distinct_experts(n, 256, 8, correlation=1.0) == pytest.approx(expected, abs=0.6)


def test_correlated_tokens_of_one_sequence_touch_the_measured_2_5x():
    # docs/reference/speculative.md: ~2.5x unique expert weights for 4 tokens where uniform routing gives 3.8x
    assert distinct_experts(4, 256, 8) / distinct_experts(1, 256, 8) == pytest.approx(2.5, abs=0.05)
    assert distinct_experts(4, 256, 8, seqs=4) / 8 == pytest.approx(3.8, abs=0.05)


def test_a_dense_stack_reads_every_weight_but_the_embedding():
    a = load_model("deepseek-r1-distill-qwen-7b")
    groups = tensor_groups(a)
    emb = sum(g.numel * 2 for g in groups if g.kind == "embedding")
    s = build_stack(a, get_precision("bf16"), Layout(tp=1), "bf16")
    assert s.dense_bytes == pytest.approx(checkpoint_bytes(groups, "bf16") - emb)
    assert s.dense_flops == pytest.approx(2 * sum(g.numel for g in groups if g.kind in ("linear", "lm_head")))
    s2 = build_stack(a, get_precision("bf16"), Layout(tp=2), "bf16")
    assert s2.dense_bytes == pytest.approx(s.dense_bytes / 2, rel=1e-4)  # norms are replicated: tiny
    assert s2.kv_bytes_per_token == s.kv_bytes_per_token / 2  # 4 KV heads split over 2 ranks


def test_r1_one_token_reads_its_active_experts_once(r1):
    """Per GPU at TP8, one token reads 1/8 of its 8 routed experts in each of the 58 MoE layers."""
    prec = get_precision("fp8")
    s = build_stack(r1, prec, Layout(tp=8), "bf16")
    m = make_machine(get_gpu("h200"), Layout(tp=8), engine_perf("sglang"), prec)
    st = step_time(s, m, 1, 1, 0)
    # by hand: an expert is gate, up (2048x7168) and down (7168x2048) in e4m3 + FP32 scales per 128x128 block
    # (R1 config.json, DeepSeek-V3 README_WEIGHTS.md); 8 of them in each of 58 MoE layers, an eighth per GPU
    expert = 3 * (2048 * 7168 + 16 * 56 * 4)
    assert st.expert_bytes == pytest.approx(expert * 8 * 58 / 8)
    assert s.kv_bytes_per_token == 70272  # MLA latent: whole on every TP rank
    bw = 4.8e12 * HBM_EFFICIENCY
    assert st.memory == pytest.approx(s.dense_bytes / bw + st.expert_bytes / (bw * m.engine.bw_efficiency))


def test_llamacpp_bandwidth_is_bound_by_its_compute_units_on_hbm_parts():
    """By hand: llama.cpp's mat-vec kernels pull 9.5 GB/s per SM (perf_constants.LLAMACPP_UNIT_BANDWIDTH): an A100's
    108 SMs (NVIDIA A100 whitepaper) reach 1.026 TB/s, under its 2,039 GB/s x 0.8; an RTX 4090's 128 SMs (1.216
    TB/s) do not bind its 1,008 GB/s x 0.8; GGUF weights stream at 0.96 of that; SGLang has no such cap."""
    lc, sg = engine_perf("llamacpp"), engine_perf("sglang")
    assert weight_bandwidth(get_gpu("a100-80gb"), lc) == pytest.approx(108 * 9.5e9)
    assert weight_bandwidth(get_gpu("a100-80gb"), lc, block_quantised=True) == pytest.approx(108 * 9.5e9 * 0.96)
    assert weight_bandwidth(get_gpu("rtx-4090"), lc) == pytest.approx(1008e9 * HBM_EFFICIENCY)
    assert weight_bandwidth(get_gpu("a100-80gb"), sg) == pytest.approx(2039e9 * HBM_EFFICIENCY)


def test_llamacpp_pays_a_per_layer_cost_on_metal_only():
    """No graph replay on Metal: each of Llama-3-8B's 32 layers costs 120 us more there (LLAMACPP_METAL_LAYER) than
    on a GPU that replays a CUDA graph, whatever the bandwidth."""
    a, prec = load_model("deepseek-r1-distill-llama-8b"), get_precision("q4_k_m")
    s = build_stack(a, prec, Layout(), "bf16")
    t = {g: step_time(s, make_machine(get_gpu(g), Layout(), engine_perf("llamacpp"), prec), 1, 1, 256).overhead
         for g in ("apple-m2-ultra", "rtx-4090")}  # fmt: skip
    assert t["apple-m2-ultra"] - t["rtx-4090"] == pytest.approx(32 * 120e-6)


def test_bounds_follow_the_regime(r1):
    d = build_deployment(r1, get_gpu("h200"), "fp8", "bf16", Layout(tp=8), get_engine("sglang"))
    assert d.decode_step(1, 1024).bound == "overhead"  # 61 layers of kernel floors dwarf 5 GB at 4.8 TB/s
    assert d.decode_step(256, 4096).bound == "memory"  # every expert and 256 caches read
    # an 8K-token prefill chunk: TP8 all-reduces of 117 MB per layer rival the matmuls (no overlap assumed)
    assert step_time(d.main, d.machine, 8192, 1, 4096, prefill=True).bound in ("compute", "communication")
    dense = build_deployment(load_model("r1-distill-qwen-7b"), get_gpu("h200"), "bf16", "bf16", Layout(),
                             get_engine("vllm"))  # fmt: skip
    assert step_time(dense.main, dense.machine, 8192, 1, 4096, prefill=True).bound == "compute"


def test_expert_parallel_reads_fewer_experts_per_gpu(r1):
    tp8 = build_deployment(r1, get_gpu("b200"), "nvfp4", "fp8", Layout(tp=8), get_engine("sglang"))
    ep8 = build_deployment(r1, get_gpu("b200"), "nvfp4", "fp8", Layout(tp=8, ep=8), get_engine("sglang"))
    # one token: TP8 reads 1/8 of 8 experts; EP8 reads ~1 whole expert of its 32: the same bytes on average
    assert ep8.decode_step(1, 0).expert_bytes == pytest.approx(tp8.decode_step(1, 0).expert_bytes, rel=1e-6)
    assert ep8.main.experts_per_gpu == 32


def test_communication_grows_across_nodes_and_on_slow_links(r1):
    m8 = make_machine(get_gpu("h100-sxm"), Layout(tp=8), engine_perf("sglang"), get_precision("fp8"))
    m16 = make_machine(get_gpu("h100-sxm"), Layout(tp=16), engine_perf("sglang"), get_precision("fp8"))
    slow = make_machine(get_gpu("h100-sxm"), Layout(tp=16), engine_perf("sglang"), get_precision("fp8"), "eth-10g")
    nbytes = 64 * 7168 * 2
    assert allreduce_time(m8, 1, nbytes) == 0
    assert allreduce_time(m8, 8, nbytes) < allreduce_time(m16, 16, nbytes) < allreduce_time(slow, 16, nbytes)


def test_ttft_grows_with_the_prompt_and_prefill_chunks(r1):
    d = build_deployment(r1, get_gpu("h200"), "fp8", "bf16", Layout(tp=8), get_engine("sglang"))
    t1, t4, t16 = d.ttft(1024), d.ttft(4096), d.ttft(16384)
    assert t1 < t4 < t16
    assert t16 > 2 * t4  # attention over a longer prefix on top of 4x the tokens


def test_cpu_hybrid_streams_experts_from_host_memory(r1):
    def tpot(channels):
        d = build_deployment(r1, get_gpu("rtx-4090"), "q4_k_m", "bf16", Layout(), get_engine("ktransformers"),
                             host=Host(offload_experts=True), cpu=HostCPU(channels_per_socket=channels))  # fmt: skip
        return d.performance(Workload(1, 500, 300)).tpot

    assert tpot(4) > 1.8 * tpot(8) * 0.9  # the routed experts dominate: half the channels, ~twice the time
    assert tpot(12) < tpot(8)


def test_pipeline_parallel_overlaps_micro_batches():
    a = load_model("deepseek-r1-distill-llama-70b")
    pp1 = build_deployment(a, get_gpu("a100-80gb"), "bf16", "bf16", Layout(tp=4), get_engine("vllm"))
    pp2 = build_deployment(a, get_gpu("a100-80gb"), "bf16", "bf16", Layout(tp=4, pp=2), get_engine("vllm"))
    # one sequence crosses both stages: no faster; many sequences: two micro-batches in flight
    assert pp2.decode_step(1, 2048).total >= pp1.decode_step(1, 2048).total * 0.99
    assert pp2.decode_step(64, 2048).total < pp1.decode_step(64, 2048).total


def test_the_busiest_dp_attention_rank_holds_more_than_the_mean():
    from specsize.perf import busiest_rank

    assert busiest_rank(64, 1) == 64
    assert busiest_rank(8, 8) == pytest.approx(1 + (2 * math.log(8)) ** 0.5)  # mean 1: the excess dominates
    assert busiest_rank(2, 8) == pytest.approx(min(2, 0.25 + (0.5 * math.log(8)) ** 0.5))
    big = busiest_rank(8000, 8)
    assert 1000 < big < 1000 * 1.1  # many sequences: close to the mean


def test_amd_gpus_get_sglangs_rocm_build_for_their_architecture():
    from specsize.perf_constants import ENGINE_PERF
    from specsize.plan import gpu_perf

    sg = engine_perf("sglang")
    assert gpu_perf(sg, get_gpu("mi355x")).layer_overhead == ENGINE_PERF["sglang-rocm-gfx950"].layer_overhead
    assert gpu_perf(sg, get_gpu("mi300x")).layer_overhead == ENGINE_PERF["sglang-rocm"].layer_overhead
    assert gpu_perf(sg, get_gpu("h200")) is sg
    r1, mi325x = load_model("deepseek-r1"), get_gpu("mi325x")
    d = build_deployment(r1, mi325x, "fp8", "bf16", Layout(tp=8), get_engine("sglang"))
    assert d.machine.engine.name == "sglang-rocm"


def test_plan_predicts_tensorrt_llm_as_the_release_it_names():
    """`plan` plans TensorRT-LLM as its engine profile's release (1.2: the generation the corpus's 2026 runs measure),
    on Hopper its Hopper build; a measured point keeps the build its own version names (tests/test_measured.py)."""
    from specsize.perf_constants import ENGINE_PERF
    from specsize.plan import gpu_perf

    trt = get_engine("trtllm")
    assert "1.2" in trt.release
    for gpu, build in (("b200", "trtllm-1.2"), ("h200", "trtllm-1.2-sm90")):
        got = gpu_perf(engine_perf("trtllm"), get_gpu(gpu), trt.release)
        assert got.bw_efficiency == ENGINE_PERF[build].bw_efficiency and got.name == "trtllm", gpu
        d = build_deployment(load_model("deepseek-r1"), get_gpu(gpu), "fp8", "fp8", Layout(tp=8), trt)
        assert d.machine.engine.name == build, gpu


def test_an_engines_dispatch_cost_is_paid_twice_per_layer_under_attention_dp_only(r1):
    """EnginePerf.dispatch_overhead: one dispatch and one combine per layer under attention DP + EP (a hand count:
    2 x 61 layers x 100 us = 12.2 ms more per step); under attention TP the layer's collectives are all-reduces."""
    from dataclasses import replace

    from specsize.perf import communication_time

    gpu, base = get_gpu("b200"), engine_perf("sglang")
    costly = replace(base, dispatch_overhead=base.dispatch_overhead + 100e-6)
    for layout, extra in ((Layout(tp=8, ep=8, attention="dp"), 2 * 61 * 100e-6), (Layout(tp=8), 0.0)):
        s = build_stack(r1, get_precision("fp8"), layout, "bf16")
        t0 = communication_time(s, make_machine(gpu, layout, base, get_precision("fp8")), 64)
        t1 = communication_time(s, make_machine(gpu, layout, costly, get_precision("fp8")), 64)
        assert t1 - t0 == pytest.approx(extra)


def test_an_engines_per_token_dispatch_cost_is_a_decode_ranks_own_tokens(r1):
    """EnginePerf.dispatch_token_overhead: per token of each rank, in each dispatch and combine of a decode step under
    attention DP + EP (a hand count: 512 tokens over 8 ranks, 1 us a token, 2 x 61 layers = 7.8 ms more per step);
    a prefill step (the throughput kernels) and attention TP pay none of it."""
    from dataclasses import replace

    from specsize.perf import communication_time

    gpu, base = get_gpu("b200"), engine_perf("sglang")
    costly = replace(base, dispatch_token_overhead=base.dispatch_token_overhead + 1e-6)
    dp = Layout(tp=8, ep=8, attention="dp")
    for layout, prefill, extra in ((dp, False, 2 * 61 * 512 / 8 * 1e-6), (dp, True, 0.0), (Layout(tp=8), False, 0.0)):
        s = build_stack(r1, get_precision("fp8"), layout, "bf16")
        t0 = communication_time(s, make_machine(gpu, layout, base, get_precision("fp8")), 512, prefill=prefill)
        t1 = communication_time(s, make_machine(gpu, layout, costly, get_precision("fp8")), 512, prefill=prefill)
        assert t1 - t0 == pytest.approx(extra)


def test_a_dense_models_prefill_runs_at_the_model_wide_mfu_not_the_moe_fit():
    """A hand count for DeepSeek-R1-Distill-Qwen-32B (Qwen2.5-32B: 31.0B non-embedding parameters, model card;
    lm_head 152,064 x 5,120; 64 layers, 40 heads x 128) prefilling 4,096 tokens on 2xH100-SXM, BF16, TP2:
    2 FLOPs per weight per token plus causal attention (QK^T and PV: 4 x 5,120 FLOPs per layer per token per
    cached token, 2,048 on average), over 989 TFLOPS dense BF16 (NVIDIA H100 datasheet) x COMPUTE_EFFICIENCY.
    The MoE prefill factor fitted on R1 (0.12 for SGLang, which vLLM borrows) would make it ~8x slower."""
    from specsize.perf_constants import COMPUTE_EFFICIENCY

    a = load_model("deepseek-r1-distill-qwen-32b")
    d = build_deployment(a, get_gpu("h100-sxm"), "bf16", "bf16", Layout(tp=2), get_engine("vllm"))
    tokens, weights = 4096, 31.0e9 + 152_064 * 5_120
    flops_per_gpu = (2 * weights * tokens + 64 * 4 * 5_120 * 2_048 * tokens) / 2
    hand = flops_per_gpu / (989e12 * COMPUTE_EFFICIENCY)  # 0.249 s
    step = step_time(d.main, d.machine, tokens, 1, tokens / 2, prefill=True)
    assert step.compute == pytest.approx(hand, rel=0.03)
    assert hand < d.ttft(tokens) < hand * 1.15  # + the TP all-reduces and the engine's per-step costs


def test_the_fitted_prefill_factor_scales_an_moe_prefill_only(r1):
    """EnginePerf.prefill_efficiency is fitted on the all-R1 corpus: it divides an MoE model's prefill compute and
    leaves a dense model's (and every decode step) alone."""
    from dataclasses import replace

    dense = load_model("deepseek-r1-distill-qwen-7b")
    base = engine_perf("sglang")
    for model, prec, expected in ((dense, "bf16", 1.0), (r1, "fp8", 4.0)):
        s = build_stack(model, get_precision(prec), Layout(tp=8), "bf16")
        one, quarter = (make_machine(get_gpu("h200"), Layout(tp=8), replace(base, prefill_efficiency=f),
                                     get_precision(prec)) for f in (1.0, 0.25))  # fmt: skip
        assert step_time(s, quarter, 2048, 1, 1024, prefill=True).compute == pytest.approx(
            expected * step_time(s, one, 2048, 1, 1024, prefill=True).compute
        )
        assert step_time(s, quarter, 8, 8, 1024).compute == step_time(s, one, 8, 8, 1024).compute


def test_a_dp_attention_rank_prefilling_a_prompt_alone_does_all_of_its_attention(r1):
    """Attention DP: a prompt runs on the rank holding it, all but its routed experts (whole there: sharding.py).
    Alone on a TP8 DP-attention instance, that rank does the whole prompt's attention, dense MLPs, shared experts
    and head - the same FLOPs one GPU of a TP1 layout does for them (an exact identity); eight prompts, one per
    rank, spread it evenly (factor 1)."""
    from specsize.perf import dp_prefill_rank_factor

    dp8 = Layout(tp=8, ep=8, attention="dp")
    assert dp_prefill_rank_factor(1, dp8) == 8
    assert dp_prefill_rank_factor(8, dp8) == 1
    assert dp_prefill_rank_factor(9, dp8) == pytest.approx(2 * 8 / 9)  # the busiest rank holds two of nine
    assert dp_prefill_rank_factor(1, Layout(tp=8)) == 1  # attention TP: every rank takes its heads of the prompt
    prec = get_precision("fp8")
    s8, s1 = build_stack(r1, prec, dp8, "bf16"), build_stack(r1, prec, Layout(tp=1), "bf16")
    assert s8.rank_local_flops == s8.dense_flops  # under attention DP every non-expert linear is the rank's own
    assert s8.rank_local_flops * 8 == pytest.approx(s1.dense_flops)
    assert s8.attn_flops_prefill * 8 == pytest.approx(s1.attn_flops_prefill)
    m = make_machine(get_gpu("b200"), dp8, engine_perf("sglang"), prec)
    n, ctx = 1024, 512
    alone = step_time(s8, m, n, 1, ctx, prefill=True)
    spread = step_time(s8, m, 8 * n, 8, ctx, prefill=True)
    rank_alone = n * s1.dense_flops + n * ctx * s1.attn_flops_prefill  # TP1: one GPU does it all
    experts = n * s8.moe_layers * s8.expert_flops  # the routed experts: spread over the EP group
    assert alone.flops == pytest.approx(rank_alone + experts)
    assert spread.flops == pytest.approx(
        8 * (n * s8.dense_flops + n * ctx * s8.attn_flops_prefill + n * s8.moe_layers * s8.expert_flops)
    )


def test_the_rdma_dispatch_floor_is_paid_only_across_nodes_on_nvidia():
    """perf.rdma_dispatch_latency: DeepEP's RDMA floor for a group that spans nodes over NICs (16 x H100: two
    nodes of 8), none inside a node (8 x H200) or an NVL72 domain (32 x GB200), none for AMD's own kernels."""
    from specsize.perf import rdma_dispatch_latency
    from specsize.perf_constants import RDMA_DISPATCH_LATENCY

    def floor(gpu, tp):
        lay = Layout(tp=tp, ep=tp, attention="dp")
        return rdma_dispatch_latency(make_machine(get_gpu(gpu), lay, engine_perf("sglang"), get_precision("fp8")), tp)

    assert floor("h100-sxm", 16) == RDMA_DISPATCH_LATENCY > 0
    assert floor("h200", 8) == floor("gb200", 32) == floor("mi355x", 16) == 0.0


def test_a_cross_node_all_to_all_sends_only_the_other_nodes_share_over_the_nic():
    """perf.all_to_all_time over 16 H100 (two nodes of 8): of each GPU's bytes, 8/16 go to the other node over its
    NIC (InfiniBand NDR, 50 GB/s) while 7/16 cross NVLink at the same time; for a large message the NIC's share
    sets the time (a hand count), and inside one node all 7/8 go over NVLink."""
    from specsize.perf import all_to_all_time

    h100 = get_gpu("h100-sxm")
    m16 = make_machine(h100, Layout(tp=16, ep=16, attention="dp"), engine_perf("sglang"), get_precision("fp8"))
    m8 = make_machine(h100, Layout(tp=8, ep=8, attention="dp"), engine_perf("sglang"), get_precision("fp8"))
    big, small = 1e9, 1e8  # bytes: the latency terms cancel in the difference
    nic = all_to_all_time(m16, 16, big) - all_to_all_time(m16, 16, small)
    assert nic == pytest.approx(8 / 16 * (big - small) / m16.inter.bandwidth)
    nvlink = all_to_all_time(m8, 8, big) - all_to_all_time(m8, 8, small)
    assert nvlink == pytest.approx(7 / 8 * (big - small) / m8.intra.bandwidth)


def test_the_fp8_path_cost_is_paid_per_layer_by_fp8_decode_steps_only(r1):
    """perf.fp8_path_overhead: an engine build's EnginePerf.fp8_layer_overhead is paid once per decoder layer of a
    decode step with FP8 weights (61 x 50 us = 3.05 ms more for R1), not with NVFP4 weights, not in prefill."""
    from dataclasses import replace

    gpu, base = get_gpu("b200"), engine_perf("trtllm")
    costly = replace(base, fp8_layer_overhead=base.fp8_layer_overhead + 50e-6)
    for weights, extra in (("fp8", 61 * 50e-6), ("nvfp4", 0.0)):
        prec = get_precision(weights)
        s = build_stack(r1, prec, Layout(tp=8), "fp8")
        t0 = step_time(s, make_machine(gpu, Layout(tp=8), base, prec), 4, 4, 1000).total
        t1 = step_time(s, make_machine(gpu, Layout(tp=8), costly, prec), 4, 4, 1000).total
        assert t1 - t0 == pytest.approx(extra)
        p0 = step_time(s, make_machine(gpu, Layout(tp=8), base, prec), 512, 1, 256, prefill=True).total
        p1 = step_time(s, make_machine(gpu, Layout(tp=8), costly, prec), 512, 1, 256, prefill=True).total
        assert p1 == pytest.approx(p0)


def test_one_token_costs_twice_the_activated_parameters_in_flops(r1):
    """DeepSeek-V3/R1 activate 37B of their 671B parameters per token (DeepSeek-V3 technical report, abstract): a
    step of one token at no context multiplies each of them once (2 FLOPs), every MoE layer's routed experts
    included (the embedding is a lookup, the LM head a matmul: the two roughly cancel at this precision)."""
    prec = get_precision("fp8")
    s = build_stack(r1, prec, Layout(tp=1), "bf16")
    m = make_machine(get_gpu("h200"), Layout(tp=1), engine_perf("sglang"), prec)
    assert step_time(s, m, 1, 1, 0, prefill=True).flops == pytest.approx(2 * 37e9, rel=0.03)
    assert step_time(s, m, 1, 1, 0).flops == pytest.approx(2 * 37e9, rel=0.03)


def test_the_fp8_prefill_factor_applies_to_fp8_weights_on_fp4_capable_gpus_only(r1):
    """perf.fp8_prefill_factor: EnginePerf.fp8_prefill_efficiency multiplies the prefill compute efficiency of FP8
    weights on a GPU whose tensor cores also run FP4 (B200, MI355X), not on H200 (no FP4), not for NVFP4 weights,
    and not in decode steps. A compute-bound prefill step (8,192 tokens) with the factor at 0.5 takes its compute
    term 1 / (2 x the fitted factor) as long as with the fitted one (a hand check: the compute term is FLOPs / peak)."""
    from dataclasses import replace

    from specsize.perf import fp8_prefill_factor

    base = engine_perf("sglang")
    half = replace(base, fp8_prefill_efficiency=0.5)

    def machine(gpu, weights, eng):
        return make_machine(get_gpu(gpu), Layout(tp=8), eng, get_precision(weights))

    assert fp8_prefill_factor(machine("b200", "fp8", half)) == 0.5
    assert fp8_prefill_factor(machine("mi355x", "fp8", half)) == 0.5
    assert fp8_prefill_factor(machine("h200", "fp8", half)) == 1.0
    assert fp8_prefill_factor(machine("b200", "nvfp4", half)) == 1.0
    s = build_stack(r1, get_precision("fp8"), Layout(tp=8), "bf16")
    p0 = step_time(s, machine("b200", "fp8", base), 8192, 1, 4096, prefill=True)
    p1 = step_time(s, machine("b200", "fp8", half), 8192, 1, 4096, prefill=True)
    assert p1.compute == pytest.approx(p0.compute * 2 * base.fp8_prefill_efficiency)
    d0 = step_time(s, machine("b200", "fp8", base), 64, 64, 4096)
    d1 = step_time(s, machine("b200", "fp8", half), 64, 64, 4096)
    assert d1.total == pytest.approx(d0.total)


def test_gemms_on_deepgemm_pay_no_fp8_prefill_factor(r1):
    """Machine.fp8_deepgemm: a recipe that runs every FP8 GEMM on DeepGEMM ("all") pays no block-scale factor; one
    that runs only the dense ones there ("dense") pays it on the routed experts' FLOPs only, so a compute-bound prefill
    step's compute term lands between the two, at exactly dense FLOPs / full peak + routed FLOPs / factored peak."""
    from dataclasses import replace

    from specsize.perf import fp8_prefill_factor, routed_flops

    base = replace(engine_perf("sglang"), fp8_prefill_efficiency=0.5)

    def machine(gemms):
        return replace(make_machine(get_gpu("b200"), Layout(tp=8), base, get_precision("fp8")), fp8_deepgemm=gemms)

    assert fp8_prefill_factor(machine("all")) == fp8_prefill_factor(machine("all"), routed=False) == 1.0
    assert fp8_prefill_factor(machine("dense"), routed=False) == 1.0 and fp8_prefill_factor(machine("dense")) == 0.5
    s = build_stack(r1, get_precision("fp8"), Layout(tp=8), "bf16")
    steps = [step_time(s, machine(g), 8192, 1, 4096, prefill=True) for g in ("", "dense", "all")]
    none, dense, every = (st.compute for st in steps)
    assert every == pytest.approx(none * 0.5) and every < dense < none
    routed = routed_flops(s, 8192) / steps[2].flops  # the routed experts' share of the step's FLOPs
    assert dense == pytest.approx(every * (1 - routed) + every * routed / 0.5)


def test_attention_dp_with_tensor_split_experts_gathers_tokens_and_pays_no_dispatch_cost(r1):
    """perf.dp_moe_gather_time: attention DP with ep 1 (SGLang --enable-dp-attention without EP) gathers the group's
    hidden states before each MoE layer and scatters them after (dp_gather_partial / dp_scatter): no engine dispatch
    cost, and over 4 GB200 in one NVLink domain a hand count of 61 layers x 2 x (link latency + 5 us software + the
    ring's 2 x 3/4 of half the group's 64 x 7,168 x 2 bytes over the link), and no logits gather (each rank's head
    is whole under attention DP)."""
    from dataclasses import replace

    from specsize.perf import communication_time, logits_gather_bytes
    from specsize.perf_constants import COLLECTIVE_LATENCY

    gpu, base = get_gpu("gb200"), engine_perf("sglang")
    lay = Layout(tp=4, ep=1, attention="dp")
    s = build_stack(r1, get_precision("fp8"), lay, "bf16")
    m = make_machine(gpu, lay, base, get_precision("fp8"))
    costly = make_machine(gpu, lay, replace(base, dispatch_overhead=base.dispatch_overhead + 100e-6),
                          get_precision("fp8"))  # fmt: skip
    assert communication_time(s, costly, 64) == communication_time(s, m, 64)
    half = 64 * 7168 * 2 / 2
    gather = m.intra.latency + COLLECTIVE_LATENCY + 2 * 3 / 4 * half / m.intra.bandwidth
    assert logits_gather_bytes(s, lay, 64) == 0
    assert communication_time(s, m, 64) == pytest.approx(61 * 2 * gather)
    ep = Layout(tp=4, ep=4, attention="dp")  # the same group with EP: a dispatch + combine with the engine's cost
    s_ep = build_stack(r1, get_precision("fp8"), ep, "bf16")
    t0 = communication_time(s_ep, make_machine(gpu, ep, base, get_precision("fp8")), 64)
    t1 = communication_time(s_ep, make_machine(gpu, ep, costly.engine, get_precision("fp8")), 64)
    assert t1 - t0 == pytest.approx(2 * 61 * 100e-6)


def test_experts_split_over_a_dp_attention_group_only_into_whole_weight_blocks(r1):
    """perf.experts_tensor_split: R1's 2,048-wide experts split over 4, 8 or 16 FP8 ranks into whole 128-wide blocks
    (512, 256, 128), not over 24, 32 or 48 (85.3, 64, 42.7: the engines refuse to load them), so such a group with
    ep 1 runs its experts expert-parallel (an EP dispatch); NVFP4's 16-wide groups split over 32 (64 each)."""
    from specsize.perf import experts_tensor_split

    assert [g for g in (4, 8, 16, 24, 32, 48) if experts_tensor_split(2048, g, 128)] == [4, 8, 16]
    assert experts_tensor_split(2048, 32, 16) and not experts_tensor_split(2048, 24, 16)
    fp8 = get_precision("fp8")
    assert build_stack(r1, fp8, Layout(tp=16, ep=1, attention="dp"), "bf16").moe_gather
    assert not build_stack(r1, fp8, Layout(tp=32, ep=1, attention="dp"), "bf16").moe_gather
    assert not build_stack(r1, fp8, Layout(tp=16, ep=16, attention="dp"), "bf16").moe_gather
    assert build_stack(r1, get_precision("nvfp4"), Layout(tp=32, ep=1, attention="dp"), "bf16").moe_gather
