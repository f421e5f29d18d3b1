"""Our engine against the reference implementation: for random tiny configs of every family the engine runs,
saved by our saver and loaded by transformers from the same directory, the logits agree (fp32, < 1e-4) for the
full prompt, for token-by-token decoding through the cache, and for a k+1-token verification block written
over a rolled-back position."""

import random

import pytest
import torch
import transformers

from specsize.config import parse_config
from specsize.engine.loader import load_model
from specsize.engine.model import Transformer, init_weights
from specsize.engine.saver import save_model

from .conftest import random_config

TOL = 1e-4
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()


def _variants():
    cases = []
    for fam in ("llama", "mistral", "qwen2", "qwen3", "deepseek_v3"):
        for seed in range(3):
            cases.append((fam, seed, {}))
    yarn = {"rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128,
                             "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}}  # fmt: skip
    cases += [
        ("deepseek_v3", 10, {"q_lora_rank": 24, "n_group": 4, "topk_group": 2, "num_experts_per_tok": 2}),
        ("deepseek_v3", 11, {"q_lora_rank": None, "first_k_dense_replace": 1, **yarn}),
        ("deepseek_v3", 12, {"q_lora_rank": 24, **yarn}),
        ("llama", 13, {"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 64}}),
        ("qwen2", 14, {"rope_scaling": {"type": "linear", "factor": 2.0}}),
    ]  # fmt: skip
    return [pytest.param(f, s, o, id=f"{f}-{s}{'-' + '-'.join(sorted(o)) if o else ''}") for f, s, o in cases]


def random_model(family, seed, overrides):
    c = random_config(family, random.Random(seed))
    c.update(overrides)
    a = parse_config(c, "tiny", "test")
    m = init_weights(Transformer(a), std=0.1, seed=seed)
    g = torch.Generator().manual_seed(seed)
    for name, b in m.named_buffers():
        if name.endswith("e_score_correction_bias"):
            b.copy_(torch.randn(b.shape, generator=g) * 0.1)  # exercise the bias-corrected choice
    return c, a, m.eval()


@pytest.mark.parametrize("family, seed, overrides", _variants())
def test_logits_match_transformers(family, seed, overrides, tmp_path):
    c, a, m = random_model(family, seed, overrides)
    save_model(m, tmp_path, c)
    ref_model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="eager",
                                                                  dtype=torch.float32).eval()  # fmt: skip
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, a.vocab_size, (2, 14), generator=g)
    with torch.no_grad():
        ref = ref_model(tokens).logits
        assert (m(tokens) - ref).abs().max() < TOL  # full sequence, no cache
        m.setup_cache(2, 32)
        steps = [m(tokens[:, :6], start=0)] + [m(tokens[:, i : i + 1], start=i) for i in range(6, 14)]
        assert (torch.cat(steps, 1) - ref).abs().max() < TOL  # prefill, then one token at a time
        k = 3
        m(torch.randint(0, a.vocab_size, (2, k + 1), generator=g), start=10)  # drafts that get rejected...
        verify = m(tokens[:, 10:14], start=10)  # ...then a k+1 block over the rolled-back positions
        assert (verify - ref[:, 10:14]).abs().max() < TOL
        loaded = load_model(tmp_path).model
        assert torch.equal(loaded(tokens), m(tokens))  # our loader reads back exactly what our saver wrote
        loaded.fuse().setup_cache(2, 32)  # the inference fast path: fused matmuls, same parameters
        assert (loaded(tokens[:, :6], start=0) - ref[:, :6]).abs().max() < TOL
        assert (loaded(tokens[:, 6:7], start=6) - ref[:, 6:7]).abs().max() < TOL
        assert set(loaded.state_dict()) == set(m.state_dict())
