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

from specsize.calibration import Bench
from specsize.config import ModelArch
from specsize.errors import PlanError, SpecsizeError
from specsize.plan import DEFAULT_ENGINE
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


def resolve_request(req: PlanRequest, arch: ModelArch | None = None) -> Resolved:
    """Defaults, spec parsing, --acceptance / --calibration merging. `arch`: the model already parsed (a pasted
    config.json), else req.model is resolved (resolve.load_model)."""
    from specsize.engines import get_engine
    from specsize.fit import default_precision
    from specsize.hardware import get_link
    from specsize.perf_constants import NGRAM_REPEAT_FRACTION
    from specsize.resolve import load_model
    from specsize.scenario import parse_spec

    with about("model"):
        a = arch if arch is not None else load_model(req.model)
    with about("workload"):
        w = build_workload(req.context, req.input_tokens, req.output_tokens, req.concurrency)
    spec = req.spec
    if spec is None:  # the embedded default: the model's own MTP head where the engine can use it
        with about("engine"):
            spec = "mtp:1" if a.has_mtp and "mtp" in get_engine(req.engine).spec_methods else "none"
    with about("spec"):
        sp = parse_spec(spec, a, draft_tp=req.draft_tp)
    bench = None
    if req.calibration:
        from specsize.calibration import read_bench

        with about("calibration"):
            bench = read_bench(req.calibration)
    if req.acceptance:
        with about("acceptance"):
            sp = replace(sp, acceptance=parse_acceptance(req.acceptance))
    elif bench is not None and sp.enabled:
        from specsize.calibration import measured_acceptance

        with about("calibration"):
            sp = replace(sp, acceptance=measured_acceptance(bench, sp.method, sp.k))
    rf = NGRAM_REPEAT_FRACTION if req.repeat_fraction is None else req.repeat_fraction
    if not 0 < rf <= 1:
        with about("repeat_fraction"):
            raise PlanError(f"--repeat-fraction must be in (0, 1], got {rf}")
    if req.inter_node:
        with about("inter_node"):
            get_link(req.inter_node)
    with about("host"):
        host = Host(req.offload_experts, req.ram_gb * 1e9 if req.ram_gb is not None else None, req.sockets)
    return Resolved(a, w, sp, bench, rf, host, req.weights or default_precision(a))


def plan_report_for(req: PlanRequest, arch: ModelArch | None = None) -> dict[str, Any]:
    """The `plan --json` report for a request (resolve_request, then plan.plan and report.plan_report)."""
    from specsize.engines import get_engine
    from specsize.hardware import get_gpu
    from specsize.kvcache import kv_dtype_bytes
    from specsize.launch import plan_commands
    from specsize.plan import plan as make_plan
    from specsize.quant import get_precision
    from specsize.report import plan_report

    r = resolve_request(req, arch)
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
        p = make_plan(a, list(req.gpus) or None, prec, req.kv_cache, w, req.engine, sp, r.host,
                      inter_node=req.inter_node, repeat_fraction=r.repeat_fraction,
                      cuda_graphs=req.cuda_graphs)  # fmt: skip
    if p.chosen is None:
        reasons = "; ".join(f"{g.gpu}: {g.fit.reason}" for g in p.gpus)
        with about("gpus"):
            raise PlanError(f"{a.name} ({prec}) does not fit on any GPU type asked for: {reasons}")
    report = plan_report(p, plan_commands(p, req.model, req.offload_experts))
    if bench is not None and sp.enabled:
        from specsize.calibration import measured_model, this_machine

        if measured_model(bench, req.model, a.name):
            report["this_machine"] = this_machine(bench, sp.method, sp.acceptance if req.acceptance else None)
        else:
            what = f"measured {bench.model}, not {a.name}" if bench.model else "does not name the model it measured"
            report["this_machine"] = {"reason": f"{bench.path} {what}: its acceptance only"}
    return report
