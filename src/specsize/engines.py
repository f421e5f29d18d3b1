"""Engine profiles: how each serving engine budgets memory and lays a model out, in one place.

Every constant here is either sourced (engine docs / source code, version named) or labelled an assumption.
One record per engine: its memory profile, its version (which launch.py's commands name: `release`) and, through
`perf`, its performance constants, which stay in perf_constants.py with the other constants and their sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from specsize.errors import CatalogError
from specsize.perf_constants import EnginePerf, engine_perf
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
    nccl_bytes: float  # communicator buffers, more than one GPU (aiconfigurator systems/*.yaml: ~350-400 MB)
    cuda_graph_bytes: float  # captured graphs (assumption: ~1 GB at default capture sizes)
    multi_node: str  # "tp": TP spans nodes | "pp": TP in node, PP across | "none": one machine only
    max_gpus: int = 1024
    offload: bool = False  # routed experts in host RAM (ktransformers; llama.cpp -ot exps=CPU)
    spec_methods: tuple[str, ...] = ("none", "mtp", "draft", "ngram", "eagle")
    version: str = ""  # the engine version the profile, the launch syntax and the constants describe
    runtime_source: str = "assumption: CUDA context and compute buffers of a local runtime"
    display: str = ""  # the engine's own name ("SGLang"), for launch commands and messages
    fraction_by_tp: Callable[[int], float] | None = None  # the fraction when the engine sets it by TP size
    # llama.cpp's family (llama.cpp and its fork ik_llama.cpp): GGUF files, -ngl, and its layer split (--split-mode
    # layer): the input embedding stays in host RAM and the output layer is one more unit of the split
    # (sharding.llamacpp_layer_split); otherwise PP stages split the layers evenly
    llamacpp_split: bool = False
    # TensorRT-LLM's attention-DP balance (attention_dp_config enable_balance, timeout_iters, batching_wait_iters 0):
    # under attention DP a rank holds its new prompts until every rank of the group has one, at most this many
    # iterations (serving.adp_balance_wait); 0: the engine schedules each rank's prompts at once
    adp_balance_timeout_iters: int = 0
    adp_balance_source: str = ""
    # attention data-parallel with expert parallelism for an MLA + MoE model (SGLang --enable-dp-attention with
    # --ep-size, vLLM --data-parallel-size with --enable-expert-parallel, TensorRT-LLM enable_attention_dp with
    # moe_expert_parallel_size; launch.py spells each): plan considers it beside attention TP (fit.candidate_layouts)
    attention_dp: bool = False

    def memory_fraction(self, tp: int) -> float:
        return self.fraction_by_tp(tp) if self.fraction_by_tp else self.fraction

    @property
    def release(self) -> str:
        """The engine and its version as launch commands name them ("SGLang 0.5")."""
        return f"{self.display or self.name} {self.version}"

    @property
    def perf(self) -> EnginePerf:
        """Its performance constants (perf_constants.ENGINE_PERF, fitted where it says so)."""
        return engine_perf(self.name)


_RUNTIME_SOURCE = "CUDA context, allocator and library workspaces: ~3.5 GB per GPU (AIConfigurator system files)"
SERVER_RUNTIME = 3.5 * GB  # ai-dynamo/aiconfigurator systems/*.yaml: "other runtime memory", ~3.5 GB per GPU

LLAMACPP = EngineProfile(
    name="llamacpp",
    display="llama.cpp",
    budget="none",
    fraction=1.0,
    fraction_source="llama.cpp allocates what it needs; no fraction",
    prefill_chunk=512,
    prefill_chunk_source="llama.cpp default -ub 512 (physical batch)",
    llamacpp_split=True,
    runtime_bytes=0.3 * GiB,
    nccl_bytes=0.0,
    cuda_graph_bytes=0.0,
    multi_node="none",
    max_gpus=8,
    spec_methods=("none", "draft", "ngram"),
    version="b6000",
)

# llama.cpp's fork for R1 on a GPU and a big-RAM CPU: llama.cpp's memory profile and layer split
IK_LLAMACPP = replace(
    LLAMACPP,
    name="ik_llamacpp",
    display="ik_llama.cpp",
    fraction_source="ik_llama.cpp (llama.cpp's fork) allocates what it needs; no fraction",
    prefill_chunk_source="ik_llama.cpp default -ub 512 (physical batch), as llama.cpp",
    spec_methods=("none",),  # assumption: plain decoding only (its llama-server's draft-model support not checked)
    version="8337e4cd",  # 2026-08-15: the launch syntax (its CPU rate: a figure of f2fb15de, perf_constants.py)
)

ENGINES: dict[str, EngineProfile] = {
    e.name: e
    for e in (
        EngineProfile(
            name="vllm",
            display="vLLM",
            budget="total",
            fraction=0.90,
            fraction_source="vLLM --gpu-memory-utilization default 0.9",
            prefill_chunk=8192,
            prefill_chunk_source="vLLM V1 OpenAI server default max_num_batched_tokens on datacenter GPUs",
            runtime_bytes=SERVER_RUNTIME,
            nccl_bytes=0.4 * GB,
            cuda_graph_bytes=1.0 * GB,
            multi_node="pp",
            version="0.11",
            attention_dp=True,
        ),
        EngineProfile(
            name="sglang",
            display="SGLang",
            budget="static",
            fraction=0.0,
            fraction_source="SGLang mem_fraction_static default by TP size (server_args.py)",
            fraction_by_tp=sglang_mem_fraction_static,
            prefill_chunk=8192,
            prefill_chunk_source="SGLang --chunked-prefill-size default 8192",
            runtime_bytes=SERVER_RUNTIME,
            nccl_bytes=0.4 * GB,
            cuda_graph_bytes=1.0 * GB,
            multi_node="tp",
            version="0.5",
            attention_dp=True,
        ),
        EngineProfile(
            name="trtllm",
            display="TensorRT-LLM",
            budget="kv_of_free",
            fraction=0.90,
            fraction_source="TensorRT-LLM KvCacheConfig.free_gpu_memory_fraction default 0.9",
            prefill_chunk=8192,
            prefill_chunk_source="TensorRT-LLM max_num_tokens default 8192",
            runtime_bytes=SERVER_RUNTIME,
            nccl_bytes=0.4 * GB,
            cuda_graph_bytes=1.0 * GB,
            multi_node="pp",
            spec_methods=("none", "mtp", "draft", "ngram", "eagle"),
            version="1.2",
            attention_dp=True,
            runtime_source=_RUNTIME_SOURCE,
            adp_balance_timeout_iters=60,
            adp_balance_source="InferenceX's TensorRT-LLM recipes with attention DP set attention_dp_config "
            "{enable_balance: true, timeout_iters: 60, batching_wait_iters: 0} (benchmarks/single_node/"
            "fixed_seq_len/dsr1_fp8_b200_trt.sh and its siblings); the launch command sets the same",
        ),
        EngineProfile(
            name="atom",
            display="ATOM",
            budget="total",
            fraction=0.90,
            fraction_source="assumption: ATOM (ROCm/ATOM, AMD's AITER-based engine) follows vLLM's "
            "gpu_memory_utilization 0.9",
            prefill_chunk=8192,
            prefill_chunk_source="assumption: vLLM's default max_num_batched_tokens",
            runtime_bytes=SERVER_RUNTIME,
            nccl_bytes=0.4 * GB,
            cuda_graph_bytes=1.0 * GB,
            multi_node="none",
            max_gpus=8,
            spec_methods=("none", "mtp"),
            version="0.1",
        ),
        LLAMACPP,
        IK_LLAMACPP,
        EngineProfile(
            name="ktransformers",
            display="ktransformers",
            budget="none",
            fraction=1.0,
            fraction_source="ktransformers: no fraction",
            prefill_chunk=512,
            prefill_chunk_source="assumption: chunk of 512 tokens",
            runtime_bytes=0.3 * GiB,
            nccl_bytes=0.0,
            cuda_graph_bytes=0.0,
            multi_node="none",
            max_gpus=1,
            offload=True,
            spec_methods=("none", "mtp"),
            version="0.2",
        ),
        EngineProfile(
            name="mlx",
            display="MLX",
            budget="none",
            fraction=1.0,
            fraction_source="MLX: bounded by the GPU wired-memory limit instead",
            prefill_chunk=512,
            prefill_chunk_source="mlx-lm default prefill step 512",
            runtime_bytes=0.5 * GiB,
            nccl_bytes=0.0,
            cuda_graph_bytes=0.0,
            multi_node="none",
            max_gpus=1,
            spec_methods=("none", "draft"),
            version="0.26",
        ),
        EngineProfile(
            name="specsize",
            display="specsize",
            budget="none",
            fraction=1.0,
            fraction_source="specsize's own engine: static cache, no fraction",
            prefill_chunk=512,
            prefill_chunk_source="specsize prefill in one step (assumption: 512-token chunks)",
            runtime_bytes=0.5 * GiB,
            nccl_bytes=0.0,
            cuda_graph_bytes=0.0,
            multi_node="none",
            max_gpus=1,
            version="0.1",
        ),
    )
}


def is_llamacpp(engine: str) -> bool:
    """llama.cpp or its fork ik_llama.cpp: GGUF weights, -ngl, the layer split (EngineProfile.llamacpp_split)."""
    return get_engine(engine).llamacpp_split


def get_engine(name: str) -> EngineProfile:
    try:
        return ENGINES[str(name).lower()]
    except KeyError:
        raise CatalogError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}") from None
