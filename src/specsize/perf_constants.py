"""Every constant of the performance model, in one place, each with its source, "assumption", or
"fitted to" and what it was fitted to.

Fitted: the serving engines' constants (FITTED_SERVING: ten per engine build) and six serving-wide ones
(MTP_RANDOM_FIRST_ACCEPTANCE, PREFILL_QUEUE_FACTOR, DISAGG_HANDOFF, INTER_NODE_STEP_LATENCY,
EP_DISPATCH_LATENCY_PER_DOUBLING, RDMA_DISPATCH_LATENCY) to the measured corpus
(catalog/validation/measured/tuning.jsonl) by scripts/fit_serving.py (--write puts them here); by
scripts/fit_perf_constants.py, the local runtimes' expert-bandwidth efficiency (two published figures), llama.cpp's
GPU constants (46 llama-bench figures), its CPU rate per core and PCIe copy efficiency (R1/V3 hybrid figures).
Everything else is a datasheet figure, a sourced measurement or an assumption.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

US = 1e-6
MS = 1e-3

# --- hardware efficiencies (physical; not fitted) ------------------------------------------------------------
HBM_EFFICIENCY = 0.80  # assumption: memory-bound GEMV/grouped-GEMM kernels reach 75-90% of datasheet bandwidth
COMPUTE_EFFICIENCY = 0.55  # assumption: achieved tensor-core utilisation of serving matmuls (MFU 0.5-0.6)
COLLECTIVE_LATENCY = 5 * US  # assumption: software cost of one small one-shot all-reduce on top of the wire
# NCCL proxy + network stack per inter-node step (small messages): fitted to the corpus's multi-node points
# (scripts/fit_serving.py; 20 us was the assumption before).
INTER_NODE_STEP_LATENCY = 40.48 * US
# One MoE dispatch or combine across an attention-DP / EP group costs a software floor growing with the group
# (DeepEP's RDMA low-latency kernels: 77 -> 192 us from EP 8 to 128, deepseek-ai/DeepEP README); per doubling of the
# group, fitted to the corpus (scripts/fit_serving.py): it wants a far smaller floor than DeepEP's RDMA figures
# (NVLink inside a node or an NVL72 domain; the engines overlap dispatch with compute).
EP_DISPATCH_LATENCY_PER_DOUBLING = 4.438 * US
# One MoE dispatch or combine whose EP group spans nodes over NICs (not one NVLink domain) pays the RDMA kernels'
# floor on top: DeepEP's low-latency mode sends every token over RDMA (its README: dispatch 118 us, combine 195 us at
# EP 16 on H800 + CX7 400 Gb/s, 128 tokens per rank; (118 + 195) / 2 is the fit's start). Fitted to the corpus's
# cross-node attention-DP points (scripts/fit_serving.py).
RDMA_DISPATCH_LATENCY = 97.81 * US
# Elements of the routed experts' intermediate dimension one weight-scale block spans, which a tensor split over
# ranks must keep whole (perf.experts_tensor_split): DeepSeek FP8's 128 x 128 blocks (config.json
# quantization_config.weight_block_size), NVFP4's 16-element scale groups (NVIDIA TensorRT Model Optimizer docs),
# MXFP4's 32-element blocks (OCP Microscaling spec v1.0).
EXPERT_SPLIT_BLOCK = {"fp8": 128, "nvfp4": 16, "mxfp4": 32}
# Bytes/s standing for "no link to cross" (one GPU; a group without a named link): large enough that the transfer
# term vanishes next to any real link's (a convention, not a measurement).
NO_LINK_BANDWIDTH = 1e12
PCIE_TOKEN_HANDOFF = 10 * US  # assumption: one host <-> GPU hop of activations in CPU/GPU hybrid serving

# --- serving steady state (serving.py) ------------------------------------------------------------------------
KV_TRANSFER_EFFICIENCY = 0.5  # assumption: NIXL/Mooncake/MoRI reach about half the NIC's line rate per GPU
DISAGG_HANDOFF = 0.2048  # s per request: the prefill -> decode hand-off (router, bootstrap, KV-transfer setup); fitted
# The closed loop's arrivals are bursty: users that started together finish together (output lengths within
# [0.8 L, L]), so prompts arrive in waves and wait longer than a Poisson (M/D/1) queue says. Fitted multiplier.
PREFILL_QUEUE_FACTOR = 4.096

# --- MoE routing ------------------------------------------------------------------------------------------------
# Consecutive tokens of one sequence do not route independently. Model: q tokens of one sequence touch the
# experts that n_eff = 1 + c (q - 1) independent tokens would (different sequences are independent).
# c = 0.52 reproduces the measured ~2.5x unique expert weights for 4 tokens where uniform routing gives 3.8x
# on DeepSeek-V3 (a production study the project's reference notes cite without naming it: an anchor, not a
# checked figure).
ROUTING_CORRELATION = 0.52

# --- acceptance defaults (per-position conditional rates) -------------------------------------------------------
# MTP: 85% for the first draft (DeepSeek-V3 report §5.4.3: 85-90%; vLLM PR #12755 measured 81-82%). Later
# positions reuse the one module trained one step ahead, so acceptance decays geometrically: decay 0.856
# reproduces the original R1/V3 MTP's mean acceptance length 3.20 at k = 7, temperature 0 (nebius/MTP-DeepSeek-
# V3-0324 model card, MT-bench + HumanEval + GSM8K).
MTP_FIRST_ACCEPTANCE = 0.85
MTP_ACCEPTANCE_DECAY = 0.856
# A separate draft model of the same family (assumption: Leviathan et al. 2023 Table 2 measured 0.75 for
# T5-small drafting T5-XXL; R1-Distill models share the target's data, not its weights).
DRAFT_ACCEPTANCE = 0.75
# EAGLE head: per-position 0.80 (assumption, EAGLE-2 paper Table 1 reports acceptance lengths of 4-5 for chains)
EAGLE_ACCEPTANCE = 0.80
# n-gram prompt lookup: acceptance equals the share of the output that repeats the input (workload parameter);
# default 0.3 (assumption: chat; 2-4x speedups on summarisation/code edits imply 0.6-0.8).
NGRAM_REPEAT_FRACTION = 0.3
# Random-token prompts (the serving benchmarks' load): the MTP module predicts the next token of a model that
# is itself continuing noise, so its first draft is accepted less often than on text. Fitted (see below).
MTP_RANDOM_FIRST_ACCEPTANCE = 0.6748  # fitted to the measured corpus's MTP points (scripts/fit_serving.py)
MAX_K = 8  # largest k searched for the optimum (vLLM and SGLang users rarely go past 5-8)


@dataclass(frozen=True)
class EnginePerf:
    """How close an engine gets to the roofline and what it costs per step on top of it.

    step_overhead: scheduling, sampling, input preparation per engine step (s);
    layer_overhead: per decoder layer per step with CUDA graphs (kernel floors, launch gaps) (s);
    moe_token_overhead: per token per MoE layer per decode step (routing, permutation, small grouped GEMMs) (s);
    bw_efficiency: multiplies HBM_EFFICIENCY for engines that stream expert weights less efficiently;
    eager_penalty: extra per-layer cost without CUDA graphs (kernel launches, ~20 kernels x ~5 us).
    spec_round_overhead: per speculative round (rejection sampling, draft bookkeeping) (s).
    compute_efficiency: multiplies COMPUTE_EFFICIENCY for this engine's kernels;
    request_overhead: a request's fixed cost on TTFT (API server, tokeniser, scheduler) (s).
    """

    name: str
    step_overhead: float
    layer_overhead: float
    moe_token_overhead: float
    bw_efficiency: float
    cuda_graphs: bool
    eager_penalty: float
    spec_round_overhead: float
    source: str
    compute_efficiency: float = 1.0  # multiplies COMPUTE_EFFICIENCY (the engine's GEMM/attention kernels)
    request_overhead: float = 0.0  # per request, on TTFT: HTTP, tokenisation, scheduling, detokenisation (s)
    # multiplies the compute efficiency of an MoE model's prefill steps (fitted on R1 only: expert GEMMs behind
    # the EP dispatch, MLA expanded, chunking; a dense model's prefill keeps COMPUTE_EFFICIENCY: perf.py)
    prefill_efficiency: float = 1.0
    spec_seq_overhead: float = 0.0  # per sequence per speculative round: accept/rollback bookkeeping, sampling (s)
    # per MoE dispatch or combine under attention DP + EP, on top of the wire and the group's floor: the engine's
    # own all-to-all kernels (DeepEP in SGLang, NVLink one-sided kernels in TensorRT-LLM, MoRI/AITER on ROCm) (s)
    dispatch_overhead: float = 0.0
    # per token a rank sends in one attention-DP MoE dispatch or combine of a decode step, on top of
    # dispatch_overhead: the engine's low-latency all-to-all kernels move a rank's tokens at their own rate, not the
    # fabric's (DeepEP's take 77 us to dispatch 128 tokens per rank at EP 8, ~0.6 us a token: deepseek-ai/DeepEP
    # README) (s)
    dispatch_token_overhead: float = 0.0
    # per decoder layer per decode step on top of layer_overhead when the weights are DeepSeek's block-scaled FP8:
    # the build's FP8 block-scale GEMM path (per-token activation quantisation, scale handling, kernels it does not
    # fuse or graph as it does its FP4 ones) (s)
    fp8_layer_overhead: float = 0.0
    # multiplies prefill_efficiency when the weights are DeepSeek's block-scaled FP8 on a GPU generation whose tensor
    # cores also run FP4 (Blackwell, CDNA4): the build's FP8 block-scale prefill GEMMs there reach a smaller share of
    # the datasheet FP8 peak than its FP4 ones do of theirs (perf.fp8_prefill_factor); 1: no difference
    fp8_prefill_efficiency: float = 1.0
    # bytes/s one compute unit (SM, CU, Apple GPU core) pulls through the engine's decode mat-vec kernels, for an
    # engine whose kernels keep few bytes in flight per unit (Little's law: bandwidth = bytes in flight / latency),
    # so a part with much bandwidth per unit (HBM) stays unfilled; 0: the datasheet x HBM_EFFICIENCY holds
    unit_bandwidth: float = 0.0
    block_quant_bw_efficiency: float = 1.0  # multiplies the bandwidth for block-quantised (GGUF) weights
    # the CPU side of a CPU/GPU hybrid (experts or layers in host RAM): the engine's share of the DRAM bandwidth
    # (0: bw_efficiency, as on the GPU) and its mat-vec FLOP/s per computing core (0: deployment.CPU_FLOPS_PER_CORE)
    host_bw_efficiency: float = 0.0
    host_flops_per_core: float = 0.0
    # steps of at least this many tokens compute the experts kept in host RAM on the GPU, copying them over PCIe
    # (llama.cpp's op offload, --no-op-offload turns it off); 0: never (the CPU computes them)
    op_offload_min_batch: int = 0


# The serving engines' first constants, fitted to nine published figures before the measured corpus existed
# (SGLang: 125 us per layer, 1.70 us per token per MoE layer; TensorRT-LLM: 60 us per layer). FITTED_SERVING below
# replaces them; they remain the starting point of scripts/fit_serving.py.
SGLANG_LAYER_OVERHEAD = 0.125 * MS
SGLANG_MOE_TOKEN_OVERHEAD = 1.70 * US
TRTLLM_LAYER_OVERHEAD = 0.060 * MS
# llama.cpp / ktransformers / MLX stream MoE experts at a fraction of the bandwidth: fitted to
# ktransformers-2s-xeon-4090-q4 and mac-m3-ultra-q4 (one constant, two figures).
LOCAL_MOE_BW_EFFICIENCY = 0.42
# llama.cpp on GPUs, fitted by scripts/fit_perf_constants.py to catalog/validation/llamacpp-gpu.json (46 llama-bench
# and server figures of Llama-3-shaped 8B/70B models, Q4_K_M/Q6_K/F16, 11 GPU types, 1-8 GPUs; mean |log error|
# 0.080): each SM/CU/GPU core pulls 9.5 GB/s through its mat-vec kernels (an A100's 108 SMs: 1.03 TB/s of its
# 2.04: the HBM parts' F16 figures reach 45-55% of the datasheet where GDDR parts reach 80-87%), GGUF k-quant
# kernels stream at 0.96 of that (dequantisation), and Metal, with no graph replay, adds 120 us per layer.
LLAMACPP_UNIT_BANDWIDTH = 9.5e9
LLAMACPP_BLOCK_QUANT_BW = 0.96
LLAMACPP_METAL_LAYER = 120 * US
# llama.cpp's CPU side (routed experts kept in RAM by -ot exps=CPU / --cpu-moe / -ncmoe, or the layers past -ngl):
# its ggml CPU mat-vec kernels (activations quantised to 8 bits, integer dot products against the GGUF blocks) do
# about 9 G weights/s per thread at batch 1, so on the published R1/V3 hybrids the cores bound the CPU's part, not
# the DRAM. Fitted to: catalog/validation/llamacpp-gpu.json's two R1/V3 hybrid decode figures (mean |log error|
# 0.046, scripts/fit_perf_constants.py): 12 threads of an EPYC 9654 on UD-IQ1_S at -ngl 8 (3.28 tok/s, predicted
# 3.24; the 12.6 GB its CPU reads per token come at 43 GB/s of 461: compute) and the 32 cores of an EPYC 9374F on
# Q8_0 experts with -ncmoe 999 (10.91 tok/s, predicted 11.81; 21.7 GB of experts per token, so at least 63% of
# 12 x DDR5-4800 is read). The DRAM
# side: assumption, the roofline's HBM_EFFICIENCY with no further MoE penalty (LOCAL_MOE_BW_EFFICIENCY's 0.42,
# fitted to ktransformers and MLX, would hold the Q8_0 figure to 7.1 tok/s).
LLAMACPP_CPU_FLOPS_PER_CORE = 18.5e9
LLAMACPP_HOST_BW_EFFICIENCY = 1.0
# ik_llama.cpp (llama.cpp's fork for CPU/GPU hybrids: its own CPU mat-mul kernels, weights repacked into
# row-interleaved layouts at load with -rtr, fused MoE up/gate with -fmoe): the same model as llama.cpp's with its
# own CPU rate. Fitted to: catalog/validation/llamacpp-gpu.json's ik_llama.cpp case (scripts/fit_perf_constants.py),
# one figure: R1 UD-Q2_K_XL, every routed expert in RAM, 24 threads of a Threadripper PRO 7965WX + an RTX A6000,
# 13.13 tok/s with -rtr (ik_llama.cpp discussion #258; 7.35 without -rtr on the same machine, about what llama.cpp's
# own rate predicts: 8.9). Set beside llama.cpp's: ik_llama.cpp's own same-machine comparisons give its decode
# 1.0-1.2x llama.cpp's (ikawrakow/ik_llama.cpp discussions #223, #258, issue #437).
IK_LLAMACPP_CPU_FLOPS_PER_CORE = 30.5e9
# llama.cpp's scheduler computes a weight kept in RAM on the GPU when a step has at least 32 tokens (op offload, on
# by default since llama.cpp PR #6083; --no-op-offload, PR #13386, turns it off; the 32 is hard-coded in
# ggml-cuda.cu, llama.cpp issues #13241 and #18530): a prefill step with the experts in RAM copies every expert it
# touches over the GPU's PCIe link.
LLAMACPP_OP_OFFLOAD_MIN_BATCH = 32
# the share of the PCIe link's datasheet bandwidth those copies reach (from pageable RAM, staged by the driver).
# Fitted to: one figure, llamacpp-gpu.json's V3.2 Q8_0 pp512 on an RTX PRO 6000 (PCIe 5.0 x16) with every routed
# expert in RAM: 22.17 prompt tokens/s, i.e. 695 GB of experts copied in 23 s (scripts/fit_perf_constants.py).
PCIE_COPY_EFFICIENCY = 0.47

_LLAMACPP_PERF = EnginePerf(
    "llamacpp", 0.5 * MS, 20 * US, 0.0, LOCAL_MOE_BW_EFFICIENCY, True, LLAMACPP_METAL_LAYER, 0.5 * MS,
    "ggml graph per token (assumption), replayed as a CUDA/HIP graph (llama.cpp PR #6766), not on Metal; MoE "
    "bandwidth efficiency and the GPU constants fitted (see above)",
    unit_bandwidth=LLAMACPP_UNIT_BANDWIDTH, block_quant_bw_efficiency=LLAMACPP_BLOCK_QUANT_BW,
    host_bw_efficiency=LLAMACPP_HOST_BW_EFFICIENCY, host_flops_per_core=LLAMACPP_CPU_FLOPS_PER_CORE,
    op_offload_min_batch=LLAMACPP_OP_OFFLOAD_MIN_BATCH)  # fmt: skip

ENGINE_PERF: dict[str, EnginePerf] = {
    p.name: p
    for p in (
        EnginePerf("sglang", 1.0 * MS, SGLANG_LAYER_OVERHEAD, SGLANG_MOE_TOKEN_OVERHEAD, 1.0, True, 100 * US, 0.5 * MS,
                   "step: assumption; layer and token overheads fitted (see above)"),
        # vLLM: no published R1 figure in the validation set; assumption: the same class of Python scheduler
        # and CUDA-graph runtime as SGLang.
        EnginePerf("vllm", 1.0 * MS, SGLANG_LAYER_OVERHEAD, SGLANG_MOE_TOKEN_OVERHEAD, 1.0, True, 100 * US, 0.5 * MS,
                   "assumption: SGLang's fitted constants (no vLLM R1 case to fit)"),
        EnginePerf("trtllm", 0.3 * MS, TRTLLM_LAYER_OVERHEAD, 0.1 * US, 1.0, True, 100 * US, 0.2 * MS,
                   "step and token: assumption (C++ runtime); layer overhead fitted"),
        # ATOM (AMD's AITER-based engine): no published figure before the measured corpus; assumption: vLLM's.
        EnginePerf("atom", 1.0 * MS, SGLANG_LAYER_OVERHEAD, SGLANG_MOE_TOKEN_OVERHEAD, 1.0, True, 100 * US, 0.5 * MS,
                   "assumption: SGLang's constants"),
        _LLAMACPP_PERF,
        replace(_LLAMACPP_PERF, name="ik_llamacpp", host_flops_per_core=IK_LLAMACPP_CPU_FLOPS_PER_CORE,
                source="llama.cpp's constants (assumption: the same ggml graph and GPU kernels); its own CPU rate "
                       "fitted (see above)"),
        EnginePerf("ktransformers", 1.0 * MS, 20 * US, 0.0, LOCAL_MOE_BW_EFFICIENCY, True, 0.0, 0.5 * MS,
                   "CUDA graph for the GPU part (assumption); MoE bandwidth efficiency fitted"),
        EnginePerf("mlx", 0.5 * MS, 20 * US, 0.0, LOCAL_MOE_BW_EFFICIENCY, False, 0.0, 0.5 * MS,
                   "lazy graph per token (assumption); MoE bandwidth efficiency fitted"),
        EnginePerf("specsize", 0.2 * MS, 50 * US, 0.0, 0.6, False, 0.0, 0.2 * MS,
                   "assumption: eager PyTorch; replace with `specsize bench` measurements"),
    )
}  # fmt: skip


# --- serving engines: fitted to the measured corpus ----------------------------------------------------------------
# fitted to: catalog/validation/measured/tuning.jsonl (InferenceX + dstack, 1,187 R1 serving points) by
# scripts/fit_serving.py (coordinate descent on the mean |log error| of output tok/s per GPU and per user; the report of
# that run, leave-one-GPU-type-out included, is in the README's validation section). Per engine build: step / layer /
# token-per-MoE-layer overheads (s), the expert-bandwidth multiplier, the MoE prefill compute multiplier, the per-
# request TTFT cost (s), the per-sequence cost of an MTP round (s), the engine's own cost per attention-DP MoE dispatch
# or combine (s) and per token of a rank in a decode step's dispatch or combine (s; a build whose points have no
# attention-DP + EP decode keeps its prior, FIT_START's 0.5 us: an assumption from a CUDA figure, so ATOM, SGLang's
# MI300X-class ROCm build, sglang-0.4 and vllm-0.7 carry it unfitted), the per-layer cost of block-scaled FP8 weights in
# decode (s) and the FP8 block-scale prefill factor on FP4-capable GPUs (perf.fp8_prefill_factor); the values are the
# last refit's (README).
# "sglang-rocm": SGLang's ROCm build (AMD GPUs; "-gfx950": its MI355X build); "sglang-0.4", "vllm-0.7": early-2025
# generations; "trtllm-1.2": TensorRT-LLM 1.2 and later ("-sm90": on Hopper) (engine_builds.ENGINE_GENERATIONS).
FITTED_SERVING: dict[str, dict[str, float]] = {
    "atom": {
        "step_overhead": 0.0007506, "layer_overhead": 0.0001111, "moe_token_overhead": 2.306e-07,
        "bw_efficiency": 1.179, "request_overhead": 0.05065, "prefill_efficiency": 0.1716,
        "spec_seq_overhead": 6.591e-05, "dispatch_overhead": 1e-07, "fp8_layer_overhead": 4.441e-08,
        "fp8_prefill_efficiency": 1.5, "dispatch_token_overhead": 5e-07,
    },
    "sglang": {
        "step_overhead": 0.000611, "layer_overhead": 7.587e-05, "moe_token_overhead": 5.53e-09,
        "bw_efficiency": 0.9156, "request_overhead": 0.1055, "prefill_efficiency": 0.309,
        "spec_seq_overhead": 0.0001055, "dispatch_overhead": 7.206e-05, "fp8_layer_overhead": 3.052e-06,
        "fp8_prefill_efficiency": 0.4143, "dispatch_token_overhead": 2.779e-07,
    },
    "sglang-0.4": {
        "step_overhead": 1.023e-05, "layer_overhead": 0.0004715, "moe_token_overhead": 5.838e-06,
        "bw_efficiency": 1.25, "request_overhead": 1, "prefill_efficiency": 0.08236,
        "spec_seq_overhead": 4e-05, "dispatch_overhead": 1e-07, "fp8_layer_overhead": 7.105e-08,
        "fp8_prefill_efficiency": 1, "dispatch_token_overhead": 5e-07,
    },
    "sglang-rocm": {
        "step_overhead": 0.008346, "layer_overhead": 0.0001581, "moe_token_overhead": 1.335e-06,
        "bw_efficiency": 1.25, "request_overhead": 0.06795, "prefill_efficiency": 0.1801,
        "spec_seq_overhead": 0.0002, "dispatch_overhead": 1e-07, "fp8_layer_overhead": 8.532e-06,
        "fp8_prefill_efficiency": 1, "dispatch_token_overhead": 5e-07,
    },
    "sglang-rocm-gfx950": {
        "step_overhead": 0.001311, "layer_overhead": 9.598e-05, "moe_token_overhead": 1e-09,
        "bw_efficiency": 0.7455, "request_overhead": 0.06795, "prefill_efficiency": 0.1697,
        "spec_seq_overhead": 6.215e-05, "dispatch_overhead": 0.0001844, "fp8_layer_overhead": 2.145e-06,
        "fp8_prefill_efficiency": 1.221, "dispatch_token_overhead": 7.768e-07,
    },
    "trtllm": {
        "step_overhead": 0.0001779, "layer_overhead": 7.59e-05, "moe_token_overhead": 6.619e-08,
        "bw_efficiency": 0.8385, "request_overhead": 0.08103, "prefill_efficiency": 0.3473,
        "spec_seq_overhead": 9.876e-07, "dispatch_overhead": 4.555e-06, "fp8_layer_overhead": 6.868e-05,
        "fp8_prefill_efficiency": 0.4941, "dispatch_token_overhead": 1.953e-07,
    },
    "trtllm-1.2": {
        "step_overhead": 1e-05, "layer_overhead": 7.37e-05, "moe_token_overhead": 1.872e-08,
        "bw_efficiency": 0.7906, "request_overhead": 0.1297, "prefill_efficiency": 0.4941,
        "spec_seq_overhead": 2.038e-05, "dispatch_overhead": 3.238e-07, "fp8_layer_overhead": 1.491e-05,
        "fp8_prefill_efficiency": 0.5859, "dispatch_token_overhead": 1.221e-07,
    },
    "trtllm-1.2-sm90": {
        "step_overhead": 0.0003019, "layer_overhead": 8.536e-05, "moe_token_overhead": 6.427e-08,
        "bw_efficiency": 0.8385, "request_overhead": 0.1223, "prefill_efficiency": 0.3577,
        "spec_seq_overhead": 2.411e-07, "dispatch_overhead": 1e-07, "fp8_layer_overhead": 2.683e-05,
        "fp8_prefill_efficiency": 1, "dispatch_token_overhead": 6.907e-07,
    },
    "vllm-0.7": {
        "step_overhead": 0.005492, "layer_overhead": 0.0002, "moe_token_overhead": 6.376e-06,
        "bw_efficiency": 0.6069, "request_overhead": 1, "prefill_efficiency": 1.8,
        "spec_seq_overhead": 4e-05, "dispatch_overhead": 1e-07, "fp8_layer_overhead": 1.137e-07,
        "fp8_prefill_efficiency": 1, "dispatch_token_overhead": 5e-07,
    },
}  # fmt: skip
_FITTED_SOURCE = "fitted to the measured corpus (scripts/fit_serving.py)"
# The builds split off an engine's profile: each starts as a copy of the engine it builds (its constants replaced by
# FITTED_SERVING's below; the rest, CUDA graphs and the eager penalty, are the engine's). Splitting off another
# build is one line here and its FITTED_SERVING entry (from the next refit).
BUILD_OF: dict[str, str] = {
    "sglang-rocm": "sglang", "sglang-rocm-gfx950": "sglang", "sglang-0.4": "sglang", "vllm-0.7": "vllm",
    "trtllm-1.2": "trtllm", "trtllm-1.2-sm90": "trtllm",
}  # fmt: skip
for _build, _engine in BUILD_OF.items():
    ENGINE_PERF[_build] = replace(ENGINE_PERF[_engine], name=_build)
# Where scripts/fit_serving.py starts, so that its output depends on the corpus and the model only, never on the
# constants it replaces (a fit started from its own last output drifts): the pre-corpus constants above and the
# serving-wide values the model had before they were fitted.
# The terms the pre-corpus constants lacked start at a value that matters (a term started at ~0 moves nothing, so
# a multiplicative descent can never grow it): assumptions of their size, not measurements.
FIT_START: dict[str, EnginePerf] = {
    name: replace(
        ENGINE_PERF[name],
        request_overhead=50 * MS,  # assumption: HTTP + tokeniser + scheduler per request
        spec_seq_overhead=20 * US,  # assumption: accept/rollback bookkeeping per sequence per MTP round
        dispatch_overhead=20 * US,  # assumption: one all-to-all kernel launch + sync per dispatch or combine
        # assumption: DeepEP's low-latency dispatch (CUDA), 77 us for 128 tokens per rank, all of it put on the
        # tokens (0.6 us each, the fixed floor included: an upper bound), rounded down
        dispatch_token_overhead=0.5 * US,
        prefill_efficiency=0.3,  # assumption: MoE prefill well under the dense MFU (EP dispatch, MLA expanded)
        fp8_layer_overhead=20 * US,  # assumption: a few unfused quantise / scale kernels per layer, ~5 us each
    )
    for name in FITTED_SERVING
}
FIT_START_GLOBALS: dict[str, float] = {
    "MTP_RANDOM_FIRST_ACCEPTANCE": MTP_FIRST_ACCEPTANCE,  # text's acceptance (DeepSeek-V3 report §5.4.3)
    "DISAGG_HANDOFF": 0.05,  # assumption: 50 ms of routing and KV-transfer setup per request
    "PREFILL_QUEUE_FACTOR": 1.0,  # the M/D/1 queue itself
    "INTER_NODE_STEP_LATENCY": 20 * US,  # assumption: NCCL proxy + IB stack per small-message step
    # DeepEP low-latency dispatch: 77 us at EP 8 -> 192 us at EP 128 over RDMA, 4 doublings (DeepEP README)
    "EP_DISPATCH_LATENCY_PER_DOUBLING": (192 - 77) / 4 * US,
    "RDMA_DISPATCH_LATENCY": (118 + 195) / 2 * US,  # DeepEP low-latency dispatch / combine at EP 16 (DeepEP README)
}
# The default start of scripts/fit_serving.py: the constants shipped before the fit was made reproducible (commit
# 377e8de, themselves the end of a chain of warm-started fits), frozen here so that the same command gives the same
# constants; from FIT_START (the priors) the descent stops in a worse local optimum (loss 0.176 vs 0.175, and the
# published figures' median |error| 11.6% vs 9.9%). The leave-one-GPU-type-out refits start from FIT_START: this
# snapshot has seen every GPU.
PREVIOUS_FIT: dict[str, dict[str, float]] = {
    "atom": {
        "step_overhead": 0.0007289, "layer_overhead": 0.0001111, "moe_token_overhead": 3.094e-07,
        "bw_efficiency": 1.179, "request_overhead": 0.05065, "prefill_efficiency": 0.1526,
        "spec_seq_overhead": 5.86e-05, "dispatch_overhead": 1e-07,
    },
    "sglang": {
        "step_overhead": 0.0007729, "layer_overhead": 7.587e-05, "moe_token_overhead": 6.15e-08,
        "bw_efficiency": 0.9156, "request_overhead": 0.2136, "prefill_efficiency": 0.1207,
        "spec_seq_overhead": 0.0001334, "dispatch_overhead": 1e-07,
    },
    "sglang-0.4": {
        "step_overhead": 2.618e-05, "layer_overhead": 0.0004715, "moe_token_overhead": 8.553e-06,
        "bw_efficiency": 0.9434, "request_overhead": 1, "prefill_efficiency": 1.8,
        "spec_seq_overhead": 4e-05, "dispatch_overhead": 1e-07,
    },
    "sglang-rocm": {
        "step_overhead": 0.008346, "layer_overhead": 0.0001581, "moe_token_overhead": 1.465e-09,
        "bw_efficiency": 0.7905, "request_overhead": 0.07421, "prefill_efficiency": 0.1159,
        "spec_seq_overhead": 0.0002, "dispatch_overhead": 1e-07,
    },
    "sglang-rocm-gfx950": {
        "step_overhead": 0.001166, "layer_overhead": 9.598e-05, "moe_token_overhead": 2.21e-09,
        "bw_efficiency": 0.7455, "request_overhead": 0.06795, "prefill_efficiency": 0.1,
        "spec_seq_overhead": 9.656e-05, "dispatch_overhead": 0.0002333,
    },
    "trtllm": {
        "step_overhead": 0.0002122, "layer_overhead": 8.536e-05, "moe_token_overhead": 8.372e-08,
        "bw_efficiency": 0.7455, "request_overhead": 0.1025, "prefill_efficiency": 0.193,
        "spec_seq_overhead": 2.651e-05, "dispatch_overhead": 1e-07,
    },
    "vllm-0.7": {
        "step_overhead": 0.005492, "layer_overhead": 0.0002, "moe_token_overhead": 6.376e-06,
        "bw_efficiency": 0.6069, "request_overhead": 1, "prefill_efficiency": 1.8,
        "spec_seq_overhead": 4e-05, "dispatch_overhead": 1e-07,
    },
}  # fmt: skip
# Added after that fit: fp8_layer_overhead starts at its prior (FIT_START), and a build split off since (BUILD_OF:
# "trtllm-1.2", and its Hopper build "trtllm-1.2-sm90") starts where its engine's build ("trtllm") did.
for _build, _engine in BUILD_OF.items():
    if _build not in PREVIOUS_FIT:
        PREVIOUS_FIT[_build] = PREVIOUS_FIT[_engine]
PREVIOUS_FIT_GLOBALS: dict[str, float] = {
    "MTP_RANDOM_FIRST_ACCEPTANCE": 0.6748, "DISAGG_HANDOFF": 0.1619, "PREFILL_QUEUE_FACTOR": 7.371,
    "INTER_NODE_STEP_LATENCY": 51.2 * US, "EP_DISPATCH_LATENCY_PER_DOUBLING": 7.1 * US,
    "RDMA_DISPATCH_LATENCY": (118 + 195) / 2 * US,  # added after this fit: starts at its prior (FIT_START_GLOBALS)
}  # fmt: skip
# FITTED_SERVING holds the engine constants; MTP_RANDOM_FIRST_ACCEPTANCE, PREFILL_QUEUE_FACTOR, DISAGG_HANDOFF,
# INTER_NODE_STEP_LATENCY, EP_DISPATCH_LATENCY_PER_DOUBLING and RDMA_DISPATCH_LATENCY above come from the same run.
for _name, _values in FITTED_SERVING.items():
    ENGINE_PERF[_name] = replace(ENGINE_PERF[_name], source=_FITTED_SOURCE, **_values)
ENGINE_PERF["vllm"] = replace(
    ENGINE_PERF["sglang"],
    name="vllm",
    source="assumption: SGLang's fitted constants (no current vLLM point in the corpus)",
)


def engine_perf(name: str) -> EnginePerf:
    return ENGINE_PERF[name]


def assumptions() -> list[dict[str, str]]:
    """The model-wide constants with their sources, for `specsize plan --explain`."""
    rows = [
        ("HBM bandwidth efficiency", f"{HBM_EFFICIENCY:.2f}", "assumption (75-90% typical)"),
        ("compute efficiency (MFU)", f"{COMPUTE_EFFICIENCY:.2f}", "assumption"),
        ("one-shot all-reduce software latency", f"{COLLECTIVE_LATENCY / US:.0f} us", "assumption"),
        ("inter-node collective step latency", f"{INTER_NODE_STEP_LATENCY / US:.0f} us",
         "fitted (scripts/fit_serving.py): NCCL proxy + network stack"),
        ("EP dispatch/combine floor per doubling of the group", f"{EP_DISPATCH_LATENCY_PER_DOUBLING / US:.1f} us",
         "fitted (scripts/fit_serving.py)"),
        ("cross-node (RDMA) EP dispatch/combine floor", f"{RDMA_DISPATCH_LATENCY / US:.0f} us",
         "fitted (scripts/fit_serving.py); DeepEP low-latency figures as the start"),
        ("MTP first-draft acceptance on random-token prompts", f"{MTP_RANDOM_FIRST_ACCEPTANCE:.3f}",
         "fitted to the measured corpus's MTP points (scripts/fit_serving.py)"),
        ("prefill queue burstiness (x M/D/1 wait)", f"{PREFILL_QUEUE_FACTOR:.2f}", "fitted (scripts/fit_serving.py)"),
        ("disaggregated prefill -> decode hand-off", f"{DISAGG_HANDOFF * 1e3:.0f} ms", "fitted (fit_serving.py)"),
        ("KV transfer efficiency (of the link's line rate)", f"{KV_TRANSFER_EFFICIENCY:.2f}", "assumption"),
        ("routing correlation of consecutive tokens", f"{ROUTING_CORRELATION:.2f}",
         "assumption anchored on an unnamed production study: ~2.5x unique experts for 4 tokens vs 3.8x uniform"),
        ("MTP acceptance, first draft", f"{MTP_FIRST_ACCEPTANCE:.2f}", "DeepSeek-V3 report §5.4.3 (85-90%)"),
        ("MTP acceptance decay per position", f"{MTP_ACCEPTANCE_DECAY:.3f}",
         "fitted to mean acceptance length 3.20 at k=7 (nebius/MTP-DeepSeek-V3-0324 card)"),
        ("draft-model acceptance", f"{DRAFT_ACCEPTANCE:.2f}", "assumption (Leviathan Table 2)"),
        ("EAGLE acceptance", f"{EAGLE_ACCEPTANCE:.2f}", "assumption"),
        ("n-gram repeat fraction", f"{NGRAM_REPEAT_FRACTION:.2f}", "assumption (chat)"),
    ]  # fmt: skip
    return [{"name": n, "value": v, "source": src} for n, v, src in rows] + [
        {"name": f"{p.name}: step / layer / token-per-MoE-layer overhead, expert-bandwidth factor",
         "value": f"{p.step_overhead / MS:.2f} ms / {p.layer_overhead / MS:.3f} ms / {p.moe_token_overhead / US:.2f} us"
                  f" / {p.bw_efficiency:.2f}", "source": p.source}
        for p in ENGINE_PERF.values()
    ] + [
        {"name": f"{p.name}: per-request TTFT cost, prefill-compute factor, per-sequence MTP round cost, "
                 "attention-DP dispatch/combine cost and its cost per token of a rank (decode), FP8-weight cost per "
                 "layer, FP8 prefill factor (FP4-capable GPUs)",
         "value": f"{p.request_overhead / MS:.0f} ms / {p.prefill_efficiency:.3f} / {p.spec_seq_overhead / US:.1f} us"
                  f" / {p.dispatch_overhead / US:.1f} us / {p.dispatch_token_overhead / US:.2f} us"
                  f" / {p.fp8_layer_overhead / US:.1f} us / {p.fp8_prefill_efficiency:.2f}",
         "source": p.source + ("; the per-token dispatch cost is its prior (assumption, FIT_START), no attention-DP"
                               " + EP decode point to fit it" if p.dispatch_token_overhead
                               == FIT_START[p.name].dispatch_token_overhead else "")}
        for p in ENGINE_PERF.values() if p.name in FITTED_SERVING
    ]  # fmt: skip
