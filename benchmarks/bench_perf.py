"""How fast the performance model is: `specsize plan` on its embedded default end to end (the issue asks for
under 2 s), and how many scenarios per second it evaluates (goal >= 10,000/s). A scenario is one
(GPU type, layout, concurrency, context, k) evaluated for plain decoding and speculative decoding: two decode
steps, the verification step and the draft steps. Run: python benchmarks/bench_perf.py"""

import subprocess
import sys
import time

from specsize.deployment import build_deployment
from specsize.engines import get_engine
from specsize.hardware import get_gpu
from specsize.resolve import load_model
from specsize.scenario import Layout, Speculative
from specsize.speculative import evaluate


def main() -> None:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "specsize", "plan"], check=True, capture_output=True)
    cli = time.perf_counter() - t0

    r1 = load_model("deepseek-r1")
    deps = [
        build_deployment(r1, get_gpu(g), "fp8", "bf16", Layout(tp=tp), get_engine("sglang"), Speculative("mtp", 1))
        for g, tp in (("h200", 8), ("b200", 8), ("mi300x", 8), ("h100-sxm", 16))
    ]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        d = deps[n % 4]
        evaluate(d, 1 + n % 256, 1024 + n % 8192, k=1 + n % 5)
        n += 1
    rate = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for g in ("h200", "b200", "mi300x", "h100-sxm"):
        build_deployment(r1, get_gpu(g), "fp8", "bf16", Layout(tp=8), get_engine("sglang"), Speculative("mtp", 1))
    build = (time.perf_counter() - t0) / 4
    print(f"specsize plan (defaults, new process, 5 GPU types): {cli:.2f} s")
    print(f"deployment build (per-layout sums over the tensor inventory): {build * 1e3:.2f} ms")
    print(f"scenarios evaluated (plain + speculative at one concurrency, context and k): {rate:,.0f} per second")


if __name__ == "__main__":
    main()
