"""`specsize validate` on measured serving points (docs/measured-format.md): reading, representing, predicting."""

import json
import statistics

import pytest
from click.testing import CliRunner

from specsize.cli import cli
from specsize.measured import (
    BUNDLED_MEASURED,
    MeasuredInputError,
    band,
    littles_law_tok_s_per_gpu,
    load_points,
    looks_like_measured,
    measured_decode_seqs,
    per_gpu_inconsistency,
    resolve,
    run_points,
    summarize,
)

# Every field of the format (docs/measured-format.md), an aggregated point.
FULL = {
    "id": "sglang-h200-fp8-none-1024-1024-c16-test",
    "source": "hand-made for the tests",
    "date": "2026-02-27",
    "model": "deepseek-r1-0528",
    "weights": "fp8",
    "kv_cache": None,
    "gpu": "h200",
    "gpus": 8,
    "nodes": 1,
    "engine": "sglang",
    "engine_version": "lmsysorg/sglang:v0.5.9-cu129",
    "layout": {"tp": 8, "ep": 1, "dp_attention": False},
    "disaggregated": None,
    "workload": {"input_tokens": 1024, "output_tokens": 1024, "concurrency": 16,
                 "lengths": "uniform in [0.8 L, L], ignore_eos"},
    "speculative": {"method": "none", "num_speculative_tokens": None},
    "measured": {"output_tok_s_per_gpu": 120.0, "per_gpu_counts": "all", "output_tok_s_per_user": 60.0,
                 "tpot_ms": 16.7, "ttft_ms": 300.0, "itl_ms": 16.5, "e2el_ms": 15000.0, "input_tok_s_per_gpu": 121.0,
                 "tpot_ms_p99": 18.0, "ttft_ms_p99": 900.0, "avg_power_w": 690.0},
}  # fmt: skip
MTP = {**FULL, "id": "mtp-twin", "speculative": {"method": "mtp", "num_speculative_tokens": None},
       "measured": {**FULL["measured"], "output_tok_s_per_user": 80.0}}  # fmt: skip
DISAGG = {**FULL, "id": "disagg", "gpus": 24, "nodes": 3, "layout": {"tp": 1, "ep": 16, "dp_attention": True},
          "disaggregated": {"framework": "dynamo", "prefill_gpus": 8, "decode_gpus": 16, "prefill_workers": 1,
                            "decode_workers": 1, "prefill_layout": {"tp": 8, "ep": 8, "dp_attention": True}},
          # 16 users x 921.6 tokens / 15 s over the 16 decode GPUs: 61.4 (Little's law, per_gpu_inconsistency)
          "measured": {**FULL["measured"], "per_gpu_counts": "decode", "output_tok_s_per_gpu": 60.0}}  # fmt: skip
UNKNOWN_GPU = {**FULL, "id": "tpu", "gpu": "tpu-v9"}
NO_WORKERS = {**DISAGG, "id": "no-workers",
              "disaggregated": {**DISAGG["disaggregated"], "prefill_workers": 0, "decode_workers": 0}}  # fmt: skip


def _write(tmp_path, lines, name="points.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return p


def test_every_field_is_read_and_every_metric_predicted(tmp_path):
    rows = run_points(load_points(_write(tmp_path, [FULL, MTP, DISAGG])))
    for r in rows:
        assert r["reason"] == ""
        assert set(r["metrics"]) == {"output_tok_s_per_gpu", "output_tok_s_per_user", "tpot_ms", "ttft_ms",
                                     "input_tok_s_per_gpu"}  # fmt: skip
        for m in r["metrics"].values():
            assert m["predicted"] > 0 and m["error"] == pytest.approx(m["predicted"] / m["measured"] - 1)
    full, _mtp, dis = rows
    assert full["mode"] == "agg" and dis["mode"] == "disagg" and full["band"] == "16-64"
    # tok/s per user is 1000 / TPOT: the two predictions agree exactly
    u, t = full["metrics"]["output_tok_s_per_user"]["predicted"], full["metrics"]["tpot_ms"]["predicted"]
    assert u == pytest.approx(1000 / t)


def test_per_gpu_counts_decode_divides_by_the_decode_gpus_only(tmp_path):
    all_gpus = {**DISAGG, "id": "all", "measured": {**DISAGG["measured"], "per_gpu_counts": "all"}}
    rows = {r["id"]: r for r in run_points(load_points(_write(tmp_path, [DISAGG, all_gpus])))}
    d, a = rows["disagg"]["metrics"]["output_tok_s_per_gpu"], rows["all"]["metrics"]["output_tok_s_per_gpu"]
    assert d["predicted"] == pytest.approx(a["predicted"] * 24 / 16)


def test_littles_law_is_what_the_point_s_own_latencies_imply():
    # FULL: 16 users, mean output 0.9 x 1024, e2el 15 s, 8 GPUs: 16 x 921.6 / 15 / 8 = 122.88 tok/s per GPU
    assert littles_law_tok_s_per_gpu(FULL) == pytest.approx(16 * 921.6 / 15 / 8)
    assert littles_law_tok_s_per_gpu(DISAGG) == pytest.approx(16 * 921.6 / 15 / 16)  # decode GPUs only
    assert littles_law_tok_s_per_gpu({**FULL, "measured": {**FULL["measured"], "e2el_ms": None}}) is None
    assert per_gpu_inconsistency(FULL) == "" and per_gpu_inconsistency(DISAGG) == ""


def test_a_per_gpu_figure_contradicting_its_own_latencies_is_listed_and_not_scored(tmp_path):
    # half of what 16 users x 921.6 tokens / 15 s imply (a benchmark duration with idle time in it): its per-GPU
    # error is not scored (nor fitted) but listed with the reason; its other metrics still are
    half = {**FULL, "id": "half", "measured": {**FULL["measured"], "output_tok_s_per_gpu": 61.0}}
    edge = {**FULL, "id": "edge", "measured": {**FULL["measured"], "output_tok_s_per_gpu": 0.75 * 122.88}}
    rows = {r["id"]: r for r in run_points(load_points(_write(tmp_path, [FULL, half, edge])))}
    g = rows["half"]["metrics"]["output_tok_s_per_gpu"]
    assert g["error"] is None and "0.50x" in g["inconsistent"] and g["measured"] == 61.0
    assert rows["half"]["metrics"]["output_tok_s_per_user"]["error"] is not None
    assert rows["edge"]["metrics"]["output_tok_s_per_gpu"]["error"] is not None  # inside LITTLE_LAW_TOLERANCE
    s = summarize(list(rows.values()))
    assert [u["id"] for u in s["inconsistent"]] == ["half"]
    assert s["overall"]["output_tok_s_per_gpu"]["n"] == 2 and s["overall"]["output_tok_s_per_user"]["n"] == 3


def test_the_measured_decode_batch_is_little_s_law_on_the_point_s_own_figures(tmp_path):
    # FULL: 120 tok/s per GPU x 8 GPUs x 16.7 ms TPOT = 16.03 sequences decoding (of 16 users); DISAGG: 60 x 16
    # decode GPUs x 16.7 ms, in one decode instance; two instances share it
    assert measured_decode_seqs(FULL, 1) == pytest.approx(120 * 8 * 0.0167)
    assert measured_decode_seqs(DISAGG, 2) == pytest.approx(60 * 16 * 0.0167 / 2)
    assert measured_decode_seqs({**FULL, "measured": {**FULL["measured"], "tpot_ms": None}}, 1) is None
    half = {**FULL, "measured": {**FULL["measured"], "output_tok_s_per_gpu": 61.0}}  # contradicts its e2el
    assert measured_decode_seqs(half, 1) is None
    row = run_points(load_points(_write(tmp_path, [FULL])))[0]
    assert row["decode_seqs_measured"] == pytest.approx(120 * 8 * 0.0167) and row["decode_seqs"] > 0


def test_no_measured_decode_batch_holds_more_sequences_than_its_users():
    """A check of the convention on the bundled corpus: the batch a point's own figures imply per decode instance
    never exceeds the users that instance serves (median 0.95 of them; the finite run and median-vs-mean TPOT
    leave a few percent either way)."""
    ratios = []
    for p in load_points(BUNDLED_MEASURED):
        c = resolve(p)
        if c.reason or (seqs := measured_decode_seqs(p, c.decode.instances)) is None:
            continue
        ratios.append(seqs / (c.users / c.decode.instances))
    assert len(ratios) > 1100 and max(ratios) < 1.05 and 0.9 < statistics.median(ratios) < 1.0


def test_input_tok_s_per_gpu_counts_the_prefill_gpus_of_a_disaggregated_point(tmp_path):
    """Prompt tokens/s per GPU: aggregated over every GPU, disaggregated over the prefill GPUs only, so in and out
    per GPU differ by the mean length ratio (and, disaggregated, decode GPUs / prefill GPUs)."""
    rows = {r["id"]: r for r in run_points(load_points(_write(tmp_path, [FULL, DISAGG])))}
    for rid, gpus_ratio in (("sglang-h200-fp8-none-1024-1024-c16-test", 1.0), ("disagg", 16 / 8)):
        m = rows[rid]["metrics"]
        ratio = m["input_tok_s_per_gpu"]["predicted"] / m["output_tok_s_per_gpu"]["predicted"]
        assert ratio == pytest.approx(gpus_ratio)  # 1024 in, 1024 out: equal lengths


def test_the_corpus_counts_input_tok_s_per_gpu_over_the_prefill_gpus():
    """The convention input_tok_s_per_gpu follows, read off the bundled corpus itself: measured input / output per
    GPU equals the mean length ratio times (disaggregated) counted GPUs / prefill GPUs, within 5%, on nearly all
    points that carry both (aggregated: every GPU both ways)."""
    ok = total = 0
    for p in load_points(BUNDLED_MEASURED):
        m, w, d = p["measured"], p["workload"], p.get("disaggregated")
        if m.get("input_tok_s_per_gpu") is None or (d and not (d.get("prefill_workers") and d.get("decode_workers"))):
            continue
        counted = (d["decode_gpus"] if m["per_gpu_counts"] == "decode" else p["gpus"]) if d else 1
        prefill = d["prefill_gpus"] if d else 1
        expected = w["input_tokens"] / w["output_tokens"] * counted / prefill
        total += 1
        ok += abs(m["input_tok_s_per_gpu"] / m["output_tok_s_per_gpu"] / expected - 1) < 0.05
    assert total > 1000 and ok / total > 0.95


def test_unrepresentable_points_are_counted_and_listed_with_the_reason(tmp_path):
    zero_drafts = {**MTP, "id": "zero-drafts", "speculative": {"method": "mtp", "num_speculative_tokens": 0}}
    rows = run_points(load_points(_write(tmp_path, [FULL, UNKNOWN_GPU, NO_WORKERS, zero_drafts])))
    s = summarize(rows)
    assert s["points"] == 4 and s["predicted"] == 1
    reasons = {u["id"]: u["reason"] for u in s["unrepresentable"]}
    assert "unknown GPU" in reasons["tpu"]
    assert "worker counts not recorded" in reasons["no-workers"]
    assert "num_speculative_tokens 0" in reasons["zero-drafts"]


@pytest.mark.parametrize(
    "bad, needle",
    [
        ("{not json", "line 2: not valid JSON"),
        (json.dumps({k: v for k, v in FULL.items() if k != "workload"}), "line 2: missing field(s) workload"),
        (json.dumps({**FULL, "measured": {**FULL["measured"], "tpot_ms": "fast"}}), "line 2: measured.tpot_ms"),
        (json.dumps({**FULL, "measured": {**FULL["measured"], "ttft_ms": float("nan")}}), "line 2: measured.ttft_ms"),
        ("[1, 2]", "line 2: expected a JSON object"),
        (json.dumps({**FULL, "gpu": None}), "line 2: gpu must be a non-empty string"),
        (json.dumps({**FULL, "gpus": 0}), "line 2: gpus must be a positive integer"),
        (json.dumps({**FULL, "layout": {**FULL["layout"], "pp": 0}}), "line 2: layout.pp must be a positive integer"),
        (json.dumps({**FULL, "layout": {**FULL["layout"], "dp": "two"}}), "line 2: layout.dp must be a positive"),
        (json.dumps({**FULL, "engine_version": 0.5}), "line 2: engine_version must be a string or null"),
    ],
)
def test_a_malformed_line_is_one_message_naming_the_line(tmp_path, bad, needle):
    p = _write(tmp_path, [FULL, bad])
    with pytest.raises(MeasuredInputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_points(p)
    r = CliRunner().invoke(cli, ["validate", str(p)])
    assert r.exit_code != 0 and needle in r.output and "Traceback" not in r.output


def test_files_are_read_by_content(tmp_path):
    j = _write(tmp_path, [FULL], name="points.json")  # JSON lines whatever the extension
    assert looks_like_measured(j)
    pub = tmp_path / "cases.jsonl"
    pub.write_text("[]")
    assert not looks_like_measured(pub)


def test_bands():
    assert [band(c) for c in (1, 8, 16, 64, 128, 512, 1024, 16384)] == [
        "1-8", "1-8", "16-64", "16-64", "128-512", "128-512", "1024+", "1024+"]  # fmt: skip


def test_cli_measured_flag_runs_the_bundled_corpus_with_json_and_plot(tmp_path):
    png = tmp_path / "v.png"
    r = CliRunner().invoke(cli, ["validate", "--measured", "--json", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert len(data["measured"]) == len(load_points(BUNDLED_MEASURED)) == 1187
    assert data["summary"]["points"] == 1187
    assert data["summary"]["predicted"] + len(data["summary"]["unrepresentable"]) == 1187
    assert {"engine", "gpu", "weights", "spec", "mode", "band"} <= set(data["summary"]["by"])
    assert png.stat().st_size > 10_000


def test_cli_table_and_worst(tmp_path):
    p = _write(tmp_path, [FULL, MTP, UNKNOWN_GPU])
    r = CliRunner().invoke(cli, ["validate", str(p), "--worst", "1"])
    assert r.exit_code == 0, r.output
    assert "2 of 3 points" in r.output and "cannot represent" in r.output and "worst 1 points" in r.output
    assert "of 1 matched pairs" in r.output


def test_no_plot_is_drawn_when_no_measured_point_could_be_predicted(tmp_path):
    r = CliRunner().invoke(cli, ["validate", str(_write(tmp_path, [UNKNOWN_GPU])), "--plot", str(tmp_path / "v.png")])
    assert r.exit_code == 0 and "plot: not drawn" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "v.png").exists()


def test_plot_without_measured_points_is_one_clear_line(tmp_path):
    r = CliRunner().invoke(cli, ["validate", "--plot", str(tmp_path / "v.png")])
    assert r.exit_code != 0 and "--plot draws measured points" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "v.png").exists()


def _simulate_closed_loop(users, rounds, servers, prefill, decode):
    """An event simulation of the benchmark's closed loop: every user's first prompt at t = 0, `servers` prefill
    servers taking prompts first come first served (`prefill` s each), then `decode` s of decoding, then the
    user's next prompt, `rounds` requests per user. Returns requests per second over the whole run."""
    import heapq

    free = [0.0] * servers  # when each prefill server is next free
    arrivals = [(0.0, u) for u in range(users)]
    heapq.heapify(arrivals)
    done = [0] * users
    end = 0.0
    while arrivals:
        t, u = heapq.heappop(arrivals)
        start = max(t, heapq.heappop(free))
        heapq.heappush(free, start + prefill)
        finish = start + prefill + decode
        done[u] += 1
        end = max(end, finish)
        if done[u] < rounds:
            heapq.heappush(arrivals, (finish, u))
    return users * rounds / end


@pytest.mark.parametrize("users, servers, prefill, decode", [
    (64, 1, 0.02, 10.0),  # light prefill load: a wave of 1.3 s against 10 s cycles
    (256, 2, 0.04, 10.0),  # a wave of half a cycle
    (512, 4, 0.08, 10.0),  # a wave of a whole cycle: the prefill side saturated
])  # fmt: skip
def test_a_finite_runs_throughput_follows_its_first_wave(users, servers, prefill, decode):
    """finite_run_factor against the simulated loop: the steady rate (users / cycle) times the factor is the run's
    measured rate to 2% (the simulation's run also saves the last prompt's prefill: a small edge the formula
    keeps)."""
    from specsize.measured import BENCHMARK_ROUNDS, finite_run_factor

    cycle = prefill + decode
    steady = users / cycle
    wave = users * prefill / servers
    simulated = _simulate_closed_loop(users, BENCHMARK_ROUNDS, servers, prefill, decode)
    assert simulated < steady  # the run measures less than the steady state
    assert steady * finite_run_factor(wave, cycle) == pytest.approx(simulated, rel=0.02)


def test_sglang_polls_for_requests_as_inferencex_blackwell_recipes_set_it():
    """InferenceX's SGLang recipes for B200 / B300 pass --scheduler-recv-interval 30 from 16 users, 10 below, 1
    with DP attention; its other recipes and engines keep every iteration."""
    from specsize.recipes import recv_interval

    assert recv_interval("sglang", "b200", 64, False) == 30
    assert recv_interval("sglang", "b300", 8, False) == 10
    assert recv_interval("sglang", "b200", 64, True) == 1
    assert recv_interval("sglang", "h200", 64, False) == 1
    assert recv_interval("trtllm", "b200", 64, False) == 1
    c = resolve({**FULL, "gpu": "b200"})
    assert c.decode.recv_interval == 30 and resolve(FULL).decode.recv_interval == 1
    assert resolve({**DISAGG, "gpu": "b200"}).decode.recv_interval == 1  # disaggregated: other recipes


def test_sglang_prefill_runs_fp8_gemms_on_deepgemm_as_srt_slurms_recipes_set_it():
    """srt-slurm's GB200 FP8 max-tpt / mid-curve recipes prefill on 8-GPU attention-DP + DeepEP workers with JIT
    DeepGEMM on: no block-scale FP8 factor there; its B200 8k1k recipes since 2026-03-12 (attention DP, EP 1) run the
    dense GEMMs on DeepGEMM and the MoE on flashinfer_trtllm; GB200's low-latency TP prefill and B200's EP 8 recipes
    keep the factor everywhere."""
    from specsize.perf import fp8_prefill_factor
    from specsize.recipes import deepgemm_prefill

    assert deepgemm_prefill("sglang", "gb200", "dp", 8, 8) == deepgemm_prefill("sglang", "gb200", "dp", 1, 8) == "all"
    assert deepgemm_prefill("sglang", "b200", "dp", 1, 8) == "dense"
    assert deepgemm_prefill("sglang", "b200", "dp", 8, 8) == ""  # 1k1k: DeepGEMM off, EP 8 flashinfer_trtllm
    assert deepgemm_prefill("sglang", "gb200", "tp", 8, 8) == ""  # low-latency: flashinfer_trtllm
    assert deepgemm_prefill("sglang", "gb200", "dp", 8, 4) == ""  # one tray
    assert deepgemm_prefill("trtllm", "gb200", "dp", 8, 8) == ""
    gb200, b200 = resolve({**DISAGG, "gpu": "gb200"}), resolve({**DISAGG, "gpu": "b200"})  # prefill: DP attention, EP 8
    assert fp8_prefill_factor(gb200.prefill.dep.machine) == 1.0
    assert fp8_prefill_factor(b200.prefill.dep.machine) < 1.0  # the fitted factor, where the recipe pays it
    b200_ep1 = resolve({**DISAGG, "gpu": "b200", "disaggregated": {**DISAGG["disaggregated"],
                        "prefill_layout": {"tp": 8, "ep": 1, "dp_attention": True}}})  # fmt: skip
    m = b200_ep1.prefill.dep.machine
    assert fp8_prefill_factor(m, routed=False) == 1.0 and fp8_prefill_factor(m) < 1.0
    assert fp8_prefill_factor(gb200.decode.dep.machine) == fp8_prefill_factor(b200.decode.dep.machine)  # decode: as was


def test_an_unversioned_dynamo_trtllm_point_takes_the_build_its_recipe_ran():
    """InferenceX's Dynamo TensorRT-LLM configs named tensorrtllm-runtime 0.5.1 (TensorRT-LLM 1.1) until 2026-01-29
    and 0.8.1 (1.2) from then on; an unversioned point of theirs takes the build its date says. On the corpus the
    unversioned GB200 FP8 runs of 2026-02-03 measure what the 0.8.1.post2 runs of 2026-02-05 do (134.3 and 134.5 tok/s
    per user at 3 users)."""
    from specsize.engine_builds import engine_generation
    from specsize.recipes import engine_version

    dynamo = {**DISAGG, "engine": "trtllm", "engine_version": None, "gpu": "b200", "date": "2026-02-03"}
    assert engine_generation("trtllm", engine_version(dynamo)) == "trtllm-1.2"
    assert engine_version({**dynamo, "date": "2025-12-12"}) is None  # 0.5.1-rc0.pre3: "trtllm"
    assert engine_version({**dynamo, "date": "2026-01-28"}) is None
    assert engine_version({**dynamo, "date": "2026-01-29T03:00:00Z"}) is not None  # H200's and B200's first day
    gb200_fp4 = {**dynamo, "gpu": "gb200", "weights": "nvfp4"}  # the one config that moved, a day later
    assert engine_version({**gb200_fp4, "date": "2026-01-29"}) is None and engine_version(gb200_fp4) is not None
    for spelling in ("2026/02/03", "Feb 3, 2026", None):  # not ISO 8601: no date, no build read
        assert engine_version({**dynamo, "date": spelling}) is None, spelling
    assert engine_version({**dynamo, "engine": "TRTLLM"}) is not None  # the engine's name in any case
    recorded = "nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2"
    assert engine_version({**dynamo, "engine_version": recorded}) == recorded  # what a point records wins
    assert engine_version({**FULL, "engine": "trtllm", "engine_version": None, "date": "2026-03-01"}) is None  # agg
    assert engine_version({**dynamo, "engine": "sglang"}) is None
    assert resolve(dynamo).decode.dep.machine.engine.name == "trtllm-1.2"
    assert resolve({**dynamo, "date": "2025-12-12"}).decode.dep.machine.engine.name == "trtllm"


def test_tensorrt_llms_disaggregated_mtp_depth_follows_each_ranks_load_as_its_recipes_set_it():
    """InferenceX's aggregated TensorRT-LLM scripts draft 1 token under attention DP and 3 without; its disaggregated
    recipes set the depth per recipe by the load of a decode rank (e.g. H100 1k1k: 231 users over 3 x DEP16, 4.8 a
    rank, mtp3; 615 over 1 x DEP16, 38 a rank, mtp2; 1,229, 77 a rank, mtp1)."""
    from specsize.recipes import mtp_draft_tokens

    assert mtp_draft_tokens("trtllm", "nvidia", True) == 1  # aggregated, attention DP
    assert mtp_draft_tokens("trtllm", "nvidia", False, 4.8) == 3  # TEP
    assert [mtp_draft_tokens("trtllm", "nvidia", True, u) for u in (4.8, 38.4, 76.8)] == [3, 2, 1]
    assert [mtp_draft_tokens("trtllm", "nvidia", True, u) for u in (24, 24.1, 64, 64.1)] == [3, 2, 2, 1]
    assert mtp_draft_tokens("sglang", "nvidia", True, 4.8) == 2  # other engines: as before
    gen = {"prefill_gpus": 16, "decode_gpus": 48, "prefill_workers": 1, "decode_workers": 3, "framework": "dynamo",
           "prefill_layout": {"tp": 16, "ep": 16, "dp_attention": True}}  # fmt: skip
    point = {**DISAGG, "engine": "trtllm", "gpu": "h100-sxm", "gpus": 64, "nodes": 8, "disaggregated": gen,
             "layout": {"tp": 16, "ep": 16, "dp_attention": True},
             "speculative": {"method": "mtp", "num_speculative_tokens": None}}  # fmt: skip
    ks = [resolve({**point, "workload": {**point["workload"], "concurrency": c}}).decode.dep.spec.k
          for c in (231, 1229, 3 * 16 * 77)]  # fmt: skip
    assert ks == [3, 2, 1]  # 4.8, 25.6 and 77 users a rank over the three workers' 48 ranks
