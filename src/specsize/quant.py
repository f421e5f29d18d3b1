"""Weight precisions: bytes for every tensor of a model, per format.

A Precision maps each TensorGroup (see tensors.py) to the bytes it occupies, scales and zero points included,
so that a checkpoint size is sum(precision.group_bytes(g)) over the inventory. Formats that quantise only some
tensor classes (FP8 keeps embeddings, norms, router and head in BF16; NVFP4 quantises only routed experts;
GGUF recipes choose a type per tensor role) express that in their rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import ceil, prod

from specsize.errors import CatalogError
from specsize.tensors import TensorGroup

BF16 = 2.0
FP32 = 4.0
GROUP = 128  # AWQ / GPTQ group size (assumption: the common default, used by the public R1 AWQ checkpoint)
FP8_BLOCK = (128, 128)  # DeepSeek-V3 weight_block_size (config.json quantization_config)


@dataclass(frozen=True)
class Precision:
    name: str
    description: str
    source: str
    group_bytes: Callable[[TensorGroup], float]  # bytes of the whole group (all its occurrences)
    compute: str  # the tensor-core dtype its matmuls run in: bf16 | fp8 | int8 | fp4
    weight_only: bool = True  # activations stay in BF16 (AWQ/GPTQ/GGUF)


def _high_precision(g: TensorGroup, default: float = BF16) -> float:
    """Tensors every format keeps unquantised: router bias in FP32, the rest at `default` bytes."""
    return g.numel * (FP32 if g.kind == "router_bias" else default)


def quantised(g: TensorGroup) -> bool:
    """Linear weights that quantised checkpoints store low-bit. The router stays high precision, and so does
    DeepSeek's MTP eh_proj: the R1 checkpoint stores it BF16 (vLLM's deepseek_mtp.py loads it as a plain
    nn.Linear), which with everything else counted reproduces R1's published FP8 checkpoint size to 0.002%."""
    return g.kind == "linear" and g.role != "eh_proj" and g.component != "moe_router"


def _plain(bytes_per: float) -> Callable[[TensorGroup], float]:
    return lambda g: _high_precision(g, bytes_per)


def fp8_block_bytes(g: TensorGroup, block: tuple[int, int] = FP8_BLOCK) -> float:
    """DeepSeek FP8: e4m3 linear weights + one FP32 weight_scale_inv per 128x128 block; the rest BF16.

    The scale tensor of an (out, in) weight is (ceil(out/128), ceil(in/128)) (DeepSeek-V3 README_WEIGHTS.md).
    """
    if not quantised(g):
        return _high_precision(g)
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
    )
}


def get_precision(name: str) -> Precision:
    try:
        return PRECISIONS[name.lower()]
    except KeyError:
        raise CatalogError(f"unknown weight precision {name!r}; choose one of: {', '.join(PRECISIONS)}") from None


def checkpoint_bytes(groups: list[TensorGroup], precision: str | Precision) -> float:
    p = get_precision(precision) if isinstance(precision, str) else precision
    return sum(p.group_bytes(g) for g in groups)
