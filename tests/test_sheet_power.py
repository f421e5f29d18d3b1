"""The sheet's power section against the measured corpus's power draws (InferenceX runs with avg_power_w)."""

import pytest

from tests.sheets import row, sheet_json


def test_measured_draw_stays_under_the_catalog_tdp():
    """Every InferenceX run of the bundled corpus that measured power (avg_power_w per GPU) drew less than the power
    catalog's TDP for its GPU: the sheet's 'at TDP' figure is an upper bound, as it says."""
    from specsize.measured import BUNDLED_MEASURED, load_points
    from specsize.sheet_data import gpu_power

    rows = [p for p in load_points(BUNDLED_MEASURED) if "avg_power_w" in p["measured"]]
    assert len(rows) == 22
    for r in rows:
        assert 0 < r["measured"]["avg_power_w"] <= gpu_power(r["gpu"]).gpu_w, r["id"]


def test_sheet_tokens_per_joule_is_a_lower_bound_on_measured():
    """The sheet prices power at TDP, so its tokens per joule should not exceed what a real run measured. The five
    aggregated SGLang FP8 runs on MI355X with measured power (InferenceX, the bundled corpus) drew 36-61% of the
    1,400 W TDP; the plan's throughput per GPU for their workload over TDP stays under their measured tokens per
    joule."""
    from specsize.measured_power import power_points

    cases = [
        p
        for p in power_points()
        if p["engine"] == "sglang" and p["weights"] == "fp8" and p["speculative"]["method"] == "none"
    ]
    assert len(cases) == 5
    for p in cases:
        r = {**p["workload"], **p["measured"], "model": p["model"], "gpu": p["gpu"], "id": p["id"]}
        d, s = sheet_json(
            r["model"],
            "--gpu",
            r["gpu"],
            "--spec",
            "none",
            "--concurrency",
            str(r["concurrency"]),
            "--input",
            str(r["input_tokens"]),
            "--output",
            str(r["output_tokens"]),
        )
        o = d["gpus"][0]["recommended"]
        total_w = row(s, "power", "power, whole deployment")["without"]
        assert row(s, "power", "output tokens per joule")["without"] == pytest.approx(
            o["tok_s_per_gpu"] * o["gpus"] / total_w
        )
        assert o["tok_s_per_gpu"] / 1400 < r["output_tok_s_per_gpu"] / r["avg_power_w"], r["id"]


def test_measured_tokens_per_joule_from_the_corpus():
    """The power section's measured row on MI355X (SGLang FP8): the bundled corpus holds five aggregated runs with
    avg_power_w for that GPU, engine and weights (InferenceX, corpus ids sglang-mi355x-fp8-none-*). By hand, output
    tok/s per GPU / W per GPU: c4 46.038/508.061 = 0.0906, c8 82.824/561.327 = 0.1476, c4 (8k in) 36.388/516.253 =
    0.0705, c32 140.011/743.606 = 0.1883, c64 234.918/858.705 = 0.2736; the median is the c8 run's."""
    _, s = sheet_json("deepseek-r1", "--gpu", "mi355x", "--engine", "sglang", "--weights", "fp8", "--spec", "mtp")
    r = row(s, "power", "measured output tokens per joule")
    assert r["unit"] == "tok/J"
    assert r["without"] == pytest.approx(82.8240423035639 / 561.327, rel=1e-12)
    assert "median of 5 runs (mi355x, sglang, fp8, concurrency 4-64; 0.070-0.274 tok/J)" in r["note"]
    assert "InferenceX" in r["note"]
    # no SGLang MTP run on MI355X measured power: the MTP column falls back to the engine that did (ATOM)
    assert "with mtp: median of 8 runs (mi355x, atom, fp8" in r["note"] and r["with"] > 0
    # the plan's own figure at TDP sits next to it
    assert row(s, "power", "output tokens per joule")["without"] < r["without"]


def test_measured_tokens_per_joule_absent_says_so():
    _, s = sheet_json("deepseek-r1", "--gpu", "h200")
    r = row(s, "power", "measured output tokens per joule")
    assert r["without"] == "no measured point" and "no run with measured power on h200" in r["note"]
