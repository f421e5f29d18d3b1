"""Weight precisions: bytes for every tensor of a model, per format.

A Precision maps each TensorGroup (see tensors.py) to the bytes it occupies, scales and zero points included,
so that a checkpoint size is sum(precision.group_bytes(g)) over the inventory. Formats that quantise only some
tensor classes (FP8 keeps embeddings, norms, router and head in BF16; NVFP4 quantises only routed experts;
GGUF recipes choose a type per tensor role) express that in their rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from math import ceil, prod

from specsize.config import ModelArch
from specsize.errors import CatalogError
from specsize.tensors import TensorGroup, group_of

BF16 = 2.0
FP32 = 4.0
GROUP = 128  # AWQ / GPTQ group size (assumption: the common default, used by the public R1 AWQ checkpoint)
# DeepSeek-V3's weight_block_size (config.json quantization_config): the block of a model whose config declares
# none (FP8 made from a BF16 checkpoint); a config's own weight_block_size wins (TensorGroup.scale_block).
FP8_BLOCK = (128, 128)


@dataclass(frozen=True)
class Precision:
    name: str
    description: str
    source: str
    group_bytes: Callable[[TensorGroup], float]  # bytes of the whole group (all its occurrences)
    compute: str  # the tensor-core dtype its matmuls run in: bf16 | fp8 | int8 | fp4
    weight_only: bool = True  # activations stay in BF16 (AWQ/GPTQ/GGUF)
    block_quantised: bool = False  # GGUF: super-blocks dequantised inside llama.cpp's mat-vec kernels


def _high_precision(g: TensorGroup, default: float = BF16) -> float:
    """Tensors every format keeps unquantised: router bias in FP32, the rest at `default` bytes."""
    return g.numel * (FP32 if g.kind == "router_bias" else default)


def quantised(g: TensorGroup) -> bool:
    """Linear weights that quantised checkpoints store low-bit. The router stays high precision, and so does
    DeepSeek's MTP eh_proj: the R1 checkpoint stores it BF16 (vLLM's deepseek_mtp.py loads it as a plain
    nn.Linear), which with everything else counted reproduces R1's published FP8 checkpoint size to 0.002%."""
    return g.kind == "linear" and g.role != "eh_proj" and g.component != "moe_router"


def stored_fp8(a: ModelArch, key: str) -> bool:
    """Whether DeepSeek's FP8 format stores checkpoint tensor `key` as e4m3 with a weight_scale_inv: the one rule
    (quantised) the planner's sizes and the engine's saver both apply.

    >>> from specsize.resolve import load_model
    >>> r1 = load_model("deepseek-r1")
    >>> [stored_fp8(r1, k) for k in ("model.layers.3.self_attn.q_a_proj.weight", "model.layers.3.mlp.gate.weight",
    ...                              "model.layers.61.eh_proj.weight", "model.embed_tokens.weight")]
    [True, False, False, False]
    """
    g = group_of(a, key)
    return g is not None and quantised(g)


def _plain(bytes_per: float) -> Callable[[TensorGroup], float]:
    return lambda g: _high_precision(g, bytes_per)


def fp8_block_bytes(g: TensorGroup) -> float:
    """DeepSeek FP8: e4m3 linear weights + one FP32 weight_scale_inv per block (the config's weight_block_size,
    else 128x128); the rest BF16.

    The scale tensor of an (out, in) weight is (ceil(out/128), ceil(in/128)) (DeepSeek-V3 README_WEIGHTS.md).
    """
    if not quantised(g):
        return _high_precision(g)
    block = g.scale_block or FP8_BLOCK
    out, inp = g.shape
    return g.numel * 1.0 + g.count * ceil(out / block[0]) * ceil(inp / block[1]) * FP32


def int8_channel_bytes(g: TensorGroup) -> float:
    """W8A8 INT8 with one FP32 scale per output channel (SGLang's channel-INT8 R1); the rest BF16."""
    if not quantised(g):
        return _high_precision(g)
    return g.numel * 1.0 + g.count * g.shape[0] * FP32


def int4_group_bytes(g: TensorGroup, g_idx: bool) -> float:
    """AWQ / GPTQ int4, group 128: packed 4-bit weights, an FP16 scale and a packed 4-bit zero per group;
    GPTQ also stores an int32 g_idx per input channel. Embeddings, norms, router and head stay FP16."""
    if not quantised(g):
        return _high_precision(g)
    out, inp = g.shape
    groups = out * ceil(inp / GROUP)
    per = prod(g.shape) * 0.5 + groups * (2.0 + 0.5) + (inp * 4.0 if g_idx else 0.0)
    return per * g.count


def nvfp4_bytes(g: TensorGroup) -> float:
    """NVIDIA's FP4 R1 (nvidia/DeepSeek-R1-FP4): routed-expert linears in NVFP4 (4-bit e2m1 + one FP8 scale per
    16 weights = 4.5 bits) plus one FP32 global scale per tensor; other linears FP8 block-scaled; the rest BF16."""
    if g.component == "moe_routed" and quantised(g):
        return g.numel * 4.5 / 8 + g.count * FP32
    return fp8_block_bytes(g)


def mxfp4_bytes(g: TensorGroup) -> float:
    """AMD's FP4 R1 for MI355X (amd/DeepSeek-R1-MXFP4): routed-expert linears in OCP MXFP4 (4-bit e2m1 + one E8M0
    scale per 32 weights = 4.25 bits, OCP Microscaling spec v1.0); other linears FP8 block-scaled; the rest BF16."""
    if g.component == "moe_routed" and quantised(g):
        return g.numel * 4.25 / 8
    return fp8_block_bytes(g)


# --- GGUF (llama.cpp) ----------------------------------------------------------------------------
# Bits per weight of the ggml block types: block bytes x 8 / block size (ggml-common.h block_* structs).
GGML_BPW = {
    "f32": 32.0, "f16": 16.0, "bf16": 16.0, "q8_0": 8.5, "q6_k": 6.5625, "q5_k": 5.5, "q4_k": 4.5,
    "q3_k": 3.4375, "q2_k": 2.625, "iq4_xs": 4.25, "iq3_xxs": 3.0625, "iq2_xs": 2.3125, "iq2_xxs": 2.0625,
    "iq1_m": 1.75, "iq1_s": 1.5625,
}  # fmt: skip


@dataclass(frozen=True)
class GGUFRecipe:
    """Per-role ggml types, after llama.cpp's llama_tensor_get_type (src/llama-quant.cpp) for a file type.

    base: most linears; output: lm_head; embd: token embedding; more_bits: the type that attn_v and ffn_down
    get in the layers use_more_bits() picks (about half), or None; experts / down_exps / shexp override the
    type of routed experts (gate/up), routed down_proj and shared experts (Unsloth's dynamic quants);
    down_exps_high, down_exps_high_share: a fraction of routed down_proj kept at a higher type.
    """

    base: str
    output: str = "q6_k"
    embd: str | None = None
    more_bits: str | None = None
    attn: str | None = None
    dense_mlp: str | None = None
    experts: str | None = None
    down_exps: str | None = None
    down_exps_high: str | None = None
    down_exps_high_share: float = 0.0
    shexp: str | None = None

    def bits(self, g: TensorGroup) -> float:
        role, comp = g.role, g.component
        if g.kind in ("norm", "bias", "router_bias") or comp == "moe_router":
            return GGML_BPW["f32"]
        if g.kind == "embedding":
            return GGML_BPW[self.embd or self.base]
        if g.kind == "lm_head":
            return GGML_BPW[self.output]
        if comp == "moe_routed":
            if role.startswith("down"):
                if not self.down_exps:
                    return self._more(self.experts or self.base)
                hi, share = self.down_exps_high or self.down_exps, self.down_exps_high_share
                return (1 - share) * GGML_BPW[self.down_exps] + share * GGML_BPW[hi]
            return GGML_BPW[self.experts or self.base]
        if comp == "moe_shared":
            t = self.shexp or self.base
            return self._more(t) if role.startswith("down") and not self.shexp else GGML_BPW[t]
        if comp == "attention":
            t = self.attn or self.base
            return self._more(t) if role == "v" and not self.attn else GGML_BPW[t]
        t = self.dense_mlp or self.base
        return self._more(t) if role.startswith("down") and not self.dense_mlp else GGML_BPW[t]

    def _more(self, t: str) -> float:
        if not self.more_bits:
            return GGML_BPW[t]
        # llama.cpp's use_more_bits(i, n): i < n/8 or i >= 7n/8 or (i - n/8) % 3 == 2 -> about half the layers
        return 0.5 * GGML_BPW[t] + 0.5 * GGML_BPW[self.more_bits]


def gguf_bytes(recipe: GGUFRecipe) -> Callable[[TensorGroup], float]:
    """GGUF files from llama.cpp's converter hold the main model only: DeepSeek's MTP layer is not exported."""

    def rule(g: TensorGroup) -> float:
        if g.scope != "model":
            return 0.0
        return g.numel * recipe.bits(g) / 8

    return rule


GGUF_RECIPES = {
    "q8_0": GGUFRecipe("q8_0", output="q8_0"),
    "q6_k": GGUFRecipe("q6_k", output="q6_k"),
    "q5_k_m": GGUFRecipe("q5_k", more_bits="q6_k"),
    "q4_k_m": GGUFRecipe("q4_k", more_bits="q6_k"),
    "q3_k_m": GGUFRecipe("q3_k", more_bits="q4_k", attn="q4_k"),
    "q2_k": GGUFRecipe("q2_k", more_bits="q3_k", embd="q2_k"),
    # Unsloth dynamic R1 quants (unsloth.ai/blog/deepseekr1-dynamic, 2025-01-27): attention and the dense
    # layers at 4/6 bit, shared experts 6 bit, embedding 4 bit, head 6 bit; routed experts low, with
    # down_proj mixed. The share of down_proj at the higher type is an assumption read off "mixture of".
    "ud-iq1_s": GGUFRecipe("q4_k", more_bits="q6_k", experts="iq1_s", down_exps="iq1_s",
                           down_exps_high="iq2_xxs", down_exps_high_share=0.1, shexp="q6_k"),
    "ud-iq1_m": GGUFRecipe("q4_k", more_bits="q6_k", experts="iq1_m", down_exps="iq2_xxs", shexp="q6_k"),
    "ud-iq2_xxs": GGUFRecipe("q4_k", more_bits="q6_k", experts="iq2_xxs", down_exps="iq2_xxs",
                             down_exps_high="q2_k", down_exps_high_share=0.5, shexp="q6_k"),
    "ud-q2_k_xl": GGUFRecipe("q4_k", more_bits="q6_k", experts="q2_k", down_exps="q2_k",
                             down_exps_high="q3_k", down_exps_high_share=0.5, shexp="q6_k"),
}  # fmt: skip


PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("bf16", "bfloat16 everywhere", "2 bytes per weight", _plain(BF16), "bf16"),
        Precision("fp16", "float16 everywhere", "2 bytes per weight", _plain(BF16), "bf16"),
        Precision(
            "fp8",
            "FP8 e4m3, 128x128 block scales (DeepSeek's own checkpoint format)",
            "DeepSeek-V3 README_WEIGHTS.md; config.json quantization_config",
            fp8_block_bytes,
            "fp8",
            False,
        ),
        Precision(
            "int8",
            "INT8 W8A8, per-channel FP32 scales",
            "SGLang docs: channel-wise INT8 DeepSeek-R1",
            int8_channel_bytes,
            "int8",
            False,
        ),
        Precision(
            "awq-int4",
            "AWQ 4-bit, group 128, FP16 scales + 4-bit zeros",
            "AutoAWQ GEMM format",
            lambda g: int4_group_bytes(g, g_idx=False),
            "bf16",
        ),
        Precision(
            "gptq-int4",
            "GPTQ 4-bit, group 128, FP16 scales + 4-bit zeros + g_idx",
            "AutoGPTQ format",
            lambda g: int4_group_bytes(g, g_idx=True),
            "bf16",
        ),
        Precision(
            "nvfp4",
            "NVFP4 routed experts, FP8 block-scaled attention/dense, BF16 rest",
            "nvidia/DeepSeek-R1-FP4 model card",
            nvfp4_bytes,
            "fp4",
            False,
        ),
        Precision(
            "mxfp4",
            "OCP MXFP4 routed experts (32-element blocks, E8M0 scales), FP8 block-scaled attention/dense, BF16 rest",
            "amd/DeepSeek-R1-MXFP4 model card; OCP Microscaling Formats v1.0",
            mxfp4_bytes,
            "fp4",
            False,
        ),
    )
}
PRECISIONS.update(
    {
        name: Precision(name, f"GGUF {name.upper()} (llama.cpp type per tensor role)",
                        "llama.cpp src/llama-quant.cpp; Unsloth blog for ud-*", gguf_bytes(r), "bf16",
                        block_quantised=True)
        for name, r in GGUF_RECIPES.items()
    }
)  # fmt: skip


def get_precision(name: str) -> Precision:
    try:
        return PRECISIONS[str(name).lower()]
    except KeyError:
        raise CatalogError(f"unknown weight precision {name!r}; choose one of: {', '.join(PRECISIONS)}") from None


def checkpoint_bytes(groups: Iterable[TensorGroup], precision: str | Precision) -> float:
    p = get_precision(precision) if isinstance(precision, str) else precision
    return sum(p.group_bytes(g) for g in groups)
