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


def sample_exp(p: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """A token from a distribution p [..., V], given e [..., V] independent Exp(1) draws: argmax(p / e) (the
    exponential race, as gpt-fast's multinomial_sample_one_no_sync: P(argmax = i) = p_i / sum(p)). No host sync,
    and p need not be normalised."""
    return torch.argmax(p / e, dim=-1)


def draw_noise(k: int, vocab: int, params: SamplingParams, generator: torch.Generator | None, device=None):
    """A verification's random numbers, drawn from the caller's generator: u [k] uniform (the acceptance tests)
    and e [vocab] Exp(1) (the recovered or bonus token); None when greedy (nothing is drawn)."""
    if params.greedy:
        return None
    u = torch.rand(k, generator=generator, device=generator.device if generator is not None else device)
    return u.to(device), exponential((vocab,), generator, device)


def exponential(shape: tuple[int, ...], generator: torch.Generator | None, device=None) -> torch.Tensor:
    """Exp(1) draws of `shape` from the generator, on its own device (where torch requires it), moved to device."""
    where = generator.device if generator is not None else device
    return torch.empty(shape, device=where).exponential_(generator=generator).to(device)


def accept(target_logits: torch.Tensor, drafts: torch.Tensor | None, draft_probs: torch.Tensor | None,
           params: SamplingParams, noise: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:  # fmt: skip
    """The rejection sampler on the device (no host sync). target_logits [k+1, V] at the positions of the k
    drafts [k] and the one after; draft_probs [k, V] processed with the same params (None: one-hot drafts);
    noise from draw_noise. -> packed [k+2]: the number of accepted drafts m, then k+1 token slots of which the
    first m+1 are emitted (the accepted drafts, then the recovered or bonus token)."""
    k = 0 if drafts is None else drafts.shape[0]
    if params.greedy:
        target = target_logits.argmax(-1)  # [k+1]; the emitted run is target[: m+1] (drafts[:m] equal it)
        m = torch.cumprod((drafts == target[:k]).long(), 0).sum() if k else target.new_zeros(())
        return torch.cat((m.view(1), target))
    u, e = noise
    p = probs(target_logits, params)  # [k+1, V]
    if not k:
        return torch.cat((p.new_zeros(1, dtype=torch.long), sample_exp(p[0], e).view(1)))
    x = drafts[:, None]
    p_x = p[:k].gather(1, x).squeeze(1)
    if draft_probs is None:  # one-hot q: accept with p_i(x_i), recover from p_i without x_i
        q_x = torch.ones_like(p_x)
        residual = p[:k].scatter(1, x, 0.0)
    else:
        q_x = draft_probs.gather(1, x).squeeze(1)
        residual = (p[:k] - draft_probs).clamp_min(0.0)
    ok = (q_x > 0) & (u[:k] * q_x < p_x)  # u < min(1, p_x / q_x), as u < 1
    m = torch.cumprod(ok.long(), 0).sum()
    residual = torch.where(residual.sum(-1, keepdim=True) > 0, residual, p[:k])  # sample_exp normalises
    tok = sample_exp(torch.cat((residual, p[k:])).index_select(0, m.view(1))[0], e)
    slots = torch.cat((drafts, tok.view(1)))
    slots = torch.where(torch.arange(k + 1, device=slots.device) == m, tok, slots)
    return torch.cat((m.view(1), slots))


def verify(target_logits: torch.Tensor, draft: list[int], draft_probs: torch.Tensor | None, params: SamplingParams,
           generator: torch.Generator | None) -> tuple[int, int]:  # fmt: skip
    """accept() for host lists: target_logits [k+1, V], draft k tokens, draft_probs [k, V] (None: one-hot drafts)
    -> (accepted m, the recovered or bonus token)."""
    drafts = torch.tensor(draft, dtype=torch.long, device=target_logits.device) if draft else None
    noise = draw_noise(len(draft), target_logits.shape[-1], params, generator, target_logits.device)
    packed = accept(target_logits, drafts, draft_probs, params, noise).tolist()
    return packed[0], packed[1 + packed[0]]
