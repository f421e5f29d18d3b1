"""What `specsize generate` does, as a library: load the target (and draft), build the drafter, tokenize the
prompt (optionally through the chat template), generate with streaming and stop strings, report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from specsize.engine.compile import compile_steps
from specsize.engine.generate import Generation, generate
from specsize.engine.loader import EngineError, find_model_dir, load_model
from specsize.engine.model import Transformer
from specsize.engine.proposers import DraftModelProposer, MTPProposer, NgramProposer, check_draft_vocab_size
from specsize.engine.sampling import SamplingParams
from specsize.engine.tokenizer import Tokenizer

METHODS = ("auto", "mtp", "draft", "ngram", "none")
DEFAULT_K = {"mtp": 2, "draft": 4, "ngram": 4}  # assumption: near the best k for the bundled models
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}  # --dtype's choices


@dataclass
class Request:
    model: str
    prompt: str
    method: str = "auto"
    draft: str | None = None
    k: int | None = None
    params: SamplingParams = field(default_factory=SamplingParams)
    seed: int | None = None
    max_new_tokens: int = 256
    chat: bool | None = None  # None: the chat template when the tokenizer has one
    stop: tuple[str, ...] = ()
    adaptive: bool = False
    dtype: str = "float32"
    compile: bool = False  # torch.compile the decoding steps (engine/compile.py)


@dataclass
class Result:
    text: str
    generation: Generation
    method: str
    k: int
    prompt_tokens: int
    compile_time: float | None = None  # s: the --compile warm-up (compilation), apart from the stats

    def to_json(self) -> dict[str, Any]:
        g = self.generation
        return {"text": self.text, "token_ids": g.token_ids, "finish_reason": g.finish_reason, "method": self.method,
                "k": self.k, "prompt_tokens": self.prompt_tokens, "stats": g.stats.to_json(),
                "compile_time_s": self.compile_time}  # fmt: skip


def load_target(root: Path, dtype: torch.dtype = torch.float32, compile: bool = False) -> tuple[Transformer, Tokenizer]:
    """The model in `root` (fused, in eval mode as the loader gives it, its MTP layer included) and its tokenizer;
    compile: its steps compiled."""
    target = load_model(root, dtype=dtype).model.fuse()
    if compile:
        compile_steps(target)
    return target, Tokenizer.from_dir(root)


def load_draft(
    spec: str, target: Transformer, tok: Tokenizer, dtype: torch.dtype = torch.float32, compile: bool = False
) -> Transformer:
    """A draft model that can serve `target` (fused, in eval mode): the same tokenizer, a vocabulary that differs only
    by padding."""
    droot = find_model_dir(spec)
    if Tokenizer.from_dir(droot).tok.get_vocab() != tok.tok.get_vocab():
        raise EngineError(f"{droot}: the draft's tokenizer differs from the target's; a draft must share it")
    draft = load_model(droot, dtype=dtype, mtp=False).model.fuse()
    check_draft_vocab_size(draft.arch.vocab_size, target.arch.vocab_size)
    if compile:
        compile_steps(draft)
    return draft


def load_compiled_pair(model: str, draft: str) -> tuple[Transformer, Tokenizer, Transformer]:
    """A target, its tokenizer and a draft model that serves it, both with their steps compiled (the benchmarks'
    setup: what `--compile` runs)."""
    target, tok = load_target(find_model_dir(model), compile=True)
    return target, tok, load_draft(draft, target, tok, compile=True)


def resolve_method(req: Request, target: Transformer) -> str:
    if req.method not in METHODS:
        raise EngineError(f"unknown method {req.method!r}; choose one of: {', '.join(METHODS)}")
    if req.method == "auto":
        return "draft" if req.draft else "mtp" if target.mtp is not None else "none"
    if req.method == "draft" and not req.draft:
        raise EngineError("--method draft needs --draft DIR (a smaller model with the same tokenizer)")
    if req.method != "draft" and req.draft:
        raise EngineError(f"--draft is only used with --method draft (got --method {req.method})")
    if req.method == "mtp" and target.mtp is None:
        raise EngineError(f"{target.arch.name} has no MTP layer (num_nextn_predict_layers is 0, or the checkpoint "
                          "does not include it); use --method draft or ngram")  # fmt: skip
    return req.method


def run(req: Request, on_text: Callable[[str], None] | None = None) -> Result:
    """Generate for one request; on_text receives the decoded text as it grows (streaming)."""
    if req.k is not None and req.k < 1:
        raise EngineError(f"-k (number of speculative tokens) must be >= 1, got {req.k}")
    if req.max_new_tokens < 1:
        raise EngineError(f"--max-new-tokens must be >= 1, got {req.max_new_tokens}")
    dtype = DTYPES[req.dtype]
    target, tok = load_target(find_model_dir(req.model), dtype, req.compile)
    method = resolve_method(req, target)
    chat = bool(tok.chat_template) if req.chat is None else req.chat
    text = tok.apply_chat_template([{"role": "user", "content": req.prompt}]) if chat else req.prompt
    ids = tok.encode(text, add_special=not chat)
    if not ids:
        raise EngineError("the prompt is empty")
    limit = target.arch.max_position_embeddings
    if len(ids) >= limit:
        raise EngineError(f"the prompt has {len(ids):,} tokens; {target.arch.name} holds {limit:,} positions")
    k = req.k or DEFAULT_K.get(method, 0)
    draft = None
    if method == "draft":
        draft = load_draft(req.draft, target, tok, dtype, req.compile)

    def make_proposer(gen):
        if method == "mtp":
            return MTPProposer(target, req.params, generator=gen)
        if method == "ngram":
            return NgramProposer(1, 4)
        if method == "draft":
            cache = min(draft.arch.max_position_embeddings, len(ids) + req.max_new_tokens + 2 * k + 2)
            return DraftModelProposer(draft, target.arch.vocab_size, req.params, cache, generator=gen)
        return None

    compile_time = None
    if req.compile:  # compile before the timed run: a short warm-up runs every step the generation will use
        t0 = time.perf_counter()
        warm = min(req.max_new_tokens, 2 * k + 4)
        generate(target, ids, warm, req.params, make_proposer(None), 0 if method == "none" else k, tok.eos_token_ids,
                 req.seed, adaptive=req.adaptive)  # fmt: skip
        compile_time = time.perf_counter() - t0
    device = target.model.embed_tokens.weight.device  # the proposers sample where the logits are
    gen = torch.Generator(device=device).manual_seed(req.seed) if req.seed is not None else None
    proposer = make_proposer(gen)
    if method == "none":
        k = 0
    out: list[int] = []
    shown = 0

    def on_tokens(new: list[int]) -> bool:
        nonlocal shown
        out.extend(new)
        text_now = tok.decode(out)
        hit = _first_stop(text_now, req.stop)
        visible = text_now[:hit] if hit is not None else text_now
        if on_text is not None and len(visible) > shown and not visible.endswith("\ufffd"):
            on_text(visible[shown:])
            shown = len(visible)
        return hit is not None

    g = generate(target, ids, req.max_new_tokens, req.params, proposer, k, tok.eos_token_ids, req.seed, on_tokens,
                 adaptive=req.adaptive)  # fmt: skip
    final = tok.decode(g.token_ids)
    hit = _first_stop(final, req.stop)
    final = final[:hit] if hit is not None else final
    if on_text is not None and len(final) > shown:
        on_text(final[shown:])
    return Result(final, g, method, k, len(ids), compile_time)


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [text.find(s) for s in stops if s and s in text]
    return min(hits) if hits else None


def stats_line(r: Result) -> str:
    s = r.generation.stats
    line = (f"{s.num_generated_tokens} tokens in {s.prefill_time + s.decode_time:.2f} s "
            f"({s.tokens_per_s:,.1f} tok/s decode), finish: {r.generation.finish_reason}")  # fmt: skip
    if r.method != "none":
        shown = s.num_accepted_tokens_per_pos[:8]  # the first positions; a long tail says little
        per_pos = " ".join(f"{n / s.num_drafts:.2f}" for n in shown) if s.num_drafts else "-"
        per_pos += " ..." if len(s.num_accepted_tokens_per_pos) > 8 else ""
        line += (f"; {r.method} k={r.k}: acceptance {s.draft_acceptance_rate:.2f} (per position {per_pos}), "
                 f"mean acceptance length {s.mean_acceptance_length:.2f}, draft {s.draft_time:.2f} s, "
                 f"verify {s.verify_time:.2f} s")  # fmt: skip
    if r.compile_time is not None:
        line += f"; compilation {r.compile_time:.1f} s before that (a warm-up generation; not in the tok/s)"
    return line
