"""Config parsing: both RoPE spellings, explicit head_dim, and strict errors for malformed input."""

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specsize import catalog
from specsize.config import SUPPORTED_FAMILIES, parse_config
from specsize.errors import ConfigError

R1 = catalog.find_model("deepseek-r1")["config"]
LLAMA8B = catalog.find_model("deepseek-r1-distill-llama-8b")["config"]


def test_r1_fields():
    a = parse_config(R1)
    assert a.mla.cache_dim == 576 and a.head_dim == 192
    assert a.moe.num_experts == 256 and a.moe.top_k == 8 and a.moe.router_bias
    assert [a.is_moe_layer(i) for i in (0, 2, 3, 60, 61)] == [False, False, True, True, True]
    assert a.num_mtp_layers == 1 and a.weight_block_size == (128, 128)
    assert a.rope.type == "yarn" and a.rope.factor == 40 and a.rope.get("mscale_all_dim") == 1.0


def test_rope_parameters_spelling_equals_rope_scaling_spelling():
    """transformers >= 5 writes rope_parameters (theta inside); public checkpoints write rope_theta/rope_scaling."""
    new = {k: v for k, v in LLAMA8B.items() if k not in ("rope_theta", "rope_scaling")}
    new["rope_parameters"] = dict(LLAMA8B["rope_scaling"], rope_theta=LLAMA8B["rope_theta"])
    assert parse_config(new) == parse_config(LLAMA8B)
    assert parse_config(new).rope.type == "llama3" and parse_config(new).rope.theta == 500000.0


def test_explicit_head_dim_wins():
    cfg = dict(catalog.find_model("llama-3.2-1b-instruct")["config"])
    assert parse_config(cfg).head_dim == 64  # 2048 / 32 = 64 too; now make them differ
    cfg["head_dim"] = 128
    assert parse_config(cfg).head_dim == 128


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda c: c.pop("hidden_size"), "'hidden_size'"),
        (lambda c: c.update(model_type="gpt2", architectures=["GPT2LMHeadModel"]), "gpt2"),
        (lambda c: c.update(num_hidden_layers=-3), "'num_hidden_layers'"),
        (lambda c: c.update(vocab_size="129280"), "'vocab_size'"),
        (lambda c: c.update(num_hidden_layers=True), "'num_hidden_layers'"),
        (lambda c: c.update(n_group=7), "n_group"),
        (lambda c: c.update(num_experts_per_tok=300), "num_experts_per_tok"),
        (lambda c: c.update(rope_scaling={"type": "weird"}), "weird"),
        (lambda c: c.pop("model_type"), "model_type"),
    ],
)
def test_errors_name_the_field(mutate, needle):
    cfg = copy.deepcopy(R1)
    mutate(cfg)
    with pytest.raises(ConfigError, match=needle):
        parse_config(cfg)


def test_unsupported_family_lists_supported():
    with pytest.raises(ConfigError) as e:
        parse_config({"model_type": "falcon"})
    assert all(f in str(e.value) for f in SUPPORTED_FAMILIES)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    base=st.sampled_from(["deepseek-r1", "deepseek-r1-distill-qwen-7b", "deepseek-r1-distill-llama-8b"]),
    drops=st.lists(st.sampled_from([*sorted(R1), "model_type", "head_dim", "rope_parameters"]), max_size=3),
    edits=st.dictionaries(
        st.sampled_from([*sorted(set(R1) | set(LLAMA8B)), "rope_parameters", "head_dim"]),
        json_values,
        max_size=3,
    ),
)
def test_malformed_configs_raise_only_config_error(base, drops, edits):
    """Whatever is dropped or replaced, the parser returns a model or raises ConfigError naming a field."""
    cfg = copy.deepcopy(catalog.find_model(base)["config"])
    for k in drops:
        cfg.pop(k, None)
    cfg.update(edits)
    cfg = json.loads(json.dumps(cfg))  # only JSON-representable input, as a config.json would hold
    try:
        parse_config(cfg)
    except ConfigError as e:
        msg = str(e)
        assert "field" in msg or "model_type" in msg or "multiple" in msg or "exceeds" in msg or "RoPE" in msg, msg


def test_a_deepseek_v3_architecture_under_another_model_type_is_read_as_deepseek_v3():
    """Kimi-K2's config says model_type kimi_k2 with architectures DeepseekV3ForCausalLM: same layout as V3."""
    from specsize import catalog
    from specsize.config import parse_config

    raw = dict(catalog.find_model("deepseek-v3")["config"], model_type="kimi_k2",
               architectures=["DeepseekV3ForCausalLM"])  # fmt: skip
    a = parse_config(raw, name="kimi-like")
    v3 = parse_config(catalog.find_model("deepseek-v3")["config"], name="deepseek-v3")
    assert a.family == "deepseek_v3" and a.num_layers == v3.num_layers and a.moe == v3.moe
    assert a.notes == ("model_type 'kimi_k2' read as deepseek_v3 (architectures: DeepseekV3ForCausalLM)",)
    with pytest.raises(ConfigError, match="not supported"):
        parse_config(dict(raw, architectures=["KimiForCausalLM"]), name="other")
