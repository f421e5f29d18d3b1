"""The validation page's data: validate's own outcomes for the bundled published figures and measured.py's
predictions of the bundled measured corpus (the rows `specsize validate --measured --json` prints), filtered by
engine and GPU. Both corpora are predicted once per process (they are bundled and do not change)."""

from __future__ import annotations

from functools import cache
from typing import Any

from specsize.measured import BUNDLED_MEASURED, METRICS, load_points, run_points, summarize, worst
from specsize.validate import BUNDLED, Outcome, load_cases, run_case, summary

WORST = 40  # measured points listed in the table, largest |error| of the chosen metric first


@cache
def _published() -> tuple[tuple[Outcome, dict[str, Any]], ...]:
    """Every outcome of the bundled published.json with its case's engine, GPU and source."""
    out = []
    for case in load_cases(BUNDLED):
        s = case["scenario"]
        tags = {"engine": str(s.get("engine", "")), "gpu": str((s.get("hardware") or {}).get("gpu", "")),
                "source": str(case.get("source", ""))}  # fmt: skip
        out += [(o, tags) for o in run_case(case)]
    return tuple(out)


@cache
def _measured() -> tuple[dict[str, Any], ...]:
    return tuple(run_points(load_points(BUNDLED_MEASURED)))


def validation_view(engine: str = "", gpu: str = "", metric: str = METRICS[0]) -> dict[str, Any]:
    """Both corpora for the filters (empty: all): published rows (validate's outcome JSON + engine, gpu,
    source) with their summary; measured rows (measured.evaluate_point's) with measured.summarize and the
    worst points for `metric`; and the filters' choices."""

    def keep(e: str, g: str) -> bool:
        return (not engine or e == engine) and (not gpu or g == gpu)

    pub = [(o, t) for o, t in _published() if keep(t["engine"], t["gpu"])]
    meas = [r for r in _measured() if keep(r["engine"], r["gpu"])]
    everything = [(t["engine"], t["gpu"]) for _, t in _published()] + [(r["engine"], r["gpu"]) for r in _measured()]
    return {
        "published": {"rows": [{**o.to_json(), **t} for o, t in pub], "summary": summary([o for o, _ in pub])},
        "measured": {"rows": meas, "summary": summarize(meas) if meas else None, "worst": worst(meas, WORST, metric)},
        "engines": sorted({e for e, _ in everything}),
        "gpus": sorted({g for _, g in everything}),
        "metrics": list(METRICS),
    }
