"""The project stands alone: the README, every command's --help and plan --explain point only at files in the
repository (nothing under the developers' shared/ folder), and every repository path they name exists."""

import re
from pathlib import Path

from click.testing import CliRunner

from specsize.cli import cli

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"(?<![\w/.])(shared/|(?<!docs/)reference/[a-z_\-]+\.md)")
REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:src|docs|tests|scripts|benchmarks)/[\w./\-]+\.(?:md|py|jsonl|json|txt|png|csv)\b)"
)


def texts():
    yield "README.md", (ROOT / "README.md").read_text()
    runner = CliRunner()
    for name in cli.commands:
        yield f"specsize {name} --help", runner.invoke(cli, [name, "--help"]).output
    yield "specsize plan --explain", runner.invoke(cli, ["plan", "--gpu", "h200", "--explain"]).output


def test_nothing_points_outside_the_repository():
    for where, text in texts():
        flat = re.sub(r"\s*\n\s*│?\s*", " ", text)  # table cells wrap paths over lines
        assert not OUTSIDE.search(flat), (where, OUTSIDE.search(flat).group(0))


def test_every_repository_path_named_exists():
    for where, text in texts():
        for path in REPO_PATH.findall(text):
            assert (ROOT / path.rstrip(".")).exists(), (where, path)


def test_the_readme_layout_names_every_module():
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("```", 2)[1]
    for f in sorted((ROOT / "src" / "specsize").glob("*.py")):
        if f.name not in ("__init__.py", "__main__.py"):
            assert f.name in layout or f.stem + ".py" in layout, f.name
    for d in ("engine", "bench", "train", "assets", "catalog"):
        assert f"{d}/" in layout


def test_in_bench_plots_a_methods_measured_and_predicted_lines_share_a_colour(tmp_path, monkeypatch):
    import json

    import pytest

    pytest.importorskip("matplotlib")
    from specsize.bench import report as bench_report

    drawn = {}
    real = bench_report._finish

    def record(fig, ax, path, *a, **k):
        drawn[Path(path).name] = [(line.get_label(), line.get_color()) for line in ax.get_lines()]
        return real(fig, ax, path, *a, **k)

    monkeypatch.setattr(bench_report, "_finish", record)
    bench = json.loads((ROOT / "benchmarks" / "results" / "bench.json").read_text())  # a real bench's output
    paths = bench_report.write_plots(bench, tmp_path)
    assert all(p.exists() for p in paths)
    lines = dict(drawn["speedup_vs_k.png"])
    methods = {c["method"] for c in bench["configs"]}
    for m in methods:
        assert lines[f"{m} measured"] == lines[f"{m} predicted"]
    assert len({lines[f"{m} measured"] for m in methods}) == len(methods)  # and methods differ
    per_position = dict(drawn["acceptance_per_position.png"])
    for label, colour in per_position.items():
        assert colour == lines[f"{label.split()[0]} measured"]  # the same colour in both plots
