"""torch.compile for the engine, opt-in (`--compile`), held here.

What is compiled: the small cached steps, the ones decoding repeats, and the round functions of rounds.py that
the generation loop calls: a verification (the target's forward over k+1 tokens and the rejection sampler, one
graph), a draft model's k steps (one unrolled graph per k), the MTP module's first-round catch-up and chained
steps (one graph per k and catch-up shape) and its later rounds fused into the verification (rounds.verify_mtp_round,
one graph per k). Prefill and training stay eager: they run
once per request, and a prompt's length would only add compilations. The steps are compiled with dynamic
shapes (`dynamic=True`), so a new start position or block size does not recompile; the guards that remain
split them into a few graphs (one token vs a block), compiled on first use. A graph is specialised on the
cache's size, so a compiled model allocates its caches in a few sizes (cache_len).

Where it helps: per-op overhead, which is most of a small model's step. On the bundled tiny-r1 on a 2-core
CPU, a one-token step takes 0.67 ms compiled against 3.8 ms eager, after 25-50 s of compilation
(benchmarks/bench_engine.py and bench_speculative.py --compile measure it end to end). A large model's step
on a GPU is bound by memory bandwidth, so compile gains less there; CUDA graphs are not used, and CUDA is
untested (no GPU here). Compiling needs a C++ compiler on CPU (inductor) and Triton on CUDA.
"""

from __future__ import annotations

import os
import shutil

import torch

from specsize.engine import rounds
from specsize.engine.model import Transformer
from specsize.errors import SpecsizeError

MAX_STEP_TOKENS = 16  # steps of at most this many tokens per sequence run compiled (k <= 15)
CACHE_GRANULE = 2048  # compiled models allocate caches in multiples of this many positions (or the model's max)


class CompiledSteps:
    """The compiled Transformer.step and Transformer.mtp_step of one model (Transformer.forward dispatches)."""

    def __init__(self, model: Transformer):
        cpu = next(model.parameters()).device.type == "cpu"
        # On CPU, a C++ wrapper around the generated kernels instead of a Python one: 0.67 ms against 0.94 ms
        # for a tiny-r1 one-token step on a 2-core CPU (the wrapper's per-call overhead is most of a small step).
        options = {"cpp_wrapper": True} if cpu else {}
        self.forward = torch.compile(model.step, dynamic=True, options=options)
        self._mtp = torch.compile(model.mtp_step, dynamic=True, options=options) if model.mtp is not None else None
        self.model = model
        self._verify = torch.compile(rounds.verify_round, dynamic=True, options=options)
        self._draft = torch.compile(rounds.draft_round, dynamic=True, options=options)
        self._mtp_round = torch.compile(rounds.mtp_round, dynamic=True, options=options)
        self._verify_mtp = torch.compile(rounds.verify_mtp_round, dynamic=True, options=options)

    def verify(self, last, drafts, start, draft_probs, params, noise):
        """The compiled rounds.verify_round of this model."""
        return self._verify(self.model, last, drafts, start, draft_probs, params, noise)

    def verify_mtp(self, last, drafts, start, draft_probs, params, noise, k, draft_params, mtp_noise):
        """The compiled rounds.verify_mtp_round (a verification and the next round's k MTP drafts, one graph)."""
        return self._verify_mtp(self.model, last, drafts, start, draft_probs, params, noise, k, draft_params,
                                mtp_noise)  # fmt: skip

    def draft(self, block, start, k, params, noise, shared, vocab):
        """The compiled rounds.draft_round (k unrolled steps, one graph per k)."""
        return self._draft(self.model, block, start, k, params, noise, shared, vocab)

    def mtp_round(self, hidden, next_tokens, start, k, params, noise):
        """The compiled rounds.mtp_round; hidden as a compact copy (see mtp())."""
        hidden = hidden.clone(memory_format=torch.contiguous_format)
        return self._mtp_round(self.model, hidden, next_tokens, start, k, params, noise)

    @staticmethod
    def fits(tokens: int) -> bool:
        return tokens <= MAX_STEP_TOKENS

    def mtp(self, hidden: torch.Tensor, next_tokens: torch.Tensor, start, at: torch.Tensor | None = None):
        """The compiled MTP step. `hidden` is often a slice of a larger block of target states; its strides
        would be one more thing for the graph to guard on, so it is passed as a compact copy (h floats per
        token: nothing next to the step)."""
        return self._mtp(hidden.clone(memory_format=torch.contiguous_format), next_tokens, start, False, at)

    @staticmethod
    def wants(tokens: torch.Tensor, start: int | None) -> bool:
        """A cached step after the prefill (start 0 is the prompt: dynamo specialises 0, and prefill runs once)."""
        return bool(start) and tokens.shape[1] <= MAX_STEP_TOKENS and not torch.is_grad_enabled()

    @staticmethod
    def cache_len(max_len: int, limit: int) -> int:
        """The cache size to allocate: a graph compiled for one cache size is reused by every request."""
        return min(limit, -(-max_len // CACHE_GRANULE) * CACHE_GRANULE)


def compile_steps(model: Transformer) -> Transformer:
    """Route the model's small cached steps through torch.compile (see the module docstring); returns it. The
    model is fused first: the compiled MoE reads the stacked experts."""
    if next(model.parameters()).device.type == "cpu" and not any(
        shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++")
    ):
        raise SpecsizeError("--compile on CPU needs a C++ compiler (inductor builds the kernels): install g++ "
                            "(e.g. apt install g++) or set CXX, or run without --compile")  # fmt: skip
    # graphs per compiled function: one per k for the unrolled draft and MTP rounds, a few shapes each, for every
    # model compiled in the process (the limit is per function, shared by the models)
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    model.fuse()
    model.steps = CompiledSteps(model)
    return model
