"""The network part of the requirements sheet: the planner's step-time model evaluated over other links (each
standard inter-node link, an ideal one, PCIe instead of NVLink), the bandwidth that keeps inter-node communication
under a stated share of a decode step, a verdict per link, and the bytes a step puts on the TP collectives."""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import sqrt
from typing import Any

from specsize.deployment import Deployment
from specsize.hardware import Link, get_link
from specsize.perf import Stack, layer_message_bytes, logits_gather_bytes
from specsize.sheet_data import COMM_SHARE, ENOUGH_SLOWDOWN, STANDARD_LINKS, UNUSABLE_SLOWDOWN
from specsize.speculative import evaluate

LINK_LABELS = {
    "eth-10g": "10 GbE",
    "eth-25g": "25 GbE",
    "eth-100g": "100 GbE",
    "ib-hdr": "InfiniBand HDR",
    "roce-400g": "RoCE 400G",
    "ib-ndr": "InfiniBand NDR",
    "ib-xdr": "InfiniBand XDR",
}
IDEAL = Link("ideal", "infinite bandwidth, no wire latency", 1e15, 0.0, "reference for the inter-node share")


@dataclass
class LinkRow:
    link: str
    name: str
    tpot_plain: float  # s
    tpot_spec: float | None
    slowdown: float  # of the headline mode (speculative when enabled), vs the fastest standard link
    verdict: str

    def to_json(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "name": self.name,
            "tpot_ms_without": self.tpot_plain * 1e3,
            "tpot_ms_with": None if self.tpot_spec is None else self.tpot_spec * 1e3,
            "slowdown": self.slowdown,
            "verdict": self.verdict,
        }


def with_link(dep: Deployment, inter: Link | None = None, intra: Link | None = None) -> Deployment:
    """The same deployment over another inter-node (or intra-node) link object (Deployment.with_inter_node takes a
    catalog id; the bandwidth search needs links that are not in the catalog)."""
    m = replace(dep.machine, inter=inter or dep.machine.inter, intra=intra or dep.machine.intra)
    dm = dep.draft_machine and replace(
        dep.draft_machine, inter=inter or dep.draft_machine.inter, intra=intra or dep.draft_machine.intra
    )
    return replace(dep, machine=m, draft_machine=dm)


def decode_tpot(dep: Deployment, concurrency: int, context: float, spec: bool, repeat_fraction: float) -> float:
    """TPOT from the planner's own model: one plain decode step, or a speculative round over E[L]."""
    if spec:
        return evaluate(dep, concurrency, context, repeat_fraction=repeat_fraction).tpot
    return dep.decode_step(concurrency, context).total


def inter_node_share(dep: Deployment, link: Link, b: int, ctx: float, spec: bool, rf: float) -> float:
    """Share of TPOT that the inter-node link adds over an ideal one (infinite bandwidth, no wire latency)."""
    t = decode_tpot(with_link(dep, inter=link), b, ctx, spec, rf)
    return (t - decode_tpot(with_link(dep, inter=IDEAL), b, ctx, spec, rf)) / t


def needed_bandwidth(dep: Deployment, latency: float, b: int, ctx: float, spec: bool, rf: float) -> float | None:
    """The smallest per-GPU NIC bandwidth (bytes/s, at `latency`) that keeps the inter-node share of TPOT under
    COMM_SHARE (bisection on a log scale); None when the latency alone exceeds it."""

    def share(bw: float) -> float:
        return inter_node_share(dep, Link("needed", "", bw, latency), b, ctx, spec, rf)

    lo, hi = 1e6, 1e14
    if share(hi) > COMM_SHARE:
        return None
    if share(lo) <= COMM_SHARE:
        return lo
    for _ in range(50):
        mid = sqrt(lo * hi)
        lo, hi = (lo, mid) if share(mid) <= COMM_SHARE else (mid, hi)
    return hi


def verdict(slowdown: float) -> str:
    if slowdown <= ENOUGH_SLOWDOWN:
        return "enough"
    if slowdown >= UNUSABLE_SLOWDOWN:
        return f"unusable (decode {1 + slowdown:.1f}x slower)"
    return f"slows decode by {slowdown:.0%}"


def link_table(dep: Deployment, b: int, ctx: float, spec: bool, rf: float) -> list[LinkRow]:
    """TPOT over each standard inter-node link with the plan's step-time model; verdict vs the fastest of them."""
    rows = []
    for lid in STANDARD_LINKS:
        d = dep.with_inter_node(lid)
        plain = decode_tpot(d, b, ctx, False, rf)
        rows.append(
            LinkRow(lid, get_link(lid).name, plain, decode_tpot(d, b, ctx, True, rf) if spec else None, 0.0, "")
        )
    best = min((r.tpot_spec if spec else r.tpot_plain) for r in rows)
    for r in rows:
        r.slowdown = (r.tpot_spec if spec else r.tpot_plain) / best - 1
        r.verdict = verdict(r.slowdown)
    return rows


def collective_bytes(dep: Deployment, stack: Stack, tokens: float) -> float:
    """Bytes one GPU puts into the TP collectives of one step over `tokens` tokens: the messages perf's
    communication_time times (two per layer) plus the logits gather."""
    if dep.layout.tp <= 1:
        return 0.0
    per_layer = 2 * layer_message_bytes(stack, dep.layout, tokens)
    return stack.layers * per_layer + logits_gather_bytes(stack, dep.layout, tokens)
