"""Prompt sets for `specsize bench`: the bundled tiny-r1 test split by default, or a JSONL file, either
Spec-Bench's question.jsonl ({"question_id", "category", "turns": [...]}: the first turn is used) or lines of
{"prompt": ..., "category": ...} (category optional)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from specsize.errors import SpecsizeError
from specsize.jsonl import read_jsonl


@dataclass(frozen=True)
class BenchPrompt:
    id: str
    category: str
    text: str  # the user's message (the chat template is applied by the runner when the model has one)


def default_prompts(n: int, seed: int = 0) -> list[BenchPrompt]:
    """Held-out prompts of the tiny-r1 corpus (its test split), spread over the task families."""
    from specsize.train.corpus import splits

    test = splits(30000, seed)["test"]
    by_family: dict[str, list] = {}
    for ex in test:
        by_family.setdefault(ex.family, []).append(ex)
    out, i = [], 0
    while len(out) < n and any(i < len(v) for v in by_family.values()):
        for fam in sorted(by_family):
            if i < len(by_family[fam]) and len(out) < n:
                ex = by_family[fam][i]
                out.append(BenchPrompt(f"{fam}-{i}", fam, ex.question))
        i += 1
    return out


def load_prompts(path: str | Path, limit: int | None = None) -> list[BenchPrompt]:
    p = Path(path)
    out = []
    for n, row in read_jsonl(p):
        where = f"{p} line {n}"
        if not isinstance(row, dict):
            raise SpecsizeError(f"{where}: expected a JSON object per line")
        if "turns" in row:
            turns = row["turns"]
            if not isinstance(turns, list) or not turns or not isinstance(turns[0], str):
                raise SpecsizeError(f"{where}: 'turns' must be a non-empty list of strings (Spec-Bench format)")
            text = turns[0]
        elif isinstance(row.get("prompt"), str):
            text = row["prompt"]
        else:
            raise SpecsizeError(f"{where}: needs 'turns' (Spec-Bench) or 'prompt'")
        if not text.strip():
            raise SpecsizeError(f"{where}: empty prompt")
        out.append(BenchPrompt(str(row.get("question_id", n)), str(row.get("category", "all")), text))
        if limit and len(out) >= limit:
            break
    if not out:
        raise SpecsizeError(f"{p}: no prompts in it")
    return out
