"""Loading and saving checkpoints: DeepSeek's FP8 block format round trip, shards, the MTP layer present or not,
strict keys, corrupt files, and the tokenizer's chat template against transformers'."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from specsize.engine.fp8 import dequantize, quantize
from specsize.engine.loader import EngineError, load_model
from specsize.engine.saver import save_model
from specsize.engine.tokenizer import Tokenizer, TokenizerError
from specsize.quant import stored_fp8

from .test_engine_parity import random_model


@pytest.fixture
def tiny_r1(tmp_path):
    c, a, m = random_model("deepseek_v3", 21, {"q_lora_rank": 24})
    return c, a, m


def test_fp8_round_trip_is_exact(tiny_r1, tmp_path):
    c, a, m = tiny_r1
    save_model(m, tmp_path, c, fp8=True)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["quantization_config"]["weight_block_size"] == [128, 128]
    stored = load_file(tmp_path / "model.safetensors")
    loaded = load_model(tmp_path).model.state_dict()
    # R1's linears that carry a weight_scale_inv (shared/reference/deepseek-r1.md: embeddings, norms, router gate
    # and lm_head stay BF16; the MTP eh_proj too, as vLLM's deepseek_mtp.py loads it), by their names
    fp8_names = ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj", "up_proj",
                 "down_proj")  # fmt: skip
    for k, w in m.state_dict().items():
        assert stored_fp8(a, k) == (k.removesuffix(".weight").rsplit(".", 1)[-1] in fp8_names and k.endswith("weight"))
        if stored_fp8(a, k):
            assert stored[k].dtype == torch.float8_e4m3fn
            q, s = quantize(w)
            assert torch.equal(stored[k], q) and torch.equal(stored[k.removesuffix("weight") + "weight_scale_inv"], s)
            assert torch.equal(loaded[k], dequantize(q, s, torch.float32))  # exactly the dequantised weights
        else:
            assert torch.equal(loaded[k], w)  # norms, router, embeddings, heads, eh_proj: unquantised
    mtp = f"model.layers.{a.num_layers}"
    for kept in (f"{mtp}.eh_proj.weight", f"{mtp}.mlp.gate.weight", f"{mtp}.shared_head.head.weight", "lm_head.weight"):
        assert stored[kept].dtype == torch.float32


def test_fp8_quantisation_error_is_bounded():
    w = torch.randn(300, 200)  # partial blocks on both axes
    q, s = quantize(w)
    assert s.shape == (3, 2)
    err = (dequantize(q, s, torch.float32) - w).abs().max()
    assert err <= w.abs().max() / 448 * 16  # e4m3 keeps 3 mantissa bits: <= 1/16 of the block scale per step


def test_sharded_checkpoint_loads_the_same(tiny_r1, tmp_path):
    c, a, m = tiny_r1
    save_model(m, tmp_path, c, max_shard_bytes=20_000)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    tokens = torch.randint(0, a.vocab_size, (1, 7))
    assert torch.equal(load_model(tmp_path).model(tokens), m(tokens))


def test_mtp_layer_is_optional(tiny_r1, tmp_path):
    c, _a, m = tiny_r1
    m.drop_mtp()
    save_model(m, tmp_path, c)
    loaded = load_model(tmp_path)
    assert loaded.model.mtp is None
    assert load_model(tmp_path.parent / tmp_path.name, mtp=False).model.mtp is None


def _rewrite(path, change):
    f = path / "model.safetensors"
    tensors = load_file(f)
    change(tensors)
    save_file(tensors, f, metadata={"format": "pt"})


def test_missing_unexpected_and_misshapen_tensors_are_named(tiny_r1, tmp_path):
    c, _a, m = tiny_r1
    save_model(m, tmp_path, c)
    _rewrite(tmp_path, lambda t: t.pop("model.layers.1.self_attn.kv_b_proj.weight"))
    with pytest.raises(EngineError, match=r"model\.safetensors: missing tensor model\.layers\.1\.self_attn\.kv_b_proj"):
        load_model(tmp_path)
    save_model(m, tmp_path, c)
    _rewrite(tmp_path, lambda t: t.update({"model.layers.0.self_attn.extra.weight": torch.zeros(2)}))
    with pytest.raises(EngineError, match=r"unexpected tensor model\.layers\.0\.self_attn\.extra\.weight"):
        load_model(tmp_path)
    save_model(m, tmp_path, c)
    _rewrite(tmp_path, lambda t: t.update({"model.norm.weight": torch.zeros(3)}))
    with pytest.raises(EngineError, match=r"model\.norm\.weight has shape \(3,\)"):
        load_model(tmp_path)


def test_corrupt_and_truncated_files(tiny_r1, tmp_path):
    c, _a, m = tiny_r1
    save_model(m, tmp_path, c)
    f = tmp_path / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(EngineError, match="corrupt or truncated"):
        load_model(tmp_path)
    f.write_bytes(b"not a safetensors file")
    with pytest.raises(EngineError, match="corrupt or truncated"):
        load_model(tmp_path)


def test_bad_directories(tmp_path):
    with pytest.raises(EngineError, match=r"no config\.json"):
        load_model(tmp_path)
    mixtral = {"model_type": "mixtral", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
               "intermediate_size": 8, "vocab_size": 10, "num_local_experts": 2, "max_position_embeddings": 64,
               "num_experts_per_tok": 1}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(mixtral))
    with pytest.raises(EngineError, match=r"the engine runs .*this is 'mixtral'"):
        load_model(tmp_path)
    with pytest.raises(EngineError, match="not a directory"):
        load_model(tmp_path / "nope")


@pytest.mark.parametrize("routing", [{"scoring_func": "softmax"}, {"topk_method": "group_limited_greedy"},
                                     {"scoring_func": "softmax", "topk_method": "greedy"}])  # fmt: skip
def test_a_router_the_engine_does_not_implement_is_refused(tiny_r1, tmp_path, routing):
    """DeepSeek-V2's softmax / group_limited_greedy routing is not V3's: one line, not a silently wrong model."""
    c, _, m = tiny_r1
    save_model(m, tmp_path, {**c, **routing})
    with pytest.raises(EngineError, match=r"router implements scoring_func 'sigmoid' with topk_method 'noaux_tc'"):
        load_model(tmp_path)
    save_model(m, tmp_path, c)
    assert load_model(tmp_path).arch.moe.scoring_func == "sigmoid"  # the model's own routing loads


R1_STYLE_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '<｜User｜>' + message['content'] }}{% elif message['role'] == 'assistant' %}"
    "{{ '<｜Assistant｜>' + message['content'] + eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}"
)


def _tokenizer_dir(tmp_path):
    from tokenizers import Tokenizer as HFTok
    from tokenizers import models, pre_tokenizers, trainers

    specials = [
        "<｜begin▁of▁sentence｜>",
        "<｜end▁of▁sentence｜>",
        "<｜User｜>",
        "<｜Assistant｜>",
        "<think>",
        "</think>",
    ]
    tok = HFTok(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = __import__("tokenizers").decoders.ByteLevel()
    tok.train_from_iterator(["12 + 35 = 47", "count the r in strawberry", "sort 3 1 2"] * 20,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=specials))  # fmt: skip
    tok.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": {"__type": "AddedToken", "content": specials[0], "lstrip": False, "normalized": True,
                      "rstrip": False, "single_word": False}, "eos_token": specials[1], "add_bos_token": True,
        "chat_template": R1_STYLE_TEMPLATE, "tokenizer_class": "PreTrainedTokenizerFast"}))  # fmt: skip
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": 1, "temperature": 0.6}))
    return tmp_path


def test_chat_template_renders_as_transformers_does(tmp_path):
    import transformers

    d = _tokenizer_dir(tmp_path)
    ours = Tokenizer.from_dir(d)
    theirs = transformers.AutoTokenizer.from_pretrained(d)
    msgs = [{"role": "user", "content": "12 + 35?"}, {"role": "assistant", "content": "47"},
            {"role": "user", "content": "count the r in strawberry"}]  # fmt: skip
    text = ours.apply_chat_template(msgs)
    assert text == theirs.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert ours.encode(text, add_special=False) == theirs.encode(text, add_special_tokens=False)
    assert ours.eos_token_ids == (1,) and ours.generation["temperature"] == 0.6
    assert ours.decode(ours.encode("sort 3 1 2")) == "sort 3 1 2"


def test_tokenizer_errors(tmp_path):
    with pytest.raises(TokenizerError, match=r"no tokenizer\.json"):
        Tokenizer.from_dir(tmp_path)
    d = _tokenizer_dir(tmp_path)
    (d / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ raise_exception('only user turns') }}"}))
    with pytest.raises(TokenizerError, match="only user turns"):
        Tokenizer.from_dir(d).apply_chat_template([{"role": "user", "content": "x"}])


def test_bfloat16_runs_close_to_float32(tiny_r1, tmp_path):
    c, a, m = tiny_r1
    save_model(m, tmp_path, c, dtype=torch.bfloat16)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert "quantization_config" not in cfg
    bf = load_model(tmp_path, dtype=torch.bfloat16).model
    assert bf.model.layers[1].mlp.gate.weight.dtype == torch.float32  # routing stays FP32
    tokens = torch.randint(0, a.vocab_size, (1, 9), generator=torch.Generator().manual_seed(0))
    ref = m(tokens)
    bf.setup_cache(1, 16)
    got = torch.cat([bf(tokens[:, :5], start=0)] + [bf(tokens[:, i : i + 1], start=i) for i in range(5, 9)], 1)
    assert got.dtype == torch.bfloat16
    assert (got.float() - ref).abs().max() < 0.05 * ref.abs().max()
