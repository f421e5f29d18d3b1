"""`specsize plan --calibration serve.json`: the batched engine's measurements (benchmarks/bench_serve.py) in
the planner's terms, at every concurrency C it ran.

bench_serve times one forward of C rows of n tokens, T_C(n), for the target and each drafter, the decoding
loop's own cost per round at C, and the acceptance at C. The planner's round model (speculative.measured_speedup)
on those figures predicts speculation's speedup at each C on that machine: what a CPU has no roofline entry for
in the hardware catalog. The batch-1 row also fills the plain bench.json fields (step times at batch 1, the
acceptance), so everything `--calibration bench.json` does works the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from specsize.errors import SpecsizeError
from specsize.speculative import expected_length, measured_speedup


def is_serve_bench(r: Any) -> bool:
    """Whether a parsed JSON file is bench_serve.py's serve.json (rows of step times per concurrency)."""
    return isinstance(r, dict) and isinstance(r.get("rows"), list) and bool(r["rows"]) and "T" in r["rows"][0]


def _conditional(res: dict[str, Any]) -> list[float]:
    """Conditional per-position acceptance of one method at one C (older files kept only P(position i))."""
    if res.get("conditional_acceptance"):
        return [float(x) for x in res["conditional_acceptance"]]
    a = [float(x) for x in res.get("alphas") or []]
    return [x / p if p else 0.0 for x, p in zip(a, [1.0, *a], strict=False)]


def batches_from_serve(r: dict[str, Any], p: Path) -> list[dict[str, Any]]:
    """One entry per concurrency: C, T_C(n) of the target, the loop overhead per round, plain decode tok/s, and per
    method its k, T_C(n) of the drafter, conditional acceptance and measured speedup."""
    try:
        out = []
        for row in sorted(r["rows"], key=lambda x: int(x["concurrency"])):
            methods = {str(m): {"k": int(res["k"]), "T_draft": [float(x) for x in res["T_draft"]],
                                "conditional_acceptance": _conditional(res), "speedup": float(res["speedup"]),
                                "mean_acceptance_length": float(res["mean_acceptance_length"])}
                       for m, res in row["methods"].items()}  # fmt: skip
            plain = float(row["plain"]["decode_tokens_per_s"])
            out.append({"concurrency": int(row["concurrency"]), "T": [float(x) for x in row["T"]],
                        "overhead_s": float(row["overhead_s"]), "plain_tokens_per_s": plain,
                        "methods": methods})  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:
        raise SpecsizeError(f"--calibration {p}: not a benchmarks/bench_serve.py serve.json ({e})") from None
    return out


def bench_fields(r: dict[str, Any], p: Path) -> dict[str, Any]:
    """calibration.Bench's fields from a serve.json: the batch-1 (smallest C) row as a batch-1 bench, and the
    rows of every C under `batches`."""
    batches = batches_from_serve(r, p)
    first = batches[0]
    configs = [{"method": m, "k": res["k"], "conditional_acceptance": res["conditional_acceptance"],
                "speedup": res["speedup"]} for m, res in first["methods"].items()]  # fmt: skip
    steps = {"target": first["T"], **{m: res["T_draft"] for m, res in first["methods"].items()}}
    machine = dict(r.get("machine") or {})
    machine.setdefault("batch", first["concurrency"])
    return {"model": str(r.get("model", "")), "machine": machine, "configs": configs, "step_times": steps,
            "plain_tokens_per_s": first["plain_tokens_per_s"], "compiled": False, "batches": batches}  # fmt: skip


def batched_rows(batches: list[dict[str, Any]], method: str,
                 acceptance: tuple[float, ...] | None) -> list[dict[str, Any]]:  # fmt: skip
    """At each measured C where `method` ran: the round model's speedup on T_C(n), the overhead at C and the
    acceptance (`acceptance` when given, else the one measured at C; later positions repeat the last rate),
    next to the measured speedup."""
    rows = []
    for b in batches:
        res = b["methods"].get(method)
        if res is None:
            continue
        k = res["k"]
        alphas = list(acceptance or res["conditional_acceptance"]) or [0.0]
        a = tuple(alphas[:k]) + (alphas[-1],) * max(0, k - len(alphas))
        s = measured_speedup(method, k, a, b["T"], res["T_draft"], b["overhead_s"])
        rows.append({"concurrency": b["concurrency"], "k": k, "expected_length": expected_length(a),
                     "step_ms": b["T"][0] * 1e3, "verify_ratio": b["T"][k] / b["T"][0],
                     "overhead_ms": b["overhead_s"] * 1e3, "speedup": s,
                     "tokens_per_s": s * b["plain_tokens_per_s"], "plain_tokens_per_s": b["plain_tokens_per_s"],
                     "measured_speedup": res["speedup"]})  # fmt: skip
    return rows
