"""Build the bundled tiny-dense (a dense Qwen2 target that tiny-r1-draft drafts for) from scratch: the tiny-r1
corpus regenerated from its seed, encoded with the bundled tiny-r1 tokenizer (so the draft shares it), a Qwen2
of 4 layers trained on it with the same trainer, saved in BF16, then the draft's greedy acceptance measured.

    python scripts/build_tiny_dense.py                      # the full build (see assets/tiny-dense/metrics.json)
    python scripts/build_tiny_dense.py --smoke --out /tmp/x # a few steps end to end
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer as HFTokenizer

from specsize.config import parse_config
from specsize.engine.loader import load_model
from specsize.engine.model import Transformer, init_weights
from specsize.engine.saver import save_model
from specsize.engine.tokenizer import Tokenizer
from specsize.train.corpus import splits
from specsize.train.evaluate import acceptance
from specsize.train.tiny_dense import tiny_dense_config
from specsize.train.trainer import TrainConfig, pack, train

ASSETS = Path(__file__).resolve().parents[1] / "src" / "specsize" / "assets"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ASSETS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=int, default=30000, help="as build_tiny_r1.py (the same corpus)")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--max-minutes", type=float, default=25.0, help="stop training after this long")
    ap.add_argument("--max-new", type=int, default=128, help="tokens generated per acceptance prompt")
    ap.add_argument("--accept-prompts", type=int, default=24)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--card-only", action="store_true", help="only write README.md from an existing metrics.json")
    args = ap.parse_args()
    if args.card_only:
        d = args.out / "tiny-dense"
        (d / "README.md").write_text(card(json.loads((d / "metrics.json").read_text())))
        return
    if args.smoke:
        args.examples, args.steps, args.accept_prompts, args.max_new = 700, 3, 2, 8
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    tok_dir = ASSETS / "tiny-r1"
    hf_tok = HFTokenizer.from_file(str(tok_dir / "tokenizer.json"))
    data = splits(args.examples, args.seed)

    def encode(exs):
        return [hf_tok.encode(e.text, add_special_tokens=False).ids for e in exs]

    vocab = hf_tok.get_vocab_size()
    cfg = tiny_dense_config(vocab)
    model = init_weights(Transformer(parse_config(cfg, "tiny-dense", "scripts/build_tiny_dense.py")), 0.02, args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    tc = TrainConfig(max_steps=args.steps, eval_every=max(args.steps // 4, 1), seed=args.seed,
                     max_seconds=args.max_minutes * 60)  # fmt: skip

    def progress(step, loss, _mtp, lr):
        if step % 50 == 0:
            print(f"step {step}: loss {loss:.3f} lr {lr:.1e} ({time.perf_counter() - t0:.0f} s)", flush=True)

    log = train(model, pack(encode(data["train"]), tc.seq_len), pack(encode(data["validation"]), tc.seq_len), tc,
                progress)  # fmt: skip
    out = args.out / "tiny-dense"
    shutil.rmtree(out, ignore_errors=True)
    save_model(model, out, cfg, dtype=torch.bfloat16,
               generation_config={"bos_token_id": 0, "eos_token_id": 1, "do_sample": False})  # fmt: skip
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tok_dir / f, out / f)
    train_s = time.perf_counter() - t0
    # the draft's greedy acceptance on held-out prompts, on the shipped (BF16) checkpoints in fp32
    target = load_model(out).model.fuse()
    draft = load_model(ASSETS / "tiny-r1-draft").model.fuse()
    tok = Tokenizer.from_dir(out)
    held_out = random.Random(args.seed).sample(data["test"], min(args.accept_prompts, len(data["test"])))
    metrics = {
        "parameters": n_params, "training": log.final, "val_loss": log.val_loss, "vocab": vocab, "seed": args.seed,
        "draft": [acceptance(target, tok, held_out, "draft", k, draft, args.max_new) for k in (1, 2, 4)],
        "acceptance_prompts": len(held_out), "max_new": args.max_new, "train_seconds": round(train_s),
        "total_seconds": round(time.perf_counter() - t0),
    }  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "README.md").write_text(card(metrics))
    print(json.dumps(metrics, indent=2))


def card(m: dict) -> str:
    """The model card: what it is, how it was trained, the draft's measured acceptance."""
    t = m["training"]
    lines = [
        "# tiny-dense",
        "",
        "A dense Qwen2 target (4 layers, hidden 192, GQA 4/2 heads, untied head) trained on the tiny-r1 corpus with",
        "tiny-r1's tokenizer, so the bundled tiny-r1-draft (2 layers, hidden 128) drafts for it: the draft-model",
        "case on a dense model, as DeepSeek-R1-Distill-Qwen-32B drafted by -1.5B. Built by",
        "`python scripts/build_tiny_dense.py` (seed " + str(m["seed"]) + "); BF16.",
        "",
        f"- parameters: {m['parameters']:,} (tiny-r1-draft: 475,520)",
        f"- training: {t['steps']} steps in {m['train_seconds']} s on a shared 2-core CPU; final validation loss "
        f"{t['val_loss']}",
        "",
        f"Greedy acceptance of tiny-r1-draft on {m['acceptance_prompts']} held-out test prompts, up to {m['max_new']} "
        "tokens each (fp32 compute):",
        "",
        "| k | acceptance per position | draft acceptance rate | mean acceptance length |",
        "| ---: | --- | ---: | ---: |",
    ]
    for r in m["draft"]:
        per = " ".join(f"{a:.2f}" for a in r["acceptance_per_position"])
        lines.append(f"| {r['k']} | {per} | {r['draft_acceptance_rate']:.2f} | {r['mean_acceptance_length']:.2f} |")
    return "\n".join(lines) + "\n\nMean acceptance length counts the bonus token (vLLM's convention).\n"


if __name__ == "__main__":
    main()
