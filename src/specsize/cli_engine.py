"""The engine's commands, `specsize generate` and `specsize bench`: thin shells over specsize.engine.run and
specsize.bench.run. They need the optional extra `specsize[engine]` and say so in one line when it is missing."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import click

from specsize.cli_bench_endpoint import endpoint_options
from specsize.cli_json import emit_json

COMPILE_HELP = (
    "torch.compile the decoding steps: ~4x faster per token for the bundled tiny-r1 on CPU, after "
    "a minute or more of compilation (needs a C++ compiler on CPU)."
)


def need_engine(command: str) -> None:
    """The engine's dependencies are the optional extra `specsize[engine]`: say so in one line."""
    from specsize.errors import SpecsizeError

    for module in ("torch", "safetensors", "tokenizers", "jinja2"):
        try:
            __import__(module)
        except ImportError:
            raise SpecsizeError(f"`specsize {command}` runs the PyTorch engine, which needs {module}: "
                                "pip install 'specsize[engine]'") from None  # fmt: skip


@contextmanager
def bench_progress():
    """A progress bar on stderr for run_bench (gone when it ends; the tables follow on stdout)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)  # fmt: skip
    task = bar.add_task("bench", total=None)
    with bar:
        yield lambda message, done, total: bar.update(task, description=message, completed=done, total=total)


def model_and_drafter_options(f):
    """--model, --method, --draft and -k: the same for `generate` and `serve`."""
    for option in reversed((
        click.option("--model", "-m", "model", default="tiny-r1", show_default=True,
                     help="A local model directory (HF layout), ORG/NAME in the local HF cache, or a bundled model."),
        click.option("--method", default="auto", show_default=True,
                     help="mtp | draft | ngram | none (auto: mtp when the model has an MTP layer, draft with "
                          "--draft)."),
        click.option("--draft", default=None,
                     help="Draft model for --method draft (same tokenizer), e.g. tiny-r1-draft."),
        click.option("-k", "--num-speculative-tokens", "k", type=int, default=None,
                     help="Draft tokens per round [mtp 2, draft 4, ngram 4]."),
    )):  # fmt: skip
        f = option(f)
    return f


@click.command()
@click.argument("prompt", required=False)
@model_and_drafter_options
@click.option("--adaptive-k", is_flag=True, help="Raise k after fully accepted rounds, lower it after rejections.")
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 means greedy.")
@click.option("--top-p", type=float, default=1.0, show_default=True)
@click.option("--top-k", type=int, default=0, show_default=True, help="0: off.")
@click.option("--seed", type=int, default=None, help="Seed for sampling (reproducible output).")
@click.option("--max-new-tokens", type=int, default=256, show_default=True)
@click.option(
    "--chat/--raw",
    default=None,
    help="Wrap the prompt in the model's chat template (default when the tokenizer has one) or not.",
)
@click.option("--stop", multiple=True, help="Stop string (repeatable).")
@click.option(
    "--file", "prompt_file", type=click.Path(dir_okay=False), default=None, help="Read the prompt from a file."
)
@click.option("--dtype", type=click.Choice(["float32", "bfloat16"]), default="float32", show_default=True)
@click.option("--compile", "compile_", is_flag=True, help=COMPILE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print {text, token_ids, finish_reason, stats} at the end.")
def generate(prompt, model, method, draft, k, adaptive_k, temperature, top_p, top_k, seed, max_new_tokens, chat,
             stop, prompt_file, dtype, compile_, as_json):  # fmt: skip
    """Generate text with lossless speculative decoding (MTP, a draft model, n-gram lookup, or none),
    streaming to the terminal, with the acceptance statistics at the end.

    The prompt comes from PROMPT, --file, or standard input.

    \b
    Examples:
      specsize generate "How many r are in strawberry?"
      specsize generate --model ./my-r1-distill --method ngram -k 6 --file article.txt
      specsize generate --model ./qwen-7b --method draft --draft ./qwen-1.5b --temperature 0.6 --seed 1
    """
    need_engine("generate")
    from specsize.engine.run import Request, run, stats_line
    from specsize.engine.sampling import SamplingParams
    from specsize.errors import SpecsizeError

    if prompt is None and prompt_file:
        try:
            with open(prompt_file, encoding="utf-8") as f:
                prompt = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise SpecsizeError(f"{prompt_file}: cannot read the prompt ({e})") from None
    elif prompt is None and not sys.stdin.isatty():
        prompt = sys.stdin.read()
    if not prompt or not prompt.strip():
        raise SpecsizeError("no prompt (or only whitespace): give it as an argument, with --file, or on standard "
                            "input")  # fmt: skip
    req = Request(model, prompt, method, draft, k, SamplingParams(temperature, top_k, top_p), seed, max_new_tokens,
                  chat, tuple(stop), adaptive_k, dtype, compile_)  # fmt: skip

    def stream(text: str) -> None:
        click.echo(text, nl=False)
        sys.stdout.flush()

    if compile_ and not as_json:
        click.echo("... --compile: the first tokens wait while torch.compile builds the decoding steps", err=True)
    result = run(req, None if as_json else stream)
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo()
        sys.stdout.flush()
        click.echo(stats_line(result), err=True)
    if result.generation.finish_reason == "interrupted":
        sys.exit(130)


@click.command()
@click.option("--model", "-m", default="tiny-r1", show_default=True, help="Target model directory or bundled name.")
@click.option("--draft", default=None, help="Draft model for --method draft [tiny-r1-draft for tiny-r1].")
@click.option("--method", "methods", multiple=True, help="mtp | draft | ngram (repeatable) [all that apply]; "
              "plain decoding is always measured as the baseline.")  # fmt: skip
@click.option("-k", "ks", type=int, multiple=True, help="Draft tokens per round (repeatable) [1 2 3 4].")
@click.option(
    "--prompts",
    "prompts_file",
    default=None,
    help='JSONL prompts: Spec-Bench question.jsonl or {"prompt", "category"} lines [tiny-r1 test split].',
)
@click.option("--max-prompts", type=int, default=14, show_default=True)
@click.option("--max-new-tokens", type=int, default=128, show_default=True)
@click.option("--repeats", type=int, default=3, show_default=True, help="Measured runs per configuration.")
@click.option("--no-peers", is_flag=True, help="Skip the transformers comparison.")
@click.option("--no-steps", is_flag=True, help="Skip the step-time curve (and so the predicted speedups).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Write bench.json and bench.csv here.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), default=None, help="Write PNG plots here.")
@click.option("--threads", type=int, default=None, help="torch threads [torch's default].")
@click.option("--compile", "compile_", is_flag=True, help=COMPILE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report.")
@endpoint_options
def bench(model, draft, methods, ks, prompts_file, max_prompts, max_new_tokens, repeats, no_peers, no_steps, out,
          plot_dir, threads, compile_, as_json, endpoint, **endpoint_opts):  # fmt: skip
    """Measure speculative decoding on this machine: tokens/s and speedup over plain decoding for each method
    and k, acceptance per position, draft vs verify time, the step-time curve T(n), the predicted speedup
    (the closed loop), and the same target and draft through transformers.

    What is timed is what the loop ran: each pass records every round of the timed runs (the drafter's state
    and inputs, the positions, the drafts) and replays them in the loop's order, timing the drafter's call and
    the verification call (the same compiled graphs under --compile); the closed loop predicts from those, T(1)
    being plain decoding's replayed round. Replayed outputs are checked against the loop's, graphs compiled
    while timed are counted, and a figure whose runs or replayed rounds spread more than 15% is flagged.

    With --endpoint URL, measure a running OpenAI-compatible server instead (vLLM, SGLang, specsize serve):
    levels of concurrency (or Poisson request rates), each with warm-up requests first; per level TTFT, TPOT,
    ITL and end-to-end latency (median, mean, p99), output and total tokens/s, per GPU and per user, goodput
    under --slo-ttft-ms/--slo-tpot-ms, failed requests counted with their errors; the server's spec-decode
    counters from /metrics before and after each level give acceptance per position and the mean acceptance
    length. --out DIR writes DIR/measured.jsonl (measured points, with the deployment you declare:
    --gpu --gpus --engine --layout --spec) after every level, for `specsize validate` and
    `specsize plan --calibration`. Options marked (--endpoint) apply to it only.

    \b
    Examples:
      specsize bench
      specsize bench --method mtp -k 1 -k 2 -k 3 --out results/ --plot results/
      specsize bench --model ./my-target --draft ./my-draft --method draft --prompts question.jsonl
      specsize bench --endpoint http://127.0.0.1:8000 --tokenizer ~/models/DeepSeek-R1 --input 1024 --output 1024 \\
          --concurrency 1,4,16,64 --gpu h200 --gpus 8 --engine vllm --spec mtp:2 --out r1-h200/
      specsize bench --endpoint http://127.0.0.1:8000 --model tiny-r1 --input 64 --output 64 --concurrency 1,4
    """
    from pathlib import Path

    if endpoint:
        from specsize.cli_bench_endpoint import endpoint_tables, run_endpoint

        given = click.get_current_context().get_parameter_source("model") != click.core.ParameterSource.DEFAULT
        report = run_endpoint(model, given, out, as_json, prompts_file, endpoint=endpoint, **endpoint_opts)
        if as_json:
            emit_json(report)
        else:
            endpoint_tables(report)
        if report["interrupted"]:
            sys.exit(130)
        return
    need_engine("bench")
    from specsize.bench.run import BenchOptions, run_bench
    from specsize.render import bench_tables

    o = BenchOptions(model=model, draft=draft, ks=tuple(ks) or (1, 2, 3, 4), prompts_file=prompts_file,
                     max_prompts=max_prompts, max_new_tokens=max_new_tokens, repeats=repeats, steps=not no_steps,
                     peers=not no_peers, out=Path(out) if out else None, plot=Path(plot_dir) if plot_dir else None,
                     threads=threads, compile=compile_)  # fmt: skip
    if methods:
        o.methods = tuple(methods)
    elif draft is None and model != "tiny-r1":
        o.methods = ("mtp", "ngram")
    if as_json:
        report = run_bench(o)
    else:
        with bench_progress() as progress:
            report = run_bench(o, progress)
    if as_json:
        emit_json(report)
    else:
        bench_tables(report)
    if report["interrupted"]:
        sys.exit(130)
