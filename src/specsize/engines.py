"""Engine profiles: how each serving engine budgets memory and lays a model out, in one place.

Every constant here is either sourced (engine docs / source code, version named) or labelled an assumption.
The performance constants of each engine (efficiencies, per-step overheads) live in perf_constants.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from specsize.errors import CatalogError
from specsize.units import GB, GiB


def sglang_mem_fraction_static(tp: int) -> float:
    """SGLang's default mem_fraction_static by TP size (python/sglang/srt/server_args.py, v0.4.x):
    0.79 for tp >= 16, 0.81 for tp >= 8, 0.85 for tp >= 4, 0.87 for tp >= 2, else 0.88."""
    if tp >= 16:
        return 0.79
    if tp >= 8:
        return 0.81
    if tp >= 4:
        return 0.85
    if tp >= 2:
        return 0.87
    return 0.88


@dataclass(frozen=True)
class EngineProfile:
    name: str
    # How the engine's memory fraction is applied:
    #   "static": weights + KV pool <= fraction x memory; activations and graphs live in the rest (SGLang)
    #   "total": weights + KV + activations + runtime <= fraction x memory; graphs in the rest (vLLM)
    #   "kv_of_free": KV = fraction x (memory left after weights and runtime) (TensorRT-LLM)
    #   "none": everything must fit in memory (llama.cpp, ktransformers, MLX: the wired limit instead)
    budget: str
    fraction: float  # vLLM gpu_memory_utilization, TRT-LLM free_gpu_memory_fraction; SGLang: by TP (above)
    fraction_source: str
    prefill_chunk: int  # tokens per prefill step (vLLM max_num_batched_tokens, SGLang chunked_prefill_size)
    prefill_chunk_source: str
    runtime_bytes: float  # CUDA context, allocator slack, library workspaces (servers: sourced; local: assumption)
    nccl_bytes: float  # communicator buffers when more than one GPU (reference/hardware.md: ~350-400 MB)
    cuda_graph_bytes: float  # captured graphs (assumption: ~1 GB at default capture sizes)
    multi_node: str  # "tp": TP spans nodes | "pp": TP in node, PP across | "none": one machine only
    max_gpus: int = 1024
    offload: bool = False  # routed experts in host RAM (ktransformers; llama.cpp -ot exps=CPU)
    spec_methods: tuple[str, ...] = ("none", "mtp", "draft", "ngram", "eagle")
    version: str = ""
    runtime_source: str = "assumption: CUDA context and compute buffers of a local runtime"

    def memory_fraction(self, tp: int) -> float:
        return sglang_mem_fraction_static(tp) if self.name == "sglang" else self.fraction


_RUNTIME_SOURCE = "CUDA context, allocator and library workspaces: ~3.5 GB per GPU (AIConfigurator system files)"
SERVER_RUNTIME = 3.5 * GB  # ai-dynamo/aiconfigurator systems/*.yaml "other runtime memory" (reference/hardware.md)

ENGINES: dict[str, EngineProfile] = {
    e.name: e
    for e in (
        EngineProfile(
            "vllm",
            "total",
            0.90,
            "vLLM --gpu-memory-utilization default 0.9",
            8192,
            "vLLM V1 OpenAI server default max_num_batched_tokens on datacenter GPUs",
            SERVER_RUNTIME,
            0.4 * GB,
            1.0 * GB,
            "pp",
            version="0.11",
        ),
        EngineProfile(
            "sglang",
            "static",
            0.0,
            "SGLang mem_fraction_static default by TP size (server_args.py)",
            8192,
            "SGLang --chunked-prefill-size default 8192",
            SERVER_RUNTIME,
            0.4 * GB,
            1.0 * GB,
            "tp",
            version="0.5",
        ),
        EngineProfile(
            "trtllm",
            "kv_of_free",
            0.90,
            "TensorRT-LLM KvCacheConfig.free_gpu_memory_fraction default 0.9",
            8192,
            "TensorRT-LLM max_num_tokens default 8192",
            SERVER_RUNTIME,
            0.4 * GB,
            1.0 * GB,
            "pp",
            spec_methods=("none", "mtp", "draft", "ngram", "eagle"),
            version="1.0",
            runtime_source=_RUNTIME_SOURCE,
        ),
        EngineProfile(
            "atom",
            "total",
            0.90,
            "assumption: ATOM (ROCm/ATOM, AMD's AITER-based engine) follows vLLM's gpu_memory_utilization 0.9",
            8192,
            "assumption: vLLM's default max_num_batched_tokens",
            SERVER_RUNTIME,
            0.4 * GB,
            1.0 * GB,
            "none",
            max_gpus=8,
            spec_methods=("none", "mtp"),
            version="0.1",
        ),
        EngineProfile(
            "llamacpp",
            "none",
            1.0,
            "llama.cpp allocates what it needs; no fraction",
            512,
            "llama.cpp default -ub 512 (physical batch)",
            0.3 * GiB,
            0.0,
            0.0,
            "none",
            max_gpus=8,
            spec_methods=("none", "draft", "ngram"),
            version="b6000",
        ),
        EngineProfile(
            "ktransformers",
            "none",
            1.0,
            "ktransformers: no fraction",
            512,
            "assumption: chunk of 512 tokens",
            0.3 * GiB,
            0.0,
            0.0,
            "none",
            max_gpus=1,
            offload=True,
            spec_methods=("none", "mtp"),
            version="0.2",
        ),
        EngineProfile(
            "mlx",
            "none",
            1.0,
            "MLX: bounded by the GPU wired-memory limit instead",
            512,
            "mlx-lm default prefill step 512",
            0.5 * GiB,
            0.0,
            0.0,
            "none",
            max_gpus=1,
            spec_methods=("none", "draft"),
            version="0.26",
        ),
        EngineProfile(
            "specsize",
            "none",
            1.0,
            "specsize's own engine: static cache, no fraction",
            512,
            "specsize prefill in one step (assumption: 512-token chunks)",
            0.5 * GiB,
            0.0,
            0.0,
            "none",
            max_gpus=1,
            version="0.1",
        ),
    )
}


def get_engine(name: str) -> EngineProfile:
    try:
        return ENGINES[name.lower()]
    except KeyError:
        raise CatalogError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}") from None
