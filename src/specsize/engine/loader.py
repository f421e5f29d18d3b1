"""Load a local model directory in Hugging Face layout into our Transformer. Nothing is downloaded.

Reads config.json (strictly, with the planner's parser), model.safetensors or the shards named by
model.safetensors.index.json, dequantises DeepSeek FP8 blocks (weight + weight_scale_inv) to the compute dtype,
and checks keys strictly: a missing or unexpected tensor, a corrupt or truncated file: one EngineError naming
the key and the file. The MTP layer (index num_hidden_layers) is loaded when the checkpoint has it and dropped
cleanly when it does not. Tokenizer and generation config: tokenizer.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from specsize.config import ModelArch, parse_config
from specsize.engine.fp8 import dequantize
from specsize.engine.model import ENGINE_FAMILIES, Transformer
from specsize.errors import EngineError
from specsize.quant import FP8_BLOCK

__all__ = ["EngineError", "Loaded", "find_model_dir", "load_model", "read_config", "weight_files"]

IGNORED = re.compile(r"(^|\.)rotary_emb\.inv_freq$")  # buffers some old checkpoints saved


@dataclass
class Loaded:
    model: Transformer
    config: dict[str, Any]
    path: Path

    @property
    def arch(self) -> ModelArch:
        return self.model.arch


def read_config(path: Path) -> tuple[dict[str, Any], ModelArch]:
    f = path / "config.json"
    if not path.is_dir():
        raise EngineError(f"{path}: not a directory (a model directory holds config.json and *.safetensors)")
    if not f.exists():
        raise EngineError(f"{path}: no config.json (is this a Hugging Face model directory?)")
    try:
        raw = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EngineError(f"{f}: cannot read it as JSON ({e})") from None
    a = parse_config(raw, name=path.name, source=str(f))
    if a.family not in ENGINE_FAMILIES:
        raise EngineError(f"{f}: the engine runs {', '.join(ENGINE_FAMILIES)}; this is {a.family!r} "
                          "(the planner still sizes it: specsize inspect/fit/plan)")  # fmt: skip
    act = raw.get("hidden_act", "silu")
    if act != "silu":
        raise EngineError(f"{f}: hidden_act {act!r} is not supported (the engine implements SwiGLU with silu)")
    return raw, a


def weight_files(path: Path) -> dict[str, str]:
    """tensor name -> file name, from the index or the single file's header."""
    index = path / "model.safetensors.index.json"
    if index.exists():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise EngineError(f"{index}: not a safetensors index ({e})") from None
        for name in set(weight_map.values()):
            if not (path / name).exists():
                raise EngineError(f"{index}: names {name}, which is not in {path}")
        return dict(weight_map)
    single = path / "model.safetensors"
    if not single.exists():
        raise EngineError(f"{path}: no model.safetensors or model.safetensors.index.json")
    with _open(single) as f:
        return dict.fromkeys(f.keys(), single.name)


def _open(file: Path):
    try:
        return safe_open(str(file), framework="pt")
    except (SafetensorError, OSError, ValueError) as e:
        raise EngineError(f"{file}: corrupt or truncated safetensors file ({e})") from None


def _read(files: dict[str, str], path: Path) -> dict[str, torch.Tensor]:
    out = {}
    by_file: dict[str, list[str]] = {}
    for k, name in files.items():
        by_file.setdefault(name, []).append(k)
    for name, keys in by_file.items():
        with _open(path / name) as f:
            for k in keys:
                try:
                    out[k] = f.get_tensor(k)
                except (SafetensorError, OSError, ValueError) as e:
                    raise EngineError(
                        f"{path / name}: cannot read tensor {k} ({e}); the file may be truncated"
                    ) from None
    return out


def load_model(path: str | Path, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
               mtp: bool = True) -> Loaded:  # fmt: skip
    """Build our Transformer from a model directory and fill it with the checkpoint's weights."""
    root = Path(path).expanduser()
    raw, a = read_config(root)
    files = weight_files(root)
    mtp_prefix = f"model.layers.{a.num_layers}."
    has_mtp = a.has_mtp and mtp and any(k.startswith(mtp_prefix) for k in files)
    if not has_mtp:
        files = {k: v for k, v in files.items() if not k.startswith(mtp_prefix)}
    with torch.device("meta"):
        model = Transformer(a, rope_interleave=raw.get("rope_interleave", True), with_mtp=has_mtp)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}  # the meta model's, computed once
    expected = set(shapes)
    tensors = _read(files, root)
    state: dict[str, torch.Tensor] = {}
    for k, t in tensors.items():
        if k.endswith("weight_scale_inv") or IGNORED.search(k) or (a.tie_word_embeddings and k == "lm_head.weight"):
            continue  # scales are consumed with their weight; a tied head may be saved too (it is the embedding)
        if k not in expected:
            raise EngineError(f"{root / files[k]}: unexpected tensor {k} (not part of a {a.family} model "
                              f"with this config.json)")  # fmt: skip
        if t.dtype == torch.float8_e4m3fn:
            scale_key = k.removesuffix("weight") + "weight_scale_inv"
            if scale_key not in tensors:
                raise EngineError(f"{root / files[k]}: FP8 tensor {k} has no {scale_key}")
            try:
                t = dequantize(t, tensors[scale_key], dtype, a.weight_block_size or FP8_BLOCK)
            except ValueError as e:
                raise EngineError(f"{root / files[scale_key]}: {scale_key}: {e}") from None
        state[k] = t
    missing = sorted(expected - set(state))
    if missing:
        where = files.get(missing[0]) or next(iter(set(files.values())), "model.safetensors")
        raise EngineError(f"{root / where}: missing tensor {missing[0]}"
                          + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))  # fmt: skip
    for k, t in state.items():
        shape = shapes[k]
        if tuple(t.shape) != shape:
            raise EngineError(f"{root / files[k]}: tensor {k} has shape {tuple(t.shape)}, config.json implies "
                              f"{tuple(shape)}")  # fmt: skip
    model = model.to_empty(device=device)
    model.load_state_dict({k: v.to(device) for k, v in state.items()}, strict=True)
    model.reset_rotary()  # its tables are not in the checkpoint (they were on the meta device)
    model = model.to(device=device, dtype=dtype)
    router_fp32(model)
    return Loaded(model.eval(), raw, root)


def router_fp32(model: Transformer) -> None:
    """Keep the MoE router's weights and bias correction in FP32 (DeepSeek routes in FP32 whatever the dtype)."""
    for name, mod in model.named_modules():
        if name.endswith("mlp.gate") and hasattr(mod, "e_score_correction_bias"):
            mod.float()


def find_model_dir(spec: str) -> Path:
    """A model directory with weights: a path, a models--ORG--NAME cache directory or ORG/NAME in the local
    Hugging Face cache (resolve.find_config_file), or a bundled model's name (specsize.assets)."""
    from specsize.assets import bundled_model_dir
    from specsize.errors import ConfigError
    from specsize.resolve import find_config_file

    bundled = bundled_model_dir(spec)
    if bundled is not None:
        return bundled
    if Path(spec).is_file() and Path(spec).name != "config.json":
        raise EngineError(f"{spec} is a file, not a model: give the directory that holds its config.json, "
                          "tokenizer.json and *.safetensors")  # fmt: skip
    try:
        f = find_config_file(spec)
    except ConfigError as e:
        raise EngineError(str(e)) from None
    if f is None:
        raise EngineError(f"{spec}: no model directory with weights there (give a local Hugging Face model "
                          "directory; catalog names without weights can be planned, not run)")  # fmt: skip
    return f.parent
