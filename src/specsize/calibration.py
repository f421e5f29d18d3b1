"""`specsize plan --calibration bench.json`: what `specsize bench` measured, in the planner's terms.

- Acceptance: the bench's conditional per-position rates for the plan's method replace the defaults
  (perf_constants) everywhere the plan evaluates speculation. They come from the configuration with the plan's
  k, else from the one with the most positions measured.
- Step times, for the machine the bench ran on: when the plan is for the bench's model, its measured T(n) of
  the target and of the drafter, and the decoding loop's own cost per step, give that machine's speedup at
  every k through the planner's round model (speculative.measured_speedup), next to the speedups the bench
  measured. The catalog's GPUs keep the roofline: a step time measured on one machine says nothing of another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specsize.errors import SpecsizeError
from specsize.perf_constants import MAX_K
from specsize.speculative import expected_length, measured_speedup


@dataclass(frozen=True)
class Bench:
    """The parts of a `specsize bench --out` bench.json the planner reads."""

    path: Path
    model: str
    machine: dict[str, Any]
    configs: list[dict[str, Any]]
    step_times: dict[str, list[float]] | None  # "target", "draft", "mtp": T(n) for n = 1.., seconds
    plain_tokens_per_s: float | None
    compiled: bool


def read_bench(path: str | Path) -> Bench:
    p = Path(path)
    try:
        r = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecsizeError(f"--calibration {p}: no such file") from None
    except (OSError, ValueError) as e:
        raise SpecsizeError(f"--calibration {p}: not a `specsize bench --out` bench.json ({e})") from None
    return bench_from_json(r, p)


def bench_from_json(r: Any, p: Path) -> Bench:
    """A bench.json already parsed (`p`: where it came from, for messages)."""
    try:
        configs = r["configs"]
        baseline = r.get("baseline") or {}
        plain = baseline.get("tokens_per_s", {}).get("median") if baseline else None
        steps = {str(name): [float(x) for x in ts] for name, ts in (r.get("step_times") or {}).items()}
        bench = Bench(p, str(r.get("model", "")), dict(r.get("machine") or {}), list(configs), steps or None,
                      float(plain) if plain else None,
                      bool((r.get("settings") or {}).get("compiled", False)))  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SpecsizeError(f"--calibration {p}: not a `specsize bench --out` bench.json ({e})") from None
    return bench


def measured_acceptance(bench: Bench, method: str, k: int) -> tuple[float, ...]:
    rows = [c for c in bench.configs if c.get("method") == method and c.get("conditional_acceptance")]
    if not rows:
        found = sorted({str(c.get("method")) for c in bench.configs})
        raise SpecsizeError(f"--calibration {bench.path}: no measurement for method {method!r} "
                            f"(it has: {', '.join(found)})")  # fmt: skip
    row = next((c for c in rows if c.get("k") == k), max(rows, key=lambda c: len(c["conditional_acceptance"])))
    return tuple(min(max(float(a), 1e-6), 1.0) for a in row["conditional_acceptance"])  # (0, 1] for Speculative


def measured_model(bench: Bench, model: str, arch_name: str) -> bool:
    """Whether the bench measured the plan's model (the same name or the same resolved model)."""
    from specsize.resolve import load_model

    if not bench.model or bench.model == model:
        return bench.model == model
    try:
        return load_model(bench.model).name == arch_name
    except SpecsizeError:
        return False


def this_machine(bench: Bench, method: str, acceptance: tuple[float, ...] | None = None,
                 max_k: int = MAX_K) -> dict[str, Any]:  # fmt: skip
    """Speedup per k on the bench's machine from its measured step times and acceptance (measured_acceptance at
    each k, or `acceptance` when given; later positions repeat the last rate, as --acceptance does), with the
    bench's measured speedup where it ran that k. Returns {"reason": ...} when the file lacks what this needs."""
    steps = bench.step_times or {}
    if "target" not in steps or not bench.plain_tokens_per_s:
        return {"reason": f"{bench.path} has no step times (bench ran with --no-steps): acceptance only"}
    t = steps["target"]
    if len(t) < 2 or min(t) <= 0:
        return {"reason": f"{bench.path}: step_times.target needs T(1) and T(2) at least, in seconds > 0: "
                          "acceptance only"}  # fmt: skip
    t_draft = steps.get(method) if method in ("mtp", "draft") else None
    if method in ("mtp", "draft") and t_draft is None:
        return {"reason": f"{bench.path} has no step times for the {method} drafter: acceptance only"}
    overhead = max(1 / bench.plain_tokens_per_s - t[0], 0.0)  # the loop's own cost per step, measured
    measured = {c.get("k"): c.get("speedup") for c in bench.configs if c.get("method") == method}
    rows = []
    for k in range(1, min(max_k, len(t) - 1) + 1):
        alphas = acceptance or measured_acceptance(bench, method, k)
        a = tuple(alphas[:k]) + (alphas[-1],) * max(0, k - len(alphas))
        s = measured_speedup(method, k, a, t, t_draft, overhead)
        rows.append({"k": k, "expected_length": expected_length(a), "speedup": s,
                     "tokens_per_s": s * bench.plain_tokens_per_s, "measured_speedup": measured.get(k)})  # fmt: skip
    best = max(rows, key=lambda r: r["speedup"])
    return {"source": str(bench.path), "model": bench.model, "machine": bench.machine, "compiled": bench.compiled,
            "method": method, "plain_tokens_per_s": bench.plain_tokens_per_s, "step_overhead_s": overhead,
            "rows": rows, "best_k": best["k"]}  # fmt: skip
