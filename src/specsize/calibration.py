"""`specsize plan --calibration bench.json`: what `specsize bench` measured, in the planner's terms.

- Acceptance: the bench's conditional per-position rates for the plan's method replace the defaults
  (perf_constants) everywhere the plan evaluates speculation. They come from the configuration with the plan's
  k, else from the one with the most positions measured.
- Step times, for the machine the bench ran on: when the plan is for the bench's model, the closed loop predicts
  that machine's speedup at every k. Where the bench timed the round itself at that k (round_times: the
  loop's own rounds replayed, bench.runner.replay_rounds: the drafter's and the verification's calls with each
  round's inputs, the same compiled graphs under --compile; T(1) plain decoding's replayed round), from those
  (speculative.round_speedup, the bench's own prediction); at the other k, from the measured T(n)
  of the target and of the drafter and the loop's own cost per step (speculative.measured_speedup). Each row
  says which, next to the speedup the bench measured. The catalog's GPUs keep the roofline: a step time
  measured on one machine says nothing of another.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specsize.errors import SpecsizeError
from specsize.perf_constants import MAX_K
from specsize.speculative import expected_length, measured_speedup, round_speedup


@dataclass(frozen=True)
class Bench:
    """The parts of a `specsize bench --out` bench.json the planner reads."""

    path: Path
    model: str
    machine: dict[str, Any]
    configs: list[dict[str, Any]]
    step_times: dict[str, list[float]] | None  # "target", "draft", "mtp": T(n) for n = 1.., seconds
    round_times: dict[str, dict[str, dict[str, Any]]] | None  # method -> k -> {"draft", "verify", "spread"}
    plain_tokens_per_s: float | None
    compiled: bool
    batches: list[dict[str, Any]] | None = None  # benchmarks/bench_serve.py: every concurrency (calibration_batched)
    timing_flagged: str | None = None  # why the bench's step and round times are not clean figures, if they are not


def read_bench(path: str | Path) -> Bench:
    p = Path(path)
    try:
        r = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecsizeError(f"--calibration {p}: no such file") from None
    except (OSError, ValueError) as e:
        raise SpecsizeError(f"--calibration {p}: not a `specsize bench --out` bench.json ({e})") from None
    from specsize.calibration_batched import bench_fields, is_serve_bench

    if is_serve_bench(r):
        return Bench(p, round_times=None, **bench_fields(r, p))  # a serve.json times steps per concurrency, not rounds
    return bench_from_json(r, p)


def bench_from_json(r: Any, p: Path) -> Bench:
    """A bench.json already parsed (`p`: where it came from, for messages)."""
    try:
        configs = r["configs"]
        baseline = r.get("baseline") or {}
        plain = baseline.get("tokens_per_s", {}).get("median") if baseline else None
        steps = {str(name): [float(x) for x in ts] for name, ts in (r.get("step_times") or {}).items()}
        rounds = {str(m): {str(k): dict(v) for k, v in ks.items()} for m, ks in (r.get("round_times") or {}).items()}
        bench = Bench(p, str(r.get("model", "")), dict(r.get("machine") or {}), list(configs), steps or None,
                      rounds or None,
                      float(plain) if plain else None,
                      bool((r.get("settings") or {}).get("compiled", False)),
                      timing_flagged=(r.get("timing") or {}).get("flagged"))  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SpecsizeError(f"--calibration {p}: not a `specsize bench --out` bench.json ({e})") from None
    return bench


def measured_acceptance(bench: Bench, method: str, k: int) -> tuple[float, ...]:
    rows = [c for c in bench.configs if c.get("method") == method and c.get("conditional_acceptance")]
    if not rows:
        found = sorted({str(c.get("method")) for c in bench.configs})
        raise SpecsizeError(f"--calibration {bench.path}: no measurement for method {method!r} "
                            f"(it has: {', '.join(found)})")  # fmt: skip
    row = next((c for c in rows if c.get("k") == k), max(rows, key=lambda c: len(c["conditional_acceptance"])))
    return tuple(min(max(float(a), 1e-6), 1.0) for a in row["conditional_acceptance"])  # (0, 1] for Speculative


def measured_model(bench: Bench, model: str, arch_name: str) -> bool:
    """Whether the bench measured the plan's model (the same name or the same resolved model)."""
    from specsize.resolve import load_model

    if not bench.model or bench.model == model:
        return bench.model == model
    try:
        return load_model(bench.model).name == arch_name
    except SpecsizeError:
        return False


def this_machine(bench: Bench, method: str, acceptance: tuple[float, ...] | None = None,
                 max_k: int = MAX_K) -> dict[str, Any]:  # fmt: skip
    """Speedup per k on the bench's machine from its measured step times and acceptance (measured_acceptance at
    each k, or `acceptance` when given; later positions repeat the last rate, as --acceptance does), with the
    bench's measured speedup where it ran that k. Returns {"reason": ...} when the file lacks what this needs."""
    steps = bench.step_times or {}
    if "target" not in steps or not bench.plain_tokens_per_s:
        return {"reason": f"{bench.path} has no step times (bench ran with --no-steps): acceptance only"}
    t = steps["target"]
    if len(t) < 2 or min(t) <= 0:
        return {"reason": f"{bench.path}: step_times.target needs T(1) and T(2) at least, in seconds > 0: "
                          "acceptance only"}  # fmt: skip
    t_draft = steps.get(method) if method in ("mtp", "draft") else None
    if method in ("mtp", "draft") and t_draft is None:
        return {"reason": f"{bench.path} has no step times for the {method} drafter: acceptance only"}
    overhead = max(1 / bench.plain_tokens_per_s - t[0], 0.0)  # the loop's own cost per step, measured
    measured = {c.get("k"): c.get("speedup") for c in bench.configs if c.get("method") == method}
    rounds = bench.round_times or {}
    timed = rounds.get(method, {})
    plain = rounds.get("none", {}).get("0")  # plain decoding's replayed round: the loop's T(1)
    t1 = plain["verify"] if plain else t[0]
    round_overhead = max(1 / bench.plain_tokens_per_s - t1, 0.0)  # the loop's own cost beyond its replayed round
    rows = []
    for k in range(1, min(max_k, len(t) - 1) + 1):
        alphas = acceptance or measured_acceptance(bench, method, k)
        a = tuple(alphas[:k]) + (alphas[-1],) * max(0, k - len(alphas))
        steps_s = measured_speedup(method, k, a, t, t_draft, overhead)
        rnd = timed.get(str(k))
        s = round_speedup(a, k, t1, round_overhead, rnd["draft"], rnd["verify"]) if rnd else steps_s
        rows.append({"k": k, "expected_length": expected_length(a), "speedup": s, "from": "rounds" if rnd else "steps",
                     "step_model_speedup": steps_s, "round_spread": rnd.get("spread") if rnd else None,
                     "tokens_per_s": s * bench.plain_tokens_per_s, "measured_speedup": measured.get(k)})  # fmt: skip
    best = max(rows, key=lambda r: r["speedup"])
    out = {"source": str(bench.path), "model": bench.model, "machine": bench.machine, "compiled": bench.compiled,
           "method": method, "plain_tokens_per_s": bench.plain_tokens_per_s, "step_overhead_s": overhead,
           "rows": rows, "best_k": best["k"], "timing_flagged": bench.timing_flagged}  # fmt: skip
    if bench.batches:
        from specsize.calibration_batched import batched_rows

        out["batched"] = batched_rows(bench.batches, method, acceptance)
    return out


# --- `plan --calibration measured.jsonl`: measured points (specsize bench --endpoint, or the corpus format) ---


@dataclass(frozen=True)
class MeasuredRun:
    """Measured points of one or more deployments (the measured-point JSONL that `bench --endpoint` writes)."""

    path: Path
    points: list[dict[str, Any]]


def read_calibration(path: str | Path) -> Bench | MeasuredRun:
    """A bench.json (`specsize bench --out`) or a measured-point JSONL (`specsize bench --endpoint --out`)."""
    from specsize.bench.measured import is_measured_file
    from specsize.measured import load_points

    p = Path(path)
    if p.is_file() and is_measured_file(p):
        return MeasuredRun(p, load_points(p))
    return read_bench(p)


def pooled_spec(run: MeasuredRun, method: str) -> dict[str, Any]:
    """The server's spec-decode counters of every level whose point declares `method`, pooled (summed) — the
    levels differ in load, not in what the drafter proposes, and pooling weighs each by its drafts. Without
    per-position counters (SGLang exports a mean only), the i.i.d. alpha that gives the drafts-weighted mean
    acceptance length at the declared k (scrape.iid_alpha: an assumption, said so)."""
    from specsize.bench.scrape import conditional_rates, iid_alpha

    mine = [p for p in run.points if (p.get("speculative") or {}).get("method") == method]
    specs = [(p, (p.get("bench") or {}).get("speculative") or {}) for p in mine]
    counted = [(p, s) for p, s in specs if s.get("num_drafts")]
    if counted:
        drafts = sum(s["num_drafts"] for _, s in counted)
        width = max(len(s.get("num_accepted_tokens_per_pos") or []) for _, s in counted)
        per_pos = [sum((s.get("num_accepted_tokens_per_pos") or [0] * width)[i] for _, s in counted
                       if i < len(s.get("num_accepted_tokens_per_pos") or [])) for i in range(width)]  # fmt: skip
        accepted = sum(s.get("num_accepted_tokens", 0) for _, s in counted)
        return {"levels": len(counted), "num_drafts": drafts, "num_accepted_tokens_per_pos": per_pos,
                "conditional_acceptance": conditional_rates(per_pos, drafts),
                "mean_acceptance_length": 1 + accepted / drafts,
                "how": "vLLM counters, summed over the levels"}  # fmt: skip
    means = [(p, s["mean_acceptance_length"]) for p, s in specs if s.get("mean_acceptance_length")]
    if means:
        k = int((means[0][0].get("speculative") or {}).get("num_speculative_tokens") or 1)
        mean = sum(m for _, m in means) / len(means)
        how = "mean acceptance length only (SGLang's gauge): the i.i.d. alpha that gives it (assumption)"
        return {"levels": len(means), "conditional_acceptance": [iid_alpha(mean, k)] * k,
                "mean_acceptance_length": mean, "how": how}  # fmt: skip
    found = sorted({str((p.get("speculative") or {}).get("method")) for p in run.points})
    raise SpecsizeError(f"--calibration {run.path}: no spec-decode measurement for method {method!r} "
                        f"(its points declare: {', '.join(found)}; a server without spec-decode metrics "
                        "gives none)")  # fmt: skip


def measured_run_acceptance(run: MeasuredRun, method: str, k: int) -> tuple[float, ...]:
    rates = pooled_spec(run, method)["conditional_acceptance"]
    if not rates:
        raise SpecsizeError(f"--calibration {run.path}: its {method} levels drafted nothing")
    return tuple(min(max(float(a), 1e-6), 1.0) for a in rates)  # (0, 1] for Speculative; later k repeat the last


def _predict(p: dict[str, Any], acceptance: tuple[float, ...] | None) -> tuple[float, float]:
    """The planner's (TPOT ms, output tok/s per GPU) for a measured point's own declared deployment, by the
    serving steady state that `specsize validate` uses (specsize.measured), with the measured acceptance of the
    point's method in place of the corpus default when there is one."""
    from dataclasses import replace

    from specsize.measured import predict_case, resolve

    c = resolve(p)
    if c.reason:
        raise SpecsizeError(c.reason)
    if acceptance and c.decode.dep.spec.enabled:
        dep = c.decode.dep
        c.decode = replace(c.decode, dep=replace(dep, spec=replace(dep.spec, acceptance=acceptance)))
    sp = predict_case(c)
    return sp.tpot * 1e3, sp.tok_s_per_gpu((p.get("measured") or {}).get("per_gpu_counts", "all"))


def step_time_scale(run: MeasuredRun, acceptance: dict[str, tuple[float, ...]]) -> dict[str, Any]:
    """Measured TPOT / the planner's TPOT for each point's own declared deployment (with the measured acceptance
    of its method), and their median: the factor by which this deployment's decode steps are slower (> 1) or
    faster than the roofline says. Points the planner cannot represent are listed with the reason."""
    import statistics

    rows, skipped = [], []
    for p in run.points:
        tpot = (p.get("measured") or {}).get("tpot_ms")
        if not p.get("gpu") or p.get("gpu") == "unknown" or not tpot:
            why = "no TPOT" if p.get("gpu") and p.get("gpu") != "unknown" else "no GPU declared (bench --gpu)"
            skipped.append({"id": p["id"], "reason": why})
            continue
        method = (p.get("speculative") or {}).get("method", "none")
        try:
            pred_tpot, pred_gpu = _predict(p, acceptance.get(method))
        except (SpecsizeError, TypeError, ValueError, KeyError) as e:
            skipped.append({"id": p["id"], "reason": str(e).strip("'\"")})
            continue
        rows.append({"id": p["id"], "gpu": p["gpu"], "gpus": p["gpus"], "engine": p["engine"],
                     "concurrency": p["workload"]["concurrency"], "measured_tpot_ms": tpot,
                     "predicted_tpot_ms": pred_tpot, "scale": tpot / pred_tpot,
                     "measured_tok_s_per_gpu": p["measured"].get("output_tok_s_per_gpu"),
                     "predicted_tok_s_per_gpu": pred_gpu})  # fmt: skip
    out: dict[str, Any] = {"rows": rows, "skipped": skipped}
    if rows:
        out["scale"] = statistics.median(r["scale"] for r in rows)
        out["gpu"] = rows[0]["gpu"] if len({r["gpu"] for r in rows}) == 1 else None
    return out


def scale_at(rows: list[dict[str, Any]], concurrency: int) -> float:
    """The measured/predicted TPOT ratio at a concurrency: linear in log(concurrency) between the measured levels,
    the nearest level's outside them (the ratio drifts with load, so one number for all loads would blur it)."""
    import math

    by_c: dict[int, list[float]] = {}
    for r in rows:
        by_c.setdefault(int(r["concurrency"]), []).append(r["scale"])
    pts = sorted((c, sum(v) / len(v)) for c, v in by_c.items())
    if concurrency <= pts[0][0]:
        return pts[0][1]
    for (c0, s0), (c1, s1) in itertools.pairwise(pts):
        if concurrency <= c1:
            f = (math.log(concurrency) - math.log(c0)) / (math.log(c1) - math.log(c0))
            return s0 + f * (s1 - s0)
    return pts[-1][1]


def measured_calibration(run: MeasuredRun, method: str, k: int, report: dict[str, Any]) -> dict[str, Any]:
    """What `plan --calibration measured.jsonl` learned (acceptance, the measured/predicted TPOT of every point)
    and, for each GPU type of the plan that was measured, the calibrated TPOT at the plan's workload (_applied).
    Other GPU types keep the roofline: a scale measured on one deployment says little of another."""
    acc: dict[str, tuple[float, ...]] = {}
    learned: dict[str, Any] = {"source": str(run.path), "points": len(run.points)}
    methods = {(p.get("speculative") or {}).get("method", "none") for p in run.points} - {"none"}
    for m in sorted(methods):
        try:
            pooled = pooled_spec(run, m)
        except SpecsizeError:
            continue
        acc[m] = tuple(min(max(a, 1e-6), 1.0) for a in pooled["conditional_acceptance"])
        if m == method:
            learned["acceptance"] = pooled
    scale = step_time_scale(run, acc)
    learned["step_time"] = scale
    if "scale" in scale:
        learned["applied"] = _applied(run, scale["rows"], report, acc)
    return learned


def _applied(run: MeasuredRun, rows: list[dict[str, Any]], report: dict[str, Any],
             acc: dict[str, tuple[float, ...]]) -> list[dict[str, Any]]:  # fmt: skip
    """For each GPU type of the plan that was measured: the measured deployment (the point nearest the plan's
    concurrency, its layout and engine) at the plan's workload, predicted by the serving steady state and
    multiplied by the scale at that concurrency. At a measured concurrency and workload this gives back the
    measured TPOT exactly; between levels it interpolates the model's error, not the measurements."""
    import math

    w = report["workload"]
    conc = int(w["concurrency"])
    by_id = {p["id"]: p for p in run.points}
    out = []
    for g in report.get("gpus", []):
        mine = [r for r in rows if r["gpu"] == g["gpu"]]
        if not g.get("fits") or not mine:
            continue
        near = min(mine, key=lambda r: abs(math.log(r["concurrency"]) - math.log(conc)))
        p = dict(by_id[near["id"]])
        p["workload"] = {**p["workload"], "concurrency": conc, "input_tokens": w["input_tokens"],
                         "output_tokens": w["output_tokens"]}  # fmt: skip
        method = (p.get("speculative") or {}).get("method", "none")
        try:
            tpot, per_gpu = _predict(p, acc.get(method))
        except SpecsizeError as e:
            out.append({"gpu": g["gpu"], "reason": str(e)})
            continue
        s = scale_at(mine, conc)
        o = g["recommended"]
        out.append({"gpu": g["gpu"], "deployment": near["id"], "concurrency": conc, "scale": s,
                    "plan_tpot_ms": (o.get("spec") or {}).get("tpot_ms") or o["tpot_ms"],
                    "predicted_tpot_ms": tpot, "calibrated_tpot_ms": tpot * s,
                    "calibrated_tok_s_per_user": 1e3 / (tpot * s), "predicted_tok_s_per_gpu": per_gpu,
                    "calibrated_tok_s_per_gpu": per_gpu / s})  # fmt: skip
    return out
