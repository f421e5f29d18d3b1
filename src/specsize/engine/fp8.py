"""DeepSeek's FP8 checkpoint format: e4m3 weights with one FP32 `weight_scale_inv` per 128x128 block
(DeepSeek-V3 README_WEIGHTS.md): w = w_e4m3 * scale_inv, blockwise. Which tensors are FP8 follows the real
R1 checkpoint: every linear weight of attention, dense MLP, routed and shared experts; not the embeddings, the
output heads, the norms, the router, or the MTP module's eh_proj (stored BF16; see specsize.quant.quantised).
"""

from __future__ import annotations

from math import ceil

import torch

BLOCK = 128
E4M3_MAX = 448.0  # largest finite float8_e4m3fn


def fp8_eligible(key: str, t: torch.Tensor) -> bool:
    if t.ndim != 2 or not key.endswith(".weight"):
        return False
    excluded = ("embed_tokens", "lm_head", "shared_head.head", "eh_proj", "mlp.gate.weight")
    return not any(x in key for x in excluded) and "norm" not in key


def _expand(scale: torch.Tensor, shape: tuple[int, int], block: int) -> torch.Tensor:
    """[ceil(out/b), ceil(in/b)] -> [out, in], each block's value repeated over the block."""
    return scale.repeat_interleave(block, 0)[: shape[0]].repeat_interleave(block, 1)[:, : shape[1]]


def quantize(w: torch.Tensor, block: int = BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """w [out, in] -> (e4m3 weight, FP32 scale_inv [ceil(out/b), ceil(in/b)]) with amax per block -> 448."""
    out, inp = w.shape
    wf = w.float()
    padded = torch.zeros(ceil(out / block) * block, ceil(inp / block) * block)
    padded[:out, :inp] = wf
    blocks = padded.view(ceil(out / block), block, ceil(inp / block), block)
    amax = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-12)
    scale_inv = amax / E4M3_MAX
    q = (wf / _expand(scale_inv, (out, inp), block)).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
    return q, scale_inv


def dequantize(q: torch.Tensor, scale_inv: torch.Tensor, dtype: torch.dtype, block: int = BLOCK) -> torch.Tensor:
    expected = (ceil(q.shape[0] / block), ceil(q.shape[1] / block))
    if tuple(scale_inv.shape) != expected:
        raise ValueError(f"weight_scale_inv has shape {tuple(scale_inv.shape)}, expected {expected} for "
                         f"{tuple(q.shape)} in {block}x{block} blocks")  # fmt: skip
    return (q.float() * _expand(scale_inv.float(), tuple(q.shape), block)).to(dtype)
