"""Memory per GPU for a layout: weights as the engines shard them, KV cache, activations, runtime, and what
speculative decoding adds (MTP or draft weights, their KV cache, verification buffers).

Sharding (vLLM / SGLang DeepSeek and Llama model code):
- embedding and lm_head are vocab-parallel over TP; norms, the router and MLA's q_a / kv_a projections are
  replicated (ReplicatedLinear); q_b, kv_b, o (and q/k/v/o for GQA) are split over the attention-TP ranks,
  GQA K/V only up to the number of KV heads; dense MLP, shared and routed experts are split over TP
  (EP x MoE-TP spans the TP group). PP splits the layers; the MTP layer lives on the last stage.
- KV: MLA's latent cannot be split by head, so every attention-TP rank holds it whole; GQA KV is split up to
  the KV heads. DP attention splits sequences instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from specsize.config import ModelArch
from specsize.engines import EngineProfile
from specsize.hardware import GPU
from specsize.kvcache import kv_dtype_bytes, kv_values_per_layer
from specsize.quant import Precision, get_precision
from specsize.scenario import Host, Layout, Speculative, Workload
from specsize.tensors import TensorGroup, tensor_groups


def shard_divisor(a: ModelArch, g: TensorGroup, layout: Layout) -> int:
    """How many GPUs of one pipeline stage share group g's bytes (1 = replicated)."""
    tp, attn_tp = layout.tp, layout.attn_tp
    if g.kind in ("embedding", "lm_head"):
        return tp
    if g.kind in ("norm", "router", "router_bias") or g.component == "moe_router" or g.role == "eh_proj":
        return 1
    if g.component == "attention":
        if g.role in ("q_a", "kv_a"):
            return 1
        if g.role in ("k", "v"):
            return min(attn_tp, a.num_kv_heads)
        return attn_tp
    return tp  # dense MLP, shared and routed experts


def _stage_layers(a: ModelArch, pp: int) -> tuple[int, int]:
    """(layers, of which MoE) on the most loaded pipeline stage (conservative: MoE layers packed first)."""
    per_stage = ceil(a.num_layers / pp)
    moe_layers = len([i for i in range(a.num_layers) if a.is_moe_layer(i)])
    return per_stage, min(per_stage, moe_layers)


def weight_bytes_per_gpu(
    a: ModelArch, precision: Precision, layout: Layout, scopes=("model",), offload_experts: bool = False
) -> float:
    """Bytes of the main model (and of the MTP module with scopes=("mtp",)) on the most loaded GPU."""
    groups = [g for g in tensor_groups(a) if g.scope in scopes]
    per_stage, moe_in_stage = _stage_layers(a, layout.pp)
    dense_in_stage = per_stage - moe_in_stage
    n_moe = len([i for i in range(a.num_layers) if a.is_moe_layer(i)])
    n_dense = a.num_layers - n_moe
    first, last = 0.0, 0.0  # per-GPU bytes of the non-layer tensors on the first / last stage
    layers = 0.0
    for g in groups:
        if offload_experts and g.component == "moe_routed":
            continue
        b = precision.group_bytes(g) / shard_divisor(a, g, layout)
        if g.scope != "model":
            last += b  # the MTP module rides on the last stage
        elif g.layers:
            share = moe_in_stage / n_moe if g.block == "moe" else dense_in_stage / n_dense
            layers += b * (1.0 if layout.pp == 1 else share)
        elif g.kind == "embedding":
            first += b
        else:
            last += b  # final norm and lm_head
    return layers + (max(first, last) if layout.pp > 1 else first + last)


def kv_bytes_per_gpu(
    a: ModelArch, kv_dtype: str, layout: Layout, sequences: int, context: int, layers: int | None = None
) -> float:
    """KV cache on one GPU for `sequences` of `context` tokens over `layers` attention layers
    (default: the main-model layers of the most loaded pipeline stage)."""
    if layers is None:
        layers, _ = _stage_layers(a, layout.pp)
    if layout.attention == "dp":
        sequences = ceil(sequences / layout.tp)  # DP attention: each rank holds its own sequences
        per_layer = kv_values_per_layer(a)
    elif a.mla is not None:
        per_layer = kv_values_per_layer(a)  # the latent is replicated on every attention-TP rank
    else:
        per_layer = 2 * ceil(a.num_kv_heads / layout.attn_tp) * a.head_dim
    return float(sequences * context * layers * per_layer * kv_dtype_bytes(kv_dtype))


def activation_bytes(a: ModelArch, tokens: int, tp: int) -> float:
    """Peak activations of one forward over `tokens` tokens. Assumption (no engine documents it): about
    10 hidden-size BF16 vectors per token (residual, norm, attention in/out, MoE dispatch) plus the widest
    MLP's gate/up outputs split over TP, plus FP32 logits for up to 256 sampled rows."""
    widest = a.intermediate_size
    if a.moe is not None:
        widest = max(
            widest if len(a.moe.layers) < a.num_layers else 0,
            a.moe.top_k * a.moe.expert_intermediate_size + a.moe.shared_intermediate_size,
        )
    per_token = 2 * (10 * a.hidden_size + 2 * widest / tp)
    logits = min(tokens, 256) * a.vocab_size / tp * 4
    return tokens * per_token + logits


@dataclass
class Term:
    name: str
    bytes: float
    note: str = ""


@dataclass
class MemoryBreakdown:
    """Memory of the most loaded GPU, each term with what it assumes; plus the engine's budget rule."""

    terms: list[Term]
    capacity: float  # bytes usable on the device (driver total, or the wired limit on unified memory)
    budget_rule: str
    fraction: float
    fits: bool
    headroom: float  # bytes to spare under the engine's rule (negative: short by)
    kv_bytes_per_sequence: float  # per GPU, at the workload's context (for max concurrency)
    kv_bytes_per_token: float  # per GPU, one sequence (for max context)
    kv_budget: float  # bytes the engine's rule leaves for KV after everything else
    host_ram_needed: float = 0.0  # CPU/GPU hybrid: routed experts in host memory
    host_ram_short: float = 0.0  # bytes of host RAM missing (0 when it fits or was not given)
    notes: list[str] = field(default_factory=list)

    def term(self, name: str) -> float:
        return sum(t.bytes for t in self.terms if t.name == name)

    @property
    def weights_bytes(self) -> float:
        """Every weight resident on the GPU: the model's and, with speculation on, the MTP module's or the draft
        model's (the breakdown keeps them apart: terms "weights" and "spec_weights")."""
        return self.term("weights") + self.term("spec_weights")

    @property
    def total(self) -> float:
        return sum(t.bytes for t in self.terms)

    @property
    def max_concurrency(self) -> int:
        return int(self.kv_budget // self.kv_bytes_per_sequence) if self.kv_bytes_per_sequence else 0

    @property
    def max_context(self) -> int:
        return int(self.kv_budget // self.kv_bytes_per_token) if self.kv_bytes_per_token else 0


def draft_precision(target: Precision, draft: ModelArch) -> Precision:
    """A draft model runs in the target's precision when that is a plain dtype or the draft ships quantised;
    otherwise in BF16 (nobody publishes FP8/NVFP4/INT8 R1-Distill drafts: assumption)."""
    if target.name in ("fp8", "nvfp4", "int8") and not draft.quant_method:
        return get_precision("bf16")
    return target


def eagle_head_params(a: ModelArch) -> int:
    """An EAGLE head: fc(2h -> h), one decoder layer (attention ~4h^2, SwiGLU MLP 3 h I); the embedding and
    output head are the target's (assumption: EAGLE-1/2 layout)."""
    h = a.hidden_size
    return 2 * h * h + 4 * h * h + 3 * h * a.intermediate_size


def _spec_terms(a, spec: Speculative, precision, kv_dtype, layout, workload, gpu_count) -> list[Term]:
    """What speculative decoding adds on the most loaded GPU."""
    if not spec.enabled:
        return []
    seqs, ctx, k = workload.concurrency, workload.context, spec.k
    terms = []
    if spec.method == "mtp":
        w = weight_bytes_per_gpu(a, precision, layout, scopes=("mtp",))
        terms.append(
            Term(
                "spec_weights",
                w,
                f"MTP module ({a.num_mtp_layers} layer), sharded like a layer; "
                "embedding and head shared with the target",
            )
        )
        terms.append(
            Term(
                "spec_kv",
                kv_bytes_per_gpu(a, kv_dtype, layout, seqs, ctx, layers=a.num_mtp_layers),
                "MTP layer's own KV cache",
            )
        )
    elif spec.method == "draft" and spec.draft is not None:
        d = spec.draft
        dtp = min(spec.draft_tp or layout.tp, gpu_count)
        dlayout = Layout(tp=dtp)
        dprec = draft_precision(precision, d)
        terms.append(
            Term("spec_weights", weight_bytes_per_gpu(d, dprec, dlayout), f"draft {d.name} in {dprec.name}, TP{dtp}")
        )
        terms.append(Term("spec_kv", kv_bytes_per_gpu(d, kv_dtype, dlayout, seqs, ctx), "draft KV cache"))
    elif spec.method == "eagle":
        head = eagle_head_params(a) * 2 / layout.tp
        terms.append(Term("spec_weights", head, "EAGLE head: one decoder layer + fc(2h->h), BF16 (assumption)"))
        terms.append(
            Term(
                "spec_kv",
                kv_bytes_per_gpu(a, kv_dtype, layout, seqs, ctx, layers=1),
                "EAGLE layer KV",
            )
        )
    vocab = a.vocab_size / layout.tp
    buffers = seqs * (k + 1) * vocab * 4 * 2 + seqs * (k + 1) * a.hidden_size * 2 * 10
    terms.append(
        Term(
            "spec_buffers",
            buffers,
            f"verification of B x (k+1) = {seqs * (k + 1)} tokens: FP32 target "
            "and draft probabilities + hidden states (assumption)",
        )
    )
    return terms


def memory_per_gpu(
    a: ModelArch,
    gpu: GPU,
    precision: str | Precision,
    kv_dtype: str,
    layout: Layout,
    workload: Workload,
    engine: EngineProfile,
    spec: Speculative = Speculative(),
    host: Host = Host(),
    capacity: float | None = None,
) -> MemoryBreakdown:
    """The memory breakdown of the most loaded GPU and whether it fits under the engine's rule."""
    prec = get_precision(precision) if isinstance(precision, str) else precision
    cap = capacity if capacity is not None else gpu.usable_bytes
    notes = []
    if gpu.unified_memory and capacity is None:
        cap = gpu.memory_bytes * gpu.default_wired_fraction
    if gpu.unified_memory:
        notes.append(
            f"unified memory: the GPU may wire {gpu.default_wired_fraction:.0%} of RAM by default "
            "(raise iogpu.wired_limit_mb for more)"
        )
    offload_experts = host.offload_experts
    weights = weight_bytes_per_gpu(a, prec, layout, offload_experts=offload_experts)
    kv = kv_bytes_per_gpu(a, kv_dtype, layout, workload.concurrency, workload.context)
    chunk = min(engine.prefill_chunk, max(workload.input_tokens, 1))
    act = activation_bytes(a, chunk, layout.tp)
    terms = [
        Term(
            "weights",
            weights,
            f"{prec.name}, {layout.describe()}" + (", routed experts in host RAM" if offload_experts else ""),
        ),
        Term("kv_cache", kv, f"{workload.concurrency} x {workload.context:,} tokens, KV {kv_dtype}"),
        Term("activations", act, f"prefill chunk of {chunk} tokens (assumption, see memory.activation_bytes)"),
        Term("runtime", engine.runtime_bytes + (engine.nccl_bytes if layout.gpus > 1 else 0), engine.runtime_source),
    ]
    if engine.cuda_graph_bytes and not gpu.unified_memory:
        terms.append(Term("cuda_graphs", engine.cuda_graph_bytes, "assumption: ~1 GB at default capture sizes"))
    terms += _spec_terms(a, spec, prec, kv_dtype, layout, workload, layout.gpus)

    by = {t.name: 0.0 for t in terms}
    for t in terms:
        by[t.name] += t.bytes
    kv_all = by["kv_cache"] + by.get("spec_kv", 0.0)
    static = by["weights"] + by.get("spec_weights", 0.0)
    dynamic = by["activations"] + by["runtime"] + by.get("spec_buffers", 0.0)
    graphs = by.get("cuda_graphs", 0.0)
    frac = engine.memory_fraction(layout.tp)
    if engine.budget == "static":
        # SGLang measures free memory after the CUDA context and communicators exist, so they count here
        dynamic -= by["runtime"]
        kv_budget = frac * cap - static - by["runtime"]
        fits = kv_all <= kv_budget and dynamic + graphs <= (1 - frac) * cap
        headroom = min(kv_budget - kv_all, (1 - frac) * cap - dynamic - graphs)
        rule = f"weights + KV <= {frac:.2f} x memory (mem_fraction_static); the rest for activations and graphs"
    elif engine.budget == "total":
        kv_budget = frac * cap - static - dynamic
        fits = kv_all <= kv_budget and graphs <= (1 - frac) * cap
        headroom = kv_budget - kv_all
        rule = f"weights + KV + activations + runtime <= {frac:.2f} x memory (gpu_memory_utilization)"
    elif engine.budget == "kv_of_free":
        free = cap - static - dynamic - graphs
        kv_budget = frac * free
        fits = free > 0 and kv_all <= kv_budget
        headroom = kv_budget - kv_all
        rule = f"KV <= {frac:.2f} x memory left after weights (free_gpu_memory_fraction)"
    else:
        kv_budget = cap - static - dynamic - graphs
        fits = kv_all <= kv_budget
        headroom = kv_budget - kv_all
        rule = "everything <= memory" + (" (wired limit)" if gpu.unified_memory else "")
    per_seq = kv_all / workload.concurrency
    host_ram, ram_short = 0.0, 0.0
    if offload_experts:
        experts = sum(
            prec.group_bytes(g) for g in tensor_groups(a) if g.component == "moe_routed" and g.scope == "model"
        )
        host_ram = experts * host.numa_copies
        if host.numa_copies > 1:
            notes.append(f"routed experts duplicated on {host.numa_copies} NUMA nodes")
        if host.ram_bytes is not None and host_ram > host.ram_bytes:
            fits = False
            ram_short = host_ram - host.ram_bytes
    return MemoryBreakdown(
        terms=terms, capacity=cap, budget_rule=rule, fraction=frac, fits=fits, headroom=headroom,
        kv_bytes_per_sequence=per_seq, kv_bytes_per_token=per_seq / workload.context, kv_budget=kv_budget,
        host_ram_needed=host_ram, host_ram_short=ram_short, notes=notes,
    )  # fmt: skip
