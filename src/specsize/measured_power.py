"""Measured output tokens per joule from the bundled corpus (catalog/validation/measured/tuning.jsonl): the runs
that recorded `avg_power_w` (watts per GPU, InferenceX's power telemetry) give output tok/s per GPU / avg_power_w.
The requirements sheet sets these next to its own tokens per joule at TDP."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import cache
from typing import Any

from specsize.measured import BUNDLED_MEASURED, load_points


@dataclass(frozen=True)
class MeasuredEfficiency:
    """The measured tokens per joule of a set of corpus points: median, range, count and what was matched."""

    median: float
    low: float
    high: float
    points: int
    concurrency: tuple[int, int]
    matched: str  # what the points are, e.g. "mi355x, sglang, fp8"


@cache
def power_points() -> tuple[dict[str, Any], ...]:
    """The corpus's aggregated (not disaggregated) points with a measured power: a disaggregated run counts
    output per decode GPU, so its per-GPU draw does not divide its tokens the same way."""
    return tuple(
        p for p in load_points(BUNDLED_MEASURED) if p["measured"].get("avg_power_w") and not p.get("disaggregated")
    )


def tokens_per_joule(p: dict[str, Any]) -> float:
    """Output tokens per joule of one point: output tok/s per GPU / average watts per GPU."""
    return p["measured"]["output_tok_s_per_gpu"] / p["measured"]["avg_power_w"]


def matching(gpu: str, engine: str, weights: str, method: str) -> list[dict[str, Any]]:
    """The power points on this GPU with this speculative method ("none" for plain decoding), narrowed to the
    engine and then the weights where any of them matches; [] when the corpus has none."""
    pts = [p for p in power_points() if p["gpu"] == gpu and p["speculative"]["method"] == method]
    for key, want in (("engine", engine), ("weights", weights)):
        narrowed = [p for p in pts if p[key] == want]
        if narrowed:
            pts = narrowed
    return pts


def measured_efficiency(gpu: str, engine: str, weights: str, method: str) -> MeasuredEfficiency | None:
    """The measured tokens per joule for this GPU, speculative method, and engine and weights where they match;
    None when the corpus has no such point."""
    pts = matching(gpu, engine, weights, method)
    if not pts:
        return None
    tpj = [tokens_per_joule(p) for p in pts]
    conc = [p["workload"]["concurrency"] for p in pts]
    what = ", ".join("/".join(sorted({p[k] for p in pts})) for k in ("gpu", "engine", "weights"))
    return MeasuredEfficiency(statistics.median(tpj), min(tpj), max(tpj), len(tpj), (min(conc), max(conc)), what)
