"""What a new user hits in the engine's commands, run as a user runs them (CliRunner): bad input gets one clear
line and a non-zero exit, never a traceback; `bench` without transformers and `generate --compile` report what
they measured apart from what they could not (issue 18, items 5 and 6)."""

import json
import sys

import pytest
from click.testing import CliRunner

from specsize.cli import cli

pytest.importorskip("torch")


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def one_line_error(r, needle):
    assert r.exit_code == 1, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.output and needle in r.output, r.output


@pytest.mark.parametrize("t", ["nan", "inf", "-inf", "-1"])
def test_generate_temperature_must_be_finite(t):
    r = run("generate", "hi", "--temperature", t, "--max-new-tokens", "2")
    one_line_error(r, "--temperature must be >= 0 and finite")


def test_generate_whitespace_prompt_and_a_draft_that_is_a_file(tmp_path):
    one_line_error(run("generate", "  \n\t "), "no prompt (or only whitespace)")
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    r = run("generate", "hi", "--method", "draft", "--draft", f, "--max-new-tokens", "2")
    one_line_error(r, "is a file, not a model")


@pytest.mark.parametrize("threads", ["-1", "0", "1000"])
def test_bench_threads_out_of_range(threads):
    one_line_error(run("bench", "--threads", threads), "--threads must be between 1 and this machine's")


def test_bench_max_new_tokens_beyond_the_context():
    one_line_error(run("bench", "--max-new-tokens", "5000", "--method", "ngram"), "leaves no room for a prompt")


def test_bench_out_and_plot_unwritable_refused_before_the_run(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    one_line_error(run("bench", "--out", blocker / "out"), "--out")
    one_line_error(run("bench", "--plot", blocker / "plots"), "cannot write there")


def test_bench_without_transformers_skips_the_peer_comparison_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if it were not installed: import and find_spec fail
    r = run("bench", "--method", "ngram", "-k", "1", "--max-prompts", "1", "--max-new-tokens", "8", "--repeats", "1",
            "--no-steps", "--out", tmp_path)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "peers: transformers is not installed" in r.output
    assert json.loads((tmp_path / "bench.json").read_text())["peers"] is None


def test_generate_compile_reports_the_compilation_apart_and_times_only_compiled_steps(monkeypatch):
    from torch._dynamo.utils import counters

    from specsize.engine import run as engine_run

    graphs = []
    real = engine_run.generate

    def counted(*a, **k):  # the graphs compiled before and after each generation run() makes
        before = counters["stats"]["unique_graphs"]
        g = real(*a, **k)
        graphs.append((before, counters["stats"]["unique_graphs"]))
        return g

    monkeypatch.setattr(engine_run, "generate", counted)
    r = run("generate", "What is 4821 + 375?", "--method", "none", "--compile", "--max-new-tokens", "12", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["compile_time_s"] > 0
    (warm_before, warm_after), (timed_before, timed_after) = graphs
    assert warm_after > warm_before  # the warm-up compiled the step
    assert timed_after == timed_before  # the timed generation (the tok/s) compiled nothing
