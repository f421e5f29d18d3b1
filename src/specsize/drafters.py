"""The drafters' sizing, read by memory (their bytes) and deployment (their speed): a draft model's precision
and layout, an EAGLE head's parameters."""

from __future__ import annotations

from specsize.config import ModelArch
from specsize.quant import Precision, get_precision
from specsize.scenario import Layout, Speculative


def draft_precision(target: Precision, draft: ModelArch) -> Precision:
    """A draft model runs in the target's precision when that is a plain dtype or the draft ships quantised;
    otherwise in BF16 (nobody publishes FP8/NVFP4/INT8 R1-Distill drafts: assumption)."""
    if target.name in ("fp8", "nvfp4", "int8") and not draft.quant_method:
        return get_precision("bf16")
    return target


def draft_layout(spec: Speculative, layout: Layout) -> Layout:
    """Where a draft model runs: inside each data-parallel replica, on that replica's GPUs (tp x pp), at
    --draft-tp or the target's TP. vLLM's draft worker shares the target's tensor-parallel group
    (spec_decode SmallerTpProposerWorker patches that group; draft_tensor_parallel_size is 1 or the target's
    TP) and every DP rank is its own engine with its own draft. Memory and speed both read this."""
    return Layout(tp=min(spec.draft_tp or layout.tp, layout.tp * layout.pp))


def eagle_head_params(a: ModelArch) -> int:
    """An EAGLE head: fc(2h -> h), one decoder layer (attention ~4h^2, SwiGLU MLP 3 h I); the embedding and
    output head are the target's (assumption: EAGLE-1/2 layout)."""
    h = a.hidden_size
    return 2 * h * h + 4 * h * h + 3 * h * a.intermediate_size
