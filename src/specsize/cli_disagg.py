"""`specsize plan --disagg`: the prefill:decode split for a workload (disagg.py), as a table or JSON."""

from __future__ import annotations

from specsize.cli_json import emit_json


def show_disagg(a, gpus, precision, kv_cache, w, engine, spec, total, as_json) -> None:
    from specsize.disagg import plan_disagg
    from specsize.hardware import get_gpu
    from specsize.render import disagg_tables

    gpu = get_gpu(gpus[0] if gpus else "h200")
    report = plan_disagg(a, gpu, precision, kv_cache, w, engine, spec, total)
    report.update(model=a.name, weights=precision, engine=engine, spec=spec.describe())
    if as_json:
        emit_json(report)
    else:
        disagg_tables(report)
