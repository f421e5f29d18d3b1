"""Screenshots of `specsize web` for the README (docs/img/), taken by headless Chromium (Debian's
/usr/bin/chromium through Playwright) from the real server on a free localhost port.
Run: python scripts/web_screenshots.py [--out docs/img]"""

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
PAGES = {  # file -> (path and query, height of the shot in CSS pixels)
    "web-plan.png": ("/?gpu=h200&gpu=h100-sxm&gpu=mi300x&concurrency=16&method=mtp&k=3", 1560),
    "web-plan-count.png": ("/?gpu=h100-sxm&gpus=8&weights=auto&concurrency=16", 900),  # the GPUs you have
    "web-validate.png": ("/validate", 1180),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"))
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    server = subprocess.Popen([sys.executable, "-m", "specsize", "web", "--port", str(port)], env=env)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            for name, (path, height) in PAGES.items():
                page.goto(f"http://127.0.0.1:{port}{path}")
                for chart in page.locator("figure.chart").all():
                    chart.locator("svg").wait_for()
                clip = {"x": 0, "y": 0, "width": 1400, "height": height}
                page.screenshot(path=str(out / name), full_page=True, clip=clip)
                print(out / name)
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
