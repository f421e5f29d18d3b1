"""tiny-dense: a dense Qwen2 target for the draft model's case (a dense model drafted by a smaller one of its
family, as DeepSeek-R1-Distill-Qwen-32B drafted by -1.5B). It shares tiny-r1's tokenizer and corpus, so the
bundled tiny-r1-draft (Qwen2, 2 layers, hidden 128) drafts for it. Four layers of hidden 192: about 4x the
draft's parameters (scripts/build_tiny_dense.py)."""

from __future__ import annotations

from typing import Any


def tiny_dense_config(vocab_size: int) -> dict[str, Any]:
    return {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": vocab_size, "hidden_size": 192,
        "intermediate_size": 512, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 1024, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": False,
        "hidden_act": "silu", "torch_dtype": "bfloat16", "bos_token_id": 0, "eos_token_id": 1,
        "use_sliding_window": False,
    }  # fmt: skip
