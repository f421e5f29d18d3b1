"""Attention for the engine's decoders: GQA self-attention (llama, mistral, qwen2, qwen3) and DeepSeek's multi-head
latent attention (MLA: DeepSeek-V2 report §2.1; with the cache, decode runs in the weight-absorbed form: scores =
(q_nope W_UK) c^T + q_pe k_pe^T, output = (P c) W_UV). Shapes: B batch, S tokens in the step, T cached positions,
H heads, D head dim, R latent rank, r RoPE dim; `start` as in model.Transformer.forward."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from specsize.config import ModelArch
from specsize.engine.cache import KVCache, LatentCache, Rows
from specsize.engine.layers import FusedNames, RMSNorm
from specsize.engine.rope import rotate, softmax_scale


def _causal_mask(start: int | Rows, s: int, end: int, device) -> torch.Tensor | None:
    """[S, T] True where query start+i may attend key j (j <= start+i); None when every key is visible.
    Batched rows (Rows) each have their own start: [B, 1, S, T]."""
    if isinstance(start, Rows):
        q = start.start[:, None, None, None] + torch.arange(s, device=device)[:, None]  # [B, 1, S, 1]
        return torch.arange(end, device=device) <= q
    if s == 1:
        return None
    q = torch.arange(start, start + s, device=device)[:, None]
    return torch.arange(end, device=device)[None, :] <= q


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float
           ) -> torch.Tensor:  # fmt: skip
    """softmax(q k^T scale, masked) v written as broadcast products and sums, for the compiled cached steps:
    inductor fuses them into its own loops, where scaled_dot_product_attention is a call into ATen's CPU flash
    attention, whose fixed cost (about 30 us a call on this project's CPU) is most of a one-token step's attention
    over a few hundred cached positions. q [B, H, S, D], k and v [B, H_kv, T, D], mask [S, T] -> [B, H, S, D]; the
    G = H / H_kv query heads of a key head share it (GQA, as enable_gqa)."""
    b, h, s, d = q.shape
    hk = k.shape[1]
    q = q.reshape(b, hk, h // hk, s, 1, d)  # [B, H_kv, G, S, 1, D]
    scores = (q * k[:, :, None, None]).sum(-1) * scale  # [B, H_kv, G, S, T]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    p = torch.softmax(scores.float(), dim=-1).to(q.dtype)
    return (p[..., None] * v[:, :, None, None]).sum(-2).reshape(b, h, s, d)  # [B, H_kv, G, S, D] -> [B, H, S, D]


class Attention(nn.Module):
    """GQA self-attention with optional q/k/v/o biases (qwen2, llama attention_bias) and q/k RMSNorm (qwen3);
    q, k and v are one matmul (qkv_proj, FusedNames)."""

    def __init__(self, a: ModelArch):
        super().__init__()
        h, d = a.hidden_size, a.head_dim
        self.n_heads, self.n_kv, self.head_dim = a.num_heads, a.num_kv_heads, d
        q, kv = a.num_heads * d, a.num_kv_heads * d
        self.qkv_proj = nn.Linear(h, q + 2 * kv, bias=a.qkv_bias)  # rows: q_proj, k_proj, v_proj
        self.o_proj = nn.Linear(q, h, bias=a.o_bias)
        FusedNames("qkv_proj", {"q_proj": q, "k_proj": kv, "v_proj": kv}).attach(self)
        if a.qk_norm:
            self.q_norm = RMSNorm(d, a.rms_norm_eps)
            self.k_norm = RMSNorm(d, a.rms_norm_eps)
        self.qk_norm = a.qk_norm
        self.scale = d**-0.5
        self.cache: KVCache | None = None

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], start: int | Rows | None
                ) -> torch.Tensor:  # fmt: skip
        b, s, _ = x.shape
        hq, hk, d = self.n_heads, self.n_kv, self.head_dim
        qk, v = self.qkv_proj(x).view(b, s, hq + 2 * hk, d).split([hq + hk, hk], dim=2)  # [B, S, H + H_kv, D]
        if self.qk_norm:  # qwen3: an RMSNorm over each head's D before the rotation
            q, k = qk.split([hq, hk], dim=2)
            qk = torch.cat((self.q_norm(q), self.k_norm(k)), dim=2)
        q, k = rotate(qk.transpose(1, 2), *rope, False).split([hq, hk], dim=1)  # [B, H, S, D], [B, H_kv, S, D]
        v = v.transpose(1, 2)  # [B, H_kv, S, D]
        if start is None:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale, enable_gqa=True)
        else:
            k, v = self.cache.update(start, k, v)  # [B, H_kv, T, D]
            mask = _causal_mask(start, s, k.shape[2], x.device)
            if torch.compiler.is_compiling() and not isinstance(start, Rows):
                o = attend(q, k, v, mask, self.scale)
            else:
                o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale, enable_gqa=True)
        return self.o_proj(o.transpose(1, 2).reshape(b, s, -1))  # [B, S, H D] -> [B, S, hidden]


class MLAttention(nn.Module):
    """Multi-head latent attention. The cache holds the latent c = kv_a_layernorm(kv_a(x)[:R]) and the rotated
    shared key k_pe; with the cache, attention runs in the weight-absorbed form (no per-head keys built)."""

    def __init__(self, a: ModelArch, interleave: bool):
        super().__init__()
        m, h = a.mla, a.hidden_size
        self.n_heads = a.num_heads
        self.nope, self.rope_dim, self.v_dim, self.rank = (
            m.qk_nope_head_dim,
            m.qk_rope_head_dim,
            m.v_head_dim,
            m.kv_lora_rank,
        )
        qk = m.qk_head_dim
        if m.q_lora_rank is None:
            self.q_proj = nn.Linear(h, a.num_heads * qk, bias=False)
            self.kv_a_proj_with_mqa = nn.Linear(h, m.cache_dim, bias=a.qkv_bias)  # R + r
        else:  # q_a and kv_a read the same x: one matmul (qkv_a_proj, FusedNames)
            self.qkv_a_proj = nn.Linear(h, m.q_lora_rank + m.cache_dim, bias=a.qkv_bias)  # rows: q_a, kv_a
            self.q_a_layernorm = RMSNorm(m.q_lora_rank, 1e-6)
            self.q_b_proj = nn.Linear(m.q_lora_rank, a.num_heads * qk, bias=False)
            FusedNames("qkv_a_proj", {"q_a_proj": m.q_lora_rank, "kv_a_proj_with_mqa": m.cache_dim}).attach(self)
        self.q_lora = m.q_lora_rank
        self.kv_a_layernorm = RMSNorm(m.kv_lora_rank, 1e-6)
        self.kv_b_proj = nn.Linear(m.kv_lora_rank, a.num_heads * (m.qk_nope_head_dim + m.v_head_dim), bias=False)
        self.o_proj = nn.Linear(a.num_heads * m.v_head_dim, h, bias=a.o_bias)
        self.scale = softmax_scale(qk, a.rope)
        self.interleave = interleave
        self.cache: LatentCache | None = None

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], start: int | Rows | None
                ) -> torch.Tensor:  # fmt: skip
        b, s, _ = x.shape
        H, n, r = self.n_heads, self.nope, self.rope_dim
        if self.q_lora:  # DeepSeek-V3: q through the q_lora_rank bottleneck
            q_a, kv_a = self.qkv_a_proj(x).split([self.q_lora, self.rank + r], dim=-1)  # [B,S,q_lora], [B,S,R+r]
            q = self.q_b_proj(self.q_a_layernorm(q_a))
        else:  # DeepSeek-V2-Lite: a plain q_proj
            q, kv_a = self.q_proj(x), self.kv_a_proj_with_mqa(x)
        q = q.view(b, s, H, n + r).transpose(1, 2)  # [B, H, S, n + r]
        q_nope, q_pe = q.split([n, r], dim=-1)
        q_pe = rotate(q_pe, *rope, self.interleave)
        c, k_pe = kv_a.split([self.rank, r], dim=-1)
        c = self.kv_a_layernorm(c)  # [B, S, R]
        k_pe = rotate(k_pe.unsqueeze(1), *rope, self.interleave).squeeze(1)  # [B, S, r]: one head shared by all
        if start is None:
            kv = self.kv_b_proj(c).view(b, s, H, n + self.v_dim).transpose(1, 2)  # [B, H, S, n + v]: keys built
            k_nope, v = kv.split([n, self.v_dim], dim=-1)
            k = torch.cat((k_nope, k_pe.unsqueeze(1).expand(b, H, s, r)), dim=-1)  # [B, H, S, n + r]
            o = F.scaled_dot_product_attention(torch.cat((q_nope, q_pe), -1), k, v, is_causal=True, scale=self.scale)
        else:
            c_all, pe_all = self.cache.update(start, c, k_pe)  # [B, T, R], [B, T, r]
            w = self.kv_b_proj.weight.view(H, n + self.v_dim, self.rank)  # [H, n + v, R]: W_UK rows, then W_UV
            q_lat = q_nope @ w[:, :n]  # [B, H, S, R]: W_UK absorbed into the query
            scores = q_lat @ c_all.unsqueeze(1).transpose(-1, -2)  # [B, H, S, R] @ [B, 1, R, T] -> [B, H, S, T]
            scores = (scores + q_pe @ pe_all.unsqueeze(1).transpose(-1, -2)) * self.scale  # + [B,H,S,r] @ [B,1,r,T]
            mask = _causal_mask(start, s, c_all.shape[1], x.device)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            p = torch.softmax(scores.float(), dim=-1).to(x.dtype)
            o = (p @ c_all.unsqueeze(1)) @ w[:, n:].transpose(1, 2)  # [B, H, S, v]: W_UV absorbed on the way out
        return self.o_proj(o.transpose(1, 2).reshape(b, s, H * self.v_dim))  # [B, S, H v] -> [B, S, hidden]
