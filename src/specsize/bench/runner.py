"""Measure speculative decoding on this machine: every (method, k) against plain decoding on the same prompts,
warm-up excluded, repeated (median and spread); the step-time curve T(n); and the closed loop: the planner's
speculative formula fed with the measured acceptance and the measured T(n), predicted vs measured speedup."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from specsize.engine.generate import SpecStats, generate
from specsize.engine.model import Transformer
from specsize.engine.proposers import DraftModelProposer, MTPProposer, NgramProposer
from specsize.engine.sampling import GREEDY


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

    @property
    def rates(self) -> list[float]:
        return [r.tokens_per_s for r in self.runs]

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
        g = generate(target, ids, max_new, GREEDY, prop, k if prop else 0, eos)
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
            done: Callable[[list[ConfigResult], dict[str, list[float]] | None], None] | None = None,
            curves: dict[str, Callable[[], Callable[[int], None]]] | None = None,
            ) -> tuple[list[ConfigResult], dict[str, list[float]] | None]:  # fmt: skip
    """Plain decoding (the baseline) and each (method, k), interleaved (progress() is told of each of the
    measure_units() pieces of work as it starts): every pass runs each configuration once
    over every prompt, and then, with `curves` (name -> a factory of a step closure), times T(n) once more. A
    machine that speeds up or slows down during the bench then shifts every configuration and T(n) alike,
    instead of the ones measured at the time. Warm-up passes over the first prompt (compilation included) are
    not counted. done() receives the results so far after every configuration of every pass (bench writes
    partial results from it). Returns the results and T(n), the median over the passes per n."""
    order = [("none", 0), *configs]
    for method, k in order:
        if progress and warmup:
            progress(f"warm-up: {method} k={k}")
        for _ in range(warmup):
            run_once(target, draft, prompts[:1], method, k, max_new, eos)
    results = [ConfigResult(method, k, []) for method, k in order]
    passes: dict[str, list[list[float]]] = {name: [] for name in curves or {}}
    steps = None
    for r in range(repeats):
        for res in results:
            if progress:
                progress(f"pass {r + 1}/{repeats}: {res.method} k={res.k}")
            res.runs.append(run_once(target, draft, prompts, res.method, res.k, max_new, eos))
            if done:
                done([x for x in results if x.runs], steps)
        if curves:
            if progress:
                progress(f"pass {r + 1}/{repeats}: step times T(n)")
            for name, make in curves.items():
                passes[name].append(step_times(make(), repeats=5))
            steps = {name: [statistics.median(c) for c in zip(*curves_, strict=True)]
                     for name, curves_ in passes.items()}  # fmt: skip
            if done:
                done(results, steps)
    return results, steps


def measure_units(configs: int, repeats: int, warmup: int, curves: bool) -> int:
    """How many progress() calls measure() makes: a warm-up per configuration, then per pass one run per
    configuration and one step-time curve; `configs` counts the baseline."""
    return configs * (1 if warmup else 0) + repeats * (configs + (1 if curves else 0))


@torch.inference_mode()
def step_times(forward: Callable[[int], None], n_max: int = 16, repeats: int = 11) -> list[float]:
    """T(n), n = 1..n_max: the median time of forward(n) (one step over n tokens at a fixed context), after a
    warm-up of every size (first calls allocate, pick kernels or compile)."""
    for n in range(1, n_max + 1):
        forward(n)
    out = []
    for n in range(1, n_max + 1):
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            forward(n)
            ts.append(time.perf_counter() - t0)
        out.append(statistics.median(ts))
    return out


def target_forward(model: Transformer, context: list[int]) -> Callable[[int], None]:
    """A closure timing one target step of n tokens after `context` (its cache filled once)."""
    model.setup_cache(1, len(context) + 32)
    ids = torch.tensor([context])
    model(ids, start=0)
    block = torch.tensor([context[:16] * 2])

    def step(n: int) -> None:
        model(block[:, :n], start=len(context))

    return step


def mtp_forward(model: Transformer, context: list[int]) -> Callable[[int], None]:
    model.setup_cache(1, len(context) + 32)
    ids = torch.tensor([context])
    _, h = model(ids, start=0, return_hidden=True)
    model.mtp_forward(h, torch.tensor([context[1:] + context[:1]]), start=0)
    hs, nxt = h[:, :16].repeat(1, 2, 1), torch.tensor([context[:16] * 2])

    def step(n: int) -> None:
        model.mtp_forward(hs[:, :n], nxt[:, :n], start=len(context))

    return step
