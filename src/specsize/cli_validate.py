"""`specsize validate`: published figures (docs/validation-format.md) and measured serving points
(docs/measured-format.md), each file read as the format its content is."""

from __future__ import annotations

import click

from specsize.cli_json import emit_json


@click.command()
@click.argument("files", nargs=-1)
@click.option(
    "--measured",
    is_flag=True,
    help="Also predict the bundled measured corpus (1,187 R1 serving points: InferenceX, dstack).",
)
@click.option(
    "--worst",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="List the N measured points with the largest |error| of output tok/s per GPU.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Draw predicted vs measured (log-log, per engine, y = x and +-25% bands) to FILE.png.",
)
@click.option("--json", "as_json", is_flag=True,
              help="Published files only: a list of {id, metric, predicted, expected, error, passed}; with measured "
                   "points: {published, measured: every point, summary}.")  # fmt: skip
def validate(files, measured, worst, plot_path, as_json):
    """Predict every metric of every case in FILES and compare. A file is read by its content: a JSON list is
    the published-figures format (docs/validation-format.md), JSON lines are measured serving points
    (docs/measured-format.md). Default: the bundled published figures; --measured adds the bundled measured
    corpus. Exits 0 even when cases fail (it is a report); non-zero only when a file cannot be read.

    \b
    Examples:
      specsize validate
      specsize validate --measured --worst 20 --plot validate.png
      specsize validate my-cluster-measurements.json --json
      specsize validate my-points.jsonl
    """
    from specsize.measured import BUNDLED_MEASURED, load_points, looks_like_measured, run_points, summarize
    from specsize.measured import worst as worst_points
    from specsize.render_validate import measured_tables, validate_table
    from specsize.validate import BUNDLED, run_files, summary

    if plot_path:
        from specsize.plot import check_plot_path

        check_plot_path(plot_path)
    files = list(files)
    measured_files = [f for f in files if looks_like_measured(f)]
    published_files = [f for f in files if f not in measured_files]
    if measured:
        measured_files.append(BUNDLED_MEASURED)
    if not files:
        published_files = [BUNDLED]
    if plot_path and not measured_files:
        from specsize.errors import SpecsizeError

        raise SpecsizeError("--plot draws measured points: add --measured or a measured-points (JSON lines) file")
    points = [p for f in measured_files for p in load_points(f)]  # read everything first: bad input fails early
    outcomes = run_files(published_files) if published_files else []
    rows = run_points(points) if points else []
    summ = summarize(rows) if rows else None
    drawn = plot_path and any(not r["reason"] for r in rows)  # a plot of no predicted point says nothing
    if drawn:
        from specsize.plot import validate_plot

        validate_plot(rows, plot_path)
    if as_json:
        pub = [o.to_json() for o in outcomes]
        emit_json(pub if not points else {"published": pub, "measured": rows, "summary": summ})
        return
    if outcomes:
        validate_table([o.to_json() for o in outcomes], summary(outcomes))
    if rows:
        measured_tables(summ, worst_points(rows, worst))
    if drawn:
        click.echo(f"plot: {plot_path}")
    elif plot_path:
        click.echo("plot: not drawn, no measured point could be predicted (the reasons are listed above)", err=True)
