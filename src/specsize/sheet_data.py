"""The requirements sheet's own catalog (GPU and host power, storage bandwidths, engines' host needs) and its
constants, each with its source or the word "assumption". Data lives in catalog/hardware/power.json,
catalog/hardware/storage.json and catalog/engine_host.json; this module only reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from specsize import catalog
from specsize.errors import CatalogError
from specsize.units import GB

# --- thresholds and sizes the sheet states (all assumptions, printed with the sheet) ------------------------------
COMM_SHARE = 0.10  # assumption: inter-node communication should stay under 10% of a decode step
ENOUGH_SLOWDOWN = 0.05  # assumption: a link within 5% of the fastest standard link's TPOT is "enough"
UNUSABLE_SLOWDOWN = 1.0  # assumption: a link that doubles TPOT (or worse) is "unusable" for interactive decode
SHARD_BYTES = 5 * GB  # Hugging Face save_pretrained default max_shard_size "5GB" (R1: 163 shards, 4.2 GB average)
OS_RAM = 8 * GB  # assumption: Linux, container runtime, monitoring on a serving node
OS_RAM_DESKTOP = 4 * GB  # assumption: a desktop OS with nothing else running
OS_CORES = 2  # assumption: cores left to the OS, networking interrupts and monitoring
DISK_HEADROOM = 100 * GB  # assumption: OS, engine container image (vLLM/SGLang images are 10-30 GB), logs
DEFAULT_STORAGE = "nvme-gen4"  # the disk the headline prices (a current server's local NVMe)
CPU_SOCKET_W = 270  # Intel Xeon Gold 6454S TDP 270 W (ark.intel.com): ktransformers' reference CPU for R1 offload
OFFLOAD_HOST_BASE_W = 200  # assumption: board, 16 DIMMs, drives, fans of a hybrid server, without its CPUs
# standard inter-node links, slowest first (catalog/hardware/links.json ids)
STANDARD_LINKS = ("eth-10g", "eth-25g", "eth-100g", "ib-hdr", "roce-400g", "ib-ndr", "ib-xdr")
# RAM sizes people buy per node (GB): one or two sockets populated with common DIMMs (assumption)
RAM_SIZES_GB = (8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)


@dataclass(frozen=True)
class Power:
    gpu_w: float  # W per GPU at its TDP
    gpu_source: str
    host_w_per_node: float  # W per node for everything but the GPUs
    host_source: str


@dataclass(frozen=True)
class Storage:
    id: str
    name: str
    read_bandwidth: float  # bytes/s, sequential
    source: str


@dataclass(frozen=True)
class EngineHost:
    id: str
    loading: str  # shard_by_shard | mmap | read | experts_to_ram
    loading_note: str
    loading_source: str
    processes: str
    processes_source: str
    server_bytes_per_gpu: float
    server_source: str
    cores_fixed: int
    cores_per_gpu: int
    cores_source: str


def gpu_power(gpu_id: str) -> Power | None:
    """The GPU's TDP and its server's host share; None when the GPU is not in the power catalog (never guessed)."""
    e = catalog.hardware_entries("power").get(gpu_id)
    if e is None:
        return None
    return Power(e["gpu_W"], e["gpu_source"], e["host_W_per_node"], e["host_source"])


def storage_options() -> list[Storage]:
    return [
        Storage(e["id"], e["name"], e["read_GB_per_s"] * GB, e["source"])
        for e in catalog.hardware_entries("storage").values()
    ]


def get_storage(storage_id: str) -> Storage:
    for s in storage_options():
        if s.id == storage_id:
            return s
    ids = ", ".join(s.id for s in storage_options())
    raise CatalogError(f"unknown storage {storage_id!r}; choose one of: {ids}")


@cache
def _engine_host_entries() -> dict[str, dict]:
    data = json.loads(catalog.CATALOG.joinpath("engine_host.json").read_text(encoding="utf-8"))
    return {e["id"]: e for e in data}


def engine_host(engine: str) -> EngineHost:
    """The engine's documented host needs; an engine without an entry gets the "default" one, whose every figure
    says "assumption"."""
    entries = _engine_host_entries()
    e = entries.get(engine) or entries["default"]
    return EngineHost(
        e["id"],
        e["loading"],
        e["loading_note"],
        e["loading_source"],
        e["processes"],
        e["processes_source"],
        e["server_host_GB_per_gpu"] * GB,
        e["server_host_source"],
        e["cores_fixed"],
        e["cores_per_gpu"],
        e["cores_source"],
    )


def ram_to_buy(need: float) -> float:
    """The smallest common RAM size (RAM_SIZES_GB) that holds `need` bytes; the need itself past the table."""
    for size in RAM_SIZES_GB:
        if size * GB >= need:
            return size * GB
    return need


def assumptions() -> list[dict[str, str]]:
    """The sheet's constants with their sources (printed under the sheet)."""
    rows = [
        ("inter-node share of a step", f"{COMM_SHARE:.0%}", "assumption: the bandwidth 'needed' keeps it under this"),
        ("a link is enough within", f"{ENOUGH_SLOWDOWN:.0%} of the fastest link's TPOT", "assumption"),
        ("a link is unusable from", f"{1 + UNUSABLE_SLOWDOWN:.0f}x the fastest link's TPOT", "assumption"),
        ("checkpoint shard", f"{SHARD_BYTES / GB:.0f} GB", "Hugging Face max_shard_size default"),
        ("OS and services RAM", f"{OS_RAM / GB:.0f} GB (desktop {OS_RAM_DESKTOP / GB:.0f} GB)", "assumption"),
        ("cores left to the OS", f"{OS_CORES}", "assumption"),
        ("disk headroom", f"{DISK_HEADROOM / GB:.0f} GB", "assumption: OS, engine image, logs"),
        (
            "hybrid host CPU",
            f"{CPU_SOCKET_W} W per socket + {OFFLOAD_HOST_BASE_W} W",
            "Xeon Gold 6454S TDP; base: assumption",
        ),
    ]
    return [{"name": n, "value": v, "source": s} for n, v, s in rows]
