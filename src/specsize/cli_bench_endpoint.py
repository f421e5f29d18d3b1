"""`specsize bench --endpoint URL`: the options and the shell of the load generator (specsize.bench.loadgen).
No torch: the bench command dispatches here before it asks for the engine's extra."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from specsize.errors import SpecsizeError

E = "(--endpoint) "


def endpoint_options(f):
    opts = [
        click.option("--endpoint", default=None, metavar="URL",
                     help="Measure an OpenAI-compatible server (vLLM, SGLang, specsize serve, ...) at URL instead of "
                          "our engine, e.g. http://127.0.0.1:8000. --model is then the served model name "
                          "[the first of /v1/models]. Needs only httpx (pip install 'specsize[client]')."),
        click.option("--api", type=click.Choice(["completions", "chat"]), default="completions", show_default=True,
                     help=E + "Streaming /v1/completions or /v1/chat/completions (the server's chat template)."),
        click.option("--concurrency", default="1,4,16,64", show_default=True,
                     help=E + "Levels of concurrent users, comma-separated (each user keeps one request in flight)."),
        click.option("--request-rate", default=None,
                     help=E + "Levels of Poisson arrival rates in requests/s instead, comma-separated, e.g. 1,2,4."),
        click.option("--max-concurrency", type=int, default=None, help=E + "Cap on requests in flight at a rate."),
        click.option("--num-prompts", type=int, default=None,
                     help=E + "Requests per level [10 x concurrency; 10 x rate, at least 10]."),
        click.option("--warmup", type=int, default=None,
                     help=E + "Warm-up requests before each level, not counted [one per concurrent user]."),
        click.option("--dataset", type=click.Choice(["random", "specbench", "sharegpt"]), default="random",
                     show_default=True,
                     help=E + "random tokens (lengths uniform in [r L, L], ignore_eos), a Spec-Bench JSONL or a "
                          "ShareGPT JSON (--dataset-path)."),
        click.option("--dataset-path", default=None, type=click.Path(dir_okay=False),
                     help=E + "The file of --dataset specbench|sharegpt."),
        click.option("--input", "input_len", type=int, default=1024, show_default=True,
                     help=E + "Input tokens per request L (random)."),
        click.option("--output", "output_len", type=int, default=1024, show_default=True,
                     help=E + "Output tokens per request (max_tokens; with ignore_eos the server makes them all)."),
        click.option("--range-ratio", type=float, default=0.8, show_default=True,
                     help=E + "r: random lengths uniform in [r L, L] (InferenceX uses 0.8; 1: fixed)."),
        click.option("--tokenizer", default=None,
                     help=E + "The model's tokenizer.json or directory, for random prompts of exact token lengths "
                          "[--model when it is a bundled model or a local directory]."),
        click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, metavar="VAR",
                     help=E + "Environment variable holding the API key (sent as a Bearer token, never printed)."),
        click.option("--slo-ttft-ms", type=float, default=None, help=E + "Goodput: a request's TTFT must be <= this."),
        click.option("--slo-tpot-ms", type=float, default=None, help=E + "Goodput: a request's TPOT must be <= this."),
        click.option("--catalog-model", default=None,
                     help=E + "The model as the planner names it (specsize models), for the measured points "
                          "[--model]."),
        click.option("--gpu", "gpu_id", default=None, help=E + "The deployment's GPU type, as plan spells it (h200)."),
        click.option("--gpus", type=int, default=1, show_default=True,
                     help=E + "GPUs of the deployment (tok/s per GPU divides by it)."),
        click.option("--nodes", type=int, default=1, show_default=True, help=E + "Nodes of the deployment."),
        click.option("--engine", "engine_name", default=None,
                     help=E + "vllm | sglang | trtllm | ... [the server's /v1/models owned_by]."),
        click.option("--engine-version", default=None, help=E + "e.g. vllm/vllm-openai:v0.11.0."),
        click.option("--layout", default=None,
                     help=E + "As plan prints it: 'TP8', 'TP8 EP8 DP-attention' [TP over --gpus]."),
        click.option("--spec", "spec_decl", default="none", show_default=True,
                     help=E + "The server's speculative decoding, as plan spells it: none | mtp:k | ngram:k | "
                          "draft:MODEL:k."),
        click.option("--weights", "weights_decl", default=None,
                     help=E + "Weight precision served [the model's checkpoint precision, else fp8]."),
        click.option("--metrics-url", default=None, help=E + "Where the spec-decode counters are [URL/metrics]."),
        click.option("--timeout", "timeout_s", type=float, default=600.0, show_default=True,
                     help=E + "Seconds before one request counts as failed."),
        click.option("--seed", type=int, default=0, show_default=True, help=E + "Seed of the prompts and arrivals."),
    ]  # fmt: skip
    for o in reversed(opts):
        f = o(f)
    return f


def _numbers(text: str, kind, option: str) -> tuple:
    try:
        vals = tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise SpecsizeError(f"{option} {text!r}: give comma-separated numbers, e.g. 1,4,16,64") from None
    if not vals or any(v <= 0 for v in vals):
        raise SpecsizeError(f"{option} {text!r}: give positive numbers, e.g. 1,4,16,64")
    return vals


def _weights(model: str, given: str | None) -> str:
    if given:
        return given
    try:
        from specsize.fit import default_precision
        from specsize.resolve import load_model

        return default_precision(load_model(model))
    except SpecsizeError:
        return "fp8"


def _prompt_maker(dataset, dataset_path, input_len, output_len, ratio, tokenizer):
    from specsize.bench import datasets as ds

    if dataset == "random":
        tok = ds.load_tokenizer(tokenizer)
        return (lambda n, seed: ds.random_prompts(tok, n, input_len, output_len, ratio, seed)), (
            f"random tokens, input uniform in [{ds.length_range(input_len, ratio, 1)[0]}, {input_len}], "
            f"output in [{ds.length_range(output_len, ratio, 1)[0]}, {output_len}], ignore_eos"
        )
    if not dataset_path:
        raise SpecsizeError(f"--dataset {dataset} needs --dataset-path FILE")
    texts = ds.specbench_prompts(dataset_path) if dataset == "specbench" else ds.sharegpt_prompts(dataset_path)
    return (lambda n, seed: ds.cycle(texts, n, output_len, seed)), f"{dataset} {Path(dataset_path).name}"


def _first_model(endpoint: str, timeout_s: float) -> str:
    """The first model the server lists at /v1/models (what --model defaults to)."""
    import httpx

    from specsize.bench.endpoint import base_url

    url = f"{base_url(endpoint)}/v1/models"
    try:
        r = httpx.get(url, timeout=min(timeout_s, 30.0))
        return str(r.json()["data"][0]["id"])
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as e:
        raise SpecsizeError(f"cannot read the served model from {url} ({type(e).__name__}); is the server up? "
                            "Give --model NAME to skip this question") from None  # fmt: skip


def _has_tokenizer(name: str) -> bool:
    from specsize.assets import bundled_model_dir

    return bundled_model_dir(name) is not None or (Path(name).expanduser() / "tokenizer.json").is_file()


def run_endpoint(model: str, model_given: bool, out: str | None, as_json: bool, prompts_file: str | None,
                 **o: Any) -> dict[str, Any]:  # fmt: skip
    from specsize.bench.loadgen import Deployment, EndpointOptions, run_endpoint_bench
    from specsize.bench.measured import parse_layout
    from specsize.bench.serving_metrics import SLO

    try:
        import httpx  # noqa: F401
    except ImportError:
        raise SpecsizeError("`specsize bench --endpoint` needs httpx: pip install 'specsize[client]'") from None
    rates = _numbers(o["request_rate"], float, "--request-rate") if o["request_rate"] else ()
    conc = _numbers(o["concurrency"], int, "--concurrency")
    if o["gpus"] < 1 or o["nodes"] < 1:
        raise SpecsizeError("--gpus and --nodes must be at least 1")
    served = model if model_given else _first_model(o["endpoint"], o["timeout_s"])
    catalog = o["catalog_model"] or served or "unknown"
    tokenizer = o["tokenizer"] or (served if _has_tokenizer(served) else None)
    dataset_path = o["dataset_path"] or prompts_file
    if o["dataset"] == "random" and tokenizer is None:
        raise SpecsizeError(f"--dataset random needs the tokenizer of {served!r} for exact prompt lengths: give "
                            "--tokenizer DIR (the model's directory or its tokenizer.json)")  # fmt: skip
    make, desc = _prompt_maker(o["dataset"], dataset_path, o["input_len"], o["output_len"], o["range_ratio"],
                               tokenizer)  # fmt: skip
    key = os.environ.get(o["api_key_env"])
    opts = EndpointOptions(
        endpoint=o["endpoint"], model=served, api=o["api"], concurrency=conc, request_rates=rates,
        max_concurrency=o["max_concurrency"], num_prompts=o["num_prompts"], warmup=o["warmup"],
        slo=SLO(o["slo_ttft_ms"], o["slo_tpot_ms"]), timeout_s=o["timeout_s"], metrics_url=o["metrics_url"],
        headers={"Authorization": f"Bearer {key}"} if key else {},
        out=(Path(out) / "measured.jsonl") if out else None, dataset_desc=desc,
        lengths=("fixed" if o["range_ratio"] >= 1 else f"uniform in [{o['range_ratio']:g} L, L]") + ", ignore_eos"
        if o["dataset"] == "random" else f"{desc}: input_tokens is the prompts' mean as the server counted them; "
        f"output max_tokens {o['output_len']}, ignore_eos",
        input_tokens=o["input_len"] if o["dataset"] == "random" else None, output_tokens=o["output_len"],
        seed=o["seed"],
    )  # fmt: skip
    d = Deployment(model=catalog, weights=_weights(catalog, o["weights_decl"]), gpu=o["gpu_id"], gpus=o["gpus"],
                   nodes=o["nodes"], engine=o["engine_name"], engine_version=o["engine_version"],
                   layout=parse_layout(o["layout"], o["gpus"]), spec=o["spec_decl"])  # fmt: skip
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
    if as_json:
        report = run_endpoint_bench(opts, d, make)
    else:
        from specsize.cli_engine import bench_progress

        with bench_progress() as progress:
            report = run_endpoint_bench(opts, d, make, progress)
    if out:
        import json

        (Path(out) / "endpoint.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def layout_text(lay: dict[str, Any]) -> str:
    parts = [f"{k.upper()}{lay[k]}" for k in ("tp", "ep", "pp", "dp") if lay.get(k, 1) > 1 or k == "tp"]
    return " ".join(parts + (["DP-attention"] if lay.get("dp_attention") else []))


def endpoint_tables(report: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    def f(x, nd=1):
        return "-" if x is None else f"{x:,.{nd}f}"

    c = Console(width=max(Console().width, 170))  # one line per level
    dep = report["deployment"]
    c.print(f"{report['endpoint']} · {report['served_model']} ({report['engine']}) · {report['api']} · "
            f"{report['dataset']}")  # fmt: skip
    lay = layout_text(dep["layout"])
    c.print(f"declared: {dep['model']} on {dep['gpus']} x {dep['gpu'] or '?'} ({lay}), spec {dep['spec']}")
    t = Table(box=box.SIMPLE_HEAD)
    heads = ("level", "ok", "failed", "out tok/s", "tok/s/GPU", "tok/s/user", "TTFT ms", "p99", "TPOT ms", "p99",
             "ITL ms", "E2EL ms", "goodput req/s", "E[L]", "acceptance per position")  # fmt: skip
    for h in heads:
        t.add_column(h, justify="left" if h in ("level", "acceptance per position") else "right", no_wrap=True)
    for lv in report["levels"]:
        m, sp = lv["metrics"], lv["speculative"]
        acc = " ".join(f"{a:.2f}" for a in sp.get("acceptance_per_position") or []) or (sp.get("reason") or "-")
        t.add_row(lv["label"], str(m["completed"]), str(m["failed"]), f(m["output_tok_s"]),
                  f(m["output_tok_s_per_gpu"]), f(m["output_tok_s_per_user"]), f(m["ttft_ms"]["median"]),
                  f(m["ttft_ms"]["p99"]), f(m["tpot_ms"]["median"], 2), f(m["tpot_ms"]["p99"], 2),
                  f(m["itl_ms"]["median"], 2), f(m["e2el_ms"]["median"]),
                  f(m["goodput"]["request_goodput"], 2) if m["goodput"] else "-",
                  f(sp.get("mean_acceptance_length"), 2), acc)  # fmt: skip
    c.print(t)
    c.print("Medians, and p99 where marked (mean and p99 of every latency: --json or measured.jsonl). TPOT = (E2EL - "
            "TTFT) / (output tokens - 1); tok/s/user = 1000 / median TPOT. E[L]: mean acceptance length (bonus "
            "token included); acceptance per position: drafts whose token i was accepted / drafts, from the "
            "server's /metrics difference over the level.")  # fmt: skip
    for lv in report["levels"]:
        for err, n in lv["metrics"]["errors"].items():
            c.print(f"[red]{lv['label']}: {n} failed: {err}[/red]")
    if report["out"]:
        c.print(f"measured points: {report['out']} (specsize validate and plan --calibration read it)")
    if report["interrupted"]:
        c.print(f"interrupted: {len(report['levels'])} finished level(s) kept")
