"""`specsize serve`: the batched engine behind an OpenAI-compatible HTTP server (serve/). Needs the extra
`specsize[serve]` and says so in one line when it is missing."""

from __future__ import annotations

import click

from specsize.cli_engine import COMPILE_HELP, model_and_drafter_options, need_engine


@click.command()
@model_and_drafter_options
@click.option(
    "--parallel",
    "-np",
    type=int,
    default=8,
    show_default=True,
    help="Slots: sequences decoded together (llama.cpp's --parallel); more requests wait in the queue.",
)
@click.option(
    "--max-model-len", type=int, default=None, help="Positions per slot (prompt + output) [the model's, at most 4096]."
)
@click.option(
    "--max-waiting", type=int, default=64, show_default=True, help="Queued requests beyond the slots; more get 503."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--served-model-name", default=None, help="The model id clients send [the --model value].")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16"]), default="float32", show_default=True)
@click.option("--compile", "compile_", is_flag=True, help=COMPILE_HELP)
@click.option("--log-level", default="warning", show_default=True, help="uvicorn's log level.")
def serve(model, method, draft, k, parallel, max_model_len, max_waiting, host, port, served_model_name, dtype,
          compile_, log_level):  # fmt: skip
    """Serve MODEL over the OpenAI API with batched speculative decoding: /v1/completions,
    /v1/chat/completions (streaming or not), /v1/models, /health, and /metrics with vLLM's metric names
    (vllm:spec_decode_num_drafts_total, ..._num_accepted_tokens_per_pos_total{position="i"}, ...).

    Requests join and leave the batch between rounds; each response's usage.spec_decode holds its own
    draft counters. SIGTERM (or Ctrl-C) stops taking requests and finishes those in flight.

    \b
    Examples:
      specsize serve                                  # tiny-r1 with MTP, 8 slots, on 127.0.0.1:8000
      specsize serve --method draft --draft tiny-r1-draft -k 4 --parallel 16 --port 8080
      specsize serve --model tiny-dense --method draft --draft tiny-r1-draft   # dense target, its draft
      curl localhost:8000/v1/completions -H 'Content-Type: application/json' \\
           -d '{"model": "tiny-r1", "prompt": "Hello", "max_tokens": 32, "temperature": 0}'
    """
    need_engine("serve")
    from specsize.errors import SpecsizeError

    for module in ("fastapi", "uvicorn", "prometheus_client"):
        try:
            __import__(module)
        except ImportError:
            raise SpecsizeError(f"`specsize serve` needs {module}: pip install 'specsize[serve]'") from None
    import socket

    import uvicorn

    try:  # before minutes of loading: is the address free?
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise SpecsizeError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port or --host") from None
    from specsize.serve.build import ServeOptions, build_app

    o = ServeOptions(model, method, k, draft, parallel, max_model_len, max_waiting, compile_, dtype,
                     served_model_name)  # fmt: skip
    app, loaded = build_app(o)
    click.echo(f"specsize serve: {loaded.name} ({loaded.method}, k={loaded.k}, {parallel} slots of "
               f"{loaded.engine.max_len} positions) on http://{host}:{port}", err=True)  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=None)
