"""Drafters. Each turns the committed tokens into a Proposal of k draft tokens (with their probabilities when
it samples them) and keeps its own state in step with what the target accepted: the Proposer protocol, which
NgramProposer, DraftModelProposer and MTPProposer implement and generate.py calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from specsize.engine import rounds
from specsize.engine.model import Transformer
from specsize.engine.rounds import align_vocab
from specsize.engine.sampling import SamplingParams, exponential
from specsize.errors import SpecsizeError
from specsize.scenario import MAX_VOCAB_PADDING


@dataclass
class Proposal:
    token_ids: list[int] | torch.Tensor  # k drafts: a list (lookup) or a tensor [k] on the device (models)
    probs: torch.Tensor | None = None  # [k, V_target] the draft distributions; None: one-hot (argmax or lookup)


@runtime_checkable
class Proposer(Protocol):
    """A drafter for one sequence, as the generation loop (generate.py) drives it."""

    def begin(self, prompt: list[int], hidden: torch.Tensor | None) -> None:
        """After the target's prefill; hidden [1, P, h]: the target's final-normed states of the prompt positions
        (the MTP drafter reads them; others ignore them)."""

    def propose(self, tokens: list[int], k: int) -> Proposal:
        """Up to k drafts after tokens, all committed tokens (the last one not yet seen by the target)."""

    def accepted(self, tokens: list[int], hidden: torch.Tensor | None) -> None:
        """After verification: tokens are all committed tokens now, hidden [1, m+1, h] the target's states at the
        positions it just confirmed."""


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


_align = align_vocab  # batch.py's name for it


def check_draft_vocab_size(draft_vocab: int, target_vocab: int) -> None:
    if abs(draft_vocab - target_vocab) > MAX_VOCAB_PADDING:
        raise SpecsizeError(f"the draft's vocabulary ({draft_vocab:,}) and the target's ({target_vocab:,}) differ "
                            "by more than padding: not the same tokenizer")  # fmt: skip


class DraftModelProposer:
    """A smaller model of the same tokenizer drafting autoregressively through its own static cache, k steps in
    one call (rounds.draft_round, one compiled graph per k). Each round's first step feeds the last two committed
    tokens at their positions: whatever the last round accepted, the draft's cache then holds every committed
    token (the one before the newest is the last accepted draft, never fed when all k were accepted, or a token
    already cached and written again with the same value). Rolling back is free: positions past the committed
    ones are overwritten."""

    def __init__(self, draft: Transformer, target_vocab: int, params: SamplingParams, max_len: int,
                 generator: torch.Generator | None = None):  # fmt: skip
        check_draft_vocab_size(draft.arch.vocab_size, target_vocab)
        self.model, self.vocab, self.params, self.generator = draft, target_vocab, params, generator
        self.shared = min(draft.arch.vocab_size, target_vocab)
        self.device = draft.model.embed_tokens.weight.device
        draft.setup_cache(1, max_len)
        self.cached = 0  # leading positions of the draft's cache that hold committed tokens
        self.fed, self.k = 0, 0  # the last round's committed length and k

    @torch.inference_mode()
    def begin(self, prompt: list[int], hidden: torch.Tensor | None) -> None:
        """The draft's prefill: the prompt but its last token (the first round feeds the last two committed tokens),
        one eager forward. It is the prompt's processing, as the target's prefill is (generate() times it with it,
        as the batched engine does): in the first round it cost the loop 1-2 ms of CPU a generation, 3-5% of the
        decode time on the bench's prompts at k = 7 (benchmarks/loop_gap.py, docs/benchmarks.md)."""
        self.cached = 0
        start = min(len(prompt) - 1, self.model.model.layers[0].self_attn.cache.max_len - 2)
        if start > 0:
            self.model(torch.tensor([prompt[:start]], device=self.device), start=0)
            self.cached = start

    @torch.inference_mode()
    def propose(self, tokens: list[int], k: int) -> Proposal:
        n = len(tokens)
        start = max(n - 2, 0)  # the round feeds tokens[start:]: the last two
        k = min(k, self.model.model.layers[0].self_attn.cache.max_len - start - 1)  # the last fed: start + k
        if k < 1:
            return Proposal([])
        if self.cached < start:  # the prompt, on the first round: one eager prefill
            self.model(torch.tensor([tokens[self.cached : start]], device=self.device), start=self.cached)
        block = torch.tensor([tokens[start:]], device=self.device)
        noise = None if self.params.greedy else exponential((k, self.vocab), self.generator, self.device)
        steps = rounds.compiled(self.model, start, block.shape[1])
        args = (block, start, k, self.params, None if noise is None else noise.to(self.device), self.shared, self.vocab)
        drafts, dists = steps.draft(*args) if steps is not None else rounds.draft_round(self.model, *args)
        self.cached, self.fed, self.k = n, n, k
        return Proposal(drafts, dists)

    def snapshot(self) -> tuple[int, int, int]:
        """What propose() reads and changes (a replay restores it: bench.runner.replay_rounds)."""
        return self.cached, self.fed, self.k

    def restore(self, state: tuple[int, int, int]) -> None:
        self.cached, self.fed, self.k = state

    def accepted(self, tokens: list[int], hidden: torch.Tensor | None) -> None:
        # drafts 1..k-1 were fed at positions fed.., so the accepted ones among them are cached
        self.cached = min(len(tokens) - 1, self.fed + self.k - 1)


class MTPProposer:
    """DeepSeek MTP: the module at position i reads (h_i, t_{i+1}) and predicts t_{i+2}. The first draft of a
    round comes from the target's true states (the module catches up on every position the target confirmed);
    later drafts reuse the one module on its own output state, as vLLM and SGLang do for k > 1.

    Fused (the default): after the first round, the drafts come back with the verification. The loop's
    verification call is this drafter's verify() (generate.verify_call), which runs rounds.verify_mtp_round: the
    target's verification and the module over the verified positions, so a round is one call (one compiled graph
    per k); propose() then hands out the drafts it holds. The first round catches up on the prompt's last states
    (rounds.mtp_round). The drafts are made for the k of the round that verified them: with an adaptive k, a
    larger k is served one round late. fused=False: every round's propose() is the catch-up call
    (rounds.mtp_round), the verification the loop's own (two calls a round)."""

    def __init__(self, target: Transformer, params: SamplingParams, generator: torch.Generator | None = None,
                 fused: bool = True):  # fmt: skip
        if target.mtp is None:
            raise SpecsizeError(f"{target.arch.name} has no MTP layer (num_nextn_predict_layers is 0, or the "
                                "checkpoint does not include it); use --method draft or ngram")  # fmt: skip
        self.model, self.params, self.generator = target, params, generator
        self.pending: torch.Tensor | None = None  # target states [1, n, h] the module has not consumed
        self.mtp_pos = 0  # positions in the module's cache built from the target's states
        self.prev: torch.Tensor | None = None  # [1, 1, h] the state at mtp_pos - 1 (consumed last round)
        self.fused = fused  # generate.verify_call: the loop's verification is this drafter's verify()
        self.next: tuple[torch.Tensor, torch.Tensor | None] | None = None  # fused: drafts from the verification
        self.k = 0  # fused: the drafts the verification makes (the last k asked for)

    @torch.inference_mode()
    def begin(self, prompt: list[int], hidden: torch.Tensor | None) -> None:
        """The module's catch-up over the prompt's states but the last two, one eager step (the prompt's processing,
        timed with the target's prefill, as DraftModelProposer.begin); the first round then catches up two states,
        the compiled graph of later rounds."""
        self.pending, self.mtp_pos, self.prev, self.next = hidden, 0, None, None
        n = 0 if hidden is None else min(hidden.shape[1], len(prompt)) - 2
        if n >= 1:
            nxt = torch.tensor([prompt[1 : n + 1]], device=hidden.device)
            self.model.mtp_step(hidden[:, :n], nxt, 0, True)  # the cache written; MLP and head on one position
            self.pending, self.mtp_pos, self.prev = hidden[:, n:], n, hidden[:, n - 1 : n]

    @torch.inference_mode()
    def propose(self, tokens: list[int], k: int) -> Proposal:
        self.k = k
        if self.next is not None:  # fused: made by the last verification
            drafts, dists = self.next
            self.next = None
            return Proposal(drafts[:k], None if dists is None else dists[:k])
        h, start = self.pending, self.mtp_pos  # states of positions mtp_pos .. len(tokens) - 2
        if h.shape[1] == 1 and self.prev is not None:  # after a rejected first draft: the previous position again
            h, start = torch.cat((self.prev, h), dim=1), start - 1  # (same values), so a catch-up is never one state
        n = h.shape[1]  # and a compiled MTP round has one graph per k
        nxt = torch.tensor([tokens[start + 1 : start + 1 + n]], device=h.device)
        vocab = self.model.arch.vocab_size
        noise = None if self.params.greedy else exponential((k, vocab), self.generator, h.device)
        steps = rounds.compiled(self.model, start, n)
        if steps is not None:
            drafts, dists = steps.mtp_round(h, nxt, start, k, self.params, noise)
        else:
            drafts, dists = rounds.mtp_round(self.model, h, nxt, start, k, self.params, noise)
        self.mtp_pos, self.prev, self.pending = start + n, h[:, -1:], None
        return Proposal(drafts, dists)

    @torch.inference_mode()
    def verify(self, target: Transformer, last, drafts, pos, draft_probs, params, noise):
        """Fused: the loop's verification call (generate.verify_call) with the next round's drafting in it
        (rounds.verify_mtp_round) -> packed, states, as rounds.verify; the drafts are kept for propose(). Near the
        end of the context the chain is cut to the positions left: its steps sit at start+m+1.. (m <= n - 1), so
        k drafts need start + n + k - 1 positions of the module's cache and of the rotary table."""
        n = 1 + (0 if drafts is None else drafts.shape[0])
        room = min(self.model.mtp.self_attn.cache.max_len, self.model.rotary.cos.shape[0]) - (pos + n) + 1
        k = max(1, min(self.k, room))
        vocab = self.model.arch.vocab_size
        mtp_noise = None if self.params.greedy else exponential((k, vocab), self.generator, last.device)
        steps = rounds.compiled(target, pos, n)
        args = (last, drafts, pos, draft_probs, params, noise, k, self.params, mtp_noise)
        if steps is not None:
            packed, hidden, nxt, dists = steps.verify_mtp(*args)
        else:
            packed, hidden, nxt, dists = rounds.verify_mtp_round(target, *args)
        self.next = nxt, dists
        return packed, hidden

    def snapshot(self) -> tuple:
        """What propose() reads besides the drafts a fused verification left (a replay restores it:
        bench.runner.replay_rounds). Those drafts are not part of it: in a replay, the replayed verification makes
        them again, so the replay checks the fused drafting against the loop's drafts too."""
        return self.pending, self.mtp_pos, self.prev, self.k

    def restore(self, state: tuple) -> None:
        self.pending, self.mtp_pos, self.prev, self.k = state

    def accepted(self, tokens: list[int], hidden: torch.Tensor | None) -> None:
        """The confirmed states join those not consumed yet; chained positions past mtp_pos get overwritten.
        Fused, the verification consumed them already."""
        if self.fused:
            return
        self.pending = hidden if self.pending is None else torch.cat((self.pending, hidden), dim=1)
