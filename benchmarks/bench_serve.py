"""Batched speculative decoding against concurrency: aggregate tokens/s of the batched engine (engine/batch.py,
what `specsize serve` runs) at concurrency C = 1, 2, 4, 8, 16 on the bundled tiny-r1 (MoE), plain and with
MTP and the draft model, each speedup next to the planner's round model (speculative.measured_speedup) fed with
step times measured at the same batch: T_C(n), one forward of C rows of n tokens each, and the per-round loop
overhead of the plain run at C. --model tiny-dense --methods draft measures the dense case: the bundled
Qwen2 tiny-dense drafted by tiny-r1-draft (the same tokenizer; scripts/build_tiny_dense.py).

The engine is driven directly (no HTTP: the server's own cost is not what the planner models); C slots, 2 C
requests of --max-tokens tokens each (EOS ignored, so every request has the same length; rows join as others
leave), greedy. Decode tok/s counts generated tokens over the time spent in rounds (prefills excluded);
e2e tok/s includes the prefills.

    python benchmarks/bench_serve.py [--concurrency 1 2 4 8 16] [--max-tokens 64] [--out benchmarks/results/serve]
    python benchmarks/bench_serve.py --model tiny-dense --methods draft --out benchmarks/results/serve_dense

The round model takes conditional acceptance rates (alpha_i = P(position i accepted | i-1 accepted),
speculative.expected_length); the counters give P(position i accepted), converted by scrape.conditional_rates.
`specsize plan MODEL --calibration serve.json` reads this file (calibration_batched.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from specsize.bench.prompts import default_prompts
from specsize.bench.scrape import conditional_rates
from specsize.engine.batch import BatchDraft, BatchEngine, BatchMTP, Sequence
from specsize.engine.cache import Rows
from specsize.engine.loader import find_model_dir
from specsize.engine.run import load_draft, load_target
from specsize.speculative import measured_speedup

K = {"mtp": 2, "draft": 4}  # assumption: the engine's defaults (engine/run.py DEFAULT_K)


@torch.inference_mode()
def batch_step_times(forward, b: int, ctx: int, n_max: int, device, repeats: int = 9) -> list[float]:
    """T_b(n), n = 1..n_max: the median time of one step of b rows x n tokens at context ctx."""
    rows = Rows.of(list(range(b)), [ctx] * b, device)
    out = []
    for n in range(1, n_max + 1):
        forward(rows, n)  # warm-up
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            forward(rows, n)
            ts.append(time.perf_counter() - t0)
        out.append(statistics.median(ts))
    return out


def target_step(model, tokens: list[list[int]]):
    """One step over row b's first n of tokens[b]: real text from different prompts, so the MoE of a batch
    routes its rows to different experts, as in the runs."""
    ids = torch.tensor(tokens, device=model.model.embed_tokens.weight.device)  # [rows, n_max + 1]

    def f(rows: Rows, n: int) -> None:
        model(ids[: len(rows.slots), :n], start=rows)

    return f


def mtp_step(model, tokens: list[list[int]]):
    device = model.model.embed_tokens.weight.device
    ids = torch.tensor(tokens, device=device)
    model.setup_cache(len(tokens), ids.shape[1])
    _, hidden = model(ids, start=0, return_hidden=True)  # the target's real states for these tokens

    def f(rows: Rows, n: int) -> None:  # as batch.BatchMTP runs it: MLP and head on each row's last position
        b = len(rows.slots)
        at = torch.full((b,), n - 1, device=device) if n > 1 else None
        model.mtp_forward(hidden[:b, :n], ids[:b, 1 : n + 1], start=rows, at=at)

    return f


@torch.inference_mode()
def run(engine: BatchEngine, prompts: list[list[int]], max_tokens: int) -> dict:
    """Decode every prompt (EOS ignored); the time in add() (prefill) and in step() (rounds) kept apart."""
    waiting = [Sequence(p, max_tokens) for p in prompts]
    seqs = list(waiting)
    prefill = decode = 0.0
    rounds = 0
    while waiting or engine.active:
        t0 = time.perf_counter()
        while waiting and engine.free_slots:
            engine.add(waiting.pop(0))
        t1 = time.perf_counter()
        engine.step()
        t2 = time.perf_counter()
        prefill, decode, rounds = prefill + t1 - t0, decode + t2 - t1, rounds + 1
    tokens = sum(len(s.out) for s in seqs)
    drafts = sum(s.stats.num_drafts for s in seqs)
    per_pos = [0] * max((len(s.stats.num_accepted_tokens_per_pos) for s in seqs), default=0)
    for s in seqs:
        for i, n in enumerate(s.stats.num_accepted_tokens_per_pos):
            per_pos[i] += n
    return {"tokens": tokens, "decode_s": decode, "prefill_s": prefill, "rounds": rounds,
            "decode_tokens_per_s": tokens / decode, "e2e_tokens_per_s": tokens / (decode + prefill),
            "num_drafts": drafts, "num_accepted_tokens_per_pos": per_pos,
            "alphas": [n / drafts for n in per_pos] if drafts else [],  # P(position i accepted), unconditional
            "conditional_acceptance": conditional_rates(per_pos, drafts) if drafts else [],
            "mean_acceptance_length": 1 + sum(per_pos) / drafts if drafts else 1.0}  # fmt: skip


def median_run(runs: list[dict]) -> dict:
    """The run of median decode tok/s (its acceptance and times kept together)."""
    return sorted(runs, key=lambda r: r["decode_tokens_per_s"])[len(runs) // 2]


def median_curve(curves: list[list[float]]) -> list[float]:
    return [statistics.median(ts) for ts in zip(*curves, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--model", default="tiny-r1", help="Target (bundled name or directory).")
    ap.add_argument("--draft", default="tiny-r1-draft", help="Draft model for the draft method (same tokenizer).")
    ap.add_argument("--methods", nargs="+", default=["mtp", "draft"], help="mtp needs a target with an MTP head.")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--passes", type=int, default=3, help="Runs of every configuration (medians reported).")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: on a shared machine, more threads than free cores spin and stall)",
    )
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    load_before = os.getloadavg()[0]
    target, tok = load_target(find_model_dir(a.model))
    draft = load_draft(a.draft, target, tok) if "draft" in a.methods else None
    texts = [p.text for p in default_prompts(2 * max(a.concurrency))]
    prompts = [tok.encode(tok.apply_chat_template([{"role": "user", "content": t}]), add_special=False)
               for t in texts]  # fmt: skip
    ctx = int(statistics.mean(len(p) for p in prompts) + a.max_tokens / 2)  # the runs' mean context
    max_len = max(len(p) for p in prompts) + a.max_tokens + max(K.values()) + 2
    n_max = max(K.values()) + 1
    # the tokens the timed steps read, one row per request: the start of its own greedy answer, so a timed step
    # routes through the MoE as a decoding round does (consecutive generated tokens share experts more often
    # than unrelated text does)
    first = BatchEngine(target, None, 0, slots=len(prompts), max_len=max_len).run(
        [Sequence(p, n_max + 1) for p in prompts]
    )
    sample = [s.out for s in first]
    device, vocab = target.model.embed_tokens.weight.device, target.arch.vocab_size
    configs = ("plain", *a.methods)
    runs = {(c, m): [] for c in a.concurrency for m in configs}
    curves = {(c, m): [] for c in a.concurrency for m in configs}
    for _ in range(a.passes):  # every (concurrency, method) once per pass: drift shifts them all alike
        for c in a.concurrency:
            ps = prompts[: 2 * c]
            for m in configs:
                drafter = None if m == "plain" else BatchMTP(target) if m == "mtp" else BatchDraft(draft, vocab)
                engine = BatchEngine(target, drafter, K.get(m, 0), slots=c, max_len=max_len)
                runs[c, m].append(run(engine, ps, a.max_tokens))
                if m == "mtp":
                    step = mtp_step(target, sample)
                    target.setup_cache(c, max_len)
                elif m == "draft":
                    step = target_step(draft, sample)
                    draft.setup_cache(c, max_len)
                else:
                    step = target_step(target, sample)
                    target.setup_cache(c, max_len)
                curves[c, m].append(batch_step_times(step, c, ctx, n_max, device))
    rows = []
    for c in a.concurrency:
        plain, t = median_run(runs[c, "plain"]), median_curve(curves[c, "plain"])
        overhead = max(plain["decode_s"] / plain["rounds"] - t[0], 0.0)
        row = {"concurrency": c, "plain": plain, "T": t, "overhead_s": overhead, "methods": {}}
        for m in a.methods:
            res, td = median_run(runs[c, m]), median_curve(curves[c, m])
            res.update(k=K[m], T_draft=td, speedup=res["decode_tokens_per_s"] / plain["decode_tokens_per_s"],
                       predicted=measured_speedup(m, K[m], res["conditional_acceptance"], t, td, overhead))  # fmt: skip
            row["methods"][m] = res
        rows.append(row)
    report = {"model": a.model, "draft": a.draft if "draft" in a.methods else None, "max_tokens": a.max_tokens,
              "context": ctx, "passes": a.passes,
              "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "torch": torch.__version__, "cores": os.cpu_count(),
                          "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)]},
              "rows": rows}  # fmt: skip
    md = markdown(report)
    print(md)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "serve.json").write_text(json.dumps(report, indent=1))
        (a.out / "serve.md").write_text(md)


def markdown(r: dict) -> str:
    m = r["machine"]
    base = r["rows"][0]["plain"]["decode_tokens_per_s"]
    lines = [
        f"`{r['model']}`"
        + (f" (draft `{r['draft']}`)" if r["draft"] else "")
        + f", batched engine, greedy, {r['max_tokens']} tokens per request, "
        f"2 C requests on C slots, median of {r['passes']} interleaved passes, fp32, eager; "
        f"{m['cpu']} ({m['threads']} threads), torch {m['torch']}; a machine of {m['cores']} cores shared with "
        f"other jobs: load average {m['load_average_1min'][0]} at the start, {m['load_average_1min'][1]} at the end.",
        "",
        "| C | plain tok/s | plain vs C=1 | T_C(1) ms | T_C(k+1)/T_C(1) "
        + ", ".join(r["rows"][0]["methods"])
        + " | "
        + " | ".join(f"{x} tok/s | {x} speedup | {x} predicted | {x} mean acc. length" for x in r["rows"][0]["methods"])
        + " |",
        "|---:|---:|---:|---:|---|" + "---:|---:|---:|---:|" * len(r["rows"][0]["methods"]),
    ]
    for row in r["rows"]:
        p, t = row["plain"], row["T"]
        ratios = ", ".join(f"{t[res['k']] / t[0]:.2f}" for res in row["methods"].values())
        cells = [f"{row['concurrency']}", f"{p['decode_tokens_per_s']:,.0f}", f"{p['decode_tokens_per_s'] / base:.2f}x",
                 f"{t[0] * 1e3:.1f}", ratios]  # fmt: skip
        for res in row["methods"].values():
            cells += [f"{res['decode_tokens_per_s']:,.0f}", f"{res['speedup']:.2f}x", f"{res['predicted']:.2f}x",
                      f"{res['mean_acceptance_length']:.2f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
