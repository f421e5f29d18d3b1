"""Memory per GPU for a layout: weights and KV cache as the engines shard them (sharding.py), activations,
runtime, and what speculative decoding adds (MTP or draft weights, their KV cache, verification buffers; the
drafters' sizing is drafters.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from specsize.config import ModelArch
from specsize.drafters import draft_layout, draft_precision, eagle_head_params
from specsize.engines import EngineProfile
from specsize.hardware import GPU
from specsize.quant import BF16, FP32, Precision, get_precision
from specsize.scenario import Host, Layout, Speculative, Workload
from specsize.sharding import kv_bytes_per_gpu, stage_layers, weight_bytes_per_gpu
from specsize.tensors import tensor_groups

# Assumptions (no engine documents its peak): hidden-size BF16 vectors alive per token in one forward (residual,
# norm, attention in/out, MoE dispatch), and the rows whose FP32 logits one forward materialises.
ACTIVATION_VECTORS_PER_TOKEN = 10
SAMPLED_LOGIT_ROWS = 256
VERIFY_DISTRIBUTIONS = 2  # speculative verification holds the target's and the draft's FP32 probabilities


def activation_bytes(a: ModelArch, tokens: int, tp: int) -> float:
    """Peak activations of one forward over `tokens` tokens. Assumption (no engine documents it): about
    10 hidden-size BF16 vectors per token (residual, norm, attention in/out, MoE dispatch) plus the widest
    MLP's gate/up outputs split over TP, plus FP32 logits for up to 256 sampled rows."""
    widest = a.intermediate_size
    if a.moe is not None:
        widest = max(
            widest if a.num_moe_layers < a.num_layers else 0,  # a dense layer exists
            a.moe.top_k * a.moe.expert_intermediate_size + a.moe.shared_intermediate_size,
        )
    per_token = BF16 * (ACTIVATION_VECTORS_PER_TOKEN * a.hidden_size + 2 * widest / tp)  # 2: gate and up
    logits = min(tokens, SAMPLED_LOGIT_ROWS) * a.vocab_size / tp * FP32
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
    # the GPUs a layout spreads its sequences over (attention DP: each sequence's KV on one of them; else 1):
    # kv_bytes_per_sequence / _per_token are the instance's per GPU, a sequence's own on its GPU is this many times it
    sequence_ranks: int = 1
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
        """The longest one sequence can be: its KV on its own GPU (all of it under attention DP)."""
        per_token = self.kv_bytes_per_token * self.sequence_ranks
        return int(self.kv_budget // per_token) if per_token else 0


def _spec_terms(a, spec: Speculative, precision, kv_dtype, layout, workload, llamacpp: bool = False) -> list[Term]:
    """What speculative decoding adds on the most loaded GPU (llamacpp: a draft model loaded by llama.cpp's rule)."""
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
        dlayout = draft_layout(spec, layout)
        dtp = dlayout.tp
        dprec = draft_precision(precision, d)
        w = weight_bytes_per_gpu(d, dprec, dlayout, llamacpp=llamacpp)
        terms.append(Term("spec_weights", w, f"draft {d.name} in {dprec.name}, TP{dtp}"))
        dlayers, _ = stage_layers(d, dlayout.pp, llamacpp)
        terms.append(Term("spec_kv", kv_bytes_per_gpu(d, kv_dtype, dlayout, seqs, ctx, dlayers), "draft KV cache"))
    elif spec.method == "eagle":
        head = eagle_head_params(a) * 2 / layout.attn_tp  # whole on each rank under attention DP (sharding.py)
        terms.append(Term("spec_weights", head, "EAGLE head: one decoder layer + fc(2h->h), BF16 (assumption)"))
        terms.append(
            Term(
                "spec_kv",
                kv_bytes_per_gpu(a, kv_dtype, layout, seqs, ctx, layers=1),
                "EAGLE layer KV",
            )
        )
    # the busiest rank's rows: every sequence's, its vocabulary share under attention TP; its own sequences', the whole
    # vocabulary under attention DP (its head is whole: sharding.py)
    vocab = a.vocab_size / layout.attn_tp
    rows = ceil(seqs / layout.attn_dp) * (k + 1)
    buffers = rows * vocab * FP32 * VERIFY_DISTRIBUTIONS + rows * a.hidden_size * BF16 * ACTIVATION_VECTORS_PER_TOKEN
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
    split = engine.llamacpp_split
    weights = weight_bytes_per_gpu(a, prec, layout, offload_experts=offload_experts, llamacpp=split)
    layers, _ = stage_layers(a, layout.pp, split)
    kv = kv_bytes_per_gpu(a, kv_dtype, layout, workload.concurrency, workload.context, layers)
    chunk = min(engine.prefill_chunk, max(workload.input_tokens, 1))
    act = activation_bytes(a, chunk, layout.attn_tp)  # under attention DP a rank runs its chunk's MLPs and head whole
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
    terms += _spec_terms(a, spec, prec, kv_dtype, layout, workload, split)

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
    # per sequence, as the instance holds them: attention DP puts ceil(users / ranks) on the most loaded GPU
    slots = ceil(workload.concurrency / layout.attn_dp) * layout.attn_dp
    per_seq = kv_all / slots
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
        sequence_ranks=layout.attn_dp, host_ram_needed=host_ram, host_ram_short=ram_short, notes=notes,
    )  # fmt: skip
