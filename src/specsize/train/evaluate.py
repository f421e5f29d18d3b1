"""Measurements for the model card: exact-answer accuracy per task family (greedy), and greedy acceptance of
the MTP head and of the draft model on held-out prompts."""

from __future__ import annotations

from collections import defaultdict

from specsize.engine.generate import SpecStats, generate
from specsize.engine.model import Transformer
from specsize.engine.proposers import DraftModelProposer, MTPProposer
from specsize.engine.sampling import GREEDY
from specsize.engine.tokenizer import Tokenizer
from specsize.train.corpus import Example, answer_of

MAX_NEW = 192  # longer than any trace in the corpus


def accuracy(model: Transformer, tok: Tokenizer, examples: list[Example], max_new: int = MAX_NEW) -> dict[str, float]:
    """Share of exactly right final answers per task family (greedy, plain decoding)."""
    right, total = defaultdict(int), defaultdict(int)
    for ex in examples:
        ids = tok.encode(ex.prompt, add_special=False)
        out = generate(model, ids, max_new, GREEDY, eos_ids=tok.eos_token_ids).token_ids
        total[ex.family] += 1
        right[ex.family] += answer_of(tok.decode(out, skip_special=False)) == ex.answer
    return {f: right[f] / total[f] for f in sorted(total)}


def acceptance(target: Transformer, tok: Tokenizer, examples: list[Example], method: str, k: int,
               draft: Transformer | None = None, max_new: int = MAX_NEW) -> dict:  # fmt: skip
    """Greedy acceptance of a drafter over the prompts: per position, overall, mean acceptance length."""
    total = SpecStats()
    for ex in examples:
        ids = tok.encode(ex.prompt, add_special=False)
        if method == "mtp":
            prop = MTPProposer(target, GREEDY)
        else:
            prop = DraftModelProposer(draft, target.arch.vocab_size, GREEDY, len(ids) + max_new + k + 2)
        total.add(generate(target, ids, max_new, GREEDY, prop, k, tok.eos_token_ids).stats)
    per_pos = [round(n / total.num_drafts, 3) for n in total.num_accepted_tokens_per_pos]
    return {"k": k, "acceptance_per_position": per_pos, "draft_acceptance_rate": round(total.draft_acceptance_rate, 3),
            "mean_acceptance_length": round(total.mean_acceptance_length, 3)}  # fmt: skip
