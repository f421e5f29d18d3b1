"""What one CPU core does with the small matrix products of a tiny-r1 step: F.linear of n rows (n = 1: a one-token
step; n = 8: the verification of 7 drafts and the bonus) through tiny-r1's linear shapes, one thread, CPU time of the
calling thread (bench_moe.cpu_ms: medians of --repeats calls after a warm-up), in us and GFLOP/s (2 n in out per
call). The README's Results cite it for why a verification of 8 tokens costs 2-3 plain steps on this CPU, where a
GPU at batch 1 pays one.

    python benchmarks/bench_linear.py [--repeats 3000]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from bench_moe import cpu_ms  # this folder's CPU timer (the calling thread's CPU time, median)

# (in, out) of tiny-r1's largest linears (src/specsize/assets/tiny-r1/config.json): hidden 192, dense MLP 512,
# vocab 634 (the head), and tiny-r1-draft's hidden 128 -> 384
SHAPES = ((192, 512), (512, 192), (192, 634), (128, 384))


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| in x out | rows | us | GFLOP/s |\n|---|---:|---:|---:|")
    for k, n_out in SHAPES:
        w = torch.randn(n_out, k)
        for rows in (1, 8):
            x = torch.randn(rows, k)
            us = cpu_ms(lambda x, w=w: F.linear(x, w), x, args.repeats) * 1e3
            print(f"| {k} x {n_out} | {rows} | {us:.1f} | {2 * rows * k * n_out / us / 1e3:.0f} |")


if __name__ == "__main__":
    main()
