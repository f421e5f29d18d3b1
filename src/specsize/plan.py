"""`specsize plan`: for each GPU type, the minimum and a recommended layout, what they need (nodes, network,
memory per GPU) and how fast they go (TTFT, TPOT, tokens/s per user and per GPU), with and without
speculative decoding, the best k, the break-even concurrency and the MoE penalty, plus the speedup-vs-
concurrency curve. Composes fit.py (memory), deployment.py (roofline), speculative.py and serving.py: the
speeds are serving.steady_state's (the figures `validate` checks against measured serving), the decode step
at that concurrency is kept as their breakdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import ceil

from specsize.config import ModelArch
from specsize.deployment import Deployment, HostCPU, build_deployment
from specsize.engine_builds import engine_perf_for
from specsize.engines import get_engine
from specsize.errors import PlanError
from specsize.fit import (
    FitResult,
    _shortfall,
    candidate_layouts,
    fit_gpu,
    fit_on,
    layouts_of,
    no_layout_reason,
    nodes_for,
)
from specsize.hardware import get_gpu, machine_holding
from specsize.input_checks import check_draft_tp
from specsize.memory import MemoryBreakdown, memory_per_gpu
from specsize.perf import StepTime
from specsize.perf_constants import NGRAM_REPEAT_FRACTION, EnginePerf, engine_perf
from specsize.scenario import Host, Layout, Speculative, Workload
from specsize.serving import Pool, ServingPoint, kv_slots, steady_state
from specsize.speculative import SpecResult, best_k, break_even, evaluate

DEFAULT_GPUS = ("h200", "b200", "h100-sxm", "mi300x", "a100-80gb")  # the usual R1 serving choices
DEFAULT_ENGINE = "sglang"  # DeepSeek's recommended engine for R1 (deepseek-ai/DeepSeek-R1 README)
SLOW_NETWORK = "eth-10g"  # what a plain 10 GbE link between nodes would cost
# assumption: a server's recommended layout keeps KV room for 4x the asked concurrency (bursts, prefix cache)
RECOMMENDED_KV_MULTIPLE = 4
RECOMMENDED_MAX_GPU_MULTIPLE = 4  # assumption: the recommended layout uses at most 4x the minimum's GPUs
CURVE_LIMIT = 1024  # largest concurrency on the curve


@dataclass(frozen=True)
class Served:
    """A deployment's steady-state serving at the workload's concurrency (serving.steady_state: `concurrency`
    users each with a request in flight, prefill interleaved with decode, the figures `validate` checks), with
    the decode step it runs as the breakdown. tpot includes the other users' prefill share; ttft the wait for a
    batch slot."""

    ttft: float  # s
    tpot: float  # s per output token per user
    step: StepTime  # the decode step of the batch one instance runs
    concurrency: int
    gpus: int
    output_tokens: int
    tok_s_per_gpu: float
    # the speculative points served on the same deployment: (their TPOT, their tok/s per GPU)
    served_at: tuple[tuple[float, float], ...] = ()

    @property
    def tok_s_per_user(self) -> float:
        return 1.0 / self.tpot

    def tok_s_per_gpu_at(self, tpot: float) -> float:
        """tok/s per GPU of the point served at `tpot`: this one, or a speculative one served alongside."""
        for t, per_gpu in ((self.tpot, self.tok_s_per_gpu), *self.served_at):
            if t == tpot:
                return per_gpu
        raise PlanError(f"no serving point was computed at TPOT {tpot * 1e3:.3f} ms")


@dataclass(frozen=True)
class ServedSpec(SpecResult):
    """A speculative configuration as served: its decode round (the SpecResult breakdown) plus the serving
    steady state's TPOT (prefill share included) and the speedup over plain serving at the same concurrency."""

    served_tpot: float = 0.0
    served_plain_tpot: float = 0.0

    @property
    def tpot(self) -> float:
        return self.served_tpot

    @property
    def speedup(self) -> float:
        return self.served_plain_tpot / self.served_tpot


def serve(dep: Deployment, w: Workload, max_seqs: int, repeat_fraction: float = NGRAM_REPEAT_FRACTION,
          k: int | None = None) -> ServingPoint:  # fmt: skip
    """The workload served by this deployment: each of its layout's dp replicas one instance holding at most
    `max_seqs` sequences (its KV cache), the closed loop of serving.steady_state."""
    pool = Pool(dep, dep.layout.dp, max_seqs or None)  # max_seqs: serving.kv_slots of the plan's memory
    return steady_state(pool, w.concurrency, w.input_tokens, w.output_tokens, k=k, repeat_fraction=repeat_fraction)


def served(dep: Deployment, w: Workload, max_seqs: int, repeat_fraction: float = NGRAM_REPEAT_FRACTION,
           spec_results: tuple[SpecResult | None, ...] = ()) -> tuple[Served, list[ServedSpec | None]]:  # fmt: skip
    """Plain serving of `w` on `dep` and each speculative result in `spec_results` served at its own k."""
    plain_dep = replace(dep, spec=Speculative()) if dep.spec.enabled else dep
    sp = serve(plain_dep, w, max_seqs)
    per_gpu = sp.output_tok_s / dep.gpus
    specs, at = [], []
    for r in spec_results:
        if r is None:
            specs.append(None)
            continue
        s = serve(dep, w, max_seqs, repeat_fraction, r.k)
        specs.append(ServedSpec(**{f: getattr(r, f) for f in SpecResult.__dataclass_fields__}, served_tpot=s.tpot,
                                served_plain_tpot=sp.tpot))  # fmt: skip
        at.append((s.tpot, s.output_tok_s / dep.gpus))
    step = dep.decode_step(max(1, ceil(sp.decode_seqs)), w.mean_context)
    return Served(sp.ttft, sp.tpot, step, w.concurrency, dep.gpus, w.output_tokens, per_gpu, tuple(at)), specs


@dataclass
class CurvePoint:
    concurrency: int
    plain: Served
    spec: SpecResult | None  # at the asked k
    best: SpecResult | None  # at the best k for this concurrency


@dataclass
class Option:
    """One layout of one GPU type with its memory and performance."""

    layout: Layout
    nodes: int
    memory: MemoryBreakdown
    deployment: Deployment
    plain: Served
    spec: SpecResult | None = None
    best: SpecResult | None = None
    break_even: int | None = None
    slow_network_tpot: float | None = None  # TPOT over SLOW_NETWORK (multi-node only)

    @property
    def tpot(self) -> float:
        return self.spec.tpot if self.spec else self.plain.tpot

    @property
    def tok_s_per_gpu(self) -> float:
        return self.plain.tok_s_per_gpu_at(self.tpot)


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


def gpu_perf(perf: EnginePerf, gpu, release: str | None = None) -> EnginePerf:
    """The engine's constants for this GPU's build (SGLang's ROCm builds on AMD) and for the release the plan's
    launch commands name (TensorRT-LLM 1.2's generation), the plan's switches kept."""
    built = engine_perf_for(perf.name, release, gpu.vendor, gpu.arch)
    return replace(built, name=perf.name, cuda_graphs=perf.cuda_graphs) if built is not perf else perf


def _option(q: _Ask, gpu, layout: Layout, mem: MemoryBreakdown) -> Option:
    max_b = min(mem.max_concurrency, CURVE_LIMIT)
    dep = build_deployment(q.a, gpu, q.precision, q.kv, layout, q.eng, q.spec, q.host, q.cpu, q.inter_node,
                           gpu_perf(q.perf, gpu, q.eng.release))  # fmt: skip
    ctx = q.w.mean_context
    rf = q.repeat_fraction
    spec = best = None
    if q.spec.enabled:
        spec = evaluate(dep, q.w.concurrency, ctx, repeat_fraction=rf)
        best = best_k(dep, q.w.concurrency, ctx, repeat_fraction=rf)
    slots = kv_slots(mem, q.w.mean_context)
    plain, (spec, best) = served(dep, q.w, slots, rf, (spec, best))
    opt = Option(layout, nodes_for(layout, gpu), mem, dep, plain, spec, best)
    if q.spec.enabled:
        opt.break_even = break_even(dep, ctx, max(max_b, q.w.concurrency), k=q.spec.k, repeat_fraction=rf)
    if opt.nodes > 1 and dep.machine.inter is not None and dep.machine.inter.id != SLOW_NETWORK:
        slow = dep.with_inter_node(SLOW_NETWORK)
        if not q.spec.enabled:
            slow = replace(slow, spec=Speculative())
        opt.slow_network_tpot = serve(slow, q.w, slots, rf).tpot
    return opt


def _fastest(options: list[Option]) -> Option:
    """Of layouts of one GPU count (attention TP or DP) that hold the workload, the one serving it with the most
    output tokens/s per GPU: at one user the lower latency, at many the higher throughput (users waiting for KV
    room count against it). The first wins a tie."""
    return max(options, key=lambda o: o.tok_s_per_gpu)


def _options_at(q: _Ask, gpu, fit: FitResult) -> list[Option]:
    """The options of the fewest GPUs: fit's layout (fit_gpu returns the first that holds the workload) and every
    other layout of that count that holds it."""
    options = [_option(q, gpu, fit.layout, fit.memory)]
    for lay in layouts_of(q.a, gpu, q.eng, q.spec, fit.gpus):
        if lay != fit.layout:
            m = memory_per_gpu(q.a, gpu, q.precision, q.kv, lay, q.w, q.eng, q.spec, q.host)
            if m.fits:
                options.append(_option(q, gpu, lay, m))
    return options


def _recommended(q: _Ask, gpu, fit: FitResult, at_minimum: list[Option]) -> Option:
    """The fewest GPUs (from the minimum's count up to RECOMMENDED_MAX_GPU_MULTIPLE x it) with KV room for
    RECOMMENDED_KV_MULTIPLE x the users, the faster layout of that count where two have it (on the minimum's GPUs:
    attention DP where the minimum's TP lacks the room); the minimum when none does. `at_minimum`: _options_at's."""
    multiple = RECOMMENDED_KV_MULTIPLE if q.eng.budget != "none" else 1  # local runtimes serve one user
    roomy = [o for o in at_minimum if o.memory.max_concurrency >= multiple * q.w.concurrency]
    if roomy:
        return _fastest(roomy)
    for lay in candidate_layouts(q.a, gpu, q.eng, q.spec):
        if lay.gpus <= fit.gpus or lay.gpus > RECOMMENDED_MAX_GPU_MULTIPLE * fit.gpus:
            continue
        if roomy and lay.gpus != roomy[0].layout.gpus:
            break
        m = memory_per_gpu(q.a, gpu, q.precision, q.kv, lay, q.w, q.eng, q.spec, q.host)
        if m.fits and m.max_concurrency >= multiple * q.w.concurrency:
            roomy.append(_option(q, gpu, lay, m))
    return _fastest(roomy or at_minimum)


def count_for(gpu, gpu_count: int | None, nodes: int | None) -> int:
    """The GPUs the user has: --gpus N, or --nodes M full nodes of this GPU type, or both (checked together)."""
    per = gpu.gpus_per_node
    if gpu_count is not None and gpu_count < 1:
        raise PlanError(f"--gpus must be a positive number of GPUs, got {gpu_count}")
    if nodes is not None and nodes < 1:
        raise PlanError(f"--nodes must be a positive number of machines, got {nodes}")
    if gpu_count is None:
        return nodes * per
    if nodes is not None and not (nodes - 1) * per < gpu_count <= nodes * per:
        raise PlanError(f"--gpus {gpu_count} --nodes {nodes}: a {gpu.id} node holds {per} GPUs, so {gpu_count} GPUs "
                        f"take {-(-gpu_count // per)} node(s); give one of the two, or numbers that agree")  # fmt: skip
    return gpu_count


def fit_given(q: _Ask, gpu, n: int) -> FitResult:
    """fit_gpu on exactly n GPUs (the engine's layout for that count); when it does not fit, the reason says what
    is short and the fewest GPUs that would do."""
    lays = layouts_of(q.a, gpu, q.eng, q.spec, n)
    if not lays:
        return FitResult(gpu, q.eng.name, False, n, nodes_for(Layout(tp=n), gpu) if n else 0,
                         reason=no_layout_reason(q.a, gpu, q.eng, q.spec, n))  # fmt: skip
    fit = fit_on(q.a, gpu, q.precision, q.kv, q.w, q.eng, q.spec, q.host, lays)
    lay = fit.layout
    if not fit.fits:
        need = fit_gpu(q.a, gpu, q.precision, q.kv, q.w, q.eng, q.spec, q.host)
        least = (f"it needs at least {need.gpus} ({need.nodes} node{'s' if need.nodes > 1 else ''})" if need.fits
                 else f"it does not fit on any count up to {need.gpus}")  # fmt: skip
        fit.reason = f"does not fit on {n} ({lay.describe()}): {_shortfall(fit.memory)}; {least}"
    return fit


def curve(dep: Deployment, w: Workload, limit: int, repeat_fraction: float = NGRAM_REPEAT_FRACTION,
          max_seqs: int = 0) -> list[CurvePoint]:  # fmt: skip
    """Plain and speculative serving at concurrency 1, 2, 4, ... up to `limit` (KV room for `max_seqs`
    sequences per instance; 0: unbounded)."""
    ctx = w.mean_context
    points, b = [], 1
    while b <= limit:
        wb = Workload(b, w.input_tokens, w.output_tokens)
        spec = best = None
        if dep.spec.enabled:
            spec = evaluate(dep, b, ctx, repeat_fraction=repeat_fraction)
            best = best_k(dep, b, ctx, repeat_fraction=repeat_fraction)
        plain, (spec, best) = served(dep, wb, max_seqs, repeat_fraction, (spec, best))
        points.append(CurvePoint(b, plain, spec, best))
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
    gpu_count: int | None = None,
    nodes: int | None = None,
) -> Plan:
    """The plan per GPU type asked for. With gpu_count and/or nodes (the hardware the user has), each GPU type
    is planned on exactly that many GPUs: it fits or says by how much it does not, and is never switched to
    another count."""
    eng = get_engine(engine)
    perf = engine_perf(eng.name)
    if not cuda_graphs:
        perf = replace(perf, cuda_graphs=False)
    q = _Ask(a, precision, kv_dtype, workload, eng, spec, host, cpu, inter_node, repeat_fraction, perf)
    result = []
    for gid in gpus or DEFAULT_GPUS:
        gpu = get_gpu(gid) if nodes is not None else machine_holding(get_gpu(gid), gpu_count)
        if gpu_count is not None or nodes is not None:
            fit = fit_given(q, gpu, count_for(gpu, gpu_count, nodes))
        else:
            fit = fit_gpu(a, gpu, precision, kv_dtype, workload, eng, spec, host)
        gp = GPUPlan(gpu.id, fit)
        if fit.fits:
            check_draft_tp(spec, fit.layout, eng.name)
            at_minimum = _options_at(q, gpu, fit)
            gp.minimum = _fastest(at_minimum)
            given = gpu_count is not None or nodes is not None
            gp.recommended = gp.minimum if given else _recommended(q, gpu, fit, at_minimum)
            limit = max(1, min(gp.recommended.memory.max_concurrency, CURVE_LIMIT))
            opt = gp.recommended
            gp.curve = curve(
                opt.deployment, workload, limit, repeat_fraction, kv_slots(opt.memory, workload.mean_context)
            )
        result.append(gp)
    return Plan(a, precision, kv_dtype, eng.name, workload, spec, result, cuda_graphs)
