"""Reproduce the local-runtime constant of specsize/perf_constants.py from the published performance cases.

Since the measured corpus, the serving engines' constants (SGLang, TensorRT-LLM, vLLM, ATOM) come from
scripts/fit_serving.py (1,187 measured points); this script keeps the constants the corpus says nothing about:

- the achieved-bandwidth efficiency at which local MoE runtimes (llama.cpp / ktransformers / MLX) stream experts,
  a grid search minimising the largest |relative error| / tolerance (plus a tenth of the mean) over their two
  published figures (src/specsize/catalog/validation/published.json);
- llama.cpp on GPUs (src/specsize/catalog/validation/llamacpp-gpu.json: llama-bench tg512 of Llama-3-shaped 8B and
  70B models, Q4_K_M and F16, on 11 GPU types, one to eight GPUs): the bytes/s one compute unit pulls through its
  mat-vec kernels (unit_bandwidth), the bandwidth factor of its block-quantised (GGUF) kernels and the per-layer
  cost on a GPU without graph replay (Metal; eager_penalty), a grid search minimising the mean |log(predicted /
  published)| over the cases fully on the GPUs;
- llama.cpp's CPU side in R1/V3 CPU/GPU hybrids (the cases of llamacpp-gpu.json with an "offload": experts in RAM
  via -ot exps=CPU / -ncmoe, or layers past -ngl): the FLOP/s per computing core of its CPU mat-vec kernels
  (host_flops_per_core), a grid search minimising the mean |log error| over those cases, with its DRAM reads at
  the roofline's efficiency (host_bw_efficiency 1.0: an assumption, printed beside the fit); and the share of the
  PCIe link's bandwidth that a prefill step's copies of those experts reach (llama.cpp's op offload computes them
  on the GPU), on the hybrid cases' llama-bench pp figures (prefill_tok_s).

    python scripts/fit_perf_constants.py [published.json] [llamacpp-gpu.json]
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import replace
from pathlib import Path

from specsize import perf
from specsize import perf_constants as pc
from specsize.validate import BUNDLED, PERF_METRICS, load_cases, run_case

MS = 1e-3
US = 1e-6


def perf_cases(path):
    return [c for c in load_cases(path) if any(m in PERF_METRICS for m in c["expect"])]


def worst_error(cases) -> float:
    """The largest |relative error| / tolerance (below 1 every figure passes: the validate criterion), plus a
    tenth of the mean to choose among equally good worst cases."""
    errs = []
    for c in cases:
        for o in run_case(c):
            if o.metric in PERF_METRICS:
                errs.append(abs(o.error) / o.tolerance if o.error is not None else math.inf)
    return max(errs) + 0.1 * sum(errs) / len(errs)


def with_perf(engines, **changes):
    for e in engines:
        pc.ENGINE_PERF[e] = replace(pc.ENGINE_PERF[e], **changes)


def grid_search(grid: dict, apply, objective) -> tuple[float, tuple]:
    """The grid point with the least objective() after apply(**point) (the first of equals), and that least value;
    the caller puts back what apply changed."""
    keys, best = list(grid), (math.inf, ())
    for values in itertools.product(*grid.values()):
        apply(**dict(zip(keys, values, strict=True)))
        err = objective()
        if err < best[0]:
            best = (err, values)
    return best


def search(label, cases, engines, grid):
    keys = list(grid)
    original = {e: pc.ENGINE_PERF[e] for e in engines}
    err, values = grid_search(grid, lambda **kw: with_perf(engines, **kw), lambda: worst_error(cases))
    pc.ENGINE_PERF.update(original)
    pairs = zip(keys, values, strict=True)
    shown = ", ".join(f"{k} = {v / US:.2f} us" if "overhead" in k else f"{k} = {v:.2f}" for k, v in pairs)
    print(f"{label}: {shown}  (objective {err:.2f}: worst |error| / tolerance + mean / 10)")


def mean_log_error(cases) -> float:
    """Over the cases the planner predicts (one that does not fit has no speed; validate lists it)."""
    errs = [abs(math.log1p(o.error)) for c in cases for o in run_case(c)
            if o.metric in PERF_METRICS and o.error is not None]  # fmt: skip
    return sum(errs) / len(errs)


def fit_llamacpp_gpu(path: Path) -> None:
    cases = [c for c in perf_cases(path) if "offload" not in c["scenario"] and c["scenario"]["engine"] == "llamacpp"]
    grid = {
        "unit_bandwidth": [i * 0.5e9 for i in range(10, 31)],  # 5-15 GB/s per compute unit
        "block_quant_bw_efficiency": [i / 100 for i in range(70, 101, 2)],
        "eager_penalty": [i * 20 * US for i in range(0, 16)],  # 0-0.3 ms per layer
    }
    original = pc.ENGINE_PERF["llamacpp"]
    best = grid_search(grid, lambda **kw: with_perf(["llamacpp"], **kw), lambda: mean_log_error(cases))
    pc.ENGINE_PERF["llamacpp"] = original
    (u, q, e) = best[1]
    print(
        f"llama.cpp on GPUs ({len(cases)} cases): unit_bandwidth = {u / 1e9:.2f} GB/s, block_quant_bw_efficiency"
        f" = {q:.2f}, eager_penalty = {e / US:.0f} us  (mean |log error| {best[0]:.3f})"
    )


def hybrid_cases(path: Path, metric: str, engine: str = "llamacpp"):
    return [c for c in perf_cases(path)
            if "offload" in c["scenario"] and metric in c["expect"] and c["scenario"]["engine"] == engine]  # fmt: skip


def fit_llamacpp_host(path: Path, engine: str = "llamacpp") -> None:
    """The CPU's rate per core of llama.cpp's (or ik_llama.cpp's) kernels, on that engine's R1/V3 hybrid cases."""
    cases = hybrid_cases(path, "output_tok_s_per_user", engine)
    grid = {"host_flops_per_core": [i * 0.5e9 for i in range(10, 121)]}  # 5-60 GFLOP/s per core
    original = pc.ENGINE_PERF[engine]
    err, (f,) = grid_search(grid, lambda **kw: with_perf([engine], **kw), lambda: mean_log_error(cases))
    best = (err, f)
    with_perf([engine], host_flops_per_core=f)
    shown = ", ".join(f"{o.id} {o.predicted:.2f} vs {o.expected}" for c in cases for o in run_case(c))
    pc.ENGINE_PERF[engine] = original
    print(
        f"{engine}'s CPU side ({len(cases)} R1/V3 hybrid cases; host_bw_efficiency = "
        f"{original.host_bw_efficiency:.2f}, assumption): host_flops_per_core = {best[1] / 1e9:.1f} GFLOP/s"
        f"  (mean |log error| {best[0]:.3f}: {shown})"
    )


def fit_pcie_copy(path: Path) -> None:
    """The share of PCIe a prefill step's expert copies reach (llama.cpp's op offload), on the pp figures."""
    cases = hybrid_cases(path, "prefill_tok_s")
    original = pc.PCIE_COPY_EFFICIENCY
    grid = {"eff": [i / 100 for i in range(20, 101)]}
    err, (eff,) = grid_search(
        grid, lambda eff: setattr(perf, "PCIE_COPY_EFFICIENCY", eff), lambda: mean_log_error(cases)
    )
    best = (err, eff)
    perf.PCIE_COPY_EFFICIENCY = original
    print(f"PCIe copies of experts in RAM ({len(cases)} prefill figure(s)): PCIE_COPY_EFFICIENCY = {best[1]:.2f}"
          f"  (mean |log error| {best[0]:.3f})")  # fmt: skip


def main(path: Path, llamacpp_gpu: Path) -> None:
    cases = perf_cases(path)
    local = [c for c in cases if c["scenario"]["engine"] in ("llamacpp", "ktransformers", "mlx")]
    search("local MoE", local, ["llamacpp", "ktransformers", "mlx"],
           {"bw_efficiency": [i / 100 for i in range(20, 101)]})  # fmt: skip
    fit_llamacpp_gpu(llamacpp_gpu)
    fit_llamacpp_host(llamacpp_gpu)
    fit_llamacpp_host(llamacpp_gpu, "ik_llamacpp")
    fit_pcie_copy(llamacpp_gpu)


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:]]
    main(args[0] if args else BUNDLED, args[1] if len(args) > 1 else BUNDLED.parent / "llamacpp-gpu.json")
