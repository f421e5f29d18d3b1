"""What `specsize plan` is asked, and the report it answers (the `plan --json` dict), in one function that the
command line and the web page both call: defaults (the model's own MTP head where the engine can use it, the
checkpoint's precision), spec parsing, --acceptance and --calibration merging (resolve_request), then plan.plan
and report.plan_report (plan_report_for).

A SpecsizeError raised here carries `field`: the request field it is about ("model", "spec", "gpus", ...), so a
form can show the message next to the field. The message itself is the command line's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from specsize.calibration import Bench, MeasuredRun
from specsize.config import ModelArch
from specsize.deployment import HostCPU
from specsize.engines import is_llamacpp
from specsize.errors import PlanError, SpecsizeError
from specsize.plan import DEFAULT_ENGINE, Plan
from specsize.precision_choice import Choice, NoPrecisionFits
from specsize.scenario import Host, Speculative, Workload


@dataclass(frozen=True)
class PlanRequest:
    """The options of `specsize plan`, as given (None: the command's default)."""

    model: str = "deepseek-r1"
    weights: str | None = None  # None: the checkpoint's own precision (fit.default_precision)
    kv_cache: str = "bf16"
    context: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    concurrency: int = 1
    spec: str | None = None  # None: mtp:1 when the model has an MTP layer and the engine can use it
    draft_tp: int | None = None
    engine: str = DEFAULT_ENGINE
    gpus: tuple[str, ...] = ()  # (): plan.DEFAULT_GPUS
    ram_gb: float | None = None
    sockets: int = 1
    offload_experts: bool = False
    acceptance: str | None = None  # comma-separated per-position rates
    calibration: str | None = None  # a bench.json path
    repeat_fraction: float | None = None
    inter_node: str | None = None
    cuda_graphs: bool = True
    gpu_count: int | None = None  # --gpus: plan on exactly this many GPUs (None: the fewest that fit)
    nodes: int | None = None  # --nodes: this many whole nodes
    host_memory: str | None = None  # CPU offload: the host's memory type, channels and cores (offload.host_cpu)
    channels: int | None = None
    cores: int | None = None


@contextmanager
def about(field: str) -> Iterator[None]:
    """Tag a SpecsizeError raised inside with the request field it is about (the first tag wins)."""
    try:
        yield
    except SpecsizeError as e:
        if getattr(e, "field", None) is None:
            e.field = field  # type: ignore[attr-defined]
        raise


def build_workload(context, input_tokens, output_tokens, concurrency) -> Workload:
    """--context sets --input to it and --output to 0 unless they are given; the rest default to 4096."""
    if context is not None:
        if input_tokens is None and output_tokens is None:
            input_tokens, output_tokens = context, 0
        elif input_tokens is None:
            input_tokens = context - output_tokens
        elif output_tokens is None:
            output_tokens = context - input_tokens
    return Workload(
        concurrency=concurrency,
        input_tokens=4096 if input_tokens is None else input_tokens,
        output_tokens=4096 if output_tokens is None else output_tokens,
    )


def parse_acceptance(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise PlanError(f"--acceptance {text!r}: give comma-separated numbers in (0, 1], e.g. 0.85,0.7") from None


@dataclass(frozen=True)
class Resolved:
    """A request's options turned into the planner's objects (what every plan mode starts from)."""

    arch: ModelArch
    workload: Workload
    spec: Speculative  # with --acceptance or the bench's measured acceptance applied
    bench: Bench | None  # --calibration
    repeat_fraction: float
    host: Host
    precision: str
    cpu: HostCPU  # the host's memory and cores (CPU offload)
    choice: Choice | None = None  # --weights auto: what was chosen and why
    note: str | None = None  # the default context clipped to the model's maximum (the CLI prints it to stderr)
    measured_run: MeasuredRun | None = None  # --calibration with measured points (bench --endpoint)
    measured_note: str | None = None  # why the measured run's acceptance was not used


@dataclass(frozen=True)
class PlanResult:
    """A resolved request, the plan made from it, and the `plan --json` report."""

    resolved: Resolved
    plan: Plan
    report: dict[str, Any]


def resolve_request(req: PlanRequest, arch: ModelArch | None = None) -> Resolved:
    """Defaults, spec parsing, --acceptance / --calibration merging. `arch`: the model already parsed (a pasted
    config.json), else req.model is resolved (resolve.load_model)."""
    from specsize.engines import get_engine
    from specsize.hardware import get_gpu, get_link
    from specsize.input_checks import check_unique_gpus
    from specsize.offload import host_cpu, numa_copies
    from specsize.perf_constants import NGRAM_REPEAT_FRACTION
    from specsize.plan import DEFAULT_GPUS, count_for
    from specsize.precision_choice import resolve_weights
    from specsize.resolve import load_model
    from specsize.scenario import parse_spec
    from specsize.workload_defaults import clip_default

    with about("model"):
        a = arch if arch is not None else load_model(req.model)
    with about("workload"):
        given = req.context is not None or req.input_tokens is not None or req.output_tokens is not None
        w, note = clip_default(build_workload(req.context, req.input_tokens, req.output_tokens, req.concurrency), a,
                               given)  # fmt: skip
    spec = req.spec
    if spec is None:  # the embedded default: the model's own MTP head where the engine can use it
        with about("engine"):
            spec = "mtp:1" if a.has_mtp and "mtp" in get_engine(req.engine).spec_methods else "none"
    with about("spec"):
        sp = parse_spec(spec, a, draft_tp=req.draft_tp)
    bench = measured_run = None
    if req.calibration:
        from specsize.calibration import MeasuredRun, read_calibration

        with about("calibration"):
            bench = read_calibration(req.calibration)
        if isinstance(bench, MeasuredRun):  # measured points (bench --endpoint): acceptance and a step-time scale
            bench, measured_run = None, bench
    measured_note = None
    if req.acceptance:
        with about("acceptance"):
            sp = replace(sp, acceptance=parse_acceptance(req.acceptance))
    elif bench is not None and sp.enabled:
        from specsize.calibration import measured_acceptance

        with about("calibration"):
            sp = replace(sp, acceptance=measured_acceptance(bench, sp.method, sp.k))
    elif measured_run is not None and sp.enabled:
        from specsize.calibration import measured_run_acceptance

        try:
            sp = replace(sp, acceptance=measured_run_acceptance(measured_run, sp.method, sp.k))
        except SpecsizeError as e:
            measured_note = f"acceptance: the default ({e})"
    rf = NGRAM_REPEAT_FRACTION if req.repeat_fraction is None else req.repeat_fraction
    if not 0 < rf <= 1:
        with about("repeat_fraction"):
            raise PlanError(f"--repeat-fraction must be in (0, 1], got {rf}")
    if req.inter_node:
        with about("inter_node"):
            get_link(req.inter_node)
    with about("host"):
        host = Host(req.offload_experts, req.ram_gb * 1e9 if req.ram_gb is not None else None,
                    numa_copies(req.engine, req.sockets))  # fmt: skip
    with about("engine"):  # resolve_weights reads the engine and the GPUs: their errors are tagged as theirs
        get_engine(req.engine)
    with about("gpus"):
        check_unique_gpus(req.gpus)
        first = (list(req.gpus) or [DEFAULT_GPUS[0]])[:1]
        gpu = get_gpu(first[0])
    with about("gpu_count"):
        given = req.gpu_count is not None or req.nodes is not None
        count = count_for(gpu, req.gpu_count, req.nodes) if given else None
    with about("host"):
        cpu = host_cpu(req.host_memory, req.channels, req.cores, req.sockets)
    with about("weights"):
        try:
            prec, choice = resolve_weights(req.weights, a, list(req.gpus) or first, req.engine, req.kv_cache, w, sp,
                                           host, count)  # fmt: skip
        except NoPrecisionFits as e:
            smallest = e.smallest_checked
            if smallest is None:
                raise
            hint = _gpu_layers_hint(req, Resolved(a, w, sp, bench, rf, host, smallest, cpu, None, note), smallest)
            raise PlanError(f"{e}{hint}") from None
    return Resolved(a, w, sp, bench, rf, host, prec, cpu, choice, note, measured_run, measured_note)


def _gpu_layers_hint(req: PlanRequest, r: Resolved, prec: str) -> str:
    """Where llama.cpp cannot hold the model in VRAM: "; llama.cpp can still run it with -ngl N ..." and the command
    (gpu_layers.suggestion), for one GPU type, plain decoding, the experts not offloaded (what --gpu-layers plans);
    else ""."""
    if not is_llamacpp(req.engine) or len(req.gpus) != 1 or r.spec.enabled or req.offload_experts or req.nodes:
        return ""
    from specsize.gpu_layers import suggestion

    gpus = req.gpu_count or 1
    cmd = ["specsize", "plan", req.model, "--gpu", req.gpus[0], *(["--gpus", str(gpus)] if req.gpu_count else []),
           "--engine", req.engine, "--weights", prec]  # fmt: skip
    for flag, value, default in (("--kv-cache", req.kv_cache, "bf16"), ("--context", req.context, None),
                                 ("--input", req.input_tokens, None), ("--output", req.output_tokens, None),
                                 ("--concurrency", req.concurrency, 1), ("--ram", req.ram_gb, None),
                                 ("--sockets", req.sockets, 1), ("--host-memory", req.host_memory, None),
                                 ("--channels", req.channels, None), ("--cores", req.cores, None)):  # fmt: skip
        if value is not None and value != default:
            cmd += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    try:
        text = suggestion(r.arch, req.gpus[0], gpus, prec, req.kv_cache, r.workload, r.cpu, cmd,
                          req.ram_gb * 1e9 if req.ram_gb is not None else None, req.engine)  # fmt: skip
    except SpecsizeError:
        return ""
    return f"; {text}" if text else ""


def plan_report_for(req: PlanRequest, arch: ModelArch | None = None) -> dict[str, Any]:
    """The `plan --json` report for a request (what the web page shows)."""
    return plan_result(req, arch).report


def plan_result(req: PlanRequest, arch: ModelArch | None = None, resolved: Resolved | None = None) -> PlanResult:
    """resolve_request (unless `resolved` is given), then plan.plan and report.plan_report, with the answer in
    words (answer.headline), the host (CPU offload), the --weights auto choice and the bench's this-machine table."""
    from specsize.answer import headline
    from specsize.engines import get_engine
    from specsize.hardware import get_gpu
    from specsize.kvcache import kv_dtype_bytes
    from specsize.launch import plan_commands
    from specsize.offload import host_json
    from specsize.plan import plan as make_plan
    from specsize.quant import get_precision
    from specsize.report import plan_report

    r = resolved if resolved is not None else resolve_request(req, arch)
    a, w, sp, bench, prec = r.arch, r.workload, r.spec, r.bench, r.precision
    # checked here in plan.plan's order (it checks them again) only to tag an error with its field
    with about("engine"):
        get_engine(req.engine)
    with about("gpus"):
        for g in req.gpus:
            get_gpu(g)
    with about("weights"):
        get_precision(prec)
    with about("workload"):
        w.check_against(a)
    with about("kv_cache"):
        kv_dtype_bytes(req.kv_cache)
    with about("plan"):
        p = make_plan(a, list(req.gpus) or None, prec, req.kv_cache, w, req.engine, sp, r.host, r.cpu,
                      inter_node=req.inter_node, repeat_fraction=r.repeat_fraction, cuda_graphs=req.cuda_graphs,
                      gpu_count=req.gpu_count, nodes=req.nodes)  # fmt: skip
    if p.chosen is None:
        reasons = "; ".join(f"{g.gpu}: {g.fit.reason}" for g in p.gpus)
        with about("gpus"):
            if all(g.fit.memory is not None and g.fit.memory.host_ram_short for g in p.gpus):
                raise PlanError(f"{a.name} ({prec}) with its routed experts in host RAM: {reasons}")
            hint = _gpu_layers_hint(req, r, prec)
            if req.gpu_count or req.nodes:  # the hardware the user has: say what is short there, and what would do
                with about("gpu_count"):  # a form shows it next to the count, not the GPU types
                    raise PlanError(f"{a.name} ({prec}) on the GPUs you have: {reasons}{hint}")
            raise PlanError(f"{a.name} ({prec}) does not fit on any GPU type asked for: {reasons}{hint}")
    report = plan_report(p, plan_commands(p, req.model, req.offload_experts))
    report["answer"] = headline(report, req.gpu_count or req.nodes)
    if req.offload_experts:
        given = any(x is not None for x in (req.host_memory, req.channels, req.cores))
        report["host"] = host_json(r.cpu, req.engine, r.host.numa_copies, given)
    if r.choice:
        report["weights_choice"] = r.choice.to_json()
        report["answer"].insert(0, r.choice.sentence())
    if bench is not None and sp.enabled:
        from specsize.calibration import measured_model, this_machine

        if measured_model(bench, req.model, a.name):
            report["this_machine"] = this_machine(bench, sp.method, sp.acceptance if req.acceptance else None)
        else:
            what = f"measured {bench.model}, not {a.name}" if bench.model else "does not name the model it measured"
            report["this_machine"] = {"reason": f"{bench.path} {what}: its acceptance only"}
    if r.measured_run is not None:
        from specsize.calibration import measured_calibration

        report["calibration"] = measured_calibration(r.measured_run, sp.method, sp.k, report)
        if r.measured_note:
            report["calibration"]["note"] = r.measured_note
    return PlanResult(r, p, report)
