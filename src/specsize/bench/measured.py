"""Measured points: one JSON object a line, the schema of the measured-serving corpus (docs/measured-format.md;
the format `specsize validate` and `plan --calibration` read). One point is one
level (a concurrency or a request rate) of one run, with the deployment the user declared.

Schema fields written: id, source, date, model, weights, kv_cache (null), gpu, gpus, nodes, engine,
engine_version, layout {tp, ep, dp_attention[, pp, dp]}, disaggregated (null: one endpoint), workload
{input_tokens, output_tokens, concurrency, lengths}, speculative {method, num_speculative_tokens},
measured {output_tok_s_per_gpu, per_gpu_counts "all", output_tok_s_per_user, tpot_ms, ttft_ms, itl_ms, e2el_ms,
input_tok_s_per_gpu, tpot_ms_p99, ttft_ms_p99}. Extension (readers of the corpus ignore it): "bench", the
level's full report (requests, failures and their errors, mean/median/p99 of every latency, goodput, request
rate, and the speculative decoding the server's /metrics reported).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from specsize.errors import SpecsizeError

_LAYOUT = re.compile(r"^(tp|ep|pp|dp)(\d+)$")


def parse_layout(text: str | None, gpus: int) -> dict[str, Any]:
    """'TP8 EP8 DP-attention' (plan's own spelling, any case, spaces or commas) -> the schema's layout object.
    Default: TP over every GPU."""
    if not text:
        return {"tp": gpus, "ep": 1, "dp_attention": False}
    out: dict[str, Any] = {"tp": 1, "ep": 1, "dp_attention": False}
    for part in re.split(r"[\s,]+", text.strip().lower()):
        if not part:
            continue
        if part in ("dp-attention", "dp_attention", "dpattention", "dp-attn"):
            out["dp_attention"] = True
            continue
        m = _LAYOUT.match(part)
        if not m or int(m.group(2)) < 1:
            raise SpecsizeError(f"--layout {text!r}: cannot read {part!r}; write it as plan prints layouts, "
                                "e.g. 'TP8', 'TP8 EP8 DP-attention', 'TP8 PP2'")  # fmt: skip
        out[m.group(1)] = int(m.group(2))
    return out


def point_id(engine: str, gpu: str, weights: str, spec: str, w: dict[str, Any], level: str, stamp: str) -> str:
    h = hashlib.sha1(f"{stamp}{level}".encode()).hexdigest()[:8]
    return f"{engine}-{gpu}-{weights}-{spec.replace(':', '')}-{w['input_tokens']}-{w['output_tokens']}-{level}-{h}"


def measured_block(m: dict[str, Any]) -> dict[str, Any]:
    """The schema's `measured` object from a level's metrics (serving_metrics.level_metrics). A figure the level
    did not measure (no request completed) is null, never 0: the format's readers want positive numbers."""
    raw = {
        "output_tok_s_per_gpu": m["output_tok_s_per_gpu"], "output_tok_s_per_user": m["output_tok_s_per_user"],
        "tpot_ms": m["tpot_ms"]["median"], "ttft_ms": m["ttft_ms"]["median"], "itl_ms": m["itl_ms"]["median"],
        "e2el_ms": m["e2el_ms"]["median"], "input_tok_s_per_gpu": m["input_tok_s_per_gpu"],
        "tpot_ms_p99": m["tpot_ms"]["p99"], "ttft_ms_p99": m["ttft_ms"]["p99"],
    }  # fmt: skip
    out: dict[str, Any] = {k: (v if v else None) for k, v in raw.items()}
    out["per_gpu_counts"] = "all"
    return out


def write_points(path: str | Path, points: list[dict[str, Any]]) -> None:
    """Write every point so far (called after each level: an interrupted run keeps its finished levels)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    try:
        tmp.write_text("".join(json.dumps(x) + "\n" for x in points), encoding="utf-8")
        tmp.replace(p)
    except OSError as e:
        raise SpecsizeError(f"--out {p}: cannot write it ({e})") from None


def is_measured_file(path: str | Path) -> bool:
    """A JSONL of measured points (first non-blank line an object with 'measured'), not a bench.json."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    x = json.loads(line)
                    return isinstance(x, dict) and "measured" in x and "workload" in x
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return False
