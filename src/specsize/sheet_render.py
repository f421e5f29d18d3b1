"""The requirements sheet as terminal tables (rich) or Markdown. Rendering only: every number comes from the
sheet's JSON dict (sheet.Sheet.to_json), as `plan --json` shows it."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from specsize.render import console


def fmt_value(unit: str, v: Any) -> str:
    """One value in its unit, SI inside -> readable outside (GB = 1e9)."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v == 0 and unit not in ("count", "ratio"):
        return "0"
    if unit == "bytes":
        return (
            f"{v / 1e12:,.2f} TB" if abs(v) >= 1e12 else f"{v / 1e9:,.1f} GB" if abs(v) >= 1e8 else f"{v / 1e6:,.1f} MB"
        )
    if unit == "B/s":
        return f"{v / 1e9:,.2f} GB/s" if abs(v) >= 1e8 else f"{v / 1e6:,.0f} MB/s"
    if unit == "s":
        return f"{v * 1e3:,.1f} ms" if abs(v) < 1 else f"{v:,.1f} s"
    if unit == "W":
        return f"{v / 1e3:,.1f} kW" if abs(v) >= 1e4 else f"{v:,.0f} W"
    if unit == "FLOP":
        return f"{v / 1e12:,.2f} TFLOP" if abs(v) >= 1e12 else f"{v / 1e9:,.1f} GFLOP"
    if unit == "tok/J":
        return f"{v:.3g} tok/J"
    if unit == "ratio":
        return f"{v:.2f}x"
    if unit == "count":
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"
    return str(v)


def fmt_difference(row: dict[str, Any]) -> str:
    d = row["difference"]
    if d is None:
        return "same" if row["with"] == row["without"] else "-"
    if d == 0:
        return "same"
    return ("+" if d > 0 else "-") + fmt_value(row["unit"], abs(d))


def _with_spec(s: dict[str, Any]) -> bool:
    return s["spec"] != "none"


def sheet_markdown(s: dict[str, Any]) -> str:
    """One sheet as Markdown: the answer, the resource table, the network and storage tables, the assumptions."""
    spec = _with_spec(s)
    out = [
        f"#### {s['gpu']}: {s['gpu_name']}" + (f", spec {s['spec']}" if spec else ""),
        "",
        f"**{s['headline']}**",
        "",
    ]
    if spec:
        out += [f"| resource | without speculation | with {s['spec']} | difference | why |", "|---|--:|--:|--:|---|"]
    else:
        out += ["| resource | value | why |", "|---|--:|---|"]
    for sec in s["sections"]:
        out.append(f"| **{sec['title']}** |" + " |" * (4 if spec else 2))
        for r in sec["rows"]:
            cells = [r["resource"], fmt_value(r["unit"], r["without"])]
            if spec:
                cells += [fmt_value(r["unit"], r["with"]), fmt_difference(r)]
            cells.append(r["note"])
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if s["links"]:
        out += ["", "Inter-node links (TPOT from the plan's step-time model over each; verdict vs the fastest):", ""]
        out += [
            "| link | TPOT without | TPOT with | verdict |" if spec else "| link | TPOT | verdict |",
            "|---|--:|--:|---|" if spec else "|---|--:|---|",
        ]
        for x in s["links"]:
            tp = [f"{x['tpot_ms_without']:,.1f} ms"] + ([f"{x['tpot_ms_with']:,.1f} ms"] if spec else [])
            out.append("| " + " | ".join([x["name"], *tp, x["verdict"]]) + " |")
    out += [
        "",
        "Storage (load time = checkpoint / read bandwidth, a lower bound; + TTFT = first token after a restart):",
        "",
        "| storage | read | load | first token after restart |",
        "|---|--:|--:|--:|",
    ]
    for x in s["storage"]:
        out.append(
            f"| {x['name']} | {x['read_GB_per_s']:,.2f} GB/s | {fmt_value('s', x['load_s'])} | "
            f"{fmt_value('s', x['restart_to_first_token_s'])} |"
        )
    for n in s["notes"]:
        out += ["", f"Note: {n}"]
    out += ["", "Assumptions: " + "; ".join(f"{a['name']} {a['value']} ({a['source']})" for a in s["assumptions"])]
    return "\n".join(out) + "\n"


def _misfits(report: dict[str, Any]) -> list[str]:
    return [f"{g['gpu']} does not fit: {g.get('reason', '')}" for g in report["gpus"] if not g["fits"]]


def sheets_markdown(report: dict[str, Any], title: str) -> str:
    out = f"### Requirements: {title}\n\n" + "\n".join(sheet_markdown(s) for s in report["sheets"])
    return out + "".join(f"\n{m}\n" for m in _misfits(report))


def sheet_tables(report: dict[str, Any], title: str) -> None:
    """The sheets on the terminal: the answer in bold, then one table per sheet."""
    sheets = report["sheets"]
    console.print(f"[bold]requirements: {title}[/bold]")
    for s in sheets:
        spec = _with_spec(s)
        console.print(f"\n[bold]{s['gpu']}:[/bold] {s['headline']}", soft_wrap=True)
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_lines=False)
        t.add_column("resource", width=24, overflow="fold")
        t.add_column(
            "without\nspeculation" if spec else "value", justify="right", width=14 if spec else 24, overflow="fold"
        )
        if spec:
            t.add_column(f"with\n{s['spec']}", justify="right", width=14, overflow="fold")
            t.add_column("differ-\nence", justify="right", width=11, overflow="fold")
        t.add_column("why", overflow="fold")
        for sec in s["sections"]:
            t.add_row(f"[bold]{sec['title']}[/bold]", *[""] * (4 if spec else 2))
            for r in sec["rows"]:
                cells = [r["resource"], fmt_value(r["unit"], r["without"])]
                if spec:
                    cells += [fmt_value(r["unit"], r["with"]), fmt_difference(r)]
                t.add_row(*cells, r["note"])
        console.print(t)
        if s["links"]:
            lt = Table(title="inter-node links: TPOT over each (verdict vs the fastest)", box=box.SIMPLE_HEAD)
            for c in ["link", "TPOT", *(["TPOT +spec"] if spec else []), "verdict"]:
                lt.add_column(c, justify="left" if c in ("link", "verdict") else "right")
            for x in s["links"]:
                tp = [f"{x['tpot_ms_without']:,.1f} ms"] + ([f"{x['tpot_ms_with']:,.1f} ms"] if spec else [])
                lt.add_row(x["name"], *tp, x["verdict"])
            console.print(lt)
        st = Table(title="storage: load time and first token after a restart", box=box.SIMPLE_HEAD)
        for c in ("storage", "read", "load", "first token"):
            st.add_column(c, justify="left" if c == "storage" else "right")
        for x in s["storage"]:
            st.add_row(
                x["name"],
                f"{x['read_GB_per_s']:,.2f} GB/s",
                fmt_value("s", x["load_s"]),
                fmt_value("s", x["restart_to_first_token_s"]),
            )
        console.print(st)
        for n in s["notes"]:
            console.print(f"  note: {n}")
    for m in _misfits(report):
        console.print(f"[red]{m}[/red]")
    if sheets:
        console.print(
            "[dim]assumptions: "
            + "; ".join(f"{a['name']} {a['value']} ({a['source']})" for a in sheets[0]["assumptions"])
            + "[/dim]"
        )
