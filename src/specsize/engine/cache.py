"""Static, preallocated KV caches (gpt-fast style): written at positions, read up to the end of the step.

Rolling back rejected draft tokens is free: the caller just starts the next step at an earlier position; the
stale slots are masked by position and overwritten later. Callers reserve room for k+1 verification tokens.

- KVCache: keys and values of GQA attention, [B, H_kv, T, D] each.
- LatentCache: MLA's compressed latent (kv_lora_rank values, after kv_a_layernorm) and the shared RoPE key
  (qk_rope_head_dim values, rotated) per token, [B, T, R] and [B, T, r]: the same bytes per token as
  specsize.kvcache.kv_values_per_layer counts for the planner (vLLM and SGLang cache the same latent).
"""

from __future__ import annotations

import torch
from torch import nn


class KVCache(nn.Module):
    def __init__(self, batch: int, max_len: int, kv_heads: int, head_dim: int, dtype: torch.dtype, device=None):
        super().__init__()
        shape = (batch, kv_heads, max_len, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def update(self, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """k, v: [B, H_kv, S, D] for positions start..start+S-1 -> the cache [B, H_kv, start+S, D] so far."""
        end = start + k.shape[2]
        if end > self.max_len:
            raise IndexError(f"KV cache holds {self.max_len} positions; step needs {end}")
        b = k.shape[0]
        self.k[:b, :, start:end] = k
        self.v[:b, :, start:end] = v
        return self.k[:b, :, :end], self.v[:b, :, :end]


class LatentCache(nn.Module):
    def __init__(self, batch: int, max_len: int, kv_lora_rank: int, rope_dim: int, dtype: torch.dtype, device=None):
        super().__init__()
        self.register_buffer("c", torch.zeros(batch, max_len, kv_lora_rank, dtype=dtype, device=device),
                             persistent=False)  # fmt: skip
        self.register_buffer("pe", torch.zeros(batch, max_len, rope_dim, dtype=dtype, device=device),
                             persistent=False)  # fmt: skip

    @property
    def max_len(self) -> int:
        return self.c.shape[1]

    def update(self, start: int, c: torch.Tensor, pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """c: [B, S, R], pe: [B, S, r] -> the cache [B, start+S, R], [B, start+S, r] so far."""
        end = start + c.shape[1]
        if end > self.max_len:
            raise IndexError(f"latent cache holds {self.max_len} positions; step needs {end}")
        b = c.shape[0]
        self.c[:b, start:end] = c
        self.pe[:b, start:end] = pe
        return self.c[:b, :end], self.pe[:b, :end]

    def bytes_per_token(self) -> int:
        return (self.c.shape[-1] + self.pe.shape[-1]) * self.c.element_size()
