"""What a measured point's benchmark ran that the format does not record, read off the sources' recipes
(docs/measured-format.md, "How specsize reads a point"): the MTP draft length, the KV cache's dtype, SGLang's poll
interval for new requests, and MTP's acceptance on the benchmark's random-token prompts. measured.resolve applies
them; `plan` never does (its own launch commands set what it assumes)."""

from __future__ import annotations

from specsize.perf_constants import MTP_ACCEPTANCE_DECAY, MTP_RANDOM_FIRST_ACCEPTANCE


def mtp_draft_tokens(engine: str, vendor: str, dp_attention: bool) -> int:
    """InferenceX's MTP settings (measured README): SGLang on NVIDIA 2 draft tokens, on AMD 3; TensorRT-LLM 3
    MTP layers, 1 with attention DP; ATOM 3."""
    if engine == "sglang":
        return 2 if vendor == "nvidia" else 3
    if engine == "trtllm":
        return 1 if dp_attention else 3
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


def default_kv(engine: str, weights: str) -> str:
    """kv_cache null: the engine's default for that deployment. TensorRT-LLM's InferenceX configs cache KV in
    FP8 (kv_cache_config dtype fp8, assumption read off the recipes); SGLang, vLLM and ATOM keep MLA's latent
    in BF16 by default."""
    return "fp8" if engine == "trtllm" else "bf16"


def random_token_acceptance(k: int) -> tuple[float, ...]:
    """MTP's acceptance per draft position on the benchmark's random-token prompts: the fitted first-draft rate,
    decaying per position as on text (perf_constants)."""
    return tuple(MTP_RANDOM_FIRST_ACCEPTANCE * MTP_ACCEPTANCE_DECAY**i for i in range(k))
