"""Regression guard: the planner's error on the bundled measured corpus (1,187 R1 serving points) stays where
scripts/fit_serving.py left it. The issue's targets (median |error| <= 10%, p90 <= 30%) are reached only in part:
RECORDED holds what the model does reach (README, validation section); a change to the model or its constants
that makes any of these worse by more than the slack fails here, and one that improves them should lower them."""

import pytest

from specsize.measured import BUNDLED_MEASURED, errors_of, load_points, run_points, stats, summarize

# (mode, metric): (median |error|, p90 |error|), recorded from `specsize validate --measured --json`
RECORDED = {
    # attention DP's lone prompt prefilled on one rank (perf.dp_prefill_rank_factor) and the refit with it moved
    # these by at most a tenth of a point; the benchmark's finite run (measured.first_wave_factor: every user's first
    # prompt at once, ~10 requests each) and the refit with it: agg 0.084/0.350 -> 0.084/0.342 per GPU,
    # 0.080/0.275 -> 0.081/0.281 per user
    ("agg", "output_tok_s_per_gpu"): (0.084, 0.342),
    ("agg", "output_tok_s_per_user"): (0.081, 0.281),
    # disaggregated per GPU was 0.131 at the start of this work: 0.144 once the decode pool held no more sequences
    # than its KV slots (Little's law), back to 0.134 with the engines' own dispatch cost; 0.137 once MI355X's SGLang
    # constants were refit to the current model (scripts/fit_serving.py, reproducible); 0.137/0.530 -> 0.121/0.506
    # per GPU and 0.141/0.443 -> 0.140/0.437 per user with the two changes above
    ("disagg", "output_tok_s_per_gpu"): (0.121, 0.506),
    ("disagg", "output_tok_s_per_user"): (0.140, 0.437),
}
SLACK_MEDIAN, SLACK_P90 = 0.005, 0.02  # absolute: half a point of median, two points of p90
RECORDED_PREDICTED = 1179  # points predicted (the rest are listed with a reason)


@pytest.fixture(scope="module")
def rows():
    return run_points(load_points(BUNDLED_MEASURED))


@pytest.mark.parametrize("mode, metric", list(RECORDED))
def test_error_stays_at_the_recorded_level(rows, mode, metric):
    s = stats(errors_of([r for r in rows if not r["reason"] and r["mode"] == mode], metric))
    median, p90 = RECORDED[(mode, metric)]
    assert s["median_abs"] <= median + SLACK_MEDIAN, f"median |error| {s['median_abs']:.3f} (recorded {median})"
    assert s["p90_abs"] <= p90 + SLACK_P90, f"p90 |error| {s['p90_abs']:.3f} (recorded {p90})"


def test_no_point_is_silently_lost_and_mtp_has_the_measured_sign(rows):
    s = summarize(rows)
    assert s["points"] == 1187 and s["predicted"] + len(s["unrepresentable"]) == 1187
    assert s["predicted"] >= RECORDED_PREDICTED
    assert s["mtp_sign"]["pairs"] >= 20 and s["mtp_sign"]["share"] >= 0.9  # the target: >= 90% of pairs
