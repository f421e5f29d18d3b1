"""Parameter accounting: totals, active per token, the MTP module, and a breakdown by component.

Conventions (stated because published figures differ by ~1B depending on them):
- params_total: the main model as the checkpoint stores it (MTP excluded), embedding and head included.
- params_active: parameters a token's forward pass multiplies by, embedding and lm_head included
  (DeepSeek's own 37B convention, V3 report §1), with top_k of the routed experts and all shared ones.
- params_mtp: unique MTP parameters (V3 report: 11.5B); the embedding / head copies R1 stores in layer 61
  are reported separately as params_mtp_stored_copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from specsize.config import ModelArch
from specsize.tensors import TensorGroup, tensor_groups

COMPONENT_ORDER = (
    "embedding",
    "attention",
    "mlp",
    "moe_routed",
    "moe_shared",
    "moe_router",
    "norm",
    "lm_head",
    "mtp_proj",
)


@dataclass(frozen=True)
class ParamCounts:
    total: int
    active: int
    mtp: int
    mtp_active: int
    mtp_stored_copies: int
    components: tuple[tuple[str, int], ...]  # main model, in COMPONENT_ORDER
    mtp_components: tuple[tuple[str, int], ...]


def active_numel(a: ModelArch, g: TensorGroup) -> float:
    """Parameters of group g used by one token: routed experts scaled by top_k / num_experts."""
    if g.component == "moe_routed":
        assert a.moe is not None
        return g.numel * a.moe.top_k / a.moe.num_experts
    return g.numel


def _by_component(groups: Iterable[TensorGroup]) -> tuple[tuple[str, int], ...]:
    sums: dict[str, int] = {}
    for g in groups:
        sums[g.component] = sums.get(g.component, 0) + g.numel
    return tuple((c, sums[c]) for c in COMPONENT_ORDER if c in sums)


def count_params(a: ModelArch) -> ParamCounts:
    groups = tensor_groups(a)
    main = [g for g in groups if g.scope == "model"]
    mtp = [g for g in groups if g.scope == "mtp"]
    copies = [g for g in groups if g.scope == "mtp_copy"]
    return ParamCounts(
        total=sum(g.numel for g in main),
        active=round(sum(active_numel(a, g) for g in main)),
        mtp=sum(g.numel for g in mtp),
        mtp_active=round(sum(active_numel(a, g) for g in mtp)),
        mtp_stored_copies=sum(g.numel for g in copies),
        components=_by_component(main),
        mtp_components=_by_component(mtp),
    )
