"""KV cache bytes per token.

MLA (DeepSeek-V2 §2.1): the engines (vLLM, SGLang, llama.cpp) cache the compressed latent plus the decoupled
RoPE key, kv_lora_rank + qk_rope_head_dim values per layer: 576 for R1 -> 70,272 B/token in BF16.
GQA / MHA: a key and a value of head_dim for each KV head, per layer.
"""

from __future__ import annotations

from specsize.config import ModelArch
from specsize.errors import CatalogError

# Bytes per cached value for each KV-cache dtype the engines offer.
KV_DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1}


def kv_dtype_bytes(kv_dtype: str) -> int:
    try:
        return KV_DTYPE_BYTES[kv_dtype]
    except KeyError:
        raise CatalogError(f"unknown KV cache dtype {kv_dtype!r}; choose one of: {', '.join(KV_DTYPE_BYTES)}") from None


def kv_values_per_layer(a: ModelArch) -> int:
    """Values cached per token in one attention layer."""
    if a.mla is not None:
        return a.mla.cache_dim
    return 2 * a.num_kv_heads * a.head_dim


def kv_bytes_per_token(a: ModelArch, kv_dtype: str = "bf16") -> int:
    """The main model's KV bytes per token (MTP layers not included; see mtp_kv_bytes_per_token)."""
    return kv_values_per_layer(a) * a.num_layers * kv_dtype_bytes(kv_dtype)


def mtp_kv_bytes_per_token(a: ModelArch, kv_dtype: str = "bf16") -> int:
    """The MTP module's own attention layer(s) cache too: one layer's worth per MTP layer."""
    return kv_values_per_layer(a) * a.num_mtp_layers * kv_dtype_bytes(kv_dtype)
