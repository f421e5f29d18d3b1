"""`specsize plan --sheet`: the requirements sheet added to the plan's report and printed (kept apart from cli.py
so the plan command only gains a few lines)."""

from __future__ import annotations

from typing import Any

import click

from specsize.plan import Plan
from specsize.scenario import Host


def _title(report: dict[str, Any]) -> str:
    w = report["workload"]
    return (
        f"{report['model']} {report['weights']}, KV {report['kv_cache']}, {w['concurrency']} x "
        f"({w['input_tokens']:,} + {w['output_tokens']:,}) tokens, spec {report['spec']}, {report['engine']}"
    )


def add_sheets(report: dict[str, Any], p: Plan, host: Host, repeat_fraction: float) -> None:
    """Put one requirements sheet per GPU type that fits under report["sheets"]."""
    from specsize.sheet import sheets

    report["sheets"] = [s.to_json() for s in sheets(p, host, repeat_fraction=repeat_fraction)]


def print_sheets(report: dict[str, Any], fmt: str) -> None:
    if fmt == "markdown":
        from specsize.sheet_render import sheets_markdown

        click.echo(sheets_markdown(report, _title(report)), nl=False)
    else:
        from specsize.sheet_render import sheet_tables

        sheet_tables(report, _title(report))
