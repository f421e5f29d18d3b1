"""CPU/GPU hybrid serving as the engines do it: routed experts in host RAM, read by the CPU at its memory
bandwidth. What the host is (memory type, channels and cores per socket, sockets) and how many copies of the
experts each engine keeps.

Copies per socket:
- llama.cpp keeps one copy, wherever --numa distribute|isolate|numactl places its pages (ggml-org/llama.cpp
  PR #5377 added those strategies and left the per-node "mirror" mode out; discussion #12289 shows a fork's
  mirror costing twice the RAM). Two sockets add bandwidth, not RAM.
- ktransformers built with USE_NUMA=1 keeps one copy per NUMA node (kvcache-ai/ktransformers
  doc/en/balance-serve.md: "For those who have two cpu and 1T RAM (Dual NUMA): USE_NUMA=1";
  so a dual-socket R1 Q4_K_M run holds about 2 x its ~400 GB of weights, near 1 TB).
"""

from __future__ import annotations

from typing import Any

from specsize.deployment import (
    DEFAULT_CHANNELS_PER_SOCKET,
    DEFAULT_CORES_PER_SOCKET,
    DEFAULT_HOST_MEMORY,
    HostCPU,
    host_flops,
)
from specsize.errors import PlanError
from specsize.hardware import get_host_memory
from specsize.perf_constants import engine_perf

PER_SOCKET_COPIES = ("ktransformers",)  # engines that keep one copy of the experts per NUMA node (see above)


def numa_copies(engine: str, sockets: int) -> int:
    """Copies of the offloaded experts in host RAM: one per socket on ktransformers (USE_NUMA), else one."""
    if not isinstance(sockets, int) or sockets < 1:
        raise PlanError(f"--sockets must be a positive number of CPU sockets, got {sockets}")
    return sockets if str(engine).lower() in PER_SOCKET_COPIES else 1


def host_cpu(memory: str | None, channels: int | None, cores: int | None, sockets: int) -> HostCPU:
    """The host as the options give it (the defaults are deployment.py's named assumptions)."""
    memory = memory or DEFAULT_HOST_MEMORY
    get_host_memory(memory)  # an unknown type is one line naming the known ones
    channels = DEFAULT_CHANNELS_PER_SOCKET if channels is None else channels
    cores = DEFAULT_CORES_PER_SOCKET if cores is None else cores
    if not 1 <= channels <= 24:
        raise PlanError(f"--channels is memory channels per socket, 1 to 24 (a desktop has 2, a server 8-12), "
                        f"got {channels}")  # fmt: skip
    if not 1 <= cores <= 1024:
        raise PlanError(f"--cores is CPU cores per socket, 1 to 1024, got {cores}")
    return HostCPU(memory=memory, channels_per_socket=channels, sockets=sockets, cores_per_socket=cores)


def host_json(cpu: HostCPU, engine: str, copies: int, given: bool) -> dict[str, Any]:
    """What --explain shows about the host: its bandwidth and compute and where each figure comes from."""
    mem = get_host_memory(cpu.memory)
    perf = engine_perf(engine)
    return {
        "memory": cpu.memory, "channels_per_socket": cpu.channels_per_socket, "sockets": cpu.sockets,
        "cores_per_socket": cpu.cores_per_socket, "bandwidth_bytes_per_s": cpu.bandwidth,
        "flops": host_flops(cpu, perf),
        "flops_rule": (f"{engine}'s CPU kernels, {perf.host_flops_per_core / 1e9:g} GFLOP/s per core, fitted "
                       "(perf_constants.py)" if perf.host_flops_per_core else
                       "deployment.py CPU_FLOPS_PER_CORE (assumption)"),
        "expert_copies": copies, "memory_source": mem.source, "given": given,
        "copies_rule": f"{engine}: {'one copy per socket (USE_NUMA)' if copies > 1 else 'one copy of the experts'}",
    }  # fmt: skip
