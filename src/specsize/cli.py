"""The `specsize` command line: thin shells that parse, call one library function, and render.

Every command takes --json. Every user error is a SpecsizeError, printed as one line with a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from specsize import __version__
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


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


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
    """List the bundled model catalog: family, parameters, active parameters, KV bytes per token.

    Any name (or alias) listed here works wherever a MODEL is asked for; so do a path to a config.json,
    a model directory, and ORG/NAME for a repository already in the local Hugging Face cache.
    """
    from specsize import catalog
    from specsize.render import models_table
    from specsize.report import model_row
    from specsize.resolve import load_model

    rows = [model_row(load_model(n)) for n in catalog.model_names()]
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


def main() -> None:
    cli(prog_name="specsize")


if __name__ == "__main__":
    main()
