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
nn.Linear from construction, and FusedNames (layers.py) joins and splits them at the state dict (gpt-fast's load
hook), so checkpoints keep Hugging Face's names. Transformer.fuse() only stacks the MoE experts (for the compiled
path).

The modules: layers.py (RMSNorm, FusedNames, MLP), attention.py (GQA and MLA), moe.py (DeepSeek-V3's router and
experts); here the decoder block, DeepSeek's MTP module (DeepSeek-V3 report §2.2) and the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from specsize.config import ModelArch
from specsize.engine.attention import Attention, MLAttention
from specsize.engine.cache import KVCache, LatentCache, Rows
from specsize.engine.layers import MLP, RMSNorm
from specsize.engine.moe import MoE
from specsize.engine.rope import Rotary

ENGINE_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "deepseek_v3")


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

    def predict(self, hidden: torch.Tensor, next_tokens: torch.Tensor, rope: tuple, start: int | Rows | None,
                last_only: bool = False, at: torch.Tensor | None = None):  # fmt: skip
        """hidden: [B, S, hidden] the main model's final-normed states at positions p..p+S-1; next_tokens: [B, S]
        the tokens at p+1..p+S -> logits [B, S, V] for the tokens at p+2..p+S+1, and the MTP states [B, S, h].
        last_only: the last position's logits and state only ([B, 1, V], [B, 1, h]): a drafter's catch-up needs
        the earlier positions' keys and values in the cache (the attention writes them) but not their MLP (MoE),
        norm and head, so those run on the last position alone. at [1] or [B]: the same for the position at that
        index, one for all rows or one per row (a device value: the verification's accepted count,
        rounds.verify_mtp_round; each row's last real position of a padded batched catch-up, batch.BatchMTP)."""
        x = self.eh_proj(torch.cat((self.enorm(self.embed_tokens(next_tokens)), self.hnorm(hidden)), dim=-1))
        x = x + self.self_attn(self.input_layernorm(x), rope, start)
        if at is not None:
            x = x.gather(1, at.view(-1, 1, 1).expand(x.shape[0], 1, x.shape[-1]))  # [B, 1, h]
        elif last_only:
            x = x[:, -1:]
        x = x + self.mlp(self.post_attention_layernorm(x))
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

    def mtp_forward(self, hidden: torch.Tensor, next_tokens: torch.Tensor, start: int | Rows | None = None,
                    at: torch.Tensor | None = None):  # fmt: skip
        """The MTP module's prediction (MTPLayer.predict) with its own cache at positions start.. (at: only the
        positions at those indices, as MTPLayer.predict)."""
        if self.mtp is None:
            raise ValueError(f"{self.arch.name} has no MTP layer loaded")
        if self.steps is not None and self.steps.wants(next_tokens, start):
            return self.steps.mtp(hidden, next_tokens, start, at)
        return self.mtp_step(hidden, next_tokens, start, False, at)

    def mtp_step(self, hidden: torch.Tensor, next_tokens: torch.Tensor, start: int | Rows | None,
                 last_only: bool = False, at: torch.Tensor | None = None):  # fmt: skip
        rope = self.rope(start, next_tokens.shape[1], hidden.dtype)
        return self.mtp.predict(hidden, next_tokens, rope, start, last_only, at)

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
