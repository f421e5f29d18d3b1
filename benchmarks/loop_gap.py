"""Where the generation loop spends the time its timed parts do not (issue 20): in one process, compiled tiny-r1
and tiny-r1-draft, greedy,
(a) the real loop (engine.generate), each round cut into its parts by timestamps taken around the drafter's
    propose() and the verification call: draft, the host work between them, verification, and the host work
    after it up to the next round (the host read, bookkeeping, the drafter's accepted());
(b) the same two calls replayed in the loop's order with the loop's own inputs (the recorded committed tokens,
    positions, drafts), nothing else in between;
(c) the same calls blocked: every recorded draft call back to back, then every verification;
(d) one round's inputs (the middle one's) in the loop's order, as many times (the bench's StepTimer's way before
    issue 20's fourth pass, when the bench started replaying (b)).
--probe instead times the round's two calls at a fixed context (the bench's former way) in three states of
the CPU's caches: back to back (each call after itself), after the other call (the loop's order), and after
writing a --flush-mb buffer (every cache cold); and what dynamo's guards cost per call (each cache entry's guard
check timed alone, torch._dynamo's debug API), and a call with `skip_guard_eval_unsafe` next to one without.
Times are the calling thread's CPU time (time.thread_time) and wall time, per round, summed over the rounds of
--prompts prompts (the first round of each excluded: it held the draft's eager prefill before begin() took it), medians
over --repeats passes. Each pass runs (a), (b), (c) in turn, so a shared machine moves them alike. MTP runs
its two-call round here (MTPProposer(fused=False)); the bench's replay times the fused one-call round.

    python benchmarks/loop_gap.py [--configs draft:7,mtp:1,none:0] [--prompts 4] [--repeats 5] [--threads 1]
    python benchmarks/loop_gap.py --probe [--k 7] [--flush-mb 64] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time

import torch

from specsize.bench import runner
from specsize.bench.prompts import default_prompts
from specsize.bench.runner import graphs_compiled
from specsize.engine import generate as gen_mod
from specsize.engine.generate import generate
from specsize.engine.proposers import MTPProposer
from specsize.engine.run import load_compiled_pair
from specsize.engine.sampling import GREEDY

MAX_NEW = 128


def proposer_for(method, target, draft, cache_len):
    """The bench's drafters, MTP's in its two-call round (MTPProposer(fused=False)): this script times a round's
    drafter call and verification call apart (the fused round is one call; bench.runner.replay_rounds times it)."""
    if method == "mtp":
        return MTPProposer(target, GREEDY, fused=False)
    return runner.proposer_for(method, target, draft, cache_len)


def clocks() -> tuple[float, float]:
    return time.thread_time(), time.perf_counter()


class Recorder:
    """Wraps a proposer's propose() and the loop's verify() (generate.verify) to stamp each round's parts."""

    def __init__(self):
        self.rounds: list[dict] = []

    def proposer(self, prop):
        if prop is None:
            return None
        inner = prop.propose

        def propose(tokens, k):
            r = {"p0": clocks(), "n": len(tokens), "k": k, "cached": getattr(prop, "cached", None)}
            if hasattr(prop, "pending"):
                r["mtp"] = (prop.pending, prop.mtp_pos, prop.prev)
            out = inner(tokens, k)
            r["p1"] = clocks()
            self.rounds.append(r)
            return out

        prop.propose = propose
        return prop

    def verify(self, target, last, drafts, pos, draft_probs, params, noise):
        if not self.rounds or "v0" in self.rounds[-1]:  # plain decoding: no propose() stamps the round
            t = clocks()
            self.rounds.append({"p0": t, "p1": t, "n": pos + 1, "k": 0})
        r = self.rounds[-1]
        r["v0"] = clocks()
        r["args"] = (last, drafts, pos)
        out = self.real(target, last, drafts, pos, draft_probs, params, noise)
        r["v1"] = clocks()
        return out


def loop_pass(target, draft, prompts, method, k, eos):
    """(a): the real loop; returns per-round part times [cpu, wall] and the replay inputs."""
    rec = Recorder()
    rec.real = gen_mod.verify
    gen_mod.verify = rec.verify
    per_prompt = []
    try:
        for ids in prompts:
            rec.rounds = []
            prop = rec.proposer(proposer_for(method, target, draft, len(ids) + MAX_NEW + k + 2))
            g = generate(target, ids, MAX_NEW, GREEDY, prop, k, eos)
            per_prompt.append((ids, g.token_ids, rec.rounds, g.stats))
    finally:
        gen_mod.verify = rec.real
    parts = {key: [0.0, 0.0] for key in ("draft", "between", "verify", "after", "round")}
    n_rounds = 0
    for _, _, rounds, _ in per_prompt:
        for a, b in itertools.pairwise(rounds[1:]):  # round 0 (see the docstring) and the last: out
            for c in range(2):
                parts["draft"][c] += a["p1"][c] - a["p0"][c]
                parts["between"][c] += a["v0"][c] - a["p1"][c]
                parts["verify"][c] += a["v1"][c] - a["v0"][c]
                parts["after"][c] += b["p0"][c] - a["v1"][c]
                parts["round"][c] += b["p0"][c] - a["p0"][c]
            n_rounds += 1
    out = {key: [v / n_rounds * 1e3 for v in val] for key, val in parts.items()}
    # what the bench's tokens/s counts (stats.decode_time: every round's draft + verify, the first round's included)
    # against the middle rounds above: the first round and the last one
    total = sum(st.decode_time for *_, st in per_prompt)
    first = sum(r[0]["p1"][0] - r[0]["p0"][0] for _, _, r, _ in per_prompt)  # CPU time
    out["decode_ms_per_prompt"] = [total / len(per_prompt) * 1e3] * 2
    out["first_draft_ms_per_prompt"] = [first / len(per_prompt) * 1e3] * 2
    out["rounds_per_prompt"] = [sum(st.num_rounds for *_, st in per_prompt) / len(per_prompt)] * 2
    out["tokens_per_prompt"] = [sum(len(o) for _, o, _, _ in per_prompt) / len(per_prompt)] * 2
    return out, per_prompt, n_rounds


def replay_pass(target, draft, per_prompt, method, k, blocked):
    """(b), (c) or (d): the loop's two calls with the loop's inputs, in the loop's order (blocked False), blocked
    (True), or one round's inputs in the loop's order ("fixed")."""
    from specsize.engine.rounds import verify

    d_t, v_t, n_rounds = [0.0, 0.0], [0.0, 0.0], 0
    with torch.inference_mode():
        for ids, out, rounds, _ in per_prompt:
            tokens = [*ids, *out]
            prop = proposer_for(method, target, draft, len(ids) + MAX_NEW + k + 2)
            target.setup_cache(1, len(ids) + MAX_NEW + k + 2)
            if prop is not None:
                prop.begin(ids, None)
            calls = []
            for r in rounds[1:-1]:
                last, drafts, pos = r["args"]

                def dcall(r=r, prop=prop, tokens=tokens):
                    if method == "draft":
                        prop.cached, prop.fed, prop.k = r["cached"], 0, 0
                    elif method == "mtp":
                        prop.pending, prop.mtp_pos, prop.prev = r["mtp"]
                    return prop.propose(tokens[: r["n"]], r["k"]).token_ids if prop is not None else None

                def vcall(last=last, pos=pos, d=drafts):
                    return verify(target, last, d, pos, None, GREEDY, None)[0].tolist()

                calls.append((dcall, vcall))
            if prop is not None and method == "draft":  # round 0's draft call, untimed, as the loop ran it
                prop.propose(tokens[: rounds[0]["n"]], rounds[0]["k"])
            if blocked == "fixed" and calls:  # the bench's way: one round's inputs (the middle one) again and again
                calls = [calls[len(calls) // 2]] * len(calls)
            order = [(0, dc) for dc, _ in calls] + [(1, vc) for _, vc in calls] if blocked is True else \
                [(i, c) for pair in calls for i, c in enumerate(pair)]  # fmt: skip
            for i, fn in order:
                c0, w0 = clocks()
                fn()
                c1, w1 = clocks()
                acc = d_t if i == 0 else v_t
                acc[0] += c1 - c0
                acc[1] += w1 - w0
            n_rounds += len(calls)
    return {"draft": [x / n_rounds * 1e3 for x in d_t], "verify": [x / n_rounds * 1e3 for x in v_t]}


def probe(target, draft, tok, k: int, flush_mb: int, repeats: int) -> None:
    """--probe: the round's two calls (the bench's way, at a fixed context) back to back, after each other, after
    a cache flush; guard checks per call."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    from specsize.engine import rounds
    from specsize.engine.proposers import DraftModelProposer

    ctx = tok.encode("The quick brown fox jumps over the lazy dog. " * 6, add_special=False)[:200]
    flush = torch.zeros(flush_mb * 2**18)
    with torch.inference_mode():
        target.setup_cache(1, len(ctx) + 64)
        logits, _ = target(torch.tensor([ctx]), start=0, return_hidden=True)
        tokens = [*ctx, int(logits[0, -1].argmax())]
        pos, last = len(ctx), torch.tensor(tokens[-1:])
        drafts = torch.tensor((ctx * 16)[:k])
        prop = DraftModelProposer(draft, target.arch.vocab_size, GREEDY, len(tokens) + 64)
        prop.begin(ctx, None)
        calls = {
            f"D({k})": lambda: prop.propose(tokens, k).token_ids.tolist(),
            f"V({k + 1})": lambda: rounds.verify(target, last, drafts, pos, None, GREEDY, None)[0].tolist(),
            "T(1)": lambda: rounds.verify(target, last, None, pos, None, GREEDY, None)[0].tolist(),
            f"flush {flush_mb} MB": lambda: flush.add_(1.0),
        }
        for fn in calls.values():
            for _ in range(3):
                fn()
        d, v, t1, fl = calls
        cases = [(d, None), (d, v), (d, fl), (v, None), (v, d), (v, fl), (t1, None), (t1, v)]
        times: dict = {c: [] for c in cases}
        for _ in range(repeats):  # interleaved blocks of 20 calls per case: drift moves every case alike
            for timed, before in cases:
                for _ in range(20):
                    if before:
                        calls[before]()
                    c0 = time.thread_time()
                    calls[timed]()
                    times[(timed, before)].append(time.thread_time() - c0)
        print("ms per call, CPU time of the thread, medians:")
        for (timed, before), ts in times.items():
            print(f"  {timed} {'back to back' if before is None else 'after ' + before}: "
                  f"{statistics.median(ts) * 1e3:.3f}")  # fmt: skip
        skip = {False: [], True: []}
        for _ in range(repeats * 4):
            for s in (False, True):
                torch.compiler.set_stance("default", skip_guard_eval_unsafe=s)
                for _ in range(20):
                    c0 = time.thread_time()
                    calls["T(1)"]()
                    skip[s].append(time.thread_time() - c0)
        torch.compiler.set_stance("default")
        print(f"  T(1) back to back, guards evaluated: {statistics.median(skip[False]) * 1e3:.3f}; with "
              f"skip_guard_eval_unsafe: {statistics.median(skip[True]) * 1e3:.3f}")  # fmt: skip
        block = torch.tensor([tokens[-2:]])
        checks = ((rounds.verify_round, dict(model=target, last=last, drafts=drafts, start=pos, draft_probs=None,
                                             params=GREEDY, noise=None)),
                  (rounds.verify_round, dict(model=target, last=last, drafts=None, start=pos, draft_probs=None,
                                             params=GREEDY, noise=None)),
                  (rounds.draft_round, dict(model=draft, block=block, start=pos - 1, k=k, params=GREEDY, noise=None,
                                            shared=prop.shared, vocab=prop.vocab)))  # fmt: skip
        print("guard checks (us per check, the cache entries in dynamo's order; True: the entry that runs):")
        for fn, local in checks:
            cells = []
            for e in _debug_get_cache_entry_list(fn.__code__):
                ok = e.guard_manager.check(local)
                ts = []
                for _ in range(1000):
                    t0 = time.perf_counter()
                    e.guard_manager.check(local)
                    ts.append(time.perf_counter() - t0)
                cells.append(f"{ok} {statistics.median(ts) * 1e6:.1f}")
            print(f"  {fn.__name__} ({'drafts' if local.get('drafts') is not None else 'k=' + str(local.get('k', 0))}"
                  f"): {', '.join(cells)}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="draft:7,mtp:1,none:0")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--probe", action="store_true", help="time the round's calls in three cache states")
    ap.add_argument("--k", type=int, default=7)
    ap.add_argument("--flush-mb", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    target, tok, draft = load_compiled_pair("tiny-r1", "tiny-r1-draft")
    if args.probe:
        print(f"loop_gap --probe: tiny-r1 / tiny-r1-draft compiled, greedy, {args.threads} thread(s); load average "
              f"{os.getloadavg()[0]:.1f} at the start (the machine may be shared)")  # fmt: skip
        probe(target, draft, tok, args.k, args.flush_mb, args.repeats)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        return
    prompts = [tok.encode(tok.apply_chat_template([{"role": "user", "content": p.text}]), add_special=False)
               for p in default_prompts(args.prompts)]  # fmt: skip
    eos = tok.eos_token_ids
    configs = [(m, int(k)) for m, k in (c.split(":") for c in args.configs.split(","))]
    t0 = time.perf_counter()
    for m, k in configs:  # warm-up: compiles the loop's graphs, and the replay's
        _, pp, _ = loop_pass(target, draft, prompts, m, k, eos)
        replay_pass(target, draft, pp, m, k, False)
        replay_pass(target, draft, pp, m, k, True)
        replay_pass(target, draft, pp, m, k, "fixed")
    print(f"loop_gap: tiny-r1 compiled, greedy, {args.prompts} prompts x {MAX_NEW} new tokens, {args.threads} "
          f"thread(s), warm-up {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.1f} at the "
          "start (the machine may be shared)")  # fmt: skip
    res = {c: {"a": [], "b": [], "c": [], "d": []} for c in configs}
    g0 = graphs_compiled()
    for _ in range(args.repeats):
        for m, k in configs:
            a, pp, n = loop_pass(target, draft, prompts, m, k, eos)
            res[(m, k)]["a"].append(a)
            res[(m, k)]["b"].append(replay_pass(target, draft, pp, m, k, False))
            res[(m, k)]["c"].append(replay_pass(target, draft, pp, m, k, True))
            res[(m, k)]["d"].append(replay_pass(target, draft, pp, m, k, "fixed"))
            res[(m, k)]["rounds"] = n
    print(f"graphs compiled while timed: {graphs_compiled() - g0}")
    print("ms per round, CPU time of the thread (wall); medians over passes")
    print("| config | rounds | (a) loop round | (a) draft | (a) between | (a) verify | (a) after | (b) draft | "
          "(b) verify | (b) sum | (c) draft | (c) verify | (c) sum | (d) draft | (d) verify | (d) sum |")  # fmt: skip
    print("|---|---:|" + "---:|" * 14)

    def med(rows, key, c):
        return statistics.median(r[key][c] for r in rows)

    for (m, k), r in res.items():
        cells = []
        for part, keys in (("a", ("round", "draft", "between", "verify", "after")), ("b", ("draft", "verify")),
                           ("c", ("draft", "verify")), ("d", ("draft", "verify"))):  # fmt: skip
            for key in keys:
                cells.append(f"{med(r[part], key, 0):.3f} ({med(r[part], key, 1):.3f})")
            if part != "a":
                s = [x["draft"][c] + x["verify"][c] for x in r[part] for c in (0,)]
                sw = [x["draft"][1] + x["verify"][1] for x in r[part]]
                cells.append(f"{statistics.median(s):.3f} ({statistics.median(sw):.3f})")
        print(f"| {m} k={k} | {r['rounds']} | " + " | ".join(cells) + " |")
    print(
        "per prompt (medians over passes): tokens, rounds, the loop's decode time (wall, what tok/s divides by), the "
        "first round's drafter call (CPU; before issue 20's third pass it held the drafter's pass over the prompt)"
    )
    for (m, k), r in res.items():
        a = r["a"]
        print(f"  {m} k={k}: {med(a, 'tokens_per_prompt', 0):.1f} tokens, {med(a, 'rounds_per_prompt', 0):.1f} rounds, "
              f"decode {med(a, 'decode_ms_per_prompt', 0):.2f} ms, first draft call "
              f"{med(a, 'first_draft_ms_per_prompt', 0):.2f} ms")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
