"""The MoE's grouped form (moe.MoE.grouped: the chosen experts through grouped.grouped_mm, no expert weights
copied) computes the loop over the chosen experts bit for bit, eager and compiled, and compiles to one graph
without breaks whatever the routing (a graph for one token and one for blocks, dynamo's 0/1 specialisation);
the compiled gather of small experts (moe.GATHER_MAX_ELEMENTS) gives the same sum to float rounding."""

import copy

import pytest
import torch
from torch._dynamo.utils import counters

from specsize.assets import bundled_model_dir
from specsize.engine import moe
from specsize.engine.grouped import grouped_mm
from specsize.engine.loader import load_model
from specsize.engine.moe import MoE


def tiny_r1_moe():
    loaded = load_model(bundled_model_dir("tiny-r1")).model
    return next(m for m in loaded.modules() if isinstance(m, MoE)).eval()


@pytest.mark.parametrize("width", [8, 5])  # 8 floats: ATen's grouped kernel; 5 (20-byte rows): the loop
def test_grouped_mm_matches_per_group_products_with_empty_groups(width):
    g = torch.Generator().manual_seed(0)
    rows, weights = torch.randn(7, width, generator=g), torch.randn(4, 8, width, generator=g).transpose(1, 2)
    ends = torch.tensor([2, 2, 6, 7], dtype=torch.int32)  # group 1 is empty
    want = torch.cat([rows[0:2] @ weights[0], rows[2:6] @ weights[2], rows[6:7] @ weights[3]])
    assert torch.allclose(grouped_mm(rows, weights, ends), want, atol=1e-5)


@torch.inference_mode()
@pytest.mark.parametrize("gather_max", [0, moe.GATHER_MAX_ELEMENTS], ids=["grouped", "gather"])
def test_grouped_moe_is_the_loop_bit_for_bit_eager_and_compiled(gather_max, monkeypatch):
    monkeypatch.setattr(moe, "GATHER_MAX_ELEMENTS", gather_max)  # 0: compiled steps take the grouped form too
    loop = tiny_r1_moe()
    grouped = copy.deepcopy(loop)
    grouped.fuse()  # stacked experts: the grouped form; `loop` is not fused: the loop over chosen experts
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(1, n, loop.gate.weight.shape[1], generator=g) for n in (1, 2, 3, 5, 9, 16, 40)]
    chosen = set()
    for x in xs:
        assert torch.equal(grouped(x), loop(x))
        chosen.add(tuple(sorted(set(loop.gate(x.view(-1, x.shape[-1]))[1].flatten().tolist()))))
    assert len(chosen) > 3  # the inputs route to different sets of experts
    graphs, breaks = counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())
    compiled = torch.compile(grouped.forward, dynamic=True, fullgraph=True)  # fullgraph: a break would raise
    for x in xs:
        if gather_max and x.shape[1] <= 28:  # copies of up to 4M elements: gathered, to float rounding
            assert (compiled(x) - loop(x)).abs().max() < 1e-5
        else:
            assert torch.equal(compiled(x), loop(x))
    # one token, and blocks; with the gather, blocks of up to 28 tokens (2 x 74K-element experts each under 4M)
    # and longer ones (40 here: the grouped form) are a graph each
    assert counters["stats"]["unique_graphs"] - graphs <= (3 if gather_max else 2)
    assert sum(counters["graph_break"].values()) == breaks
