"""The validate command's terminal tables: published figures (validate_table) and measured serving points
(measured_tables)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from specsize.render import console


def validate_table(outcomes: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    t = Table(title="predicted vs published")
    for c in ("case", "metric", "predicted", "published", "error", "tolerance", ""):
        t.add_column(c, justify="left" if c in ("case", "metric", "") else "right")
    for o in outcomes:
        exp = o["expected"]
        if isinstance(exp, dict):
            exp_s = f"{exp.get('min', '')}..{exp.get('max', '')}"
        else:
            exp_s = f"{exp:,.6g}" if isinstance(exp, (int, float)) and not isinstance(exp, bool) else repr(exp)
        t.add_row(o["id"], o["metric"], "-" if o["predicted"] is None else f"{o['predicted']:,.6g}", exp_s,
                  "-" if o["error"] is None else f"{o['error']:+.1%}", f"{o['tolerance']:.0%}",
                  "[green]pass[/green]" if o["passed"] else f"[red]FAIL[/red] {o['message']}")  # fmt: skip
    console.print(t)
    med, perf = summary["median_error"], summary["median_perf_error"]
    console.print(f"{summary['passed']} passed, {summary['failed']} failed; median |error| "
                  f"{'-' if med is None else f'{med:.1%}'}, performance cases "
                  f"{'-' if perf is None else f'{perf:.1%}'}")  # fmt: skip


def _pct(x: float | None, signed: bool = False) -> str:
    return "-" if x is None else (f"{x:+.1%}" if signed else f"{x:.1%}")


_GROUP_TITLES = {"engine": "engine", "gpu": "GPU", "weights": "weights", "spec": "speculative", "mode": "agg/disagg",
                 "band": "concurrency"}  # fmt: skip


def measured_tables(s: dict[str, Any], worst: list[dict[str, Any]]) -> None:
    """The measured-points summary: error of output tok/s per GPU and per user, overall and by group; the
    points the planner could not represent, with their reasons; the worst points."""
    t = Table(title=f"predicted vs measured: {s['predicted']} of {s['points']} points (|error|: median, p90; "
                    "bias: median signed error)", box=box.SIMPLE_HEAD)  # fmt: skip
    t.add_column("group", no_wrap=True)
    t.add_column("N", justify="right")
    for m in ("GPU", "user"):
        for c in ("median", "p90", "bias"):
            t.add_column(f"tok/s/{m}\n{c}", justify="right")

    def row(name: str, d: dict[str, Any], style: str | None = None) -> None:
        g, u = d["output_tok_s_per_gpu"], d["output_tok_s_per_user"]
        t.add_row(name, str(g["n"]), _pct(g["median_abs"]), _pct(g["p90_abs"]), _pct(g["median_signed"], True),
                  _pct(u["median_abs"]), _pct(u["p90_abs"]), _pct(u["median_signed"], True), style=style)  # fmt: skip

    row("all", s["overall"], "bold")
    for name, d in s["by_mode_engine"].items():
        row(name, d)
    for g, title in _GROUP_TITLES.items():
        t.add_section()
        for k, d in s["by"][g].items():
            row(f"{title}: {k}", d)
    console.print(t)
    o = s["overall"]
    console.print(f"TPOT median |error| {_pct(o['tpot_ms']['median_abs'])}, TTFT median |error| "
                  f"{_pct(o['ttft_ms']['median_abs'])} (bias {_pct(o['ttft_ms']['median_signed'], True)})")  # fmt: skip
    ms = s["mtp_sign"]
    if ms["pairs"]:
        console.print(f"MTP's effect on tok/s per user has the measured sign on {ms['right']} of {ms['pairs']} "
                      f"matched pairs ({ms['share']:.0%})")  # fmt: skip
    un = s["unrepresentable"]
    if un:
        console.print(f"{len(un)} point(s) the planner cannot represent:")
        for u in un:
            console.print(f"  {u['id']}: {u['reason']}", markup=False)
    bad = s.get("inconsistent", [])
    if bad:
        console.print(f"{len(bad)} point(s) whose tok/s per GPU contradicts their own latencies (left out of the "
                      "per-GPU figures above and of the fit):")  # fmt: skip
        for u in bad:
            console.print(f"  {u['id']}: {u['reason']}", markup=False)
    if worst:
        w = Table(title=f"worst {len(worst)} points (output tok/s per GPU)", box=box.SIMPLE_HEAD)
        for c in ("id", "GPU", "layout", "ISL/OSL", "conc", "pred GPU", "meas GPU", "err", "err user"):
            w.add_column(c, justify="left" if c in ("id", "GPU", "layout") else "right", no_wrap=True,
                         max_width={"id": 24, "layout": 14, "GPU": 10}.get(c), overflow="ellipsis")  # fmt: skip
        for r in worst:
            g, u = r["metrics"]["output_tok_s_per_gpu"], r["metrics"]["output_tok_s_per_user"]
            lay = r["layout"]
            lay_s = f"TP{lay.get('tp')} EP{lay.get('ep')}" + (" DPA" if lay.get("dp_attention") else "")
            w.add_row(r["id"], f"{r['gpus']}x{r['gpu']}", lay_s + (" PD" if r["mode"] == "disagg" else ""),
                      f"{r['isl']}/{r['osl']}", str(r["concurrency"]), f"{g['predicted']:,.0f}",
                      f"{g['measured']:,.0f}", _pct(g["error"], True), _pct(u["error"], True))  # fmt: skip
        console.print(w)
