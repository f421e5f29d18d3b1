"""A grouped matrix product for the MoE experts: rows sorted by expert, each group of rows times its expert's
weight, in one call: no expert's weights copied, no host sync in the caller, an output of a fixed shape
(the number of rows), so torch.compile builds one graph whatever the routing.

torch._grouped_mm computes it (ATen; on CPU in float32, bfloat16 and float16), but its shape function (meta kernel) in
torch 2.13 accepts bfloat16 only, so torch.compile cannot trace it directly in float32: it is wrapped here in
a custom operator (torch.library.custom_op) with its own shape function, which the compiled graph calls as
one opaque kernel. Where ATen has no kernel for the inputs (CUDA in float32: untested here, no GPU), the
operator loops over the groups instead (one host read of the group ends); so it does for widths that are not a
multiple of 16 bytes, which ATen's kernel refuses.
"""

from __future__ import annotations

import torch


@torch.library.custom_op("specsize::grouped_mm", mutates_args=())
def grouped_mm(rows: torch.Tensor, weights: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """rows [M, K] sorted by group; weights [G, K, N]; ends [G] int32, the cumulative row counts (group g is
    rows ends[g-1]..ends[g]-1) -> [M, N]: each row times its group's matrix."""
    cpu = rows.device.type == "cpu" and rows.dtype in (torch.float32, torch.bfloat16, torch.float16)
    if (cpu or rows.dtype == torch.bfloat16) and _aligned(rows) and _aligned(weights):
        return torch._grouped_mm(rows, weights, offs=ends)
    out = rows.new_empty(rows.shape[0], weights.shape[2])
    lo = 0
    for g, hi in enumerate(ends.tolist()):
        if hi > lo:
            torch.mm(rows[lo:hi], weights[g], out=out[lo:hi])
        lo = hi
    return out


def _aligned(t: torch.Tensor) -> bool:
    """ATen's grouped product wants 16-byte aligned data and strides (a model whose widths are not multiples
    of 16 bytes takes the loop)."""
    size = t.element_size()
    return t.data_ptr() % 16 == 0 and all(s * size % 16 == 0 for s in t.stride() if s != 1)


@grouped_mm.register_fake
def _(rows: torch.Tensor, weights: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    return rows.new_empty(rows.shape[0], weights.shape[2])
