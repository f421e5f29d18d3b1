"""Roofline step time T(n): one engine step that processes n tokens for some sequences at some context.

T = max(memory, compute) + host + communication + overhead, every term named (StepTime), where
- memory: bytes read on the busiest GPU / achieved bandwidth. Weights: everything but the embedding and the
  routed experts once; routed experts only those the step's tokens touch: E (1 - (1 - top_k/E)^n_eff) per MoE
  layer, n_eff = B (1 + c (q - 1)) for B sequences of q tokens, c the routing correlation of consecutive
  tokens (perf_constants; different sequences route independently). EP puts E/ep experts on a
  GPU, MoE-TP splits each. KV: the cache of every sequence in flight (MLA latent or GQA heads).
- host (CPU/GPU hybrid, routed experts in host RAM): the CPU's own roofline for them, max(their bytes / the host's
  bandwidth, every MoE layer's expert FLOPs / the CPU's), after the GPU's part of each layer, not overlapping it;
  an engine that offloads large steps to the GPU (llama.cpp's op offload, from 32 tokens) copies the experts a
  step touches over PCIe instead.
- compute: matmul FLOPs with the active parameters + attention (MLA absorbed for decode, expanded for
  prefill) / (peak of the compute dtype x efficiency). A prefill step of an MoE model runs at the engine's
  fitted prefill_efficiency on top; a dense model's prefill (large dense GEMMs, MFU 0.4-0.6) does not. The
  factor is fitted on the measured corpus, which is all DeepSeek-R1: what it identifies is R1's prefill as a
  whole (routed experts in small per-expert GEMMs behind the EP dispatch, MLA expanded, chunk scheduling),
  not which part costs what (every point has all of them; only their proportions vary). Charging it to the routed
  experts' FLOPs alone was tried and the data refused it: the fit drove the factor to its floor (expert MFU
  0.3-3%) and the corpus error grew (median |error| of tok/s per GPU 9.9% -> 11.4-13.0%); that trial counted one
  MoE layer's expert FLOPs per step instead of all 58 (since mended), so it is worth repeating. So it applies to
  an MoE model's whole prefill, and a dense model uses COMPUTE_EFFICIENCY alone. Under attention DP a prefill
  step's attention runs on the ranks that hold its prompts: a prompt alone loads one rank with all of it
  (dp_prefill_rank_factor), a full step of one prompt per rank spreads it evenly.
- communication: per layer, two TP all-reduces (attention TP), an EP dispatch + combine (DP attention with EP) or a
  gather + scatter of the group's tokens (DP attention, experts tensor-split: ep 1),
  latency (hops x (link + software)) + bandwidth (ring volume), and in decode the engine's all-to-all kernels' cost
  per token of each rank; PP hand-offs between stages.
- overhead: the engine's per-step, per-layer and per-token-per-MoE-layer costs (perf_constants.EnginePerf).

Pipeline parallelism: a decode cycle runs pp micro-batches of B/pp through every stage, so it costs
T_full(B/pp) plus the hand-offs, where T_full uses the whole model's TP-sharded bytes (see step_time).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import ceil, log, log2, sqrt

from specsize.config import ModelArch
from specsize.hardware import GPU, Link, get_link
from specsize.kvcache import kv_dtype_bytes, kv_values_per_layer
from specsize.perf_constants import (
    COLLECTIVE_LATENCY,
    COMPUTE_EFFICIENCY,
    EP_DISPATCH_LATENCY_PER_DOUBLING,
    EXPERT_SPLIT_BLOCK,
    HBM_EFFICIENCY,
    INTER_NODE_STEP_LATENCY,
    NO_LINK_BANDWIDTH,
    PCIE_COPY_EFFICIENCY,
    PCIE_TOKEN_HANDOFF,
    RDMA_DISPATCH_LATENCY,
    ROUTING_CORRELATION,
    EnginePerf,
)
from specsize.quant import Precision
from specsize.scenario import Layout
from specsize.sharding import shard_divisor
from specsize.tensors import tensor_groups

ACT_BYTES = 2  # BF16 activations on the wire (assumption: engines communicate hidden states in BF16)


def distinct_experts(tokens: float, experts: int, top_k: int, seqs: float = 1,
                     correlation: float = ROUTING_CORRELATION) -> float:  # fmt: skip
    """Expected distinct experts a step's tokens touch in one MoE layer: E (1 - (1 - k/E)^n_eff).
    Tokens of different sequences route independently; consecutive tokens of one sequence (a verification
    block, a prompt) are correlated: n_eff = seqs (1 + c (q - 1)) for q tokens per sequence (c: perf_constants).
    c = 1 is uniform routing (E = 256, k = 8: 8, 15.8, 30.5, 57, 163, 252 experts for n = 1 ... 128)."""
    if tokens <= 0:
        return 0.0
    seqs = min(max(seqs, 1), tokens)
    n_eff = seqs * (1 + correlation * (tokens / seqs - 1))
    return experts * (1 - (1 - top_k / experts) ** n_eff)


@dataclass(frozen=True)
class Stack:
    """Per-GPU quantities of one network (main model, MTP module, draft, EAGLE head) that do not depend on the
    batch: what one step reads and computes per token, on one GPU of the layout (PP folded in: whole model)."""

    name: str
    layers: int
    dense_bytes: float  # read once per step: all weights but the embedding and the routed experts
    dense_flops: float  # per token
    moe_layers: int = 0
    experts: int = 0
    top_k: int = 0
    expert_bytes: float = 0.0  # one routed expert's share on one GPU (1/moe_tp of it)
    experts_per_gpu: float = 0.0  # E / ep
    expert_flops: float = 0.0  # per token on one GPU (top_k experts, balanced over the TP group)
    kv_bytes_per_token: float = 0.0  # per sequence per context token on one GPU, all layers
    attn_flops_decode: float = 0.0  # per query token per context token on one GPU (MLA absorbed / GQA)
    attn_flops_prefill: float = 0.0  # same, prefill form (MLA expanded to heads)
    # per token on one GPU: the part of dense_flops run by the rank that holds the token (the attention projections;
    # under attention DP every non-expert linear), which a prefill step's imbalance multiplies (step_time)
    rank_local_flops: float = 0.0
    hidden: int = 0
    vocab: int = 0
    experts_on_host: bool = False
    # attention DP over experts that are tensor-split (ep 1) and split into whole weight blocks (experts_tensor_split):
    # each MoE layer gathers and scatters the group's tokens (dp_moe_gather_time) instead of an EP dispatch
    moe_gather: bool = False


def _attn_pair_flops(a: ModelArch, layers: int) -> tuple[float, float]:
    """FLOPs per (query token, context token) over `layers` layers, all heads: (decode, prefill)."""
    h = a.num_heads
    if a.mla is not None:
        m = a.mla
        decode = 2 * h * (m.kv_lora_rank + m.qk_rope_head_dim) + 2 * h * m.kv_lora_rank  # absorbed: in latent space
        prefill = 2 * h * (m.qk_head_dim + m.v_head_dim)
    else:
        decode = prefill = 2 * h * 2 * a.head_dim
    return decode * layers, prefill * layers


def build_stack(
    a: ModelArch,
    precision: Precision,
    layout: Layout,
    kv_dtype: str,
    scope: str = "model",
    offload_experts: bool = False,
) -> Stack:
    """The Stack of the main model (scope "model") or of its MTP module (scope "mtp": the module's own layer,
    projections and its copy of the output head) on one GPU of `layout` (pp ignored: see module docstring)."""
    lay = Layout(tp=layout.tp, ep=layout.ep, attention=layout.attention)
    # the MTP module drafts through one output head: the target's (its checkpoint's copy is the same weights)
    groups = [g for g in tensor_groups(a)
              if g.scope == scope or (scope == "mtp" and g.kind == "lm_head" and g.scope == "model")]  # fmt: skip
    dense_b = dense_f = routed_b = routed_p = local_f = 0.0
    for g in groups:
        if g.kind == "embedding":
            continue  # a lookup reads n rows, not the table
        div = shard_divisor(a, g, lay)
        if g.component == "moe_routed":
            routed_b += precision.group_bytes(g)
            routed_p += g.numel
            continue
        dense_b += precision.group_bytes(g) / div
        if g.kind in ("linear", "lm_head"):
            # DP attention keeps the non-expert weights whole on each rank but splits the tokens: FLOPs still
            # divide by TP (an even split); they run on the rank that holds the tokens (rank_local_flops: a
            # prefill step's imbalance, dp_prefill_rank_factor's, applies to them in step_time)
            local = g.component == "attention" or lay.attention == "dp"
            dense_f += 2 * g.numel / (lay.tp if local else div)
            local_f += 2 * g.numel / lay.tp if local else 0.0
    layers = a.num_layers if scope == "model" else a.num_mtp_layers
    moe_layers = a.num_moe_layers if scope == "model" else a.num_mtp_layers
    kv_token = layers * kv_values_per_layer(a) * kv_dtype_bytes(kv_dtype)
    if a.mla is None and lay.attention == "tp":
        kv_token /= min(lay.tp, a.num_kv_heads)  # GQA heads split; MLA's latent is whole on every rank
    dec, pre = _attn_pair_flops(a, layers)
    st = Stack(scope if scope != "model" else a.name, layers, dense_b, dense_f, kv_bytes_per_token=kv_token,
               attn_flops_decode=dec / lay.tp, attn_flops_prefill=pre / lay.tp, rank_local_flops=local_f,
               hidden=a.hidden_size, vocab=a.vocab_size)  # fmt: skip
    if a.moe is None or not moe_layers:
        return st
    e, moe_tp = a.moe.num_experts, lay.tp // lay.ep
    per_expert_b = routed_b / (moe_layers * e)
    per_expert_p = routed_p / (moe_layers * e)
    return replace(
        st, moe_layers=moe_layers, experts=e, top_k=a.moe.top_k,
        expert_bytes=per_expert_b / (1 if offload_experts else moe_tp),
        experts_per_gpu=e / (1 if offload_experts else lay.ep),
        expert_flops=a.moe.top_k * 2 * per_expert_p / (1 if offload_experts else lay.tp),
        experts_on_host=offload_experts,
        moe_gather=lay.attention == "dp" and lay.ep <= 1
        and experts_tensor_split(a.moe.expert_intermediate_size, lay.tp, EXPERT_SPLIT_BLOCK.get(precision.name, 1)),
    )  # fmt: skip


def experts_tensor_split(inter: int, group: int, block: int) -> bool:
    """Whether `group` ranks can tensor-split the routed experts' intermediate size `inter`: each rank's slice must
    be whole weight blocks of `block` elements, or the engine refuses to load them (vLLM's and SGLang's
    Fp8MoEMethod.create_weights: "The output_size of gate's and up's weight = 192 is not divisible by weight
    quantization block_n = 128"; the fix users report is expert parallelism). So a DP-attention group recorded with
    ep 1 whose size no such split fits (R1's 2,048 over 24, 32 or 48 FP8 ranks) runs its experts expert-parallel."""
    return inter % group == 0 and (inter // group) % block == 0


@dataclass(frozen=True)
class Machine:
    """Where a Stack runs: the GPU, the layout, the links, the engine's constants, the host for hybrids."""

    gpu: GPU
    layout: Layout
    engine: EnginePerf
    compute_dtype: str = "bf16"
    intra: Link | None = None
    inter: Link | None = None
    host_bandwidth: float = 0.0  # bytes/s of host DRAM serving offloaded experts
    host_flops: float = 0.0  # FLOP/s of the CPU cores computing offloaded experts
    block_quantised: bool = False  # the weights' precision is block-quantised (GGUF)
    # which of DeepSeek's block-scaled FP8 GEMMs the deployment's recipe runs on DeepGEMM, where fp8_prefill_factor
    # does not apply (recipes.deepgemm_prefill): "" none, "dense" the non-expert ones, "all" the routed experts' too
    fp8_deepgemm: str = ""

    @property
    def bandwidth(self) -> float:
        return weight_bandwidth(self.gpu, self.engine, self.block_quantised)

    @property
    def nodes(self) -> int:
        return ceil(self.layout.gpus / self.gpu.gpus_per_node)


def make_machine(gpu: GPU, layout: Layout, engine: EnginePerf, precision: Precision, inter_node: str | None = None,
                 host_bandwidth: float = 0.0, host_flops: float = 0.0, fp8_deepgemm: str = "") -> Machine:  # fmt: skip
    compute = "bf16" if precision.weight_only else precision.compute
    intra = get_link(gpu.intra_node_link) if gpu.intra_node_link != "none" else None
    inter = get_link(inter_node or gpu.inter_node_link)
    return Machine(gpu, layout, engine, compute, intra, inter, host_bandwidth, host_flops, precision.block_quantised,
                   fp8_deepgemm)  # fmt: skip


def host_link_bandwidth(gpu: GPU) -> float:
    """Bytes/s of copies from host RAM to one GPU: its PCIe link (a workstation card's own; an SXM/OAM part's host
    link: PCIe 5.0 x16, assumption) x PCIE_COPY_EFFICIENCY."""
    link = gpu.intra_node_link if gpu.intra_node_link.startswith("pcie") else "pcie5"
    return get_link(link).bandwidth * PCIE_COPY_EFFICIENCY


def weight_bandwidth(gpu: GPU, engine: EnginePerf, block_quantised: bool = False) -> float:
    """Bytes/s one GPU streams its weights and KV cache at in a decode step: the datasheet x HBM_EFFICIENCY, at
    most compute_units x the engine's per-unit rate where its kernels keep few bytes in flight per unit
    (llama.cpp; EnginePerf.unit_bandwidth), and slower for block-quantised weights that its kernels dequantise
    as they read them (EnginePerf.block_quant_bw_efficiency)."""
    bw = gpu.bandwidth * HBM_EFFICIENCY
    if engine.unit_bandwidth and gpu.compute_units:
        bw = min(bw, gpu.compute_units * engine.unit_bandwidth)
    return bw * (engine.block_quant_bw_efficiency if block_quantised else 1.0)


@dataclass(frozen=True)
class StepTime:
    memory: float
    compute: float
    communication: float
    overhead: float
    weight_bytes: float
    kv_bytes: float
    expert_bytes: float  # the routed-expert part of weight_bytes (the MoE penalty's numerator / denominator)
    flops: float
    # experts in host RAM: the CPU's own roofline, max(its reads, its FLOPs), after the GPU's part of each layer
    # (attention on the GPU, then the experts on the CPU: the two take turns, they do not overlap)
    host: float = 0.0
    host_bound: str = "memory"

    @property
    def total(self) -> float:
        return max(self.memory, self.compute) + self.host + self.communication + self.overhead

    @property
    def bound(self) -> str:
        parts = {"memory": self.memory, "compute": self.compute, "communication": self.communication,
                 "overhead": self.overhead}  # fmt: skip
        parts[self.host_bound] += self.host
        return max(parts, key=parts.get)


def allreduce_time(m: Machine, group: int, nbytes: float) -> float:
    """Inside a node: the engines' one-shot custom all-reduce for decode-sized messages (one hop + software);
    across nodes NCCL adds 2 log2(nodes) inter-node steps on the NICs (one per GPU, or one per node for
    Ethernet). Bandwidth: the ring volume 2 (p-1)/p of the message per level."""
    if group <= 1:
        return 0.0
    per_node = min(group, m.gpu.gpus_per_node)
    nodes = ceil(group / per_node)
    intra_lat, intra_bw = (m.intra.latency, m.intra.bandwidth) if m.intra else (0.0, NO_LINK_BANDWIDTH)
    t = intra_lat + COLLECTIVE_LATENCY + 2 * (per_node - 1) / per_node * nbytes / intra_bw
    if nodes > 1 and m.inter is not None:
        nics = 1 if m.inter.id.startswith("eth") else per_node  # Ethernet ids are per node in the catalog
        hop = m.inter.latency + INTER_NODE_STEP_LATENCY
        t += 2 * log2(nodes) * hop + 2 * (nodes - 1) / nodes * nbytes / (m.inter.bandwidth * nics)
    return t


def all_to_all_time(m: Machine, group: int, nbytes: float, proxy: bool = True) -> float:
    """One EP dispatch (or combine): each GPU sends (p-1)/p of its bytes, spread evenly over its peers. Inside a node
    all of it goes over the node's fabric; when the group spans nodes, the share bound for the other nodes' GPUs,
    (p - per_node)/p, goes over the GPU's NIC while the rest crosses the node's fabric at the same time (the
    slower of the two sets the time). proxy: an NCCL collective (the logits gather), whose inter-node step pays
    INTER_NODE_STEP_LATENCY (NCCL's proxy thread and network stack); the MoE dispatch kernels initiate RDMA from the
    GPU (DeepEP over NVSHMEM/IBGDA, MoRI-EP on ROCm: no proxy), their floor is rdma_dispatch_latency's on NVIDIA and
    the build's dispatch_overhead."""
    if group <= 1:
        return 0.0
    per_node = min(group, m.gpu.gpus_per_node)
    intra_lat, intra_bw = (m.intra.latency, m.intra.bandwidth) if m.intra else (0.0, NO_LINK_BANDWIDTH)
    if group <= per_node or m.inter is None:
        return intra_lat + COLLECTIVE_LATENCY + (group - 1) / group * nbytes / intra_bw
    lat = m.inter.latency + COLLECTIVE_LATENCY + (INTER_NODE_STEP_LATENCY if proxy else 0.0)
    nic = (group - per_node) / group * nbytes / m.inter.bandwidth
    return lat + max(nic, (per_node - 1) / group * nbytes / intra_bw)


def busiest_rank(seqs: float, ranks: int) -> float:
    """Sequences on the busiest of `ranks` DP-attention ranks when the scheduler spreads `seqs` of them (each
    arriving and leaving on its own): the mean plus the balls-into-bins excess sqrt(2 mean ln ranks), at most
    all of them (Raab & Steger 1998, "Balls into bins" - a simple and tight analysis, the m >> n ln n regime)."""
    mean = seqs / ranks
    if ranks <= 1:
        return float(seqs)
    return min(float(seqs), mean + sqrt(2 * mean * log(ranks)))


def ep_dispatch_latency(group: int) -> float:
    """The software floor of one MoE dispatch (or combine) across `group` ranks beyond the wire: DeepEP's
    low-latency kernels take 77, 118, 155, 173, 192 us to dispatch over EP 8, 16, 32, 64, 128 (deepseek-ai/DeepEP
    README, H800), about a + b log2(group); b is fitted (EP_DISPATCH_LATENCY_PER_DOUBLING). That growth is the RDMA
    kernels': inside one NVLink domain TensorRT-LLM's NVLinkOneSided all-to-all on GB200 NVL72 takes 18.9 / 31.0 us
    (dispatch / combine, one token per rank) at EP 8, 19.8 / 31.4 at EP 32, 27.8 / 32.6 at EP 64 (TensorRT-LLM tech
    blog 18, "Optimizing MoE Communication with One-Sided AlltoAll Over NVLink"; DeepEP's RDMA dispatch: +96 us over
    EP 8 to 64), and the corpus's NVLink-domain points agree (docs/validation.md, "The batch agrees, the step does
    not"); charging it only across NICs was tried and not kept (docs/validation.md, the variants tables): the fitted
    b is small (a few us)."""
    return EP_DISPATCH_LATENCY_PER_DOUBLING * log2(group) if group > 1 else 0.0


def rdma_dispatch_latency(m: Machine, group: int) -> float:
    """The RDMA kernels' floor of one MoE dispatch (or combine) whose group spans nodes over NICs: DeepEP's
    low-latency mode (SGLang's and TensorRT-LLM's cross-node attention-DP + EP on NVIDIA GPUs) sends every token over
    RDMA (NVSHMEM / IBGDA), so its floor is the NIC path's, not NVLink's (deepseek-ai/DeepEP README); fitted
    (RDMA_DISPATCH_LATENCY). Inside one NVLink domain (a node, an NVL72 rack) it is 0. DeepEP is CUDA-only: AMD's
    builds dispatch with their own kernels (MoRI-EP), whose cost is the build's fitted dispatch_overhead."""
    nodes = ceil(group / m.gpu.gpus_per_node)
    return RDMA_DISPATCH_LATENCY if nodes > 1 and m.inter is not None and m.gpu.vendor == "nvidia" else 0.0


def dp_moe_gather_time(m: Machine, group: int, nbytes: float) -> float:
    """One of the two collectives around a MoE layer under attention DP with the experts tensor-split (ep 1: SGLang
    --enable-dp-attention without expert parallelism): each rank gathers the group's tokens before the MoE and
    scatters the reduced result back after it (sglang/srt/layers/dp_attention.py dp_gather_partial / dp_scatter,
    called by layers/communicator.py), `nbytes` being the group's hidden states: each is half an all-reduce of them
    (ring: reduce-scatter + all-gather) over the fabric, with no expert dispatch and so no dispatch floor."""
    return allreduce_time(m, group, nbytes / 2)


def layer_message_bytes(s: Stack, layout: Layout, tokens: float) -> float:
    """One GPU's message in each of a layer's two collectives over `tokens` tokens: the all-reduce of the
    tokens' hidden states, or under DP attention an EP dispatch (or combine) of top_k copies split over TP."""
    act = tokens * s.hidden * ACT_BYTES
    return act / layout.tp * max(s.top_k, 1) if layout.attention == "dp" else act


def logits_gather_bytes(s: Stack, layout: Layout, tokens: float) -> float:
    """One GPU's share of the vocab-parallel logits gathered once per step (none under attention DP: each rank's
    head is whole, sharding.py)."""
    return 0.0 if layout.attention == "dp" else tokens * s.vocab * ACT_BYTES / layout.tp


def communication_time(s: Stack, m: Machine, tokens: float, rank_factor: float = 1.0, prefill: bool = False) -> float:
    """Per step: two collectives per layer inside the TP group plus the vocab-parallel logits gather (attention TP
    only). rank_factor:
    the busiest DP-attention rank's tokens over an even share (dp_prefill_rank_factor): its dispatch is the step's.
    A decode step's EP dispatch and combine also pay the engine's cost per token of the rank's own
    (dispatch_token_overhead): the low-latency all-to-all kernels of decode move tokens at their own rate, not the
    fabric's (DeepEP's: 77 us for 128 tokens per rank at EP 8, deepseek-ai/DeepEP README); prefill runs the
    throughput kernels, whose rate the wire term already is."""
    tp = m.layout.tp
    if tp <= 1:
        return 0.0
    msg = layer_message_bytes(s, m.layout, tokens * rank_factor)
    if m.layout.attention == "dp" and s.moe_gather:
        per_layer = 2 * dp_moe_gather_time(m, tp, tokens * s.hidden * ACT_BYTES)  # the group's tokens, however spread
    elif m.layout.attention == "dp":
        floor = ep_dispatch_latency(tp) + rdma_dispatch_latency(m, tp) + m.engine.dispatch_overhead
        if not prefill:  # the low-latency kernels of decode, per token of the rank's own
            floor += m.engine.dispatch_token_overhead * tokens / tp
        per_layer = 2 * (all_to_all_time(m, tp, msg, proxy=False) + floor)
    else:
        per_layer = 2 * allreduce_time(m, tp, msg)
    gather = logits_gather_bytes(s, m.layout, tokens)
    logits = all_to_all_time(m, tp, gather) if gather else 0.0
    return s.layers * per_layer + logits


def fp8_path_overhead(m: Machine, prefill: bool = False) -> float:
    """Per decoder layer per decode step: the engine build's extra cost of DeepSeek's block-scaled FP8 weights
    (EnginePerf.fp8_layer_overhead, fitted per build: TensorRT-LLM 1.1 decodes FP8 at 4 users 1.4-1.7x slower than
    1.3 on the same GPUs while its NVFP4 barely moves - InferenceX runs in the measured corpus). Prefill steps are
    compute-bound: none there."""
    return 0.0 if prefill or m.compute_dtype != "fp8" else m.engine.fp8_layer_overhead


def fp8_prefill_factor(m: Machine, routed: bool = True) -> float:
    """The engine build's FP8 block-scale prefill efficiency (EnginePerf.fp8_prefill_efficiency, fitted) where it
    applies: DeepSeek's block-scaled FP8 weights on a GPU whose tensor cores also run FP4 (Blackwell: B200, GB200,
    B300, GB300; CDNA4: MI355X). Measured (the corpus's disaggregated prefill pools, input tok/s per prefill GPU when
    prompts queue): SGLang on B200 prefills FP8 R1 at 2,500-3,400 tok/s per GPU, about what H200 does
    (2,500-3,400), and NVFP4 at 9,900-12,800, while the datasheet FP8 peak is 2.3x H200's and half the FP4 one: the
    FP8 block-scale path does not scale with that generation's FP8 peak as its FP4 path does with FP4's (InferenceX's
    B200 FP8 SGLang recipes, e.g. srt-slurm recipes/b200-fp8/1k1k.yaml, run with SGLANG_ENABLE_JIT_DEEPGEMM=false
    and flashinfer_trtllm's MoE: the FP8 block-scale GEMMs are not DeepGEMM's). A multiplier per engine build,
    fitted; 1 elsewhere (other weights, GPUs without FP4, decode steps: memory-bound), and for the GEMMs a
    deployment's recipe runs on DeepGEMM (Machine.fp8_deepgemm, recipes.deepgemm_prefill: SGLang's wide-EP GB200
    prefill workers, whose pools sustain 9,800-11,000, all of them; B200's 8k1k ones since 2026-03 the dense ones,
    which `routed` False asks for: the non-expert GEMMs)."""
    if m.compute_dtype != "fp8" or m.fp8_deepgemm == "all" or (m.fp8_deepgemm == "dense" and not routed):
        return 1.0
    native_fp4 = m.gpu.supports("fp4") and m.gpu.peak_flops("fp4") > m.gpu.peak_flops("fp8")
    return m.engine.fp8_prefill_efficiency if native_fp4 else 1.0


def dp_prefill_rank_factor(prompts: float, layout: Layout) -> float:
    """Under attention DP a prompt is prefilled by the one rank that holds it: its attention (projections and
    scores) and its tokens' EP dispatch run there, not spread over the group. The busiest rank holds
    ceil(prompts / tp) of the step's prompts against an even share of prompts / tp: tp for a prompt alone (the
    other ranks idle in attention; SGLang --enable-dp-attention, TensorRT-LLM enable_attention_dp), 1 for a full
    step of one prompt per rank. Attention TP: 1 (every rank takes its heads of every prompt)."""
    if layout.attention != "dp" or prompts <= 0:
        return 1.0
    return ceil(prompts / layout.tp) * layout.tp / prompts


def routed_flops(s: Stack, tokens: float) -> float:
    """FLOPs of the routed experts in a step of `tokens` tokens over all MoE layers (top_k experts per token each;
    s.expert_flops is one layer's)."""
    return tokens * s.moe_layers * s.expert_flops


def step_time(s: Stack, m: Machine, tokens: int, seqs: int, context: float, prefill: bool = False) -> StepTime:
    """T(n) of one engine step: `tokens` tokens of `seqs` sequences whose cache holds `context` tokens each."""
    pp = m.layout.pp
    n = ceil(tokens / pp)  # a PP cycle: pp micro-batches, each through the whole model (module docstring)
    b = ceil(seqs / pp)
    bw = m.bandwidth
    experts_touched = distinct_experts(n, s.experts, s.top_k, b) * s.experts_per_gpu / s.experts if s.experts else 0.0
    expert_b = s.moe_layers * experts_touched * s.expert_bytes
    seqs_gpu = busiest_rank(b, m.layout.attn_dp)
    kv_b = seqs_gpu * context * s.kv_bytes_per_token
    attn = s.attn_flops_prefill if prefill else s.attn_flops_decode
    f = dp_prefill_rank_factor(b, m.layout) if prefill else 1.0
    gpu_flops = n * s.dense_flops + n * (f - 1) * s.rank_local_flops + n * context * attn * f
    expert_f = routed_flops(s, n)
    peak = m.gpu.peak_flops(m.compute_dtype) * COMPUTE_EFFICIENCY * m.engine.compute_efficiency
    routed_peak = peak
    if prefill and s.experts:  # an MoE model's prefill only (module docstring): a dense model keeps the MFU
        eff = m.engine.prefill_efficiency
        routed_peak = peak * (eff * fp8_prefill_factor(m))
        peak = peak * (eff * fp8_prefill_factor(m, routed=False))
    memory = (s.dense_bytes + kv_b) / bw
    compute = gpu_flops / peak
    comm = communication_time(s, m, n, f, prefill)
    host, host_bound = 0.0, "memory"
    if s.experts_on_host:
        host_bw = m.host_bandwidth * HBM_EFFICIENCY * (m.engine.host_bw_efficiency or m.engine.bw_efficiency)
        host_mem, host_comp = expert_b / host_bw, expert_f / m.host_flops if m.host_flops else 0.0
        host, host_bound = max(host_mem, host_comp), "memory" if host_mem >= host_comp else "compute"
        if m.engine.op_offload_min_batch and n >= m.engine.op_offload_min_batch:  # the GPU computes them instead
            host, host_bound = expert_b / host_link_bandwidth(m.gpu), "communication"
            compute += expert_f / routed_peak
        comm += 2 * s.moe_layers * PCIE_TOKEN_HANDOFF
    else:
        memory += expert_b / (bw * m.engine.bw_efficiency)
        compute += expert_f / routed_peak
    if pp > 1:
        link = m.inter if m.nodes > 1 else m.intra
        link_lat, link_bw = (link.latency, link.bandwidth) if link else (0.0, NO_LINK_BANDWIDTH)
        comm += pp * (link_lat + n * s.hidden * ACT_BYTES / link_bw)
    e = m.engine
    graphs = e.cuda_graphs and m.gpu.graph_replay
    layer = e.layer_overhead + (0.0 if graphs or prefill else e.eager_penalty) + fp8_path_overhead(m, prefill)
    # per token per MoE layer: routing, permutation, small grouped GEMMs (decode only: prefill is compute)
    moe_tokens = 0.0 if prefill else n * s.moe_layers
    overhead = e.step_overhead + s.layers * layer + moe_tokens * e.moe_token_overhead
    return StepTime(memory, compute, comm, overhead, s.dense_bytes + expert_b, kv_b, expert_b,
                    gpu_flops + expert_f, host, host_bound)  # fmt: skip


def prefill_time(s: Stack, m: Machine, input_tokens: int, chunk: int, ranks: int = 1) -> float:
    """TTFT of one request arriving alone: the prompt in chunks of `chunk` tokens (the engine's chunked prefill),
    each chunk attending to the tokens before it and half of its own (causal). ranks > 1: a DP-attention group
    prefilling one such prompt on each rank in the same steps (the time of all of them together)."""
    t, done = 0.0, 0
    while done < input_tokens:
        c = min(chunk, input_tokens - done)
        t += step_time(s, m, c * ranks, ranks, done + c / 2, prefill=True).total
        done += c
    return t
