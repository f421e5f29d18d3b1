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
    fit_serving.breakdown(held, fit_serving.predicted(held))
    out = capsys.readouterr().out
    assert "build / layout" in out
    assert "sglang disagg TP16 EP1 " in out and "sglang disagg TP16 EP16 DP-attn" in out


def test_the_time_split_puts_each_point_by_its_date(fit_serving):
    """--holdout-after DATE: the refit sees the points dated before DATE; the points of DATE itself and later are
    predicted; a point without a readable date is in neither (it could be a later run)."""
    from datetime import date

    pts = [{"id": i, "date": d} for i, d in enumerate(["2026-01-31", "2026-02-01", "2026-02-01T03:00:00Z",
                                                       "2027-01-15", None, "February 2026"])]  # fmt: skip
    pts.append({"id": 6})
    before, after, undated = fit_serving.split_by_date(pts, date(2026, 2, 1))
    assert [p["id"] for p in before] == [0]
    assert [p["id"] for p in after] == [1, 2, 3]
    assert [p["id"] for p in undated] == [4, 5, 6]


def test_the_time_split_of_the_corpus_matches_its_dates(fit_serving):
    from datetime import date

    from specsize.measured import BUNDLED_MEASURED, load_points

    points = load_points(BUNDLED_MEASURED)
    before, after, undated = fit_serving.split_by_date(points, date(2026, 5, 1))
    assert len(before) + len(after) == len(points) and not undated
    assert all(p["date"] < "2026-05-01" for p in before) and all(p["date"] >= "2026-05-01" for p in after)


@pytest.mark.parametrize("cutoff, needle", [("2030-01-01", "leaves 1187 point(s) before it and 0 on or after it"),
                                            ("2026-13-01", "is not a date (YYYY-MM-DD)")])  # fmt: skip
def test_a_cutoff_that_splits_nothing_is_one_clear_message(fit_serving, capsys, cutoff, needle):
    with pytest.raises(SystemExit) as e:
        fit_serving.main(["--passes", "0", "--holdout-after", cutoff])
    assert e.value.code != 0
    assert needle in str(e.value.code) + capsys.readouterr().err
