"""DeepSeek-V3's mixture of experts (DeepSeek-V3 report §2.1.2): the router (sigmoid scores, bias-corrected
group-limited top-k) and the routed plus shared experts, in the forms the engine runs them (grouped product, a
gather when compiled and small, a loop when training)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from specsize.config import ModelArch
from specsize.engine.grouped import grouped_mm
from specsize.engine.layers import MLP
from specsize.errors import EngineError

# MoE.forward under torch.compile gathers each token's chosen experts' weights (a copy) instead of the grouped
# product when the copy holds at most this many elements (tokens x top-k x one expert's gate, up and down).
# Assumption: 4M elements (16 MB in fp32, half the 32 MB L3 of this project's CPU): a copy that stays in cache
# costs no more than the grouped product's fixed cost per call (benchmarks/bench_moe.py, tiny-r1, compiled, CPU
# time: gather 0.100-0.286 ms against grouped 0.103-0.293 ms per layer at 1-16 tokens on a quiet machine; under
# load the grouped product's callback cost up to 3x the gather). tiny-r1's steps (at most 16 tokens x 2 experts x
# 74K elements = 2.4M) stay under it; one of R1's experts (44M elements) is far over it.
GATHER_MAX_ELEMENTS = 4 * 1024 * 1024


# What Router implements (DeepSeek-V3 report §2.1.2): sigmoid scores, bias-corrected (noaux_tc) top-k
ROUTER_SCORING, ROUTER_TOPK = "sigmoid", "noaux_tc"


class Router(nn.Module):
    """DeepSeek-V3 routing: sigmoid scores; choice by score + e_score_correction_bias, limited to the topk_group
    groups with the best sum of their top-2; weights are the unbiased scores, normalised, times the scaling.
    Any other scoring_func / topk_method (softmax scores, DeepSeek-V2's group_limited_greedy) is refused."""

    def __init__(self, a: ModelArch):
        super().__init__()
        moe = a.moe
        if (moe.scoring_func, moe.topk_method) != (ROUTER_SCORING, ROUTER_TOPK):
            raise EngineError(f"{a.name}: the engine's MoE router implements scoring_func {ROUTER_SCORING!r} with "
                              f"topk_method {ROUTER_TOPK!r} (DeepSeek-V3/R1); this model asks for scoring_func "
                              f"{moe.scoring_func!r} with topk_method {moe.topk_method!r} (the planner still sizes "
                              "it: specsize inspect/fit/plan)")  # fmt: skip
        self.weight = nn.Parameter(torch.zeros(moe.num_experts, a.hidden_size))
        self.register_buffer("e_score_correction_bias", torch.zeros(moe.num_experts))
        self.top_k, self.n_group, self.topk_group = moe.top_k, moe.n_group or 1, moe.topk_group or 1
        self.norm, self.scaling = moe.norm_topk_prob, moe.routed_scaling_factor

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [N, hidden] -> weights [N, k] (float32), expert ids [N, k]."""
        scores = F.linear(x.float(), self.weight.float()).sigmoid()  # [N, E]
        choice = scores + self.e_score_correction_bias.float()  # [N, E]: the bias steers the choice only
        if self.topk_group < self.n_group:  # keep the topk_group groups with the best sum of their top-2
            n, e = choice.shape
            g = e // self.n_group  # experts per group
            groups = choice.view(n, self.n_group, g).topk(2, dim=-1)[0].sum(-1)  # [N, groups]
            keep = torch.zeros_like(groups).scatter_(1, groups.topk(self.topk_group, dim=-1)[1], 1.0)  # [N, groups]
            keep = keep.unsqueeze(-1).expand(n, self.n_group, g).reshape(n, e).bool()  # [N, E]: each group's mark
            choice = choice.masked_fill(~keep, float("-inf"))
        idx = choice.topk(self.top_k, dim=-1)[1]  # [N, k]
        w = scores.gather(1, idx)  # [N, k]
        if self.norm:
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        return w * self.scaling, idx


class MoE(nn.Module):
    """Routed experts plus shared experts. Fused (fuse() stacks the experts' weights), the routed sum reads only
    the experts some token chose and copies none of them: the step's n k (token, expert) choices are sorted by
    expert, each token's row gathered once per choice, and one grouped matrix product per projection
    (grouped.grouped_mm) multiplies each group of rows by its expert's weights; the outputs, weighted, are added
    back to their tokens (index_add, in expert order, as a loop over the experts does). No host sync and no
    shape that depends on the routing: under torch.compile a step is one graph whatever the experts chosen.
    Compiled, a step whose per-token copy of its chosen experts' weights would be small (GATHER_MAX_ELEMENTS)
    gathers them instead (gpt-fast's Mixtral MoE: two batched matmuls), which is cheaper there than the grouped
    product's fixed cost. Not fused (training), a loop over the chosen experts (one host sync) computes the same
    sum; the grouped form equals it bit for bit (tests/test_moe_grouped.py)."""

    def __init__(self, a: ModelArch):
        super().__init__()
        m = a.moe
        self.gate = Router(a)
        self.experts = nn.ModuleList(MLP(a.hidden_size, m.expert_intermediate_size) for _ in range(m.num_experts))
        self.shared_experts = MLP(a.hidden_size, m.shared_intermediate_size) if m.shared_intermediate_size else None
        self.stacked: tuple[torch.Tensor, torch.Tensor] | None = None  # [E, 2I, h] gate+up, [E, h, I] down (fuse())

    @torch.no_grad()
    def fuse(self) -> None:
        """Stack the experts' weights (their parameters become views of the stacks; state dicts are unchanged)."""
        if self.stacked is not None:  # experts have no biases (MoE.__init__)
            return
        gate_up = torch.stack([e.gate_up_proj.weight.detach() for e in self.experts])  # [E, 2I, h]
        down = torch.stack([e.down_proj.weight.detach() for e in self.experts])  # [E, h, I]
        for i, e in enumerate(self.experts):
            grad = e.down_proj.weight.requires_grad
            e.gate_up_proj.weight = nn.Parameter(gate_up[i], requires_grad=grad)
            e.down_proj.weight = nn.Parameter(down[i], requires_grad=grad)
        self.stacked = gate_up, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])  # [N, hidden]
        w, idx = self.gate(flat)
        if self.training:  # tokens per expert, for the aux-loss-free balancing of train/trainer.py
            self.load = torch.bincount(idx.flatten(), minlength=len(self.experts))
        w = w.to(flat.dtype)
        out = self.shared_experts(flat) if self.shared_experts is not None else torch.zeros_like(flat)
        if (torch.compiler.is_compiling() and self.stacked is not None
                and idx.numel() * 3 * self.stacked[1][0].numel() <= GATHER_MAX_ELEMENTS):  # fmt: skip
            return (out + self.gathered(flat, w, idx)).view(shape)
        if self.stacked is not None and not torch.is_grad_enabled():
            token, y = self.grouped(flat, w, idx)
            return out.index_add(0, token, y).view(shape)
        for e in idx.unique().tolist():  # only the experts some token chose
            rows, slot = (idx == e).nonzero(as_tuple=True)
            out.index_add_(0, rows, self.experts[e](flat[rows]) * w[rows, slot, None])
        return out.view(shape)

    def grouped(self, flat: torch.Tensor, w: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The chosen experts' outputs, weighted: (token of each choice [N k], output [N k, h]), sorted by expert."""
        gate_up, down = self.stacked
        choice = idx.flatten()  # [N k]: choice j is token j // k's expert
        order = choice.argsort(stable=True)  # by expert, tokens in order within an expert
        token = order // idx.shape[1]
        experts = torch.arange(gate_up.shape[0], device=flat.device)
        ends = torch.searchsorted(choice[order], experts, right=True, out_int32=True)  # [E] each group's end
        g, u = grouped_mm(flat[token], gate_up.transpose(1, 2), ends).chunk(2, dim=-1)  # [N k, I] each
        y = grouped_mm(F.silu(g) * u, down.transpose(1, 2), ends)  # [N k, h]
        return token, y * w.flatten()[order, None]

    def gathered(self, flat: torch.Tensor, w: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Each token's chosen experts' weights gathered (copied) into two batched matmuls: [N, h] -> [N, h]."""
        gate_up, down = self.stacked[0][idx], self.stacked[1][idx]  # [N, k, 2I, h], [N, k, h, I]
        g, u = (gate_up @ flat[:, None, :, None]).squeeze(-1).chunk(2, dim=-1)  # [N, k, I] each
        y = (down @ (F.silu(g) * u).unsqueeze(-1)).squeeze(-1)  # [N, k, h]
        return (y * w.unsqueeze(-1)).sum(1)
