"""The `specsize` command line: thin shells that parse, call one library function, and render.

Every command takes --json. Every user error is a SpecsizeError, printed as one line with a non-zero exit.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from specsize import __version__
from specsize.cli_json import emit_json
from specsize.errors import SpecsizeError


class _Group(click.Group):
    """A click group that turns SpecsizeError into one clean line and exit code 1 (never a traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpecsizeError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="specsize")
def cli() -> None:
    """Size, predict and measure DeepSeek-R1 (and its distills) with speculative decoding.

    \b
    Examples:
      specsize models
      specsize inspect deepseek-r1
      specsize inspect ./my-model-dir --json
    """


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models(as_json: bool) -> None:
    """List the model catalog (and the bundled tiny-r1 family): family, parameters, active parameters, KV bytes
    per token.

    Any name (or alias) listed here works wherever a MODEL is asked for; so do a path to a config.json,
    a model directory, and ORG/NAME for a repository already in the local Hugging Face cache.
    """
    from specsize import catalog
    from specsize.assets import BUNDLED, bundled_model_dir
    from specsize.render import models_table
    from specsize.report import model_row
    from specsize.resolve import load_model

    names = catalog.model_names() + [n for n in BUNDLED if bundled_model_dir(n) is not None]
    rows = [model_row(load_model(n)) for n in names]
    if as_json:
        emit_json(rows)
    else:
        models_table(rows)


@cli.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect(model: str, as_json: bool) -> None:
    """Exact parameter and byte accounting of MODEL: components, totals, checkpoint size per precision,
    KV cache bytes per token.

    MODEL is a catalog name (see `specsize models`), a config.json, a model directory, or ORG/NAME of a
    repository in the local Hugging Face cache. Nothing is downloaded.

    \b
    Examples:
      specsize inspect deepseek-r1
      specsize inspect r1-distill-qwen-7b --json
      specsize inspect ~/models/DeepSeek-R1/config.json
    """
    from specsize.render import inspect_tables
    from specsize.report import inspect_report
    from specsize.resolve import load_model

    report = inspect_report(load_model(model))
    if as_json:
        emit_json(report)
    else:
        inspect_tables(report)


def scenario_options(engine_default: str = "vllm", spec_default: str | None = "none", gpu_help: str = ""):
    """Options shared by fit and plan: the model's precision, KV dtype, workload, speculation, engine, GPUs."""
    return lambda f: _apply_scenario_options(f, engine_default, spec_default, gpu_help)


def _apply_scenario_options(f, engine_default, spec_default, gpu_help):
    opts = [
        click.option(
            "--weights",
            "weights",
            default=None,
            help="Weight precision (default: the checkpoint's own; "
            "bf16 fp16 fp8 int8 awq-int4 gptq-int4 nvfp4 q8_0 q6_k q5_k_m q4_k_m q3_k_m q2_k ud-iq1_s ...; "
            "auto: the highest-quality one that fits the first --gpu type, one card or one node or --gpus; "
            "the default for llama.cpp and consumer cards).",
        ),
        click.option(
            "--kv-cache", "kv_cache", default="bf16", show_default=True, help="KV cache dtype: bf16 fp16 fp8."
        ),
        click.option(
            "--context",
            type=int,
            default=None,
            help="Total tokens per sequence (sets --input to it and --output to 0 unless they are given).",
        ),
        click.option("--input", "input_tokens", type=int, default=None, help="Input tokens per request [4096]."),
        click.option("--output", "output_tokens", type=int, default=None, help="Output tokens per request [4096]."),
        click.option("--concurrency", type=int, default=1, show_default=True, help="Concurrent requests."),
        click.option(
            "--spec",
            default=spec_default,
            show_default=spec_default is not None,
            help="Speculative decoding: none | mtp[:k] | draft:MODEL[:k] | ngram[:k] | eagle[:k]"
            + ("" if spec_default else " [default: mtp:1 when the model has an MTP layer and the engine can use it]")
            + ".",
        ),
        click.option(
            "--draft-tp",
            type=int,
            default=None,
            help="Tensor parallel size of a draft model [the target's TP] (vLLM draft_tensor_parallel_size).",
        ),
        click.option(
            "--engine",
            default=engine_default,
            show_default=True,
            help="vllm | sglang | trtllm | llamacpp | ik_llamacpp | ktransformers | mlx.",
        ),
        click.option(
            "--gpu", "gpus", multiple=True, help=gpu_help or "GPU id (repeatable; default: the whole catalog)."
        ),
        click.option(
            "--ram", "ram_gb", type=float, default=None, help="Host RAM in GB, checked with --offload-experts."
        ),
        click.option(
            "--sockets",
            type=int,
            default=1,
            show_default=True,
            help="CPU sockets of the host: their memory channels all serve the offloaded experts; ktransformers "
            "(USE_NUMA) keeps one copy per socket, llama.cpp one in all.",
        ),
        click.option(
            "--offload-experts",
            is_flag=True,
            help="Routed experts in host RAM (ktransformers, "
            "llama.cpp -ot exps=CPU): attention, shared experts and KV on the GPU.",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@cli.command()
@click.argument("model", default="deepseek-r1")
@scenario_options()
@click.option("--gpu-layers", "gpu_layers", default=None,
              help="llama.cpp -ngl N: N layers (and their KV) on one --gpu, or split over --gpus G of them "
                   "(--split-mode layer), the rest in system RAM computed by the CPU; auto: the most that fit every "
                   "GPU. Shows the split's speed and memory.")  # fmt: skip
@click.option("--gpus", "gpu_count", type=int, default=None,
              help="With --gpu-layers: the --gpu cards of one machine that share the layers (llama.cpp's "
                   "--split-mode layer). For a fixed count of GPUs in serving, `specsize plan --gpus`.")  # fmt: skip
@click.option("--explain", is_flag=True, help="Show every memory term per GPU and what it assumes.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def fit(
    model,
    weights,
    kv_cache,
    context,
    input_tokens,
    output_tokens,
    concurrency,
    spec,
    draft_tp,
    engine,
    gpus,
    ram_gb,
    sockets,
    offload_experts,
    gpu_layers,
    gpu_count,
    explain,
    as_json,
):
    """What fits where: for each GPU type, the fewest GPUs (and nodes) that serve MODEL, the layout,
    the memory per GPU, the headroom, the most concurrent requests at this context and the longest
    context for one request. Speculative decoding's memory (MTP/draft weights, their KV cache,
    verification buffers) is counted when --spec asks for it.

    \b
    Examples:
      specsize fit deepseek-r1
      specsize fit deepseek-r1 --spec mtp:1 --gpu h200 --gpu h100-sxm --explain
      specsize fit r1-distill-qwen-32b --weights q4_k_m --context 4096 --engine llamacpp --gpu rtx-4090
      specsize fit r1-distill-qwen-7b --spec draft:r1-distill-qwen-1.5b:4 --json
      specsize fit r1-distill-qwen-32b --gpu rtx-4090 --engine llamacpp        # --weights auto: the best that fits
      specsize fit r1-distill-qwen-32b --gpu rtx-4090 --engine llamacpp --weights q8_0 --gpu-layers auto
      specsize fit deepseek-r1 --gpu rtx-3090 --gpus 4 --engine llamacpp --weights ud-iq1_s --gpu-layers auto
    """
    from specsize.errors import PlanError
    from specsize.input_checks import check_unique_gpus
    from specsize.offload import numa_copies
    from specsize.plan_request import build_workload
    from specsize.render import fit_table
    from specsize.report import fit_report
    from specsize.resolve import load_model
    from specsize.scenario import Host, parse_spec
    from specsize.workload_defaults import clip_default

    a = load_model(model)
    given = context is not None or input_tokens is not None or output_tokens is not None
    w, note = clip_default(build_workload(context, input_tokens, output_tokens, concurrency), a, given)
    if note and not as_json:
        click.echo(note, err=True)
    sp = parse_spec(spec, a, draft_tp=draft_tp)
    host = Host(offload_experts, ram_gb * 1e9 if ram_gb is not None else None, numa_copies(engine, sockets))
    check_unique_gpus(gpus)
    if gpu_count is not None and gpu_count < 1:
        raise PlanError(f"--gpus must be a positive number of GPUs, got {gpu_count}")
    if gpu_layers is not None:
        from specsize.offload import host_cpu

        _gpu_layers(a, model, gpus, engine, weights, kv_cache, w, sp, host_cpu(None, None, None, sockets), gpu_layers,
                    ram_gb, offload_experts, as_json, with_commands=False, gpu_count=gpu_count)  # fmt: skip
        return
    if gpu_count is not None:
        raise PlanError("fit --gpus goes with --gpu-layers (the cards that share llama.cpp's layers); fit finds the "
                        "fewest GPUs itself: for a fixed count, run `specsize plan --gpus N`")  # fmt: skip
    report = fit_report(a, list(gpus), weights, kv_cache, w, engine, sp, host)
    if as_json:
        emit_json(report.to_json())
    else:
        fit_table(report, explain)


def _require_llamacpp(engine: str) -> None:
    """--gpu-layers is -ngl: llama.cpp's family only (one line otherwise)."""
    from specsize.engines import is_llamacpp
    from specsize.errors import PlanError

    if not is_llamacpp(engine):
        raise PlanError("--gpu-layers is llama.cpp's -ngl: add --engine llamacpp (or ik_llamacpp)")


def _gpu_layers(a, model, gpus, engine, weights, kv_cache, w, sp, cpu, value, ram_gb, offload_experts, as_json,
                with_commands=True, gpu_count=None):  # fmt: skip
    """fit/plan --gpu-layers: llama.cpp's -ngl split over one GPU type, --gpus of them (gpu_layers.py)."""
    from specsize.errors import PlanError
    from specsize.gpu_layers import DEFAULT_WEIGHTS, gpu_layers_report
    from specsize.render import gpu_layers_tables

    _require_llamacpp(engine)
    if len(gpus) != 1:
        raise PlanError("--gpu-layers splits a model between one GPU type (--gpus of them) and the CPU: give "
                        "exactly one --gpu")  # fmt: skip
    if sp.enabled:
        raise PlanError("--gpu-layers plans plain decoding: drop --spec (or give --spec none)")
    prec = (weights or DEFAULT_WEIGHTS).lower()
    if prec == "auto":
        prec = DEFAULT_WEIGHTS
    r = gpu_layers_report(a, model, gpus[0], prec, kv_cache, w, cpu, value, ram_gb * 1e9 if ram_gb else None,
                          offload_experts, with_commands, 1 if gpu_count is None else gpu_count, engine)  # fmt: skip
    if weights is None:
        r["answer"].insert(0, f"--weights: {prec.upper()} (the GGUF most people split; give --weights to choose)")
    if as_json:
        emit_json(r)
    else:
        gpu_layers_tables(r)


@cli.command()
@click.argument("model", default="deepseek-r1")
@scenario_options(engine_default="sglang", spec_default=None,
                  gpu_help="GPU id (repeatable; default: h200 b200 h100-sxm mi300x a100-80gb).")  # fmt: skip
@click.option("--acceptance", default=None,
              help="Per-position acceptance rates, comma-separated (e.g. 0.85,0.72); later positions extend the last "
                   "[default: the method's documented default, see --explain].")  # fmt: skip
@click.option(
    "--calibration",
    type=click.Path(dir_okay=False),
    default=None,
    help="A `specsize bench --out` bench.json: use its measured acceptance per position, and for its model, "
    "the speedup per k on its machine from its measured step times. Or the measured.jsonl of `specsize bench "
    "--endpoint --out`: the server's measured acceptance, and the measured/predicted TPOT of its deployment "
    "applied to the plan for that GPU type (both printed). Or benchmarks/bench_serve.py's serve.json: the "
    "speedup at every concurrency it measured, from its step times at that batch.",
)
@click.option("--repeat-fraction", type=float, default=None,
              help="n-gram: share of the output that repeats the input, 0..1 [0.3].")  # fmt: skip
@click.option("--inter-node", default=None, help="Link between nodes (ib-ndr, roce-400g, eth-100g, ...).")
@click.option("--gpu-layers", "gpu_layers", default=None,
              help="llama.cpp -ngl N: N layers (and their KV) on one --gpu, or split over --gpus G of them "
                   "(--split-mode layer), the rest in system RAM computed by the CPU; auto: the most that fit every "
                   "GPU. Shows the split's speed and memory.")  # fmt: skip
@click.option("--host-memory", default=None,
              help="Host memory type serving offloaded experts: ddr4-3200 ddr5-4800 ddr5-5600 ddr5-6000 ... "
                   "[ddr5-4800, an assumption].")  # fmt: skip
@click.option("--channels", type=int, default=None, help="Memory channels per socket [8, an assumption].")
@click.option("--cores", type=int, default=None, help="CPU cores per socket, computing offloaded experts [32].")
@click.option("--gpus", "gpu_count", type=int, default=None,
              help="The GPUs you have: plan on exactly this many of each --gpu type (does it fit, how many users, "
                   "how fast); never switched to another count.")  # fmt: skip
@click.option("--nodes", type=int, default=None,
              help="The machines you have: --nodes M plans on M full nodes of each --gpu type (8 GPUs each for "
                   "H100/H200/B200/MI300X); with --gpus, the two must agree.")  # fmt: skip
@click.option(
    "--cuda-graphs/--no-cuda-graphs",
    default=True,
    show_default=True,
    help="Decode steps replayed as CUDA graphs (off: eager kernel launches, vLLM --enforce-eager).",
)
@click.option("--plot", "plot_file", default=None, help="Write the speedup and throughput-latency plots to a PNG.")
@click.option(
    "--disagg",
    is_flag=True,
    help="Prefill/decode disaggregation: pick the prefill:decode split of "
    "--disagg-gpus GPUs (first --gpu) for the workload, and say why.",
)
@click.option(
    "--disagg-gpus",
    type=click.IntRange(min=2),
    default=None,
    help="GPUs to split between prefill and decode [4 nodes; an NVL72 domain for GB200/GB300].",
)
@click.option("--explain", is_flag=True, help="Every step-time and memory term, and every constant with its source.")
@click.option(
    "--sheet",
    is_flag=True,
    help="The requirements sheet instead: GPUs, host RAM, CPU, disk, network, power, without and with "
    "speculation and the difference, each figure with its reason (--json: a 'sheets' key).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "markdown"]), default="table", show_default=True,
              help="markdown: the requirements sheet as Markdown, for a procurement document or a ticket (implies "
                   "--sheet).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plan(model, weights, kv_cache, context, input_tokens, output_tokens, concurrency, spec, draft_tp, engine, gpus,
         ram_gb, sockets, offload_experts, acceptance, calibration, repeat_fraction, inter_node, gpu_layers,
         host_memory, channels, cores, gpu_count, nodes, cuda_graphs, plot_file, disagg, disagg_gpus, explain,
         as_json, sheet=False, fmt="table"):  # fmt: skip
    """How fast MODEL goes and on what: for each GPU type, the minimum and a recommended layout, nodes and
    network, memory per GPU, TTFT, TPOT, tokens/s per user and per GPU, with and without speculative decoding,
    the best k, the break-even concurrency and the MoE penalty; the speedup-vs-concurrency curve; and the
    launch command for vllm, sglang, llamacpp or ik_llamacpp.

    \b
    Examples:
      specsize plan
      specsize plan deepseek-r1 --gpu h200 --concurrency 32 --spec mtp:3 --explain
      specsize plan deepseek-r1 --gpu h100-sxm --inter-node eth-100g --engine vllm
      specsize plan deepseek-r1 --gpu h100-sxm --gpus 8 --weights auto         # the hardware you have
      specsize plan deepseek-r1 --gpu rtx-4090 --engine llamacpp --weights ud-iq1_s --gpu-layers auto
      specsize plan deepseek-r1 --gpu rtx-3090 --gpus 4 --engine llamacpp --weights ud-iq1_s --gpu-layers auto
      specsize plan deepseek-r1 --gpu gb200 --disagg --concurrency 1024 --input 8192 --output 1024
      specsize plan r1-distill-qwen-32b --spec draft:r1-distill-qwen-1.5b:4 --gpu rtx-4090 --engine llamacpp \\
          --weights q4_k_m --plot plan.png
      specsize plan deepseek-r1 --gpu h100-sxm --sheet --format markdown
    """
    from specsize.plan_request import PlanRequest, plan_result, resolve_request
    from specsize.render import plan_tables

    if plot_file:
        from specsize.plot import check_plot_path

        check_plot_path(plot_file)
    req = PlanRequest(model=model, weights=weights, kv_cache=kv_cache, context=context, input_tokens=input_tokens,
                      output_tokens=output_tokens, concurrency=concurrency, spec=spec, draft_tp=draft_tp, engine=engine,
                      gpus=tuple(gpus), ram_gb=ram_gb, sockets=sockets, offload_experts=offload_experts,
                      acceptance=acceptance, calibration=calibration, repeat_fraction=repeat_fraction,
                      inter_node=inter_node, cuda_graphs=cuda_graphs, gpu_count=gpu_count, nodes=nodes,
                      host_memory=host_memory, channels=channels, cores=cores)  # fmt: skip
    if gpu_layers is not None:  # before --weights auto looks for a format this engine cannot split
        _require_llamacpp(engine)
    r = resolve_request(req)
    if not as_json:
        for n in r.arch.notes:  # how the config was read (e.g. another model_type read as deepseek_v3)
            click.echo(f"note: {n}", err=True)
        if r.note:
            click.echo(r.note, err=True)
    if disagg:
        from specsize.cli_disagg import show_disagg
        from specsize.errors import PlanError

        given = {"--sheet": sheet or fmt == "markdown", "--plot": plot_file, "--explain": explain,
                 "--gpu-layers": gpu_layers is not None, "--calibration": calibration, "--gpus": gpu_count,
                 "--nodes": nodes, "a second --gpu": len(gpus) > 1}  # fmt: skip
        if ignored := [name for name, value in given.items() if value]:
            them = "them" if len(ignored) > 1 else "it"
            raise PlanError(f"--disagg plans one GPU type's prefill:decode split of --disagg-gpus GPUs and takes no "
                            f"{', '.join(ignored)}: drop {them}, or plan without --disagg")  # fmt: skip

        return show_disagg(r.arch, gpus, r.precision, kv_cache, r.workload, engine, r.spec, disagg_gpus, as_json)
    if gpu_layers is not None:
        _gpu_layers(r.arch, model, gpus, engine, weights, kv_cache, r.workload, r.spec, r.cpu, gpu_layers, ram_gb,
                    offload_experts, as_json, gpu_count=gpu_count)  # fmt: skip
        return
    result = plan_result(req, resolved=r)
    report = result.report
    if plot_file:
        report["plot"] = plot_file
    if sheet or fmt == "markdown":
        from specsize.cli_sheet import add_sheets, print_sheets

        add_sheets(report, result.plan, r.host, r.repeat_fraction)
        if not as_json:
            print_sheets(report, fmt)
    if as_json:
        emit_json(report)
    elif not (sheet or fmt == "markdown"):
        plan_tables(report, explain)
    if plot_file:
        from specsize.plot import plan_plot

        plan_plot(report, plot_file)
        if not as_json:
            click.echo(f"plot: {plot_file}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def hw(as_json):
    """Detect this machine: CPU, RAM, GPUs (NVML, else torch.cuda, else none), Apple silicon,
    each matched to the hardware catalog."""
    from specsize.machine import detect
    from specsize.units import human_bytes

    info = detect()
    if as_json:
        emit_json(info)
        return
    click.echo(f"CPU: {info['cpu']['model']} ({info['cpu']['cores']} cores, {info['cpu']['arch']})")
    click.echo(f"RAM: {human_bytes(info['ram_bytes']) if info['ram_bytes'] else 'unknown'}")
    if not info["gpus"]:
        click.echo("GPU: no GPU detected")
    for i, g in enumerate(info["gpus"]):
        mem = human_bytes(g["memory_bytes"]) if g.get("memory_bytes") else "?"
        click.echo(f"GPU {i}: {g['name']} ({mem}, via {g['via']}) -> catalog: {g['catalog_id'] or 'no match'}")


from specsize.cli_engine import bench, generate  # noqa: E402  (the engine's commands)

cli.add_command(generate)
cli.add_command(bench)
from specsize.cli_serve import serve  # noqa: E402

cli.add_command(serve)

from specsize.cli_validate import validate  # noqa: E402

cli.add_command(validate)

from specsize.cli_web import web  # noqa: E402

cli.add_command(web)


def main() -> None:
    cli(prog_name="specsize")


if __name__ == "__main__":
    main()
