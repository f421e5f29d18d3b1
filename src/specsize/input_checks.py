"""Checks of what a user asks for that no single library function sees whole: a GPU type named twice, a draft
tensor-parallel size the target's layout cannot host. Each raises PlanError with one line that says what to do."""

from __future__ import annotations

from specsize.errors import PlanError
from specsize.scenario import Layout, Speculative


def check_unique_gpus(gpus: list[str] | tuple[str, ...]) -> None:
    """--gpu names each GPU type once (an alias and its id are the same type)."""
    from specsize.hardware import get_gpu

    seen: dict[str, str] = {}
    for g in gpus:
        gid = get_gpu(g).id
        if gid in seen:
            same = f" ({seen[gid]} and {g} are the same GPU)" if seen[gid] != g else ""
            raise PlanError(f"--gpu {g} is given twice{same}; name each GPU type once (--gpus N sets how many)")
        seen[gid] = g


def check_draft_tp(spec: Speculative, layout: Layout, engine: str) -> None:
    """A draft model's tensor-parallel size must fit the target's layout and the engine's rule."""
    if spec.method != "draft" or spec.draft_tp is None:
        return
    tp, gpus = spec.draft_tp, layout.tp * layout.pp
    if tp > gpus:
        raise PlanError(f"--draft-tp {tp}: the target runs on {gpus} GPU{'s' if gpus > 1 else ''} ({layout.describe()})"
                        f" and its draft runs on those; give --draft-tp {_choices(layout, engine)}")  # fmt: skip
    if engine == "vllm" and tp not in (1, layout.tp):
        # vllm/config/speculative.py: "speculative_draft_tensor_parallel_size=... cannot be other value than 1 or
        # target model tensor_parallel_size"
        raise PlanError(f"--draft-tp {tp}: vLLM runs a draft at TP 1 or at the target's TP ({layout.tp}); give "
                        f"--draft-tp {_choices(layout, engine)}")  # fmt: skip
    heads = spec.draft.num_heads if spec.draft is not None else 0
    if heads and heads % tp:
        raise PlanError(f"--draft-tp {tp} does not divide the draft's {heads} attention heads; give a divisor "
                        f"of {heads} up to {gpus}")  # fmt: skip


def _choices(layout: Layout, engine: str) -> str:
    if engine == "vllm":
        return "1" if layout.tp == 1 else f"1 or {layout.tp}"
    n, out = 1, []
    while n <= layout.tp * layout.pp:
        out.append(str(n))
        n *= 2
    return ", ".join(out)
