"""What inductor's CPU options do to the compiled round's parts on tiny-r1 (the issue-20 levers): T(n), the
target's verification round over n tokens (rounds.verify, the loop's graph, with its host read), a draft model's
round of k unrolled steps (DraftModelProposer.propose, the loop's call) and an MTP round, each compiled with one
set of inductor options, in its own process (inductor's configuration is global), warm.

Times are the calling thread's CPU time (time.thread_time; torch on --threads threads: with 1 the arithmetic
runs in the calling thread, so CPU time moves much less than wall time on a shared machine), medians of
--repeats calls, interleaved over the parts (--blocked: each part's calls back to back, as a generation repeats
one k); wall-clock medians are printed next to them. Interleaved, every call follows a call of another graph of
the same function (dynamo tries the other's guards first) or of the other model: 0.6-0.8 ms more per call here.

    python benchmarks/bench_compile_options.py [--options default,freezing,...] [--repeats 200] [--threads 1]

Option sets (--options, comma separated; each is a dict of torch._inductor.config keys, see OPTION_SETS):
default (what engine/compile.py sets), freezing, autotune (max_autotune with the CPP GEMM template), and
freezing+autotune.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

OPTION_SETS = {
    "default": {},
    "freezing": {"freezing": True},
    "autotune": {"max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"},
    "freezing+autotune": {"freezing": True, "max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"},
}
NS = (1, 2, 5, 8, 9)  # verification sizes: plain (1), k + 1 for k = 1, 4, 7, 8
KS = (1, 7)  # draft round sizes


def measure(name: str, repeats: int, threads: int, blocked: bool) -> dict:
    import torch

    from specsize.engine import rounds
    from specsize.engine.compile import compile_steps
    from specsize.engine.loader import find_model_dir, load_model
    from specsize.engine.proposers import DraftModelProposer, MTPProposer
    from specsize.engine.run import load_draft
    from specsize.engine.sampling import GREEDY
    from specsize.engine.tokenizer import Tokenizer

    torch.set_num_threads(threads)
    for key, value in OPTION_SETS[name].items():
        setattr(torch._inductor.config, key, value)
    root = find_model_dir("tiny-r1")
    target = load_model(root).model.fuse()
    tok = Tokenizer.from_dir(root)
    draft = load_draft("tiny-r1-draft", target, tok)
    t0 = time.perf_counter()
    compile_steps(target)
    compile_steps(draft)
    ctx = tok.encode("The quick brown fox jumps over the lazy dog. " * 6, add_special=False)[:200]
    parts = {}
    with torch.inference_mode():
        target.setup_cache(1, len(ctx) + 64)
        logits, hidden = target(torch.tensor([ctx]), start=0, return_hidden=True)
        tokens = [*ctx, int(logits[0, -1].argmax())]
        pos, last = len(ctx), torch.tensor(tokens[-1:])
        filler = torch.tensor((ctx * 16)[:16])
        for n in NS:
            drafts = filler[: n - 1] if n > 1 else None
            parts[f"T({n})"] = lambda d=drafts: rounds.verify(target, last, d, pos, None, GREEDY, None)[0].tolist()
        for k in KS:
            prop = DraftModelProposer(draft, target.arch.vocab_size, GREEDY, len(tokens) + 64)
            prop.begin(ctx, None)
            prop.propose(tokens, k)  # the draft's prefill
            parts[f"D({k})"] = lambda p=prop, k=k: p.propose(tokens, k).token_ids.tolist()
        mtp = MTPProposer(target, GREEDY)
        p = len(tokens) - 1

        def mtp_round() -> None:
            mtp.pending, mtp.mtp_pos, mtp.prev = hidden[:, p - 2 : p], p - 2, hidden[:, p - 3 : p - 2]
            mtp.propose(tokens, 1).token_ids.tolist()

        mtp_round()  # MTP's catch-up over the context is eager at start 0; the timed one is a block of 2
        parts["MTP(1)"] = mtp_round
        for fn in parts.values():  # warm-up (compiles here)
            for _ in range(3):
                fn()
        compile_s = time.perf_counter() - t0
        cpu = {key: [] for key in parts}
        wall = {key: [] for key in parts}
        order = [(key, fn) for _ in range(repeats) for key, fn in parts.items()]
        if blocked:  # each part's calls back to back (as a generation repeats one k), not interleaved
            order = [(key, fn) for key, fn in parts.items() for _ in range(repeats)]
        for key, fn in order:
            w0, c0 = time.perf_counter(), time.thread_time()
            fn()
            cpu[key].append(time.thread_time() - c0)
            wall[key].append(time.perf_counter() - w0)
    med = {key: statistics.median(v) * 1e3 for key, v in cpu.items()}
    medw = {key: statistics.median(v) * 1e3 for key, v in wall.items()}
    return {"options": name, "compile_s": compile_s, "cpu_ms": med, "wall_ms": medw}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--options", default=",".join(OPTION_SETS))
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blocked", action="store_true", help="time each part's calls back to back")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.repeats, args.threads, args.blocked)))
        return
    print(f"tiny-r1 / tiny-r1-draft compiled, greedy; ms per call, medians of {args.repeats} (CPU time of the "
          f"calling thread; wall in brackets), {args.threads} thread(s); load average {os.getloadavg()[0]:.1f} at "
          "the start (the machine may be shared)")  # fmt: skip
    for i, name in enumerate(args.options.split(",")):
        cmd = [sys.executable, __file__, "--child", name, "--repeats", str(args.repeats), "--threads",
               str(args.threads)] + (["--blocked"] if args.blocked else [])  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1]} |", flush=True)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        c, w = r["cpu_ms"], r["wall_ms"]
        if i == 0:
            print("| options | compile s | " + " | ".join(c) + " | T(8)/T(1) | (D(7)-D(1))/6 |")
            print("|---|---:|" + "---:|" * (len(c) + 2))
        cells = " | ".join(f"{c[k]:.3f} ({w[k]:.3f})" for k in c)
        step = (c["D(7)"] - c["D(1)"]) / 6
        print(f"| {name} | {r['compile_s']:.0f} | {cells} | {c['T(8)'] / c['T(1)']:.2f} | {step:.3f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
