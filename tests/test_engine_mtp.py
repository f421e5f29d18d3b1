"""The MTP module against a direct, readable implementation of the DeepSeek-V3 report's formula (§2.2):

    h'_i = M [RMSNorm(Emb(t_{i+1})); RMSNorm(h_i)]        (eh_proj; the checkpoint puts the embedding first)
    h_i^1 = TRM(h'_i)                                     (one decoder block: transformers' DeepseekV3DecoderLayer)
    P_{i+2} = OutHead(RMSNorm(h_i^1))

and the caches' bytes per token against the planner's formula."""

import random
from dataclasses import replace

import torch
import transformers
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as ref

from specsize.config import parse_config
from specsize.engine.model import Transformer
from specsize.kvcache import kv_bytes_per_token, mtp_kv_bytes_per_token
from specsize.resolve import load_model as load_arch

from .conftest import random_config
from .test_engine_parity import random_model

TOL = 1e-4


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def reference_block(config: dict, layer_state: dict, x: torch.Tensor) -> torch.Tensor:
    """transformers' decoder layer (MLA + MoE) with the MTP layer's weights (experts fused as transformers
    stores them)."""
    cfg = transformers.DeepseekV3Config(**config)
    cfg._attn_implementation = "eager"
    layer = ref.DeepseekV3DecoderLayer(cfg, layer_idx=cfg.num_hidden_layers).eval()
    state = {k: v for k, v in layer_state.items() if not k.startswith("mlp.experts.")}
    n = cfg.n_routed_experts
    state["mlp.experts.gate_up_proj"] = torch.stack(
        [torch.cat((layer_state[f"mlp.experts.{e}.gate_proj.weight"], layer_state[f"mlp.experts.{e}.up_proj.weight"]))
         for e in range(n)])  # fmt: skip
    state["mlp.experts.down_proj"] = torch.stack([layer_state[f"mlp.experts.{e}.down_proj.weight"] for e in range(n)])
    layer.load_state_dict(state, strict=True)
    s = x.shape[1]
    pos = torch.arange(s)[None]
    cos_sin = ref.DeepseekV3RotaryEmbedding(cfg)(x, pos)
    mask = torch.full((s, s), float("-inf")).triu(1)[None, None]
    return layer(x, attention_mask=mask, position_ids=pos, position_embeddings=cos_sin)


def test_mtp_module_matches_the_report_formula():
    for seed in range(4):
        c, a, m = random_model("deepseek_v3", seed, {"q_lora_rank": [None, 24][seed % 2]})
        g = torch.Generator().manual_seed(seed)
        tokens = torch.randint(0, a.vocab_size, (2, 10), generator=g)
        with torch.no_grad():
            _, h = m(tokens, return_hidden=True)  # the main model's final-normed states
            hs, nxt = h[:, :-1], tokens[:, 1:]  # pair h_i with t_{i+1}
            mtp = m.mtp
            w = {k: v for k, v in mtp.state_dict().items()}
            eps = a.rms_norm_eps
            x = torch.cat(
                (rms(w["embed_tokens.weight"][nxt], w["enorm.weight"], eps), rms(hs, w["hnorm.weight"], eps)), -1
            )
            x = x @ w["eh_proj.weight"].T
            x = reference_block(c, {k: v for k, v in w.items() if k.split(".")[0] in (
                "self_attn", "mlp", "input_layernorm", "post_attention_layernorm")}, x)  # fmt: skip
            expected = rms(x, w["shared_head.norm.weight"], eps) @ w["shared_head.head.weight"].T
            logits, _ = m.mtp_forward(hs, nxt)
            assert (logits - expected).abs().max() < TOL
            m.setup_cache(2, 16)
            steps = [m.mtp_forward(hs[:, :4], nxt[:, :4], start=0)[0]]
            steps += [m.mtp_forward(hs[:, i : i + 1], nxt[:, i : i + 1], start=i)[0] for i in range(4, 9)]
            assert (torch.cat(steps, 1) - expected).abs().max() < TOL  # through its own cache


def test_latent_cache_bytes_match_the_planner():
    # R1's attention and layer counts; 8 experts instead of 256 (the cache does not depend on them, and 62 x 256
    # expert modules take seconds to build even on the meta device)
    r1 = replace(
        load_arch("deepseek-r1"),
        moe=replace(load_arch("deepseek-r1").moe, num_experts=8, top_k=2, n_group=1, topk_group=1),
    )
    with torch.device("meta"):
        m = Transformer(r1)
        m.setup_cache(1, 1, dtype=torch.bfloat16)
    caches = [layer.self_attn.cache for layer in m.model.layers]
    main = sum(c.bytes_per_token() for c in caches[: r1.num_layers])
    assert main == kv_bytes_per_token(r1, "bf16") == 70272  # MLA latent: (512 + 64) x 2 B x 61 layers
    assert caches[-1].bytes_per_token() == mtp_kv_bytes_per_token(r1, "bf16")


def test_gqa_cache_bytes_match_the_planner():
    c = random_config("qwen2", random.Random(3))
    a = parse_config(c, "t", "test")
    m = Transformer(a)
    m.setup_cache(1, 1, dtype=torch.bfloat16)
    per_token = sum(layer.self_attn.cache.k.numel() * 2 * 2 for layer in m.model.layers)  # k and v, 2 bytes
    assert per_token == kv_bytes_per_token(a, "bf16")
