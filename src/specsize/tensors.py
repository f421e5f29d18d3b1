"""Every tensor a checkpoint stores, as groups of identical shapes.

A TensorGroup is one HF key pattern (``model.layers.{i}.mlp.experts.{e}.down_proj.weight``), its shape,
and how many times it occurs. Parameter counts, checkpoint bytes per precision (FP8 block scales are a
function of the shape) and sharding across GPUs are all computed from this one inventory.

Classification used everywhere else:
- kind: linear | embedding | lm_head | norm | bias | router | router_bias
- component: embedding | attention | mlp | moe_routed | moe_shared | moe_router | norm | lm_head | mtp_proj
- scope: model (the main model) | mtp (DeepSeek's MTP module) | mtp_copy (the embedding and head copies
  the R1 checkpoint stores again in layer 61: stored bytes, but not unique parameters)
- role: the llama.cpp-style tensor role (q, k, v, o, q_a, q_b, kv_a, kv_b, gate, up, down, ...) that
  quantisation recipes key on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from math import prod

from specsize.config import ModelArch


@dataclass(frozen=True)
class TensorGroup:
    name: str
    shape: tuple[int, ...]  # (out_features, in_features) for linear weights, as torch stores them
    count: int  # occurrences in the checkpoint (layers x experts)
    kind: str
    component: str
    role: str = ""
    scope: str = "model"
    layers: int = 0  # how many decoder layers the count spans (0: not per layer)
    block: str = ""  # "dense" | "moe": which run of decoder layers it belongs to ("" outside the layers)
    scale_block: tuple[int, int] | None = None  # a linear weight's FP8 block as the checkpoint declares it

    @property
    def numel(self) -> int:
        return prod(self.shape) * self.count


def _linear(
    name: str, out: int, inp: int, count: int, component: str, role: str, bias: bool, **kw
) -> list[TensorGroup]:
    groups = [TensorGroup(f"{name}.weight", (out, inp), count, "linear", component, role, **kw)]
    if bias:
        groups.append(TensorGroup(f"{name}.bias", (out,), count, "bias", component, role, **kw))
    return groups


def _attention(a: ModelArch, p: str, n: int, scope: str, block: str) -> list[TensorGroup]:
    """Self-attention of n layers under key prefix p."""
    kw = dict(scope=scope, layers=n, block=block)
    h, c = a.hidden_size, "attention"
    if a.mla is not None:
        m = a.mla
        g: list[TensorGroup] = []
        if m.q_lora_rank is None:
            g += _linear(f"{p}.self_attn.q_proj", a.num_heads * m.qk_head_dim, h, n, c, "q", False, **kw)
        else:
            g += _linear(f"{p}.self_attn.q_a_proj", m.q_lora_rank, h, n, c, "q_a", a.qkv_bias, **kw)
            g.append(TensorGroup(f"{p}.self_attn.q_a_layernorm.weight", (m.q_lora_rank,), n, "norm", "norm", **kw))
            g += _linear(
                f"{p}.self_attn.q_b_proj",
                a.num_heads * m.qk_head_dim,
                m.q_lora_rank,
                n,
                c,
                "q_b",
                False,
                **kw,
            )
        g += _linear(f"{p}.self_attn.kv_a_proj_with_mqa", m.cache_dim, h, n, c, "kv_a", a.qkv_bias, **kw)
        g.append(TensorGroup(f"{p}.self_attn.kv_a_layernorm.weight", (m.kv_lora_rank,), n, "norm", "norm", **kw))
        g += _linear(
            f"{p}.self_attn.kv_b_proj",
            a.num_heads * (m.qk_nope_head_dim + m.v_head_dim),
            m.kv_lora_rank,
            n,
            c,
            "kv_b",
            False,
            **kw,
        )
        g += _linear(f"{p}.self_attn.o_proj", h, a.num_heads * m.v_head_dim, n, c, "o", a.o_bias, **kw)
        return g
    q, kv = a.num_heads * a.head_dim, a.num_kv_heads * a.head_dim
    g = _linear(f"{p}.self_attn.q_proj", q, h, n, c, "q", a.qkv_bias, **kw)
    g += _linear(f"{p}.self_attn.k_proj", kv, h, n, c, "k", a.qkv_bias, **kw)
    g += _linear(f"{p}.self_attn.v_proj", kv, h, n, c, "v", a.qkv_bias, **kw)
    g += _linear(f"{p}.self_attn.o_proj", h, q, n, c, "o", a.o_bias, **kw)
    if a.qk_norm:
        g.append(TensorGroup(f"{p}.self_attn.q_norm.weight", (a.head_dim,), n, "norm", "norm", **kw))
        g.append(TensorGroup(f"{p}.self_attn.k_norm.weight", (a.head_dim,), n, "norm", "norm", **kw))
    return g


def _swiglu(a: ModelArch, p: str, width: int, count: int, component: str, role_suffix: str, **kw) -> list[TensorGroup]:
    h, b = a.hidden_size, a.mlp_bias and component == "mlp"
    return (
        _linear(f"{p}.gate_proj", width, h, count, component, "gate" + role_suffix, b, **kw)
        + _linear(f"{p}.up_proj", width, h, count, component, "up" + role_suffix, b, **kw)
        + _linear(f"{p}.down_proj", h, width, count, component, "down" + role_suffix, b, **kw)
    )


def _moe(a: ModelArch, p: str, n: int, scope: str) -> list[TensorGroup]:
    """The MoE block of n layers: router, routed experts, shared expert(s), with each family's key names."""
    m = a.moe
    assert m is not None
    kw = dict(scope=scope, layers=n, block="moe")
    E, h = m.num_experts, a.hidden_size
    if a.family == "mixtral":
        g = [TensorGroup(f"{p}.block_sparse_moe.gate.weight", (E, h), n, "router", "moe_router", "router", **kw)]
        for w, shape, role in (
            ("w1", (m.expert_intermediate_size, h), "gate_exps"),
            ("w3", (m.expert_intermediate_size, h), "up_exps"),
            ("w2", (h, m.expert_intermediate_size), "down_exps"),
        ):
            g.append(
                TensorGroup(
                    f"{p}.block_sparse_moe.experts.{{e}}.{w}.weight",
                    shape,
                    n * E,
                    "linear",
                    "moe_routed",
                    role,
                    **kw,
                )
            )
        return g
    g = [TensorGroup(f"{p}.mlp.gate.weight", (E, h), n, "router", "moe_router", "router", **kw)]
    if m.router_bias:
        g.append(
            TensorGroup(
                f"{p}.mlp.gate.e_score_correction_bias",
                (E,),
                n,
                "router_bias",
                "moe_router",
                "router_bias",
                **kw,
            )
        )
    g += _swiglu(a, f"{p}.mlp.experts.{{e}}", m.expert_intermediate_size, n * E, "moe_routed", "_exps", **kw)
    if m.shared_intermediate_size:
        key = "shared_expert" if a.family == "qwen2_moe" else "shared_experts"
        g += _swiglu(a, f"{p}.mlp.{key}", m.shared_intermediate_size, n, "moe_shared", "_shexp", **kw)
    if m.shared_expert_gate:
        g.append(
            TensorGroup(f"{p}.mlp.shared_expert_gate.weight", (1, h), n, "router", "moe_router", "shexp_gate", **kw)
        )
    return g


def _layers(a: ModelArch, indices: list[int], scope: str) -> list[TensorGroup]:
    """Decoder blocks for the given layer indices, grouped into dense-MLP and MoE runs."""
    groups: list[TensorGroup] = []
    dense = [i for i in indices if not a.is_moe_layer(i)]
    sparse = [i for i in indices if a.is_moe_layer(i)]
    h = a.hidden_size
    for block, kind_layers in (("dense", dense), ("moe", sparse)):
        n = len(kind_layers)
        if not n:
            continue
        p = "model.layers.{i}"
        kw = dict(scope=scope, layers=n, block=block)
        groups.append(TensorGroup(f"{p}.input_layernorm.weight", (h,), n, "norm", "norm", **kw))
        groups.append(TensorGroup(f"{p}.post_attention_layernorm.weight", (h,), n, "norm", "norm", **kw))
        groups += _attention(a, p, n, scope, block)
        if block == "moe":
            groups += _moe(a, p, n, scope)
        else:
            groups += _swiglu(a, f"{p}.mlp", a.intermediate_size, n, "mlp", "", **kw)
    return groups


def _mtp(a: ModelArch) -> list[TensorGroup]:
    """DeepSeek's MTP module(s) as the checkpoint stores them at index num_layers (V3 report §2.2)."""
    n, h, V = a.num_mtp_layers, a.hidden_size, a.vocab_size
    p = "model.layers.{i}"
    kw = dict(scope="mtp", layers=n)
    groups = [
        TensorGroup(f"{p}.enorm.weight", (h,), n, "norm", "norm", **kw),
        TensorGroup(f"{p}.hnorm.weight", (h,), n, "norm", "norm", **kw),
        TensorGroup(f"{p}.eh_proj.weight", (h, 2 * h), n, "linear", "mtp_proj", "eh_proj", **kw),
        TensorGroup(f"{p}.shared_head.norm.weight", (h,), n, "norm", "norm", **kw),
    ]
    groups += _layers(a, list(range(a.num_layers, a.num_layers + n)), "mtp")
    copy = dict(scope="mtp_copy", layers=n)
    groups.append(TensorGroup(f"{p}.embed_tokens.weight", (V, h), n, "embedding", "embedding", "token_embd", **copy))
    groups.append(TensorGroup(f"{p}.shared_head.head.weight", (V, h), n, "lm_head", "lm_head", "output", **copy))
    return groups


@cache
def tensor_groups(a: ModelArch) -> tuple[TensorGroup, ...]:
    """All tensors of the checkpoint: main model, then the MTP module(s) if the config declares them.
    Cached: ModelArch is frozen, and the planner asks for the same inventory many times per plan."""
    V, h = a.vocab_size, a.hidden_size
    groups = [TensorGroup("model.embed_tokens.weight", (V, h), 1, "embedding", "embedding", "token_embd")]
    groups += _layers(a, list(range(a.num_layers)), "model")
    groups.append(TensorGroup("model.norm.weight", (h,), 1, "norm", "norm", "output_norm"))
    if not a.tie_word_embeddings:
        groups.append(TensorGroup("lm_head.weight", (V, h), 1, "lm_head", "lm_head", "output"))
    if a.num_mtp_layers:
        groups += _mtp(a)
    if a.weight_block_size:  # config.json quantization_config.weight_block_size
        groups = [replace(g, scale_block=a.weight_block_size) if g.kind == "linear" else g for g in groups]
    return tuple(groups)


@cache
def _groups_by_name(a: ModelArch) -> dict[str, TensorGroup]:
    return {g.name: g for g in tensor_groups(a)}  # a dense and an MoE run share names and classes


def group_of(a: ModelArch, key: str) -> TensorGroup | None:
    """The group a checkpoint key belongs to, or None for a key the model does not have.

    >>> from specsize.resolve import load_model
    >>> group_of(load_model("deepseek-r1"), "model.layers.7.mlp.experts.31.up_proj.weight").name
    'model.layers.{i}.mlp.experts.{e}.up_proj.weight'
    """
    name = re.sub(r"^model\.layers\.\d+\.", "model.layers.{i}.", key)
    return _groups_by_name(a).get(re.sub(r"\.experts\.\d+\.", ".experts.{e}.", name))
