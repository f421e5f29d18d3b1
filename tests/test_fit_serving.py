"""scripts/fit_serving.py --write: the fitted constants go into perf_constants.py as the file spells them, so a refit
is reproduced by one command instead of a hand paste."""

import runpy
from dataclasses import replace
from pathlib import Path

import pytest

from specsize import perf
from specsize import perf_constants as pc
from tests.scripts import load_script


@pytest.fixture(scope="module")
def fit_serving():
    return load_script("scripts/fit_serving.py")


def test_writing_the_shipped_constants_leaves_the_file_as_it_is(fit_serving, tmp_path):
    original = Path(pc.__file__).read_text()
    copy = tmp_path / "perf_constants.py"
    copy.write_text(original)
    fit_serving.write_constants(copy)
    assert copy.read_text() == original


def test_a_refit_value_is_written_in_the_files_own_units(fit_serving, tmp_path, monkeypatch):
    copy = tmp_path / "perf_constants.py"
    copy.write_text(Path(pc.__file__).read_text())
    monkeypatch.setitem(pc.ENGINE_PERF, "sglang", replace(pc.ENGINE_PERF["sglang"], step_overhead=1.234e-3))
    monkeypatch.setattr(perf, "RDMA_DISPATCH_LATENCY", 123.4e-6)
    fit_serving.write_constants(copy)
    text = copy.read_text()
    assert "RDMA_DISPATCH_LATENCY = 123.4 * US" in text  # microseconds, as the line was written
    written = runpy.run_path(str(copy))
    assert written["FITTED_SERVING"]["sglang"]["step_overhead"] == 1.234e-3
    assert written["RDMA_DISPATCH_LATENCY"] == pytest.approx(123.4e-6)
    assert written["FITTED_SERVING"]["trtllm"] == pc.FITTED_SERVING["trtllm"]  # the others as they were


def test_the_held_out_breakdown_names_each_points_layout(fit_serving, capsys):
    """--logo-gpu prints the held-out errors by build x layout too: H100's points run TP16 (NCCL all-reduces across
    two nodes) and TP16 EP16 with attention DP (RDMA dispatches), which its errors must tell apart."""
    from specsize.measured import BUNDLED_MEASURED, load_points

    held = [p for p in load_points(BUNDLED_MEASURED) if p["gpu"] == "h100-sxm"]
    fit_serving.breakdown(held)
    out = capsys.readouterr().out
    assert "build / layout" in out
    assert "sglang disagg TP16 EP1 " in out and "sglang disagg TP16 EP16 DP-attn" in out
