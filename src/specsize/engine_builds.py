"""Which engine build's constants (perf_constants.ENGINE_PERF) a deployment uses: by the engine version a measured
point names (its generation), else by the engine and the GPU's vendor and architecture, falling back to the nearest
relative with constants for a build the corpus lacks. `plan`, `validate` and scripts/fit_serving.py (and its
leave-one-GPU-type-out refits) all choose by these rules."""

from __future__ import annotations

import re
from functools import cache

from specsize import perf_constants as pc
from specsize.perf_constants import EnginePerf


def engine_perf_for(name: str, version: str | None = None, vendor: str | None = None, arch: str = "") -> EnginePerf:
    """The constants of one engine generation: ENGINE_GENERATIONS, by the version engine_version names
    (engine_generation), on the GPU's architecture where the generation has a build of its own for it
    ("trtllm-1.2-sm90": TensorRT-LLM 1.2 on Hopper), else the engine's build for the GPU (SGLang's ROCm build runs
    AMD's kernels, and ships per GPU architecture: "sglang-rocm-gfx950" for MI355X); each falls back to its nearest
    relative with constants (nearest_build: "trtllm-1.2" on Blackwell, "sglang-rocm" for an AMD architecture the
    corpus lacks), else the engine's constants."""
    if generation := engine_generation(name, version):
        build = f"{generation}-{arch}" if arch else generation
    else:
        build = f"{name}-rocm-{arch}" if vendor == "amd" else name
    return pc.ENGINE_PERF[nearest_build(build, pc.ENGINE_PERF)]


# An engine build without fitted constants of its own takes its nearest relative's: a GPU architecture the corpus
# lacks (SGLang's per-architecture ROCm build -> its generic ROCm build), or a build that only the GPU left out by
# scripts/fit_serving.py --logo exercises (ATOM and SGLang's gfx950 build exist only on MI355X). The nearest
# relative is the build's name without its last "-" part: the same engine's build for the same vendor's other
# architecture ("sglang-rocm-gfx950" -> "sglang-rocm"), its CUDA build ("sglang-rocm" -> "sglang"), its earlier
# generation ("trtllm-1.2" -> "trtllm"); BUILD_FALLBACK names the exceptions: ATOM (AMD's engine on AITER kernels)
# -> SGLang's ROCm build (AITER's MoE/MLA kernels too; assumption).
BUILD_FALLBACK: dict[str, str] = {"atom": "sglang-rocm"}


def parent_build(name: str) -> str | None:
    """The nearest relative of an engine build (the rule above), None for an engine's own build."""
    return BUILD_FALLBACK.get(name) or (name.rsplit("-", 1)[0] if "-" in name else None)


def nearest_build(name: str, known) -> str:
    """The first build of the chain of parent_build from `name` that is in `known` (`name` itself if it is, or if
    none is)."""
    build = name
    while build is not None and build not in known:
        build = parent_build(build)
    return build if build is not None else name


# Engine generations whose behaviour changed enough to need their own constants: (a pattern whose two groups are the
# major and minor version the engine_version string names, the first version of the generation, the first version
# after it or None, the perf_constants.ENGINE_PERF entry); first match wins, and a version no range holds (a later
# build: the corpus ends in 2026-06) takes the engine's build for the GPU. SGLang before 0.5 and vLLM before 0.8
# (early 2025, dstack's runs: before the DeepSeek kernels of SGLang 0.5 and vLLM 0.8+ - FlashMLA, DeepGEMM, fused
# MoE) are their own generations. The current vLLM has no point in the corpus: it takes SGLang's fitted constants
# (assumption: the same class of Python scheduler and CUDA-graph runtime on the same kernels).
# TensorRT-LLM 1.2 and later (2026): on the same setups its FP8 decode runs 1.4-1.7x faster at 4 users than 1.1's
# (release:1.1.0rc2.post2, and the unversioned InferenceX runs of 2025-11/12 that measure the same), while its NVFP4
# barely moves. Dynamo's tensorrtllm-runtime images name Dynamo's version: 0.7.x-0.8.x ship TensorRT-LLM
# 1.2.0rc2-rc6, 0.9.0 ships 1.3.0rc1 (ai-dynamo/dynamo docs, reference/release-artifacts.md), so 0.7 and later are
# 1.2 and later; 0.6.x and earlier (1.1 and before) and unversioned points keep "trtllm" (recipes.engine_version
# names the image of an unversioned Dynamo point where InferenceX's configs say which one ran).
# Those gains are Blackwell's: on Hopper the corpus's 1.2 runs (Dynamo 0.8.1 on H200 and H100, 2026-01..03) decode at
# the speed 1.1's constants predict, and its 1.3 runs on H200 (release:1.3.0rc14, 2026-05) measure 1.05-1.17x 1.1's
# on the same setups (TP8 EP8, 4-256 users), where B200's FP8 moves 1.4-1.7x; so 1.2 has a build of its own for
# Hopper ("trtllm-1.2-sm90", fitted on those runs) and Blackwell keeps "trtllm-1.2". An architecture with no build of
# its own (Ampere, Ada, the RTX Blackwell parts: no 1.2 point in the corpus) takes the generation's, Blackwell-fitted
# constants (assumption).
ENGINE_GENERATIONS: dict[str, tuple[tuple[str, tuple[int, int], tuple[int, int] | None, str], ...]] = {
    # "SGLang 0.4.3.post2", "lmsysorg/sglang:v0.5.12-cu130", "rocm/sgl-dev:sglang-0.5.9-...", "sglang-rocm:v0.5.10",
    # "sglang==0.4.6"; not Dynamo's "sglang-runtime:0.7.0" (Dynamo's version: the current build)
    "sglang": ((r"sglang(?:-rocm)?[\s:=_/v-]{0,3}(\d+)\.(\d+)", (0, 0), (0, 5), "sglang-0.4"),),
    # "vLLM 0.7.3.dev138+g21f6ca217", "vllm/vllm-openai:v0.11.0", "rocm/vllm:rocm6.3.1_instinct_vllm0.7.3_...";
    # not Dynamo's "vllm-runtime:0.6.1" (Dynamo's version; it ships vLLM 0.11: the current build)
    "vllm": ((r"vllm(?:-openai)?[\s:=_/v-]{0,3}(\d+)\.(\d+)", (0, 0), (0, 8), "vllm-0.7"),),
    # "nvcr.io/nvidia/tensorrt-llm/release:1.2.0rc6.post2", "tensorrt-llm/devel:1.2.0", "TensorRT-LLM 0.17.post1",
    # "TRT-LLM v1.2.0", "tensorrt_llm==1.3.0"; Dynamo's "...tensorrtllm-runtime:0.8.1" names Dynamo's version (above)
    "trtllm": (
        (r"(?:tensorrt[-_]llm|trt-?llm)(?:/release|/devel)?[\s:=_/v-]{0,3}(\d+)\.(\d+)", (1, 2), None, "trtllm-1.2"),
        (r"tensorrtllm-runtime:(\d+)\.(\d+)", (0, 7), None, "trtllm-1.2"),
    ),
}


@cache
def engine_generation(name: str, version: str | None) -> str | None:
    """The ENGINE_GENERATIONS entry whose version range holds the version an engine_version string names (matched
    without regard to case), None when none does or there is no version. Cached: measured.resolve asks it for every
    point on every fit pass, and the table does not change."""
    for pattern, first, after, generation in ENGINE_GENERATIONS.get(name, ()) if version else ():
        if (m := re.search(pattern, version, re.IGNORECASE)) is None:
            continue
        v = (int(m[1]), int(m[2]))
        if first <= v and (after is None or v < after):
            return generation
    return None
