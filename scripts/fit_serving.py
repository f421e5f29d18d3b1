"""Fit the serving engines' constants (perf_constants.py) to the measured corpus, and cross-validate.

The model is the roofline of perf.py plus serving.py's steady state; what is fitted is, per engine build
(SGLang; SGLang's ROCm builds for MI300X/MI325X and for MI355X; SGLang 0.4; TensorRT-LLM; TensorRT-LLM 1.2+; vLLM
0.7; ATOM), eleven named constants of EnginePerf:
step_overhead, layer_overhead, moe_token_overhead (s), bw_efficiency and prefill_efficiency (multipliers of the
global HBM / MFU efficiencies, bounded to stay physical), request_overhead (s on TTFT), spec_seq_overhead (s per
sequence per MTP round), dispatch_overhead (s per attention-DP MoE dispatch or combine: the engine's all-to-all),
dispatch_token_overhead (s per token of a rank in a decode step's dispatch or combine: its kernels' rate),
fp8_layer_overhead (s per decoder layer of a decode step with block-scaled FP8 weights) and fp8_prefill_efficiency
(a multiplier of prefill_efficiency for block-scaled FP8 weights on FP4-capable GPUs: perf.fp8_prefill_factor);
and six serving-wide ones (GLOBALS): the MTP first-draft acceptance on random-token
prompts, the prefill->decode hand-off of disaggregated serving, the prefill-queue burstiness, the inter-node step
latency, the EP dispatch floor and the cross-node (RDMA) dispatch floor. No per-point term, no lookup: every point of
an engine build shares its constants. compute_efficiency (decode MFU) is not fitted (see PARAMS).

Objective: the mean |log(predicted / measured)| of output tok/s per GPU and per user, plus a tenth of TTFT's, over the
points of the group (a per-GPU figure that contradicts the point's own latencies, measured.per_gpu_inconsistency, is
left out); minimised by coordinate descent in log space (multiplicative steps, shrunk when no step improves), passes
over the groups then the globals. Reproducible: every fit starts from a fixed point, never from the constants it
replaces (perf_constants.PREVIOUS_FIT*: the frozen last warm-started fit, by default; --start prior: FIT_START*, the
pre-corpus priors, which the leave-one-GPU-type-out refits always use), and nothing in it is random, so the same
corpus and model give the same constants to the printed digit.

    python scripts/fit_serving.py                 # the shipped FITTED_SERVING and globals
    python scripts/fit_serving.py --logo          # and leave-one-GPU-type-out cross-validation
    python scripts/fit_serving.py --passes 0 --logo-gpu gb200   # one held-out GPU only, with its errors by build
    python scripts/fit_serving.py --passes 0 --holdout-after 2026-05-01   # refit on the runs before, predict the rest

Prints the constants (FITTED_SERVING and the globals; --write puts them into perf_constants.py, in the file's own
spelling, PREVIOUS_FIT untouched), the in-sample errors by group and, with --logo, each held-out GPU type's median
|error|; with --holdout-after DATE, a time split by the same machinery: a refit from the priors on the points dated
before DATE, and its errors on the points dated on or after it beside its in-sample ones, by build x agg/disagg.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from specsize import engine_builds, perf, recipes, serving
from specsize import perf_constants as pc
from specsize.hardware import get_gpu
from specsize.measured import BUNDLED_MEASURED, errors_of, load_points, run_points, summarize

# compute_efficiency is not fitted: left free it drifts to ~0.15 (an MFU of 8%), which would make a dense model
# compute-bound at a batch of 32; the per-token cost it stood for is the MoE layers' (moe_token_overhead).
PARAMS = (
    "step_overhead",
    "layer_overhead",
    "moe_token_overhead",
    "bw_efficiency",
    "request_overhead",
    "prefill_efficiency",
    "spec_seq_overhead",
    "dispatch_overhead",
    "fp8_layer_overhead",
    "fp8_prefill_efficiency",
    "dispatch_token_overhead",
)  # fmt: skip
# The order the descent visits them in: the terms that only some of a build's points pay (FP8 weights, MTP rounds,
# attention-DP dispatches, TTFT) before the ones every point pays (step, layer, token, bandwidth, prefill compute), so
# that a subset's extra cost is taken by its own term before a build-wide one absorbs it. Visited the other way, a
# refit from the priors without GB200 put TensorRT-LLM 1.1's FP8 cost on its per-step term (3.5 ms, 0.17 ms in-sample;
# its FP8 per-layer term 40 us, 69 us in-sample), which made its NVFP4 points at 4 users 15-30% slow on B200 and GB200.
DESCENT_ORDER = (
    "fp8_layer_overhead",
    "fp8_prefill_efficiency",
    "spec_seq_overhead",
    "dispatch_overhead",
    "dispatch_token_overhead",
    "request_overhead",
    "step_overhead",
    "layer_overhead",
    "moe_token_overhead",
    "bw_efficiency",
    "prefill_efficiency",
)  # fmt: skip
assert sorted(DESCENT_ORDER) == sorted(PARAMS), "every fitted constant is visited once (PARAMS: the written order)"
# Efficiencies are multipliers of HBM_EFFICIENCY (0.80) and COMPUTE_EFFICIENCY (0.55): bounded so the product
# stays at or under the datasheet (1.25 x 0.80, 1.8 x 0.55).
BOUNDS = {
    "bw_efficiency": (0.2, 1.25),
    "prefill_efficiency": (0.05, 1.8),
    "step_overhead": (1e-5, 0.02),
    "layer_overhead": (1e-6, 5e-4),
    "moe_token_overhead": (1e-9, 2e-5),
    "spec_seq_overhead": (1e-7, 2e-4),
    "request_overhead": (1e-4, 1.0),
    "dispatch_overhead": (1e-7, 3e-4),
    "dispatch_token_overhead": (1e-10, 5e-6),
    "fp8_layer_overhead": (1e-8, 5e-4),
    "fp8_prefill_efficiency": (0.2, 1.5),  # a multiplier of prefill_efficiency (FP8 on FP4-capable GPUs only)
}
GLOBALS = {"MTP_RANDOM_FIRST_ACCEPTANCE": (recipes, (0.2, 0.95)), "DISAGG_HANDOFF": (serving, (1e-4, 2.0)),
           "PREFILL_QUEUE_FACTOR": (serving, (0.05, 20.0)),
           "INTER_NODE_STEP_LATENCY": (perf, (5e-6, 2e-4)),
           "EP_DISPATCH_LATENCY_PER_DOUBLING": (perf, (1e-6, 2e-4)),
           "RDMA_DISPATCH_LATENCY": (perf, (5e-6, 4e-4))}  # fmt: skip
TTFT_WEIGHT = 0.1
PASSES = 6  # the global loss stops moving after three (0.180 from the fixed start)
LOGO_PASSES = 2


def group_of(p: dict) -> str:
    """Which constants a point uses (engine_builds.engine_perf_for's rule)."""
    gpu = get_gpu(p["gpu"])
    return engine_builds.engine_perf_for(p["engine"], recipes.engine_version(p), gpu.vendor, gpu.arch).name


def loss(points: list[dict]) -> float:
    total, n = 0.0, 0
    for r in run_points(points):
        if r["reason"]:
            continue
        for metric, w in (("output_tok_s_per_gpu", 1.0), ("output_tok_s_per_user", 1.0), ("ttft_ms", TTFT_WEIGHT)):
            m = r["metrics"][metric]
            if m["measured"] and m["error"] is not None and m["predicted"] and m["predicted"] > 0:
                total += w * abs(math.log(m["predicted"] / m["measured"]))
                n += w
    return total / n if n else math.inf


def _get(name: str, key: str) -> float:
    if name == "global":
        return getattr(GLOBALS[key][0], key)
    return getattr(pc.ENGINE_PERF[name], key)


def _set(name: str, key: str, value: float) -> None:
    if name == "global":
        mod = GLOBALS[key][0]
        setattr(mod, key, value)
        setattr(pc, key, value)
        return
    pc.ENGINE_PERF[name] = replace(pc.ENGINE_PERF[name], **{key: value})


def descend(name: str, keys, points: list[dict], rounds: int = 6) -> float:
    for key in keys:  # start inside the bounds
        lo, hi = GLOBALS[key][1] if name == "global" else BOUNDS[key]
        _set(name, key, min(max(_get(name, key), lo), hi))
    best = loss(points)
    step = 1.6
    for _ in range(rounds):
        improved = False
        for key in keys:
            lo, hi = GLOBALS[key][1] if name == "global" else BOUNDS[key]
            for direction in (step, 1 / step):
                while True:
                    old = _get(name, key)
                    new = min(max((old or lo) * direction, lo), hi)
                    if new == old:
                        break
                    _set(name, key, new)
                    got = loss(points)
                    if got < best - 1e-5:
                        best, improved = got, True
                    else:
                        _set(name, key, old)
                        break
        if not improved:
            step = math.sqrt(step)
            if step < 1.02:
                break
    return best


def fit(points: list[dict], verbose: bool = True, passes: int = 2) -> None:
    by_group: dict[str, list[dict]] = {}
    for p in points:
        by_group.setdefault(group_of(p), []).append(p)
    for _ in range(passes):
        for g, sub in sorted(by_group.items()):
            got = descend(g, DESCENT_ORDER, sub)
            if verbose:
                print(f"  {g}: loss {got:.3f} over {len(sub)} points", flush=True)
        got = descend("global", list(GLOBALS), points, rounds=3)
        if verbose:
            print(f"  global: loss {got:.3f}", flush=True)


def scored(rows: list[dict]) -> list[dict]:
    """The rows of run_points the model predicts (those without a reason)."""
    return [r for r in rows if not r["reason"]]


def predicted(points: list[dict]) -> list[dict]:
    """The points' predicted rows."""
    return scored(run_points(points))


def median_abs(rows: list[dict], metric: str) -> float:
    """Median |error| of `metric` over predicted rows."""
    errs = [abs(e) for e in errors_of(rows, metric)]
    return statistics.median(errs) if errs else math.nan


def constants_text() -> tuple[str, dict[str, float]]:
    """The FITTED_SERVING block as perf_constants.py spells it, and the serving-wide constants' values."""
    lines = ["FITTED_SERVING: dict[str, dict[str, float]] = {"]
    for name in sorted(n for n in pc.ENGINE_PERF if n in pc.FITTED_SERVING):
        p = pc.ENGINE_PERF[name]
        lines.append(f'    "{name}": {{')
        for i in range(0, len(PARAMS), 3):
            lines.append("        " + " ".join(f'"{k}": {getattr(p, k):.4g},' for k in PARAMS[i : i + 3]))
        lines.append("    },")
    lines.append("}  # fmt: skip")
    return "\n".join(lines), {key: getattr(mod, key) for key, (mod, _) in GLOBALS.items()}


def show() -> None:
    block, globals_ = constants_text()
    print("\nfitted constants (paste into perf_constants.py, or run with --write):\n" + block)
    for key, value in globals_.items():
        print(f"{key} = {value:.4g}")


def write_constants(path: Path) -> None:
    """Put the fitted constants into perf_constants.py (or a copy at `path`): the FITTED_SERVING block and each
    serving-wide constant, in the file's own units (a value written `x * US` stays in microseconds)."""
    block, globals_ = constants_text()
    text = path.read_text()
    i = text.index("FITTED_SERVING: dict[str, dict[str, float]] = {")
    j = text.index("}  # fmt: skip", i) + len("}  # fmt: skip")
    text = text[:i] + block + text[j:]
    for key, value in globals_.items():
        m = re.search(rf"^{key} = ([^\s#]+)( \* US)?", text, re.M)
        if m is None:
            sys.exit(f"fit_serving.py: {path} has no line '{key} = ...' to write the fitted value into")
        new = f"{key} = {value / pc.US:.4g} * US" if m.group(2) else f"{key} = {value:.4g}"
        text = text[: m.start()] + new + text[m.end() :]
    path.write_text(text)


def reset_to_start(start: str = "previous") -> None:
    """Put every fitted constant back to a fixed starting point: "previous" (perf_constants.PREVIOUS_FIT, the
    frozen constants of the last warm-started fit) or "prior" (perf_constants.FIT_START, the pre-corpus priors)."""
    if start == "previous":
        for name, values in pc.PREVIOUS_FIT.items():
            pc.ENGINE_PERF[name] = replace(pc.FIT_START[name], **values)
        globals_ = pc.PREVIOUS_FIT_GLOBALS
    else:
        pc.ENGINE_PERF.update(pc.FIT_START)
        globals_ = pc.FIT_START_GLOBALS
    for key, value in globals_.items():
        _set("global", key, value)


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="fit_serving.py",
        description="Fit the serving engines' constants (perf_constants.FITTED_SERVING and six serving-wide ones) "
        "to the measured corpus, from a fixed starting point; print them, the in-sample errors and, with --logo, "
        "leave-one-GPU-type-out cross-validation.",
        epilog="examples:\n  python scripts/fit_serving.py            # reproduces the shipped constants\n"
        "  python scripts/fit_serving.py --write    # and writes them into perf_constants.py\n"
        "  python scripts/fit_serving.py --logo     # plus leave-one-GPU-type-out (several minutes)\n"
        "  python scripts/fit_serving.py --passes 0 --logo-gpu mi355x   # one GPU held out, no in-sample fit\n"
        "  python scripts/fit_serving.py --passes 0 --holdout-after 2026-05-01   # a time split",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("corpus", nargs="?", default=str(BUNDLED_MEASURED),
                    help="measured-point JSONL (default: the bundled tuning.jsonl)")  # fmt: skip
    ap.add_argument("--start", choices=("previous", "prior"), default="previous",
                    help="where the fit starts: the frozen previous fit (default; reproduces the shipped constants) "
                    "or the pre-corpus priors")  # fmt: skip
    ap.add_argument("--write", action="store_true",
                    help="write the fitted constants into perf_constants.py (PREVIOUS_FIT untouched)")  # fmt: skip
    ap.add_argument("--logo", action="store_true", help="also refit without each GPU type and predict it")
    ap.add_argument(
        "--logo-gpu",
        action="append",
        metavar="GPU",
        help="leave out only this GPU type (repeatable; implies --logo): e.g. --logo-gpu mi355x",
    )
    ap.add_argument("--holdout-after", action="append", type=iso_date, metavar="DATE",
                    help="refit on the points dated before DATE (YYYY-MM-DD), predict those dated on or after it "
                    "(repeatable): how the constants hold on later runs")  # fmt: skip
    ap.add_argument("--passes", type=int, default=PASSES, help=f"passes over the groups and globals (default {PASSES})")
    ap.add_argument("--logo-passes", type=int, default=LOGO_PASSES,
                    help=f"passes of each leave-one-out refit (default {LOGO_PASSES}: seven refits)")  # fmt: skip
    return ap.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse(argv)
    points = load_points(args.corpus)
    if unknown := sorted(set(args.logo_gpu or ()) - {p["gpu"] for p in points}):
        sys.exit(f"fit_serving.py: no point of the corpus is on {', '.join(unknown)}; --logo-gpu takes one of: "
                 f"{', '.join(sorted({p['gpu'] for p in points}))}")  # fmt: skip
    shipped = {}  # the held-out points' predictions under the constants perf_constants.py ships (fitted on all)
    for cutoff in args.holdout_after or ():
        before, after, _ = split_by_date(points, cutoff)
        if not (before and after):
            sys.exit(f"fit_serving.py: --holdout-after {cutoff} leaves {len(before)} point(s) before it and "
                     f"{len(after)} on or after it; the corpus's dates run from {min_max_dates(points)}")  # fmt: skip
        shipped[cutoff] = predicted(after)
    reset_to_start("prior")  # the leave-one-GPU-type-out refits start from the priors (no GPU seen)
    start = {n: p for n, p in pc.ENGINE_PERF.items()}
    start_globals = {k: getattr(m, k) for k, (m, _) in GLOBALS.items()}
    reset_to_start(args.start)
    print(f"{len(points)} points; loss at the starting point ({args.start}): {loss(points):.3f}")
    fit(points, passes=args.passes)
    show()
    if args.write:
        write_constants(Path(pc.__file__))
        print(f"written into {pc.__file__}")
    rows = run_points(points)
    for metric in ("output_tok_s_per_gpu", "output_tok_s_per_user"):
        print(f"in-sample median |error| {metric}: {median_abs(scored(rows), metric):.1%}")
    summ = summarize(rows)
    for title, table in (("engine x agg/disagg", summ["by_mode_engine"]), ("GPU", summ["by"]["gpu"]),
                         ("concurrency", summ["by"]["band"]), ("speculative", summ["by"]["spec"])):  # fmt: skip
        print(f"{title}: (median |error| / bias, per GPU | per user)")
        for k, d in table.items():
            g, u = d["output_tok_s_per_gpu"], d["output_tok_s_per_user"]
            print(
                f"  {k:16s} {g['n']:4d}  {g['median_abs']:6.1%} {g['median_signed']:+6.1%} | "
                f"{u['median_abs']:6.1%} {u['median_signed']:+6.1%}"
            )
    if args.logo or args.logo_gpu:
        logo(points, sorted(args.logo_gpu or {p["gpu"] for p in points}), start, start_globals, args.logo_passes)
    for cutoff in args.holdout_after or ():
        holdout_after(points, cutoff, start, start_globals, args.logo_passes, shipped[cutoff])


def layout_of(r: dict) -> str:
    """A point's (decode) layout as the held-out breakdown names it: TP, EP, attention DP."""
    lay = r["layout"]
    return f"TP{lay.get('tp', 1)} EP{lay.get('ep') or 1}" + (" DP-attn" if lay.get("dp_attention") else "")


def breakdown(held: list[dict], rows: list[dict]) -> None:
    """The held-out points' errors (`rows`: their predicted rows) by engine build x aggregated/disaggregated x
    weights, by build x (decode) layout and by build x concurrency band: which constants (and which conditions) fail
    to transfer to the held-out GPU."""
    build = {p["id"]: group_of(p) for p in held}
    keys = {
        "build / mode / weights / spec": lambda r: f"{build[r['id']]} {r['mode']} {r['weights']} {r['spec']}",
        "build / layout": lambda r: f"{build[r['id']]} {r['mode']} {layout_of(r)}",
        "build / concurrency": lambda r: f"{build[r['id']]} {r['band']}",
    }
    for title, key in keys.items():
        print(f"    {title}: N, median |error| / bias, per GPU | per user")
        for k in sorted({key(r) for r in rows}):
            sub = [r for r in rows if key(r) == k]
            print(f"      {k:44s} {len(sub):4d}  {cells(sub)}")


def cells(rows: list[dict]) -> str:
    """Median |error| and bias (median signed error) of tok/s per GPU | per user over predicted rows."""
    out = []
    for metric in ("output_tok_s_per_gpu", "output_tok_s_per_user"):
        e = errors_of(rows, metric)
        out.append(f"{statistics.median(map(abs, e)):6.1%} {statistics.median(e):+7.1%}" if e else " " * 14)
    return " | ".join(out)


def refit_without(train: list[dict], held: list[dict], start: dict, start_globals: dict, passes: int) -> None:
    """Set the constants to a refit from `start` (the priors) on `train` alone, for predicting `held`."""
    pc.ENGINE_PERF.clear()
    pc.ENGINE_PERF.update(start)
    for k in GLOBALS:
        _set("global", k, start_globals[k])
    fit(train, verbose=False, passes=passes)
    # an engine build the training points never exercise (ATOM and SGLang's gfx950 build exist only on MI355X) must
    # not keep its priors: it takes the nearest trained build's constants, by the rule a GPU architecture the corpus
    # lacks gets in `plan` (engine_builds.nearest_build)
    trained = {group_of(p) for p in train}
    for g in sorted({group_of(p) for p in held} - trained):
        source = engine_builds.nearest_build(g, trained)
        pc.ENGINE_PERF[g] = replace(pc.ENGINE_PERF[source], name=g)
        print(f"    {g}: no training point; takes {source}'s constants")
    print("    the refit's serving-wide constants: " + ", ".join(f"{k} {_get('global', k):.4g}" for k in GLOBALS))


def held_out(run) -> None:
    """Run `run()` (refits and predictions), then put the fitted constants back as they were."""
    fitted = dict(pc.ENGINE_PERF)
    fitted_globals = {k: getattr(m, k) for k, (m, _) in GLOBALS.items()}
    try:
        run()
    finally:
        pc.ENGINE_PERF.clear()
        pc.ENGINE_PERF.update(fitted)
        for k, v in fitted_globals.items():
            _set("global", k, v)


def logo(points: list[dict], gpus: list[str], start: dict, start_globals: dict, passes: int) -> None:
    """Leave-one-GPU-type-out: refit from the priors without each GPU type in `gpus`, predict its points."""

    def run() -> None:
        print("\nleave-one-GPU-type-out (fit without the GPU, predict it):")
        for gpu in gpus:
            held = [p for p in points if p["gpu"] == gpu]
            print(f"  refit without {gpu}:", flush=True)
            refit_without([p for p in points if p["gpu"] != gpu], held, start, start_globals, passes)
            rows = predicted(held)
            print(f"  {gpu:9s} ({len(rows):4d} points): median |error| tok/s per GPU "
                  f"{median_abs(rows, 'output_tok_s_per_gpu'):.1%}, per user "
                  f"{median_abs(rows, 'output_tok_s_per_user'):.1%}", flush=True)  # fmt: skip
            breakdown(held, rows)

    held_out(run)


def iso_date(text: str) -> date:
    """--holdout-after's argument: a calendar date, YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def split_by_date(points: list[dict], cutoff: date) -> tuple[list[dict], list[dict], list[dict]]:
    """The points dated before `cutoff` (the refit's), those dated on or after it (predicted), and the undated ones,
    which go to neither side: a run of unknown date could be a later one."""
    before, after, undated = [], [], []
    for p in points:
        d = recipes.point_date(p)
        (undated if d is None else before if d < cutoff else after).append(p)
    return before, after, undated


def min_max_dates(points: list[dict]) -> str:
    dates = sorted(d for p in points if (d := recipes.point_date(p)) is not None)
    return f"{dates[0]} to {dates[-1]}" if dates else "(no point has a date)"


def holdout_after(points: list[dict], cutoff: date, start: dict, start_globals: dict, passes: int,
                  shipped: list[dict]) -> None:  # fmt: skip
    """A time split: refit from the priors on the points dated before `cutoff`, predict those dated on or after it;
    their errors by build x agg/disagg beside the same points' under the shipped constants (`shipped`: rows of
    run_points, fitted on every point) and the refit's in-sample ones."""
    train, held, undated = split_by_date(points, cutoff)

    def run() -> None:
        print(f"\nheld out after {cutoff}: refit on the {len(train)} points dated before it, predict the {len(held)} "
              f"dated on or after it ({len(undated)} undated: in neither)")  # fmt: skip
        refit_without(train, held, start, start_globals, passes)
        rows = {"held out": predicted(held), "shipped": shipped, "in-sample": predicted(train)}
        build = {p["id"]: group_of(p) for p in points}
        print("    build / mode: N, median |error| / bias, per GPU | per user: held out | the same points under the "
              "shipped constants | the refit's own points")  # fmt: skip
        keys = sorted({f"{build[r['id']]} {r['mode']}" for r in rows["held out"]})
        for k in ["all", *keys]:
            line = f"      {k:28s}"
            for sub in rows.values():
                sub = [r for r in sub if k == "all" or f"{build[r['id']]} {r['mode']}" == k]
                line += f"  {len(sub):4d}  {cells(sub)}" if sub else " " * 39
            print(line, flush=True)
        breakdown(held, rows["held out"])

    held_out(run)


if __name__ == "__main__":
    main(sys.argv[1:])
