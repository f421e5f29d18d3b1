"""What a measured point's benchmark ran that the format does not record, read off the sources' recipes
(docs/measured-format.md, "How specsize reads a point"): the MTP draft length, the KV cache's dtype, SGLang's poll
interval for new requests, the FP8 GEMMs SGLang's Blackwell prefill workers run on DeepGEMM, the engine build of a
point that names none, and MTP's acceptance on the benchmark's random-token prompts. measured.resolve applies them;
`plan` never does (its own launch commands set what it assumes)."""

from __future__ import annotations

from datetime import date

from specsize.perf_constants import MTP_ACCEPTANCE_DECAY, MTP_RANDOM_FIRST_ACCEPTANCE

# TensorRT-LLM's disaggregated recipes (NVIDIA/srt-slurm recipes/trtllm/*, as InferenceX's dynamo-trt configs name
# them, e.g. h100-fp8/1k1k/mtp/ctx1_gen3_dep16_batch4_eplb0_mtp3.yaml) set the MTP depth per recipe, not by attention
# DP as InferenceX's aggregated scripts do: TEP decode workers draft 3 (one H200 8k1k recipe 2), attention-DP ones by
# the load of a rank, concurrency / (decode workers x ranks). Read off the 25 DEP recipes (26 concurrencies) that the
# configs of 2026-01-31 and 2026-03-25 name for B200, GB200, H200 and H100: up to 24 users a rank, 3 drafts in 10 of
# 12 (an H200 8k1k pair: 2); past 64, 1 in 8 of 10 (3 and 2 once each); between, 1 twice, 2 twice, 3 once: 2.
MTP_DEEP_MAX_USERS_PER_RANK = 24  # up to here: 3 drafts
MTP_MIDDLE_MAX_USERS_PER_RANK = 64  # up to here: 2 drafts; past it: 1


def mtp_draft_tokens(engine: str, vendor: str, dp_attention: bool, users_per_rank: float | None = None) -> int:
    """InferenceX's MTP settings (measured README): SGLang on NVIDIA 2 draft tokens, on AMD 3; TensorRT-LLM 3
    MTP layers, 1 with attention DP (its aggregated scripts); ATOM 3. users_per_rank: a disaggregated decode worker's
    users per attention rank, where TensorRT-LLM's recipes set the depth by load (above)."""
    if engine == "sglang":
        return 2 if vendor == "nvidia" else 3
    if engine == "trtllm":
        if not dp_attention:
            return 3
        if users_per_rank is None:
            return 1
        if users_per_rank <= MTP_DEEP_MAX_USERS_PER_RANK:
            return 3
        return 2 if users_per_rank <= MTP_MIDDLE_MAX_USERS_PER_RANK else 1
    return 3


# InferenceX's SGLang recipes for Blackwell (benchmarks/dsr1_fp{4,8}_b200*.sh since 2025-09-21, b300 likewise; their
# GB200 / GB300 runs are disaggregated, on other recipes) pass --scheduler-recv-interval 30 from 16 users, 10 below,
# and 1 under DP attention (SGLang's SchedulerRecvSkipper: no skipping with DP attention); its H200 and AMD recipes
# leave SGLang's default, 1 (every iteration).
RECV_INTERVAL_GPUS = ("b200", "b300")


def recv_interval(engine: str, gpu: str, users: int, dp_attention: bool) -> int:
    """Decode iterations between an aggregated instance's polls for new requests, as the point's recipe sets them
    (serving.Pool.recv_interval): InferenceX's SGLang on B200 / B300 (above), else every iteration."""
    if engine != "sglang" or gpu not in RECV_INTERVAL_GPUS or dp_attention:
        return 1
    return 30 if users >= 16 else 10


# Which of DeepSeek's block-scaled FP8 GEMMs SGLang's disaggregated prefill workers run on DeepGEMM, as
# NVIDIA/srt-slurm's recipes (which InferenceX's runs check out) set them:
# - GB200 FP8 max-tpt / mid-curve / ultra-tpt (recipes/gb200-fp8/*): workers of 8 GPUs, DP attention, EP over DeepEP
#   (`moe-a2a-backend: deepep`, `deepep-mode: normal`), SGLANG_ENABLE_JIT_DEEPGEMM never false: all of them, the MoE's
#   grouped GEMMs too. The corpus records some of these workers as `ep: 1`, so EP is not checked.
# - B200 FP8 8k1k since srt-slurm 9fe6c373 (2026-03-12; recipes/b200-fp8/8k1k*.yaml): DP attention with EP 1, DeepGEMM
#   no longer turned off, the MoE on `moe-runner-backend: flashinfer_trtllm`: the dense GEMMs only.
# - Neither: GB200's low-latency recipes (TP prefill on flashinfer_trtllm), B200's 1k1k and earlier ones
#   (SGLANG_ENABLE_JIT_DEEPGEMM=false, EP 8 on flashinfer_trtllm).
DEEPGEMM_MIN_GPUS = 8  # one B200 node; two GB200 trays (the low-latency recipes: TP, or one tray)


def deepgemm_prefill(engine: str, gpu: str, attention: str, ep: int, gpus: int) -> str:
    """Which FP8 GEMMs a disaggregated prefill worker's recipe runs on DeepGEMM (perf.Machine.fp8_deepgemm: "all",
    "dense" or ""), by the rules above."""
    if engine != "sglang" or attention != "dp" or gpus < DEEPGEMM_MIN_GPUS:
        return ""
    if gpu == "gb200":
        return "all"
    return "dense" if gpu == "b200" and ep == 1 else ""


# The engine build of an InferenceX point that records no engine_version, where its recipe's image says which one ran.
# Only Dynamo's TensorRT-LLM runs need it: InferenceX's dynamo-trt configs (.github/configs/nvidia-master.yaml) named
# tensorrtllm-runtime:0.5.1-rc0.pre3 (TensorRT-LLM 1.1, "trtllm") until 2026-01-29, 0.8.1.post1-post3 (TensorRT-LLM
# 1.2) from then on: dsr1-fp8-h200-dynamo-trt (d7a6d4e70) and dsr1-fp4-b200-dynamo-trt (efe2f531c) were added on
# 2026-01-29, dsr1-fp8-gb200 on 02-03 (daa8239f7), dsr1-fp8-b200 on 02-10 (d3f037578), each on 0.8.1, and
# dsr1-fp4-gb200, the one config of 0.5.1, moved to 0.8.1 on 2026-01-30 (4e9a376bf). Unversioned aggregated
# TensorRT-LLM points (2025-11/12) ran release:1.1.0rc2.post2, "trtllm" as they are.
DYNAMO_TRTLLM_08_FROM = date(2026, 1, 29)
DYNAMO_TRTLLM_08_FROM_BY_CONFIG = {("gb200", "nvfp4"): date(2026, 1, 30)}  # (gpu, weights): a config that moved
DYNAMO_TRTLLM_08_IMAGE = "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1"


def point_date(point: dict) -> date | None:
    """A point's date (its first ten characters, ISO 8601), or None where it has none or another spelling."""
    try:
        return date.fromisoformat(str(point.get("date") or "")[:10])
    except ValueError:
        return None


def engine_version(point: dict) -> str | None:
    """The engine_version a measured point records, else the image its recipe ran where that is known (above): an
    undated point, or one dated in another spelling, keeps none."""
    if (version := point.get("engine_version")) is not None:
        return version
    if str(point.get("engine", "")).lower() != "trtllm":
        return None
    if str((point.get("disaggregated") or {}).get("framework", "")).lower() != "dynamo":
        return None
    when = point_date(point)
    first = DYNAMO_TRTLLM_08_FROM_BY_CONFIG.get((point.get("gpu"), point.get("weights")), DYNAMO_TRTLLM_08_FROM)
    return DYNAMO_TRTLLM_08_IMAGE if when is not None and when >= first else None


def default_kv(engine: str) -> str:
    """kv_cache null: the engine's default for that deployment. TensorRT-LLM's InferenceX configs cache KV in
    FP8 (kv_cache_config dtype fp8, assumption read off the recipes); SGLang, vLLM and ATOM keep MLA's latent
    in BF16 by default."""
    return "fp8" if engine == "trtllm" else "bf16"


def random_token_acceptance(k: int) -> tuple[float, ...]:
    """MTP's acceptance per draft position on the benchmark's random-token prompts: the fitted first-draft rate,
    decaying per position as on text (perf_constants)."""
    return tuple(MTP_RANDOM_FIRST_ACCEPTANCE * MTP_ACCEPTANCE_DECAY**i for i in range(k))
