"""The steady state a serving benchmark measures: `concurrency` users, each with one request always in flight
(a new one as soon as the last finishes: the closed loop of InferenceX / vLLM benchmark_serving with an
unlimited request rate), on aggregated or disaggregated (prefill/decode) deployments.

Aggregated (one pool of instances, each prefilling and decoding): an instance holds b = B / instances users.
In one cycle of a user (TTFT + its output) the instance runs O decode steps of the batch and the b prefills of
everyone's next request; chunked prefill interleaves those with the decode steps, so

    TPOT = t_decode(b) + (b - 1) P / O       (the decode step plus the other users' prefill share)
    TTFT = P_alone + the wait for a batch slot (half a decode step, and the prefill queue: M/D/1)
                + under TensorRT-LLM's attention-DP balance, the wait for the group's other ranks to receive a prompt
                + with SGLang polling for new requests every N iterations, (N - 1) / 2 more iterations

with P the instance's time per prompt when prompts queue (a DP-attention group prefills one per rank at once)
and P_alone one prompt on an idle instance. Disaggregated: the decode pool pays no prefill share; the prefill
pool serves the request rate at its own capacity (the queue grows without bound past it: then the rate is the
prefill pool's and TTFT absorbs the rest); TTFT adds the KV cache's transfer over the named link. Either way a
pool holds at most the KV cache's worth of sequences (memory.max_concurrency): users past that wait in TTFT.

Throughput is the closed loop's: rate = users / (TTFT + O TPOT) requests/s, each worth O output tokens;
disaggregated, rate, TTFT and the decode batch depend on each other and are solved as a fixed point.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from specsize.deployment import Deployment
from specsize.errors import PlanError
from specsize.hardware import Link
from specsize.memory import MemoryBreakdown
from specsize.perf import prefill_time
from specsize.perf_constants import DISAGG_HANDOFF, KV_TRANSFER_EFFICIENCY, NGRAM_REPEAT_FRACTION, PREFILL_QUEUE_FACTOR
from specsize.scenario import mean_context
from specsize.speculative import evaluate


@dataclass(frozen=True)
class Pool:
    """Identical instances of one deployment (one layout on its GPUs)."""

    dep: Deployment
    instances: int = 1
    max_seqs: int | None = None  # sequences one instance's KV cache holds (None: unbounded)
    # decode iterations between the scheduler's polls for new requests (SGLang --scheduler-recv-interval; 1: every
    # iteration, every engine's default): a prompt that arrives while the batch decodes waits for the next poll
    recv_interval: int = 1

    @property
    def gpus(self) -> int:
        return self.dep.gpus * self.instances


@dataclass(frozen=True)
class ServingPoint:
    tpot: float  # s per output token per user (decode phase, prefill share included when aggregated)
    ttft: float  # s
    rate: float  # requests/s of the whole deployment
    output_tokens: float  # mean output tokens per request
    decode_seqs: float  # sequences in one decode instance's batch
    gpus: int  # every GPU of the deployment
    decode_gpus: int
    prefill_bound: bool  # the prefill side (pool or share) limits the rate
    kv_limited: bool  # users wait for KV room

    @property
    def tok_s_per_user(self) -> float:
        return 1.0 / self.tpot

    @property
    def output_tok_s(self) -> float:
        return self.rate * self.output_tokens

    def tok_s_per_gpu(self, counts: str = "all") -> float:
        return self.output_tok_s / (self.decode_gpus if counts == "decode" else self.gpus)


def kv_slots(mem: MemoryBreakdown, live_context: float) -> int:
    """Sequences one instance's KV cache holds while serving: paged KV (vLLM's PagedAttention, SGLang's token
    pool, TensorRT-LLM's KV blocks) holds each sequence's tokens so far, on average its prompt and half its output
    (live_context), not the full context a sequence may reach."""
    per_token = mem.kv_bytes_per_token
    return int(mem.kv_budget // (per_token * live_context)) if per_token and live_context > 0 else 0


def decode_iteration(dep: Deployment, seqs: float, context: float, k: int | None = None,
                     repeat_fraction: float = NGRAM_REPEAT_FRACTION) -> tuple[float, float]:  # fmt: skip
    """One engine iteration of an instance decoding `seqs` sequences: its seconds (a decode step, or a speculative
    round: draft, verification, the round's own cost) and the tokens it yields each sequence (1, or the round's
    E[L])."""
    b = max(1, ceil(seqs))
    if not dep.spec.enabled:
        return dep.decode_step(b, context).total, 1.0
    r = evaluate(dep, b, context, k, repeat_fraction)
    return r.round_time, r.expected_length


def decode_time_per_token(dep: Deployment, seqs: float, context: float, k: int | None = None,
                          repeat_fraction: float = NGRAM_REPEAT_FRACTION) -> float:  # fmt: skip
    """Seconds per output token per user of one instance decoding `seqs` sequences (speculative: a round / E[L])."""
    seconds, tokens = decode_iteration(dep, seqs, context, k, repeat_fraction)
    return seconds / tokens


def prefill_cost(dep: Deployment, input_tokens: float, batched: bool = True) -> float:
    """Seconds of one instance per prompt: chunks of the engine's prefill size; batched (prompts queued) a
    DP-attention group runs one prompt per rank in the same step, so a prompt costs the step / ranks."""
    lay = dep.layout
    ranks = lay.attn_dp if batched else 1
    n = max(1, round(input_tokens))
    return prefill_time(dep.main, dep.machine, n, dep.engine.prefill_chunk, ranks) / ranks


def adp_balance_wait(dep: Deployment, users: float, cycle: float, iteration: float) -> float:
    """TensorRT-LLM's attention-DP balance (EngineProfile.adp_balance_timeout_iters; PyExecutor
    _balance_adp_requests): while every rank of the group decodes, a rank holds its new prompts until each of the
    group's dp ranks has one, or timeout_iters iterations have passed; with fewer users than ranks some rank has
    nothing to decode and nothing waits. A prompt waits for the other dp - 1 ranks to receive one: dp - 1 arrivals at
    the instance's rate users / (cycle + wait), `cycle` being a user's TTFT and output without the wait (solved in
    closed form), at most the timeout. Assumption: dp - 1 arrivals, between the (dp - 1) / 2 a prompt would wait for
    on average if prompts reached the ranks in turn and the coupon collector's dp H(dp) - 1 if they reached them at
    random."""
    dp = dep.layout.attn_dp
    timeout = dep.engine.adp_balance_timeout_iters
    if dp <= 1 or not timeout or users < dp:
        return 0.0
    wait = (dp - 1) * cycle / (users - (dp - 1))
    return min(wait, timeout * iteration)


def kv_transfer_time(dep: Deployment, input_tokens: float, link: Link | None) -> float:
    """A prompt's KV cache (all layers) from a prefill instance to a decode instance: latency + bytes over one
    GPU's share of the link (each prefill GPU sends its own layers' / ranks' part in parallel)."""
    if link is None or link.bandwidth <= 0:
        return 0.0
    per_gpu = input_tokens * dep.main.kv_bytes_per_token  # MLA: the latent is whole on every rank
    return link.latency + per_gpu / (link.bandwidth * KV_TRANSFER_EFFICIENCY)


def _mdl_wait(rho: float, service: float, users: float) -> float:
    """Mean wait in an M/D/1 queue at utilisation rho (Pollaczek-Khinchine), scaled by the fitted factor, as one of
    `users` users of a closed loop sees it: an arriving prompt finds the queue as the loop's other users - 1 keep it
    (the arrival theorem of closed networks, Reiser & Lavenberg 1980), approximated as Schweitzer's and Bard's mean
    value analysis does by the load scaled by (users - 1) / users; a lone user never queues behind itself."""
    rho = min(rho * max(users - 1.0, 0.0) / max(users, 1.0), 0.95)
    return PREFILL_QUEUE_FACTOR * rho / (2 * (1 - rho)) * service


def steady_state(decode: Pool, users: int, input_tokens: float, output_tokens: float,
                 prefill: Pool | None = None, link: Link | None = None, k: int | None = None,
                 iterations: int = 30, repeat_fraction: float = NGRAM_REPEAT_FRACTION) -> ServingPoint:  # fmt: skip
    """The closed loop of `users` users on an aggregated (prefill None) or disaggregated deployment (speculative
    decoding at the deployment's k, or `k`; n-gram at `repeat_fraction`)."""
    if users < 1:
        raise PlanError(f"concurrency must be at least 1, got {users}")
    out = max(output_tokens, 1.0)
    ctx = mean_context(input_tokens, output_tokens)  # the cache a decode step reads (out only floors divisions)
    dep = decode.dep
    per_inst = users / decode.instances
    cap = decode.max_seqs if decode.max_seqs else per_inst
    seqs = min(per_inst, cap)  # users holding KV room in one decode instance
    gpus = decode.gpus + (prefill.gpus if prefill else 0)
    if prefill is None:
        p_alone = prefill_cost(dep, input_tokens, batched=False)
        p = prefill_cost(dep, input_tokens)
        iteration, tokens = decode_iteration(dep, seqs, ctx, k, repeat_fraction)
        t_dec = iteration / tokens
        tpot = t_dec + max(seqs - 1, 0) * p / out
        busy = out * t_dec + seqs * p  # one instance's work per cycle of its users
        rate_inst = seqs / busy
        rho = min(seqs * p / busy, 0.95)
        kv_limited = per_inst > cap
        if kv_limited:  # the others wait for a slot: the rate is the slots', TTFT what the loop leaves
            ttft = per_inst / rate_inst - out * tpot
        else:
            ttft = p_alone + t_dec / 2 + _mdl_wait(rho, p, per_inst) + dep.machine.engine.request_overhead
            ttft += (decode.recv_interval - 1) / 2 * iteration  # the poll's wait beyond the half step counted above
            ttft += adp_balance_wait(dep, seqs, ttft + out * tpot, iteration)
            rate_inst = per_inst / (ttft + out * tpot)
        return ServingPoint(tpot, ttft, rate_inst * decode.instances, out, seqs, gpus, decode.gpus,
                            seqs * p > out * t_dec, kv_limited)  # fmt: skip
    pdep = prefill.dep
    p = prefill_cost(pdep, input_tokens)
    p_alone = prefill_cost(pdep, input_tokens, batched=False)
    xfer = kv_transfer_time(pdep, input_tokens, link) + DISAGG_HANDOFF + pdep.machine.engine.request_overhead
    capacity = prefill.instances / p  # prompts/s the prefill pool sustains
    ttft = p_alone + xfer
    tpot = decode_time_per_token(dep, seqs, ctx, k, repeat_fraction)
    rate = decoding = 0.0
    for _ in range(iterations):
        free = users / (ttft + out * tpot)  # the loop's rate if nothing but TTFT and decoding held users
        # Little's law: rate x OSL x TPOT sequences decode at once, at most the decode pool's KV slots
        slots = decode.instances * cap / (out * tpot)
        rate = min(free, capacity, slots)
        decoding = rate * out * tpot / decode.instances
        tpot = decode_time_per_token(dep, max(decoding, 1.0), ctx, k, repeat_fraction)
        rho = rate * p / prefill.instances
        ttft_new = p_alone + xfer + _mdl_wait(rho, p, users / prefill.instances)
        if min(capacity, slots) <= free * (1 + 1e-9):  # held by prefill or KV: the users not served wait
            ttft_new = max(ttft_new, users / rate - out * tpot)
        if abs(ttft_new - ttft) < 1e-9 * max(ttft, 1e-3):
            ttft = ttft_new
            break
        ttft = ttft_new
    free, slots = users / (ttft + out * tpot), decode.instances * cap / (out * tpot)
    rate = min(free, capacity, slots)
    bound, slot_bound = capacity <= min(free, slots) * (1 + 1e-6), slots <= min(free, capacity) * (1 + 1e-6)
    return ServingPoint(tpot, ttft, rate, out, decoding, gpus, decode.gpus, bound, slot_bound or per_inst > cap)
