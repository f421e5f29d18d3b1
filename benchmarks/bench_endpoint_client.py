"""Is `specsize bench --endpoint`'s client the bottleneck? Measured against a trivial streaming server
(tests/openai_stub.py in its own process: no model, one token per SSE chunk), two ways:

1. flat out (the server sleeps 0): the most chunks/s and requests/s one client process sustains at each
   concurrency, and the client's CPU time per chunk;
2. paced (the server waits a fixed --round-ms between chunks, as a decode step would): the client's median ITL
   and TPOT against the pace the server kept; the excess is what the client adds to what it measures.

    python benchmarks/bench_endpoint_client.py [--concurrency 1,4,16,64] [--output 128] [--round-ms 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

SERVER = """
import sys, time
from tests.openai_stub import StubConfig, StubServer
s = StubServer(StubConfig(k=1, accepted_pattern=(0,), round_s=float(sys.argv[1]))).start()
print(s.port, flush=True)
while True:
    time.sleep(3600)
"""


def serve(round_s: float) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    p = subprocess.Popen([sys.executable, "-c", SERVER, str(round_s)], stdout=subprocess.PIPE, text=True, env=env)
    return p, f"http://127.0.0.1:{p.stdout.readline().strip()}"


def level(url: str, c: int, output: int, n: int) -> tuple[dict, float, float]:
    from specsize.bench.datasets import Prompt
    from specsize.bench.loadgen import Deployment, EndpointOptions, run_endpoint_bench

    o = EndpointOptions(url, model="stub", concurrency=(c,), num_prompts=n, warmup=min(c, 4), metrics_url=url + "/x")
    cpu0, t0 = time.process_time(), time.perf_counter()
    rep = run_endpoint_bench(o, Deployment("stub"), lambda k, seed: [Prompt("hello world", 2, output)] * k)
    return rep["levels"][0], time.process_time() - cpu0, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", default="1,4,16,64")
    ap.add_argument("--output", type=int, default=128, help="tokens per request, one per chunk")
    ap.add_argument("--round-ms", type=float, default=20.0)
    a = ap.parse_args()
    levels = [int(x) for x in a.concurrency.split(",")]
    print(f"# client of specsize bench --endpoint: {os.cpu_count()} CPUs (shared with other jobs when this ran), "
          f"python {sys.version.split()[0]}\n")  # fmt: skip
    proc, url = serve(0.0)
    try:
        print("flat out (server without pauses, one token per chunk):\n")
        print("| concurrency | requests | chunks/s | requests/s | client CPU us per chunk | client CPU share |")
        print("|---:|---:|---:|---:|---:|---:|")
        for c in levels:
            lv, cpu, wall = level(url, c, a.output, max(2 * c, 16))
            m = lv["metrics"]
            chunks = m["output_tokens"]  # one token per chunk
            print(f"| {c} | {m['completed']} | {m['output_tok_s']:,.0f} | {m['request_throughput']:,.1f} | "
                  f"{1e6 * cpu / (chunks + lv['warmup'] * a.output):,.0f} | {cpu / wall:.0%} |")  # fmt: skip
    finally:
        proc.kill()
    proc, url = serve(a.round_ms / 1e3)
    try:
        print(f"\npaced (server waits {a.round_ms:g} ms between chunks):\n")
        print("| concurrency | chunks/s | ITL ms median | ITL ms p99 | TPOT ms median | TPOT over the pace | "
              "client CPU share |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for c in levels:
            lv, cpu, wall = level(url, c, a.output, max(2 * c, 16))
            m = lv["metrics"]
            itl, tp = m["itl_ms"], m["tpot_ms"]
            print(f"| {c} | {m['output_tok_s']:,.0f} | {itl['median']:.2f} | {itl['p99']:.2f} | {tp['median']:.2f} | "
                  f"{(tp['median'] - a.round_ms) / a.round_ms:+.1%} | {cpu / wall:.0%} |")  # fmt: skip
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
