"""Regression guard: the planner's error on the bundled measured corpus (1,187 R1 serving points) stays where
scripts/fit_serving.py left it. The issue's targets (median |error| <= 10%, p90 <= 30%) are reached only in part:
RECORDED holds what the model does reach (README, validation section); a change to the model or its constants
that makes any of these worse by more than the slack fails here, and one that improves them should lower them."""

import pytest

from specsize.measured import BUNDLED_MEASURED, errors_of, load_points, run_points, stats, summarize

# (mode, metric): (median |error|, p90 |error|), recorded from `specsize validate --measured --json`
# Disaggregated per GPU was 0.131 at the start of this work: 0.144 once the decode pool held no more sequences than
# its KV slots (Little's law), back to 0.134 with the engines' own dispatch cost, 0.137 once MI355X's SGLang
# constants were refit to the current model. Then, in one merged refit (scripts/fit_serving.py): 28 per-GPU figures
# that contradict their own latencies (measured.per_gpu_inconsistency) listed and not scored; cross-node EP dispatch
# pays DeepEP's RDMA floor (perf.rdma_dispatch_latency) and sends only the other nodes' share over the NIC;
# TensorRT-LLM 1.2+ its own generation; an FP8 block-scale cost per layer (perf.fp8_path_overhead); attention DP's
# lone prompt prefilled on one rank (perf.dp_prefill_rank_factor); the benchmark's finite run
# (measured.first_wave_factor). Before them: agg 0.084/0.350 per GPU, 0.082/0.275 per user; disagg 0.137/0.530,
# 0.141/0.443. With the 28 scored too: agg 0.078/0.283, disagg 0.118/0.459 per GPU.
# Then attention DP over tensor-split experts (ep 1, where they split into whole weight blocks) gathers and scatters
# the group's tokens instead of an EP dispatch (perf.dp_moe_gather_time, perf.experts_tensor_split), and the MoE
# dispatch's cross-node step pays no NCCL proxy cost (perf.all_to_all_time proxy=False), refit: agg 0.076/0.239 ->
# 0.077/0.241 per GPU, 0.068/0.216 -> 0.070/0.213 per user; disagg 0.117/0.452 -> 0.105/0.438 per GPU,
# 0.129/0.403 -> 0.104/0.331 per user (SGLang's GB200 decode groups recorded with ep 1). Merged and refit once with
# the FP8 block-scale prefill factor on FP4-capable GPUs (perf.fp8_prefill_factor), every MoE layer's expert FLOPs
# on the GPU (perf.routed_flops: one layer's were counted) and a lone user's prompt that queues behind nobody
# (serving._mdl_wait): agg 0.072/0.215 per GPU, 0.064/0.204 per user; disagg 0.101/0.400, 0.103/0.313. Then
# attention DP's gather of the group's tokens however they are spread, refit (fit_serving.py --write): agg
# 0.070/0.215, 0.064/0.204; disagg 0.100/0.401, 0.099/0.314. Then the descent visits each build's subset terms (FP8,
# MTP, dispatch, TTFT) before its build-wide ones (fit_serving.DESCENT_ORDER), refit: agg 0.070/0.217, 0.067/0.207;
# disagg 0.098/0.387, 0.095/0.320. Then a decode step's dispatch and combine pay the engine's cost per token of each
# rank (EnginePerf.dispatch_token_overhead), refit: agg 0.067/0.221, 0.066/0.203; disagg 0.098/0.387, 0.097/0.305.
# Then TensorRT-LLM's attention-DP balance wait in aggregated TTFT (serving.adp_balance_wait), refit (loss 0.1416 ->
# 0.1393): agg 0.067/0.219, 0.065/0.202; disagg 0.098/0.392, 0.098/0.307. Then InferenceX's SGLang on B200 polling
# for new requests every 10 / 30 iterations (recipes.recv_interval, serving.Pool.recv_interval), refit (loss ->
# 0.1361; SGLang's fitted per-request TTFT cost 0.159 -> 0.103 s, which had stood in for the wait): agg 0.068/0.216,
# 0.067/0.205; disagg 0.103/0.391, 0.100/0.307. Then SGLang's wide-EP GB200 prefill workers on DeepGEMM, without
# the block-scale FP8 factor (recipes.deepgemm_prefill), refit (loss -> 0.1342): agg 0.069/0.225, 0.066/0.208;
# disagg 0.094/0.404, 0.096/0.304. Then B200's 8k1k recipes of 2026-03 on DeepGEMM for the dense GEMMs only
# (perf.Machine.fp8_deepgemm "dense"), refit (loss -> 0.1338): agg 0.068/0.225, 0.067/0.208; disagg 0.092/0.392,
# 0.093/0.304. Then TensorRT-LLM's builds: an unversioned Dynamo point takes the image its recipe ran
# (recipes.engine_version), TensorRT-LLM 1.2 on Hopper its own build ("trtllm-1.2-sm90"), refit (loss -> 0.1317):
# agg 0.069/0.217, 0.066/0.206; disagg 0.091/0.380, 0.081/0.304. Then TensorRT-LLM's disaggregated attention-DP MTP
# depth by each rank's load, as its recipes set it (recipes.mtp_draft_tokens), refit (loss -> 0.1312): agg
# 0.068/0.225, 0.066/0.204; disagg 0.089/0.388, 0.082/0.288. Then attention DP keeps the embedding, head, dense MLP
# and shared experts whole on every rank, as the engines and the recipes run it (sharding.shard_divisor), refit
# (loss 0.1312 -> 0.1315): agg 0.066/0.216, 0.066/0.204; disagg 0.091/0.395, 0.088/0.278. Then a lone prompt's
# non-expert FLOPs on its one rank, no logits gather under attention DP, one output head for MTP's draft step, refit
# (loss -> 0.1317): agg 0.068/0.219, 0.069/0.208; disagg 0.080/0.396, 0.083/0.283.
RECORDED = {
    ("agg", "output_tok_s_per_gpu"): (0.068, 0.219),
    ("agg", "output_tok_s_per_user"): (0.069, 0.208),
    ("disagg", "output_tok_s_per_gpu"): (0.080, 0.396),
    ("disagg", "output_tok_s_per_user"): (0.083, 0.283),
}
SLACK_MEDIAN, SLACK_P90 = 0.005, 0.02  # absolute: half a point of median, two points of p90
RECORDED_PREDICTED = 1179  # points predicted (the rest are listed with a reason)
# per-GPU figures listed as contradicting their own latencies (measured.per_gpu_inconsistency): 24 SGLang B200
# NVFP4 runs of 2025-11/12 (a fixed ~77 s in each benchmark's duration), atom-mi355x-fp8-mtp c512 (0.02x), and 3
# disaggregated points
RECORDED_INCONSISTENT = 28


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
    assert len(s["inconsistent"]) == RECORDED_INCONSISTENT
    unscored = [r for r in rows if not r["reason"] and r["metrics"]["output_tok_s_per_gpu"]["error"] is None]
    assert {r["id"] for r in unscored} == {u["id"] for u in s["inconsistent"]}  # every unscored one is listed
    assert s["mtp_sign"]["pairs"] >= 20 and s["mtp_sign"]["share"] >= 0.9  # the target: >= 90% of pairs


def test_tensorrt_llms_attention_dp_ttft_pays_its_balance_wait(rows):
    """TensorRT-LLM's aggregated attention-DP points (34, 33 of them at 64-256 users): a prompt waits for the
    group's other ranks to receive one (serving.adp_balance_wait); without that wait their TTFT came out 82% low
    (median |error| 0.82, every one of them under), with it 0.35 (0.37 after the refit that gave TensorRT-LLM 1.2 a
    Hopper build of its own and unversioned Dynamo points the image their recipe ran)."""
    errs = [r["metrics"]["ttft_ms"]["error"] for r in rows if not r["reason"] and r["engine"] == "trtllm"
            and r["mode"] == "agg" and r["layout"].get("dp_attention")]  # fmt: skip
    assert len(errs) == 34
    assert stats(errs)["median_abs"] <= 0.37 + SLACK_MEDIAN


def test_sglang_b200_ttft_pays_its_scheduler_poll_interval(rows):
    """SGLang's aggregated B200 points (186): InferenceX's recipes poll for new requests every 10 or 30 iterations
    (recipes.recv_interval); without that wait their TTFT came out 42% off (bias -30%), with it 12% (12.9% after the
    refit that moved SGLang's FP8 prefill factor 0.42 -> 0.41 with recipes.deepgemm_prefill)."""
    errs = [r["metrics"]["ttft_ms"]["error"] for r in rows if not r["reason"] and r["engine"] == "sglang"
            and r["mode"] == "agg" and r["gpu"] == "b200"]  # fmt: skip
    assert len(errs) == 186
    assert stats(errs)["median_abs"] <= 0.129 + SLACK_MEDIAN
