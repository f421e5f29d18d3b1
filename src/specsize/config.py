"""ModelArch: a decoder-only model as its Hugging Face config.json describes it.

One frozen dataclass for every supported family (dense GQA, MoE, DeepSeek MLA + MoE + MTP). The planner
counts tensors from it and the engine builds modules from it, so both always agree on the architecture.

Parsing is strict: a missing or ill-typed required field raises ConfigError naming the field, and an
unsupported model_type lists what is supported. Both spellings of RoPE settings are accepted:
`rope_theta` + `rope_scaling` (the public checkpoints) and `rope_parameters` (transformers >= 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from specsize.errors import ConfigError

DENSE_FAMILIES = ("llama", "mistral", "qwen2", "qwen3")
MOE_FAMILIES = ("mixtral", "qwen2_moe", "qwen3_moe")
MLA_FAMILIES = ("deepseek_v2", "deepseek_v3")
SUPPORTED_FAMILIES = DENSE_FAMILIES + MOE_FAMILIES + MLA_FAMILIES


@dataclass(frozen=True)
class RopeConfig:
    theta: float
    type: str = "default"  # default | linear | dynamic | yarn | llama3 | longrope
    factor: float = 1.0
    original_max_position_embeddings: int | None = None
    extra: tuple[tuple[str, Any], ...] = ()  # beta_fast, mscale, low_freq_factor, ... as written

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.extra).get(key, default)


@dataclass(frozen=True)
class MLAConfig:
    """Multi-head latent attention (DeepSeek-V2 §2.1)."""

    q_lora_rank: int | None  # None: a plain q_proj (DeepSeek-V2-Lite)
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def cache_dim(self) -> int:
        """Values cached per token per layer: the compressed latent plus the decoupled RoPE key."""
        return self.kv_lora_rank + self.qk_rope_head_dim


@dataclass(frozen=True)
class MoEConfig:
    num_experts: int  # routed experts per MoE layer
    top_k: int  # routed experts per token
    expert_intermediate_size: int
    shared_intermediate_size: int = 0  # width of the shared-expert MLP (0: none)
    shared_expert_gate: bool = False  # qwen2_moe: sigmoid gate on the shared expert
    router_bias: bool = False  # deepseek_v3: e_score_correction_bias (fp32, one per expert)
    scoring_func: str = "softmax"  # softmax | sigmoid
    topk_method: str = "greedy"  # greedy | group_limited_greedy | noaux_tc
    n_group: int = 1
    topk_group: int = 1
    norm_topk_prob: bool = False
    routed_scaling_factor: float = 1.0
    layers: frozenset[int] = frozenset()  # indices (MTP layers included) whose MLP is an MoE


@dataclass(frozen=True)
class ModelArch:
    name: str
    family: str  # the config's model_type
    hidden_size: int
    num_layers: int  # main-model decoder layers (MTP layers not included)
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int  # dense MLP width
    vocab_size: int
    max_position_embeddings: int
    rope: RopeConfig
    tie_word_embeddings: bool = False
    rms_norm_eps: float = 1e-6
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False  # qwen3: RMSNorm over head_dim on q and k
    mla: MLAConfig | None = None
    moe: MoEConfig | None = None
    num_mtp_layers: int = 0  # DeepSeek num_nextn_predict_layers, stored at index num_layers
    bos_token_id: int | None = None
    eos_token_ids: tuple[int, ...] = ()
    torch_dtype: str = "bfloat16"
    weight_block_size: tuple[int, int] | None = None  # FP8 block quantisation of the checkpoint
    quant_method: str | None = None
    notes: tuple[str, ...] = ()  # how the config was read where it needed interpreting (e.g. model_type kimi_k2)
    source: str = field(default="", compare=False)

    def is_moe_layer(self, i: int) -> bool:
        return self.moe is not None and i in self.moe.layers

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def has_mtp(self) -> bool:
        return self.num_mtp_layers > 0


# --- parsing -----------------------------------------------------------------------------------


class _Fields:
    """Typed access to a config dict; every failure is a ConfigError naming the field."""

    def __init__(self, raw: Mapping[str, Any], where: str):
        self.raw, self.where = raw, where

    def _fail(self, key: str, want: str, got: Any) -> ConfigError:
        return ConfigError(f"{self.where}: field '{key}' must be {want}, got {got!r}")

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def int(self, key: str, default: Any = ..., minimum: int = 1) -> Any:
        v = self.raw.get(key)
        if v is None:
            if default is ...:
                raise ConfigError(f"{self.where}: required field '{key}' is missing")
            return default
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            want = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise self._fail(key, want, v)
        return v

    def float(self, key: str, default: Any = ..., positive: bool = True) -> Any:
        v = self.raw.get(key)
        if v is None:
            if default is ...:
                raise ConfigError(f"{self.where}: required field '{key}' is missing")
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or (positive and v <= 0):
            raise self._fail(key, "a positive number" if positive else "a number", v)
        return float(v)

    def bool(self, key: str, default: bool) -> bool:
        v = self.raw.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise self._fail(key, "true or false", v)
        return v

    def str(self, key: str, default: Any = ...) -> Any:
        v = self.raw.get(key)
        if v is None:
            if default is ...:
                raise ConfigError(f"{self.where}: required field '{key}' is missing")
            return default
        if not isinstance(v, str):
            raise self._fail(key, "a string", v)
        return v

    def int_list(self, key: str) -> tuple[int, ...]:
        v = self.raw.get(key)
        if v is None:
            return ()
        if isinstance(v, int) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, list) or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in v):
            raise self._fail(key, "an integer or a list of non-negative integers", v)
        return tuple(v)


def _rope(f: _Fields) -> RopeConfig:
    """RoPE settings from either spelling: rope_theta/rope_scaling or rope_parameters (transformers 5)."""
    params = f.raw.get("rope_parameters")
    if params is not None:
        if not isinstance(params, dict):
            raise f._fail("rope_parameters", "an object", params)
        if "rope_theta" not in params and params and all(isinstance(v, dict) for v in params.values()):
            params = params.get("full_attention") or next(iter(params.values()))  # per-layer-type form
        scaling: Any = params
        theta = _Fields(params, f"{f.where} rope_parameters").float("rope_theta", f.raw.get("rope_theta", 10000.0))
    else:
        theta = f.float("rope_theta", 10000.0)
        scaling = f.raw.get("rope_scaling")
        if scaling is None:
            return RopeConfig(theta=theta)
        if not isinstance(scaling, dict):
            raise f._fail("rope_scaling", "an object or null", scaling)
    s = _Fields(scaling, f"{f.where} rope scaling")
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if not isinstance(kind, str):
        raise f._fail("rope_scaling.type", "a string", kind)
    known = ("default", "linear", "dynamic", "yarn", "llama3", "longrope")
    if kind not in known:
        raise ConfigError(f"{f.where}: unsupported RoPE scaling type {kind!r}; supported: {', '.join(known)}")
    factor = s.float("factor", 1.0)
    original = s.int("original_max_position_embeddings", None)
    skip = {"rope_type", "type", "factor", "original_max_position_embeddings", "rope_theta"}
    extra = tuple(sorted((k, v) for k, v in scaling.items() if k not in skip and not isinstance(v, (dict, list))))
    return RopeConfig(theta=theta, type=kind, factor=factor, original_max_position_embeddings=original, extra=extra)


def _common(f: _Fields, family: str, name: str, source: str) -> dict[str, Any]:
    hidden = f.int("hidden_size")
    heads = f.int("num_attention_heads")
    kv_heads = f.int("num_key_value_heads", heads)
    if heads % kv_heads:
        raise ConfigError(
            f"{f.where}: num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kv_heads})"
        )
    if f.has("head_dim"):
        head_dim = f.int("head_dim")
    elif family == "qwen3":
        head_dim = 128  # transformers' Qwen3Config default (the public Qwen3 configs all set it)
    elif hidden % heads:
        raise ConfigError(
            f"{f.where}: hidden_size ({hidden}) is not a multiple of num_attention_heads ({heads}) "
            "and no 'head_dim' is given"
        )
    else:
        head_dim = hidden // heads
    quant = f.raw.get("quantization_config")
    block = None
    method = None
    if isinstance(quant, dict):
        method = quant.get("quant_method") if isinstance(quant.get("quant_method"), str) else None
        wbs = quant.get("weight_block_size")
        if isinstance(wbs, list) and len(wbs) == 2 and all(isinstance(x, int) and x > 0 for x in wbs):
            block = (wbs[0], wbs[1])
    eos = f.int_list("eos_token_id")
    return dict(
        name=name,
        family=family,
        hidden_size=hidden,
        num_layers=f.int("num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=f.int("intermediate_size"),
        vocab_size=f.int("vocab_size"),
        max_position_embeddings=f.int("max_position_embeddings"),
        rope=_rope(f),
        tie_word_embeddings=f.bool("tie_word_embeddings", False),
        rms_norm_eps=f.float("rms_norm_eps", 1e-6),
        bos_token_id=f.int("bos_token_id", None, minimum=0),
        eos_token_ids=eos,
        torch_dtype=f.str("torch_dtype", f.str("dtype", "bfloat16")),
        weight_block_size=block,
        quant_method=method,
        source=source,
    )


def _sparse_step_layers(f: _Fields, num_layers: int) -> frozenset[int]:
    """qwen2_moe / qwen3_moe: layer i is sparse unless in mlp_only_layers or (i+1) % decoder_sparse_step."""
    step = f.int("decoder_sparse_step", 1)
    only = set(f.int_list("mlp_only_layers"))
    return frozenset(i for i in range(num_layers) if i not in only and (i + 1) % step == 0)


def _parse_llama_like(f: _Fields, c: dict[str, Any]) -> None:
    fam = c["family"]
    if fam == "llama":
        bias = f.bool("attention_bias", False)
        c.update(qkv_bias=bias, o_bias=bias, mlp_bias=f.bool("mlp_bias", False))
    elif fam == "qwen2":
        c.update(qkv_bias=True)
    elif fam == "qwen3" or fam == "qwen3_moe":
        bias = f.bool("attention_bias", False)
        c.update(qkv_bias=bias, o_bias=bias, qk_norm=True)
    elif fam == "qwen2_moe":
        c.update(qkv_bias=f.bool("qkv_bias", True))


def _parse_moe(f: _Fields, c: dict[str, Any]) -> None:
    fam, n = c["family"], c["num_layers"]
    if fam == "mixtral":
        experts = f.int("num_local_experts")
        c["moe"] = MoEConfig(
            num_experts=experts,
            top_k=_top_k(f, experts),
            expert_intermediate_size=c["intermediate_size"],
            norm_topk_prob=True,
            layers=frozenset(range(n)),
        )
    elif fam in ("qwen2_moe", "qwen3_moe"):
        experts = f.int("num_experts")
        shared = f.int("shared_expert_intermediate_size", 0, minimum=0) if fam == "qwen2_moe" else 0
        c["moe"] = MoEConfig(
            num_experts=experts,
            top_k=_top_k(f, experts),
            expert_intermediate_size=f.int("moe_intermediate_size"),
            shared_intermediate_size=shared,
            shared_expert_gate=shared > 0,
            norm_topk_prob=f.bool("norm_topk_prob", fam == "qwen3_moe"),
            layers=_sparse_step_layers(f, n),
        )


def _top_k(f: _Fields, experts: int) -> int:
    k = f.int("num_experts_per_tok")
    if k > experts:
        raise ConfigError(f"{f.where}: num_experts_per_tok ({k}) exceeds the number of experts ({experts})")
    return k


def _parse_deepseek(f: _Fields, c: dict[str, Any]) -> None:
    fam = c["family"]
    c["mla"] = MLAConfig(
        q_lora_rank=f.int("q_lora_rank", None),
        kv_lora_rank=f.int("kv_lora_rank"),
        qk_nope_head_dim=f.int("qk_nope_head_dim"),
        qk_rope_head_dim=f.int("qk_rope_head_dim"),
        v_head_dim=f.int("v_head_dim"),
    )
    c["head_dim"] = c["mla"].qk_head_dim
    bias = f.bool("attention_bias", False)
    c.update(qkv_bias=bias, o_bias=bias)
    mtp = f.int("num_nextn_predict_layers", 0, minimum=0) if fam == "deepseek_v3" else 0
    c["num_mtp_layers"] = mtp
    experts = f.int("n_routed_experts", None)
    if experts is None:
        return  # a dense MLA model
    first_dense = f.int("first_k_dense_replace", 0, minimum=0)
    freq = f.int("moe_layer_freq", 1)
    n_group = f.int("n_group", 1)
    topk_group = f.int("topk_group", 1)
    if experts % n_group:
        raise ConfigError(f"{f.where}: n_routed_experts ({experts}) must be a multiple of n_group ({n_group})")
    if topk_group > n_group:
        raise ConfigError(f"{f.where}: topk_group ({topk_group}) exceeds n_group ({n_group})")
    v3 = fam == "deepseek_v3"
    c["moe"] = MoEConfig(
        num_experts=experts,
        top_k=_top_k(f, experts),
        expert_intermediate_size=f.int("moe_intermediate_size"),
        shared_intermediate_size=f.int("n_shared_experts", 0, minimum=0) * f.int("moe_intermediate_size"),
        router_bias=v3 and f.str("topk_method", "noaux_tc") == "noaux_tc",
        scoring_func=f.str("scoring_func", "sigmoid" if v3 else "softmax"),
        topk_method=f.str("topk_method", "noaux_tc" if v3 else "greedy"),
        n_group=n_group,
        topk_group=topk_group,
        norm_topk_prob=f.bool("norm_topk_prob", v3),
        routed_scaling_factor=f.float("routed_scaling_factor", 1.0),
        layers=frozenset(i for i in range(c["num_layers"] + mtp) if i >= first_dense and i % freq == 0),
    )


def parse_config(raw: Any, name: str = "model", source: str = "") -> ModelArch:
    """Build a ModelArch from a config.json dict. Raises ConfigError for anything malformed."""
    where = source or name
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a config.json must hold a JSON object, got {type(raw).__name__}")
    f = _Fields(raw, where)
    family = raw.get("model_type")
    if family is None:
        raise ConfigError(
            f"{where}: required field 'model_type' is missing (supported: {', '.join(SUPPORTED_FAMILIES)})"
        )
    notes: tuple[str, ...] = ()
    arch_family = _family_of_architectures(raw.get("architectures"))
    if family not in SUPPORTED_FAMILIES and arch_family is not None:
        notes = (f"model_type {family!r} read as {arch_family} (architectures: {', '.join(raw['architectures'])})",)
        family = arch_family
    if family not in SUPPORTED_FAMILIES:
        raise ConfigError(
            f"{where}: model_type {family!r} is not supported; supported: {', '.join(SUPPORTED_FAMILIES)}"
        )
    c = _common(f, family, name, source)
    if family in MLA_FAMILIES:
        _parse_deepseek(f, c)
    else:
        _parse_llama_like(f, c)
        _parse_moe(f, c)
    return ModelArch(**c, notes=notes)


# Model classes whose code is DeepSeek's: a config naming one of them is that family whatever its model_type says
# (Kimi-K2: "model_type": "kimi_k2", "architectures": ["DeepseekV3ForCausalLM"], DeepSeek-V3's layout throughout).
ARCHITECTURE_FAMILIES = {"DeepseekV3ForCausalLM": "deepseek_v3", "DeepseekV2ForCausalLM": "deepseek_v2"}


def _family_of_architectures(archs: Any) -> str | None:
    if not isinstance(archs, list):
        return None
    found = {ARCHITECTURE_FAMILIES[a] for a in archs if isinstance(a, str) and a in ARCHITECTURE_FAMILIES}
    return found.pop() if len(found) == 1 else None
