"""The speculative-decoding model: tokens per round, round time, speedup, the best k, break-even concurrency and
the MoE penalty. Formulas: Leviathan, Kalman, Matias 2023 (arXiv 2211.17192, Thm 3.8) and Chen et al. 2023
(arXiv 2302.01318).

    E[L]        = 1 + sum_{j=1..k} prod_{i<=j} alpha_i            (bonus token included)
    round(B, k) = T(B (k+1)) + T_draft + round overhead             (one verification of k+1 tokens per sequence)
    speedup     = E[L] T(B) / round(B, k)                           (same concurrency, same engine)

T_draft: MTP / EAGLE: one step over the B (k+1) tokens the target just verified (the module catches up on
them), then k - 1 steps of B tokens; a draft model: a step of 2 B tokens (the bonus token and the first draft),
then k - 1 of B; n-gram: 0 (a CPU lookup).
"""

from __future__ import annotations

from dataclasses import dataclass

from specsize.deployment import Deployment
from specsize.errors import PlanError
from specsize.perf import step_time
from specsize.perf_constants import (
    DRAFT_ACCEPTANCE,
    EAGLE_ACCEPTANCE,
    MAX_K,
    MTP_ACCEPTANCE_DECAY,
    MTP_FIRST_ACCEPTANCE,
    NGRAM_REPEAT_FRACTION,
)
from specsize.scenario import Speculative


def default_acceptance(method: str, k: int, repeat_fraction: float = NGRAM_REPEAT_FRACTION) -> tuple[float, ...]:
    """Per-position conditional acceptance rates, the documented defaults (perf_constants)."""
    if method == "mtp":
        return tuple(MTP_FIRST_ACCEPTANCE * MTP_ACCEPTANCE_DECAY**i for i in range(k))
    if method == "draft":
        return (DRAFT_ACCEPTANCE,) * k
    if method == "eagle":
        return (EAGLE_ACCEPTANCE,) * k
    if method == "ngram":
        return (repeat_fraction,) * k
    raise PlanError(f"no acceptance model for method {method!r}")


def acceptance_rates(spec: Speculative, k: int, repeat_fraction: float = NGRAM_REPEAT_FRACTION) -> tuple[float, ...]:
    """Rates for k positions: the given ones, extended past their end with the method's default shape
    (MTP keeps decaying from the last given rate; the others repeat it)."""
    given = spec.acceptance
    if not given:
        return default_acceptance(spec.method, k, repeat_fraction)
    rates = list(given[:k])
    while len(rates) < k:
        rates.append(rates[-1] * (MTP_ACCEPTANCE_DECAY if spec.method == "mtp" else 1.0))
    return tuple(rates)


def expected_length(alphas: tuple[float, ...]) -> float:
    """E[L] = 1 + sum_j prod_{i<=j} alpha_i: tokens emitted per round, bonus included."""
    total, p = 1.0, 1.0
    for a in alphas:
        p *= a
        total += p
    return total


def ideal_speedup(alphas: tuple[float, ...], c: float) -> float:
    """Leviathan et al. Theorem 3.8 generalised to per-position rates: E[L] / (k c + 1), c = draft step time /
    target step time. Assumes verifying k+1 tokens costs one target step: true only for a dense, memory-bound
    step at small batch; evaluate() replaces it with the step-time model."""
    return expected_length(alphas) / (len(alphas) * c + 1)


def measured_speedup(method: str, k: int, alphas: tuple[float, ...] | list[float], t: list[float],
                     t_draft: list[float] | None, overhead: float) -> float:  # fmt: skip
    """The round model on measured step times (`specsize bench`: t[n-1] = T(n), one sequence, n tokens):
    E[L] (T(1) + o) / (T(k+1) + o + T_draft), o the decoding loop's own cost per forward (measured plain time
    per token minus T(1)), which every forward of the loop pays, the drafter's too. T_draft: MTP and a draft
    model catch up on ~E[L] tokens (the last round's accepted tokens and the bonus) in their first step, then
    k - 1 one-token steps, k (T_d + o) in all; n-gram lookup: 0."""
    el = expected_length(tuple(alphas[:k]) + (0.0,) * max(0, k - len(alphas)))
    draft = 0.0
    if t_draft is not None and method in ("mtp", "draft", "eagle"):
        first = min(max(round(el), 1), len(t_draft))
        draft = t_draft[first - 1] + (k - 1) * t_draft[0] + k * overhead
    return el * (t[0] + overhead) / (t[k] + overhead + draft)


def catchup_probs(alphas: tuple[float, ...] | list[float], k: int) -> list[float]:
    """P(a round accepts m of its k drafts), m = 0..k: P(m >= j) = alpha_1 ... alpha_j. The next round's MTP
    catch-up is then m + 1 target states."""
    at_least, p = [1.0], 1.0
    for j in range(k):
        p *= alphas[j] if j < len(alphas) else 0.0
        at_least.append(p)
    at_least.append(0.0)
    return [at_least[m] - at_least[m + 1] for m in range(k + 1)]


def round_speedup(alphas: tuple[float, ...] | list[float], k: int, t1: float, overhead: float,
                  draft: float | list[float], verify: float) -> float:  # fmt: skip
    """The closed loop on the round as the generation loop runs it (`specsize bench` times the loop's own calls,
    the same compiled graphs under --compile): E[L] (T(1) + o) / (D(k) + V(k+1) + o). D: the drafter's call(s)
    of a round (a list over MTP's catch-up sizes n = 1..k+1, weighted by how often each occurs, catchup_probs,
    is what bench.json files from before issue 20's fourth pass hold; the bench now gives one replayed figure);
    V: the verification of k+1 tokens with the rejection sampler and the round's host sync (MTP's fused round:
    with the next round's drafting in it);
    T(1): a plain round (V of one token); o = plain time per token - T(1), the loop's own cost per round beyond
    the timed calls, which a speculative round pays once as a plain one does."""
    el = expected_length(tuple(alphas[:k]) + (0.0,) * max(0, k - len(alphas)))
    if isinstance(draft, list):
        draft = sum(w * d for w, d in zip(catchup_probs(alphas, k), draft, strict=True))
    return el * (t1 + overhead) / (draft + verify + overhead)


@dataclass(frozen=True)
class SpecResult:
    k: int
    concurrency: int
    alphas: tuple[float, ...]
    expected_length: float
    plain_step: float  # T(B), s
    verify: float  # T(B (k+1)), s
    draft: float  # k draft steps, s
    overhead: float  # per round, s
    moe_penalty: float | None  # routed-expert bytes of the verification step / of a plain step (None: dense)

    @property
    def round_time(self) -> float:
        return self.verify + self.draft + self.overhead

    @property
    def tpot(self) -> float:
        return self.round_time / self.expected_length

    @property
    def speedup(self) -> float:
        return self.plain_step / self.tpot


def round_overhead(dep: Deployment, seqs: int) -> float:
    """The engine's own cost of a speculative round: a fixed part and one per sequence (acceptance bookkeeping,
    KV rollback, sampling), on the busiest rank under attention DP."""
    e = dep.machine.engine
    per_rank = seqs / dep.layout.attn_dp
    return e.spec_round_overhead + per_rank * e.spec_seq_overhead


def _draft_time(dep: Deployment, b: int, k: int, context: float) -> float:
    if dep.drafter is None:
        return 0.0
    m = dep.draft_machine or dep.machine
    first = b * (k + 1) if dep.spec.method in ("mtp", "eagle") else 2 * b
    # The k draft passes run inside the round's engine step (SGLang's EAGLE worker, vLLM's and TensorRT-LLM's
    # spec-decode loops: draft passes between two verifications, in one captured graph): the scheduler's per-step
    # cost (step_overhead: batch assembly, sampling, input preparation) is paid once per round, by the verify step.
    sched = m.engine.step_overhead
    t = step_time(dep.drafter, m, first, b, context).total - sched
    if k > 1:
        t += (k - 1) * (step_time(dep.drafter, m, b, b, context).total - sched)
    return t


def evaluate(dep: Deployment, concurrency: int, context: float, k: int | None = None,
             repeat_fraction: float = NGRAM_REPEAT_FRACTION) -> SpecResult:  # fmt: skip
    """One speculative configuration at one concurrency (k defaults to the deployment's)."""
    spec = dep.spec
    if not spec.enabled:
        raise PlanError("speculative method is 'none': nothing to evaluate")
    k = k or spec.k
    alphas = acceptance_rates(spec, k, repeat_fraction)
    plain = dep.decode_step(concurrency, context)
    verify = dep.decode_step(concurrency, context, tokens_per_seq=k + 1)
    penalty = verify.expert_bytes / plain.expert_bytes if plain.expert_bytes else None
    return SpecResult(k, concurrency, alphas, expected_length(alphas), plain.total, verify.total,
                      _draft_time(dep, concurrency, k, context), round_overhead(dep, concurrency),
                      penalty)  # fmt: skip


def best_k(dep: Deployment, concurrency: int, context: float, max_k: int = MAX_K,
           repeat_fraction: float = NGRAM_REPEAT_FRACTION) -> SpecResult:  # fmt: skip
    """The k in 1..max_k with the highest speedup (no closed form: an argmax, as Leviathan et al. 2023 pick theirs)."""
    return max((evaluate(dep, concurrency, context, k, repeat_fraction) for k in range(1, max_k + 1)),
               key=lambda r: r.speedup)  # fmt: skip


def break_even(dep: Deployment, context: float, limit: int, k: int | None = None,
               repeat_fraction: float = NGRAM_REPEAT_FRACTION) -> int | None:  # fmt: skip
    """The smallest concurrency (powers of two up to `limit`) at which speculation stops paying (speedup < 1)
    at k (None: at the best k for each concurrency); None when it still pays at `limit`."""
    b = 1
    while b <= limit:
        r = evaluate(dep, b, context, k, repeat_fraction) if k else best_k(dep, b, context, MAX_K, repeat_fraction)
        if r.speedup < 1.0:
            return b
        b *= 2
    return None
