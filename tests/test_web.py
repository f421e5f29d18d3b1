"""`specsize web`, really started (`python -m specsize web --port N` on a free localhost port) and driven over
HTTP and in real headless Chromium (Debian's /usr/bin/chromium through Playwright): the page shows what
`specsize plan --json` says for the same scenario, the charts draw, a shared URL reproduces the page, bad input
gets an inline message and the server keeps serving."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.servers import CHROMIUM, CHROMIUM_ARGS, start_web, stop_serve

ROOT = Path(__file__).resolve().parents[1]
# One scenario, as the page's query string and as the CLI's options.
SCENARIO = [("gpu", "h200"), ("gpu", "mi300x"), ("concurrency", "16"), ("method", "mtp"), ("k", "3"),
            ("engine", "sglang")]  # fmt: skip
SCENARIO_CLI = ["--gpu", "h200", "--gpu", "mi300x", "--concurrency", "16", "--spec", "mtp:3", "--engine", "sglang"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def cli_json(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "specsize", *args, "--json"], capture_output=True, text=True,
                         env=_env(), check=True, timeout=60)  # fmt: skip
    return json.loads(out.stdout)


def get(base: str, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def server():
    try:
        proc, base = start_web()
    except RuntimeError as e:
        pytest.fail(str(e))
    yield base
    stop_serve(proc, timeout=10)


def _value_at(report: dict, key: str):
    """report["gpus"][0]["recommended"]["tpot_ms"] for key "gpus.0.recommended.tpot_ms"."""
    node = report
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


# --- over HTTP ---------------------------------------------------------------------------------------------------


def test_api_plan_is_plan_json(server):
    status, body = get(server, "/api/plan?" + urllib.parse.urlencode(SCENARIO))
    assert status == 200
    assert json.loads(body) == cli_json("plan", *SCENARIO_CLI)
    status, body = get(server, "/api/plan")  # no query: the CLI's embedded default
    assert status == 200 and json.loads(body) == cli_json("plan")


def test_pasted_config_plans_like_the_same_file(server, tmp_path):
    from specsize import catalog

    config = catalog.find_model("deepseek-r1-distill-qwen-7b")["config"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    q = urllib.parse.urlencode([("config", json.dumps(config)), ("gpu", "rtx-4090"), ("engine", "vllm")])
    status, body = get(server, "/api/plan?" + q)
    assert status == 200, body
    page, cli = json.loads(body), cli_json("plan", str(path), "--gpu", "rtx-4090", "--engine", "vllm")
    assert page["gpus"] == cli["gpus"] and page["spec"] == cli["spec"] == "none"


def test_bad_input_is_a_400_json_line_and_the_server_keeps_serving(server):
    status, body = get(server, "/api/plan?concurrency=many")
    assert status == 400 and json.loads(body) == {"error": "concurrency: give a whole number, got 'many'",
                                                  "field": "concurrency"}  # fmt: skip
    status, body = get(server, "/api/plan?model=deepseek-r1-distill-qwen-7b&method=mtp")
    assert status == 400
    err = json.loads(body)
    assert err["field"] == "method" and "has no MTP layer" in err["error"]
    status, page = get(server, "/?gpu=nope")
    assert status == 400 and b'data-error="gpu"' in page and b"unknown GPU &#39;nope&#39;" in page
    assert b"Traceback" not in page
    assert get(server, "/api/plan?gpu=h200")[0] == 200


def test_the_page_reads_no_server_files(server, tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{}")
    for query in (f"model={path}", f"method=draft&draft={path}"):
        status, body = get(server, "/api/plan?" + urllib.parse.quote(query, safe="=&"))
        err = json.loads(body)
        assert status == 400 and "pick one of the catalog, or paste its config.json" in err["error"], err


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "specsize", "web", "--port", str(port)], capture_output=True,
                           text=True, env=_env(), timeout=60)  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; pick another --port"


def test_measured_acceptance_from_a_bench_file(server, tmp_path):
    from specsize.calibration import measured_acceptance, read_bench

    bench = {"model": "tiny-r1", "configs": [{"method": "mtp", "k": 2, "conditional_acceptance": [0.8, 0.55]}]}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench))
    req = urllib.request.Request(server + "/api/acceptance?method=mtp&k=2&name=bench.json", data=path.read_bytes(),
                                 method="POST")  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as r:
        got = json.loads(r.read())
    assert tuple(got["acceptance"]) == measured_acceptance(read_bench(path), "mtp", 2)
    req = urllib.request.Request(server + "/api/acceptance?method=draft&k=2", data=path.read_bytes(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 400 and "no measurement for method 'draft'" in json.loads(e.value.read())["error"]


def test_validation_rows_are_validates(server):
    status, body = get(server, "/api/validate")
    page = json.loads(body)
    cli = json.loads(subprocess.run([sys.executable, "-m", "specsize", "validate", "--measured", "--json"],
                                    capture_output=True, text=True, env=_env(), check=True).stdout)  # fmt: skip
    keys = ("id", "metric", "predicted", "expected", "error", "passed")
    assert [{k: r[k] for k in keys} for r in page["published"]["rows"]] == [{k: r[k] for k in keys}
                                                                           for r in cli["published"]]  # fmt: skip
    assert page["measured"]["rows"] == cli["measured"] and page["measured"]["summary"] == cli["summary"]
    assert len(cli["measured"]) == 1187
    status, body = get(server, "/api/validate?engine=sglang&gpu=h200")
    assert status == 200
    some = json.loads(body)
    want = [r for r in cli["measured"] if r["engine"] == "sglang" and r["gpu"] == "h200"]
    assert some["measured"]["rows"] == want and 0 < len(want) < 1187
    assert all(r["engine"] == "sglang" and r["gpu"] == "h200" for r in some["published"]["rows"])
    assert get(server, "/api/validate?metric=speed")[0] == 400
    worst = json.loads(get(server, "/api/validate?metric=tpot_ms")[1])["measured"]["worst"]
    errors = [abs(r["metrics"]["tpot_ms"]["error"]) for r in worst]
    assert errors == sorted(errors, reverse=True) and errors[0] == max(
        abs(r["metrics"]["tpot_ms"]["error"]) for r in cli["measured"] if r["metrics"].get("tpot_ms", {}).get("error")
    )


# --- in the browser ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():  # a failure, not a skip: these tests are how the page is known to work
        pytest.fail(f"{CHROMIUM} is not installed: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()


def _table(pg) -> list[str]:
    return [r.inner_text() for r in pg.locator("#plan-table tbody tr").all()]


def _charts_drawn(pg, names):
    for name in names:
        pg.wait_for_selector(f"#chart-{name}[data-rendered] svg", timeout=15000)
        marks = pg.locator(f"#chart-{name} svg path, #chart-{name} svg .mark-symbol path").count()
        assert marks > 5, f"chart {name} drew {marks} marks"


def test_page_loads_with_the_default_plan_and_its_charts(page, server):
    page.goto(server + "/")
    assert page.locator("h1#title").inner_text().startswith("deepseek-r1 fp8")
    assert [r.get_attribute("data-gpu") for r in page.locator("#plan-table tbody tr").all()] == [
        "h200", "b200", "h100-sxm", "mi300x", "a100-80gb"]  # fmt: skip
    _charts_drawn(page, ["memory", "speedup", "moe_penalty", "throughput"])
    # interactive: hovering a point shows its values (vega-tooltip)
    page.locator("#chart-speedup svg g.mark-symbol.role-mark path").first.hover(force=True)  # vega picks on the svg
    tip = page.locator("#vg-tooltip-element")
    tip.wait_for(state="visible", timeout=5000)
    assert "concurrency" in tip.inner_text() and "speedup" in tip.inner_text()
    assert "python -m sglang.launch_server" in page.locator("#launch").inner_text()
    assert page.locator("#assumptions tr").count() > 5
    assert page.errors == []


def test_changing_the_gpu_changes_the_table_and_the_url_reproduces_it(page, server, browser):
    page.goto(server + "/")
    before = _table(page)
    page.select_option("#f-gpu", ["h100-sxm"])
    page.fill("#f-concurrency", "8")
    page.select_option("#f-method", "mtp")
    page.fill("#f-k", "2")
    page.click("#submit")
    page.wait_for_load_state()
    after = _table(page)
    assert after != before and len(after) == 1 and after[0].startswith("h100-sxm")
    assert "gpu=h100-sxm" in page.url and "k=2" in page.url
    assert "config=" not in page.url and "acceptance=" not in page.url  # empty fields stay out of the link
    _charts_drawn(page, ["memory", "speedup", "throughput"])
    # a shared link, opened elsewhere, shows the same scenario and the same plan
    other = browser.new_context().new_page()
    other.goto(page.url)
    assert _table(other) == after
    assert other.locator("h1#title").inner_text() == page.locator("h1#title").inner_text()
    assert other.input_value("#f-concurrency") == "8" and other.input_value("#f-k") == "2"
    assert other.eval_on_selector("#f-gpu", "s => [...s.selectedOptions].map(o => o.value)") == ["h100-sxm"]
    other.context.close()


def test_numbers_on_the_page_are_plan_json(page, server):
    page.goto(server + "/?" + urllib.parse.urlencode(SCENARIO))
    report = cli_json("plan", *SCENARIO_CLI)
    cells = page.locator("#plan-table [data-key]").all()
    assert len(cells) == 2 * 12  # two GPU types, every number of their row
    for c in cells:
        key, shown = c.get_attribute("data-key"), c.get_attribute("data-value")
        want = _value_at(report, key)
        assert (float(shown) if shown else None) == want, key
    # the charts draw exactly the report's points: one bar segment per memory term, one symbol per curve point
    _charts_drawn(page, ["memory", "speedup", "throughput"])
    fits = [g for g in report["gpus"] if g["fits"]]
    terms = sum(len(g["recommended"]["memory_breakdown"]) for g in fits)
    assert page.locator("#chart-memory svg g.mark-rect.role-mark path").count() == terms
    points = sum(len(g["curve"]) for g in fits)
    assert page.locator("#chart-speedup svg g.mark-symbol.role-mark path").count() == points
    assert page.locator("#chart-throughput svg g.mark-symbol.role-mark path").count() == 2 * points  # plain, spec
    o = report["gpus"][0]["recommended"]
    row = page.locator('#plan-table tr[data-gpu="h200"]').inner_text()
    assert f"{o['tpot_ms']:,.1f}" in row and f"{o['spec']['speedup']:.2f}x" in row
    assert page.locator("#launch").inner_text() == "\n".join(report["commands"]["lines"])


def test_a_link_with_aliases_shows_and_resubmits_the_same_scenario(page, server):
    page.goto(server + "/?model=r1-distill-qwen-32b&gpu=RTX-4090&engine=LlamaCpp&weights=Q4_K_M")
    assert page.input_value("#f-model") == "deepseek-r1-distill-qwen-32b"
    assert page.eval_on_selector("#f-gpu", "s => [...s.selectedOptions].map(o => o.value)") == ["rtx-4090"]
    assert page.input_value("#f-engine") == "llamacpp" and page.input_value("#f-weights") == "q4_k_m"
    before = _table(page)
    page.click("#submit")
    page.wait_for_load_state()
    assert _table(page) == before and before[0].startswith("rtx-4090")


def test_bad_input_shows_the_message_next_to_the_field(page, server):
    page.goto(server + "/")
    page.fill("#f-concurrency", "lots")
    page.click("#submit")
    msg = page.locator('#plan-form [data-error="concurrency"]')
    assert msg.is_visible() and msg.inner_text() == "concurrency: give a whole number, got 'lots'"
    assert page.input_value("#f-concurrency") == "lots"  # what the user typed is kept
    # a library error lands next to its field too (here: the speculative method)
    page.fill("#f-concurrency", "1")
    page.select_option("#f-model", "deepseek-r1-distill-qwen-7b")
    page.select_option("#f-method", "mtp")
    page.click("#submit")
    msg = page.locator('#plan-form [data-error="method"]')
    assert "has no MTP layer" in msg.inner_text()
    assert "Traceback" not in page.content()


def cli_error(*args: str) -> str:
    """The one line `specsize plan ...` prints for bad input (without its "Error: " prefix)."""
    out = subprocess.run([sys.executable, "-m", "specsize", *args], capture_output=True, text=True, env=_env(),
                         timeout=60)  # fmt: skip
    assert out.returncode != 0 and "Traceback" not in out.stderr
    return out.stderr.strip().removeprefix("Error: ")


def test_a_gpu_count_plans_like_plan_gpus_and_the_link_keeps_it(page, server, browser):
    page.goto(server + "/?" + urllib.parse.urlencode(SCENARIO))
    page.fill("#f-gpus", "8")
    page.click("#submit")
    page.wait_for_load_state()
    assert "gpus=8" in page.url and "nodes=" not in page.url
    report = cli_json("plan", *SCENARIO_CLI, "--gpus", "8")
    assert [g["recommended"]["gpus"] for g in report["gpus"]] == [8, 8]  # the count asked, not the minimum
    cells = page.locator("#plan-table [data-key]").all()
    assert len(cells) == 2 * 12
    for c in cells:
        key, shown = c.get_attribute("data-key"), c.get_attribute("data-value")
        assert (float(shown) if shown else None) == _value_at(report, key), key
    assert [p.inner_text() for p in page.locator("#answer p").all()] == report["answer"]
    status, body = get(server, "/api/plan?" + urllib.parse.urlencode([*SCENARIO, ("gpus", "8")]))
    assert status == 200 and json.loads(body) == report
    # the shared link reproduces the count; nodes are carried the same way (1 node of 8 = --nodes 1)
    other = browser.new_context().new_page()
    other.goto(page.url)
    assert other.input_value("#f-gpus") == "8" and _table(other) == _table(page)
    other.goto(server + "/?" + urllib.parse.urlencode([*SCENARIO, ("nodes", "1")]))
    assert other.input_value("#f-nodes") == "1"
    by_nodes = cli_json("plan", *SCENARIO_CLI, "--nodes", "1")
    assert [p.inner_text() for p in other.locator("#answer p").all()] == by_nodes["answer"]
    other.context.close()


def test_a_count_that_does_not_fit_or_is_bad_shows_the_message_next_to_the_count(page, server):
    page.goto(server + "/?gpu=h200")
    for typed, cli in [("4", ["--gpus", "4"]), ("0", ["--gpus", "0"]), ("-1", ["--gpus", "-1"]), ("eight", None)]:
        page.fill("#f-gpus", typed)
        page.click("#submit")
        page.wait_for_load_state()
        msg = page.locator('#plan-form [data-error="gpus"]')
        want = cli_error("plan", "--gpu", "h200", *cli) if cli else "GPU count: give a whole number, got 'eight'"
        assert msg.is_visible() and msg.inner_text() == want
        assert page.input_value("#f-gpus") == typed  # what the user typed is kept
        assert page.locator('#plan-form [data-error="gpu"]').count() == 0  # not blamed on the GPU type
        assert "Traceback" not in page.content()
    assert "it needs at least 8" in cli_error("plan", "--gpu", "h200", "--gpus", "4")
    page.fill("#f-gpus", "")
    page.fill("#f-nodes", "0")
    page.click("#submit")
    page.wait_for_load_state()
    assert page.locator('#plan-form [data-error="gpus"]').inner_text() == cli_error("plan", "--gpu", "h200",
                                                                                       "--nodes", "0")  # fmt: skip


def test_weights_auto_shows_what_was_chosen_and_what_it_gives_up(page, server):
    page.goto(server + "/?gpu=h100-sxm&gpus=8")
    page.select_option("#f-weights", "auto")
    page.click("#submit")
    page.wait_for_load_state()
    assert "weights=auto" in page.url
    report = cli_json("plan", "--gpu", "h100-sxm", "--gpus", "8", "--weights", "auto")
    answer = [p.inner_text() for p in page.locator("#answer p").all()]
    assert answer == report["answer"] and answer[0] == report["weights_choice"]["sentence"]
    assert "gives up precision" in answer[0]
    assert page.locator("h1#title").inner_text().startswith(f"deepseek-r1 {report['weights']}, ")
    tried = page.locator("#weights-choice tr[data-precision]").all()
    assert [t.get_attribute("data-precision") for t in tried] == [t["precision"] for t in
                                                                 report["weights_choice"]["tried"]]  # fmt: skip
    assert page.input_value("#f-weights") == "auto"


def test_an_uploaded_config_is_planned(page, server, tmp_path):
    from specsize import catalog

    config = dict(catalog.find_model("deepseek-r1-distill-qwen-7b")["config"], _name_or_path="my-org/my-7b")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    page.goto(server + "/?gpu=rtx-4090&engine=vllm")
    page.click("details summary")  # "or paste / upload a config.json"
    page.set_input_files("#config-file", str(path))
    page.wait_for_function("document.getElementById('f-config').value !== ''")
    page.click("#submit")
    page.wait_for_load_state()
    assert page.locator("h1#title").inner_text().startswith("my-org/my-7b bf16")
    cli = cli_json("plan", str(path), "--gpu", "rtx-4090", "--engine", "vllm")
    cell = page.locator('[data-key="gpus.0.recommended.tpot_ms"]')
    assert float(cell.get_attribute("data-value")) == cli["gpus"][0]["recommended"]["tpot_ms"]


def test_bench_upload_fills_the_measured_acceptance(page, server, tmp_path):
    path = tmp_path / "bench.json"
    bench = {"model": "tiny-r1", "configs": [{"method": "mtp", "k": 3, "conditional_acceptance": [0.9, 0.7, 0.5]}]}
    path.write_text(json.dumps(bench))
    page.goto(server + "/?method=mtp&k=3")
    page.set_input_files("#bench-file", str(path))
    page.wait_for_function("document.getElementById('f-acceptance').value !== ''")
    assert page.input_value("#f-acceptance") == "0.9,0.7,0.5"
    page.click("#submit")
    page.wait_for_load_state()
    assert "acceptance=0.9%2C0.7%2C0.5" in page.url
    explain = page.locator("details.explain").first.inner_text()
    assert "acceptance [0.9, 0.7, 0.5]" in explain
    path.write_text("{}")
    page.set_input_files("#bench-file", str(path))
    page.wait_for_selector('[data-error="bench"]:not([hidden])')
    assert "not a `specsize bench --out` bench.json" in page.locator('[data-error="bench"]').inner_text()


def test_copy_button_copies_the_launch_command(browser, server):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    pg = context.new_page()
    pg.goto(server + "/?gpu=h200")
    pg.click("#copy")
    pg.wait_for_function("document.getElementById('copy').textContent === 'copied'")
    assert pg.evaluate("navigator.clipboard.readText()") == pg.locator("#launch").inner_text()
    context.close()


MEASURED_SYMBOLS = "#chart-measured svg g.mark-symbol.role-mark path"  # the points, not the legend's symbols


def test_validation_page_filters_and_draws(page, server):
    page.goto(server + "/validate")
    assert page.locator("#measured-summary [data-key=points]").inner_text() == "1187"
    published = page.locator("#validation-table tbody tr").count()
    _charts_drawn(page, ["measured", "published"])
    predicted = int(page.locator("#measured-summary [data-key=predicted]").inner_text())
    assert page.locator(MEASURED_SYMBOLS).count() == predicted > 1000  # one symbol per predicted point
    page.select_option("#f-engine", "sglang")
    page.select_option("#f-gpu", "h200")
    page.click("#submit")
    page.wait_for_load_state()
    assert "engine=sglang" in page.url and "gpu=h200" in page.url
    for table in ("#measured-table", "#validation-table"):
        rows = page.locator(f"{table} tbody tr").all()
        assert rows and {(r.get_attribute("data-engine"), r.get_attribute("data-gpu")) for r in rows} == {
            ("sglang", "h200")}  # fmt: skip
    assert 0 < page.locator("#validation-table tbody tr").count() < published
    n = int(page.locator("#measured-summary [data-key=predicted]").inner_text())
    assert 0 < n < predicted
    _charts_drawn(page, ["measured", "published"])
    assert page.locator(MEASURED_SYMBOLS).count() == n  # every point of the filter, and only those
    assert page.errors == []
