"""`specsize plan`: for each GPU type, the minimum and a recommended layout, what they need (nodes, network,
memory per GPU) and how fast they go (TTFT, TPOT, tokens/s per user and per GPU), with and without
speculative decoding, the best k, the break-even concurrency and the MoE penalty, plus the speedup-vs-
concurrency curve. Composes fit.py (memory), deployment.py (roofline) and speculative.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from specsize.config import ModelArch
from specsize.deployment import Deployment, HostCPU, Performance, build_deployment
from specsize.engines import get_engine
from specsize.fit import FitResult, candidate_layouts, fit_gpu, nodes_for
from specsize.hardware import get_gpu
from specsize.memory import MemoryBreakdown, memory_per_gpu
from specsize.perf_constants import NGRAM_REPEAT_FRACTION, EnginePerf, engine_perf, engine_perf_for
from specsize.scenario import Host, Layout, Speculative, Workload
from specsize.speculative import SpecResult, best_k, break_even, evaluate

DEFAULT_GPUS = ("h200", "b200", "h100-sxm", "mi300x", "a100-80gb")  # the usual R1 serving choices
DEFAULT_ENGINE = "sglang"  # DeepSeek's recommended engine for R1 (deepseek-ai/DeepSeek-R1 README)
SLOW_NETWORK = "eth-10g"  # what a plain 10 GbE link between nodes would cost
# assumption: a server's recommended layout keeps KV room for 4x the asked concurrency (bursts, prefix cache)
RECOMMENDED_KV_MULTIPLE = 4
CURVE_LIMIT = 1024  # largest concurrency on the curve


@dataclass
class CurvePoint:
    concurrency: int
    plain: Performance
    spec: SpecResult | None  # at the asked k
    best: SpecResult | None  # at the best k for this concurrency


@dataclass
class Option:
    """One layout of one GPU type with its memory and performance."""

    layout: Layout
    nodes: int
    memory: MemoryBreakdown
    deployment: Deployment
    plain: Performance
    spec: SpecResult | None = None
    best: SpecResult | None = None
    break_even: int | None = None
    slow_network_tpot: float | None = None  # TPOT over SLOW_NETWORK (multi-node only)

    @property
    def tpot(self) -> float:
        return self.spec.tpot if self.spec else self.plain.tpot

    @property
    def tok_s_per_gpu(self) -> float:
        b, out = self.plain.concurrency, max(self.plain.output_tokens, 1)
        return b * out / (b * self.plain.ttft + out * self.tpot) / self.deployment.gpus


@dataclass
class GPUPlan:
    gpu: str
    fit: FitResult
    minimum: Option | None = None
    recommended: Option | None = None
    curve: list[CurvePoint] = field(default_factory=list)


@dataclass
class Plan:
    arch: ModelArch
    precision: str
    kv_dtype: str
    engine: str
    workload: Workload
    spec: Speculative
    gpus: list[GPUPlan]
    cuda_graphs: bool = True

    @property
    def chosen(self) -> GPUPlan | None:
        """The plan the launch commands are for: the first GPU type asked for that fits."""
        return next((g for g in self.gpus if g.recommended), None)


@dataclass(frozen=True)
class _Ask:
    """Everything a plan is asked about, passed around whole."""

    a: ModelArch
    precision: str
    kv: str
    w: Workload
    eng: object
    spec: Speculative
    host: Host
    cpu: HostCPU | None
    inter_node: str | None
    repeat_fraction: float
    perf: EnginePerf


def gpu_perf(perf: EnginePerf, gpu) -> EnginePerf:
    """The engine's constants for this GPU's build (SGLang's ROCm builds on AMD), the plan's switches kept."""
    built = engine_perf_for(perf.name, None, gpu.vendor, gpu.arch)
    return replace(built, name=perf.name, cuda_graphs=perf.cuda_graphs) if built is not perf else perf


def _option(q: _Ask, gpu, layout: Layout, mem: MemoryBreakdown) -> Option:
    max_b = min(mem.max_concurrency, CURVE_LIMIT)
    dep = build_deployment(q.a, gpu, q.precision, q.kv, layout, q.eng, q.spec, q.host, q.cpu, q.inter_node,
                           gpu_perf(q.perf, gpu))  # fmt: skip
    ctx = q.w.input_tokens + q.w.output_tokens / 2
    rf = q.repeat_fraction
    opt = Option(layout, nodes_for(layout, gpu), mem, dep, dep.performance(q.w))
    if q.spec.enabled:
        opt.spec = evaluate(dep, q.w.concurrency, ctx, repeat_fraction=rf)
        opt.best = best_k(dep, q.w.concurrency, ctx, repeat_fraction=rf)
        opt.break_even = break_even(dep, ctx, max(max_b, q.w.concurrency), k=q.spec.k, repeat_fraction=rf)
    if opt.nodes > 1 and dep.machine.inter is not None and dep.machine.inter.id != SLOW_NETWORK:
        slow = dep.with_inter_node(SLOW_NETWORK)
        opt.slow_network_tpot = (evaluate(slow, q.w.concurrency, ctx, repeat_fraction=rf).tpot if q.spec.enabled
                                 else slow.performance(q.w).tpot)  # fmt: skip
    return opt


def _recommended_layout(q: _Ask, gpu, fit: FitResult) -> tuple[Layout, MemoryBreakdown]:
    for lay in candidate_layouts(q.a, gpu, q.eng, q.spec):
        if lay.gpus < fit.gpus or lay.gpus > 4 * fit.gpus:
            continue
        m = memory_per_gpu(q.a, gpu, q.precision, q.kv, lay, q.w, q.eng, q.spec, q.host)
        multiple = RECOMMENDED_KV_MULTIPLE if q.eng.budget != "none" else 1  # local runtimes serve one user
        if m.fits and m.max_concurrency >= multiple * q.w.concurrency:
            return lay, m
    return fit.layout, fit.memory


def curve(dep: Deployment, w: Workload, limit: int, repeat_fraction: float = NGRAM_REPEAT_FRACTION) -> list[CurvePoint]:
    """Plain and speculative decoding at concurrency 1, 2, 4, ... up to `limit`."""
    ctx = w.input_tokens + w.output_tokens / 2
    points, b = [], 1
    while b <= limit:
        wb = Workload(b, w.input_tokens, w.output_tokens)
        spec = best = None
        if dep.spec.enabled:
            spec = evaluate(dep, b, ctx, repeat_fraction=repeat_fraction)
            best = best_k(dep, b, ctx, repeat_fraction=repeat_fraction)
        points.append(CurvePoint(b, dep.performance(wb), spec, best))
        b *= 2
    return points


def plan(
    a: ModelArch,
    gpus: list[str] | None = None,
    precision: str = "fp8",
    kv_dtype: str = "bf16",
    workload: Workload = Workload(),
    engine: str = DEFAULT_ENGINE,
    spec: Speculative = Speculative(),
    host: Host = Host(),
    cpu: HostCPU | None = None,
    inter_node: str | None = None,
    repeat_fraction: float = NGRAM_REPEAT_FRACTION,
    cuda_graphs: bool = True,
) -> Plan:
    eng = get_engine(engine)
    perf = engine_perf(eng.name)
    if not cuda_graphs:
        perf = replace(perf, cuda_graphs=False)
    q = _Ask(a, precision, kv_dtype, workload, eng, spec, host, cpu, inter_node, repeat_fraction, perf)
    result = []
    for gid in gpus or DEFAULT_GPUS:
        gpu = get_gpu(gid)
        fit = fit_gpu(a, gpu, precision, kv_dtype, workload, eng, spec, host)
        gp = GPUPlan(gpu.id, fit)
        if fit.fits:
            gp.minimum = _option(q, gpu, fit.layout, fit.memory)  # fit_gpu computed its memory already
            rec, rec_mem = _recommended_layout(q, gpu, fit)
            gp.recommended = gp.minimum if rec == fit.layout else _option(q, gpu, rec, rec_mem)
            limit = max(1, min(gp.recommended.memory.max_concurrency, CURVE_LIMIT))
            gp.curve = curve(gp.recommended.deployment, workload, limit, repeat_fraction)
        result.append(gp)
    return Plan(a, precision, kv_dtype, eng.name, workload, spec, result, cuda_graphs)
