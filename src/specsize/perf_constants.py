"""Every constant of the performance model, in one place, each with its source, "assumption", or
"fitted to" and the published cases it was fitted to (scripts/fit_perf_constants.py reproduces the fit).

Fitted constants: 4 (SGLang per-layer and per-token-per-MoE-layer overheads, TensorRT-LLM per-layer overhead, the
achieved-bandwidth efficiency of local MoE runtimes), against 9 published performance figures and 21 cases.
"""

from __future__ import annotations

from dataclasses import dataclass

US = 1e-6
MS = 1e-3

# --- hardware efficiencies (physical; not fitted) ------------------------------------------------------------
HBM_EFFICIENCY = 0.80  # assumption: memory-bound GEMV/grouped-GEMM kernels reach 75-90% of datasheet bandwidth
COMPUTE_EFFICIENCY = 0.55  # assumption: achieved tensor-core utilisation of serving matmuls (MFU 0.5-0.6)
COLLECTIVE_LATENCY = 5 * US  # assumption: software cost of one small one-shot all-reduce on top of the wire
INTER_NODE_STEP_LATENCY = 20 * US  # assumption: NCCL proxy + network stack per inter-node step (small messages)
PCIE_TOKEN_HANDOFF = 10 * US  # assumption: one host <-> GPU hop of activations in CPU/GPU hybrid serving

# --- serving steady state (serving.py) ------------------------------------------------------------------------
KV_TRANSFER_EFFICIENCY = 0.5  # assumption: NIXL/Mooncake/MoRI reach about half the NIC's line rate per GPU
PREFILL_QUEUE_FACTOR = 1.0  # multiplies the M/D/1 wait of a prompt for the prefill side (1: the queue formula)

# --- MoE routing ------------------------------------------------------------------------------------------------
# Consecutive tokens of one sequence do not route independently. Model: q tokens of one sequence touch the
# experts that n_eff = 1 + c (q - 1) independent tokens would (different sequences are independent).
# c = 0.52 reproduces the measured ~2.5x unique expert weights for 4 tokens where uniform routing gives 3.8x
# on DeepSeek-V3 (reference/speculative.md, production study).
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
MTP_RANDOM_FIRST_ACCEPTANCE = 0.60
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


# SGLang: 125 us per layer and 1.70 us per token per MoE layer were fitted to sglang-16xh100-ib-bs1-tpot,
# sglang-8xh200-fp8-mtp1-bs1 and inferencex-8xb200-sglang-fp4-c4/c16/c64 (scripts/fit_perf_constants.py).
SGLANG_LAYER_OVERHEAD = 0.125 * MS
SGLANG_MOE_TOKEN_OVERHEAD = 1.70 * US
# TensorRT-LLM min-latency path: fitted to trtllm-8xb200-fp4-mtp3-bs1 (one constant, two figures).
TRTLLM_LAYER_OVERHEAD = 0.060 * MS
# llama.cpp / ktransformers / MLX stream MoE experts at a fraction of the bandwidth: fitted to
# ktransformers-2s-xeon-4090-q4 and mac-m3-ultra-q4 (one constant, two figures).
LOCAL_MOE_BW_EFFICIENCY = 0.42

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
        EnginePerf("llamacpp", 0.5 * MS, 20 * US, 0.0, LOCAL_MOE_BW_EFFICIENCY, False, 0.0, 0.5 * MS,
                   "ggml graph per token (assumption); MoE bandwidth efficiency fitted"),
        EnginePerf("ktransformers", 1.0 * MS, 20 * US, 0.0, LOCAL_MOE_BW_EFFICIENCY, True, 0.0, 0.5 * MS,
                   "CUDA graph for the GPU part (assumption); MoE bandwidth efficiency fitted"),
        EnginePerf("mlx", 0.5 * MS, 20 * US, 0.0, LOCAL_MOE_BW_EFFICIENCY, False, 0.0, 0.5 * MS,
                   "lazy graph per token (assumption); MoE bandwidth efficiency fitted"),
        EnginePerf("specsize", 0.2 * MS, 50 * US, 0.0, 0.6, False, 0.0, 0.2 * MS,
                   "assumption: eager PyTorch; replace with `specsize bench` measurements"),
    )
}  # fmt: skip


def engine_perf(name: str) -> EnginePerf:
    return ENGINE_PERF[name]


def engine_perf_for(name: str, version: str | None = None) -> EnginePerf:
    """The constants of one engine generation (ENGINE_GENERATIONS, keyed by a substring of engine_version)."""
    for key, perf in ENGINE_GENERATIONS.get(name, ()):
        if version and key in version:
            return perf
    return ENGINE_PERF[name]


# Engine generations whose behaviour changed enough to need their own constants: (substring of the
# engine_version, constants), first match wins. Empty until a fit says otherwise.
ENGINE_GENERATIONS: dict[str, tuple[tuple[str, EnginePerf], ...]] = {}


def assumptions() -> list[dict[str, str]]:
    """The model-wide constants with their sources, for `specsize plan --explain`."""
    rows = [
        ("HBM bandwidth efficiency", f"{HBM_EFFICIENCY:.2f}", "assumption (75-90% typical)"),
        ("compute efficiency (MFU)", f"{COMPUTE_EFFICIENCY:.2f}", "assumption"),
        ("one-shot all-reduce software latency", f"{COLLECTIVE_LATENCY / US:.0f} us", "assumption"),
        ("inter-node collective step latency", f"{INTER_NODE_STEP_LATENCY / US:.0f} us",
         "assumption (NCCL proxy + network stack)"),
        ("routing correlation of consecutive tokens", f"{ROUTING_CORRELATION:.2f}",
         "~2.5x unique experts for 4 tokens vs 3.8x uniform (reference/speculative.md)"),
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
    ]  # fmt: skip
