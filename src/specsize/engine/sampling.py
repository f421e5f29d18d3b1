"""Sampling and the speculative verifier (the rejection sampler).

Vocabulary (vLLM's): a round proposes k draft tokens; the target scores them in one forward over k+1
positions. Draft i is *accepted* with probability min(1, p_i(x_i) / q_i(x_i)); at the first rejection a
*recovered* token is sampled from norm(max(0, p_i - q_i)) and the round ends; if all k are accepted a *bonus*
token is sampled from p_{k+1}. The emitted tokens are distributed exactly as the target's (Leviathan et al.
2023, arXiv 2211.17192, Theorem 1; Chen et al. 2023, arXiv 2302.01318).
- A draft without probabilities (n-gram, greedy MTP/draft drafting) is a one-hot q: accept with p_i(x_i),
  recover from p_i with x_i removed.
- Greedy (temperature 0): accept while the draft equals argmax p_i; the next token is argmax p_{m+1}. The
  output is token-identical to plain greedy decoding.
- Temperature, top-k and top-p apply to p and to q alike before the test (probs()).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from specsize.errors import SpecsizeError


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0  # 0: greedy
    top_k: int = 0  # 0: off
    top_p: float = 1.0

    def __post_init__(self):
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise SpecsizeError(f"--temperature must be >= 0 and finite (0: greedy), got {self.temperature}")
        if not math.isfinite(self.top_p):
            raise SpecsizeError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise SpecsizeError(f"--top-k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise SpecsizeError(f"--top-p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


GREEDY = SamplingParams()


def probs(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """logits [..., V] -> the sampling distribution [..., V] (float32) after temperature, top-k, top-p."""
    x = logits.float() / max(params.temperature, 1e-8)
    if params.top_k and params.top_k < x.shape[-1]:
        kth = x.topk(params.top_k, dim=-1).values[..., -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    p = torch.softmax(x, dim=-1)
    if params.top_p < 1.0:
        sp, idx = p.sort(dim=-1, descending=True)
        drop = sp.cumsum(-1) - sp > params.top_p  # keep the smallest prefix whose mass reaches top_p
        sp = sp.masked_fill(drop, 0.0)
        p = torch.zeros_like(p).scatter_(-1, idx, sp)
        p = p / p.sum(-1, keepdim=True)
    return p


def sample(p: torch.Tensor, generator: torch.Generator | None) -> int:
    """One token from a distribution [V]."""
    return int(torch.multinomial(p, 1, generator=generator))


def next_token(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None) -> int:
    """logits [V] -> a token: argmax when greedy, else a sample."""
    if params.greedy:
        return int(logits.argmax())
    return sample(probs(logits, params), generator)


def verify(target_logits: torch.Tensor, draft: list[int], draft_probs: torch.Tensor | None, params: SamplingParams,
           generator: torch.Generator | None) -> tuple[int, int]:  # fmt: skip
    """target_logits [k+1, V] at the positions of the k drafts and the one after; draft_probs [k, V] already
    processed with the same params (None: one-hot drafts). -> (accepted m, the recovered or bonus token)."""
    k = len(draft)
    if params.greedy:
        target = target_logits.argmax(-1).tolist()
        m = 0
        while m < k and draft[m] == target[m]:
            m += 1
        return m, target[m]
    p = probs(target_logits, params)  # [k+1, V]
    u = torch.rand(k, generator=generator).tolist()
    for i, x in enumerate(draft):
        q_x = float(draft_probs[i, x]) if draft_probs is not None else 1.0
        p_x = float(p[i, x])
        if q_x > 0 and u[i] < min(1.0, p_x / q_x):
            continue  # accepted
        if draft_probs is None:
            residual = p[i].clone()
            residual[x] = 0.0
        else:
            residual = (p[i] - draft_probs[i]).clamp_min(0.0)
        total = residual.sum()
        return i, sample(residual / total if total > 0 else p[i], generator)
    return k, sample(p[k], generator)
