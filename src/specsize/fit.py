"""Fit search: for each GPU type, the fewest GPUs and a valid layout under the engine's rules.

Layout rules (the engines' documented behaviour):
- TP is a power of two that divides the attention heads (vLLM and SGLang check num_heads % tp == 0).
- Within a node TP covers the node's GPUs. Across nodes SGLang keeps TP (TP16 over 2 x 8); vLLM and
  TensorRT-LLM put TP in the node and PP across nodes, except that vLLM cannot combine PP with speculative
  decoding, so speculative plans span nodes with TP.
- llama.cpp splits layers over the GPUs of one machine; ktransformers and MLX run one device.
- An MLA + MoE model (R1, V3) on SGLang, vLLM or TensorRT-LLM may also run attention data-parallel with the experts
  spread over the same GPUs (each count's second candidate, after attention TP): TP attention keeps every sequence's
  latent KV on every GPU, DP attention keeps each on one, so it holds many more users.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from specsize.config import ModelArch
from specsize.engines import EngineProfile, get_engine
from specsize.errors import PlanError
from specsize.hardware import GPU, PERSONAL_KINDS, PERSONAL_MACHINE_MAX_GPUS, get_gpu, machine_holding
from specsize.memory import MemoryBreakdown, memory_per_gpu
from specsize.quant import get_precision
from specsize.scenario import Host, Layout, Speculative, Workload

MAX_NODES = 16  # search bound (assumption: larger clusters are out of scope for a sizing tool)


@dataclass
class FitResult:
    gpu: GPU
    engine: str
    fits: bool
    gpus: int = 0
    nodes: int = 0
    layout: Layout | None = None
    memory: MemoryBreakdown | None = None
    reason: str = ""  # when it does not fit: what is short, by how much
    model_max_context: int = 0

    @property
    def max_concurrency(self) -> int:
        return self.memory.max_concurrency if self.memory else 0

    @property
    def max_context(self) -> int:
        if not self.memory:
            return 0
        return min(self.memory.max_context, self.model_max_context or self.memory.max_context)


def _tp_ok(a: ModelArch, tp: int) -> bool:
    return a.num_heads % tp == 0


def candidate_layouts(a: ModelArch, gpu: GPU, engine: EngineProfile, spec: Speculative) -> Iterator[Layout]:
    """Layouts in increasing GPU count, the engine's usual choice for each count."""
    per_node = gpu.gpus_per_node
    if engine.multi_node == "none":
        if engine.llamacpp_split:  # layer split across the machine's GPUs: any count (src/llama-model.cpp)
            yield from (Layout(pp=n) for n in range(1, min(per_node, engine.max_gpus) + 1))
            return
        n = 1
        while n <= min(per_node, engine.max_gpus):
            if _tp_ok(a, n):
                yield Layout(tp=n)
            n *= 2
        return
    n = 1
    while n <= per_node:
        if _tp_ok(a, n):
            yield Layout(tp=n)
        if _dp_attention_ok(a, engine, spec, n):
            yield Layout(tp=n, ep=n, attention="dp")
        n *= 2
    for nodes in range(2, MAX_NODES + 1):
        total = nodes * per_node
        if engine.multi_node == "tp" or spec.enabled:
            if total & (total - 1) == 0 and _tp_ok(a, total):
                yield Layout(tp=total)
        elif _tp_ok(a, per_node):
            yield Layout(tp=per_node, pp=nodes)
        if _dp_attention_ok(a, engine, spec, total):
            yield Layout(tp=total, ep=total, attention="dp")


def _dp_attention_ok(a: ModelArch, engine: EngineProfile, spec: Speculative, n: int) -> bool:
    """Attention data-parallel + expert parallel over n GPUs: for an MLA + MoE model (MLA's latent is whole on
    every attention-TP rank, so TP attention holds every sequence's KV on every GPU; DP attention holds each on one),
    on an engine that runs it, with the routed experts dividing evenly over the n ranks. Not with a draft model
    (assumption: the engines' draft-model paths run the draft at the target's TP; MTP, n-gram and EAGLE are
    planned under attention DP)."""
    return (n > 1 and engine.attention_dp and a.mla is not None and a.moe is not None
            and a.moe.num_experts % n == 0 and spec.method != "draft")  # fmt: skip


def no_layout_reason(a: ModelArch, gpu: GPU, engine: EngineProfile, spec: Speculative, n: int) -> str:
    """Why the engine has no layout of exactly n GPUs of this type for the model, and the counts it can use."""
    personal = gpu.kind in PERSONAL_KINDS
    largest = machine_holding(gpu, PERSONAL_MACHINE_MAX_GPUS)  # a person's machine: as many cards as it holds
    counts = sorted({x.gpus for x in candidate_layouts(a, largest, engine, spec)})
    listed = ", ".join(map(str, counts[:8])) + (", ..." if len(counts) > 8 else "")
    if engine.multi_node == "none" and n > largest.gpus_per_node:
        held = (f"a person's machine holds at most {largest.gpus_per_node} {gpu.id} cards (assumption)" if personal
                else f"the catalog's {gpu.id} machine holds {gpu.gpus_per_node}")  # fmt: skip
        why = f"{engine.name} runs on one machine, and {held}"
    else:
        why = f"tensor parallelism needs a power of two that divides the {a.num_heads} attention heads"
    return f"{engine.name} has no layout of exactly {n} {gpu.id} GPUs for {a.name} ({why}; counts it can use: {listed})"


def nodes_for(layout: Layout, gpu: GPU) -> int:
    return -(-layout.gpus // gpu.gpus_per_node)


def _shortfall(m: MemoryBreakdown) -> str:
    if m.host_ram_short:
        return (
            f"host RAM short by {m.host_ram_short / 1e9:.1f} GB (the offloaded experts need "
            f"{m.host_ram_needed / 1e9:.1f} GB)"
        )
    return f"short by {-m.headroom / 1e9:.1f} GB per GPU ({m.budget_rule})"


def fit_gpu(
    a: ModelArch,
    gpu: GPU | str,
    precision: str,
    kv_dtype: str,
    workload: Workload,
    engine: str | EngineProfile,
    spec: Speculative = Speculative(),
    host: Host = Host(),
    capacity: float | None = None,
    layout: Layout | None = None,
) -> FitResult:
    """The smallest layout of `gpu` that serves the workload (or the given layout, checked)."""
    g = get_gpu(gpu) if isinstance(gpu, str) else gpu
    eng = get_engine(engine) if isinstance(engine, str) else engine
    get_precision(precision)
    workload.check_against(a)
    if spec.method not in eng.spec_methods:
        raise PlanError(f"{eng.name} does not support speculative method {spec.method!r} "
                        f"(it supports: {', '.join(eng.spec_methods)})")  # fmt: skip
    last = None
    layouts = [layout] if layout is not None else candidate_layouts(a, g, eng, spec)
    for lay in layouts:
        m = memory_per_gpu(a, g, precision, kv_dtype, lay, workload, eng, spec, host, capacity)
        if m.host_ram_short:  # the experts in host RAM are the same on any GPU count: more GPUs do not help
            copies = f", {host.numa_copies} copies (one per socket)" if host.numa_copies > 1 else ""
            return FitResult(g, eng.name, False, lay.gpus, nodes_for(lay, g), lay, m,
                             reason=f"host RAM short by {m.host_ram_short / 1e9:.1f} GB: the routed experts in RAM "
                                    f"need {m.host_ram_needed / 1e9:.1f} GB{copies}, --ram gives "
                                    f"{host.ram_bytes / 1e9:.1f} GB; more GPUs do not help")  # fmt: skip
        if m.fits:
            return FitResult(
                g, eng.name, True, lay.gpus, nodes_for(lay, g), lay, m, model_max_context=a.max_position_embeddings
            )
        last = (lay, m)
    if last is None:
        return FitResult(g, eng.name, False, reason=f"no valid layout for {a.num_heads} attention heads")
    lay, m = last
    return FitResult(g, eng.name, False, lay.gpus, nodes_for(lay, g), lay, m,
                     reason=f"does not fit even on {lay.gpus} GPU{'s' if lay.gpus > 1 else ''} ({lay.describe()}): "
                            f"{_shortfall(m)}")  # fmt: skip


def layouts_of(a: ModelArch, gpu: GPU, engine: EngineProfile, spec: Speculative, n: int) -> list[Layout]:
    """The engine's layouts of exactly n GPUs, in candidate_layouts' order (attention TP, then attention DP)."""
    return [x for x in candidate_layouts(a, gpu, engine, spec) if x.gpus == n]


def fit_on(a: ModelArch, gpu: GPU, precision: str, kv_dtype: str, workload: Workload, engine: EngineProfile,
           spec: Speculative, host: Host, layouts: list[Layout]) -> FitResult:  # fmt: skip
    """fit_gpu on each of `layouts` in turn (one GPU count): the first that holds the workload, else the one that
    comes nearest (its shortfall is the one to report)."""
    tried = []
    for lay in layouts:
        r = fit_gpu(a, gpu, precision, kv_dtype, workload, engine, spec, host, layout=lay)
        if r.fits:
            return r
        tried.append(r)
    return max(tried, key=lambda r: r.memory.headroom if r.memory else float("-inf"))


def default_precision(a: ModelArch) -> str:
    """The precision the model's own checkpoint is stored in (R1: FP8 block-scaled)."""
    return "fp8" if a.quant_method == "fp8" else "bf16"


def fit_all(
    a: ModelArch,
    gpus: list[str] | None = None,
    precision: str | None = None,
    kv_dtype: str = "bf16",
    workload: Workload = Workload(),
    engine: str = "vllm",
    spec: Speculative = Speculative(),
    host: Host = Host(),
) -> list[FitResult]:
    """fit_gpu for each GPU asked for (default: every GPU in the catalog the engine can drive)."""
    from specsize.hardware import gpu_ids

    eng = get_engine(engine)
    ids = list(gpus) if gpus else [g for g in gpu_ids() if get_gpu(g).unified_memory == (eng.name == "mlx")]
    prec = precision or default_precision(a)
    return [fit_gpu(a, g, prec, kv_dtype, workload, eng, spec, host) for g in ids]
