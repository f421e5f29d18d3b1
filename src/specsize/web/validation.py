"""The validation page's rows: validate's own outcomes for the bundled published figures, each tagged with its
case's engine and GPU so the page can filter by them."""

from __future__ import annotations

from functools import cache
from typing import Any

from specsize.validate import BUNDLED, Outcome, load_cases, run_case, summary


@cache
def _published() -> tuple[tuple[Outcome, dict[str, Any]], ...]:
    """Every outcome of the bundled published.json with its case's tags (computed once per process)."""
    out = []
    for case in load_cases(BUNDLED):
        s = case["scenario"]
        tags = {"engine": str(s.get("engine", "")), "gpu": str((s.get("hardware") or {}).get("gpu", "")),
                "source": str(case.get("source", "")), "corpus": "published"}  # fmt: skip
        out += [(o, tags) for o in run_case(case)]
    return tuple(out)


def validation_view(engine: str = "", gpu: str = "") -> dict[str, Any]:
    """Rows (validate's outcome JSON + engine, gpu, source, corpus) for the filters, their summary, and the
    filters' choices."""
    everything = _published()
    chosen = [(o, t) for o, t in everything if (not engine or t["engine"] == engine) and (not gpu or t["gpu"] == gpu)]
    return {
        "rows": [{**o.to_json(), **t} for o, t in chosen],
        "summary": summary([o for o, _ in chosen]),
        "engines": sorted({t["engine"] for _, t in everything}),
        "gpus": sorted({t["gpu"] for _, t in everything}),
    }
