"""Rich tables for the terminal. Rendering only: every number comes from a report dict."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from specsize.units import human_bytes, human_count

console = Console(width=None if sys.stdout.isatty() else 120)


def models_table(rows: list[dict[str, Any]]) -> None:
    t = Table(title="specsize model catalog")
    for col in ("name", "family", "params", "active", "MTP", "KV B/token", "context"):
        t.add_column(col, justify="left" if col in ("name", "family") else "right", no_wrap=True)
    for r in rows:
        t.add_row(
            r["name"],
            r["family"],
            human_count(r["params_total"]),
            human_count(r["params_active"]),
            human_count(r["params_mtp"]) if r["params_mtp"] else "-",
            f"{r['kv_bytes_per_token_bf16']:,}",
            f"{r['max_position_embeddings']:,}",
        )
    console.print(t)


def inspect_tables(r: dict[str, Any]) -> None:
    arch = r["architecture"]
    head = f"[bold]{r['name']}[/bold] ({r['family']}, {arch['attention']}"
    if "moe" in arch:
        m = arch["moe"]
        head += f", MoE {m['num_experts']} experts top-{m['top_k']} in {m['moe_layers']} layers"
    if arch["mtp_layers"]:
        head += f", {arch['mtp_layers']} MTP layer"
    console.print(head + ")")
    console.print(f"[dim]source: {r['source']}[/dim]")

    t = Table(title="parameters by component")
    t.add_column("component")
    t.add_column("main model", justify="right")
    t.add_column("MTP module", justify="right")
    mtp = {c["name"]: c["params"] for c in r["mtp_components"]}
    names = [c["name"] for c in r["components"]] + [n for n in mtp if n not in {c["name"] for c in r["components"]}]
    main = {c["name"]: c["params"] for c in r["components"]}
    for n in names:
        t.add_row(n, f"{main[n]:,}" if n in main else "-", f"{mtp[n]:,}" if n in mtp else "-")
    t.add_row(
        "[bold]total[/bold]",
        f"[bold]{r['params_total']:,}[/bold]",
        f"[bold]{r['params_mtp']:,}[/bold]" if r["params_mtp"] else "-",
    )
    t.add_row(
        "active per token",
        f"{r['params_active']:,}",
        f"{r['params_mtp_active']:,}" if r["params_mtp"] else "-",
    )
    if r["params_mtp_stored_copies"]:
        t.add_row("stored copies (embed, head)", "-", f"{r['params_mtp_stored_copies']:,}")
    console.print(t)

    t = Table(title="checkpoint size")
    t.add_column("precision")
    t.add_column("whole checkpoint", justify="right")
    t.add_column("main model only", justify="right")
    for name, b in r["checkpoint_bytes"].items():
        t.add_row(name, human_bytes(b), human_bytes(r["main_model_bytes"][name]))
    console.print(t)

    t = Table(title="KV cache per token")
    t.add_column("KV dtype")
    t.add_column("main model", justify="right")
    t.add_column("MTP layers", justify="right")
    for d, b in r["kv_bytes_per_token"].items():
        t.add_row(d, f"{b:,} B", f"{r['mtp_kv_bytes_per_token'][d]:,} B" if arch["mtp_layers"] else "-")
    console.print(t)


def _gb(b: float) -> str:
    return f"{b / 1e9:,.1f}"


def fit_table(rows: list[dict[str, Any]], title: str, explain: bool = False) -> None:
    t = Table(title=title)
    for col in (
        "GPU",
        "GPUs",
        "nodes",
        "layout",
        "weights GB",
        "KV GB",
        "spec GB",
        "headroom GB",
        "max conc.",
        "max context",
    ):
        t.add_column(col, justify="left" if col in ("GPU", "layout") else "right", no_wrap=col == "GPU")
    for r in rows:
        if not r["fits"]:
            t.add_row(r["gpu"], "-", "-", "[red]does not fit[/red]", "", "", "", "", "", "")
            continue
        b = {x["term"]: 0.0 for x in r["breakdown"]}
        for x in r["breakdown"]:
            b[x["term"]] += x["bytes"]
        spec = b.get("spec_weights", 0) + b.get("spec_kv", 0) + b.get("spec_buffers", 0)
        t.add_row(r["gpu"], str(r["min_gpus"]), str(r["nodes"]), r["layout"]["text"], _gb(b["weights"]),
                  _gb(b["kv_cache"]), _gb(spec) if spec else "-", _gb(r["headroom_bytes"]),
                  f"{r['max_concurrency']:,}", f"{r['max_context']:,}")  # fmt: skip
    console.print(t)
    for r in rows:
        if not r["fits"]:
            console.print(f"[red]{r['gpu']}[/red]: {r.get('reason', '')}")
    if explain:
        for r in rows:
            if "breakdown" not in r:
                continue
            e = Table(title=f"{r['gpu']} x {r.get('gpus_tried')} ({r['layout']['text']}): per-GPU memory")
            e.add_column("term")
            e.add_column("GB", justify="right")
            e.add_column("what it assumes")
            for x in r["breakdown"]:
                e.add_row(x["term"], f"{x['bytes'] / 1e9:,.3f}", x["note"])
            e.add_row("capacity", _gb(r["capacity_bytes"]), r["budget_rule"])
            if r.get("host_ram_bytes"):
                e.add_row("host RAM", _gb(r["host_ram_bytes"]), "routed experts offloaded to the CPU")
            console.print(e)
            for n in r.get("notes", []):
                console.print(f"  note: {n}")
