"""`specsize bench --endpoint URL`: the load generator. For each level (a concurrency, or a Poisson request rate):
warm-up requests first (not counted), /metrics scraped, the level's prompts sent, /metrics scraped again;
then the level's serving metrics (serving_metrics), its speculative decoding (scrape), and a measured point
(measured) written to --out before the next level starts, so Ctrl-C or a dead server loses no finished level.

Concurrency c (closed loop, as vLLM's --max-concurrency and InferenceX run it): c workers, each sending its
next request as soon as the previous one ends, until the level's prompts are used up (default 10 x c).
Request rate (open loop, vLLM's --request-rate with burstiness 1): arrivals a Poisson process, the gaps
exponential with mean 1/rate, optionally capped at --max-concurrency in flight.

All requests of a run share one httpx.AsyncClient (one connection pool, keep-alive, as many connections as
the level has requests in flight); benchmarks/bench_endpoint_client.py measures what the client costs.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from specsize.bench.datasets import Prompt
from specsize.bench.endpoint import RequestResult, Target, base_url, send
from specsize.bench.measured import measured_block, point_id, write_points
from specsize.bench.scrape import SpecCounters, spec_delta
from specsize.bench.serving_metrics import SLO, level_metrics
from specsize.errors import SpecsizeError

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Deployment:
    """What the user declares about the deployment (the planner's spellings); written into every point."""

    model: str  # as the planner names it
    weights: str = "fp8"
    gpu: str | None = None
    gpus: int = 1
    nodes: int = 1
    engine: str | None = None  # None: from /v1/models' owned_by
    engine_version: str | None = None
    layout: dict[str, Any] = field(default_factory=lambda: {"tp": 1, "ep": 1, "dp_attention": False})
    spec: str = "none"  # none | mtp:k | ngram:k | draft:MODEL:k | eagle:k


@dataclass
class EndpointOptions:
    endpoint: str
    model: str | None = None  # the served model name; None: the first of /v1/models
    api: str = "completions"
    concurrency: tuple[int, ...] = (1, 4, 16, 64)
    request_rates: tuple[float, ...] = ()  # non-empty: Poisson levels instead of concurrency levels
    max_concurrency: int | None = None  # cap on requests in flight at a request rate
    num_prompts: int | None = None  # per level; None: 10 x concurrency (10 x rate, at least 10)
    warmup: int | None = None  # per level; None: one per concurrent user (capped at 16 for a rate)
    slo: SLO = field(default_factory=SLO)
    timeout_s: float = 600.0
    metrics_url: str | None = None  # None: <base>/metrics
    headers: dict[str, str] = field(default_factory=dict)
    ignore_eos: bool = True
    out: Path | None = None
    dataset_desc: str = "random"
    lengths: str = "fixed"
    input_tokens: int | None = 1024  # None: prompts from a file; a point records their mean as the server counted
    output_tokens: int = 1024
    seed: int = 0


def spec_block(spec: str) -> dict[str, Any]:
    parts = spec.split(":")
    method = parts[0].lower()
    if method not in ("none", "mtp", "draft", "ngram", "eagle"):
        raise SpecsizeError(f"--spec {spec!r}: unknown method; use none, mtp[:k], ngram[:k], eagle[:k] or "
                            "draft:MODEL[:k] (the spellings of plan)")  # fmt: skip
    rest = parts[2:] if method == "draft" else parts[1:]
    k = None
    if rest:
        try:
            k = int(rest[0])
        except ValueError:
            raise SpecsizeError(f"--spec {spec!r}: k must be an integer, got {rest[0]!r}") from None
    elif method != "none":
        k = 1 if method == "mtp" else 4
    out = {"method": method, "num_speculative_tokens": k}
    if method == "draft" and len(parts) > 1:
        out["draft"] = parts[1]
    return out


def level_sizes(o: EndpointOptions) -> list[tuple[str, int, float | None, int, int]]:
    """(label, concurrency cap, rate, prompts, warm-up) per level."""
    out = []
    if o.request_rates:
        for r in o.request_rates:
            if not r > 0:
                raise SpecsizeError(f"--request-rate must be > 0 requests/s, got {r}")
            cap = o.max_concurrency or 0
            n = o.num_prompts or max(10, math.ceil(10 * r))
            wu = o.warmup if o.warmup is not None else min(cap or 16, 16)
            out.append((f"r{r:g}", cap, r, n, wu))
    else:
        for c in o.concurrency:
            if c < 1:
                raise SpecsizeError(f"--concurrency must be positive integers, got {c}")
            out.append((f"c{c}", c, None, o.num_prompts or 10 * c, o.warmup if o.warmup is not None else c))
    return out


async def closed_loop(client, t: Target, prompts: list[Prompt], c: int, tick) -> list[RequestResult]:
    """c users, each with one request in flight, until the prompts are used up; results in prompt order."""
    results: list[RequestResult | None] = [None] * len(prompts)
    it = iter(range(len(prompts)))

    async def user():
        for i in it:
            results[i] = await send(client, t, prompts[i].text, prompts[i].output_tokens)
            tick()

    await asyncio.gather(*(user() for _ in range(min(c, len(prompts)))))
    return [r for r in results if r is not None]


async def open_loop(client, t: Target, prompts: list[Prompt], rate: float, cap: int, rng: random.Random,
                    tick) -> list[RequestResult]:  # fmt: skip
    """Poisson arrivals at `rate` requests/s (exponential gaps), at most `cap` in flight when cap > 0."""
    sem = asyncio.Semaphore(cap) if cap else None

    async def one(p: Prompt) -> RequestResult:
        if sem is None:
            r = await send(client, t, p.text, p.output_tokens)
        else:
            async with sem:
                r = await send(client, t, p.text, p.output_tokens)
        tick()
        return r

    tasks = []
    for i, p in enumerate(prompts):
        if i:
            await asyncio.sleep(rng.expovariate(rate))
        tasks.append(asyncio.create_task(one(p)))
    return list(await asyncio.gather(*tasks))


async def scrape(client, url: str) -> tuple[SpecCounters | None, str]:
    try:
        r = await client.get(url)
    except Exception as e:  # a scrape is best-effort: any failure is reported, never raised
        return None, f"GET {url} failed ({type(e).__name__})"
    if r.status_code != 200:
        return None, f"GET {url}: HTTP {r.status_code}"
    return SpecCounters.from_text(r.text), ""


async def served_model(client, base: str) -> tuple[str, str | None]:
    """(model id, owned_by) of the first model in /v1/models."""
    try:
        r = await client.get(f"{base}/v1/models")
        data = r.json()["data"][0] if r.status_code == 200 else None
    except Exception as e:  # whatever stops the question, one line
        raise SpecsizeError(f"cannot reach {base}/v1/models ({type(e).__name__}: {e}); is the server up? "
                            "Give --model NAME to skip this question") from None  # fmt: skip
    if not data:
        raise SpecsizeError(f"{base}/v1/models answered HTTP {r.status_code} without a model; give --model NAME")
    return str(data["id"]), data.get("owned_by")


@dataclass
class Run:
    """What a run has produced so far (kept when it is interrupted)."""

    levels: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    engine: str | None = None
    interrupted: bool = False


async def _run(o: EndpointOptions, d: Deployment, make_prompts: Callable[[int, int], list[Prompt]], run: Run,
               progress: Progress | None) -> None:  # fmt: skip
    import httpx

    base = base_url(o.endpoint)
    metrics_url = o.metrics_url or f"{base}/metrics"
    sizes = level_sizes(o)
    spec = spec_block(d.spec)
    most = max(max(c for _, c, _, _, _ in sizes), max(n for _, _, _, n, _ in sizes) if o.request_rates else 1)
    limits = httpx.Limits(max_connections=most + 2, max_keepalive_connections=most + 2)
    timeout = httpx.Timeout(o.timeout_s, connect=min(10.0, o.timeout_s))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with httpx.AsyncClient(timeout=timeout, limits=limits, headers=o.headers) as client:
        try:
            listed, owned_by = await served_model(client, base)
        except SpecsizeError:
            if o.model is None:
                raise
            listed, owned_by = None, None  # the model is named: measure what the server answers
        run.model = o.model or listed
        run.engine = d.engine or owned_by or "unknown"
        t = Target(base, o.api, run.model, {}, o.ignore_eos)
        for li, (label, cap, rate, n, wu) in enumerate(sizes):
            done = [0]
            total = n + wu

            def tick(label=label, total=total, done=done, wu=wu):
                done[0] += 1
                if progress:
                    progress(f"{label}: {'warm-up' if done[0] <= wu else 'measuring'}", done[0], total)

            prompts = make_prompts(n + wu, o.seed + 1000 * li)
            rng = random.Random(o.seed + li)
            if wu:
                await closed_loop(client, t, prompts[:wu], cap or wu, tick)
            before, why = await scrape(client, metrics_url)
            t0 = time.perf_counter()
            if rate is None:
                results = await closed_loop(client, t, prompts[wu:], cap, tick)
            else:
                results = await open_loop(client, t, prompts[wu:], rate, cap, rng, tick)
            duration = time.perf_counter() - t0
            after, why_after = await scrape(client, metrics_url)
            expected_in = sum(p.input_tokens or 0 for p, r in zip(prompts[wu:], results, strict=True) if r.ok)
            m = level_metrics(results, duration, d.gpus, o.slo, expected_in)
            if before is None or after is None:
                sp = {"source": None, "reason": f"no /metrics: {why or why_after}"}
            else:
                sp = spec_delta(before, after)
            in_flight = sum(r.e2el for r in results if r.ok) / duration if duration else 0.0  # Little's law
            level = {"label": label, "concurrency": cap if rate is None else None, "request_rate": rate,
                     "max_concurrency": (cap or None) if rate is not None else None, "num_prompts": n,
                     "warmup": wu, "metrics": m, "speculative": sp,
                     "mean_in_flight": in_flight}  # fmt: skip
            run.levels.append(level)
            run.points.append(_point(o, d, run, spec, level, stamp))
            if o.out is not None:
                write_points(o.out, run.points)


def _point(o: EndpointOptions, d: Deployment, run: Run, spec: dict[str, Any], level: dict[str, Any],
           stamp: str) -> dict[str, Any]:  # fmt: skip
    m = level["metrics"]
    conc = level["concurrency"] or max(1, round(level["mean_in_flight"]))  # at a rate: the mean in flight
    inp = o.input_tokens or round(m["mean_input_tokens"] or 0) or None
    w: dict[str, Any] = {"input_tokens": inp, "output_tokens": o.output_tokens, "concurrency": conc,
                         "lengths": o.lengths}  # fmt: skip
    if level["request_rate"] is not None:
        w["request_rate"] = level["request_rate"]
    engine = run.engine or "unknown"
    return {
        "id": point_id(engine, d.gpu or "unknown", d.weights, d.spec, w, level["label"], stamp),
        "source": f"specsize bench --endpoint {base_url(o.endpoint)} (model {run.model}, {o.dataset_desc}), {stamp}",
        "date": stamp[:10],
        "model": d.model,
        "weights": d.weights,
        "kv_cache": None,
        "gpu": d.gpu or "unknown",  # the schema has no null GPU; "unknown" is a point the planner lists, not predicts
        "gpus": d.gpus,
        "nodes": d.nodes,
        "engine": engine,
        "engine_version": d.engine_version,
        "layout": d.layout,
        "disaggregated": None,
        "workload": w,
        "speculative": spec,
        "measured": measured_block(m),
        "bench": {
            "level": level["label"],
            "api": o.api,
            "served_model": run.model,
            **m,
            "speculative": level["speculative"],
            "mean_in_flight": level["mean_in_flight"],
            "num_prompts": level["num_prompts"],
            "warmup": level["warmup"],
        },
    }


def run_endpoint_bench(o: EndpointOptions, d: Deployment, make_prompts: Callable[[int, int], list[Prompt]],
                       progress: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    """Run every level; Ctrl-C stops at once and keeps the finished levels (already in --out)."""
    run = Run()
    try:
        asyncio.run(_run(o, d, make_prompts, run, progress))
    except KeyboardInterrupt:
        run.interrupted = True
    return {"endpoint": base_url(o.endpoint), "served_model": run.model, "engine": run.engine, "api": o.api,
            "dataset": o.dataset_desc, "deployment": {"model": d.model, "gpu": d.gpu, "gpus": d.gpus,
                                                      "spec": d.spec, "layout": d.layout},
            "levels": run.levels, "points": run.points, "out": str(o.out) if o.out else None,
            "interrupted": run.interrupted}  # fmt: skip
