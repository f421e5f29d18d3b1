"""Measured serving points (docs/measured-format.md): read a JSONL file of them, turn each into specsize's
deployments, predict what it measured (serving.py's steady state), and summarise the errors.

A point the planner cannot represent (a GPU or engine it does not know, a layout it cannot express, worker
counts the source did not record) is kept with its reason; a line that is not the format stops the run with
one message naming the line.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from specsize.deployment import Deployment, build_deployment
from specsize.engine_builds import engine_perf_for
from specsize.engines import get_engine
from specsize.errors import SpecsizeError
from specsize.hardware import get_gpu, get_link
from specsize.jsonl import read_jsonl
from specsize.memory import memory_per_gpu
from specsize.recipes import (
    deepgemm_prefill,
    default_kv,
    engine_version,
    mtp_draft_tokens,
    random_token_acceptance,
    recv_interval,
)
from specsize.resolve import load_model
from specsize.scenario import Layout, Speculative, Workload, engine_layout, mean_context
from specsize.serving import Pool, ServingPoint, kv_slots, prefill_cost, steady_state

BUNDLED_MEASURED = Path(__file__).parent / "catalog" / "validation" / "measured" / "tuning.jsonl"
METRICS = ("output_tok_s_per_gpu", "output_tok_s_per_user", "tpot_ms", "ttft_ms", "input_tok_s_per_gpu")
HEADLINE = ("output_tok_s_per_gpu", "output_tok_s_per_user")
REQUIRED = ("id", "model", "weights", "gpu", "gpus", "engine", "layout", "workload", "speculative", "measured")
BANDS = ((1, 8, "1-8"), (9, 64, "16-64"), (65, 512, "128-512"), (513, 10**9, "1024+"))
# How far a point's output tok/s per GPU may stray from what its own latencies imply (Little's law, see
# per_gpu_inconsistency) before it is listed as inconsistent and left out of the per-GPU statistics and the fit.
# Assumption: the bundled corpus's ratios have median 0.97 and 5th percentile 0.85 (run-in and run-out of a
# finite benchmark, median vs mean e2el); a factor 1/0.7 = 1.43 either way is far outside that spread.
LITTLE_LAW_TOLERANCE = 0.7


# The load of a measured point (measured README): 10 x concurrency prompts, so each user runs about 10 requests.
BENCHMARK_ROUNDS = 10


class MeasuredInputError(SpecsizeError):
    """A measured-points file that is not the format (names the file and line)."""


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_point(p: Any, where: str) -> dict[str, Any]:
    if not isinstance(p, dict):
        raise MeasuredInputError(f"{where}: expected a JSON object (one measured point), got {type(p).__name__}")
    missing = [k for k in REQUIRED if k not in p]
    if missing:
        raise MeasuredInputError(f"{where}: missing field(s) {', '.join(missing)} (see docs/measured-format.md)")
    for k in ("id", "model", "weights", "gpu", "engine"):
        if not isinstance(p[k], str) or not p[k]:
            raise MeasuredInputError(f"{where}: {k} must be a non-empty string, got {p[k]!r}")
    if not (isinstance(p["gpus"], int) and not isinstance(p["gpus"], bool) and p["gpus"] > 0):
        raise MeasuredInputError(f"{where}: gpus must be a positive integer, got {p['gpus']!r}")
    w, m, lay = p["workload"], p["measured"], p["layout"]
    if not isinstance(w, dict) or not all(_number(w.get(k)) and w[k] > 0 for k in
                                          ("input_tokens", "output_tokens", "concurrency")):  # fmt: skip
        raise MeasuredInputError(f"{where}: workload needs positive input_tokens, output_tokens and concurrency")
    if not isinstance(lay, dict) or not _number(lay.get("tp")):
        raise MeasuredInputError(f"{where}: layout needs a numeric tp")
    for k in ("tp", "ep", "pp", "dp"):  # ep and pp may be null (1)
        v = lay.get(k)
        if v is not None and not (_number(v) and v == int(v) and v > 0):
            raise MeasuredInputError(f"{where}: layout.{k} must be a positive integer, got {v!r}")
    if p.get("engine_version") is not None and not isinstance(p["engine_version"], str):
        raise MeasuredInputError(f"{where}: engine_version must be a string or null, got {p['engine_version']!r}")
    if not isinstance(m, dict):
        raise MeasuredInputError(f"{where}: measured must be an object")
    for k in METRICS:
        if m.get(k) is not None and not (_number(m[k]) and m[k] > 0):
            raise MeasuredInputError(f"{where}: measured.{k} must be a positive number, got {m[k]!r}")
    if m.get("per_gpu_counts", "all") not in ("all", "decode"):
        raise MeasuredInputError(f"{where}: measured.per_gpu_counts must be 'all' or 'decode'")
    return p


def looks_like_measured(path: str | Path) -> bool:
    """JSON lines of measured points (objects, one a line); the published-figures format is one JSON list.
    A file that is one whole JSON object is neither: it goes to the published reader, which says so."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not text.lstrip().startswith("{"):
        return False
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        return True
    return isinstance(whole, dict) and ("measured" in whole or "workload" in whole)


def load_points(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    points = [_check_point(obj, f"{p} line {n}") for n, obj in read_jsonl(p, MeasuredInputError)]
    if not points:
        raise MeasuredInputError(f"{p}: no measured points in it")
    return points


# --- the corpus's conventions, as its README states them ---------------------------------------------------------


def mean_length(tokens: float, lengths: str | None) -> float:
    """Lengths drawn uniformly from [r L, L] average (1 + r) / 2 L (InferenceX: r = 0.8, so 0.9 L); fixed lengths
    are L. A "uniform" without a readable r is taken as InferenceX's 0.8.

    >>> mean_length(1000, "uniform in [0.8 L, L], ignore_eos"), mean_length(1000, "uniform in [0.5 L, L]")
    (900.0, 750.0)
    >>> mean_length(1000, "fixed")
    1000.0
    """
    if not (lengths and lengths.startswith("uniform")):
        return float(tokens)
    m = re.search(r"\[\s*([0-9.]+)\s*L", lengths)
    r = float(m.group(1)) if m and 0 <= float(m.group(1)) <= 1 else 0.8
    return (1 + r) / 2 * tokens


@dataclass
class Case:
    """One point resolved into pools, or the reason it cannot be."""

    point: dict[str, Any]
    decode: Pool | None = None
    prefill: Pool | None = None
    link: Any = None
    users: int = 0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    reason: str = ""
    notes: list[str] = field(default_factory=list)


@cache
def _arch(name: str):
    return load_model(name)


@lru_cache(maxsize=4096)
def _structure(model: str, gpu: str, weights: str, kv: str, layout: Layout, engine: str, spec: Speculative,
               fp8_deepgemm: str = "") -> Deployment:  # fmt: skip
    return build_deployment(_arch(model), get_gpu(gpu), weights, kv, layout, get_engine(engine), spec,
                            fp8_deepgemm=fp8_deepgemm)  # fmt: skip


def _deployment(model: str, gpu: str, weights: str, kv: str, layout: Layout, engine: str, version: str | None,
                spec: Speculative, fp8_deepgemm: str = "") -> Deployment:  # fmt: skip
    """The cached deployment with the constants of its engine generation (cheap: the sums over the tensor
    inventory are cached; the constants are looked up on every call, so a fit can change them); fp8_deepgemm:
    which FP8 GEMMs its recipe runs on DeepGEMM (perf.Machine.fp8_deepgemm, recipes.deepgemm_prefill)."""
    d = _structure(model, gpu, weights, kv, layout, engine, spec, fp8_deepgemm)
    perf = engine_perf_for(engine, version, d.machine.gpu.vendor, d.machine.gpu.arch)
    if perf is d.machine.engine:
        return d
    m = replace(d.machine, engine=perf)
    return replace(d, machine=m, draft_machine=replace(d.draft_machine, engine=perf) if d.draft_machine else m)


@lru_cache(maxsize=4096)
def _max_seqs(model: str, gpu: str, weights: str, kv: str, layout: Layout, engine: str, spec: Speculative,
              context: int, live_context: float) -> int:  # fmt: skip
    """Sequences one instance's KV cache holds under the engine's default memory fraction, at their mean live
    context (serving.kv_slots); a measured deployment ran, so where the default leaves no room it was tuned up:
    then every byte past the others is KV."""
    eng = get_engine(engine)
    seqs = layout.attn_dp  # one sequence on each DP-attention rank
    for e in (eng, replace(eng, budget="none")):
        m = memory_per_gpu(_arch(model), get_gpu(gpu), weights, kv, layout, Workload(seqs, context, 0), e, spec)
        if m.fits:
            return kv_slots(m, live_context)
    return 0


def _layout(raw: dict[str, Any], gpus: int) -> Layout:
    tp, ep = int(raw.get("tp", 1)), int(raw.get("ep", 1) or 1)
    return engine_layout(tp, ep, bool(raw.get("dp_attention")), gpus, int(raw.get("pp", 1) or 1))


def _instance_gpus(raw: dict[str, Any], engine: str) -> int:
    """The GPUs of one aggregated instance as its layout spells them: the larger of the engine's TP group and its EP
    group, times its pipeline stages. vLLM's data-parallel size (`dp`: --data-parallel-size) multiplies its TP, EP
    or not (vLLM docs, data-parallel deployment: an MoE model's expert layers form one TP x DP group); SGLang's --dp
    with DP attention counts attention ranks inside its TP group, so another engine's `dp` adds no GPU."""
    tp, ep, pp = (int(raw.get(k, 1) or 1) for k in ("tp", "ep", "pp"))
    dp = int(raw.get("dp", 1) or 1) if engine == "vllm" else 1
    return max(tp * dp, ep) * pp


def _heads_ok(arch, lay: Layout) -> str:
    if lay.attention == "tp" and arch.num_heads % lay.tp:
        return f"attention TP {lay.tp} does not divide {arch.name}'s {arch.num_heads} heads"
    return ""


def resolve(p: dict[str, Any]) -> Case:
    c = Case(p)
    try:
        arch = _arch(p["model"])
        gpu = get_gpu(p["gpu"])
        engine = get_engine(p["engine"]).name
        w = p["workload"]
        c.users = int(w["concurrency"])
        c.input_tokens = mean_length(w["input_tokens"], w.get("lengths"))
        c.output_tokens = mean_length(w["output_tokens"], w.get("lengths"))
        kv = p.get("kv_cache") or default_kv(engine)
        sp = p["speculative"] or {}
        dis = p.get("disaggregated")
        lay_raw = p["layout"]
        if dis:
            if not all(_number(dis.get(k)) and dis[k] > 0 for k in ("prefill_gpus", "decode_gpus")):
                raise SpecsizeError("disaggregated needs positive prefill_gpus and decode_gpus")
            dw, pw = int(dis.get("decode_workers") or 0), int(dis.get("prefill_workers") or 0)
            if dw < 1 or pw < 1:
                raise SpecsizeError(f"disaggregated worker counts not recorded (prefill {pw}, decode {dw})")
            dlay = _layout(lay_raw, int(dis["decode_gpus"]) // dw)
            play = _layout(dis.get("prefill_layout") or lay_raw, int(dis["prefill_gpus"]) // pw)
        else:
            instance = _instance_gpus(lay_raw, engine)
            if int(p["gpus"]) % instance:
                raise SpecsizeError(f"{p['gpus']} GPUs are not a whole number of the layout's {instance}-GPU instances")
            dlay, play, dw = _layout(lay_raw, instance), None, int(p["gpus"]) // instance
        for lay in (dlay, play):
            if lay is not None and (why := _heads_ok(arch, lay)):
                raise SpecsizeError(why)
        spec = Speculative()
        if sp.get("method", "none") == "mtp":
            k = sp.get("num_speculative_tokens")
            if k is None:
                per_rank = c.users / (dw * dlay.attn_dp) if dis else None
                k = mtp_draft_tokens(engine, gpu.vendor, dlay.attention == "dp", per_rank)
            elif isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise SpecsizeError(f"num_speculative_tokens {k!r} with method mtp: MTP drafts 1 token or more")
            spec = Speculative("mtp", int(k), acceptance=random_token_acceptance(int(k)))
        elif sp.get("method", "none") != "none":
            raise SpecsizeError(f"speculative method {sp.get('method')!r} is not in the measured format")
        version = engine_version(p)
        context = int(w["input_tokens"] + w["output_tokens"])
        ddep = _deployment(p["model"], gpu.id, p["weights"], kv, dlay, engine, version, spec)
        live = mean_context(c.input_tokens, c.output_tokens)
        dmax = _max_seqs(p["model"], gpu.id, p["weights"], kv, dlay, engine, spec, context, live)
        if dmax < 1:
            raise SpecsizeError(
                f"does not fit: {p['weights']} weights on {dlay.describe()} of {gpu.id} leave no KV room"
            )
        poll = 1 if play is not None else recv_interval(engine, gpu.id, c.users, dlay.attention == "dp")
        c.decode = Pool(ddep, dw, dmax, poll)
        if play is not None:
            gemms = deepgemm_prefill(engine, gpu.id, play.attention, play.ep, play.gpus)
            pdep = _deployment(p["model"], gpu.id, p["weights"], kv, play, engine, version, Speculative(), gemms)
            c.prefill = Pool(pdep, pw)
            total = int(dis["prefill_gpus"]) + int(dis["decode_gpus"])
            c.link = get_link(gpu.intra_node_link if total <= gpu.gpus_per_node else gpu.inter_node_link)
    except (SpecsizeError, TypeError, ValueError, KeyError) as e:
        c.reason = str(e).strip("'\"")
    return c


def counted_gpus(p: dict[str, Any]) -> float:
    """The GPUs a point's per-GPU figures divide by: its decode pool's when per_gpu_counts says "decode" (and the
    pool's size is recorded), else all of them."""
    dis = p.get("disaggregated") or {}
    decode = dis.get("decode_gpus") if p["measured"].get("per_gpu_counts", "all") == "decode" else None
    return decode if _number(decode) and decode > 0 else p["gpus"]


def littles_law_tok_s_per_gpu(p: dict[str, Any]) -> float | None:
    """Output tok/s per GPU that a point's own latencies imply: the closed loop keeps `concurrency` requests in
    flight, each taking e2el, so requests/s = concurrency / e2el (Little's law, L = lambda W) and each is worth
    the mean output length; divided by the GPUs its per_gpu_counts counts. None without e2el_ms."""
    m, w = p["measured"], p["workload"]
    e2el = m.get("e2el_ms")
    if not (_number(e2el) and e2el > 0):
        return None
    gpus = counted_gpus(p)
    return w["concurrency"] * mean_length(w["output_tokens"], w.get("lengths")) / (e2el / 1e3) / gpus


def per_gpu_inconsistency(p: dict[str, Any]) -> str:
    """Why a point's output tok/s per GPU contradicts its own latencies (empty if it does not): more than
    LITTLE_LAW_TOLERANCE away from littles_law_tok_s_per_gpu. Such a figure measures something else than the
    steady state (e.g. a benchmark duration that includes a fixed idle time), so it is neither scored nor fitted;
    its other metrics are."""
    implied = littles_law_tok_s_per_gpu(p)
    got = p["measured"].get("output_tok_s_per_gpu")
    if not implied or not got:
        return ""
    ratio = got / implied
    if LITTLE_LAW_TOLERANCE <= ratio <= 1 / LITTLE_LAW_TOLERANCE:
        return ""
    return f"tok/s per GPU {got:,.4g} is {ratio:.2f}x the {implied:,.4g} of concurrency x output / e2el (Little's law)"


def measured_decode_seqs(p: dict[str, Any], instances: int) -> float | None:
    """Sequences one decode instance held on average, as a point's own figures imply (Little's law on the decode
    batch, L = lambda W: each decoding sequence emits 1 / TPOT tokens/s, so the deployment's output tokens/s x TPOT
    sequences decode at once), over `instances` decode instances. Set beside the model's decode_seqs it says where
    the users were: fewer decoding than the model holds means the others waited outside the batch (a saturated
    prefill pool, or a batch cap the point does not record: a recipe's max-running-requests / max_batch_size).
    None without TPOT or a usable tok/s per GPU."""
    m = p["measured"]
    got, tpot = m.get("output_tok_s_per_gpu"), m.get("tpot_ms")
    if not (_number(got) and _number(tpot) and got > 0 and tpot > 0) or instances < 1 or per_gpu_inconsistency(p):
        return None
    gpus = counted_gpus(p)
    return got * gpus * tpot / 1e3 / instances


def input_tok_s_per_gpu(sp: ServingPoint, input_tokens: float, disaggregated: bool) -> float:
    """Prompt tokens/s per GPU as the source counts them: aggregated, over every GPU; disaggregated, over the
    prefill GPUs (InferenceX: its input/output per-GPU ratio equals the mean input/output length ratio times
    decode GPUs / prefill GPUs on the corpus's disaggregated points, median 1.00; aggregated over all GPUs, 0.99-1.02).
    The prefill pool's side of a disaggregated point: the rate it sustains, measured directly."""
    gpus = sp.gpus - sp.decode_gpus if disaggregated else sp.gpus
    return sp.rate * input_tokens / gpus


def finite_run_factor(wave: float, cycle: float, rounds: int = BENCHMARK_ROUNDS) -> float:
    """What a finite closed-loop run measures of the steady state's throughput: every user's first prompt arrives at
    once, so the last of them starts decoding only once the prefill side has taken the whole wave (`wave` s); from
    there the users, staggered over the wave, each run their rounds of one `cycle` (users / rate), and the run ends
    a wave after the first user finishes. Output tokens / duration = steady rate / (1 + wave / (rounds x cycle)):
    a tenth lower at most when the prefill side is saturated (a wave is then a cycle), nearer 1 the lighter it is.
    Checked against an event simulation of the loop (tests/test_measured.py)."""
    return 1.0 / (1.0 + wave / (rounds * cycle)) if cycle > 0 else 1.0


def first_wave_factor(c: Case, sp: ServingPoint, rounds: int = BENCHMARK_ROUNDS) -> float:
    """finite_run_factor for a resolved point: the wave is the users' prompts over the prefill instances
    (disaggregated) or an aggregated instance's own users' prompts; the cycle is users / the steady rate."""
    if sp.rate <= 0:
        return 1.0
    if c.prefill is not None:
        wave = c.users * prefill_cost(c.prefill.dep, c.input_tokens) / c.prefill.instances
    else:
        wave = c.users / c.decode.instances * prefill_cost(c.decode.dep, c.input_tokens)
    return finite_run_factor(wave, c.users / sp.rate, rounds)


def predict_case(c: Case) -> ServingPoint:
    return steady_state(c.decode, c.users, c.input_tokens, c.output_tokens, c.prefill, c.link)


def band(concurrency: int) -> str:
    for lo, hi, name in BANDS:
        if lo <= concurrency <= hi:
            return name
    return BANDS[-1][2]


def evaluate_point(p: dict[str, Any]) -> dict[str, Any]:
    c = resolve(p)
    dis = bool(p.get("disaggregated"))
    row: dict[str, Any] = {
        "id": p["id"], "engine": p["engine"], "engine_version": p.get("engine_version"), "gpu": p["gpu"],
        "gpus": p["gpus"], "weights": p["weights"], "spec": (p["speculative"] or {}).get("method", "none"),
        "mode": "disagg" if dis else "agg", "concurrency": p["workload"]["concurrency"],
        "band": band(p["workload"]["concurrency"]), "isl": p["workload"]["input_tokens"],
        "osl": p["workload"]["output_tokens"], "layout": p["layout"], "reason": c.reason, "metrics": {},
    }  # fmt: skip
    if c.reason:
        return row
    try:
        sp = predict_case(c)
    except SpecsizeError as e:
        row["reason"] = str(e)
        return row
    m = p["measured"]
    run = first_wave_factor(c, sp)
    pred = {
        "output_tok_s_per_gpu": sp.tok_s_per_gpu(m.get("per_gpu_counts", "all")) * run,
        "output_tok_s_per_user": sp.tok_s_per_user,
        "tpot_ms": sp.tpot * 1e3,
        "ttft_ms": sp.ttft * 1e3,
        "input_tok_s_per_gpu": input_tok_s_per_gpu(sp, c.input_tokens, dis) * run,
    }
    for k, v in pred.items():
        meas = m.get(k)
        row["metrics"][k] = {"predicted": v, "measured": meas, "error": (v - meas) / meas if meas else None}
    if why := per_gpu_inconsistency(p):  # listed in the summary, left out of the per-GPU statistics and the fit
        row["metrics"]["output_tok_s_per_gpu"].update(error=None, inconsistent=why)
    row["decode_seqs"] = sp.decode_seqs
    row["decode_seqs_measured"] = measured_decode_seqs(p, c.decode.instances)
    row["prefill_bound"] = sp.prefill_bound
    row["kv_limited"] = sp.kv_limited
    return row


def run_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [evaluate_point(p) for p in points]


# --- summaries --------------------------------------------------------------------------------------------------


def _quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    i = q * (len(s) - 1)
    lo = int(i)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (i - lo)


def stats(errors: list[float]) -> dict[str, Any]:
    if not errors:
        return {"n": 0, "median_abs": None, "p90_abs": None, "median_signed": None}
    a = [abs(e) for e in errors]
    return {"n": len(errors), "median_abs": statistics.median(a), "p90_abs": _quantile(a, 0.9),
            "median_signed": statistics.median(errors)}  # fmt: skip


GROUPS = ("engine", "gpu", "weights", "spec", "mode", "band")


def errors_of(rows: list[dict[str, Any]], metric: str) -> list[float]:
    return [r["metrics"][metric]["error"] for r in rows if r["metrics"].get(metric, {}).get("error") is not None]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if not r["reason"]]
    out: dict[str, Any] = {
        "points": len(rows),
        "predicted": len(ok),
        "unrepresentable": [{"id": r["id"], "reason": r["reason"]} for r in rows if r["reason"]],
        "inconsistent": [
            {"id": r["id"], "reason": r["metrics"]["output_tok_s_per_gpu"]["inconsistent"]}
            for r in ok
            if r["metrics"]["output_tok_s_per_gpu"].get("inconsistent")
        ],
        "overall": {m: stats(errors_of(ok, m)) for m in METRICS},
        "by": {},
    }
    for g in GROUPS:
        keys = sorted({str(r[g]) for r in ok}, key=lambda k: (g != "band", [b[2] for b in BANDS].index(k)
                                                               if g == "band" else k))  # fmt: skip
        out["by"][g] = {k: {m: stats(errors_of([r for r in ok if str(r[g]) == k], m)) for m in HEADLINE}
                        for k in keys}  # fmt: skip
    out["by_mode_engine"] = {
        f"{e} {mode}": {m: stats(errors_of([r for r in ok if r["engine"] == e and r["mode"] == mode], m))
                        for m in HEADLINE}
        for e in sorted({r["engine"] for r in ok}) for mode in ("agg", "disagg")
        if any(r["engine"] == e and r["mode"] == mode for r in ok)
    }  # fmt: skip
    out["mtp_sign"] = mtp_sign(ok)
    return out


def worst(rows: list[dict[str, Any]], n: int, metric: str = "output_tok_s_per_gpu") -> list[dict[str, Any]]:
    have = [r for r in rows if not r["reason"] and r["metrics"].get(metric, {}).get("error") is not None]
    return sorted(have, key=lambda r: -abs(r["metrics"][metric]["error"]))[:n]


def _pair_key(r: dict[str, Any]) -> tuple:
    return (r["engine"], r["engine_version"], r["gpu"], r["gpus"], r["weights"], r["mode"],
            json.dumps(r["layout"], sort_keys=True), r["isl"], r["osl"], r["concurrency"])  # fmt: skip


def mtp_sign(rows: list[dict[str, Any]], metric: str = "output_tok_s_per_user") -> dict[str, Any]:
    """Matched pairs (same setup and concurrency, with and without MTP): does the model get the sign of MTP's
    effect on `metric` right?"""
    plain = {_pair_key(r): r for r in rows if r["spec"] == "none"}
    right = total = 0
    for r in rows:
        if r["spec"] != "mtp" or (q := plain.get(_pair_key(r))) is None:
            continue
        a, b = r["metrics"][metric], q["metrics"][metric]
        if a["measured"] is None or b["measured"] is None:
            continue
        total += 1
        right += (a["measured"] > b["measured"]) == (a["predicted"] > b["predicted"])
    return {"pairs": total, "right": right, "share": right / total if total else None}
