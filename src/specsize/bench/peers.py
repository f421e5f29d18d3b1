"""The same target and draft through Hugging Face transformers, in the same run: plain `generate`, assisted
generation (`assistant_model=`) and prompt lookup (`prompt_lookup_num_tokens=`), greedy, batch 1. The
target's FP8 blocks are dequantised into a temporary fp32 copy transformers can load on a CPU."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch

from specsize.engine.model import Transformer
from specsize.engine.saver import save_model


def _hf(model: Transformer, config_path: Path, tmp: Path, name: str):
    import transformers

    cfg = json.loads(config_path.read_text())
    save_model(model, tmp / name, cfg, dtype=torch.float32)
    return transformers.AutoModelForCausalLM.from_pretrained(tmp / name, dtype=torch.float32).eval()


def run_peers(target: Transformer, target_dir: Path, draft: Transformer | None, draft_dir: Path | None,
              prompts: list[list[int]], max_new: int, eos: tuple[int, ...], k: int,
              repeats: int = 1) -> dict:  # fmt: skip
    """tokens/s and greedy outputs of transformers' plain, assisted and prompt-lookup generation."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    out = {"version": transformers.__version__, "k": k}
    with tempfile.TemporaryDirectory() as d:
        hf = _hf(target, target_dir / "config.json", Path(d), "target")
        hf_draft = _hf(draft, draft_dir / "config.json", Path(d), "draft") if draft is not None else None
    modes = {"none": {}, "ngram": {"prompt_lookup_num_tokens": k}}
    if hf_draft is not None:
        modes["draft"] = {"assistant_model": hf_draft, "num_assistant_tokens": k,
                          "num_assistant_tokens_schedule": "constant"}  # fmt: skip
    eos_id = list(eos) or None
    for mode, kw in modes.items():
        best, outputs = None, []
        for _ in range(repeats):
            tokens, seconds, outputs = 0, 0.0, []
            for ids in prompts:
                x = torch.tensor([ids])
                t0 = time.perf_counter()
                with torch.inference_mode():
                    g = hf.generate(x, max_new_tokens=max_new, do_sample=False, eos_token_id=eos_id, pad_token_id=0,
                                    **kw)  # fmt: skip
                seconds += time.perf_counter() - t0
                new = g[0, len(ids) :].tolist()
                tokens += len(new)
                outputs.append(new)
            rate = tokens / seconds if seconds else 0.0
            best = rate if best is None else max(best, rate)
        out[mode] = {"tokens_per_s": best, "outputs": outputs}
    return out
