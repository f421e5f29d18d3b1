"""Prompts for `specsize bench --endpoint`: random tokens, a Spec-Bench JSONL, or a ShareGPT-style JSON.

- random (SGLang bench_serving's sample_random_requests; vLLM's RandomDataset likewise): each request's input
  length drawn uniformly from the integers [max(int(r L_in), 1), L_in] and its output length from
  [int(r L_out), L_out] (at least 1 here), r = --range-ratio, with ignore_eos so every request produces its
  output length. The prompt is random tokens of the model's tokenizer (a tokenizer.json, read with the
  `tokenizers` library), decoded to text and re-encoded until it is the drawn length in that tokenizer; the
  server's own count (usage.prompt_tokens) is what the bench reports.
- specbench: Spec-Bench's question.jsonl (first turn) or {"prompt": ...} lines; output length --output.
- sharegpt: [{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}], ...}]: the first human
  turn of each conversation with at least two turns; output length --output (the reply's length would need
  the tokenizer; a fixed one keeps levels comparable).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specsize.errors import SpecsizeError


@dataclass(frozen=True)
class Prompt:
    text: str
    input_tokens: int | None  # in the bench's tokenizer (None: not counted here; the server counts)
    output_tokens: int  # max_tokens to ask for


def length_range(n: int, ratio: float, floor: int) -> tuple[int, int]:
    """[max(int(n r), floor), n]: the inclusive range of lengths of SGLang's random dataset."""
    return max(int(n * ratio), floor), n


def load_tokenizer(name_or_path: str):
    """A tokenizer.json (file or directory, or a bundled model name) for exact random-prompt lengths."""
    from specsize.assets import bundled_model_dir

    p = bundled_model_dir(name_or_path) or Path(name_or_path)
    if p.is_file():
        p = p.parent
    if not (p / "tokenizer.json").is_file():
        raise SpecsizeError(f"--tokenizer {name_or_path}: no tokenizer.json there; give the model's directory "
                            "(or its tokenizer.json) so random prompts have exact token lengths")  # fmt: skip
    try:
        from specsize.engine.tokenizer import Tokenizer
    except ImportError:
        raise SpecsizeError("--dataset random reads the tokenizer with the `tokenizers` library: "
                            "pip install tokenizers") from None  # fmt: skip
    try:
        return Tokenizer.from_dir(p)
    except ImportError:
        raise SpecsizeError("--dataset random reads the tokenizer with the `tokenizers` library: "
                            "pip install tokenizers") from None  # fmt: skip


def _plain_ids(tok) -> list[int]:
    """Token ids that decode alone to printable text without special tokens (byte pieces and specials out)."""
    specials = {t for t in (tok.bos_token, tok.eos_token) if t}
    ids = []
    for i in range(tok.vocab_size):
        s = tok.decode([i], skip_special=False)
        if s and s.isprintable() and "\ufffd" not in s and not any(x in s for x in specials) and "<" not in s:
            ids.append(i)
    if not ids:
        raise SpecsizeError("the tokenizer has no plain-text tokens to make random prompts from")
    return ids


def random_text(tok, plain: list[int], n: int, rng: random.Random) -> tuple[str, int]:
    """Random plain tokens decoded to text of exactly n tokens when re-encoded, when the tokenizer allows it
    (BPE merges neighbours; a few rounds of extending and truncating settle it). Returns (text, its length)."""
    ids = [rng.choice(plain) for _ in range(n)]
    text = tok.decode(ids)
    for _ in range(8):
        enc = tok.encode(text, add_special=False)
        if len(enc) == n:
            break
        ids = enc[:n] if len(enc) > n else enc + [rng.choice(plain) for _ in range(n - len(enc))]
        text = tok.decode(ids)
    return text, len(tok.encode(text, add_special=False))


def random_prompts(tok, count: int, input_len: int, output_len: int, ratio: float, seed: int) -> list[Prompt]:
    if not 0 <= ratio <= 1:
        raise SpecsizeError(f"--range-ratio must be in [0, 1], got {ratio}")
    if input_len < 1 or output_len < 1:
        raise SpecsizeError("--input and --output must be at least 1 token")
    rng = random.Random(seed)
    plain = _plain_ids(tok)
    lo_in, hi_in = length_range(input_len, ratio, 1)
    lo_out, hi_out = length_range(output_len, ratio, 1)
    out = []
    for _ in range(count):
        text, n = random_text(tok, plain, rng.randint(lo_in, hi_in), rng)
        out.append(Prompt(text, n, rng.randint(lo_out, hi_out)))
    return out


def _read(path: str | Path) -> str:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecsizeError(f"{p}: no such dataset file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecsizeError(f"{p}: cannot read it ({e})") from None


def specbench_prompts(path: str | Path) -> list[str]:
    from specsize.bench.prompts import load_prompts

    return [p.text for p in load_prompts(path)]


def sharegpt_prompts(path: str | Path) -> list[str]:
    try:
        data: Any = json.loads(_read(path))
    except json.JSONDecodeError as e:
        raise SpecsizeError(f"{path}: not JSON (line {e.lineno}: {e.msg}); expected a ShareGPT-style list") from None
    if not isinstance(data, list):
        raise SpecsizeError(f"{path}: expected a JSON list of {{'conversations': [...]}} (ShareGPT format)")
    out = []
    for row in data:
        conv = row.get("conversations") if isinstance(row, dict) else None
        if not isinstance(conv, list) or len(conv) < 2 or not isinstance(conv[0], dict):
            continue
        text = conv[0].get("value")
        if isinstance(text, str) and text.strip():
            out.append(text)
    if not out:
        raise SpecsizeError(f"{path}: no conversation with at least two turns (ShareGPT format: "
                            "[{'conversations': [{'from': 'human', 'value': ...}, ...]}])")  # fmt: skip
    return out


def cycle(texts: list[str], count: int, output_len: int, seed: int) -> list[Prompt]:
    """`count` prompts from a file's texts, shuffled with the seed and repeated when the file is shorter."""
    order = list(texts)
    random.Random(seed).shuffle(order)
    return [Prompt(order[i % len(order)], None, output_len) for i in range(count)]
