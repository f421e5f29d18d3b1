"""Write a model in Hugging Face layout: config.json, model.safetensors (or shards + index), optionally in
DeepSeek's FP8 block format with a quantization_config like the real R1's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from specsize.engine.fp8 import quantize
from specsize.engine.model import Transformer
from specsize.quant import FP8_BLOCK, stored_fp8

FP8_CONFIG = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
              "weight_block_size": list(FP8_BLOCK)}  # fmt: skip


def checkpoint_tensors(
    model: Transformer, fp8: bool = False, dtype: torch.dtype | None = None
) -> dict[str, torch.Tensor]:
    """The state dict under HF names (tied heads omitted, as HF saves them), FP8-quantised where R1 is."""
    out: dict[str, torch.Tensor] = {}
    for key, t in model.state_dict().items():
        t = t.detach().cpu().clone()  # own storage: tied tensors (MTP copies of the embedding/head) are saved apart
        if fp8 and stored_fp8(model.arch, key):
            q, s = quantize(t)
            out[key], out[key.removesuffix("weight") + "weight_scale_inv"] = q, s
        elif key.endswith("e_score_correction_bias"):
            out[key] = t.float().contiguous()  # R1 stores it in FP32
        else:
            out[key] = (t.to(dtype) if dtype is not None and t.is_floating_point() else t).contiguous()
    return out


def save_model(model: Transformer, path: str | Path, config: dict[str, Any], fp8: bool = False,
               dtype: torch.dtype | None = None, max_shard_bytes: int = 2 * 2**30,
               generation_config: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """Write `model` under `path` with `config` (the config.json dict it was built from)."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    tensors = checkpoint_tensors(model, fp8, dtype)
    cfg = dict(config)
    if fp8:
        cfg["quantization_config"] = dict(FP8_CONFIG)
    else:
        cfg.pop("quantization_config", None)
    (root / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    if generation_config is not None:
        (root / "generation_config.json").write_text(json.dumps(generation_config, indent=2) + "\n")
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k, t in tensors.items():
        n = t.numel() * t.element_size()
        if shards[-1] and size + n > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][k] = t
        size += n
    meta = {"format": "pt"}
    if len(shards) == 1:
        save_file(shards[0], root / "model.safetensors", metadata=meta)
        return root
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, root / name, metadata=meta)
        weight_map.update(dict.fromkeys(shard, name))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (root / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return root
