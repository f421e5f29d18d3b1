"""GPUs, links and host memory from the catalog (every figure with its source), and local detection."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from specsize import catalog
from specsize.errors import CatalogError
from specsize.units import GB, GiB, MiB


@dataclass(frozen=True)
class GPU:
    id: str
    name: str
    vendor: str
    kind: str  # datacenter | workstation | consumer | unified
    memory_bytes: float  # nominal capacity
    usable_bytes: float  # what the driver reports as total
    bandwidth: float  # bytes/s
    flops: dict[str, float] = field(hash=False)  # dense FLOP/s per dtype
    native_dtypes: tuple[str, ...] = ()
    gpus_per_node: int = 8
    intra_node_link: str = "nvlink4"
    inter_node_link: str = "ib-ndr"
    unified_memory: bool = False
    default_wired_fraction: float = 1.0
    source: str = ""
    # the compiler target engine builds are chosen by (AMD: gfx942, gfx950; NVIDIA: its compute capability, sm90 for
    # Hopper, sm100 for B200 / GB200); "" where no engine build depends on it (Apple)
    arch: str = ""
    compute_units: int = 0  # SMs (NVIDIA), CUs (AMD), GPU cores (Apple); 0 where the vendor does not publish it

    @property
    def graph_replay(self) -> bool:
        """Whether engines can replay a captured graph of kernels here (CUDA / HIP graphs); Metal encodes every
        kernel of every step anew."""
        return self.vendor != "apple"

    def peak_flops(self, dtype: str) -> float:
        """Dense peak for a compute dtype; falls back to BF16 where the tensor cores lack it (A100 + FP8)."""
        if dtype in self.flops and dtype in self.native_dtypes:
            return self.flops[dtype]
        return self.flops["bf16"]

    def supports(self, dtype: str) -> bool:
        return dtype in self.native_dtypes


@dataclass(frozen=True)
class Link:
    id: str
    name: str
    bandwidth: float  # bytes/s per direction
    latency: float  # seconds
    source: str = ""


@dataclass(frozen=True)
class HostMemory:
    id: str
    name: str
    channel_bandwidth: float  # bytes/s per channel
    source: str = ""

    def bandwidth(self, channels_per_socket: int, sockets: int = 1) -> float:
        return self.channel_bandwidth * channels_per_socket * sockets


def _unknown(kind: str, name: str) -> CatalogError:
    ids = ", ".join(catalog.hardware_entries(kind))
    what = {"gpus": "GPU", "links": "link", "host_memory": "host memory"}[kind]
    return CatalogError(f"unknown {what} {name!r}; choose one of: {ids}")


def get_gpu(name: str) -> GPU:
    e = catalog.find_hardware("gpus", name)
    if e is None:
        raise _unknown("gpus", name)
    return GPU(
        id=e["id"], name=e["name"], vendor=e["vendor"], kind=e["kind"],
        memory_bytes=e["memory_GiB"] * GiB, usable_bytes=e["usable_memory_MiB"] * MiB,
        bandwidth=e["hbm_bandwidth_GB_per_s"] * GB,
        flops={k: v * 1e12 for k, v in e["dense_tflops"].items()},
        native_dtypes=tuple(e["native_dtypes"]), gpus_per_node=e["gpus_per_node"],
        intra_node_link=e["intra_node_link"], inter_node_link=e["inter_node_link"],
        unified_memory=e.get("unified_memory", False), default_wired_fraction=e.get("default_wired_fraction", 1.0),
        source=e["source"], arch=e.get("arch", ""), compute_units=e.get("compute_units", 0),
    )  # fmt: skip


PERSONAL_KINDS = ("consumer", "workstation")  # cards in a person's own PCIe machine, not a vendor's node
# A person's own machine (consumer and workstation cards on PCIe: a desktop, a server board or an open-frame rig on
# risers) holds as many cards as its owner says, up to this many (assumption: 7-8 PCIe x16 slots on a server or
# workstation board; r/LocalLLaMA's 6x and 8x RTX 3090 rigs). The catalog's gpus_per_node is the usual desktop.
PERSONAL_MACHINE_MAX_GPUS = 8


def machine_holding(gpu: GPU, count: int | None) -> GPU:
    """The GPU as the user's machine holds it: a person's own machine (a consumer or workstation card) with more
    cards than the catalog's usual desktop holds all `count` of them, up to PERSONAL_MACHINE_MAX_GPUS; a data-centre
    node is the catalog's (8 SXM GPUs, an NVL72 rack)."""
    if count is None or gpu.kind not in PERSONAL_KINDS or not gpu.gpus_per_node < count <= PERSONAL_MACHINE_MAX_GPUS:
        return gpu
    return replace(gpu, gpus_per_node=count)


def gpu_ids() -> list[str]:
    return list(catalog.hardware_entries("gpus"))


def get_link(name: str) -> Link:
    e = catalog.find_hardware("links", name)
    if e is None:
        raise _unknown("links", name)
    return Link(e["id"], e["name"], e["bandwidth_GB_per_s"] * GB, e["latency_us"] * 1e-6, e["source"])


def get_host_memory(name: str) -> HostMemory:
    e = catalog.find_hardware("host_memory", name)
    if e is None:
        raise _unknown("host_memory", name)
    return HostMemory(e["id"], e["name"], e["MT_per_s"] * 1e6 * e["bytes_per_transfer"], e["source"])


def match_gpu(name: str, memory_bytes: float | None = None) -> str | None:
    """Best catalog id for a device name as the driver reports it ('NVIDIA H100 80GB HBM3' -> 'h100-sxm')."""
    n = name.lower().replace("geforce", "").replace("nvidia", "").replace("amd", "").strip()
    best, best_score = None, 0
    for gid, e in catalog.hardware_entries("gpus").items():
        tokens = [t for t in gid.replace("apple-", "").split("-") if t not in ("rtx",)]
        score = sum(len(t) for t in tokens if t in n)
        if tokens and tokens[0] not in n:
            continue
        if memory_bytes and abs(e["memory_GiB"] * GiB - memory_bytes) > 0.15 * memory_bytes:
            score -= 5
        if score > best_score:
            best, best_score = gid, score
    return best
