"""The bundled catalog: model configs (models/*.json), each a verbatim config.json plus its source."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

CATALOG = resources.files("specsize.catalog")


@cache
def _entries(kind: str) -> dict[str, dict[str, Any]]:
    """All entries of a catalog folder, keyed by canonical name."""
    out = {}
    for f in sorted(CATALOG.joinpath(kind).iterdir(), key=lambda p: p.name):
        if f.name.endswith(".json"):
            entry = json.loads(f.read_text(encoding="utf-8"))
            out[entry.get("name", f.name[:-5])] = entry
    return dict(sorted(out.items(), key=lambda kv: (kv[1].get("order", 999), kv[0])))


@cache
def _aliases(kind: str) -> dict[str, str]:
    table = {}
    for name, entry in _entries(kind).items():
        table[name.lower()] = name
        for alias in entry.get("aliases", []):
            table[alias.lower()] = name
    return table


def model_names() -> list[str]:
    return list(_entries("models"))


def find_model(name: str) -> dict[str, Any] | None:
    """The catalog entry for a name or alias (case-insensitive), or None."""
    if not isinstance(name, str):
        return None
    canonical = _aliases("models").get(name.lower())
    return _entries("models")[canonical] if canonical else None


@cache
def hardware_entries(kind: str) -> dict[str, dict[str, Any]]:
    """Entries of catalog/hardware/<kind>.json keyed by id (gpus, links, host_memory)."""
    data = json.loads(CATALOG.joinpath("hardware", f"{kind}.json").read_text(encoding="utf-8"))
    return {e["id"]: e for e in data}


def find_hardware(kind: str, name: str) -> dict[str, Any] | None:
    if not isinstance(name, str):  # a scenario file's junk: the caller says "unknown ..." in one line
        return None
    key = name.lower().strip()
    entries = hardware_entries(kind)
    if key in entries:
        return entries[key]
    for e in entries.values():
        if key in (a.lower() for a in e.get("aliases", [])):
            return e
    return None
