"""Vega-Lite specs (plain dicts) for the page's charts. Rendering only: every value is read from a `plan --json`
report or from validate's outcomes; nothing is computed here but unit changes for the axes (bytes -> GB)."""

from __future__ import annotations

from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # an identifier only: vega-embed never fetches it
WIDTH, HEIGHT = 420, 260
# Pan and zoom with the mouse on every x-y chart, and a tooltip on every mark.
ZOOM = [{"name": "zoom", "select": "interval", "bind": "scales"}]


def _base(title: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    return {"$schema": SCHEMA, "title": title, "width": WIDTH, "height": HEIGHT, "data": {"values": values}}


def _label(g: dict[str, Any]) -> str:
    o = g["recommended"]
    return f"{g['gpu']} x {o['gpus']} {o['layout']['text']}"


def memory_chart(report: dict[str, Any]) -> dict[str, Any]:
    """Per-GPU memory of each GPU type's recommended layout, stacked by term (weights, MTP/draft, KV, ...)."""
    values = []
    for g in report["gpus"]:
        if not g["fits"]:
            continue
        for i, t in enumerate(g["recommended"]["memory_breakdown"]):
            values.append({"layout": _label(g), "term": t["term"], "order": i, "GB": t["bytes"] / 1e9,
                           "note": t["note"]})  # fmt: skip
    spec = _base("memory per GPU, recommended layout", values)
    spec["height"] = max(60, 34 * len({v["layout"] for v in values}))
    spec["mark"] = {"type": "bar", "tooltip": True}
    spec["encoding"] = {
        "y": {"field": "layout", "type": "nominal", "title": None, "sort": None},
        "x": {"field": "GB", "type": "quantitative", "aggregate": "sum", "title": "GB per GPU (1e9 bytes)"},
        "color": {"field": "term", "type": "nominal", "sort": None, "legend": {"orient": "bottom", "columns": 4}},
        "order": {"field": "order", "type": "ordinal"},
        "tooltip": [{"field": "layout"}, {"field": "term"}, {"field": "GB", "type": "quantitative", "format": ",.3f"},
                    {"field": "note"}],
    }  # fmt: skip
    return spec


def _curve_values(report: dict[str, Any], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for g in report["gpus"]:
        if not g["fits"]:
            continue
        for p in g["curve"]:
            row = {"layout": _label(g), "concurrency": p["concurrency"]}
            row.update({k: p.get(k) for k in keys})
            rows.append(row)
    return rows


def _line(title: str, values, y: str, y_title: str, rule: float | None = None) -> dict[str, Any]:
    line = {
        "mark": {"type": "line", "point": True, "tooltip": True},
        "params": ZOOM,
        "encoding": {
            "x": {"field": "concurrency", "type": "quantitative", "scale": {"type": "log", "base": 2},
                  "title": "concurrent requests"},
            "y": {"field": y, "type": "quantitative", "title": y_title, "scale": {"zero": False}},
            "color": {"field": "layout", "type": "nominal", "title": "GPU", "legend": {"orient": "bottom"}},
            "tooltip": [{"field": "layout"}, {"field": "concurrency"}, {"field": y, "format": ".3f"}],
        },
    }  # fmt: skip
    spec = _base(title, values)
    spec["layer"] = [line]
    if rule is not None:
        spec["layer"].append({"data": {"values": [{"y": rule}]}, "mark": {"type": "rule", "color": "grey"},
                              "encoding": {"y": {"field": "y", "type": "quantitative"}}})  # fmt: skip
    return spec


def speedup_chart(report: dict[str, Any]) -> dict[str, Any]:
    values = _curve_values(report, ("speedup", "best_k", "best_speedup"))
    return _line(f"speedup of {report['spec']} vs concurrency", values, "speedup", "speedup (x)", rule=1.0)


def moe_penalty_chart(report: dict[str, Any]) -> dict[str, Any]:
    values = [v for v in _curve_values(report, ("moe_penalty",)) if v["moe_penalty"]]
    return _line("MoE penalty of verifying k+1 tokens vs concurrency", values, "moe_penalty", "MoE penalty (x)")


def throughput_chart(report: dict[str, Any]) -> dict[str, Any]:
    """Tokens/s per GPU against tokens/s per user along the curve, plain and with speculation."""
    values = []
    spec = report["spec"] != "none"
    for v in _curve_values(report, ("tok_s_per_user", "tok_s_per_gpu", "spec_tok_s_per_user", "spec_tok_s_per_gpu")):
        values.append({"layout": v["layout"], "concurrency": v["concurrency"], "decoding": "plain",
                       "user": v["tok_s_per_user"], "gpu": v["tok_s_per_gpu"]})  # fmt: skip
        if spec:
            values.append({"layout": v["layout"], "concurrency": v["concurrency"], "decoding": report["spec"],
                           "user": v["spec_tok_s_per_user"], "gpu": v["spec_tok_s_per_gpu"]})  # fmt: skip
    out = _base("throughput vs latency", values)
    out["mark"] = {"type": "line", "point": True, "tooltip": True}
    out["params"] = ZOOM
    out["encoding"] = {
        "x": {"field": "user", "type": "quantitative", "title": "output tokens/s per user"},
        "y": {"field": "gpu", "type": "quantitative", "title": "output tokens/s per GPU", "scale": {"type": "log"}},
        "color": {"field": "layout", "type": "nominal", "title": "GPU", "legend": {"orient": "bottom"}},
        "strokeDash": {"field": "decoding", "type": "nominal", "legend": {"orient": "bottom"},
                       "scale": {"domain": ["plain", report["spec"]], "range": [[4, 3], [1, 0]]}},  # plain dashed
        "detail": {"field": "decoding"},
        "order": {"field": "concurrency", "type": "quantitative"},
        "tooltip": [{"field": "layout"}, {"field": "decoding"}, {"field": "concurrency"},
                    {"field": "user", "format": ",.1f", "title": "tok/s per user"},
                    {"field": "gpu", "format": ",.1f", "title": "tok/s per GPU"}],
    }  # fmt: skip
    return out


def plan_charts(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    charts = {"memory": memory_chart(report), "throughput": throughput_chart(report)}
    if report["spec"] != "none":
        charts["speedup"] = speedup_chart(report)
        if any(v["moe_penalty"] for v in _curve_values(report, ("moe_penalty",))):
            charts["moe_penalty"] = moe_penalty_chart(report)
    return charts


LOG_AXIS = {"type": "log"}
AXIS = {"labelOverlap": True, "format": ",~g"}  # 1,000 not 1e+3; overlapping labels on log axes dropped


def _diagonal(lo: float, hi: float, factor: float = 1.0, dash: tuple[int, int] = (4, 4)) -> dict[str, Any]:
    """The line predicted = factor x measured across [lo, hi]."""
    return {"data": {"values": [{"a": lo, "b": lo * factor}, {"a": hi, "b": hi * factor}]},
            "mark": {"type": "line", "color": "grey", "strokeDash": list(dash), "strokeWidth": 1},
            "encoding": {"x": {"field": "a", "type": "quantitative"},
                         "y": {"field": "b", "type": "quantitative"}}}  # fmt: skip


def _span(values: list[dict[str, Any]], a: str, b: str) -> tuple[float, float]:
    xs = [v[k] for v in values for k in (a, b)]
    return (min(xs), max(xs)) if xs else (1.0, 10.0)


def validation_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Published figures: predicted against published, log-log, one point per case and metric, with y = x."""
    values = [r for r in rows if r["predicted"] and isinstance(r["expected"], (int, float)) and r["expected"] > 0
              and r["predicted"] > 0]  # fmt: skip
    points = {
        "mark": {"type": "point", "filled": True, "size": 60, "tooltip": True},
        "params": ZOOM,
        "encoding": {
            "x": {"field": "expected", "type": "quantitative", "scale": LOG_AXIS, "axis": AXIS, "title": "published"},
            "y": {"field": "predicted", "type": "quantitative", "scale": LOG_AXIS, "axis": AXIS, "title": "predicted"},
            "color": {"field": "metric", "type": "nominal", "legend": {"orient": "bottom", "columns": 3}},
            "shape": {"field": "engine", "type": "nominal", "legend": {"orient": "bottom"}},
            "tooltip": [{"field": "id"}, {"field": "metric"}, {"field": "engine"}, {"field": "gpu"},
                        {"field": "predicted", "format": ",.4g"}, {"field": "expected", "format": ",.4g"},
                        {"field": "error", "format": "+.1%"}],
        },
    }  # fmt: skip
    spec = _base("published figures: predicted vs published (dashed: equal)", values)
    spec["width"] = spec["height"] = 360
    spec["layer"] = [points, _diagonal(*_span(values, "expected", "predicted"))]
    return spec


def measured_chart(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Measured serving points: predicted against measured `metric`, log-log, with y = x (dashed) and
    +-25% (dotted); click an engine in the legend to pick it out."""
    values = []
    for r in rows:
        m = r["metrics"].get(metric)
        if m and m["predicted"] and m["measured"]:
            values.append({"id": r["id"], "engine": r["engine"], "gpu": r["gpu"], "gpus": r["gpus"],
                           "weights": r["weights"], "spec": r["spec"], "mode": r["mode"],
                           "concurrency": r["concurrency"], "predicted": m["predicted"], "measured": m["measured"],
                           "error": m["error"]})  # fmt: skip
    pick = {"name": "pick", "select": {"type": "point", "fields": ["engine"]}, "bind": "legend"}
    points = {
        "mark": {"type": "point", "filled": True, "size": 22, "tooltip": True},
        "params": [*ZOOM, pick],
        "encoding": {
            "x": {"field": "measured", "type": "quantitative", "scale": LOG_AXIS, "axis": AXIS, "title": "measured"},
            "y": {"field": "predicted", "type": "quantitative", "scale": LOG_AXIS, "axis": AXIS, "title": "predicted"},
            "color": {"field": "engine", "type": "nominal", "legend": {"orient": "bottom"}},
            "shape": {"field": "mode", "type": "nominal", "legend": {"orient": "bottom"}},
            "opacity": {"condition": {"param": "pick", "value": 0.75}, "value": 0.08},
            "tooltip": [{"field": "id"}, {"field": "engine"}, {"field": "gpu"}, {"field": "gpus"},
                        {"field": "weights"}, {"field": "spec"}, {"field": "mode"}, {"field": "concurrency"},
                        {"field": "predicted", "format": ",.4g"}, {"field": "measured", "format": ",.4g"},
                        {"field": "error", "format": "+.1%"}],
        },
    }  # fmt: skip
    lo, hi = _span(values, "measured", "predicted")
    spec = _base(f"measured corpus: {metric}, predicted vs measured (dashed: equal; dotted: +-25%)", values)
    spec["width"] = spec["height"] = 420
    spec["layer"] = [points, _diagonal(lo, hi), _diagonal(lo, hi, 1.25, (1, 3)), _diagonal(lo, hi, 0.75, (1, 3))]
    return spec
