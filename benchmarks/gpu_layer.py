"""One DeepSeek-R1 decoder layer at its real dimensions (MLA, 256 routed experts top-8 + 1 shared expert, hidden
7168) on the local accelerator, timed at n = 1..64 tokens per sequence per step (a verification block) for a few
batch sizes, next to what perf.py predicts for that layer on that GPU.

The layer is specsize's own engine code (engine/model.py Block: MLA with the latent cache in absorbed form,
attention.py; DeepSeek routing and the MoE over the experts the tokens chose, moe.py) with random weights in BF16 (R1's
FP8 checkpoint dequantised, as the engine runs it), a latent cache holding `--context` tokens per sequence. Prediction:
perf.py's step time of a one-layer R1 (the same MoE layer, no embedding, no head) at TP1 in BF16 on the GPU, as a
roofline (memory / compute, no engine overhead) and with the eager engine's per-layer overhead (perf_constants
"specsize").

    python benchmarks/gpu_layer.py                 # needs a CUDA or ROCm GPU; about a minute on an H200
    python benchmarks/gpu_layer.py --predict-only --gpu h200    # the prediction side only (any machine)

Without an accelerator it prints one line and exits 1. Run it once whenever a GPU is at hand; its output goes in
the README. Memory: ~23 GB for the layer's BF16 weights plus the cache.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace

from specsize.hardware import get_gpu, match_gpu
from specsize.perf import build_stack, make_machine, step_time
from specsize.perf_constants import engine_perf
from specsize.quant import get_precision
from specsize.resolve import load_model
from specsize.scenario import Layout

TOKENS = (1, 2, 4, 8, 16, 32, 64)
BATCHES = (1, 8, 32)


def one_layer_arch(model: str = "deepseek-r1"):
    """The model with a single decoder layer, an MoE one, and no MTP layer: perf.py's view of the benchmarked
    Block."""
    a = load_model(model)
    return replace(a, num_layers=1, num_mtp_layers=0, moe=replace(a.moe, layers=frozenset({0})))


def predict(gpu_id: str, tokens_per_seq: int, batch: int, context: int, with_overhead: bool = False,
            model: str = "deepseek-r1") -> float:  # fmt: skip
    """perf.py's time (s) for one step of the layer over batch x tokens_per_seq tokens at `context`."""
    a = one_layer_arch(model)
    prec = get_precision("bf16")
    lay = Layout(tp=1)
    gpu = get_gpu(gpu_id)
    eng = engine_perf("specsize")
    if not with_overhead:  # the roofline: datasheet bandwidth x HBM_EFFICIENCY, no engine cost
        eng = replace(eng, step_overhead=0.0, layer_overhead=0.0, moe_token_overhead=0.0, eager_penalty=0.0,
                      bw_efficiency=1.0)  # fmt: skip
    s = build_stack(a, prec, lay, "bf16")
    head_bytes, head_flops = a.vocab_size * a.hidden_size * 2, 2 * a.vocab_size * a.hidden_size
    s = replace(s, dense_bytes=s.dense_bytes - head_bytes, dense_flops=s.dense_flops - head_flops)  # no lm_head
    m = make_machine(gpu, lay, eng, prec)
    t = step_time(s, m, batch * tokens_per_seq, batch, context)
    return t.total - eng.step_overhead  # one layer of a step: the per-step cost belongs to the whole model


def prediction_rows(gpu_id: str, context: int, model: str = "deepseek-r1") -> list[dict]:
    return [{"batch": b, "tokens": n, "roofline_ms": predict(gpu_id, n, b, context, model=model) * 1e3,
             "with_overhead_ms": predict(gpu_id, n, b, context, with_overhead=True, model=model) * 1e3}
            for b in BATCHES for n in TOKENS]  # fmt: skip


def measure(context: int, repeats: int, model: str = "deepseek-r1", device: str = "cuda") -> tuple[str, list[dict]]:
    import time

    import torch

    from specsize.engine.cache import LatentCache
    from specsize.engine.model import Block
    from specsize.engine.rope import Rotary

    a = load_model(model)
    dev = torch.device(device)
    layer = min(a.moe.layers)  # the first MoE layer (R1: 3)
    with torch.device("meta"):
        block = Block(a, layer, interleave=True)
    block = block.to_empty(device=dev).to(torch.bfloat16)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0.0, 0.02)
        for mod in block.modules():
            if hasattr(mod, "weight") and mod.__class__.__name__ == "RMSNorm":
                mod.weight.fill_(1.0)
        block.mlp.gate.e_score_correction_bias.zero_()
    block.eval()
    m = a.mla
    rotary = Rotary(a.rope, m.qk_rope_head_dim, context + max(TOKENS) + 1, True).to(dev)
    rows = []
    for b in BATCHES:
        cache = LatentCache(b, context + max(TOKENS), m.kv_lora_rank, m.qk_rope_head_dim, torch.bfloat16, dev)
        cache.c.normal_(0.0, 1.0)
        cache.pe.normal_(0.0, 1.0)
        block.self_attn.cache = cache
        for n in TOKENS:
            x = torch.randn(b, n, a.hidden_size, device=dev, dtype=torch.bfloat16) * 0.1
            rope = rotary.tables(context, n, torch.bfloat16)
            times = []
            with torch.no_grad():
                for i in range(repeats + 3):
                    if dev.type == "cuda":
                        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        start.record()
                        block(x, rope, context)
                        end.record()
                        torch.cuda.synchronize()
                        ms = start.elapsed_time(end)
                    else:  # --device cpu: a smoke test of this path (tests/test_gpu_layer.py, tiny-r1)
                        t0 = time.perf_counter()
                        block(x, rope, context)
                        ms = (time.perf_counter() - t0) * 1e3
                    if i >= 3:
                        times.append(ms)
            rows.append({"batch": b, "tokens": n, "measured_ms": statistics.median(times)})
        del cache
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return (torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"), rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu", help="catalog GPU id for the prediction (default: matched from the device name)")
    ap.add_argument("--context", type=int, default=2048, help="cached tokens per sequence [2048]")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--predict-only", action="store_true", help="print the prediction only (no accelerator needed)")
    ap.add_argument("--model", default="deepseek-r1", help="a DeepSeek-V3-family model [deepseek-r1]")
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu only as a smoke test with a tiny model")
    args = ap.parse_args(argv)
    measured: list[dict] | None = None
    name = None
    if not args.predict_only:
        try:
            import torch
        except ImportError:
            print("gpu_layer: torch is not installed (pip install 'specsize[engine]'); nothing timed", file=sys.stderr)
            return 1
        if args.device == "cuda" and not torch.cuda.is_available():
            print("gpu_layer: no CUDA or ROCm accelerator here (torch.cuda.is_available() is False); nothing timed "
                  "(--predict-only --gpu ID prints the prediction alone)", file=sys.stderr)  # fmt: skip
            return 1
        name, measured = measure(args.context, args.repeats, args.model, args.device)
    gpu_id = args.gpu or (match_gpu(name) if name and name != "cpu" else None)
    if gpu_id is None:
        print(f"gpu_layer: {name or 'no device'} is not in the GPU catalog; give --gpu ID", file=sys.stderr)
        return 1
    pred = prediction_rows(gpu_id, args.context, args.model)
    print(f"{args.model} decoder layer (first MoE layer: MLA + routed experts + shared), BF16, context {args.context}, "
          f"prediction for {gpu_id}" + (f", measured on {name}" if name else ""))  # fmt: skip
    print(f"{'batch':>5} {'n':>3} {'roofline ms':>12} {'+eager ms':>10}" + (f" {'measured ms':>12} {'ratio':>6}"
                                                                             if measured else ""))  # fmt: skip
    for i, p in enumerate(pred):
        line = f"{p['batch']:>5} {p['tokens']:>3} {p['roofline_ms']:>12.3f} {p['with_overhead_ms']:>10.3f}"
        if measured:
            mm = measured[i]["measured_ms"]
            line += f" {mm:>12.3f} {mm / p['with_overhead_ms']:>6.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
