"""The README's predicted-vs-measured table for `specsize bench --endpoint` against `specsize serve`: for each
level of the two measured runs (MTP and plain, benchmarks/results/endpoint_serve_{mtp,none}/measured.jsonl), the
measured MTP speedup per user next to what `specsize plan tiny-r1 --spec mtp:2 --acceptance A --calibration
benchmarks/results/serve/serve.json` predicts at that concurrency (calibration_batched: the round model on the
batched engine's step times T_C(n) measured at C, with A the acceptance the server's counters gave over the run).

    python benchmarks/endpoint_vs_plan.py [--mtp DIR] [--none DIR] [--serve serve.json]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from specsize.calibration import pooled_spec, read_calibration, this_machine
from specsize.measured import load_points

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mtp", type=Path, default=RESULTS / "endpoint_serve_mtp")
    ap.add_argument("--none", type=Path, default=RESULTS / "endpoint_serve_none")
    ap.add_argument("--serve", type=Path, default=RESULTS / "serve" / "serve.json")
    a = ap.parse_args()
    mtp_file = a.mtp / "measured.jsonl"
    mtp = {p["workload"]["concurrency"]: p for p in load_points(mtp_file)}
    plain = {p["workload"]["concurrency"]: p for p in load_points(a.none / "measured.jsonl")}
    from specsize.calibration import MeasuredRun

    pooled = pooled_spec(MeasuredRun(mtp_file, list(mtp.values())), "mtp")
    acc = tuple(round(x, 2) for x in pooled["conditional_acceptance"])
    machine = this_machine(read_calibration(a.serve), "mtp", acc)
    predicted = {r["concurrency"]: r for r in machine["batched"]}
    print(
        f"acceptance over the MTP run (the server's counters, pooled): {' '.join(f'{x:.2f}' for x in acc)}, "
        f"E[L] {pooled['mean_acceptance_length']:.2f}"
    )
    print(
        f"predicted: specsize plan tiny-r1 --spec mtp:2 --acceptance {','.join(f'{x:.2f}' for x in acc)} "
        f"--calibration {os.path.relpath(a.serve)}\n"
    )
    print(
        "| concurrency | plain tok/s/user | MTP k=2 tok/s/user | MTP speedup, measured | predicted | T_C(1) ms | "
        "T_C(3)/T_C(1) | plain out tok/s | MTP out tok/s | E[L] | acceptance per position |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for c in sorted(set(mtp) & set(plain)):
        m, p = mtp[c], plain[c]
        spec = m["bench"]["speculative"]
        pr = predicted.get(c)
        user_p, user_m = p["measured"]["output_tok_s_per_user"], m["measured"]["output_tok_s_per_user"]
        cells = [str(c), f"{user_p:.1f}", f"{user_m:.1f}", f"{user_m / user_p:.2f}x",
                 f"{pr['speedup']:.2f}x" if pr else "- (C not in serve.json)",
                 f"{pr['step_ms']:.1f}" if pr else "-", f"{pr['verify_ratio']:.2f}" if pr else "-",
                 f"{p['measured']['output_tok_s_per_gpu']:.1f}", f"{m['measured']['output_tok_s_per_gpu']:.1f}",
                 f"{spec['mean_acceptance_length']:.2f}",
                 " ".join(f"{x:.2f}" for x in spec["acceptance_per_position"])]  # fmt: skip
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
