"""The bundled tiny-r1 family: the shipped checkpoints load through our loader and through transformers with
the same logits, speculative output equals plain output on test prompts, the CLI's defaults use them, and the
build script runs end to end (a smoke run: a few steps on a small corpus)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from click.testing import CliRunner
from safetensors import safe_open

from specsize.assets import bundled_model_dir
from specsize.cli import cli
from specsize.engine.generate import generate
from specsize.engine.loader import load_model
from specsize.engine.proposers import DraftModelProposer, MTPProposer, NgramProposer
from specsize.engine.sampling import GREEDY
from specsize.engine.saver import save_model
from specsize.engine.tokenizer import Tokenizer
from specsize.train.corpus import splits

ROOT = Path(__file__).resolve().parents[1]
R1, DRAFT = bundled_model_dir("tiny-r1"), bundled_model_dir("tiny-r1-draft")
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()


def test_the_bundled_models_are_there():
    assert R1 is not None and DRAFT is not None, "src/specsize/assets/tiny-r1*: run scripts/build_tiny_r1.py"


@pytest.fixture(scope="module")
def models():
    return load_model(R1).model, load_model(DRAFT).model, Tokenizer.from_dir(R1)


@pytest.fixture(scope="module")
def test_prompts(models):
    tok = models[2]
    exs = splits(30000, 0)["test"][::97][:8]
    return [tok.encode(e.prompt, add_special=False) for e in exs]


def test_the_checkpoint_is_stored_like_r1():
    cfg = json.loads((R1 / "config.json").read_text())
    assert cfg["model_type"] == "deepseek_v3" and cfg["num_nextn_predict_layers"] == 1
    assert cfg["quantization_config"] == {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                          "weight_block_size": [128, 128]}  # fmt: skip
    with safe_open(str(R1 / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        assert f.get_tensor("model.layers.1.self_attn.q_a_proj.weight").dtype == torch.float8_e4m3fn
        assert "model.layers.1.self_attn.q_a_proj.weight_scale_inv" in keys
        assert f.get_tensor("model.layers.4.eh_proj.weight").dtype == torch.bfloat16
        assert "model.layers.4.shared_head.head.weight" in keys  # the MTP layer, at index num_hidden_layers


def test_logits_match_transformers_on_the_dequantised_weights(models, test_prompts, tmp_path):
    r1, draft, _ = models
    tokens = torch.tensor([test_prompts[0]])
    cfg = json.loads((R1 / "config.json").read_text())
    save_model(r1, tmp_path / "r1", cfg, dtype=torch.float32)  # the FP8 blocks, dequantised by our loader
    for ours, path in ((r1, tmp_path / "r1"), (draft, DRAFT)):
        ref = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                                attn_implementation="eager").eval()  # fmt: skip
        with torch.no_grad():
            assert (ours(tokens) - ref(tokens).logits).abs().max() < 1e-4


def test_speculative_equals_plain_on_test_prompts(models, test_prompts):
    r1, draft, tok = models
    for ids in test_prompts:
        ref = generate(r1, ids, 64, GREEDY, eos_ids=tok.eos_token_ids).token_ids
        for k in (1, 2, 3):
            assert generate(r1, ids, 64, GREEDY, MTPProposer(r1, GREEDY), k, tok.eos_token_ids).token_ids == ref
        prop = DraftModelProposer(draft, r1.arch.vocab_size, GREEDY, len(ids) + 80)
        assert generate(r1, ids, 64, GREEDY, prop, 4, tok.eos_token_ids).token_ids == ref
        assert generate(r1, ids, 64, GREEDY, NgramProposer(1, 4), 4, tok.eos_token_ids).token_ids == ref


def test_generate_defaults_to_tiny_r1_with_mtp():
    r = CliRunner().invoke(cli, ["generate", "How many r are in strawberry?"])
    assert r.exit_code == 0, r.output
    assert "</think>" in r.stdout  # R1's format: reasoning, then the answer
    assert "mtp k=2: acceptance" in r.stderr


def test_bundled_names_work_in_the_planner():
    r = CliRunner().invoke(cli, ["inspect", "tiny-r1", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["family"] == "deepseek_v3" and d["params_mtp"] > 0
    r = CliRunner().invoke(
        cli, ["fit", "tiny-r1-draft", "--gpu", "rtx-3060", "--engine", "specsize", "--context", "512", "--json"]
    )
    assert r.exit_code == 0 and json.loads(r.output)["results"][0]["fits"]


def test_model_card_reports_the_measurements():
    card = (R1.parent / "README.md").read_text()
    metrics = json.loads((R1.parent / "metrics.json").read_text())
    assert "exact answers" in card and "mean acceptance length" in card
    assert len(metrics["mtp"]) == 3 and len(metrics["draft"]) == 6


def test_build_script_smoke(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_tiny_r1.py"), "--smoke", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "README.md").exists()
    m = load_model(tmp_path / "tiny-r1").model
    assert m.mtp is not None and load_model(tmp_path / "tiny-r1-draft").model.arch.family == "qwen2"
