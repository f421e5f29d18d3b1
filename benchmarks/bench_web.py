"""How long `specsize web` takes to show a plan, side by side in one run: the library call alone
(plan_request.plan_report_for, what `plan --json` computes), GET /api/plan and GET / (the page with its table
and chart specs) over HTTP from the real server on localhost, and headless Chromium from navigation to the
last chart drawn (Debian's /usr/bin/chromium through Playwright). Medians; ratios against the library call.
Run: python benchmarks/bench_web.py [--repeats 20]"""

import argparse
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.servers: how the tests start `specsize web`

from tests.servers import CHROMIUM, CHROMIUM_ARGS, start_web, stop_serve  # noqa: E402

from specsize.plan_request import PlanRequest, plan_report_for  # noqa: E402

QUERY = "gpu=h200&gpu=b200&gpu=h100-sxm&gpu=mi300x&gpu=a100-80gb&concurrency=16&method=mtp&k=3"
REQUEST = PlanRequest(gpus=("h200", "b200", "h100-sxm", "mi300x", "a100-80gb"), concurrency=16, spec="mtp:3")


def medians_s(fns, n: int) -> list[float]:
    """Median seconds of each function, the functions interleaved round by round (a shared machine's load
    falls on all alike)."""
    for fn in fns:
        fn()  # warm: imports, caches
    times = [[] for _ in fns]
    for _ in range(n):
        for fn, ts in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    n = ap.parse_args().repeats
    server, base = start_web()
    try:
        names = ["plan_report_for (the library call)", "GET /api/plan (= plan --json)", "GET / (the page's HTML)"]
        fns = [lambda: plan_report_for(REQUEST), lambda: fetch(f"{base}/api/plan?{QUERY}"),
               lambda: fetch(f"{base}/?{QUERY}")]  # fmt: skip
        rows = list(zip(names, medians_s(fns, n), strict=True))
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})

            def load():
                page.goto(f"{base}/?{QUERY}")
                page.wait_for_function("[...document.querySelectorAll('figure.chart')].every(f => f.dataset.rendered)")

            rows.append(("Chromium: navigation to every chart drawn", medians_s([load], max(3, n // 4))[0]))
            browser.close()
    finally:
        stop_serve(server)
    base_s = rows[0][1]
    print(f"5 GPU types, DeepSeek-R1 fp8, 16 concurrent requests, MTP k=3; median of {n} runs (browser: "
          f"{max(3, n // 4)}); {os.cpu_count()} CPUs, shared with other jobs")  # fmt: skip
    print("| what | ms | x the library call |\n|---|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t * 1e3:,.1f} | {t / base_s:,.1f}x |")


if __name__ == "__main__":
    main()
