"""The generation loop (gpt-fast's shape): prefill, then rounds of propose -> verify (one target forward over
the newest token and k drafts) -> accept -> roll back. Plain autoregressive decoding is the same loop with
no drafter (k = 0), so the baseline and the speculative runs share every line but the proposal.

A round is two calls (rounds.py; one compiled graph each under --compile): the drafter's k steps, and the
verification with the rejection sampler; one call for MTP, whose next drafts are made inside the verification
(verify_call, MTPProposer's fused mode). Drafts, their distributions and the newest token stay on the device;
the round's one host sync reads the packed result (accepted m and the emitted tokens). On CUDA, draft_time then
counts the drafter's launches and verify_time the rest of the round, up to that sync.

Batch size 1 (the caches and the rejection sampler are written for one row; see the README for batching).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from specsize.engine.model import Transformer
from specsize.engine.proposers import Proposal, Proposer
from specsize.engine.rounds import verify
from specsize.engine.sampling import GREEDY, SamplingParams, draw_noise, next_token
from specsize.errors import SpecsizeError


@dataclass
class SpecStats:
    """Counters with vLLM's names (vllm:spec_decode_*); mean_acceptance_length includes the bonus token."""

    num_drafts: int = 0
    num_draft_tokens: int = 0
    num_accepted_tokens: int = 0
    num_accepted_tokens_per_pos: list[int] = field(default_factory=list)
    num_rounds: int = 0  # target forwards after the prefill (= tokens emitted without speculation)
    num_generated_tokens: int = 0
    prefill_time: float = 0.0
    draft_time: float = 0.0
    verify_time: float = 0.0

    def observe_draft(self, num_draft_tokens: int, num_accepted_tokens: int) -> None:
        if num_draft_tokens == 0:
            return
        self.num_drafts += 1
        self.num_draft_tokens += num_draft_tokens
        self.num_accepted_tokens += num_accepted_tokens
        while len(self.num_accepted_tokens_per_pos) < num_draft_tokens:
            self.num_accepted_tokens_per_pos.append(0)
        for i in range(num_accepted_tokens):
            self.num_accepted_tokens_per_pos[i] += 1

    def add(self, other: SpecStats) -> None:
        """Accumulate another generation's counters and times (a benchmark over many prompts)."""
        self.num_drafts += other.num_drafts
        self.num_draft_tokens += other.num_draft_tokens
        self.num_accepted_tokens += other.num_accepted_tokens
        for i, n in enumerate(other.num_accepted_tokens_per_pos):
            if i == len(self.num_accepted_tokens_per_pos):
                self.num_accepted_tokens_per_pos.append(0)
            self.num_accepted_tokens_per_pos[i] += n
        self.num_rounds += other.num_rounds
        self.num_generated_tokens += other.num_generated_tokens
        self.prefill_time += other.prefill_time
        self.draft_time += other.draft_time
        self.verify_time += other.verify_time

    @property
    def draft_acceptance_rate(self) -> float:
        return self.num_accepted_tokens / self.num_draft_tokens if self.num_draft_tokens else 0.0

    @property
    def mean_acceptance_length(self) -> float:
        return 1 + self.num_accepted_tokens / self.num_drafts if self.num_drafts else 1.0

    @property
    def decode_time(self) -> float:
        return self.draft_time + self.verify_time

    @property
    def tokens_per_s(self) -> float:
        """Decode tokens per second (the first token comes from the prefill and is excluded)."""
        n = max(self.num_generated_tokens - 1, 0)
        return n / self.decode_time if self.decode_time > 0 else 0.0

    def to_json(self) -> dict:
        return {
            "num_drafts": self.num_drafts, "num_draft_tokens": self.num_draft_tokens,
            "num_accepted_tokens": self.num_accepted_tokens,
            "num_accepted_tokens_per_pos": list(self.num_accepted_tokens_per_pos),
            "draft_acceptance_rate": self.draft_acceptance_rate,
            "mean_acceptance_length": self.mean_acceptance_length, "num_rounds": self.num_rounds,
            "num_generated_tokens": self.num_generated_tokens, "prefill_time_s": self.prefill_time,
            "draft_time_s": self.draft_time, "verify_time_s": self.verify_time, "tokens_per_s": self.tokens_per_s,
        }  # fmt: skip


@dataclass
class RoundRecord:
    """One round's inputs as the loop passed them (generate(record=...)): the committed length n, the k the drafter
    was asked for and the kk verified, the newest token's position and tensor, the drafter's state before its call
    (snapshot()); and what the round produced: the drafts and the packed result (accepted m, emitted tokens)."""

    n: int
    k: int
    kk: int
    pos: int
    last: torch.Tensor
    state: object
    drafts: list[int] | None = None
    packed: list[int] | None = None


def snapshot(proposer: Proposer | None) -> object:
    """The drafter's state before a round (what its propose() reads), for a replay to restore; None without."""
    take = getattr(proposer, "snapshot", None)
    return take() if take is not None else None


@dataclass
class Generation:
    token_ids: list[int]  # generated tokens only (an EOS that ended it included)
    finish_reason: str  # eos | stop | length | context | interrupted
    stats: SpecStats


class AdaptiveK:
    """Hugging Face's "heuristic" schedule for the number of draft tokens: +2 after a round that accepted every
    draft, -1 (not below 1) after one that did not (transformers AssistedCandidateGenerator)."""

    def __init__(self, k: int, k_max: int = 16):
        self.k, self.k_max = k, k_max

    def update(self, proposed: int, accepted: int) -> None:
        if proposed == 0:
            return
        self.k = min(self.k + 2, self.k_max) if accepted == proposed else max(1, self.k - 1)


def verify_call(proposer: Proposer | None, target: Transformer, last, drafts, pos, draft_probs, params, noise):
    """The round's verification call (rounds.verify), or the drafter's own where it fuses its next round's drafting
    into it (a proposer whose `fused` is true, as MTPProposer's default: its verify() of the same arguments)."""
    if getattr(proposer, "fused", False):
        return proposer.verify(target, last, drafts, pos, draft_probs, params, noise)
    return verify(target, last, drafts, pos, draft_probs, params, noise)


def _sync(t: torch.Tensor) -> None:
    if t.is_cuda:
        torch.cuda.synchronize(t.device)


@torch.inference_mode()
def generate(
    target: Transformer,
    prompt: list[int],
    max_new_tokens: int,
    params: SamplingParams = GREEDY,
    proposer: Proposer | None = None,
    k: int = 0,
    eos_ids: tuple[int, ...] = (),
    seed: int | None = None,
    on_tokens: Callable[[list[int]], bool | None] | None = None,
    adaptive: bool = False,
    cache_len: int | None = None,
    record: list | None = None,
) -> Generation:
    """Generate up to max_new_tokens after `prompt`. With a proposer, k drafts per round (adaptive: HF's
    heuristic schedule). on_tokens receives each round's new tokens; returning True stops (stop strings).
    record: a list that receives each round's inputs and result (RoundRecord), what bench's replay
    (bench.runner.replay_rounds) runs again."""
    if not prompt:
        raise SpecsizeError("the prompt is empty")
    if proposer is not None and k < 1:
        raise SpecsizeError(f"number of speculative tokens k must be >= 1, got {k}")
    limit = target.arch.max_position_embeddings
    if len(prompt) >= limit:
        raise SpecsizeError(f"the prompt has {len(prompt):,} tokens; {target.arch.name} holds {limit:,} positions")
    device = target.model.embed_tokens.weight.device
    gen = torch.Generator(device=device).manual_seed(seed) if seed is not None else None  # where logits are
    sched = AdaptiveK(k) if adaptive and proposer is not None else None
    budget = min(max_new_tokens, limit - len(prompt))
    reserve = (sched.k_max if sched else k) + 1
    target.setup_cache(1, cache_len or min(limit, len(prompt) + budget + reserve))
    stats, out, reason = SpecStats(), [], "length" if budget == max_new_tokens else "context"

    t0 = time.perf_counter()
    logits, hidden = target(torch.tensor([prompt], device=device), start=0, return_hidden=True)
    tokens = [*prompt, next_token(logits[0, -1], params, gen)]
    if proposer is not None:  # the drafter's own pass over the prompt (a draft model's prefill) is prefill too
        proposer.begin(prompt, hidden)
    _sync(logits)
    stats.prefill_time = time.perf_counter() - t0
    new = tokens[-1:]
    last = torch.tensor(new, device=device)  # [1] the newest token, not in the target's cache yet
    vocab = target.arch.vocab_size
    try:
        while True:
            out += new
            if on_tokens is not None and on_tokens(new):
                reason = "stop"
                break
            if any(t in eos_ids for t in new):
                reason = "eos"
                break
            if len(out) >= budget:
                break
            pos = len(tokens) - 1  # the newest token's position
            # the round verifies at most what the budget can still take; compiled, the drafter still drafts k
            # while the context has room (its round is a graph per k: no new graphs for the last rounds)
            kd = min(sched.k if sched else k, target.rotary.cos.shape[0] - pos - 1)
            kk = min(kd, budget - len(out) - 1)
            kd = kd if target.steps is not None else kk
            if record is not None:
                record.append(RoundRecord(len(tokens), kd, kk, pos, last, snapshot(proposer)))
            t0 = time.perf_counter()
            proposal = proposer.propose(tokens, kd) if proposer is not None and kk > 0 else None
            drafts, draft_probs = drafts_of(proposal, kk, device)
            t1 = time.perf_counter()
            nd = 0 if drafts is None else drafts.shape[0]
            noise = draw_noise(nd, vocab, params, gen, device)
            packed, hidden = verify_call(proposer, target, last, drafts, pos, draft_probs, params, noise)
            res = packed.tolist()  # the round's one host sync: accepted m, then the emitted tokens
            t2 = time.perf_counter()
            if record is not None:
                record[-1].drafts, record[-1].packed = None if drafts is None else drafts.tolist(), res
            m = res[0]
            last = packed[m + 1 : m + 2].clone()
            stats.draft_time += t1 - t0
            stats.verify_time += t2 - t1
            stats.num_rounds += 1
            stats.observe_draft(nd, m)
            if sched:
                sched.update(nd, m)
            new = res[1 : m + 2]
            if eos_ids:  # stop at the first EOS inside the accepted run
                for i, t in enumerate(new):
                    if t in eos_ids:
                        new = new[: i + 1]
                        break
            new = new[: budget - len(out)]
            tokens += new
            if proposer is not None:
                proposer.accepted(tokens, hidden[:, : m + 1])
    except KeyboardInterrupt:
        reason = "interrupted"
    stats.num_generated_tokens = len(out)
    return Generation(out, reason, stats)


def drafts_of(proposal: Proposal | None, k: int, device: torch.device
              ) -> tuple[torch.Tensor | None, torch.Tensor | None]:  # fmt: skip
    """A proposal's first k drafts as a tensor [k] on the device (None: no drafts) and their distributions."""
    if proposal is None or len(proposal.token_ids) == 0:
        return None, None
    ids = proposal.token_ids[:k]
    drafts = ids if isinstance(ids, torch.Tensor) else torch.tensor(ids, dtype=torch.long, device=device)
    dists = proposal.probs[: drafts.shape[0]] if proposal.probs is not None else None
    return drafts, dists
