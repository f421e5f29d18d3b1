"""Our PyTorch implementations of the dense decoders (llama, mistral, qwen2, qwen3) and of DeepSeek-V3 / R1
(MLA + MoE + MTP), built from the planner's ModelArch. Module and parameter names mirror the Hugging Face
checkpoints, so a state dict is a checkpoint (loader.py, saver.py).

Forward modes (Transformer.forward):
- start=None: full sequence, no cache, causal (training, the reference comparison);
- start=p: the tokens sit at positions p..p+S-1; keys/values are written into the static cache and
  attention reads positions 0..p+S-1: a prompt (prefill), one token (decode), or k+1 tokens (verification);
- start=Rows (cache.py): a batch of sequences, each in its own cache slot at its own position (batch.py).
Shapes: B batch, S tokens in the step, T cached positions, H heads, D head dim, R latent rank, r RoPE dim.
`rope` is the step's (cos, sin) tables, computed once per step by Transformer.forward.
One forward path per module: projections that read the same input (q+k+v; gate+up; MLA's q_a+kv_a) are one
nn.Linear from construction, and FusedNames joins and splits them at the state dict (gpt-fast's load hook), so
checkpoints keep Hugging Face's names. Transformer.fuse() only stacks the MoE experts (for the compiled path).

DeepSeek-V3 references: MLA (DeepSeek-V2 report §2.1; decode in the weight-absorbed form: scores =
(q_nope W_UK) c^T + q_pe k_pe^T, output = (P c) W_UV), MoE routing (DeepSeek-V3 report §2.1.2: sigmoid scores,
bias-corrected group-limited top-k, weights normalised and scaled), MTP (§2.2, the MTP module below).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from specsize.config import ModelArch
from specsize.engine.cache import KVCache, LatentCache, Rows
from specsize.engine.grouped import grouped_mm
from specsize.engine.rope import Rotary, rotate, softmax_scale
from specsize.errors import EngineError

ENGINE_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "deepseek_v3")
# MoE.forward under torch.compile gathers each token's chosen experts' weights (a copy) instead of the grouped
# product when the copy holds at most this many elements (tokens x top-k x one expert's gate, up and down).
# Assumption: 4M elements (16 MB in fp32, half the 32 MB L3 of this project's CPU): a copy that stays in cache
# costs no more than the grouped product's fixed cost per call (benchmarks/bench_moe.py, tiny-r1, compiled, CPU
# time: gather 0.100-0.286 ms against grouped 0.103-0.293 ms per layer at 1-16 tokens on a quiet machine; under
# load the grouped product's callback cost up to 3x the gather). tiny-r1's steps (at most 16 tokens x 2 experts x
# 74K elements = 2.4M) stay under it; one of R1's experts (44M elements) is far over it.
GATHER_MAX_ELEMENTS = 4 * 1024 * 1024


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * F.rms_norm(x.float(), self.weight.shape, eps=self.eps).to(x.dtype)


class FusedNames:
    """gpt-fast's load hook: one nn.Linear (`fused`) holds the linears that read the same input (`parts`, name ->
    output rows, stacked in that order), so forward runs one matmul; a state dict keeps the checkpoint's names
    (the parts are concatenated when one is loaded, split when one is taken), so loader.py, saver.py and the
    transformers comparison see Hugging Face keys. All parts have a bias or none has."""

    def __init__(self, fused: str, parts: dict[str, int]):
        self.fused, self.parts = fused, parts

    def attach(self, module: nn.Module) -> None:
        module.register_load_state_dict_pre_hook(self.join)
        module.register_state_dict_post_hook(partial(self.split))  # torch marks the hook: a bound method takes no mark

    def join(self, module, state, prefix, *_) -> None:
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{p}.{suffix}" for p in self.parts]
            if all(k in state for k in keys):  # else the strict load names the missing fused key
                state[f"{prefix}{self.fused}.{suffix}"] = torch.cat([state.pop(k) for k in keys])

    def split(self, module, state, prefix, _) -> None:
        for suffix in ("weight", "bias"):
            t = state.pop(f"{prefix}{self.fused}.{suffix}", None)
            if t is not None:
                for p, rows in zip(self.parts, t.split(list(self.parts.values())), strict=True):
                    state[f"{prefix}{p}.{suffix}"] = rows


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)); gate and up are one matmul (gate_up_proj, FusedNames)."""

    def __init__(self, hidden: int, inter: int, bias: bool = False):
        super().__init__()
        self.gate_up_proj = nn.Linear(hidden, 2 * inter, bias=bias)  # rows: gate_proj, then up_proj
        self.down_proj = nn.Linear(inter, hidden, bias=bias)
        FusedNames("gate_up_proj", {"gate_proj": inter, "up_proj": inter}).attach(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, u = self.gate_up_proj(x).chunk(2, dim=-1)  # [..., I] each
        return self.down_proj(F.silu(g) * u)


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


# What Router implements (DeepSeek-V3 report §2.1.2): sigmoid scores, bias-corrected (noaux_tc) top-k
ROUTER_SCORING, ROUTER_TOPK = "sigmoid", "noaux_tc"


class Router(nn.Module):
    """DeepSeek-V3 routing: sigmoid scores; choice by score + e_score_correction_bias, limited to the topk_group
    groups with the best sum of their top-2; weights are the unbiased scores, normalised, times the scaling.
    Any other scoring_func / topk_method (softmax scores, DeepSeek-V2's group_limited_greedy) is refused."""

    def __init__(self, a: ModelArch):
        super().__init__()
        moe = a.moe
        if (moe.scoring_func, moe.topk_method) != (ROUTER_SCORING, ROUTER_TOPK):
            raise EngineError(f"{a.name}: the engine's MoE router implements scoring_func {ROUTER_SCORING!r} with "
                              f"topk_method {ROUTER_TOPK!r} (DeepSeek-V3/R1); this model asks for scoring_func "
                              f"{moe.scoring_func!r} with topk_method {moe.topk_method!r} (the planner still sizes "
                              "it: specsize inspect/fit/plan)")  # fmt: skip
        self.weight = nn.Parameter(torch.zeros(moe.num_experts, a.hidden_size))
        self.register_buffer("e_score_correction_bias", torch.zeros(moe.num_experts))
        self.top_k, self.n_group, self.topk_group = moe.top_k, moe.n_group or 1, moe.topk_group or 1
        self.norm, self.scaling = moe.norm_topk_prob, moe.routed_scaling_factor

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [N, hidden] -> weights [N, k] (float32), expert ids [N, k]."""
        scores = F.linear(x.float(), self.weight.float()).sigmoid()  # [N, E]
        choice = scores + self.e_score_correction_bias.float()  # [N, E]: the bias steers the choice only
        if self.topk_group < self.n_group:  # keep the topk_group groups with the best sum of their top-2
            n, e = choice.shape
            g = e // self.n_group  # experts per group
            groups = choice.view(n, self.n_group, g).topk(2, dim=-1)[0].sum(-1)  # [N, groups]
            keep = torch.zeros_like(groups).scatter_(1, groups.topk(self.topk_group, dim=-1)[1], 1.0)  # [N, groups]
            keep = keep.unsqueeze(-1).expand(n, self.n_group, g).reshape(n, e).bool()  # [N, E]: each group's mark
            choice = choice.masked_fill(~keep, float("-inf"))
        idx = choice.topk(self.top_k, dim=-1)[1]  # [N, k]
        w = scores.gather(1, idx)  # [N, k]
        if self.norm:
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        return w * self.scaling, idx


class MoE(nn.Module):
    """Routed experts plus shared experts. Fused (fuse() stacks the experts' weights), the routed sum reads only
    the experts some token chose and copies none of them: the step's n k (token, expert) choices are sorted by
    expert, each token's row gathered once per choice, and one grouped matrix product per projection
    (grouped.grouped_mm) multiplies each group of rows by its expert's weights; the outputs, weighted, are added
    back to their tokens (index_add, in expert order, as a loop over the experts does). No host sync and no
    shape that depends on the routing: under torch.compile a step is one graph whatever the experts chosen.
    Compiled, a step whose per-token copy of its chosen experts' weights would be small (GATHER_MAX_ELEMENTS)
    gathers them instead (gpt-fast's Mixtral MoE: two batched matmuls), which is cheaper there than the grouped
    product's fixed cost. Not fused (training), a loop over the chosen experts (one host sync) computes the same
    sum; the grouped form equals it bit for bit (tests/test_moe_grouped.py)."""

    def __init__(self, a: ModelArch):
        super().__init__()
        m = a.moe
        self.gate = Router(a)
        self.experts = nn.ModuleList(MLP(a.hidden_size, m.expert_intermediate_size) for _ in range(m.num_experts))
        self.shared_experts = MLP(a.hidden_size, m.shared_intermediate_size) if m.shared_intermediate_size else None
        self.stacked: tuple[torch.Tensor, torch.Tensor] | None = None  # [E, 2I, h] gate+up, [E, h, I] down (fuse())

    @torch.no_grad()
    def fuse(self) -> None:
        """Stack the experts' weights (their parameters become views of the stacks; state dicts are unchanged)."""
        if self.stacked is not None:  # experts have no biases (MoE.__init__)
            return
        gate_up = torch.stack([e.gate_up_proj.weight.detach() for e in self.experts])  # [E, 2I, h]
        down = torch.stack([e.down_proj.weight.detach() for e in self.experts])  # [E, h, I]
        for i, e in enumerate(self.experts):
            grad = e.down_proj.weight.requires_grad
            e.gate_up_proj.weight = nn.Parameter(gate_up[i], requires_grad=grad)
            e.down_proj.weight = nn.Parameter(down[i], requires_grad=grad)
        self.stacked = gate_up, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])  # [N, hidden]
        w, idx = self.gate(flat)
        if self.training:  # tokens per expert, for the aux-loss-free balancing of train/trainer.py
            self.load = torch.bincount(idx.flatten(), minlength=len(self.experts))
        w = w.to(flat.dtype)
        out = self.shared_experts(flat) if self.shared_experts is not None else torch.zeros_like(flat)
        if (torch.compiler.is_compiling() and self.stacked is not None
                and idx.numel() * 3 * self.stacked[1][0].numel() <= GATHER_MAX_ELEMENTS):  # fmt: skip
            return (out + self.gathered(flat, w, idx)).view(shape)
        if self.stacked is not None and not torch.is_grad_enabled():
            token, y = self.grouped(flat, w, idx)
            return out.index_add(0, token, y).view(shape)
        for e in idx.unique().tolist():  # only the experts some token chose
            rows, slot = (idx == e).nonzero(as_tuple=True)
            out.index_add_(0, rows, self.experts[e](flat[rows]) * w[rows, slot, None])
        return out.view(shape)

    def grouped(self, flat: torch.Tensor, w: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The chosen experts' outputs, weighted: (token of each choice [N k], output [N k, h]), sorted by expert."""
        gate_up, down = self.stacked
        choice = idx.flatten()  # [N k]: choice j is token j // k's expert
        order = choice.argsort(stable=True)  # by expert, tokens in order within an expert
        token = order // idx.shape[1]
        experts = torch.arange(gate_up.shape[0], device=flat.device)
        ends = torch.searchsorted(choice[order], experts, right=True, out_int32=True)  # [E] each group's end
        g, u = grouped_mm(flat[token], gate_up.transpose(1, 2), ends).chunk(2, dim=-1)  # [N k, I] each
        y = grouped_mm(F.silu(g) * u, down.transpose(1, 2), ends)  # [N k, h]
        return token, y * w.flatten()[order, None]

    def gathered(self, flat: torch.Tensor, w: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Each token's chosen experts' weights gathered (copied) into two batched matmuls: [N, h] -> [N, h]."""
        gate_up, down = self.stacked[0][idx], self.stacked[1][idx]  # [N, k, 2I, h], [N, k, h, I]
        g, u = (gate_up @ flat[:, None, :, None]).squeeze(-1).chunk(2, dim=-1)  # [N, k, I] each
        y = (down @ (F.silu(g) * u).unsqueeze(-1)).squeeze(-1)  # [N, k, h]
        return (y * w.unsqueeze(-1)).sum(1)


class Block(nn.Module):
    def __init__(self, a: ModelArch, i: int, interleave: bool):
        super().__init__()
        self.input_layernorm = RMSNorm(a.hidden_size, a.rms_norm_eps)
        self.self_attn = MLAttention(a, interleave) if a.mla is not None else Attention(a)
        self.post_attention_layernorm = RMSNorm(a.hidden_size, a.rms_norm_eps)
        self.mlp = MoE(a) if a.is_moe_layer(i) else MLP(a.hidden_size, a.intermediate_size, a.mlp_bias)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], start: int | Rows | None
                ) -> torch.Tensor:  # fmt: skip
        x = x + self.self_attn(self.input_layernorm(x), rope, start)
        return x + self.mlp(self.post_attention_layernorm(x))


class SharedHead(nn.Module):
    def __init__(self, a: ModelArch):
        super().__init__()
        self.norm = RMSNorm(a.hidden_size, a.rms_norm_eps)
        self.head = nn.Linear(a.hidden_size, a.vocab_size, bias=False)


class MTPLayer(Block):
    """DeepSeek's MTP module at checkpoint index num_hidden_layers: enorm, hnorm, eh_proj over the concatenation
    [enorm(Emb(t_{i+1})); hnorm(h_i)] (embedding first, as the checkpoint's eh_proj is laid out and as vLLM and
    SGLang load it), one decoder block, and its own copies of the embedding and the output head."""

    def __init__(self, a: ModelArch, i: int, interleave: bool):
        super().__init__(a, i, interleave)
        self.enorm = RMSNorm(a.hidden_size, a.rms_norm_eps)
        self.hnorm = RMSNorm(a.hidden_size, a.rms_norm_eps)
        self.eh_proj = nn.Linear(2 * a.hidden_size, a.hidden_size, bias=False)
        self.shared_head = SharedHead(a)
        self.embed_tokens = nn.Embedding(a.vocab_size, a.hidden_size)

    def predict(self, hidden: torch.Tensor, next_tokens: torch.Tensor, rope: tuple, start: int | Rows | None):
        """hidden: [B, S, hidden] the main model's final-normed states at positions p..p+S-1; next_tokens: [B, S]
        the tokens at p+1..p+S -> logits [B, S, V] for the tokens at p+2..p+S+1, and the MTP states [B, S, h]."""
        x = self.eh_proj(torch.cat((self.enorm(self.embed_tokens(next_tokens)), self.hnorm(hidden)), dim=-1))
        x = Block.forward(self, x, rope, start)
        return self.shared_head.head(self.shared_head.norm(x)), x


class Decoder(nn.Module):
    def __init__(self, a: ModelArch, interleave: bool, with_mtp: bool):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab_size, a.hidden_size)
        layers: list[nn.Module] = [Block(a, i, interleave) for i in range(a.num_layers)]
        if with_mtp:
            layers.append(MTPLayer(a, a.num_layers, interleave))
        self.layers = nn.ModuleList(layers)
        self.norm = RMSNorm(a.hidden_size, a.rms_norm_eps)


class Transformer(nn.Module):
    def __init__(self, a: ModelArch, rope_interleave: bool = True, with_mtp: bool | None = None):
        super().__init__()
        self.arch = a
        mla = a.mla is not None
        with_mtp = a.has_mtp if with_mtp is None else with_mtp
        self.model = Decoder(a, rope_interleave and mla, with_mtp)
        self.tied = a.tie_word_embeddings
        if not self.tied:
            self.lm_head = nn.Linear(a.hidden_size, a.vocab_size, bias=False)
        self.rope_dim = a.mla.qk_rope_head_dim if mla else a.head_dim
        self.interleave = rope_interleave and mla
        self.steps = None  # compiled small steps (compile.compile_steps), opt-in
        self.reset_rotary()

    def reset_rotary(self) -> None:
        """(Re)build the cos/sin tables (after materialising a model built on the meta device)."""
        device = self.model.embed_tokens.weight.device
        device = None if device.type == "meta" else device
        self.rotary = Rotary(self.arch.rope, self.rope_dim, self.arch.max_position_embeddings, self.interleave)
        if device is not None:
            self.rotary.to(device)

    @property
    def mtp(self) -> MTPLayer | None:
        last = self.model.layers[-1]
        return last if isinstance(last, MTPLayer) else None

    def drop_mtp(self) -> None:
        if self.mtp is not None:
            del self.model.layers[-1]

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h, self.model.embed_tokens.weight) if self.tied else self.lm_head(h)

    def setup_cache(self, batch: int, max_len: int, dtype: torch.dtype | None = None) -> None:
        """Preallocate every layer's cache (the MTP layer's too) for `batch` sequences of `max_len` positions
        (the caller includes room for k+1 verification tokens)."""
        a = self.arch
        p = next(self.parameters())
        dtype = dtype or p.dtype
        if max_len > a.max_position_embeddings:
            raise ValueError(f"cache of {max_len} positions exceeds the model's {a.max_position_embeddings}")
        if self.steps is not None:  # compiled steps specialise on the cache's size: a few sizes only
            max_len = self.steps.cache_len(max_len, a.max_position_embeddings)
        for layer in self.model.layers:
            attn = layer.self_attn
            if a.mla is not None:
                attn.cache = LatentCache(batch, max_len, a.mla.kv_lora_rank, a.mla.qk_rope_head_dim, dtype, p.device)
            else:
                attn.cache = KVCache(batch, max_len, a.num_kv_heads, a.head_dim, dtype, p.device)

    def forward(self, tokens: torch.Tensor, start: int | Rows | None = None, return_hidden: bool = False,
                last_only: bool = False):  # fmt: skip
        """tokens: [B, S] -> logits [B, S, V] ([B, 1, V] with last_only), and the final-normed states [B, S, h]
        with return_hidden (what the MTP module reads). Small cached steps go through the compiled step when
        compile.compile_steps was applied."""
        step = self.steps.forward if self.steps is not None and self.steps.wants(tokens, start) else self.step
        return step(tokens, start, return_hidden, last_only)

    def rope(self, start: int | Rows | None, s: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's cos/sin tables: [S, r/2] for one start position, [B, 1, S, r/2] for batched rows."""
        if isinstance(start, Rows):
            pos = start.positions(s)  # [B, S]
            return self.rotary.cos[pos].unsqueeze(1).to(dtype), self.rotary.sin[pos].unsqueeze(1).to(dtype)
        return self.rotary.tables(start or 0, s, dtype)

    def step(self, tokens: torch.Tensor, start: int | Rows | None, return_hidden: bool, last_only: bool):
        x = self.model.embed_tokens(tokens)
        rope = self.rope(start, tokens.shape[1], x.dtype)
        for layer in self.model.layers[: self.arch.num_layers]:
            x = layer(x, rope, start)
        h = self.model.norm(x)
        logits = self.head(h[:, -1:] if last_only else h)
        return (logits, h) if return_hidden else logits

    def mtp_forward(self, hidden: torch.Tensor, next_tokens: torch.Tensor, start: int | Rows | None = None):
        """The MTP module's prediction (MTPLayer.predict) with its own cache at positions start.."""
        if self.mtp is None:
            raise ValueError(f"{self.arch.name} has no MTP layer loaded")
        step = self.steps.mtp if self.steps is not None and self.steps.wants(next_tokens, start) else self.mtp_step
        return step(hidden, next_tokens, start)

    def mtp_step(self, hidden: torch.Tensor, next_tokens: torch.Tensor, start: int | Rows | None):
        rope = self.rope(start, next_tokens.shape[1], hidden.dtype)
        return self.mtp.predict(hidden, next_tokens, rope, start)

    def fuse(self) -> Transformer:
        """Stack every MoE's experts (MoE.fuse: the compiled path's batched matmuls); idempotent; returns self.
        Same-input projections need no call: they are one nn.Linear from the start (FusedNames)."""
        for mod in self.modules():
            if isinstance(mod, MoE):
                mod.fuse()
        return self


@torch.no_grad()
def init_weights(model: Transformer, std: float = 0.02, seed: int | None = None) -> Transformer:
    """Random initialisation for training from scratch (and random-weight tests): normal(0, std) weights, zero
    biases, unit norms, zero router bias correction (GPT-2 / DeepSeek style)."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.zero_()
        elif "norm" in name.rsplit(".", 1)[0].rsplit(".", 1)[-1]:
            p.fill_(1.0)
        else:
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model
