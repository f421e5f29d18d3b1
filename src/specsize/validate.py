"""`specsize validate`: predict every `expect` metric of every case in files of the format of
docs/validation-format.md (the bundled published.json by default) and compare.

Defaults for keys a case leaves out (the format's documented defaults):
kv_cache bf16; workload 1 x (4096 + 4096) tokens (scenario.Workload); layout: the engine's usual layout for
hardware.count GPUs (fit.candidate_layouts); speculative method none, k = 1 for mtp and 4 otherwise,
acceptance the method's default (perf_constants); hardware.memory_gb: the unified memory of an Apple GPU
(its capacity), else the host RAM (checked when experts are offloaded); hardware.inter_node: the GPU's usual.
Extensions (optional keys): speculative.draft (a model name for method "draft"), speculative.repeat_fraction
(n-gram: share of the output that repeats the input).
offload.gpu_layers N (llama.cpp -ngl N on hardware.count GPUs, 1 if not given, the rest of the layers on the CPU) is
predicted by the model `plan --gpu-layers` uses (gpu_layers.Splitter): tpot_ms and output_tok_s_per_user (1 / TPOT),
plain decoding.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from specsize.deployment import HostCPU, build_deployment
from specsize.engines import get_engine
from specsize.errors import SpecsizeError
from specsize.fit import candidate_layouts, fit_gpu
from specsize.hardware import get_gpu
from specsize.kvcache import kv_bytes_per_token
from specsize.memory import memory_per_gpu
from specsize.perf_constants import NGRAM_REPEAT_FRACTION
from specsize.quant import checkpoint_bytes, get_precision
from specsize.resolve import load_model
from specsize.scenario import (
    Host,
    Layout,
    Speculative,
    Workload,
    check_draft_vocab,
    default_k,
    layout_from_spelling,
)
from specsize.serving import Pool, prefill_cost, steady_state
from specsize.speculative import evaluate
from specsize.tensors import tensor_groups

BUNDLED = Path(__file__).parent / "catalog" / "validation" / "published.json"
PERF_METRICS = ("speedup", "tpot_ms", "ttft_ms", "output_tok_s_per_user", "output_tok_s_per_gpu", "prefill_tok_s")


class ValidationInputError(SpecsizeError):
    """A validation file that cannot be read as the format (the only error that makes validate exit non-zero)."""


@dataclass
class Outcome:
    id: str
    metric: str
    predicted: float | None
    expected: Any  # a number or {"min": a, "max": b}
    error: float | None  # relative: (predicted - expected) / expected
    passed: bool
    tolerance: float = 0.0
    message: str = ""  # why a case could not be predicted

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationInputError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValidationInputError(f"{p}: cannot read it ({e})") from None
    except json.JSONDecodeError as e:
        raise ValidationInputError(f"{p}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
        raise ValidationInputError(f"{p}: expected a JSON list of cases (objects), see the format's README")
    for i, c in enumerate(data):
        for key in ("id", "scenario", "expect"):
            if key not in c:
                raise ValidationInputError(f"{p}: case {i} has no {key!r}")
        if not isinstance(c["expect"], dict) or not isinstance(c["scenario"], dict):
            raise ValidationInputError(f"{p}: case {c['id']!r}: scenario and expect must be objects")
    return data


@dataclass
class Scenario:
    """A case's scenario resolved into specsize's objects."""

    raw: dict[str, Any]

    def __post_init__(self):
        s = self.raw
        for key in ("model", "weights", "hardware", "engine"):
            if key not in s:
                raise SpecsizeError(f"scenario has no {key!r} (required)")
        hw = s["hardware"]
        if "gpu" not in hw:
            raise SpecsizeError("scenario hardware has no 'gpu' (required)")
        self.arch = load_model(s["model"])
        self.precision = get_precision(s["weights"]).name
        self.kv = s.get("kv_cache", "bf16")
        self.gpu = get_gpu(hw["gpu"])
        self.engine = get_engine(s["engine"])
        self.count = hw.get("count")
        self.inter_node = hw.get("inter_node")
        self.workload = Workload(**s.get("workload", {}))
        self.spec, self.repeat_fraction = _speculative(s.get("speculative", {}), self.arch)
        cpu = hw.get("cpu") or {}
        self.cpu = HostCPU(**{k: v for k, v in {"memory": cpu.get("memory"), "sockets": cpu.get("sockets"),
                                                 "channels_per_socket": cpu.get("channels_per_socket"),
                                                 "cores_per_socket": cpu.get("cores_per_socket"),
                                                 "threads": cpu.get("threads")}.items()
                              if v is not None})  # fmt: skip
        offload = (s.get("offload") or {}).get("experts") == "cpu"
        memory_gb = hw.get("memory_gb")
        self.capacity = None
        ram = None
        if memory_gb is not None:
            if self.gpu.unified_memory:
                self.capacity = memory_gb * 1e9 * self.gpu.default_wired_fraction
            else:
                ram = memory_gb * 1e9
        copies = self.cpu.sockets if offload and self.engine.name == "ktransformers" else 1
        self.host = Host(offload, ram, copies)
        self.layout = self._layout(s.get("layout"))
        self.gpu_layers = _gpu_layers(s.get("offload") or {}, self)

    def _layout(self, raw: dict[str, Any] | None) -> Layout | None:
        if raw:
            lay = layout_from_spelling(raw)
            if self.count is not None and lay.gpus != self.count:
                raise SpecsizeError(f"layout {lay.describe()} uses {lay.gpus} GPUs (tp x pp x dp) but hardware.count "
                                    f"is {self.count}; make them agree")  # fmt: skip
            return lay
        if self.count is None:
            return None
        for lay in candidate_layouts(self.arch, self.gpu, self.engine, self.spec):
            if lay.gpus == self.count:
                return lay
        return Layout(pp=self.count) if self.engine.llamacpp_split else Layout(tp=self.count)

    def require_layout(self) -> Layout:
        if self.layout is None:
            raise SpecsizeError("this metric needs hardware.count or a layout")
        return self.layout

    @cached_property
    def deployment(self):
        """Built once per case, however many performance metrics it expects."""
        return build_deployment(self.arch, self.gpu, self.precision, self.kv, self.require_layout(), self.engine,
                                self.spec, self.host, self.cpu, self.inter_node)  # fmt: skip


def _gpu_layers(offload: dict[str, Any], sc: Scenario) -> int | None:
    """offload.gpu_layers: llama.cpp's -ngl N on hardware.count GPUs (its layer split; 1 when not given), plain
    decoding (what gpu_layers.py models)."""
    n = offload.get("gpu_layers")
    if n is None:
        return None
    if not isinstance(n, int) or isinstance(n, bool):
        raise SpecsizeError(f"offload.gpu_layers {n!r}: give a number of layers (llama.cpp -ngl N)")
    if not 0 <= n <= sc.arch.num_layers:
        raise SpecsizeError(f"offload.gpu_layers {n}: {sc.arch.name} has {sc.arch.num_layers} layers; give 0 to "
                            f"{sc.arch.num_layers}")  # fmt: skip
    if not sc.engine.llamacpp_split:
        raise SpecsizeError("offload.gpu_layers is llama.cpp's -ngl: the engine must be llamacpp or ik_llamacpp")
    if sc.layout is not None and sc.layout.gpus != sc.layout.pp:
        raise SpecsizeError(f"offload.gpu_layers is llama.cpp's layer split (--split-mode layer) over hardware.count "
                            f"GPUs, not {sc.layout.describe()}: drop the layout")  # fmt: skip
    if sc.spec.enabled:
        raise SpecsizeError("offload.gpu_layers is modelled for plain decoding: drop speculative (or method none)")
    return n


GPU_LAYERS_METRICS = ("tpot_ms", "output_tok_s_per_user")


def _split_metric(sc: Scenario, metric: str) -> float:
    """tpot_ms or output_tok_s_per_user of the -ngl split, from the model `plan --gpu-layers` uses."""
    from specsize.gpu_layers import Splitter

    if metric not in GPU_LAYERS_METRICS:
        raise SpecsizeError(f"with offload.gpu_layers, {metric} is not modelled (the split predicts "
                            f"{' and '.join(GPU_LAYERS_METRICS)})")  # fmt: skip
    gpus = sc.layout.pp if sc.layout is not None else sc.count or 1  # the layer split's GPUs (_gpu_layers)
    s = Splitter(sc.arch, sc.gpu, sc.precision, sc.kv, sc.workload, sc.cpu, gpus).split(sc.gpu_layers)
    if not s.fits:
        raise SpecsizeError(f"does not fit: -ngl {s.n} needs {s.gpu_bytes / 1e9:.1f} GB on the busiest {sc.gpu.id}, "
                            f"its budget is {s.budget / 1e9:.1f} GB: no speed to predict")  # fmt: skip
    return s.tpot * 1e3 if metric == "tpot_ms" else 1 / s.tpot


def _speculative(raw: dict[str, Any], arch) -> tuple[Speculative, float]:
    method = raw.get("method", "none")
    k = raw.get("num_speculative_tokens", default_k(method))
    acc = raw.get("acceptance")
    draft = None
    if method == "draft":
        if "draft" not in raw:
            raise SpecsizeError("speculative method 'draft' needs speculative.draft (a model)")
        draft = load_model(raw["draft"])
        check_draft_vocab(arch, draft)
    spec = Speculative(method, k, draft, raw.get("draft_tp"), tuple(acc) if acc else None)
    return spec, raw.get("repeat_fraction", NGRAM_REPEAT_FRACTION)


def predict(sc: Scenario, metric: str) -> float:
    """The planner's prediction of one metric for one scenario."""
    a, w = sc.arch, sc.workload
    if metric == "checkpoint_gb":
        return checkpoint_bytes(tensor_groups(a), sc.precision) / 1e9
    if metric == "kv_bytes_per_token":
        return float(kv_bytes_per_token(a, sc.kv))
    if sc.gpu_layers is not None:
        return _split_metric(sc, metric)
    if metric == "min_gpus":
        r = fit_gpu(a, sc.gpu, sc.precision, sc.kv, w, sc.engine, sc.spec, sc.host, sc.capacity)
        if not r.fits:
            raise SpecsizeError(r.reason)
        return float(r.gpus)
    if metric in ("weights_gb_per_gpu", "max_concurrency"):
        m = memory_per_gpu(a, sc.gpu, sc.precision, sc.kv, sc.require_layout(), w, sc.engine, sc.spec, sc.host,
                           sc.capacity)  # fmt: skip
        return m.weights_bytes / 1e9 if metric == "weights_gb_per_gpu" else float(m.max_concurrency)
    if metric in PERF_METRICS:
        return _perf(sc, metric)
    raise SpecsizeError(f"unknown metric {metric!r}")


def _perf(sc: Scenario, metric: str) -> float:
    """Speedup: the speculative round model at the workload's concurrency; the serving metrics: the steady state
    of `concurrency` users each with a request in flight (serving.steady_state: prefill share and wait included)."""
    w = sc.workload
    m = memory_per_gpu(sc.arch, sc.gpu, sc.precision, sc.kv, sc.require_layout(), w, sc.engine, sc.spec, sc.host,
                       sc.capacity)  # fmt: skip
    if not m.fits and sc.gpu.unified_memory:  # a measured Mac ran with the wired limit raised (iogpu.wired_limit_mb)
        cap = sc.capacity / sc.gpu.default_wired_fraction if sc.capacity else sc.gpu.memory_bytes
        m = memory_per_gpu(sc.arch, sc.gpu, sc.precision, sc.kv, sc.require_layout(), w, sc.engine, sc.spec,
                           sc.host, cap)  # fmt: skip
    if not m.fits:
        short = f"; short by {-m.headroom / 1e9:.1f} GB per GPU" if m.headroom < 0 else ""
        raise SpecsizeError(f"does not fit: {sc.require_layout().describe()} of {sc.gpu.id} under the rule "
                            f"'{m.budget_rule}'{short}: no speed to predict")  # fmt: skip
    dep = sc.deployment
    if metric == "speedup":
        if not sc.spec.enabled:
            raise SpecsizeError("speedup needs a speculative method")
        return evaluate(dep, w.concurrency, w.mean_context, repeat_fraction=sc.repeat_fraction).speedup
    if sc.spec.method == "ngram" and sc.repeat_fraction != NGRAM_REPEAT_FRACTION:
        dep = replace(dep, spec=replace(dep.spec, acceptance=(sc.repeat_fraction,) * dep.spec.k))
    if metric == "prefill_tok_s":  # one prompt alone, as llama-bench's pp<N> times it
        return w.input_tokens / prefill_cost(dep, w.input_tokens, batched=False)
    point = steady_state(Pool(dep), w.concurrency, w.input_tokens, w.output_tokens)
    if metric == "ttft_ms":
        return point.ttft * 1e3
    if metric == "tpot_ms":
        return point.tpot * 1e3
    if metric == "output_tok_s_per_user":
        return point.tok_s_per_user
    return point.tok_s_per_gpu()


def _judge(predicted: float, expected: Any, tol: float) -> tuple[float | None, bool]:
    if isinstance(expected, dict):
        lo, hi = expected.get("min", float("-inf")), expected.get("max", float("inf"))
        return None, lo <= predicted <= hi
    err = (predicted - expected) / expected if expected else predicted - expected
    return err, abs(predicted - expected) <= tol * abs(expected)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _target_problem(expected: Any) -> str:
    """Why an expect value is not a target ("" when it is one): a finite number, or {"min": a, "max": b}."""
    if isinstance(expected, dict):
        bad = [k for k, v in expected.items() if k not in ("min", "max") or not _finite(v)]
        if bad or not expected:
            return f"expected value {expected!r}: a range is {{'min': number, 'max': number}}"
        return ""
    return "" if _finite(expected) else f"expected value {expected!r} is not a finite number; give a number or a range"


def _tolerance(case: dict[str, Any]) -> tuple[float, str]:
    tol = case.get("tolerance", 0.0)
    if not _finite(tol) or tol < 0:
        return 0.0, f"tolerance {tol!r} must be a number >= 0 (relative: 0.2 = 20%)"
    return float(tol), ""


def run_case(case: dict[str, Any]) -> list[Outcome]:
    tol, problem = _tolerance(case)
    if problem:
        return [Outcome(case["id"], m, None, v, None, False, tol, problem) for m, v in case["expect"].items()]
    outs = []
    try:
        sc = Scenario(case["scenario"])
    except (SpecsizeError, TypeError) as e:
        return [Outcome(case["id"], m, None, v, None, False, tol, f"scenario: {e}") for m, v in case["expect"].items()]
    for metric, expected in case["expect"].items():
        if problem := _target_problem(expected):
            outs.append(Outcome(case["id"], metric, None, expected, None, False, tol, problem))
            continue
        try:
            p = predict(sc, metric)
        except (SpecsizeError, TypeError, ValueError) as e:
            outs.append(Outcome(case["id"], metric, None, expected, None, False, tol, str(e)))
            continue
        err, ok = _judge(p, expected, tol)
        outs.append(Outcome(case["id"], metric, p, expected, err, ok, tol))
    return outs


def run_files(paths: list[str | Path]) -> list[Outcome]:
    cases = [c for p in (paths or [BUNDLED]) for c in load_cases(p)]  # read all first: bad input fails early
    return [o for c in cases for o in run_case(c)]


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    errs = [abs(o.error) for o in outcomes if o.error is not None]
    perf = [abs(o.error) for o in outcomes if o.error is not None and o.metric in PERF_METRICS]
    return {
        "passed": sum(o.passed for o in outcomes),
        "failed": sum(not o.passed for o in outcomes),
        "median_error": statistics.median(errs) if errs else None,
        "median_perf_error": statistics.median(perf) if perf else None,
    }
