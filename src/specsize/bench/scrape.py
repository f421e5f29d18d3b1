"""Speculative decoding as the server reports it: /metrics (Prometheus text format) scraped before and after
a level, the difference of the counters giving that level's acceptance.

vLLM (vllm/v1/spec_decode/metrics.py, SpecDecodingProm; `specsize serve` exports the same names):
  vllm:spec_decode_num_drafts_total            drafts (verification rounds of one request)
  vllm:spec_decode_num_draft_tokens_total      draft tokens proposed
  vllm:spec_decode_num_accepted_tokens_total   draft tokens accepted
  vllm:spec_decode_num_accepted_tokens_per_pos_total{position="i"}   drafts whose token i was accepted
  mean acceptance length = 1 + accepted / drafts (bonus token included, vLLM's convention);
  acceptance at position i = per_pos[i] / drafts (vLLM's "per-position acceptance rate": unconditional);
  conditional alpha_i = per_pos[i] / per_pos[i-1] (P(i accepted | all before accepted): the planner's alphas).
  Series with other labels (one per engine core under data parallelism) are summed.
SGLang (python/sglang/srt/metrics/collector.py): gauges, not counters — sglang:spec_accept_length (mean
  acceptance length, bonus included) and sglang:spec_accept_rate (accepted / draft tokens), averaged by the
  server over its last logging window; read after the level, no per-position figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

VLLM = "vllm:spec_decode_num_"
SGLANG_LENGTH, SGLANG_RATE = "sglang:spec_accept_length", "sglang:spec_accept_rate"

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?\s*')


def _unescape(v: str) -> str:
    return v.replace(r"\\", "\x00").replace(r"\"", '"').replace(r"\n", "\n").replace("\x00", "\\")


def parse_prometheus(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of the Prometheus text exposition format: (name, labels, value); comments and blank lines skipped,
    lines it cannot read skipped too (a scrape is best-effort: it must never fail the benchmark)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        name, _, labels, value, _ = m.groups()
        try:
            v = float(value)  # float() reads NaN, +Inf, -Inf as the format writes them
        except ValueError:
            continue
        out.append((name, {k: _unescape(x) for k, x in _LABEL.findall(labels or "")}, v))
    return out


@dataclass
class SpecCounters:
    """The spec-decode counters of one scrape (vLLM names), summed over series; absent ones are None."""

    drafts: float | None = None
    draft_tokens: float | None = None
    accepted: float | None = None
    per_pos: dict[int, float] = field(default_factory=dict)
    sglang_length: float | None = None  # gauges
    sglang_rate: float | None = None

    @classmethod
    def from_text(cls, text: str) -> SpecCounters:
        c = cls()
        for name, labels, v in parse_prometheus(text):
            if name.startswith(VLLM) and name.endswith("_total"):
                key = name[len(VLLM) : -len("_total")]
                if key == "accepted_tokens_per_pos":
                    try:
                        pos = int(labels.get("position", ""))
                    except ValueError:
                        continue
                    c.per_pos[pos] = c.per_pos.get(pos, 0.0) + v
                elif key in ("drafts", "draft_tokens", "accepted_tokens"):
                    attr = "accepted" if key == "accepted_tokens" else key
                    setattr(c, attr, (getattr(c, attr) or 0.0) + v)
            elif name == SGLANG_LENGTH:
                c.sglang_length = v if c.sglang_length is None else max(c.sglang_length, v)
            elif name == SGLANG_RATE:
                c.sglang_rate = v if c.sglang_rate is None else max(c.sglang_rate, v)
        return c


def conditional_rates(per_pos: list[float], drafts: float) -> list[float]:
    """alpha_i = P(draft token i accepted | every token before it accepted) = per_pos[i] / per_pos[i-1]
    (per_pos[-1] := drafts). 0 where the position before was never reached."""
    rates, prev = [], drafts
    for n in per_pos:
        rates.append(n / prev if prev else 0.0)
        prev = n
    return rates


def spec_delta(before: SpecCounters, after: SpecCounters) -> dict[str, Any]:
    """What the level's speculative decoding did, from two scrapes. {"source": None, "reason": ...} when the
    server exports none of the names above."""
    if after.drafts is not None:  # a counter not exported yet before the level (no labelled child yet) counts 0
        d = after.drafts - (before.drafts or 0.0)
        dt = (after.draft_tokens or 0.0) - (before.draft_tokens or 0.0)
        acc = (after.accepted or 0.0) - (before.accepted or 0.0)
        positions = sorted(after.per_pos)
        per_pos = [after.per_pos[i] - before.per_pos.get(i, 0.0) for i in positions]
        out: dict[str, Any] = {
            "source": "vllm counters",
            "num_drafts": d, "num_draft_tokens": dt, "num_accepted_tokens": acc,
            "num_accepted_tokens_per_pos": per_pos,
            "num_speculative_tokens": round(dt / d) if d else (len(positions) or None),
            "mean_acceptance_length": 1 + acc / d if d else None,
            "draft_acceptance_rate": acc / dt if dt else None,
            "acceptance_per_position": [n / d for n in per_pos] if d else [],
            "conditional_acceptance": conditional_rates(per_pos, d) if d else [],
        }  # fmt: skip
        return out
    if after.sglang_length is not None:
        return {"source": "sglang gauges (the server's average over its last logging window)",
                "mean_acceptance_length": after.sglang_length, "draft_acceptance_rate": after.sglang_rate,
                "acceptance_per_position": [], "conditional_acceptance": []}  # fmt: skip
    return {"source": None, "reason": "the server exports no spec-decode metrics (speculation off, or unknown names)"}


def iid_alpha(mean_length: float, k: int) -> float:
    """The constant alpha whose E[L] = (1 - alpha^(k+1)) / (1 - alpha) (Leviathan et al. 2023, i.i.d. case)
    equals a measured mean acceptance length, by bisection: what a mean alone (SGLang's gauge) can say."""
    target = min(max(mean_length, 1.0), k + 1.0)
    if target >= k + 1.0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        a = (lo + hi) / 2
        e = k + 1.0 if a >= 1 else (1 - a ** (k + 1)) / (1 - a)
        lo, hi = (a, hi) if e < target else (lo, a)
    return (lo + hi) / 2
