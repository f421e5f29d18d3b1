"""Screenshots of `specsize web` for the README (docs/img/), taken by headless Chromium (Debian's
/usr/bin/chromium through Playwright) from the real server on a free localhost port.
Run: python scripts/web_screenshots.py [--out docs/img]"""

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.servers: how the tests start `specsize web`

from tests.servers import CHROMIUM, CHROMIUM_ARGS, start_web, stop_serve  # noqa: E402

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
    server, base = start_web()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            for name, (path, height) in PAGES.items():
                page.goto(f"{base}{path}")
                for chart in page.locator("figure.chart").all():
                    chart.locator("svg").wait_for()
                clip = {"x": 0, "y": 0, "width": 1400, "height": height}
                page.screenshot(path=str(out / name), full_page=True, clip=clip)
                print(out / name)
            browser.close()
    finally:
        stop_serve(server)


if __name__ == "__main__":
    main()
