"""One speculative round on the device: the functions the generation loop calls, written so that torch.compile
(compile.py) turns each into one graph and the round needs one host sync (the packed result's .tolist()).

- verify_round: the target's forward over the newest token and the k drafts, and the rejection sampler
  (sampling.accept), -> packed [k+2] (accepted m, then the emitted tokens' slots) and the final-normed states.
- draft_round: a draft model's k autoregressive steps, unrolled (gpt-fast's speculative_decode calls one compiled
  step k times; here the k steps are one graph, so one call per round). The first step feeds the last two
  committed tokens (see DraftModelProposer), later ones the previous draft; no draft leaves the device.
- mtp_round: the MTP module's catch-up over the target states it has not consumed, then k - 1 chained steps.
- verify_mtp_round: verify_round and the next round's MTP drafting in one graph (MTPProposer's rounds after its
  first: one call a round).

Random numbers are drawn by the caller from its generator (sampling.draw_noise) and passed in: a graph does not
take a torch.Generator, and the caller's seed then decides every sample, compiled or not.
"""

from __future__ import annotations

import torch

from specsize.engine.cache import Rows
from specsize.engine.sampling import SamplingParams, accept, probs, sample_exp


def align_vocab(p: torch.Tensor, vocab: int) -> torch.Tensor:
    """Draft distributions over the target's vocabulary: padding rows beyond the shared range are dropped
    (and the mass renormalised) or added as zeros."""
    v = p.shape[-1]
    if v == vocab:
        return p
    if v > vocab:
        p = p[..., :vocab]
        return p / p.sum(-1, keepdim=True).clamp_min(1e-30)
    return torch.nn.functional.pad(p, (0, vocab - v))


def verify_round(model, last: torch.Tensor, drafts: torch.Tensor | None, start: int, draft_probs: torch.Tensor | None,
                 params: SamplingParams, noise: tuple[torch.Tensor, torch.Tensor] | None):  # fmt: skip
    """last [1] the newest token (at position start), drafts [k] -> packed [k+2] (sampling.accept), states
    [1, k+1, h]. drafts None: plain decoding (k = 0)."""
    block = (last if drafts is None else torch.cat((last, drafts))).view(1, -1)
    logits, hidden = model.step(block, start, True, False)
    return accept(logits[0], drafts, draft_probs, params, noise), hidden


def _draw(logits: torch.Tensor, params: SamplingParams, noise: torch.Tensor | None, shared: int, vocab: int):
    """One draft token from logits [V_draft] (and its distribution over the target's vocabulary when sampling)."""
    if params.greedy:
        return logits[:shared].argmax(), None
    p = align_vocab(probs(logits, params), vocab)
    return sample_exp(p, noise), p


def draft_round(model, block: torch.Tensor, start: int, k: int, params: SamplingParams, noise: torch.Tensor | None,
                shared: int, vocab: int):  # fmt: skip
    """block [1, S] at positions start.. (the tokens the draft has not cached) -> drafts [k], and their
    distributions [k, vocab] when sampling (else None). noise [k, vocab]: Exp(1) draws (sampling only)."""
    x, pos, toks, dists = block, start, [], []
    for i in range(k):
        logits = model.step(x, pos, False, True)[0, -1]
        pos = pos + x.shape[1]
        tok, p = _draw(logits, params, None if noise is None else noise[i], shared, vocab)
        toks.append(tok)
        if p is not None:
            dists.append(p)
        x = tok.view(1, 1)
    return torch.stack(toks), torch.stack(dists) if dists else None


def mtp_round(model, hidden: torch.Tensor, next_tokens: torch.Tensor, start: int, k: int, params: SamplingParams,
              noise: torch.Tensor | None):  # fmt: skip
    """hidden [1, n, h] target states at positions start..start+n-1 the module has not consumed, next_tokens
    [1, n] the tokens after them -> drafts [k] and their distributions (sampling) or None. The chained steps sit
    at positions start+n.. (overwritten by the next round's MTP step before any read)."""
    logits, state = model.mtp_step(hidden, next_tokens, start, True)  # MLP and head on the last position only
    return _mtp_chain(model, logits[0, -1], state, start + hidden.shape[1], k, params, noise)


def _mtp_chain(model, logits: torch.Tensor, state: torch.Tensor, pos: int | Rows, k: int, params: SamplingParams,
               noise: torch.Tensor | None):  # fmt: skip
    """k MTP drafts: the first from logits [V], then k - 1 steps of the module on its own state [1, 1, h], at
    positions pos.. (an int, or Rows when the position is a device value)."""
    vocab = model.arch.vocab_size
    toks, dists = [], []
    for i in range(k):
        tok, p = _draw(logits, params, None if noise is None else noise[i], vocab, vocab)
        toks.append(tok)
        if p is not None:
            dists.append(p)
        if i + 1 < k:
            lg, state = model.mtp_step(state, tok.view(1, 1), pos)
            logits = lg[0, -1]
            pos = Rows(pos.slots, pos.start + 1, pos.last + 1, True) if isinstance(pos, Rows) else pos + 1
    return torch.stack(toks), torch.stack(dists) if dists else None


def verify_mtp_round(model, last: torch.Tensor, drafts: torch.Tensor | None, start: int,
                     draft_probs: torch.Tensor | None, params: SamplingParams,
                     noise: tuple[torch.Tensor, torch.Tensor] | None, k: int, draft_params: SamplingParams,
                     mtp_noise: torch.Tensor | None):  # fmt: skip
    """verify_round with the next round's MTP drafting in the same call (one compiled graph: an MTP round is one
    call). After the acceptance, on the device: the MTP module over the k+1 verified positions start..start+k,
    the token after position start+i being packed[1+i] (the accepted draft i for i < m, the recovered or bonus
    token at i = m); its logits at row m give the next round's first draft, then k - 1 chained steps at
    positions start+m+1.. (Rows: the position is a device value). -> packed, states [1, k+1, h] (verify_round),
    and the next round's k drafts [k] and their distributions (sampling) or None, drawn with the drafter's
    draft_params (the verification's are `params`); mtp_noise [k, V] Exp(1) draws.

    The module's cache past position start+m holds rows that were not accepted (and the chained steps): each is
    overwritten before any read, because the next round's verification starts at start+m+1 and writes all its
    positions before its attention reads them, and a row reads only positions up to its own."""
    block = (last if drafts is None else torch.cat((last, drafts))).view(1, -1)
    n = block.shape[1]
    logits, hidden = model.step(block, start, True, False)
    packed = accept(logits[0], drafts, draft_probs, params, noise)
    m = packed[:1]
    lg, state = model.mtp_step(hidden, packed[1 : n + 1].view(1, n), start, False, m)  # MLP and head on row m
    cache_len = model.mtp.self_attn.cache.max_len
    pos = Rows(torch.zeros_like(m), start + 1 + m, min(start + n, cache_len - 1), True)  # bound: m <= n - 1
    nxt, dists = _mtp_chain(model, lg[0, -1], state, pos, k, draft_params, mtp_noise)
    return packed, hidden, nxt, dists


def compiled(model, start: int, tokens: int):
    """The model's compiled round functions (compile.CompiledSteps) when they apply to a step of `tokens` tokens
    at `start`, else None (eager): positions 0 and 1 stay eager (dynamo specialises them: a graph each)."""
    steps = getattr(model, "steps", None)
    if steps is None or start < 2 or torch.is_grad_enabled():
        return None
    return steps if steps.fits(tokens) else None


def verify(model, last, drafts, start, draft_probs, params, noise):
    """verify_round, through the compiled graph when the model is compiled."""
    steps = compiled(model, start, 1 + (0 if drafts is None else drafts.shape[0]))
    fn = steps.verify if steps is not None else lambda *a: verify_round(model, *a)
    return fn(last, drafts, start, draft_probs, params, noise)
