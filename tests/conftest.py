import random

import pytest


def random_config(family: str, rng: random.Random) -> dict:
    """A small random config.json of the given family, valid for both specsize and transformers."""
    kv = rng.choice([1, 2, 4])
    heads = kv * rng.choice([1, 2, 3])
    head_dim = rng.choice([8, 16])
    hidden = heads * rng.choice([8, 12, 16])  # transformers insists on a multiple
    c = {
        "model_type": family,
        "hidden_size": hidden,
        "num_hidden_layers": rng.randint(1, 4),
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "intermediate_size": rng.choice([40, 64, 96]),
        "vocab_size": rng.choice([97, 128, 300]),
        "max_position_embeddings": 512,
        "tie_word_embeddings": rng.random() < 0.5,
        "rms_norm_eps": 1e-6,
        "rope_theta": rng.choice([10000.0, 1e6]),
    }
    if family in ("mistral", "qwen3", "qwen3_moe", "llama") and rng.random() < 0.7:
        c["head_dim"] = head_dim
    if family == "llama":
        c["attention_bias"] = rng.random() < 0.3
        c["mlp_bias"] = rng.random() < 0.3
    if family in ("qwen3", "qwen3_moe"):
        c["attention_bias"] = rng.random() < 0.3
    if family == "mixtral":
        c["num_local_experts"] = rng.choice([2, 4, 8])
        c["num_experts_per_tok"] = 2
    if family in ("qwen2_moe", "qwen3_moe"):
        c["num_experts"] = rng.choice([4, 8])
        c["num_experts_per_tok"] = 2
        c["moe_intermediate_size"] = rng.choice([16, 24])
        c["decoder_sparse_step"] = rng.choice([1, 2])
        c["mlp_only_layers"] = [0] if rng.random() < 0.5 else []
        if family == "qwen2_moe":
            c["shared_expert_intermediate_size"] = rng.choice([32, 48])
    if family in ("deepseek_v2", "deepseek_v3"):
        c.pop("head_dim", None)
        c["num_key_value_heads"] = heads
        c["q_lora_rank"] = rng.choice([None, 24])
        c["kv_lora_rank"] = rng.choice([16, 32])
        c["qk_nope_head_dim"] = rng.choice([8, 16])
        c["qk_rope_head_dim"] = rng.choice([4, 8])
        c["v_head_dim"] = rng.choice([8, 16])
        c["n_routed_experts"] = 8
        c["num_experts_per_tok"] = 2
        c["moe_intermediate_size"] = 16
        c["n_shared_experts"] = rng.choice([1, 2])
        c["first_k_dense_replace"] = rng.choice([0, 1])
        c["n_group"] = rng.choice([1, 2, 4])
        c["topk_group"] = 1
        c["routed_scaling_factor"] = 2.5
        c["attention_bias"] = False
        if family == "deepseek_v3":
            c["num_nextn_predict_layers"] = 1
            c["topk_method"] = "noaux_tc"
            c["scoring_func"] = "sigmoid"
            c["norm_topk_prob"] = True
        else:
            c["topk_method"] = rng.choice(["greedy", "group_limited_greedy"])
    return c


@pytest.fixture
def rng():
    return random.Random(1234)
