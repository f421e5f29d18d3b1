"""Memory per GPU: sharding rules, KV replication, and what speculative decoding adds."""

import pytest

from specsize.engines import get_engine
from specsize.hardware import get_gpu
from specsize.memory import memory_per_gpu
from specsize.quant import checkpoint_bytes, get_precision
from specsize.resolve import load_model
from specsize.scenario import Host, Layout, Speculative, Workload, parse_spec
from specsize.sharding import kv_bytes_per_gpu, weight_bytes_per_gpu
from specsize.tensors import tensor_groups

R1 = load_model("deepseek-r1")
W = Workload(concurrency=4, input_tokens=4096, output_tokens=4096)


def breakdown(a=R1, spec=Speculative(), layout=Layout(tp=8), precision="fp8", gpu="h200", engine="vllm", w=W):
    return memory_per_gpu(a, get_gpu(gpu), precision, "bf16", layout, w, get_engine(engine), spec)


def test_tp8_weights_are_an_eighth_plus_the_replicated_parts():
    # What every TP rank keeps whole, by hand from R1's config.json (hidden 7168, q_lora_rank 1536, kv_lora_rank
    # 512 + rope 64, 61 layers of which 58 MoE, 256 experts): vLLM's deepseek_v2.py builds q_a_proj,
    # kv_a_proj_with_mqa and the router gate as ReplicatedLinear; norms are never sharded. FP8 linears carry one
    # FP32 scale per 128x128 block (DeepSeek-V3 README_WEIGHTS.md); norms and the router are BF16, its bias FP32.
    q_a = 1536 * 7168 + 12 * 56 * 4  # e4m3 bytes + ceil(1536/128) x ceil(7168/128) scales
    kv_a = 576 * 7168 + 5 * 56 * 4
    norms = (7168 + 7168 + 1536 + 512) * 2  # input, post-attention, q_a and kv_a layernorms
    router = 256 * 7168 * 2 + 256 * 4  # gate weight + e_score_correction_bias
    replicated = 61 * (q_a + kv_a + norms) + 58 * router + 7168 * 2  # + the final norm
    assert replicated == 1_138_633_568
    main = checkpoint_bytes([g for g in tensor_groups(R1) if g.scope == "model"], "fp8")  # pinned in test_quant
    per_gpu = weight_bytes_per_gpu(R1, get_precision("fp8"), Layout(tp=8))
    assert per_gpu - main / 8 == pytest.approx(replicated * 7 / 8, rel=1e-9)  # the rest is split 8 ways
    assert weight_bytes_per_gpu(R1, get_precision("fp8"), Layout(tp=1)) == pytest.approx(main)  # limit: no split


def test_mtp_adds_its_module_share_and_its_kv():
    base, mtp = breakdown(), breakdown(spec=parse_spec("mtp:1", R1))
    added = mtp.term("spec_weights")
    mtp_bytes = checkpoint_bytes([g for g in tensor_groups(R1) if g.scope == "mtp"], "fp8")
    # about 1.5 GB: the FP8 module over 8 GPUs, plus the BF16 eh_proj and router each GPU keeps whole
    assert mtp_bytes / 8 < added < mtp_bytes / 8 + 0.3e9
    assert 1.4e9 < added < 1.8e9
    # its own KV: one more MLA layer for every cached token (4 x 8192 tokens x 576 values x 2 B)
    assert mtp.term("spec_kv") == 4 * 8192 * 576 * 2
    assert mtp.headroom == pytest.approx(base.headroom - added - mtp.term("spec_kv") - mtp.term("spec_buffers"))
    assert base.term("weights") == mtp.term("weights")


def test_draft_model_adds_weights_and_kv():
    target = load_model("deepseek-r1-distill-qwen-7b")
    spec = parse_spec("draft:deepseek-r1-distill-qwen-1.5b:4", target)
    m = breakdown(target, spec, Layout(tp=1), "bf16", "h100-sxm")
    draft = load_model("deepseek-r1-distill-qwen-1.5b")
    assert m.term("spec_weights") == pytest.approx(checkpoint_bytes(tensor_groups(draft), "bf16"))
    assert m.term("spec_kv") == 4 * 8192 * 28 * 1024  # 28 KiB per token in BF16
    assert m.term("spec_buffers") > 0


def test_mla_kv_is_replicated_and_gqa_kv_is_sharded_up_to_the_kv_heads():
    seq, ctx = 2, 1000
    assert kv_bytes_per_gpu(R1, "bf16", Layout(tp=8), seq, ctx) == kv_bytes_per_gpu(R1, "bf16", Layout(tp=1), seq, ctx)
    assert kv_bytes_per_gpu(R1, "bf16", Layout(tp=8, attention="dp"), 16, ctx) == \
        kv_bytes_per_gpu(R1, "bf16", Layout(tp=1), 2, ctx)  # fmt: skip
    q7 = load_model("deepseek-r1-distill-qwen-7b")  # 4 KV heads
    one = kv_bytes_per_gpu(q7, "bf16", Layout(tp=1), seq, ctx)
    assert kv_bytes_per_gpu(q7, "bf16", Layout(tp=2), seq, ctx) == one / 2
    assert kv_bytes_per_gpu(q7, "bf16", Layout(tp=4), seq, ctx) == one / 4
    assert kv_bytes_per_gpu(load_model("r1-distill-qwen-1.5b"), "bf16", Layout(tp=4), seq, ctx) == kv_bytes_per_gpu(
        load_model("r1-distill-qwen-1.5b"), "bf16", Layout(tp=2), seq, ctx
    )  # 2 KV heads
    assert (
        kv_bytes_per_gpu(R1, "fp8", Layout(tp=8), seq, ctx) == kv_bytes_per_gpu(R1, "bf16", Layout(tp=8), seq, ctx) / 2
    )


def test_engine_fraction_changes_what_fits():
    vllm, sglang = breakdown(engine="vllm"), breakdown(engine="sglang")
    assert vllm.fraction == 0.9 and sglang.fraction == 0.81
    assert sglang.kv_budget < vllm.kv_budget


def test_offload_moves_routed_experts_to_host_ram():
    def run(**host):
        return memory_per_gpu(R1, get_gpu("rtx-4090"), "q4_k_m", "bf16", Layout(), Workload(1, 500, 300),
                              get_engine("ktransformers"), host=Host(offload_experts=True, **host))  # fmt: skip

    m = run()
    # tutorial: ~14 GB of VRAM and ~382 GB of DRAM for Q4_K_M (kvcache-ai/ktransformers DeepseekR1_V3_tutorial)
    assert m.term("weights") < 14e9
    assert m.host_ram_needed == pytest.approx(382e9, rel=0.05)
    assert m.fits
    # dual socket with USE_NUMA: one copy per NUMA node, ~1 TB (same tutorial)
    two = run(numa_copies=2, ram_bytes=512e9)
    assert two.host_ram_needed == 2 * m.host_ram_needed and not two.fits
    assert run(numa_copies=2, ram_bytes=1024e9).fits


def test_unified_memory_uses_the_wired_limit():
    m = breakdown(gpu="apple-m3-ultra", engine="mlx", precision="q4_k_m", layout=Layout(), w=Workload(1, 100, 500))
    assert m.capacity == pytest.approx(512 * 2**30 * 0.75)
    # 406 GB of Q4_K_M weights against 412 GB of default wired limit: less than 10 GB to spare, which is why
    # users raise iogpu.wired_limit_mb (reference/deepseek-r1.md); raising it to 90% frees ~80 GB more
    assert 0 < m.headroom < 10e9
    raised = memory_per_gpu(R1, get_gpu("apple-m3-ultra"), "q4_k_m", "bf16", Layout(), Workload(1, 100, 500),
                            get_engine("mlx"), capacity=0.9 * 512 * 2**30)  # fmt: skip
    assert raised.headroom == pytest.approx(m.headroom + 0.15 * 512 * 2**30)


def test_plan_memory_and_speed_see_the_same_draft_layout():
    # A draft runs inside each DP replica on that replica's GPUs: at tp=1, dp=4 each replica is one GPU, so
    # --draft-tp 4 cannot spread the draft over four GPUs; memory and speed must both hold it whole on one.
    from specsize.deployment import build_deployment

    target = load_model("deepseek-r1-distill-qwen-7b")
    spec = parse_spec("draft:deepseek-r1-distill-qwen-1.5b:4", target, draft_tp=4)
    layout = Layout(tp=1, dp=4)
    m = breakdown(target, spec, layout, "bf16", "h100-sxm")
    d = build_deployment(target, get_gpu("h100-sxm"), "bf16", "bf16", layout, get_engine("vllm"), spec)
    draft = load_model("deepseek-r1-distill-qwen-1.5b")
    assert m.term("spec_weights") == pytest.approx(checkpoint_bytes(tensor_groups(draft), "bf16"))  # whole draft
    assert d.draft_machine.layout.tp == 1
    assert m.term("spec_kv") == W.concurrency * W.context * d.drafter.kv_bytes_per_token == 4 * 8192 * 28 * 1024


def test_llamacpp_layer_split_follows_its_loader():
    """llama.cpp's load_tensors: unit i of n_layer + 1 (the output layer last) goes to GPU floor(i x gpus /
    (n_layer + 1)) for equal GPUs. By hand for 80 layers on 6 GPUs: 0-13, 14-26, 27-40, 41-53, 54-67, 68-79 + output."""
    from specsize.sharding import llamacpp_layer_split

    assert llamacpp_layer_split(80, 6) == [14, 13, 14, 13, 14, 12]
    assert llamacpp_layer_split(32, 1) == [32]
    assert sum(llamacpp_layer_split(61, 8)) == 61


def test_llamacpp_keeps_the_embedding_on_the_host_and_the_output_on_the_last_gpu():
    """Llama-3-70B in F16 on 6 GPUs (llama.cpp's layer split): the busiest GPU holds 14 of the 80 decoder layers,
    not 14 layers plus the 2.1 GB embedding or head that an even PP split puts on its first and last stages."""
    a, prec = load_model("deepseek-r1-distill-llama-70b"), get_precision("fp16")
    groups = tensor_groups(a)
    layers = checkpoint_bytes([g for g in groups if g.layers], prec)
    head = checkpoint_bytes([g for g in groups if not g.layers and g.kind != "embedding"], prec)
    got = weight_bytes_per_gpu(a, prec, Layout(pp=6), llamacpp=True)
    assert got == pytest.approx(max(14 * layers / 80, 12 * layers / 80 + head))
    assert got == pytest.approx(14 * layers / 80)
    assert weight_bytes_per_gpu(a, prec, Layout(pp=6)) > got + 2e9
    one = weight_bytes_per_gpu(a, prec, Layout(), llamacpp=True)
    assert one == pytest.approx(layers + head)  # one GPU: everything but the embedding


def test_attention_dp_counts_the_instances_sequences_whatever_the_users_asked():
    """Under attention DP each GPU holds ceil(users / ranks) sequences: the users an instance holds (max_concurrency)
    are the ranks' together, the same asked with 1 user or 100, and one sequence's longest context is what one GPU's
    KV room holds of it (all of it is there)."""
    from specsize.engines import get_engine
    from specsize.hardware import get_gpu
    from specsize.resolve import load_model
    from specsize.scenario import Layout, Workload

    a, gpu, eng = load_model("deepseek-r1"), get_gpu("h200"), get_engine("sglang")
    dep8, tp8 = Layout(tp=8, ep=8, attention="dp"), Layout(tp=8)
    ms = [memory_per_gpu(a, gpu, "fp8", "bf16", dep8, Workload(c, 8192, 1024), eng) for c in (1, 8, 100, 256)]
    assert len({m.max_concurrency for m in ms}) == 1 and len({m.max_context for m in ms}) == 1
    m, t = ms[0], memory_per_gpu(a, gpu, "fp8", "bf16", tp8, Workload(1, 8192, 1024), eng)
    one_sequence = a.num_layers * (512 + 64) * 2  # bytes per token: R1's latent + rope key, BF16, every layer
    assert m.max_context == int(m.kv_budget // one_sequence) and t.max_context == int(t.kv_budget // one_sequence)
    per_gpu = m.kv_budget / (one_sequence * 9216)  # 9,216-token sequences one GPU's KV room holds
    assert m.max_concurrency == int(8 * per_gpu)
    assert m.max_concurrency > 4 * t.max_concurrency  # the latent once, not on every GPU


def test_attention_dp_keeps_every_weight_but_the_routed_experts_whole_on_each_rank():
    """Under attention DP a rank runs the whole model but the routed experts on its own sequences (vLLM's TP-1 ranks,
    TensorRT-LLM's MLPs at TP 1, SGLang's recipes' --moe-dense-tp-size 1 --enable-dp-lm-head): on 8 GPUs the
    embedding, head, dense MLPs and shared experts are whole on each, the routed experts an eighth; under attention
    TP with the same EP everything is split eight ways but MLA's down-projections and the norms/router."""
    prec = get_precision("fp8")
    groups = [g for g in tensor_groups(R1) if g.scope == "model"]
    routed = sum(prec.group_bytes(g) for g in groups if g.component == "moe_routed")
    rest = sum(prec.group_bytes(g) for g in groups if g.component != "moe_routed")
    dep8 = weight_bytes_per_gpu(R1, prec, Layout(tp=8, ep=8, attention="dp"))
    assert dep8 == pytest.approx(rest + routed / 8)
    whole = sum(prec.group_bytes(g) for g in groups if g.component in ("embedding", "lm_head", "mlp", "moe_shared"))
    assert 7.0e9 < whole < 7.8e9  # R1 FP8: 7.4 GB (BF16 embedding and head, FP8 dense MLPs and shared experts)
    assert dep8 - weight_bytes_per_gpu(R1, prec, Layout(tp=8, ep=8)) > whole * 7 / 8
