"""`specsize plan --calibration bench.json`: use the acceptance `specsize bench` measured instead of the
planner's defaults (perf_constants). The bench's conditional per-position rates for the plan's method are
taken from the configuration with the plan's k, else from the one with the most positions measured."""

from __future__ import annotations

import json
from pathlib import Path

from specsize.errors import SpecsizeError


def measured_acceptance(path: str | Path, method: str, k: int) -> tuple[float, ...]:
    p = Path(path)
    try:
        report = json.loads(p.read_text(encoding="utf-8"))
        configs = report["configs"]
    except FileNotFoundError:
        raise SpecsizeError(f"--calibration {p}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SpecsizeError(f"--calibration {p}: not a `specsize bench --out` bench.json ({e})") from None
    rows = [c for c in configs if c.get("method") == method and c.get("conditional_acceptance")]
    if not rows:
        found = sorted({c.get("method") for c in configs})
        raise SpecsizeError(f"--calibration {p}: no measurement for method {method!r} (it has: {', '.join(found)})")
    row = next((c for c in rows if c.get("k") == k), max(rows, key=lambda c: len(c["conditional_acceptance"])))
    rates = tuple(min(max(float(a), 1e-6), 1.0) for a in row["conditional_acceptance"])  # (0, 1] for Speculative
    return rates
