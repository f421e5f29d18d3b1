"""Where a compiled speculative round spends its time: torch.profiler around the bench's own runs (greedy,
tiny-r1 with its MTP head and tiny-r1-draft, compiled), per round, the prefill's share subtracted (a profiled
run of 128 new tokens minus one of 1). Counts are exact; times move with the machine's load.

    python benchmarks/profile_round.py [--prompts 2] [--configs none:0,draft:4,mtp:1] [--table]

It only uses bench.runner.run_once, so the same script profiles an older tree (PYTHONPATH=old/src).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

import torch
from torch.profiler import ProfilerActivity, profile

from specsize.bench.prompts import default_prompts
from specsize.bench.runner import run_once
from specsize.engine.run import load_compiled_pair


def counts(prof) -> collections.Counter:
    c: collections.Counter = collections.Counter()
    for e in prof.key_averages():
        if e.key.startswith("## Call CompiledFxGraph"):
            c["graph_ms"] += e.self_cpu_time_total / 1e3
            c["calls"] += e.count
        elif e.key == "TorchDynamo Cache Lookup":
            c["lookup_ms"] += e.self_cpu_time_total / 1e3
        elif e.key == "aten::_local_scalar_dense":
            c["host_reads"] += e.count
        elif e.key in ("aten::lift_fresh", "aten::lift_fresh_copy"):
            c["from_lists"] += e.count
    return c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--configs", default="none:0,draft:4,mtp:1")
    ap.add_argument("--table", action="store_true", help="also print the profiler's top operators")
    args = ap.parse_args()
    target, tok, draft = load_compiled_pair("tiny-r1", "tiny-r1-draft")
    prompts = []
    for p in default_prompts(max(args.prompts, 1)):
        text = tok.apply_chat_template([{"role": "user", "content": p.text}])
        prompts.append((tok.encode(text, add_special=False), p.category))
    eos = tok.eos_token_ids
    configs = [(m, int(k)) for m, k in (c.split(":") for c in args.configs.split(","))]
    t0 = time.perf_counter()
    for m, k in configs:  # compiles
        run_once(target, draft, prompts, m, k, 128, eos)
    print(f"warm-up (compilation included): {time.perf_counter() - t0:.0f} s; threads {torch.get_num_threads()}")
    for m, k in configs:
        runs = [run_once(target, draft, prompts, m, k, 128, eos) for _ in range(3)]
        s = runs[-1].stats
        print(f"{m} k={k}: {statistics.median(r.tokens_per_s for r in runs):,.1f} tok/s (runs "
              f"{', '.join(f'{r.tokens_per_s:,.0f}' for r in runs)}), {s.decode_time / s.num_rounds * 1e3:.3f} ms "
              f"per round, mean acceptance length {s.mean_acceptance_length:.2f}")  # fmt: skip
        measured = []
        for max_new in (128, 1):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                run = run_once(target, draft, prompts, m, k, max_new, eos)
            c = counts(prof)
            c["round_ms"] = run.stats.decode_time * 1e3
            c["rounds"] = run.stats.num_rounds
            measured.append((c, prof))
        (full, prof), (pre, _) = measured
        n = full["rounds"] - pre["rounds"]
        d = {key: (full[key] - pre[key]) / n for key in ("round_ms", "graph_ms", "calls", "lookup_ms", "host_reads",
                                                         "from_lists")}  # fmt: skip
        print(f"  per round ({n} rounds, profiler on): {d['round_ms']:.3f} ms; inside compiled graphs "
              f"{d['graph_ms']:.3f} ms over {d['calls']:.2f} calls; dynamo guard evaluation {d['lookup_ms']:.3f} "
              f"ms; host reads of device values {d['host_reads']:.2f}; tensors from host lists "
              f"{d['from_lists']:.2f}")  # fmt: skip
        if args.table:
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
