"""DeepSeek's FP8 checkpoint format: e4m3 weights with one FP32 `weight_scale_inv` per block (the config's
quantization_config.weight_block_size, 128x128 in R1; DeepSeek-V3 README_WEIGHTS.md): w = w_e4m3 * scale_inv,
blockwise. Which tensors are FP8 is the planner's rule, specsize.quant.stored_fp8 (one copy for both).
"""

from __future__ import annotations

from math import ceil

import torch

from specsize.quant import FP8_BLOCK

E4M3_MAX = 448.0  # largest finite float8_e4m3fn (OCP FP8 spec: S.1111.110 = 448)
Block = tuple[int, int]  # (rows, columns) of one scale's block


def _expand(scale: torch.Tensor, shape: tuple[int, int], block: Block) -> torch.Tensor:
    """[ceil(out/b0), ceil(in/b1)] -> [out, in], each block's value repeated over the block."""
    return scale.repeat_interleave(block[0], 0)[: shape[0]].repeat_interleave(block[1], 1)[:, : shape[1]]


def quantize(w: torch.Tensor, block: Block = FP8_BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """w [out, in] -> (e4m3 weight, FP32 scale_inv [ceil(out/b0), ceil(in/b1)]) with amax per block -> 448."""
    out, inp = w.shape
    rows, cols = ceil(out / block[0]), ceil(inp / block[1])
    wf = w.float()
    padded = torch.zeros(rows * block[0], cols * block[1])
    padded[:out, :inp] = wf
    blocks = padded.view(rows, block[0], cols, block[1])  # [rows, b0, cols, b1]
    amax = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-12)  # [rows, cols]
    scale_inv = amax / E4M3_MAX
    q = (wf / _expand(scale_inv, (out, inp), block)).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
    return q, scale_inv


def dequantize(q: torch.Tensor, scale_inv: torch.Tensor, dtype: torch.dtype, block: Block = FP8_BLOCK
               ) -> torch.Tensor:  # fmt: skip
    expected = (ceil(q.shape[0] / block[0]), ceil(q.shape[1] / block[1]))
    if tuple(scale_inv.shape) != expected:
        raise ValueError(f"weight_scale_inv has shape {tuple(scale_inv.shape)}, expected {expected} for "
                         f"{tuple(q.shape)} in {block[0]}x{block[1]} blocks")  # fmt: skip
    return (q.float() * _expand(scale_inv.float(), tuple(q.shape), block)).to(dtype)
