"""Measure speculative decoding on this machine: every (method, k) against plain decoding on the same prompts,
warm-up excluded, repeated (median and spread); the step-time curve T(n); the round's parts timed by replaying the
loop's own rounds (replay_rounds: the same calls, the same compiled graphs under --compile, with the inputs each
round of the timed runs had, in the loop's order); and the closed loop: predicted vs measured speedup. Graphs
compiled inside a timed region are counted (torch._dynamo's unique_graphs) and reported."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from specsize.engine import rounds
from specsize.engine.generate import RoundRecord, SpecStats, drafts_of, generate, verify_call
from specsize.engine.model import Transformer
from specsize.engine.proposers import DraftModelProposer, MTPProposer, NgramProposer
from specsize.engine.sampling import GREEDY

SPREAD_LIMIT = 0.15  # a configuration whose runs spread more than this ((max - min) / median) is flagged


def graphs_compiled() -> int:
    """Graphs torch.compile has built in this process so far (0 without it)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def spread(values: list[float]) -> float:
    """(max - min) / median of repeated measurements; 0 for fewer than two."""
    med = statistics.median(values) if values else 0.0
    return (max(values) - min(values)) / med if len(values) > 1 and med else 0.0


@dataclass
class Recorded:
    """One generation's rounds (generate(record=...)) and what a replay needs to start where it started."""

    prompt: list[int]
    output: list[int]
    cache_len: int  # the target's cache size in that generation (a compiled graph is specialised on it)
    rounds: list[RoundRecord]


@dataclass
class Run:
    """One pass of one configuration over every prompt."""

    tokens: int = 0  # decode tokens (the prefill's first token excluded)
    decode_time: float = 0.0
    e2e_tokens: int = 0  # every generated token, and prefill + decode time (to compare with generate() peers)
    e2e_time: float = 0.0
    stats: SpecStats = field(default_factory=SpecStats)
    by_category: dict[str, list[float]] = field(default_factory=dict)  # category -> [tokens, seconds]
    outputs: list[list[int]] = field(default_factory=list)
    rounds: list[Recorded] = field(default_factory=list)  # each prompt's rounds as the loop ran them (replay_rounds)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.decode_time if self.decode_time else 0.0

    @property
    def e2e_tokens_per_s(self) -> float:
        return self.e2e_tokens / self.e2e_time if self.e2e_time else 0.0


@dataclass
class ConfigResult:
    method: str
    k: int
    runs: list[Run]
    recompiles: int = 0  # graphs compiled during its timed runs (warm-up excluded)

    @property
    def rates(self) -> list[float]:
        return [r.tokens_per_s for r in self.runs]

    @property
    def spread(self) -> float:
        return spread(self.rates)

    @property
    def flagged(self) -> bool:
        return self.spread > SPREAD_LIMIT or self.recompiles > 0

    @property
    def tokens_per_s(self) -> float:
        return statistics.median(self.rates)

    @property
    def stats(self) -> SpecStats:
        return self.runs[-1].stats  # greedy: every repeat drafts and accepts the same tokens


def proposer_for(method: str, target: Transformer, draft: Transformer | None, cache_len: int):
    if method == "mtp":
        return MTPProposer(target, GREEDY)
    if method == "draft":
        return DraftModelProposer(draft, target.arch.vocab_size, GREEDY, cache_len)
    if method == "ngram":
        return NgramProposer(1, 4)
    return None


def run_once(target: Transformer, draft: Transformer | None, prompts: list[tuple[list[int], str]], method: str,
             k: int, max_new: int, eos: tuple[int, ...]) -> Run:  # fmt: skip
    run = Run()
    for ids, category in prompts:
        prop = proposer_for(method, target, draft, len(ids) + max_new + k + 2)
        rec: list[RoundRecord] = []
        g = generate(target, ids, max_new, GREEDY, prop, k if prop else 0, eos, record=rec)
        run.rounds.append(Recorded(ids, g.token_ids, target.model.layers[0].self_attn.cache.max_len, rec))
        n = max(g.stats.num_generated_tokens - 1, 0)
        run.tokens += n
        run.decode_time += g.stats.decode_time
        run.e2e_tokens += g.stats.num_generated_tokens
        run.e2e_time += g.stats.prefill_time + g.stats.decode_time
        run.stats.add(g.stats)
        c = run.by_category.setdefault(category, [0.0, 0.0])
        c[0] += n
        c[1] += g.stats.decode_time
        run.outputs.append(g.token_ids)
    return run


def measure(target: Transformer, draft: Transformer | None, prompts: list[tuple[list[int], str]],
            configs: list[tuple[str, int]], max_new: int, eos: tuple[int, ...], repeats: int = 3, warmup: int = 1,
            progress: Callable[[str], None] | None = None,
            done: Callable[[list[ConfigResult], dict | None], None] | None = None,
            timer: Callable[[dict], dict] | None = None,
            ) -> tuple[list[ConfigResult], dict | None]:  # fmt: skip
    """Plain decoding (the baseline) and each (method, k), interleaved (progress() is told of each of the
    measure_units() pieces of work as it starts): every pass runs each configuration once over every prompt,
    and then, with `timer` (a StepTimer), times T(n) and replays each configuration's rounds of that pass. A
    machine that speeds up or slows down during the bench then shifts every configuration and T(n) alike,
    instead of the ones measured at the time. Warm-up passes over the first prompt (compilation included) are
    not counted. done() receives the results so far after every configuration of every pass (bench writes
    partial results from it). Returns the results and the timings (StepTimer.combine over the passes)."""
    order = [("none", 0), *configs]
    for method, k in order:
        if progress and warmup:
            progress(f"warm-up: {method} k={k}")
        for _ in range(warmup):
            run_once(target, draft, prompts[:1], method, k, max_new, eos)
    results = [ConfigResult(method, k, []) for method, k in order]
    passes: list[dict] = []
    steps = None
    for r in range(repeats):
        for res in results:
            if progress:
                progress(f"pass {r + 1}/{repeats}: {res.method} k={res.k}")
            g0 = graphs_compiled()
            res.runs.append(run_once(target, draft, prompts, res.method, res.k, max_new, eos))
            res.recompiles += graphs_compiled() - g0
            if not timer:  # nothing replays them
                res.runs[-1].rounds = []
            if done:
                done([x for x in results if x.runs], steps)
        if timer:
            if progress:
                progress(f"pass {r + 1}/{repeats}: step times T(n)")
            passes.append(timer({(x.method, x.k, max_new): x.runs[-1].rounds for x in results}))
            for x in results:  # replayed: the records (tensors among them) need not outlive their pass
                x.runs[-1].rounds = []
            steps = StepTimer.combine(passes)
            if done:
                done(results, steps)
    return results, steps


def measure_units(configs: int, repeats: int, warmup: int, curves: bool) -> int:
    """How many progress() calls measure() makes: a warm-up per configuration, then per pass one run per
    configuration and one step-time curve; `configs` counts the baseline."""
    return configs * (1 if warmup else 0) + repeats * (configs + (1 if curves else 0))


def _median_times(call: Callable[[], None], repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


@torch.inference_mode()
def step_times(forward: Callable[[int], None], n_max: int = 16, repeats: int = 11) -> list[float]:
    """T(n), n = 1..n_max: the median time of forward(n) (one step over n tokens at a fixed context), after a
    warm-up of every size (first calls allocate, pick kernels or compile)."""
    for n in range(1, n_max + 1):
        forward(n)
    return [_median_times(lambda n=n: forward(n), repeats) for n in range(1, n_max + 1)]


def replay_rounds(target: Transformer, draft: Transformer | None, recorded: list[Recorded], method: str, k: int,
                  max_new: int) -> dict:  # fmt: skip
    """The loop's rounds run again and timed: per generation the prefill and the drafter's begin() (untimed), then
    each recorded round in the loop's order: the drafter's state restored (its snapshot), its propose() timed, then
    the verification call (generate.verify_call, the loop's own) timed up to its host read, with the round's
    recorded inputs (committed tokens, position, newest token). Each round verifies new tokens at new positions as
    in the loop, where one round repeated keeps its working set warm and cost 13-14% less than the loop paid
    (benchmarks/loop_gap.py, docs/benchmarks.md). Greedy: the replayed drafts and results must equal the recorded ones
    ("mismatches" counts the rounds that differ). -> {"draft", "verify"}: seconds per round; "rounds",
    "mismatches", "recompiles" (graphs compiled while replaying)."""
    d_t = v_t = 0.0
    n = bad = 0
    g0 = graphs_compiled()
    for gen in recorded:
        ids = gen.prompt
        with torch.inference_mode(False):  # as run_once makes it: a draft's cache built in inference mode is
            prop = proposer_for(method, target, draft, len(ids) + max_new + k + 2)  # another graph (dispatch keys)
        target.setup_cache(1, gen.cache_len)
        device = target.model.embed_tokens.weight.device
        _, hidden = target(torch.tensor([ids], device=device), start=0, return_hidden=True)
        if prop is not None:
            prop.begin(ids, hidden)
        tokens = [*ids, *gen.output]
        for r in gen.rounds:
            if prop is not None and hasattr(prop, "restore"):
                prop.restore(r.state)
            t0 = time.perf_counter()
            proposal = prop.propose(tokens[: r.n], r.k) if prop is not None and r.kk > 0 else None
            drafts, dists = drafts_of(proposal, r.kk, device)
            t1 = time.perf_counter()
            res = verify_call(prop, target, r.last, drafts, r.pos, dists, GREEDY, None)[0].tolist()
            t2 = time.perf_counter()
            d_t, v_t, n = d_t + t1 - t0, v_t + t2 - t1, n + 1
            bad += res != r.packed or (None if drafts is None else drafts.tolist()) != r.drafts
    return {"draft": d_t / n if n else 0.0, "verify": v_t / n if n else 0.0, "rounds": n, "mismatches": bad,
            "recompiles": graphs_compiled() - g0}  # fmt: skip


class StepTimer:
    """Times what the generation loop calls, warm:
    - T(n), n = 1..16 at a fixed context: rounds.verify over n tokens (the target's forward and the rejection
      sampler, the loop's graph under --compile) with its host sync (the planner's per-step curve);
    - the replay mode (a pass's recorded rounds given): each configuration's rounds of that pass replayed in the
      loop's order with their own inputs (replay_rounds); plain decoding's replayed round is the closed loop's T(1);
    - the drafters' one-step curves (a forward of n tokens), which plan --calibration reads.
    Each call is one pass; graphs compiled inside the timed parts are counted ("recompiles")."""

    def __init__(self, target: Transformer, draft: Transformer | None, context: list[int],
                 configs: list[tuple[str, int]], repeats: int = 11):  # fmt: skip
        self.target, self.draft, self.context, self.repeats = target, draft, context, repeats
        self.configs = configs

    @torch.inference_mode()
    def __call__(self, recorded: dict | None = None) -> dict:
        """recorded: {(method, k, max_new_tokens): [Recorded]} a pass's rounds per configuration (plain: "none", 0)."""
        target, ctx = self.target, self.context
        target.setup_cache(1, len(ctx) + 32)
        logits = target(torch.tensor([ctx]), start=0)
        tokens = [*ctx, int(logits[0, -1].argmax())]
        pos, last = len(ctx), torch.tensor(tokens[-1:])
        filler = torch.tensor((ctx * 16)[:16])

        def verify(n: int) -> None:
            drafts = filler[: n - 1] if n > 1 else None
            rounds.verify(target, last, drafts, pos, None, GREEDY, None)[0].tolist()

        for n in range(1, 17):  # warm-up: every size (compiles here, outside the timed part, if not yet)
            verify(n)
        out = {"step_times": {}, "rounds": {}, "recompiles": 0}
        g0 = graphs_compiled()
        out["step_times"]["target"] = [_median_times(lambda n=n: verify(n), self.repeats) for n in range(1, 17)]
        out["recompiles"] += graphs_compiled() - g0
        for (method, k, max_new), recs in (recorded or {}).items():
            rep = replay_rounds(target, self.draft, recs, method, k, max_new)
            out["recompiles"] += rep["recompiles"]
            out["rounds"].setdefault(method, {})[str(k)] = rep
        if self.draft is not None:
            out["step_times"]["draft"] = step_times(_forward(self.draft, ctx), repeats=self.repeats)
        if target.mtp is not None:
            out["step_times"]["mtp"] = step_times(_mtp_forward(target, ctx), repeats=self.repeats)
        return out

    @staticmethod
    def combine(passes: list[dict]) -> dict:
        """The medians over passes, and each figure's spread over them ((max - min) / median)."""
        st = {name: [statistics.median(c) for c in zip(*(p["step_times"][name] for p in passes), strict=True)]
              for name in passes[0]["step_times"]}  # fmt: skip
        st_spread = {name: max(spread([p["step_times"][name][i] for p in passes]) for i in range(len(curve)))
                     for name, curve in st.items()}  # fmt: skip
        rnd: dict = {}
        for method, ks in passes[0]["rounds"].items():
            for k in ks:
                each = [p["rounds"][method][k] for p in passes]
                sums = [e["draft"] + e["verify"] for e in each]
                rnd.setdefault(method, {})[k] = {
                    "draft": statistics.median(e["draft"] for e in each),
                    "verify": statistics.median(e["verify"] for e in each),
                    "spread": spread(sums),  # of the round, draft + verify, over the passes
                    "rounds": each[-1]["rounds"],
                    "mismatches": sum(e["mismatches"] for e in each),
                    "recompiles": sum(e["recompiles"] for e in each),
                }
        return {"step_times": st, "step_spread": st_spread, "rounds": rnd,
                "recompiles": sum(p["recompiles"] for p in passes), "passes": len(passes)}  # fmt: skip


def _forward(model: Transformer, context: list[int]) -> Callable[[int], None]:
    """A closure timing one step of n tokens after `context` (its cache filled once)."""
    model.setup_cache(1, len(context) + 32)
    model(torch.tensor([context]), start=0)
    block = torch.tensor([context[:16] * 2])

    def step(n: int) -> None:
        model(block[:, :n].clone(), start=len(context))

    return step


def _mtp_forward(model: Transformer, context: list[int]) -> Callable[[int], None]:
    model.setup_cache(1, len(context) + 32)
    _, h = model(torch.tensor([context]), start=0, return_hidden=True)
    model.mtp_forward(h, torch.tensor([context[1:] + context[:1]]), start=0)
    hs, nxt = h[:, :16].repeat(1, 2, 1), torch.tensor([context[:16] * 2])

    def step(n: int) -> None:
        model.mtp_forward(hs[:, :n], nxt[:, :n].clone(), start=len(context))

    return step
