"""The tiny-r1 family: a miniature DeepSeek-R1 (deepseek_v3: MLA with q_lora and kv_lora, one dense layer then
MoE layers of 8 routed experts with group-limited top-2 routing and one shared expert, one MTP layer) and a
dense Qwen2 "distill" that shares its tokenizer and drafts for it. Sizes are chosen so both train on 2 CPU
cores in about half an hour (scripts/build_tiny_r1.py)."""

from __future__ import annotations

from typing import Any


def tiny_r1_config(vocab_size: int) -> dict[str, Any]:
    return {
        "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
        "vocab_size": vocab_size, "hidden_size": 192, "intermediate_size": 512, "moe_intermediate_size": 128,
        "num_hidden_layers": 4, "num_nextn_predict_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 4,
        "n_shared_experts": 1, "n_routed_experts": 8, "routed_scaling_factor": 2.5, "kv_lora_rank": 64,
        "q_lora_rank": 96, "qk_rope_head_dim": 16, "v_head_dim": 32, "qk_nope_head_dim": 32,
        "topk_method": "noaux_tc", "n_group": 2, "topk_group": 1, "num_experts_per_tok": 2,
        "first_k_dense_replace": 1, "norm_topk_prob": True, "scoring_func": "sigmoid", "hidden_act": "silu",
        "max_position_embeddings": 1024, "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "rope_theta": 10000.0,
        "rope_scaling": None, "attention_bias": False, "torch_dtype": "bfloat16", "bos_token_id": 0,
        "eos_token_id": 1,
    }  # fmt: skip


def tiny_r1_draft_config(vocab_size: int) -> dict[str, Any]:
    return {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": vocab_size, "hidden_size": 128,
        "intermediate_size": 384, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 1024, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": True,
        "hidden_act": "silu", "torch_dtype": "bfloat16", "bos_token_id": 0, "eos_token_id": 1,
        "use_sliding_window": False,
    }  # fmt: skip
