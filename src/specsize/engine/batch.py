"""Batched speculative decoding with continuous batching: many sequences share every target forward.

Each sequence owns a slot (a row of the caches' batch dimension, cache.Rows) from the moment it joins until it
finishes. Between rounds, finished or cancelled sequences leave and waiting ones join (their prompt is
prefilled alone, into their slot). A round is generate.py's, for every row at once:
propose (each row's drafts, batch.py's drafters) -> one target forward over [B, 1 + max k] tokens, each row at
its own position -> verify each row with its own sampling parameters and generator (sampling.verify) -> each
row keeps its own accepted tokens and rolls back on its own (its next start position). A row with fewer drafts
is padded; the padding lands past its committed positions, is masked, and is overwritten later.

Slots, not pages. A paged cache (vLLM's PagedAttention) allocates positions in blocks on demand, so many
sequences of unequal length share memory without reserving the longest; its cost is a block table and an
attention kernel that follows it. Slots (llama.cpp's `--parallel N`) reserve max_len positions per sequence up
front: wasteful when lengths vary, but the static caches stay static, attention stays PyTorch's
scaled_dot_product_attention over a slice, and rollback stays free. At the sizes this engine runs (a bundled
tiny model, a laptop, N <= 32) memory is not the limit, so slots win on simplicity.

Greedy output is token-identical to each request decoded alone with plain greedy decoding (tests/test_batch.py):
verification accepts a draft only when it is the target's argmax at its position, whatever the other rows do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from specsize.engine.cache import Rows
from specsize.engine.generate import SpecStats
from specsize.engine.model import Transformer
from specsize.engine.proposers import NgramProposer, Proposal, _align, check_draft_vocab_size
from specsize.engine.sampling import GREEDY, SamplingParams, next_token, probs, verify
from specsize.errors import SpecsizeError

FINISHED = ("eos", "stop", "length", "context", "abort", "error")


@dataclass
class Sequence:
    """One request and its decoding state. on_tokens receives each round's new tokens (the first from the
    prefill); returning True stops the sequence (a stop string was found)."""

    prompt: list[int]
    max_new_tokens: int
    params: SamplingParams = GREEDY
    seed: int | None = None
    eos_ids: tuple[int, ...] = ()
    on_tokens: Callable[[list[int]], bool | None] | None = None
    # state, set by the engine
    tokens: list[int] = field(default_factory=list)  # prompt + generated
    out: list[int] = field(default_factory=list)  # generated
    stats: SpecStats = field(default_factory=SpecStats)
    finish_reason: str | None = None  # one of FINISHED once done
    error: str | None = None
    slot: int = -1
    budget: int = 0
    cancelled: bool = False  # set from any thread; the engine drops the row at the next round
    generator: torch.Generator | None = None
    drafter_state: dict = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.finish_reason is not None


def _draw(logits: torch.Tensor, params: SamplingParams, gen: torch.Generator | None, vocab: int | None = None,
          shared: int | None = None) -> tuple[int, torch.Tensor | None]:  # fmt: skip
    """One draft token from a drafter's logits [V]: the argmax (over the shared vocabulary) when greedy, else a
    sample and its distribution over the target's vocabulary (for the rejection sampler)."""
    if params.greedy:
        return int(logits[:shared].argmax()), None
    p = probs(logits, params)
    p = _align(p, vocab) if vocab is not None else p
    return int(torch.multinomial(p, 1, generator=gen)), p


def _proposals(rows: list[Sequence], drafts: list[list[int]], dists: list[list[torch.Tensor]]) -> list[Proposal]:
    return [Proposal(d, torch.stack(q) if q else None) for d, q in zip(drafts, dists, strict=True)]


class BatchNgram:
    """Prompt lookup per row (NgramProposer; no model, nothing to batch)."""

    def __init__(self, min_n: int = 1, max_n: int = 4):
        self.proposer = NgramProposer(min_n, max_n)

    def setup_cache(self, slots: int, max_len: int) -> None:
        pass

    def begin(self, seq: Sequence, hidden: torch.Tensor) -> None:
        pass

    def propose(self, rows: list[Sequence], ks: list[int]) -> list[Proposal]:
        return [self.proposer.propose(r.tokens, k) if k > 0 else Proposal([]) for r, k in zip(rows, ks, strict=True)]

    def accepted(self, seq: Sequence, hidden: torch.Tensor) -> None:
        pass


class BatchMTP:
    """DeepSeek MTP for many rows (proposers.MTPProposer's protocol, per row): the module catches up on the
    target states each row has not consumed (padded to the longest), then chains on its own states."""

    def __init__(self, target: Transformer):
        if target.mtp is None:
            raise SpecsizeError(f"{target.arch.name} has no MTP layer (num_nextn_predict_layers is 0, or the "
                                "checkpoint does not include it); use --method draft or ngram")  # fmt: skip
        self.model = target
        self.device = target.model.embed_tokens.weight.device

    def setup_cache(self, slots: int, max_len: int) -> None:
        pass  # the MTP layer's slots come with the target's (Transformer.setup_cache)

    def begin(self, seq: Sequence, hidden: torch.Tensor) -> None:
        """Consume the prompt's states now (one row alone), all but the last: the rounds then catch up on a
        few positions each."""
        n = hidden.shape[1] - 1  # hidden: [1, P, h]
        st = seq.drafter_state
        if n > 0:
            nxt = torch.tensor([seq.tokens[1 : 1 + n]], device=self.device)
            start = Rows.of([seq.slot], [0], self.device)
            self.model.mtp_step(hidden[:, :n], nxt, start, True)  # the cache written; MLP and head on one position
        st["pending"], st["pos"] = hidden[0, n:], n  # states [n, h] not consumed; the module's next position

    def propose(self, rows: list[Sequence], ks: list[int]) -> list[Proposal]:
        states = [r.drafter_state for r in rows]
        lens = [st["pending"].shape[0] for st in states]
        L, K = max(lens), max(ks)
        h = torch.stack(
            [torch.nn.functional.pad(st["pending"], (0, 0, 0, L - n)) for st, n in zip(states, lens, strict=True)]
        )
        nxt = torch.tensor([r.tokens[st["pos"] + 1 : st["pos"] + 1 + n] + [0] * (L - n)
                            for r, st, n in zip(rows, states, lens, strict=True)], device=self.device)  # fmt: skip
        slots = [r.slot for r in rows]
        last = torch.tensor(lens, device=self.device) - 1  # each row's last real position: its MLP and head only
        start = Rows.of(slots, [st["pos"] for st in states], self.device)
        logits, state = self.model.mtp_forward(h, nxt, start, at=last if L > 1 else None)  # L 1: the chain's graph
        logits, state = logits[:, 0], state[:, 0]  # [B, V], [B, h]
        pos = [st["pos"] + n for st, n in zip(states, lens, strict=True)]
        for st, p in zip(states, pos, strict=True):
            st["pending"], st["pos"] = None, p
        drafts, dists = [[] for _ in rows], [[] for _ in rows]
        for step in range(K):
            toks = []
            for i, r in enumerate(rows):
                if step < ks[i]:
                    tok, p = _draw(logits[i], r.params, r.generator)
                    drafts[i].append(tok)
                    if p is not None:
                        dists[i].append(p)
                else:
                    tok = 0  # this row has its drafts: padding
                toks.append(tok)
            if step + 1 < K:
                rows_at = Rows.of(slots, [p + step for p in pos], self.device)
                lg, st_ = self.model.mtp_forward(state[:, None], torch.tensor(toks, device=self.device)[:, None],
                                                 start=rows_at)  # fmt: skip
                logits, state = lg[:, -1], st_[:, -1]
        return _proposals(rows, drafts, dists)

    def accepted(self, seq: Sequence, hidden: torch.Tensor) -> None:
        st = seq.drafter_state
        st["pending"] = hidden if st["pending"] is None else torch.cat((st["pending"], hidden))


class BatchDraft:
    """A draft model for many rows, in its own slot caches (proposers.DraftModelProposer's scheme per row: the
    draft feeds the committed tokens it has not seen, then drafts one token per step)."""

    def __init__(self, draft: Transformer, target_vocab: int):
        check_draft_vocab_size(draft.arch.vocab_size, target_vocab)
        self.model, self.vocab = draft, target_vocab
        self.shared = min(draft.arch.vocab_size, target_vocab)
        self.device = draft.model.embed_tokens.weight.device
        self.max_positions = draft.arch.max_position_embeddings

    def setup_cache(self, slots: int, max_len: int) -> None:
        self.model.setup_cache(slots, max_len)

    def begin(self, seq: Sequence, hidden: torch.Tensor) -> None:
        """Prefill the draft with the prompt (one row alone)."""
        p = seq.prompt
        self.model(torch.tensor([p], device=self.device), start=Rows.of([seq.slot], [0], self.device), last_only=True)
        seq.drafter_state["seen"] = len(p)

    def propose(self, rows: list[Sequence], ks: list[int]) -> list[Proposal]:
        seen = [r.drafter_state["seen"] for r in rows]
        feeds = [r.tokens[s:] for r, s in zip(rows, seen, strict=True)]
        lens = [len(f) for f in feeds]
        L, K = max(lens), max(ks)
        slots = [r.slot for r in rows]
        feed = torch.tensor([f + [0] * (L - len(f)) for f in feeds], device=self.device)
        logits = self.model(feed, start=Rows.of(slots, seen, self.device))
        logits = logits[torch.arange(len(rows), device=self.device), torch.tensor(lens, device=self.device) - 1]
        pos = [s + n for s, n in zip(seen, lens, strict=True)]
        for r in rows:
            r.drafter_state["seen"] = len(r.tokens)  # drafts beyond the committed tokens are overwritten later
        drafts, dists = [[] for _ in rows], [[] for _ in rows]
        for step in range(K):
            toks = []
            for i, r in enumerate(rows):
                tok = 0  # padding once the row has its drafts
                if step < ks[i]:
                    tok, p = _draw(logits[i], r.params, r.generator, self.vocab, self.shared)
                    drafts[i].append(tok)
                    if p is not None:
                        dists[i].append(p)
                toks.append(tok)
            if step + 1 < K:
                rows_at = Rows.of(slots, [p + step for p in pos], self.device)
                logits = self.model(torch.tensor(toks, device=self.device)[:, None], start=rows_at)[:, -1]
        return _proposals(rows, drafts, dists)

    def accepted(self, seq: Sequence, hidden: torch.Tensor) -> None:
        pass  # the next propose() feeds what the draft has not seen (rollback = position)


class BatchEngine:
    """Continuous batching over `slots` sequences: add() prefills a sequence into a free slot, step() runs one
    round for every active row and returns the sequences that finished in it. Not thread-safe: one thread
    drives it (serve/scheduler.py); only Sequence.cancelled may be set from elsewhere.

    k = 0 or drafter None is plain decoding, batched the same way (one token per row per round)."""

    def __init__(self, target: Transformer, drafter=None, k: int = 0, slots: int = 4, max_len: int | None = None):
        if drafter is not None and k < 1:
            raise SpecsizeError(f"number of speculative tokens k must be >= 1, got {k}")
        if slots < 1:
            raise SpecsizeError(f"--parallel must be >= 1, got {slots}")
        self.target, self.drafter, self.k = target, drafter, k if drafter is not None else 0
        limit = min(target.arch.max_position_embeddings, getattr(drafter, "max_positions", 1 << 62))
        self.max_len = min(limit, max_len or limit)
        self.device = target.model.embed_tokens.weight.device
        target.setup_cache(slots, self.max_len)
        if drafter is not None:
            drafter.setup_cache(slots, self.max_len)
        self.rows: list[Sequence | None] = [None] * slots

    @property
    def active(self) -> list[Sequence]:
        return [r for r in self.rows if r is not None]

    @property
    def free_slots(self) -> int:
        return self.rows.count(None)

    def max_prompt_tokens(self) -> int:
        """The longest prompt a slot takes (room for one generated token and a verification block)."""
        return self.max_len - self.k - 2

    @torch.inference_mode()
    def add(self, seq: Sequence) -> None:
        """Prefill seq into a free slot and emit its first token (it may finish at once: EOS, max_new_tokens 1)."""
        if not seq.prompt:
            raise SpecsizeError("the prompt is empty")
        if len(seq.prompt) > self.max_prompt_tokens():
            raise SpecsizeError(f"the prompt has {len(seq.prompt):,} tokens; this server's slots hold "
                                f"{self.max_prompt_tokens():,} prompt tokens")  # fmt: skip
        if seq.max_new_tokens < 1:
            raise SpecsizeError(f"max_tokens must be >= 1, got {seq.max_new_tokens}")
        slot = self.rows.index(None)  # ValueError when full: the caller checks free_slots
        seq.slot = slot
        seq.generator = torch.Generator(self.device).manual_seed(seq.seed) if seq.seed is not None else None
        # every position the row may write, padding included, stays inside its slot (see the module docstring)
        seq.budget = min(seq.max_new_tokens, self.max_len - len(seq.prompt) - self.k - 1)
        t0 = time.perf_counter()
        prompt = torch.tensor([seq.prompt], device=self.device)
        logits, hidden = self.target(prompt, start=Rows.of([slot], [0], self.device), return_hidden=True)
        seq.tokens = [*seq.prompt, next_token(logits[0, -1], seq.params, seq.generator)]
        if self.drafter is not None:
            self.drafter.begin(seq, hidden)
        seq.stats.prefill_time = time.perf_counter() - t0
        self.rows[slot] = seq
        self._emit(seq, seq.tokens[-1:])

    def _emit(self, seq: Sequence, new: list[int]) -> None:
        """generate.py's end-of-round checks for one row: callback (stop strings), EOS, budget."""
        seq.out += new
        seq.stats.num_generated_tokens = len(seq.out)
        if seq.on_tokens is not None and seq.on_tokens(new):
            seq.finish_reason = "stop"
        elif any(t in seq.eos_ids for t in new):
            seq.finish_reason = "eos"
        elif len(seq.out) >= seq.budget:
            seq.finish_reason = "length" if seq.budget == seq.max_new_tokens else "context"

    def _release(self) -> list[Sequence]:
        gone = []
        for i, r in enumerate(self.rows):
            if r is not None and (r.done or r.cancelled):
                if not r.done:
                    r.finish_reason = "abort"
                self.rows[i] = None
                gone.append(r)
        return gone

    @torch.inference_mode()
    def step(self) -> list[Sequence]:
        """One round for every active row; returns the sequences that left (finished, cancelled) since the last
        call, their slots free again."""
        gone = self._release()
        rows = self.active
        if not rows:
            return gone
        ks = [min(self.k, r.budget - len(r.out) - 1) for r in rows]
        t0 = time.perf_counter()
        if self.drafter is not None and max(ks) > 0:
            proposals = self.drafter.propose(rows, ks)
        else:
            proposals = [Proposal([]) for _ in rows]
        t1 = time.perf_counter()
        s = 1 + max(len(p.token_ids) for p in proposals)
        block = torch.tensor([[r.tokens[-1], *p.token_ids] + [0] * (s - 1 - len(p.token_ids))
                              for r, p in zip(rows, proposals, strict=True)], device=self.device)  # fmt: skip
        at = Rows.of([r.slot for r in rows], [len(r.tokens) - 1 for r in rows], self.device)
        logits, hidden = self.target(block, start=at, return_hidden=True)  # [B, S, V], [B, S, h]
        results = []
        for b, (r, p) in enumerate(zip(rows, proposals, strict=True)):
            n = len(p.token_ids)
            try:
                results.append(verify(logits[b, : n + 1], p.token_ids, p.probs, r.params, r.generator))
            except Exception as e:  # a failure in one row's sampling fails that request only
                r.finish_reason, r.error = "error", f"{type(e).__name__}: {e}"
                results.append(None)
        t2 = time.perf_counter()
        for b, (r, p, res) in enumerate(zip(rows, proposals, results, strict=True)):
            if res is None:
                continue
            m, nxt = res
            st = r.stats
            st.draft_time += t1 - t0
            st.verify_time += t2 - t1
            st.num_rounds += 1
            st.observe_draft(len(p.token_ids), m)
            new = [*p.token_ids[:m], nxt]
            for i, t in enumerate(new):  # stop at the first EOS inside the accepted run
                if t in r.eos_ids:
                    new = new[: i + 1]
                    break
            new = new[: r.budget - len(r.out)]
            r.tokens += new
            if self.drafter is not None:
                self.drafter.accepted(r, hidden[b, : m + 1])
            try:
                self._emit(r, new)
            except Exception as e:  # the request's own callback failed: that request only
                r.finish_reason, r.error = "error", f"{type(e).__name__}: {e}"
        return gone + self._release()

    def run(self, seqs: list[Sequence]) -> list[Sequence]:
        """Decode all of seqs to the end, admitting them as slots free up (offline batch; tests, benchmarks)."""
        waiting = list(seqs)
        while waiting or self.active:
            while waiting and self.free_slots:
                self.add(waiting.pop(0))
            self.step()
        return seqs
