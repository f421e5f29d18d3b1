"""Rotary position embeddings with the scalings the supported families use.

inv_freq and the cos/sin scale ("attention factor") per RoPE type, as the model authors define them:
- default: theta^(-2i/d) (Su et al. 2021, RoFormer);
- linear: positions / factor (Chen et al. 2023, position interpolation);
- llama3: low frequencies / factor, high kept, smooth in between (Llama 3.1 reference code);
- yarn: NTK-by-parts blend of interpolated and extrapolated frequencies, cos/sin scaled by
  mscale(factor, mscale) / mscale(factor, mscale_all_dim) (Peng et al. 2023, arXiv 2309.00071; DeepSeek-V2's
  variant, whose softmax scale is also multiplied by mscale(factor, mscale_all_dim)^2: see softmax_scale).
Layouts: "half" rotates (x[:d/2], x[d/2:]) pairs (Llama, Qwen); "interleave" rotates (x[2i], x[2i+1]) pairs and
returns them de-interleaved (DeepSeek's checkpoints), which leaves q.k unchanged as both q and k go through it.
"""

from __future__ import annotations

import math

import torch

from specsize.config import RopeConfig


def _mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def inv_freq_and_scale(rope: RopeConfig, dim: int, max_positions: int) -> tuple[torch.Tensor, float]:
    """Inverse frequencies [dim/2] (float32) and the factor cos/sin are multiplied by."""
    base = rope.theta
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    kind, factor = rope.type, rope.factor
    if kind == "default":
        return inv, 1.0
    if kind == "linear":
        return inv / factor, 1.0
    if kind == "llama3":
        old = rope.original_max_position_embeddings or 8192
        low, high = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / high) & ~(wavelen > old / low)
        return torch.where(medium, smoothed, scaled), 1.0
    if kind == "yarn":
        return _yarn(rope, dim, max_positions)
    raise ValueError(f"RoPE type {kind!r} is not supported by the engine")


def _yarn(rope: RopeConfig, dim: int, max_positions: int) -> tuple[torch.Tensor, float]:
    base = rope.theta
    original = rope.original_max_position_embeddings or max_positions
    factor = rope.factor
    mscale, mscale_all = rope.get("mscale"), rope.get("mscale_all_dim")
    scale = rope.get("attention_factor")
    if scale is None:
        scale = _mscale(factor, mscale) / _mscale(factor, mscale_all) if mscale and mscale_all else _mscale(factor)
    beta_fast, beta_slow = rope.get("beta_fast") or 32, rope.get("beta_slow") or 1

    def correction_dim(rotations: float) -> float:
        return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

    lo, hi = correction_dim(beta_fast), correction_dim(beta_slow)
    if rope.get("truncate", True):
        lo, hi = math.floor(lo), math.ceil(hi)
    lo, hi = max(lo, 0), min(hi, dim - 1)
    if lo == hi:
        hi += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - lo) / (hi - lo), 0, 1)
    pos = base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    extrapolate = 1 - ramp  # 1: keep the original frequency, 0: interpolate by factor
    inv = (1.0 / (factor * pos)) * (1 - extrapolate) + (1.0 / pos) * extrapolate
    return inv, float(scale)


def softmax_scale(head_dim: int, rope: RopeConfig) -> float:
    """1/sqrt(d), times mscale(factor, mscale_all_dim)^2 under DeepSeek's YaRN (DeepSeek-V2 modeling code)."""
    scale = head_dim**-0.5
    if rope.type != "default":
        m_all = rope.get("mscale_all_dim", 0)
        if m_all:
            scale *= _mscale(rope.factor, m_all) ** 2
    return scale


class Rotary(torch.nn.Module):
    """cos/sin tables for positions 0..max_positions-1, sliced by position at run time."""

    def __init__(self, rope: RopeConfig, dim: int, max_positions: int, interleave: bool = False):
        super().__init__()
        inv, scale = inv_freq_and_scale(rope, dim, max_positions)
        freqs = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv)  # [T, dim/2]
        self.register_buffer("cos", freqs.cos() * scale, persistent=False)
        self.register_buffer("sin", freqs.sin() * scale, persistent=False)
        self.interleave = interleave

    def tables(self, start: int, s: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin [S, dim/2] for positions start..start+S-1 (computed once per step, shared by the layers)."""
        return self.cos[start : start + s].to(dtype), self.sin[start : start + s].to(dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleave: bool) -> torch.Tensor:
    """x: [..., S, dim] -> rotated, in the halves layout ((x[2i], x[2i+1]) pairs when interleave)."""
    if interleave:
        x1, x2 = x[..., 0::2], x[..., 1::2]
    else:
        x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
