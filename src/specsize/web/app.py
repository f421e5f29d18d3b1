"""`specsize web`: the planner as a page (FastAPI + Jinja2, charts by the vendored Vega-Lite).

Routes:
  GET  /                 the plan page; its query string is the whole scenario (web/form.py)
  GET  /api/plan         the same query -> exactly `specsize plan --json`'s report (400 JSON on bad input)
  POST /api/acceptance   a bench.json (body) + ?method=&k= -> its measured acceptance per position
  GET  /validate         predicted vs measured (the bundled measured corpus) and vs published figures,
                         filterable by ?engine= and ?gpu=; ?metric= picks the measured metric charted
  GET  /api/validate     the same rows as JSON
  GET  /static/...       CSS, JS and the vendored chart libraries (no CDN: the page works offline)

Every number shown comes from plan_request.plan_report_for (what the CLI calls) or validate's functions.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from specsize import __version__
from specsize.errors import SpecsizeError
from specsize.measured import METRICS
from specsize.plan_request import plan_report_for
from specsize.web import options
from specsize.web.charts import measured_chart, plan_charts, validation_chart
from specsize.web.form import DEFAULTS, read_form
from specsize.web.form import form_field as field_of
from specsize.web.validation import validation_view

HERE = Path(__file__).parent
MAX_BENCH_BYTES = 20_000_000  # a bench.json is a few kB to a few MB


def _num(x: Any, nd: int = 1) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def _gb(b: float) -> str:
    return f"{b / 1e9:,.1f}"


def _templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.filters["num"] = _num
    t.env.filters["gb"] = _gb
    t.env.globals["version"] = __version__
    return t


def _plan(query) -> tuple[dict[str, Any], int]:
    """The page's context for a query string, and the HTTP status (400 when the input is bad)."""
    form = read_form(query)
    ctx: dict[str, Any] = {"values": form.values, "errors": dict(form.errors), "report": None}
    if form.request is not None:
        t0 = time.perf_counter()
        try:
            ctx["report"] = plan_report_for(form.request, form.arch)
        except SpecsizeError as e:
            ctx["errors"][field_of(e)] = str(e)
        ctx["elapsed_ms"] = (time.perf_counter() - t0) * 1e3
    if ctx["report"] is not None:
        ctx["charts"] = plan_charts(ctx["report"])
    return ctx, 400 if ctx["errors"] else 200


def create_app() -> FastAPI:
    app = FastAPI(title="specsize web", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    templates = _templates()

    @app.get("/", response_class=HTMLResponse)
    def plan_page(request: Request):
        ctx, status = _plan(request.query_params)
        ctx.update(options=options.choices(), defaults=DEFAULTS, page="plan",
                   api_query=str(request.query_params))  # fmt: skip
        return templates.TemplateResponse(request, "plan.html", ctx, status_code=status)

    @app.get("/api/plan")
    def plan_json(request: Request):
        form = read_form(request.query_params)
        if form.errors:
            name, msg = next(iter(form.errors.items()))
            return JSONResponse({"error": msg, "field": name}, status_code=400)
        try:
            return JSONResponse(plan_report_for(form.request, form.arch))
        except SpecsizeError as e:
            return JSONResponse({"error": str(e), "field": field_of(e)}, status_code=400)

    @app.post("/api/acceptance")
    async def acceptance(request: Request, method: str = "mtp", k: int = 1, name: str = "bench.json"):
        from specsize.calibration import bench_from_json, measured_acceptance

        body = await request.body()
        if len(body) > MAX_BENCH_BYTES:
            return JSONResponse({"error": f"{name}: larger than {MAX_BENCH_BYTES:,} bytes"}, status_code=413)
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": f"{name}: not valid JSON; give a `specsize bench --out` bench.json"},
                                status_code=400)  # fmt: skip
        try:
            rates = measured_acceptance(bench_from_json(raw, Path(name)), method, k)
        except SpecsizeError as e:
            return JSONResponse({"error": str(e).removeprefix("--calibration ")}, status_code=400)
        return {"acceptance": list(rates), "text": ",".join(f"{a:.4g}" for a in rates), "source": name}

    @app.get("/validate", response_class=HTMLResponse)
    def validate_page(request: Request, engine: str = "", gpu: str = "", metric: str = METRICS[0]):
        errors = {}
        if metric not in METRICS:
            errors["metric"] = f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}"
            metric = METRICS[0]
        view = validation_view(engine, gpu, metric)
        ctx = {**view, "engine": engine, "gpu": gpu, "metric": metric, "errors": errors, "page": "validate",
               "published_chart": validation_chart(view["published"]["rows"]),
               "measured_chart": measured_chart(view["measured"]["rows"], metric)}  # fmt: skip
        return templates.TemplateResponse(request, "validate.html", ctx, status_code=400 if errors else 200)

    @app.get("/api/validate")
    def validate_json(engine: str = "", gpu: str = "", metric: str = METRICS[0]):
        if metric not in METRICS:
            return JSONResponse({"error": f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}",
                                 "field": "metric"}, status_code=400)  # fmt: skip
        return validation_view(engine, gpu, metric)

    return app
