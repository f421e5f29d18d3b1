"""The default workload (4,096 input + 4,096 output tokens) clipped to a model's maximum context, with a note:
`specsize fit tiny-r1` (1,024 positions) plans 512 + 512 instead of refusing an 8,192-token default the user
never asked for. A length the user gives is never changed (Workload.check_against refuses it in one line)."""

from __future__ import annotations

from specsize.config import ModelArch
from specsize.scenario import Workload

DEFAULT_INPUT = 4096
DEFAULT_OUTPUT = 4096


def clip_default(w: Workload, a: ModelArch, given: bool) -> tuple[Workload, str | None]:
    """w unchanged when the user gave a length or it fits; else the default halved into the model's context."""
    limit = a.max_position_embeddings
    if given or w.context <= limit:
        return w, None
    half = limit // 2
    clipped = Workload(w.concurrency, half, limit - half)
    note = (f"note: {a.name} holds {limit:,} positions, so the default {w.input_tokens:,} input + "
            f"{w.output_tokens:,} output tokens is clipped to {half:,} + {limit - half:,} (set --input/--output "
            "or --context to choose)")  # fmt: skip
    return clipped, note
