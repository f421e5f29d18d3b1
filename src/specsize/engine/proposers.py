"""Drafters. Each turns the committed tokens into a Proposal of k draft tokens (with their probabilities when
it samples them) and keeps its own state in step with what the target accepted.

Protocol, for one sequence (the generation loop, generate.py):
- begin(prompt, hidden): after the target's prefill; `hidden` [1, P, h] are the target's final-normed states
  of the prompt positions (the MTP drafter reads them; others ignore them);
- propose(tokens, k) -> Proposal, where tokens are all committed tokens (the last one not yet seen by the
  target);
- accepted(tokens, hidden): after verification; tokens are all committed tokens now, hidden [1, m+1, h] the
  target's states at the positions it just confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from specsize.engine.model import Transformer
from specsize.engine.sampling import SamplingParams, probs
from specsize.errors import SpecsizeError
from specsize.scenario import MAX_VOCAB_PADDING


@dataclass
class Proposal:
    token_ids: list[int]
    probs: torch.Tensor | None = None  # [k, V_target] the draft distributions; None: one-hot (argmax or lookup)


class NgramProposer:
    """Prompt lookup (Saxena 2023, apoorvumang/prompt-lookup-decoding; vLLM's ngram proposer): find the most
    recent earlier occurrence of the longest suffix of max_n..min_n tokens and propose what followed it.

    >>> NgramProposer(min_n=1, max_n=3).propose([5, 6, 7, 8, 9, 6, 7], k=3).token_ids
    [8, 9, 6]
    """

    def __init__(self, min_n: int = 1, max_n: int = 4):
        if not 1 <= min_n <= max_n:
            raise SpecsizeError(f"n-gram sizes must satisfy 1 <= min <= max, got {min_n}..{max_n}")
        self.min_n, self.max_n = min_n, max_n

    def begin(self, prompt: list[int], hidden: torch.Tensor | None) -> None:
        pass

    def propose(self, tokens: list[int], k: int) -> Proposal:
        n_tok = len(tokens)
        for n in range(min(self.max_n, n_tok - 1), self.min_n - 1, -1):
            suffix = tokens[n_tok - n :]
            for start in range(n_tok - n - 1, -1, -1):  # most recent match first, not the suffix itself
                if tokens[start : start + n] == suffix:
                    follow = tokens[start + n : start + n + k]
                    if follow:
                        return Proposal(follow)
        return Proposal([])

    def accepted(self, tokens: list[int], hidden: torch.Tensor | None) -> None:
        pass


def _align(p: torch.Tensor, vocab: int) -> torch.Tensor:
    """Draft distributions over the target's vocabulary: padding rows beyond the shared range are dropped
    (and the mass renormalised) or added as zeros."""
    v = p.shape[-1]
    if v == vocab:
        return p
    if v > vocab:
        p = p[..., :vocab]
        return p / p.sum(-1, keepdim=True).clamp_min(1e-30)
    return torch.nn.functional.pad(p, (0, vocab - v))


def check_draft_vocab_size(draft_vocab: int, target_vocab: int) -> None:
    if abs(draft_vocab - target_vocab) > MAX_VOCAB_PADDING:
        raise SpecsizeError(f"the draft's vocabulary ({draft_vocab:,}) and the target's ({target_vocab:,}) differ "
                            "by more than padding: not the same tokenizer")  # fmt: skip


class DraftModelProposer:
    """A smaller model of the same tokenizer drafting autoregressively through its own static cache. Its cache
    is rolled back to the committed length each round and catches up on the tokens it has not seen (the
    accepted drafts' last one and the recovered or bonus token) in the first step of the next round."""

    def __init__(self, draft: Transformer, target_vocab: int, params: SamplingParams, max_len: int,
                 generator: torch.Generator | None = None):  # fmt: skip
        check_draft_vocab_size(draft.arch.vocab_size, target_vocab)
        self.model, self.vocab, self.params, self.generator = draft, target_vocab, params, generator
        self.shared = min(draft.arch.vocab_size, target_vocab)
        self.device = draft.model.embed_tokens.weight.device
        draft.setup_cache(1, max_len)
        self.seen = 0  # committed tokens in the draft's cache

    def begin(self, prompt: list[int], hidden: torch.Tensor | None) -> None:
        self.seen = 0

    @torch.inference_mode()
    def propose(self, tokens: list[int], k: int) -> Proposal:
        device = self.device
        feed = torch.tensor([tokens[self.seen :]], device=device)
        pos, out, dists = self.seen, [], []
        for _ in range(k):
            logits = self.model(feed, start=pos, last_only=True)[0, -1]
            pos += feed.shape[1]
            if self.params.greedy:
                tok = int(logits[: self.shared].argmax())
            else:
                p = _align(probs(logits, self.params), self.vocab)
                tok = int(torch.multinomial(p, 1, generator=self.generator))
                dists.append(p)
            out.append(tok)
            feed = torch.tensor([[tok]], device=device)
        self.seen = len(tokens)  # drafts beyond the committed tokens are overwritten next round
        return Proposal(out, torch.stack(dists) if dists else None)

    def accepted(self, tokens: list[int], hidden: torch.Tensor | None) -> None:
        pass  # the next propose() feeds whatever the draft has not seen (rollback = position)


class MTPProposer:
    """DeepSeek MTP: the module at position i reads (h_i, t_{i+1}) and predicts t_{i+2}. The first draft of a
    round comes from the target's true states (the module catches up on every position the target confirmed);
    later drafts reuse the one module on its own output state, as vLLM and SGLang do for k > 1."""

    def __init__(self, target: Transformer, params: SamplingParams, generator: torch.Generator | None = None):
        if target.mtp is None:
            raise SpecsizeError(f"{target.arch.name} has no MTP layer (num_nextn_predict_layers is 0, or the "
                                "checkpoint does not include it); use --method draft or ngram")  # fmt: skip
        self.model, self.params, self.generator = target, params, generator
        self.pending: torch.Tensor | None = None  # target states [1, n, h] the module has not consumed
        self.mtp_pos = 0  # positions in the module's cache built from the target's states

    def begin(self, prompt: list[int], hidden: torch.Tensor | None) -> None:
        self.pending, self.mtp_pos = hidden, 0

    @torch.inference_mode()
    def propose(self, tokens: list[int], k: int) -> Proposal:
        h = self.pending  # states of positions mtp_pos .. len(tokens) - 2
        n = h.shape[1]
        nxt = torch.tensor([tokens[self.mtp_pos + 1 : self.mtp_pos + 1 + n]], device=h.device)
        logits, state = self.model.mtp_forward(h, nxt, start=self.mtp_pos)
        self.mtp_pos += n
        self.pending = None
        logits, state, pos = logits[0, -1], state[:, -1:], self.mtp_pos
        out, dists = [], []
        for step in range(k):
            if self.params.greedy:
                tok = int(logits.argmax())
            else:
                p = probs(logits, self.params)
                tok = int(torch.multinomial(p, 1, generator=self.generator))
                dists.append(p)
            out.append(tok)
            if step + 1 < k:
                lg, state = self.model.mtp_forward(state, torch.tensor([[tok]], device=h.device), start=pos)
                logits, pos = lg[0, -1], pos + 1
        return Proposal(out, torch.stack(dists) if dists else None)

    def accepted(self, tokens: list[int], hidden: torch.Tensor | None) -> None:
        """The confirmed states join those not consumed yet; chained positions past mtp_pos get overwritten."""
        self.pending = hidden if self.pending is None else torch.cat((self.pending, hidden), dim=1)
