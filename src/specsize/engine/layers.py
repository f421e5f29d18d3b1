"""The small modules every decoder here is built of: RMSNorm, FusedNames (one nn.Linear for the projections that
read the same input, with Hugging Face's names at the state dict) and the SwiGLU MLP."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * F.rms_norm(x.float(), self.weight.shape, eps=self.eps).to(x.dtype)


class FusedNames:
    """gpt-fast's load hook: one nn.Linear (`fused`) holds the linears that read the same input (`parts`, name ->
    output rows, stacked in that order), so forward runs one matmul; a state dict keeps the checkpoint's names
    (the parts are concatenated when one is loaded, split when one is taken), so loader.py, saver.py and the
    transformers comparison see Hugging Face keys. All parts have a bias or none has."""

    def __init__(self, fused: str, parts: dict[str, int]):
        self.fused, self.parts = fused, parts

    def attach(self, module: nn.Module) -> None:
        module.register_load_state_dict_pre_hook(self.join)
        module.register_state_dict_post_hook(partial(self.split))  # torch marks the hook: a bound method takes no mark

    def join(self, module, state, prefix, *_) -> None:
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{p}.{suffix}" for p in self.parts]
            if all(k in state for k in keys):  # else the strict load names the missing fused key
                state[f"{prefix}{self.fused}.{suffix}"] = torch.cat([state.pop(k) for k in keys])

    def split(self, module, state, prefix, _) -> None:
        for suffix in ("weight", "bias"):
            t = state.pop(f"{prefix}{self.fused}.{suffix}", None)
            if t is not None:
                for p, rows in zip(self.parts, t.split(list(self.parts.values())), strict=True):
                    state[f"{prefix}{p}.{suffix}"] = rows


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)); gate and up are one matmul (gate_up_proj, FusedNames)."""

    def __init__(self, hidden: int, inter: int, bias: bool = False):
        super().__init__()
        self.gate_up_proj = nn.Linear(hidden, 2 * inter, bias=bias)  # rows: gate_proj, then up_proj
        self.down_proj = nn.Linear(inter, hidden, bias=bias)
        FusedNames("gate_up_proj", {"gate_proj": inter, "up_proj": inter}).attach(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, u = self.gate_up_proj(x).chunk(2, dim=-1)  # [..., I] each
        return self.down_proj(F.silu(g) * u)
