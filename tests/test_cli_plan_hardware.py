"""`plan --gpus N / --nodes M` (the hardware a user has) and the answer in words at the top of `plan`."""

import json
import re

from click.testing import CliRunner

from specsize.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def plan_json(*args):
    r = run("plan", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_the_first_line_states_the_answer_with_computed_figures():
    r = run("plan", "--gpu", "h200")
    assert r.exit_code == 0, r.output
    first = " ".join(r.output.splitlines()[:3])
    d = plan_json("--gpu", "h200")
    g = d["gpus"][0]
    m, o = g["minimum"], g["recommended"]
    spec_gb = sum(t["bytes"] for t in m["memory_breakdown"] if t["term"].startswith("spec_")) / 1e9
    at16 = next(p for p in g["curve"] if p["concurrency"] == 16)["speedup"]
    expected = (f"DeepSeek-R1 in FP8 needs at least {m['gpus']}×H200, one node; MTP adds {spec_gb:.1f} GB per GPU and "
                f"makes one user {o['spec']['speedup']:.2f}× faster, {at16:.2f}× at 16 users.")  # fmt: skip
    assert re.sub(r"\s+", " ", first).startswith(expected)
    assert d["answer"][0] == expected
    assert "1 user, 4,096 input + 4,096 output tokens" in r.output  # the header spells out the workload


def test_more_than_the_minimum_is_explained_in_words():
    """More GPUs than the minimum, or another layout of as many (attention DP, which keeps each request's MLA
    latent on one GPU instead of every one), is said with the KV room each holds."""
    d = plan_json("--gpu", "h200", "--concurrency", "512", "--input", "1024", "--output", "1024")
    g = d["gpus"][0]
    assert g["recommended"]["gpus"] > g["minimum"]["gpus"]
    why = d["answer"][1]
    assert why.startswith(f"Recommended: {g['recommended']['gpus']}×H200")
    assert f"holds {g['minimum']['max_concurrency']:,} concurrent requests" in why and "4× the 512" in why

    d = plan_json("--gpu", "h200", "--concurrency", "16")
    g = d["gpus"][0]
    m, o = g["minimum"], g["recommended"]
    assert (m["gpus"], m["layout"]["text"], o["gpus"], o["layout"]["text"]) == (8, "TP8", 8, "TP8 EP8 DP-attention")
    assert o["max_concurrency"] >= 4 * 16 > m["max_concurrency"]
    assert d["answer"][1] == (
        f"Recommended: 8×H200 as DEP8 (TP8 EP8 DP-attention): as TP8 the KV cache holds {m['max_concurrency']:,} "
        f"concurrent requests of 8,192 tokens, as DEP8 {o['max_concurrency']:,}, room for 4× the 16 asked for "
        "(bursts, prefix cache); the speeds below are DEP8's."
    )


def test_attention_dp_is_planned_where_it_serves_the_users_faster_and_named_where_layouts_differ():
    """R1's MLA latent is whole on every attention-TP GPU; attention DP + EP keeps each request's on one, so on as
    many GPUs it holds several times the users. plan takes it where it serves the asked users faster (its figures
    are the ones validate checks for that layout: tests/test_plan_serving.py), keeps TP where TP is faster, and the
    recommendation names both layouts when they differ."""
    low = plan_json("--gpu", "h200", "--concurrency", "1", "--input", "1024", "--output", "1024")["gpus"][0]
    assert low["minimum"]["layout"]["text"] == low["recommended"]["layout"]["text"] == "TP8"
    for users, layout in (("64", "TP8"), ("128", "TP8 EP8 DP-attention")):  # the README's "TP8 up to 64, DEP8 from 128"
        g = plan_json("--gpu", "h200", "--concurrency", users, "--input", "1024", "--output", "1024")["gpus"][0]
        assert g["minimum"]["layout"]["text"] == layout
    high = plan_json("--gpu", "h200", "--concurrency", "192", "--input", "1024", "--output", "1024")["gpus"][0]
    assert high["minimum"]["layout"]["text"] == high["recommended"]["layout"]["text"] == "TP8 EP8 DP-attention"
    assert high["minimum"]["max_concurrency"] > 4 * 192
    d = plan_json("--gpu", "b300", "--concurrency", "256", "--input", "8192", "--output", "1024")
    m, o = d["gpus"][0]["minimum"], d["gpus"][0]["recommended"]
    assert (m["gpus"], m["layout"]["short"], o["gpus"], o["layout"]["short"]) == (4, "DEP4", 8, "DEP8")
    assert d["answer"][0].startswith("DeepSeek-R1 in FP8 needs at least 4×B300, one node")  # TP: 16 GPUs, 2 nodes
    d = plan_json("--gpu", "h200", "--concurrency", "768", "--input", "1024", "--output", "1024")
    m, o = d["gpus"][0]["minimum"], d["gpus"][0]["recommended"]
    assert (m["layout"]["short"], o["layout"]["short"]) == ("DEP8", "DEP16")
    assert " on 8 the KV cache holds " in d["answer"][1] and " on 16 it holds " in d["answer"][1]


def test_gpus_n_plans_exactly_n_and_reports_users_and_speed():
    d = plan_json("--gpu", "h200", "--gpus", "16")
    g = d["gpus"][0]
    assert g["minimum"]["gpus"] == g["recommended"]["gpus"] == 16  # never switched
    assert d["answer"][0].startswith("DeepSeek-R1 in FP8 fits on 16×H200 (2 nodes, TP16): up to ")
    assert f"up to {g['minimum']['max_concurrency']:,} concurrent users" in d["answer"][0]
    assert "TP16" in d["commands"]["plan"]
    # --nodes 2 is the same hardware
    assert plan_json("--gpu", "h200", "--nodes", "2")["gpus"][0]["minimum"]["gpus"] == 16


def test_gpus_too_few_says_what_is_short_and_what_would_do_without_switching():
    r = run("plan", "--gpu", "h100-sxm", "--gpus", "8")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "does not fit on 8 (TP8): short by" in r.output and "it needs at least 16 (2 nodes)" in r.output


def test_a_count_the_engine_cannot_lay_out_and_disagreeing_counts_are_one_line():
    r = run("plan", "--gpu", "h200", "--gpus", "12")
    assert r.exit_code == 1 and "no layout of exactly 12" in r.output and "power of two" in r.output
    r = run("plan", "--gpu", "h200", "--gpus", "16", "--nodes", "1")
    assert r.exit_code == 1 and "a h200 node holds 8 GPUs" in r.output
    for bad in (["--gpus", "0"], ["--nodes", "-1"]):
        r = run("plan", "--gpu", "h200", *bad)
        assert r.exit_code == 1 and "positive" in r.output and "Traceback" not in r.output


def test_a_persons_machine_holds_every_card_they_have_up_to_eight():
    # A 6x RTX 3090 rig is one machine (the catalog's usual desktop holds 2): llama.cpp splits the layers over 6.
    d = plan_json("deepseek-r1-distill-llama-70b", "--gpu", "rtx-3090", "--gpus", "6", "--engine", "llamacpp")
    g = d["gpus"][0]
    assert (g["minimum"]["gpus"], g["minimum"]["nodes"], g["minimum"]["layout"]["pp"]) == (6, 1, 6)
    r = run("plan", "deepseek-r1-distill-llama-70b", "--gpu", "rtx-3090", "--gpus", "9", "--engine", "llamacpp")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "holds at most 8 rtx-3090 cards" in r.output and "counts it can use: 1, 2, 3, 4, 5, 6, 7, 8)" in r.output
    # (a data-centre node stays the catalog's: 16 H200 are two nodes, test_gpus_n_plans_exactly_n_...)


def test_gpus_n_holds_the_users_under_attention_dp_where_tp_cannot():
    """--gpus 8 at 128 users of 9,216 tokens: TP8 cannot hold their KV (R1's latent on every GPU), attention DP can;
    the plan says so and plans it rather than refusing."""
    d = plan_json("--gpu", "h200", "--gpus", "8", "--concurrency", "128", "--input", "8192", "--output", "1024")
    g = d["gpus"][0]
    assert g["fits"] and g["minimum"]["layout"]["text"] == "TP8 EP8 DP-attention"
    assert d["answer"][0].startswith("DeepSeek-R1 in FP8 fits on 8×H200 (one node, TP8 EP8 DP-attention): up to ")


def test_too_few_gpus_reports_the_layout_that_comes_nearest():
    """--gpus 8 of H100 with AWQ at 256 users: neither TP8 (the latent on every GPU) nor attention DP holds them,
    and the shortfall said is attention DP's, the nearer."""
    r = run("plan", "--gpu", "h100-sxm", "--gpus", "8", "--weights", "awq-int4", "--concurrency", "256")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "does not fit on 8 (TP8 EP8 DP-attention): short by" in r.output
