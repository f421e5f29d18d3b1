"""--json output for every command: one place, imported by cli.py and the command modules it registers (so none
of them imports cli.py, which imports them)."""

from __future__ import annotations

import json
from typing import Any

import click


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))
