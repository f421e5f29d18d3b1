"""Rebuild the bundled tiny-r1 family from scratch: corpus -> tokenizer -> tiny-r1 (main + MTP loss, FP8 e4m3
checkpoint with 128x128 block scales) -> tiny-r1-draft (Qwen2, trained on the same corpus) -> measurements
-> model card. Deterministic from --seed up to floating-point reduction order on the machine used.

    python scripts/build_tiny_r1.py                      # the full build (~35 min on 2 CPU cores)
    python scripts/build_tiny_r1.py --smoke --out /tmp/x # a few steps end to end (the test suite runs this)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from specsize.config import parse_config
from specsize.engine.loader import load_model
from specsize.engine.model import Transformer, init_weights
from specsize.engine.saver import save_model
from specsize.engine.tokenizer import Tokenizer
from specsize.train.card import model_card
from specsize.train.corpus import FAMILIES, splits
from specsize.train.evaluate import acceptance, accuracy
from specsize.train.tiny_r1 import tiny_r1_config, tiny_r1_draft_config
from specsize.train.tokenizer import train_tokenizer
from specsize.train.trainer import TrainConfig, pack, train

ASSETS = Path(__file__).resolve().parents[1] / "src" / "specsize" / "assets"


def _train(name: str, cfg: dict, train_ids, val_ids, tc: TrainConfig, seed: int):
    a = parse_config(cfg, name, "scripts/build_tiny_r1.py")
    model = init_weights(Transformer(a), std=0.02, seed=seed)
    n_params = sum(p.numel() for p in model.parameters())
    data, val = pack(train_ids, tc.seq_len), pack(val_ids, tc.seq_len)
    with Progress(TextColumn(f"[bold]{name}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn()) as bar:  # fmt: skip
        task = bar.add_task(name, total=tc.max_steps, info="")

        def progress(step, loss, mtp, lr):
            info = f"loss {loss:.3f}" + ("" if mtp != mtp else f" mtp {mtp:.3f}") + f" lr {lr:.1e}"
            bar.update(task, completed=step + 1, info=info)

        log = train(model, data, val, tc, progress)
    for step, main, mtp in log.val_loss:
        print(f"  {name} step {step}: val loss {main:.4f}" + ("" if mtp != mtp else f", MTP {mtp:.4f}"))
    return model, n_params, log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ASSETS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=int, default=30000)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--target-steps", type=int, default=1900)
    ap.add_argument("--draft-steps", type=int, default=2000)
    ap.add_argument("--max-new", type=int, default=192, help="tokens generated per evaluation prompt")
    ap.add_argument("--eval-per-family", type=int, default=30)
    ap.add_argument("--accept-prompts", type=int, default=42)
    ap.add_argument("--smoke", action="store_true", help="tiny corpus, a few steps, a few evaluations")
    ap.add_argument("--card-only", action="store_true", help="only render README.md from an existing metrics.json")
    args = ap.parse_args()
    if args.card_only:
        (args.out / "README.md").write_text(model_card(json.loads((args.out / "metrics.json").read_text())))
        return
    if args.smoke:
        args.examples, args.target_steps, args.draft_steps = 700, 3, 3
        args.eval_per_family, args.accept_prompts, args.max_new = 1, 2, 8
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    t_start = time.perf_counter()
    out = args.out
    work = out / "_build"
    shutil.rmtree(work, ignore_errors=True)
    data = splits(args.examples, args.seed)
    print({k: len(v) for k, v in data.items()}, "examples (train / validation / test)")
    tok_dir = work / "tokenizer"
    hf_tok = train_tokenizer((e.text for e in data["train"]), args.vocab, tok_dir)
    vocab = hf_tok.get_vocab_size()

    def encode(exs):
        return [hf_tok.encode(e.text, add_special_tokens=False).ids for e in exs]

    train_ids, val_ids = encode(data["train"]), encode(data["validation"])
    print(f"tokenizer: {vocab} tokens; train corpus {sum(map(len, train_ids)):,} tokens")
    tc = TrainConfig(max_steps=args.target_steps, eval_every=max(args.target_steps // 4, 1), seed=args.seed)
    target, target_params, target_log = _train("tiny-r1", tiny_r1_config(vocab), train_ids, val_ids, tc, args.seed)
    dc = TrainConfig(max_steps=args.draft_steps, eval_every=max(args.draft_steps // 4, 1), seed=args.seed, lr=5e-3)
    draft, draft_params, draft_log = _train("tiny-r1-draft", tiny_r1_draft_config(vocab), train_ids, val_ids, dc,
                                            args.seed)  # fmt: skip
    gen_cfg = {"bos_token_id": 0, "eos_token_id": 1, "do_sample": False}
    for name, model, cfg, fp8 in (("tiny-r1", target, tiny_r1_config(vocab), True),
                                  ("tiny-r1-draft", draft, tiny_r1_draft_config(vocab), False)):  # fmt: skip
        d = out / name
        shutil.rmtree(d, ignore_errors=True)
        save_model(model, d, cfg, fp8=fp8, dtype=torch.bfloat16, generation_config=gen_cfg)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(tok_dir / f, d / f)
    shutil.rmtree(work, ignore_errors=True)
    train_seconds = time.perf_counter() - t_start

    # measurements on the shipped checkpoints (FP8 dequantised, BF16 draft), in fp32
    r1 = load_model(out / "tiny-r1").model.fuse()
    dr = load_model(out / "tiny-r1-draft").model.fuse()
    tok = Tokenizer.from_dir(out / "tiny-r1")
    test = data["test"]
    per_family = [e for f in FAMILIES for e in [x for x in test if x.family == f][: args.eval_per_family]]
    held_out = random.Random(args.seed).sample(test, min(args.accept_prompts, len(test)))
    metrics = {
        "parameters": {"tiny-r1": target_params, "tiny-r1-draft": draft_params},
        "final_losses": {"tiny-r1": target_log.final, "tiny-r1-draft": draft_log.final},
        "accuracy": {"tiny-r1": accuracy(r1, tok, per_family, args.max_new),
                     "tiny-r1-draft": accuracy(dr, tok, per_family, args.max_new)},
        "mtp": [acceptance(r1, tok, held_out, "mtp", k, max_new=args.max_new) for k in (1, 2, 3)],
        "draft": [acceptance(r1, tok, held_out, "draft", k, dr, args.max_new) for k in range(1, 7)],
        "corpus": {k: len(v) for k, v in data.items()}, "vocab": vocab, "seed": args.seed,
        "build_seconds": round(train_seconds), "eval_prompts_per_family": args.eval_per_family,
        "acceptance_prompts": len(held_out), "total_seconds": round(time.perf_counter() - t_start),
    }  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "README.md").write_text(model_card(metrics))
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
