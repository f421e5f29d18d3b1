"""The full speculative-decoding comparison on the bundled tiny-r1 family, written as a Markdown table:
plain decoding vs MTP, the draft model and n-gram lookup for k = 1..8, predicted vs measured speedup
(the closed loop), and ours vs transformers for plain, assisted and prompt-lookup generation (at k = 8).
With --compile, our engine runs its compiled steps (the warm-up runs compile); transformers stays eager.

    python benchmarks/bench_speculative.py [--out benchmarks/results] [--max-prompts 14] [--repeats 3]
    python benchmarks/bench_speculative.py --compile --out benchmarks/results/compiled
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from specsize.bench.report import best_per_method
from specsize.bench.run import BenchOptions, run_bench


def markdown(r: dict) -> str:
    s, m = r["settings"], r["machine"]
    lines = [
        f"`{r['model']}` (draft `{r['draft']}`), {r['prompts']['count']} prompts ({r['prompts']['source']}), "
        f"{s['max_new_tokens']} new tokens, greedy, batch 1, fp32, median of {s['repeats']} runs, "
        f"{'compiled (--compile)' if s.get('compiled') else 'eager'}; "
        f"{m['cpu']} ({m['threads']} threads, {platform.system()}), torch {m['torch']}.",
        "",
        f"Plain decoding: {r['baseline']['tokens_per_s']['median']:,.1f} tok/s.",
        "",
        "| method | k | tok/s | speedup | predicted | error | mean acceptance length | acceptance per position |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in r["configs"]:
        pred, err = c.get("predicted_speedup"), c.get("prediction_error")
        lines.append(f"| {c['method']} | {c['k']} | {c['tokens_per_s']['median']:,.1f} | {c['speedup']:.2f}x | "
                     + ("-" if pred is None else f"{pred:.2f}x") + " | " + ("-" if err is None else f"{err:+.0%}")
                     + f" | {c['mean_acceptance_length']:.2f} | "
                     + " ".join(f"{a:.2f}" for a in c["acceptance_per_position"]) + " |")  # fmt: skip
    best = best_per_method(r)
    lines += ["", "Best k per method: " + ", ".join(
        f"{k} k={c['k']} {c['speedup']:.2f}x (predicted {c.get('predicted_speedup', 0):.2f}x, "
        f"error {c.get('prediction_error', 0):+.0%})" for k, c in best.items()) + "."]  # fmt: skip
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--max-prompts", type=int, default=14)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-k", type=int, default=8)
    ap.add_argument("--compile", action="store_true", help="our engine's compiled steps (engine/compile.py)")
    args = ap.parse_args()
    o = BenchOptions(ks=tuple(range(1, args.max_k + 1)), max_prompts=args.max_prompts,
                     max_new_tokens=args.max_new_tokens, repeats=args.repeats, out=args.out, plot=args.out,
                     compile=args.compile)  # fmt: skip
    report = run_bench(o, progress=lambda msg, done, total: print(f"... [{done + 1}/{total}] {msg}", flush=True))
    (args.out / "bench.md").write_text(markdown(report))
    print(markdown(report))
    print(json.dumps({k: report[k] for k in ("baseline", "peers")}, indent=2))


if __name__ == "__main__":
    main()
