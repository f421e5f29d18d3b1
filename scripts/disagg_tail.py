"""The disaggregated points that set the p90 of `specsize validate --measured`, sorted by what their own figures
say went wrong (no fit, no constant: a reading of the corpus beside the model's prediction).

A point is in the tail when its tok/s per GPU or per user is more than --over (30%) off. Each is put in the first
class its figures match:

- outside-batch: the decode batch its own figures imply (measured.measured_decode_seqs: output tok/s x TPOT per
  decode instance, Little's law) is under 0.7x the model's, so users waited outside the decode batch (a saturated
  prefill pool, or a batch cap the point does not record) where the model decodes them;
- inside-batch: the reverse (over 1.3x): the model keeps users waiting (prefill pool or KV) that decoded;
- prefill-rate: the prefill pool's prompt tokens/s per GPU (input_tok_s_per_gpu) is off by more than 25% and the
  prefill side limits one of the two (the model's, or the point's own TTFT over 5 s);
- decode-step: the batch agrees (0.7-1.3x) but TPOT does not: the step model at that batch;
- other.

    python scripts/disagg_tail.py              # counts per class and engine, then every tail point
    python scripts/disagg_tail.py --over 0.25 --mode agg
"""

from __future__ import annotations

import argparse
import collections

from specsize.measured import BUNDLED_MEASURED, load_points, run_points


def _err(r: dict, metric: str) -> float | None:
    return r["metrics"].get(metric, {}).get("error")


def classify(r: dict) -> str:
    """The first class (module docstring) whose signature a predicted row matches."""
    got, model = r.get("decode_seqs_measured"), r.get("decode_seqs")
    if got is not None and model:
        if got < 0.7 * model:
            return "outside-batch"
        if got > 1.3 * model:
            return "inside-batch"
    ttft = r["metrics"].get("ttft_ms", {}).get("measured") or 0.0
    inp = _err(r, "input_tok_s_per_gpu")
    if inp is not None and abs(inp) > 0.25 and (r["prefill_bound"] or ttft > 5000):
        return "prefill-rate"
    if got is not None:
        return "decode-step"
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--over", type=float, default=0.30, help="|error| that puts a point in the tail (0.30)")
    ap.add_argument("--mode", choices=("agg", "disagg"), default="disagg")
    args = ap.parse_args()
    rows = [r for r in run_points(load_points(BUNDLED_MEASURED)) if not r["reason"] and r["mode"] == args.mode]
    tail = []
    for r in rows:
        g, u = _err(r, "output_tok_s_per_gpu"), _err(r, "output_tok_s_per_user")
        if any(e is not None and abs(e) > args.over for e in (g, u)):
            tail.append((classify(r), r, g, u))
    for metric in ("output_tok_s_per_gpu", "output_tok_s_per_user"):
        n = sum(1 for r in rows if _err(r, metric) is not None)
        big = sum(1 for _c, r, *_ in tail if (e := _err(r, metric)) is not None and abs(e) > args.over)
        print(f"{metric}: {big} of {n} points over {args.over:.0%} (a p90 under it allows {n // 10})")
    counts = collections.Counter((c, r["engine"]) for c, r, *_ in tail)
    for (c, e), k in sorted(counts.items()):
        print(f"  {c:14} {e:7} {k}")
    print()
    for c, r, g, u in sorted(tail, key=lambda t: (t[0], t[1]["engine"], t[1]["gpu"], t[1]["concurrency"])):
        fmt = lambda e: "  n/a" if e is None else f"{e:+5.0%}"  # noqa: E731
        got = r.get("decode_seqs_measured")
        ttft = r["metrics"]["ttft_ms"]
        print(f"{c:14} {r['engine']:6} {r['gpu']:8} {r['weights']:5} {r['spec']:4} {r['isl']}/{r['osl']} "
              f"c{r['concurrency']:<5} GPU {fmt(g)} user {fmt(u)} batch model {r['decode_seqs']:7.0f} "
              f"measured {'n/a' if got is None else f'{got:7.0f}'} TTFT {ttft['measured']:8.0f} ms "
              f"(model {ttft['predicted']:8.0f}) {r['id']}")  # fmt: skip


if __name__ == "__main__":
    main()
