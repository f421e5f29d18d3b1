"""Which public checkpoint a plan loads: one per model and precision, from catalog/checkpoints.json (each with its
source), and the engine flags it needs. Where none is public, `missing` says how to make one.

Example: checkpoint("deepseek-r1", "awq-int4") -> repo cognitivecomputations/DeepSeek-R1-AWQ, with
`--quantization moe_wna16` on SGLang and vLLM; checkpoint("deepseek-r1", "ud-iq1_s") -> the GGUF
unsloth/DeepSeek-R1-GGUF:UD-IQ1_S (folder DeepSeek-R1-UD-IQ1_S/, three shards) for llama.cpp.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

from specsize import catalog

GGUF_PRECISIONS = ("q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k", "ud-iq1_s", "ud-iq1_m", "ud-iq2_xxs",
                   "ud-q2_k_xl")  # fmt: skip


@dataclass(frozen=True)
class Checkpoint:
    model: str  # catalog name
    precision: str
    source: str
    repo: str | None = None  # Hugging Face repository (safetensors)
    gguf_repo: str | None = None  # Hugging Face repository of GGUF files
    gguf_tag: str | None = None  # llama.cpp -hf REPO:TAG picks the quant (and all its shards)
    gguf_include: str | None = None  # the files of that quant inside the repository (download pattern)
    flags: dict[str, list[str]] = field(default_factory=dict)  # per engine
    unsupported: dict[str, str] = field(default_factory=dict)  # per engine: why it cannot serve this checkpoint

    @property
    def is_gguf(self) -> bool:
        return self.gguf_repo is not None

    @property
    def hf(self) -> str:
        """What the engine is pointed at: ORG/NAME, or ORG/NAME:TAG for a GGUF quant."""
        return f"{self.gguf_repo}:{self.gguf_tag}" if self.is_gguf else str(self.repo)


@cache
def _data() -> dict:
    return json.loads(catalog.CATALOG.joinpath("checkpoints.json").read_text(encoding="utf-8"))


@cache
def _table() -> dict[tuple[str, str], Checkpoint]:
    out = {}
    for e in _data()["checkpoints"]:
        g = e.get("gguf", {})
        out[(e["model"], e["precision"])] = Checkpoint(
            e["model"], e["precision"], e["source"], e.get("repo"), g.get("repo"), g.get("tag"), g.get("include"),
            e.get("flags", {}), e.get("unsupported", {}),
        )  # fmt: skip
    return out


def canonical_model(name: str) -> str | None:
    """The catalog name of a model (any alias works), or None for a local directory / unknown name."""
    entry = catalog.find_model(name)
    return entry["name"] if entry else None


def checkpoint(model: str, precision: str) -> Checkpoint | None:
    """The public checkpoint of `model` stored in `precision`, or None when specsize knows of none."""
    name = canonical_model(model)
    return _table().get((name, precision.lower())) if name else None


def all_checkpoints() -> list[Checkpoint]:
    return list(_table().values())


def native(model: str) -> Checkpoint | None:
    """The checkpoint as its authors released it (R1: FP8; the distills: BF16)."""
    name = canonical_model(model)
    if name is None:
        return None
    return next((c for (m, _), c in _table().items() if m == name and c.repo and c.repo.startswith("deepseek-ai/")),
                None)  # fmt: skip


def local_dir(model: str, precision: str) -> str:
    """Where a checkpoint the user makes would live: ./<released name>-<PRECISION>."""
    src = native(model)
    stem = src.repo.split("/")[-1] if src and src.repo else (canonical_model(model) or model)
    return f"./{stem}-{precision.upper()}"


def missing(model: str, precision: str) -> str:
    """One sentence: there is no public checkpoint of `model` in `precision`, and how to make one."""
    name = canonical_model(model) or model
    src = native(model)
    make = _data()["make"]
    base = f"no public {precision.upper()} checkpoint of {name} is known to specsize"
    if precision in ("bf16", "fp16") and src and src.precision == "fp8":
        cmd = make[precision]["from_fp8"].format(src=src.repo.split("/")[-1], dst=local_dir(model, precision))
        return f"{base}: make one with {cmd} ({make[precision]['source'].split(' (')[0]})"
    if precision in GGUF_PRECISIONS:
        return (f"{base}: make one with llama.cpp's convert_hf_to_gguf.py and llama-quantize "
                f"{precision.upper()} ({make['default']['source']})")  # fmt: skip
    return f"{base}: {make['default']['text']}"


def online_fp8_flags() -> list[str]:
    """vLLM / SGLang quantize a BF16 checkpoint to FP8 at load time with these flags."""
    return list(_data()["make"]["fp8"]["online"])


def online_fp8_source() -> str:
    return _data()["make"]["fp8"]["source"]
