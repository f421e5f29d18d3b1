"""How the engines shard a model over a layout, in bytes per GPU: the weights and the KV cache of the most
loaded GPU (memory.py sums them with the rest; perf.py reads shard_divisor for what one step reads).

Sharding (vLLM / SGLang DeepSeek and Llama model code):
- embedding and lm_head are vocab-parallel over TP; norms, the router and MLA's q_a / kv_a projections are
  replicated (ReplicatedLinear); q_b, kv_b, o (and q/k/v/o for GQA) are split over the attention-TP ranks,
  GQA K/V only up to the number of KV heads; dense MLP, shared and routed experts are split over TP
  (EP x MoE-TP spans the TP group). PP splits the layers; the MTP layer lives on the last stage.
- Attention DP keeps every weight but the routed experts whole on each rank: the embedding, head, dense MLP and
  shared experts too. vLLM's ranks are TP-1 engines (--tensor-parallel-size 1 --data-parallel-size N);
  TensorRT-LLM builds the MLPs with overridden_tp_size=1 under enable_attention_dp (tensorrt_llm/_torch/models)
  and its head untied from TP unless enable_lm_head_tp_in_adp; SGLang's attention-DP recipes set
  --moe-dense-tp-size 1 --enable-dp-lm-head (NVIDIA/srt-slurm: 62 of its 71 R1 DP recipes; InferenceX's MoRI and
  Dynamo GB200 scripts), which plan's SGLang command sets too.
- KV: MLA's latent cannot be split by head, so every attention-TP rank holds it whole; GQA KV is split up to
  the KV heads. DP attention splits sequences instead.
"""

from __future__ import annotations

from math import ceil

from specsize.config import ModelArch
from specsize.kvcache import kv_dtype_bytes, kv_values_per_layer
from specsize.quant import Precision
from specsize.scenario import Layout
from specsize.tensors import TensorGroup, tensor_groups


def shard_divisor(a: ModelArch, g: TensorGroup, layout: Layout) -> int:
    """How many GPUs of one pipeline stage share group g's bytes (1 = replicated). Under attention DP only the
    routed experts are split (module docstring)."""
    tp, attn_tp = layout.tp, layout.attn_tp
    if layout.attention == "dp" and g.component != "moe_routed":
        tp = 1
    if g.kind in ("embedding", "lm_head"):
        return tp
    if g.kind in ("norm", "router", "router_bias") or g.component == "moe_router" or g.role == "eh_proj":
        return 1
    if g.component == "attention":
        if g.role in ("q_a", "kv_a"):
            return 1
        if g.role in ("k", "v"):
            return min(attn_tp, a.num_kv_heads)
        return attn_tp
    return tp  # dense MLP, shared and routed experts


def stage_layers(a: ModelArch, pp: int, llamacpp: bool = False) -> tuple[int, int]:
    """(layers, of which MoE) on the most loaded pipeline stage (conservative: MoE layers packed first)."""
    per_stage = max(llamacpp_layer_split(a.num_layers, pp)) if llamacpp else ceil(a.num_layers / pp)
    return per_stage, min(per_stage, a.num_moe_layers)


def llamacpp_layer_split(layers: int, gpus: int) -> list[int]:
    """Decoder layers per GPU under llama.cpp's layer split of equal GPUs: unit i of layers + 1 (the output layer is
    the last unit) goes to the first GPU whose cumulative share exceeds i / (layers + 1) (src/llama-model.cpp,
    load_tensors: std::upper_bound over the normalised splits; the default split is by free memory, equal here)."""
    return llamacpp_gpu_layer_split(layers, layers, gpus)


def llamacpp_gpu_layer_split(n: int, layers: int, gpus: int) -> list[int]:
    """Decoder layers per GPU under -ngl with n of `layers` layers offloaded to `gpus` equal GPUs (src/llama-model.cpp,
    load_tensors: i_gpu_start = n_layer - n_gpu_layers, so the CPU holds the first layers and the GPUs the last n;
    act_gpu_layers = min(n_gpu_layers, n_layer + 1) units are split, unit j going to GPU upper_bound(splits, j /
    act_gpu_layers); the output layer is unit n_layer, on the last GPU only when every layer is offloaded, which is
    what n == layers means here: -ngl 99). Every layer offloaded is llamacpp_layer_split.

    >>> llamacpp_gpu_layer_split(61, 61, 4), llamacpp_gpu_layer_split(20, 61, 4), llamacpp_gpu_layer_split(2, 61, 4)
    ([16, 15, 16, 14], [5, 5, 5, 5], [1, 0, 1, 0])
    """
    units = n + 1 if n == layers else n
    counts = [0] * gpus
    for i in range(n):
        counts[min(gpus - 1, int(i * gpus / units))] += 1
    return counts


def weight_bytes_per_gpu(
    a: ModelArch,
    precision: Precision,
    layout: Layout,
    scopes=("model",),
    offload_experts: bool = False,
    llamacpp: bool = False,
) -> float:
    """Bytes of the main model (and of the MTP module with scopes=("mtp",)) on the most loaded GPU. llamacpp: its
    layer split (llamacpp_layer_split), the input embedding in host RAM (src/llama-model.cpp: "there is very little
    benefit to offloading the input layer, so always keep it on the CPU"), the output layer on the last GPU."""
    groups = [g for g in tensor_groups(a) if g.scope in scopes]
    if llamacpp:
        return _llamacpp_weight_bytes(a, precision, layout, groups, offload_experts)
    per_stage, moe_in_stage = stage_layers(a, layout.pp)
    dense_in_stage = per_stage - moe_in_stage
    n_moe = a.num_moe_layers
    n_dense = a.num_layers - n_moe
    first, last = 0.0, 0.0  # per-GPU bytes of the non-layer tensors on the first / last stage
    layers = 0.0
    for g in groups:
        if offload_experts and g.component == "moe_routed":
            continue
        b = precision.group_bytes(g) / shard_divisor(a, g, layout)
        if g.scope != "model":
            last += b  # the MTP module rides on the last stage
        elif g.layers:
            share = moe_in_stage / n_moe if g.block == "moe" else dense_in_stage / n_dense
            layers += b * (1.0 if layout.pp == 1 else share)
        elif g.kind == "embedding":
            first += b
        else:
            last += b  # final norm and lm_head
    return layers + (max(first, last) if layout.pp > 1 else first + last)


def _llamacpp_weight_bytes(a: ModelArch, precision: Precision, layout: Layout, groups: list[TensorGroup],
                           offload_experts: bool) -> float:  # fmt: skip
    """The busiest GPU of llama.cpp's layer split: its share of the decoder layers (their average bytes), plus the
    output layer on the last GPU; the embedding is on the host (a tied one is loaded a second time as the output:
    TENSOR_DUPLICATED in load_tensors)."""
    per_layer, output = llamacpp_layer_output_bytes(a, precision, layout, groups, offload_experts)
    counts = llamacpp_layer_split(a.num_layers, layout.pp)
    return llamacpp_busiest_weights(counts, per_layer, output, llamacpp_output_gpu(a.num_layers, layout.pp))


def llamacpp_output_gpu(layers: int, gpus: int) -> int:
    """The GPU that holds the output layer when every layer is offloaded: unit `layers` of the layers + 1 split units
    (llamacpp_gpu_layer_split's rule), the last GPU unless the GPUs outnumber the layers."""
    return min(gpus - 1, int(layers * gpus / (layers + 1)))


def llamacpp_busiest_weights(counts: list[int], per_layer: float, output: float, output_gpu: int | None) -> float:
    """Weight bytes on the busiest GPU of a layer split: its layers, plus the output layer on `output_gpu` (None:
    the output layer stays on the CPU)."""
    return max(c * per_layer + (output if i == output_gpu else 0.0) for i, c in enumerate(counts))


def llamacpp_layer_output_bytes(a: ModelArch, precision: Precision, layout: Layout, groups: list[TensorGroup],
                                offload_experts: bool = False) -> tuple[float, float]:  # fmt: skip
    """(average bytes of one decoder layer, bytes of llama.cpp's output layer) under its layer split."""
    per_layer, output = 0.0, 0.0
    for g in groups:
        if offload_experts and g.component == "moe_routed":
            continue
        b = precision.group_bytes(g) / shard_divisor(a, g, layout)
        if g.kind == "embedding":
            output += b if a.tie_word_embeddings else 0.0
        elif g.layers:
            per_layer += b / a.num_layers
        else:
            output += b  # final norm and lm_head (and the MTP module, which GGUF files do not hold)
    return per_layer, output


def kv_bytes_per_gpu(
    a: ModelArch, kv_dtype: str, layout: Layout, sequences: int, context: int, layers: int | None = None
) -> float:
    """KV cache on one GPU for `sequences` of `context` tokens over `layers` attention layers
    (default: the main-model layers of the most loaded pipeline stage)."""
    if layers is None:
        layers, _ = stage_layers(a, layout.pp)
    if layout.attention == "dp":
        sequences = ceil(sequences / layout.tp)  # DP attention: each rank holds its own sequences
        per_layer = kv_values_per_layer(a)
    elif a.mla is not None:
        per_layer = kv_values_per_layer(a)  # the latent is replicated on every attention-TP rank
    else:
        per_layer = 2 * ceil(a.num_kv_heads / layout.attn_tp) * a.head_dim
    return float(sequences * context * layers * per_layer * kv_dtype_bytes(kv_dtype))
