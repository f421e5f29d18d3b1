"""The bundled tiny-dense: it shares tiny-r1's tokenizer (so tiny-r1-draft can draft for it), loads through our
loader and through transformers' Qwen2 with the same logits, drafting for it is lossless on a test prompt, its
card states what metrics.json holds, and its build script runs end to end (a smoke run)."""

import json
import subprocess
import sys
from pathlib import Path

import torch
import transformers

from specsize.assets import bundled_model_dir
from specsize.engine.generate import generate
from specsize.engine.loader import load_model
from specsize.engine.proposers import DraftModelProposer
from specsize.engine.sampling import GREEDY
from specsize.engine.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
DENSE, R1, DRAFT = (bundled_model_dir(n) for n in ("tiny-dense", "tiny-r1", "tiny-r1-draft"))


def test_same_tokenizer_as_the_draft():
    assert (DENSE / "tokenizer.json").read_bytes() == (DRAFT / "tokenizer.json").read_bytes()
    assert (DENSE / "tokenizer.json").read_bytes() == (R1 / "tokenizer.json").read_bytes()


@torch.inference_mode()
def test_logits_equal_transformers_and_drafting_is_lossless():
    ours = load_model(DENSE).model.eval()
    ref = transformers.AutoModelForCausalLM.from_pretrained(DENSE, torch_dtype=torch.float32).eval()
    tok = Tokenizer.from_dir(DENSE)
    ids = tok.encode("What is 17 plus 25?")
    x = torch.tensor([ids])
    assert (ours(x) - ref(x).logits).abs().max() < 1e-3
    plain = generate(ours, ids, 48, GREEDY, eos_ids=tok.eos_token_ids)
    draft = load_model(DRAFT).model.eval()
    prop = DraftModelProposer(draft, ours.arch.vocab_size, GREEDY, len(ids) + 48 + 6)
    spec = generate(ours, ids, 48, GREEDY, prop, 4, tok.eos_token_ids)
    assert spec.token_ids == plain.token_ids and spec.stats.num_drafts > 0


def test_card_matches_metrics():
    m = json.loads((DENSE / "metrics.json").read_text())
    card = (DENSE / "README.md").read_text()
    assert f"{m['parameters']:,}" in card and f"{m['draft'][-1]['mean_acceptance_length']:.2f}" in card


def test_build_script_smoke(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_tiny_dense.py"), "--smoke", "--out",
                        str(tmp_path)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_model(tmp_path / "tiny-dense").model.arch.family == "qwen2"
    assert (tmp_path / "tiny-dense" / "README.md").exists()
