"""The requirements sheet's data: one Row per resource (without and with speculation, SI units), the storage and
link tables, the Sheet, and the context every section reads (sheet.py builds it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from typing import Any

from specsize.deployment import HostCPU
from specsize.hardware import GPU
from specsize.memory import MemoryBreakdown
from specsize.plan import Option, Plan
from specsize.scenario import Host
from specsize.sheet_data import assumptions as sheet_assumptions
from specsize.sheet_network import LinkRow
from specsize.units import GB


@dataclass
class Row:
    """One resource: its value without speculation and with it (SI units: bytes, s, W, FLOP), and why."""

    resource: str
    unit: str  # bytes | B/s | s | W | FLOP | tok/J | count | ratio | text
    plain: float | str | None
    spec: float | str | None
    note: str = ""

    @property
    def difference(self) -> float | None:
        if isinstance(self.plain, int | float) and isinstance(self.spec, int | float):
            return self.spec - self.plain
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "unit": self.unit,
            "without": self.plain,
            "with": self.spec,
            "difference": self.difference,
            "note": self.note,
        }


@dataclass
class StorageRow:
    storage: str
    name: str
    read_bandwidth: float  # bytes/s
    load_s: float
    restart_to_first_token_s: float
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "storage": self.storage,
            "name": self.name,
            "read_GB_per_s": self.read_bandwidth / GB,
            "load_s": self.load_s,
            "restart_to_first_token_s": self.restart_to_first_token_s,
            "source": self.source,
        }


@dataclass
class Sheet:
    gpu: str
    gpu_name: str
    headline: str
    spec: str  # "none" or e.g. "mtp k=1"
    sections: list[tuple[str, list[Row]]]
    links: list[LinkRow] = field(default_factory=list)
    storage: list[StorageRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, title: str) -> list[Row]:
        return next(rows for t, rows in self.sections if t == title)

    def row(self, title: str, resource: str) -> Row:
        return next(r for r in self.section(title) if r.resource == resource)

    def to_json(self) -> dict[str, Any]:
        return {
            "gpu": self.gpu,
            "gpu_name": self.gpu_name,
            "headline": self.headline,
            "spec": self.spec,
            "sections": [{"title": t, "rows": [r.to_json() for r in rows]} for t, rows in self.sections],
            "links": [x.to_json() for x in self.links],
            "storage": [x.to_json() for x in self.storage],
            "notes": self.notes,
            "assumptions": sheet_assumptions(),
        }


@dataclass(frozen=True)
class Ctx:
    """Everything the sections read, computed once."""

    p: Plan
    gpu: GPU
    opt: Option
    m0: MemoryBreakdown  # without speculation, same layout
    m1: MemoryBreakdown  # as planned
    host: Host
    cpu: HostCPU
    rf: float

    @property
    def spec(self) -> bool:
        return self.p.spec.enabled

    @property
    def gpus_per_node(self) -> int:
        return ceil(self.opt.layout.gpus / self.opt.nodes)

    @property
    def ctx(self) -> float:
        return self.p.workload.mean_context

    def both(self, plain, spec):
        return plain, (spec if self.spec else None)
