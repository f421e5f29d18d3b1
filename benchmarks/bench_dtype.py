"""Compiled tiny-r1 in float32 and bfloat16, side by side: plain decoding and a few speculative configurations,
each dtype's speedups over its own plain decoding. The same loop and prompts as the bench (bench.runner.run_once on
the tiny-r1 test split's first prompts, 128 new tokens, greedy); the repeats interleave the two dtypes, so a
machine that drifts moves both alike; the first repeat is a warm-up (it compiles), the rest give medians.

    python benchmarks/bench_dtype.py [--repeats 4] [--prompts 4] [--threads 1] [--configs draft:5,draft:7,mtp:1]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from specsize.assets import bundled_model_dir
from specsize.bench.prompts import default_prompts
from specsize.bench.runner import run_once
from specsize.engine.run import DTYPES, load_draft, load_target


def setup(dtype: torch.dtype, prompts: int):
    """Target, draft, encoded prompts and EOS ids, compiled in `dtype`."""
    target, tok = load_target(bundled_model_dir("tiny-r1"), dtype, compile=True)
    draft = load_draft("tiny-r1-draft", target, tok, dtype, compile=True)
    encoded = []
    for p in default_prompts(prompts):
        text = tok.apply_chat_template([{"role": "user", "content": p.text}]) if tok.chat_template else p.text
        encoded.append((tok.encode(text, add_special=not tok.chat_template), p.category))
    return target, draft, encoded, tok.eos_token_ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--configs", default="draft:5,draft:7,mtp:1", help="method:k, comma-separated")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    configs = [("none", 0)] + [(m, int(k)) for m, k in (c.split(":") for c in args.configs.split(","))]
    models = {name: setup(dt, args.prompts) for name, dt in DTYPES.items()}
    rates: dict[tuple[str, str, int], list[float]] = {}
    for rep in range(args.repeats):
        for name, (target, draft, encoded, eos) in models.items():
            for m, k in configs:
                r = run_once(target, draft, encoded, m, k, 128, eos)
                if rep > 0:
                    rates.setdefault((name, m, k), []).append(r.tokens / r.decode_time)
    for name in models:
        base = statistics.median(rates[(name, "none", 0)])
        rest = " ".join(f"{m} k={k} {statistics.median(rates[(name, m, k)]) / base:.2f}x" for m, k in configs[1:])
        print(f"{name}: plain {base:,.0f} tok/s; {rest}")


if __name__ == "__main__":
    main()
