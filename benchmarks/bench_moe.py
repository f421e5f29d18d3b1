"""tiny-r1's MoE layer (engine/moe.py MoE) in three forms, side by side at n tokens per step, eager and compiled:
- grouped: what the engine runs (fused model): the chosen experts through grouped.grouped_mm, no weight copies;
- loop: the loop over the chosen experts (an unfused model: training), one host sync per step;
- gather: each token's chosen experts' weights copied, then batched matmuls (the compiled form before issue 20,
  gpt-fast's Mixtral MoE), kept here as the reference.
Times are the calling thread's CPU time (time.thread_time, torch on one thread), medians of --repeats calls
after a warm-up: CPU time moves much less than wall time on a shared machine. Every form is checked against the
loop first (grouped: bit for bit).

    python benchmarks/bench_moe.py [--repeats 300] [--tokens 1,2,5,9,16] [--no-compile]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import types

import torch
import torch.nn.functional as F

from specsize.engine.loader import find_model_dir, load_model
from specsize.engine.moe import MoE


def gather_forward(self: MoE, x: torch.Tensor) -> torch.Tensor:
    """The per-token weight gather (the reference form)."""
    flat = x.reshape(-1, x.shape[-1])
    w, idx = self.gate(flat)
    out = self.shared_experts(flat)
    gate_up, down = self.stacked[0][idx], self.stacked[1][idx]  # [N, k, 2I, h], [N, k, h, I]: copies
    g, u = (gate_up @ flat[:, None, :, None]).squeeze(-1).chunk(2, dim=-1)
    y = (down @ (F.silu(g) * u).unsqueeze(-1)).squeeze(-1)
    return (out + (y * w.to(flat.dtype).unsqueeze(-1)).sum(1)).view(x.shape)


def cpu_ms(fn, x: torch.Tensor, repeats: int) -> float:
    for _ in range(5):
        fn(x)
    ts = []
    for _ in range(repeats):
        t0 = time.thread_time()
        fn(x)
        ts.append(time.thread_time() - t0)
    return statistics.median(ts) * 1e3


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--tokens", default="1,2,5,9,16")
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(find_model_dir("tiny-r1")).model
    loop = next(m for m in model.modules() if isinstance(m, MoE)).eval()
    grouped = copy.deepcopy(loop)
    grouped.fuse()
    forms = {"grouped": grouped.forward, "loop": loop.forward, "gather": types.MethodType(gather_forward, grouped)}
    if not args.no_compile:
        opts = {"cpp_wrapper": True}  # as engine/compile.py compiles on CPU
        forms["grouped compiled"] = torch.compile(grouped.forward, dynamic=True, fullgraph=True, options=opts)
        forms["gather compiled"] = torch.compile(forms["gather"], dynamic=True, fullgraph=True, options=opts)
    e, k, h = len(loop.experts), loop.gate.top_k, loop.gate.weight.shape[1]
    print(f"tiny-r1 MoE layer: {e} experts, top-{k}, hidden {h}; CPU ms per call (thread time, 1 thread, median "
          f"of {args.repeats}); the machine may be shared")  # fmt: skip
    print("| n | " + " | ".join(forms) + " |")
    print("|---:|" + "---:|" * len(forms))
    g = torch.Generator().manual_seed(0)
    for n in (int(t) for t in args.tokens.split(",")):
        x = torch.randn(1, n, h, generator=g)
        ref = loop(x)
        assert torch.equal(grouped(x), ref)
        for name, fn in forms.items():
            assert (fn(x) - ref).abs().max() < 1e-4, name
        print(f"| {n} | " + " | ".join(f"{cpu_ms(fn, x, args.repeats):.3f}" for fn in forms.values()) + " |")


if __name__ == "__main__":
    main()
