"""The full speculative-decoding comparison on the bundled tiny-r1 family, written as a Markdown table:
plain decoding vs MTP, the draft model and n-gram lookup for k = 1..8, predicted vs measured speedup
(the closed loop), and ours vs transformers for plain, assisted and prompt-lookup generation (at k = 8).
With --compile, our engine runs its compiled steps (the warm-up runs compile); transformers stays eager.

    python benchmarks/bench_speculative.py [--out benchmarks/results] [--max-prompts 14] [--repeats 3]
    python benchmarks/bench_speculative.py --compile --out benchmarks/results/compiled
    python benchmarks/bench_speculative.py --compile --ks mtp=1-3,draft=1-8,ngram=1-4 --max-prompts 6 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from specsize.bench.report import best_per_method
from specsize.bench.run import BenchOptions, run_bench


def _flag(c: dict) -> str:
    return f" (flagged: {c['flagged']})" if c.get("flagged") else ""


def markdown(r: dict, command: str = "", load: tuple[float, float] | None = None) -> str:
    s, m = r["settings"], r["machine"]
    base = r["baseline"]
    lines = [
        f"`{command}`" if command else "",
        "",
        f"`{r['model']}` (draft `{r['draft']}`), {r['prompts']['count']} prompts ({r['prompts']['source']}), "
        f"{s['max_new_tokens']} new tokens, greedy, batch 1, fp32, median of {s['repeats']} runs "
        f"(after {s['warmup']} warm-up pass), {'compiled (--compile)' if s.get('compiled') else 'eager'}; "
        f"{m['cpu']} ({m['threads']} threads, {platform.system()}), torch {m['torch']}"
        + (f"; 1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end" if load else "")
        + ".",
        "",
        f"Plain decoding: {base['tokens_per_s']['median']:,.1f} tok/s (runs spread "
        f"{base['tokens_per_s']['spread']:.0%}){_flag(base)}.",
        "",
        "| method | k | tok/s | spread | speedup | predicted | error | mean accepted | acceptance per position |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in r["configs"]:
        pred, err = c.get("predicted_speedup"), c.get("prediction_error")
        lines.append(f"| {c['method']} | {c['k']} | {c['tokens_per_s']['median']:,.1f} | "
                     f"{c['tokens_per_s']['spread']:.0%}{' (!)' if c.get('flagged') else ''} | {c['speedup']:.2f}x | "
                     + ("-" if pred is None else f"{pred:.2f}x") + " | " + ("-" if err is None else f"{err:+.0%}")
                     + (" (!)" if c.get("prediction_flagged") else "")
                     + f" | {c['mean_acceptance_length']:.2f} | "
                     + " ".join(f"{a:.2f}" for a in c["acceptance_per_position"]) + " |")  # fmt: skip
    flagged = [f"{c['method']} k={c['k']}: {c['flagged']}" for c in r["configs"] if c.get("flagged")]
    if flagged:
        lines += ["", "(!) Not clean figures: " + "; ".join(flagged) + "."]
    pflag = [f"{c['method']} k={c['k']}: {c['prediction_flagged']}" for c in r["configs"]
             if c.get("prediction_flagged")]  # fmt: skip
    if pflag:
        lines += ["", "(!) next to an error: its replayed rounds are not clean figures: " + "; ".join(pflag) + "."]
    t = r.get("timing")
    if t:
        bad = sum(x.get("mismatches", 0) for m in (r.get("round_times") or {}).values() for x in m.values())
        lines += ["", f"Rounds: each pass's rounds replayed in the loop's order with their own inputs (medians over "
                  f"{t['passes']} passes; replayed rounds whose outputs differ from the loop's: {bad}). T(n): 11 "
                  "timed calls each."]  # fmt: skip
        lines += ["", f"Step and round times: medians over {t['passes']} passes; graphs "
                  f"compiled while timed: {t['recompiles']}" + (f"; flagged: {t['flagged']}" if t["flagged"] else "")
                  + "."]  # fmt: skip
    best = best_per_method(r)
    parts = [f"{k} k={c['k']} {c['round_times_s']['draft'] * 1e3:.2f} + {c['round_times_s']['verify'] * 1e3:.2f} ms "
             f"replayed, {c['loop_round_times_s']['draft'] * 1e3:.2f} + "
             f"{c['loop_round_times_s']['verify'] * 1e3:.2f} ms "
             "in the loop" for k, c in best.items() if "round_times_s" in c and "loop_round_times_s" in c]  # fmt: skip
    if parts:
        lines += ["", "A round at the best k, draft + verification: " + "; ".join(parts) + "."]
    lines += ["", "Best k per method: " + ", ".join(
        f"{k} k={c['k']} {c['speedup']:.2f}x (predicted {c.get('predicted_speedup', 0):.2f}x, "
        f"error {c.get('prediction_error', 0):+.0%}){_flag(c)}" for k, c in best.items()) + "."]  # fmt: skip
    if r.get("peers"):
        lines += [
            "",
            f"Ours vs transformers {r['peers']['transformers']} (end-to-end tok/s, same prompts):",
            "",
            "| method | k | specsize | transformers | ratio | identical outputs |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for p in r["peers"]["rows"]:
            lines.append(f"| {p['method']} | {p['k']} | {p['specsize_tokens_per_s']:,.1f} | "
                         f"{p['transformers_tokens_per_s']:,.1f} | {p['ratio']:.2f}x | "
                         f"{p['same_outputs']}/{p['prompts']} prompts |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _ks(spec: str | None, methods: tuple[str, ...], max_k: int) -> dict[str, list[int]]:
    """--ks "mtp=1-3,draft=1-8" -> {"mtp": [1, 2, 3], "draft": [1..8]}; methods not named get 1..max_k."""
    out = {m: list(range(1, max_k + 1)) for m in methods}
    for part in (spec or "").split(","):
        if part:
            name, _, rng = part.partition("=")
            lo, _, hi = rng.partition("-")
            out[name] = list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--max-prompts", type=int, default=14)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-k", type=int, default=8)
    ap.add_argument("--compile", action="store_true", help="our engine's compiled steps (engine/compile.py)")
    ap.add_argument("--methods", default="mtp,draft,ngram", help="comma-separated: mtp, draft, ngram")
    ap.add_argument("--ks", default=None, help="per method, e.g. mtp=1-3,draft=1-8,ngram=1-4 (default: 1..--max-k)")
    ap.add_argument("--no-peers", action="store_true", help="skip the transformers comparison")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    methods = tuple(args.methods.split(","))
    ks = _ks(args.ks, methods, args.max_k)
    o = BenchOptions(methods=methods, ks=tuple(sorted({k for v in ks.values() for k in v})),
                     max_prompts=args.max_prompts, max_new_tokens=args.max_new_tokens, repeats=args.repeats,
                     out=args.out, plot=args.out, compile=args.compile, peers=not args.no_peers, threads=args.threads,
                     extra={"ks": ks})  # fmt: skip
    load0 = os.getloadavg()[0]
    report = run_bench(o, progress=lambda msg, done, total: print(f"... [{done + 1}/{total}] {msg}", flush=True))
    command = "python benchmarks/bench_speculative.py " + " ".join(sys.argv[1:])
    text = markdown(report, command, (load0, os.getloadavg()[0]))
    (args.out / "bench.md").write_text(text)
    print(text)
    print(json.dumps({k: report[k] for k in ("baseline", "peers")}, indent=2))


if __name__ == "__main__":
    main()
