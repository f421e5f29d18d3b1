"""Static, preallocated KV caches (gpt-fast style): written at positions, read up to the end of the step.

Rolling back rejected draft tokens is free: the caller just starts the next step at an earlier position; the
stale slots are masked by position and overwritten later. Callers reserve room for k+1 verification tokens.

A step writes its positions by index (`cache[..., positions] = new`, gpt-fast's form), not by slice: in a compiled
graph of several steps (a draft model's k unrolled steps, rounds.draft_round), inductor writes slices of one
buffer as a chain that it could not do in place, and rewrote the whole cache once per layer per round (0.39 ms
for each of tiny-r1-draft's two layers at 1,024 positions, a quarter of its 7-step round); index writes stay in
place.

- KVCache: keys and values of GQA attention, [B, H_kv, T, D] each.
- Rows: the rows of a batched step (batch.py), each in its own cache slot at its own position; a row's
  rollback is its own (its next start), so rows accept different numbers of drafts in the same step.
- LatentCache: MLA's compressed latent (kv_lora_rank values, after kv_a_layernorm) and the shared RoPE key
  (qk_rope_head_dim values, rotated) per token, [B, T, R] and [B, T, r]: the same bytes per token as
  specsize.kvcache.kv_values_per_layer counts for the planner (vLLM and SGLang cache the same latent).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Rows:
    """The rows of a batched step. Row b uses cache slot slots[b] and its tokens sit at positions
    start[b]..start[b]+S-1 (a row with fewer real tokens is padded at the end: the padding is written past its
    committed positions, masked, and overwritten by its next step). Slots are rows of the caches' batch
    dimension (llama.cpp's --parallel N); why slots rather than pages: batch.BatchEngine."""

    slots: torch.Tensor  # [B] int64
    start: torch.Tensor  # [B] int64
    last: int  # max(start): the step reads cache positions up to last + S - 1
    prefix: bool  # slots == 0..B-1: the caches are sliced (views), not gathered

    @classmethod
    def of(cls, slots: list[int], start: list[int], device=None) -> Rows:
        return cls(torch.tensor(slots, device=device), torch.tensor(start, device=device), max(start),
                   slots == list(range(len(slots))))  # fmt: skip

    def positions(self, s: int) -> torch.Tensor:
        """[B, S] the positions of the step's tokens."""
        return self.start[:, None] + torch.arange(s, device=self.start.device)

    def write(self, cache: torch.Tensor, new: torch.Tensor, dim: int) -> torch.Tensor:
        """Write new [B, ..., S, ...] (positions along `dim`) into cache [slots, ..., T, ...] at each row's
        positions; return the rows' cache up to the step's last position (a view when the slots are a prefix)."""
        s = new.shape[dim]
        end = self.last + s
        if end > cache.shape[dim]:
            raise IndexError(f"cache holds {cache.shape[dim]} positions; step needs {end}")
        pos = self.positions(s)  # [B, S]
        index = (self.slots[:, None],) + (slice(None),) * (dim - 1) + (pos,)
        cache[index] = new.movedim(dim, 1)  # advanced indices first: [B, S, ...]
        if self.prefix:
            return cache[: len(self.slots)].narrow(dim, 0, end)
        return cache[self.slots].narrow(dim, 0, end)


class KVCache(nn.Module):
    def __init__(self, batch: int, max_len: int, kv_heads: int, head_dim: int, dtype: torch.dtype, device=None):
        super().__init__()
        shape = (batch, kv_heads, max_len, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def update(self, start: int | Rows, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """k, v: [B, H_kv, S, D] for positions start..start+S-1 -> the cache [B, H_kv, start+S, D] so far."""
        if isinstance(start, Rows):
            return start.write(self.k, k, 2), start.write(self.v, v, 2)
        end = start + k.shape[2]
        if end > self.max_len:
            raise IndexError(f"KV cache holds {self.max_len} positions; step needs {end}")
        b = k.shape[0]
        pos = torch.arange(start, end, device=k.device)  # an index write: see the module docstring
        self.k[:b, :, pos] = k
        self.v[:b, :, pos] = v
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

    def update(self, start: int | Rows, c: torch.Tensor, pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """c: [B, S, R], pe: [B, S, r] -> the cache [B, start+S, R], [B, start+S, r] so far."""
        if isinstance(start, Rows):
            return start.write(self.c, c, 1), start.write(self.pe, pe, 1)
        end = start + c.shape[1]
        if end > self.max_len:
            raise IndexError(f"latent cache holds {self.max_len} positions; step needs {end}")
        b = c.shape[0]
        pos = torch.arange(start, end, device=c.device)  # an index write: see the module docstring
        self.c[:b, pos] = c
        self.pe[:b, pos] = pe
        return self.c[:b, :end], self.pe[:b, :end]

    def bytes_per_token(self) -> int:
        return (self.c.shape[-1] + self.pe.shape[-1]) * self.c.element_size()
