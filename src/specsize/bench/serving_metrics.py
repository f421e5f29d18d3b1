"""The serving metrics of one load level, from its timed requests, as vLLM's benchmark_serving.py defines them
(calculate_metrics; SGLang's bench_serving.py computes the same):

- TPOT of a request = (E2EL - TTFT) / (output_tokens - 1), for requests with more than one output token;
- ITL: every gap between text chunks of every successful request, pooled;
- output tok/s = successful requests' output tokens / level duration; total tok/s adds their prompt tokens;
- goodput = requests/s that met every SLO given (TTFT <= slo_ttft, TPOT <= slo_tpot; a request of one output
  token has TPOT 0 for this test, as vLLM counts it);
- percentiles interpolate linearly between order statistics (numpy.percentile's default);
- per user = 1000 / median TPOT (the measured-point format's definition); per GPU = / the deployment's GPUs.

Failed requests are counted, their errors tallied; they add no tokens and no latencies.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from specsize.bench.endpoint import RequestResult


def percentile(xs: list[float], p: float) -> float:
    """numpy.percentile(xs, p) with its default linear interpolation: rank h = (n - 1) p / 100."""
    if not xs:
        return math.nan
    s = sorted(xs)
    h = (len(s) - 1) * p / 100
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


def tpot(r: RequestResult) -> float | None:
    """(E2EL - TTFT) / (output_tokens - 1) in seconds; None for a request of fewer than two output tokens."""
    if r.output_tokens <= 1:
        return None
    return (r.e2el - r.ttft) / (r.output_tokens - 1)


def summary_ms(xs_s: list[float]) -> dict[str, float | None]:
    """median, mean, p99 of seconds, in milliseconds (None when there is nothing to summarise)."""
    if not xs_s:
        return {"median": None, "mean": None, "p99": None}
    return {"median": percentile(xs_s, 50) * 1e3, "mean": statistics.fmean(xs_s) * 1e3,
            "p99": percentile(xs_s, 99) * 1e3}  # fmt: skip


@dataclass(frozen=True)
class SLO:
    ttft_ms: float | None = None
    tpot_ms: float | None = None

    def met(self, r: RequestResult) -> bool:
        t = tpot(r) or 0.0
        return (self.ttft_ms is None or r.ttft * 1e3 <= self.ttft_ms) and (
            self.tpot_ms is None or t * 1e3 <= self.tpot_ms
        )

    @property
    def given(self) -> bool:
        return self.ttft_ms is not None or self.tpot_ms is not None


def level_metrics(results: list[RequestResult], duration_s: float, gpus: int, slo: SLO = SLO(),
                  expected_input_tokens: int = 0) -> dict[str, Any]:  # fmt: skip
    """Everything the bench reports for one level. `expected_input_tokens`: the dataset's prompt tokens of the
    successful requests, used only when the server reports no usage.prompt_tokens."""
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    out_tokens = sum(r.output_tokens for r in ok)
    reported_in = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
    in_tokens = sum(reported_in) if len(reported_in) == len(ok) else expected_input_tokens
    tpots = [t for r in ok if (t := tpot(r)) is not None]
    itls = [x for r in ok for x in r.itl]
    dur = max(duration_s, 1e-9)
    ttft, tp = summary_ms([r.ttft for r in ok]), summary_ms(tpots)
    out_s = out_tokens / dur
    good = sum(slo.met(r) for r in ok) if slo.given else None
    return {
        "requests": len(results),
        "completed": len(ok),
        "failed": len(failed),
        "errors": dict(Counter(r.error for r in failed).most_common()),
        "duration_s": duration_s,
        "input_tokens": in_tokens,
        "input_tokens_source": "server usage" if len(reported_in) == len(ok) else "dataset",
        "output_tokens": out_tokens,
        "output_tokens_source": "server usage" if all(r.usage_reported for r in ok) else "text chunks",
        "mean_input_tokens": in_tokens / len(ok) if ok else None,
        "mean_output_tokens": out_tokens / len(ok) if ok else None,
        "request_throughput": len(ok) / dur,
        "output_tok_s": out_s,
        "total_tok_s": (in_tokens + out_tokens) / dur,
        "output_tok_s_per_gpu": out_s / gpus,
        "input_tok_s_per_gpu": in_tokens / dur / gpus,
        "output_tok_s_per_user": 1e3 / tp["median"] if tp["median"] else None,
        "ttft_ms": ttft,
        "tpot_ms": tp,
        "itl_ms": summary_ms(itls),
        "e2el_ms": summary_ms([r.e2el for r in ok]),
        "responses_spec_decode": responses_spec(ok),
        "goodput": None
        if good is None
        else {
            "slo_ttft_ms": slo.ttft_ms,
            "slo_tpot_ms": slo.tpot_ms,
            "good_requests": good,
            "request_goodput": good / dur,
        },
    }


def responses_spec(ok: list[RequestResult]) -> dict[str, Any] | None:
    """The draft counters the responses themselves carried (usage.spec_decode, a `specsize serve` extension),
    summed over the level's successful requests: what the /metrics difference must equal. None without them."""
    rows = [r.extra["spec_decode"] for r in ok if isinstance(r.extra.get("spec_decode"), dict)]
    if not rows:
        return None
    out: dict[str, Any] = {k: sum(x.get(k, 0) for x in rows)
                           for k in ("num_drafts", "num_draft_tokens", "num_accepted_tokens")}  # fmt: skip
    width = max(len(x.get("num_accepted_tokens_per_pos", [])) for x in rows)
    out["num_accepted_tokens_per_pos"] = [
        sum(x["num_accepted_tokens_per_pos"][i] for x in rows if i < len(x.get("num_accepted_tokens_per_pos", [])))
        for i in range(width)
    ]
    out["responses"] = len(rows)
    return out
