"""How long `specsize fit deepseek-r1` takes on its defaults (the issue asks for under a second), and how many
single-GPU-type fit searches per second the memory model evaluates. Run: python benchmarks/bench_fit.py"""

import time

from specsize.fit import fit_all, fit_gpu
from specsize.resolve import load_model
from specsize.scenario import Workload


def main() -> None:
    r1 = load_model("deepseek-r1")
    t0 = time.perf_counter()
    rows = fit_all(r1)
    first = time.perf_counter() - t0
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        fit_gpu(r1, "h200", "fp8", "bf16", Workload(1 + n % 64, 4096, 4096), "sglang")
        n += 1
    rate = n / (time.perf_counter() - t0)
    print(f"fit deepseek-r1, all {len(rows)} GPU types: {first * 1e3:.0f} ms (first call, cold caches)")
    print(f"fit_gpu(h200, sglang) searches: {rate:,.0f} per second")


if __name__ == "__main__":
    main()
