"""Detection of this machine (`specsize hw`): CPU, RAM, GPUs (NVML, else torch.cuda when installed, else none),
Apple silicon; each GPU matched to the hardware catalog (hardware.match_gpu)."""

from __future__ import annotations

import os
import platform
from typing import Any

from specsize.hardware import match_gpu


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _nvml_gpus() -> list[dict[str, Any]] | None:
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver: nvidia-ml-py raises its own NVMLError subclasses
        return None
    out = []
    for i in range(pynvml.nvmlDeviceGetCount()):
        h = pynvml.nvmlDeviceGetHandleByIndex(i)
        name = pynvml.nvmlDeviceGetName(h)
        name = name.decode() if isinstance(name, bytes) else name
        out.append({"name": name, "memory_bytes": pynvml.nvmlDeviceGetMemoryInfo(h).total, "via": "nvml"})
    return out


def _torch_gpus() -> list[dict[str, Any]] | None:
    """Only when torch is already importable; the calculator never requires it."""
    try:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return None
        import torch
    except Exception:
        return None
    if not torch.cuda.is_available():
        return []
    return [
        {"name": torch.cuda.get_device_name(i), "memory_bytes": torch.cuda.get_device_properties(i).total_memory,
         "via": "torch"}
        for i in range(torch.cuda.device_count())
    ]  # fmt: skip


def detect(use_torch: bool = True) -> dict[str, Any]:
    """This machine: CPU, RAM, GPUs (NVML, else torch.cuda, else none), Apple silicon; matched to the catalog."""
    info: dict[str, Any] = {
        "cpu": {"model": _cpu_model(), "cores": os.cpu_count(), "arch": platform.machine()},
        "ram_bytes": _ram_bytes(),
        "os": platform.system(),
    }
    gpus = _nvml_gpus()
    if gpus is None and use_torch:
        gpus = _torch_gpus()
    gpus = gpus or []
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        chip = _cpu_model()
        gpus = [{"name": chip, "memory_bytes": info["ram_bytes"], "via": "unified memory"}]
    for g in gpus:
        g["catalog_id"] = match_gpu(g["name"], g.get("memory_bytes"))
    info["gpus"] = gpus
    return info
