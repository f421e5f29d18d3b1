"""`--weights auto`: the highest-quality weight precision that fits a GPU type and count, and what it gives up.

Quality order (assumption, stated with the result): the checkpoint as released first (R1: FP8; the distills:
BF16; a BF16 copy of R1 adds nothing but bytes), then every smaller format by its bytes per weight, largest first
(more bits, closer to the original). Only formats the engine runs and the GPU computes in are candidates
(llama.cpp: GGUF; vLLM / SGLang: safetensors, FP8 / NVFP4 / INT8 activations only where the tensor cores have
them), and only those with a public checkpoint (checkpoints.py) or, for FP8, a BF16 one the engine quantizes at
load; otherwise the launch command could not load what the plan is for.

Example: the 32B distill on one RTX 4090 with llama.cpp, 8K context -> Q4_K_M (4.9 bits per weight, 16 in the
released BF16); Q5_K_M is short by 1.6 GB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from specsize.checkpoints import GGUF_PRECISIONS, canonical_model, checkpoint
from specsize.config import ModelArch
from specsize.engines import EngineProfile, get_engine, is_llamacpp
from specsize.errors import PlanError
from specsize.fit import _shortfall, default_precision, fit_on, layouts_of, no_layout_reason
from specsize.hardware import GPU, get_gpu, machine_holding
from specsize.params import count_params
from specsize.quant import PRECISIONS, checkpoint_bytes, get_precision
from specsize.scenario import Host, Speculative, Workload
from specsize.tensors import tensor_groups

SAFETENSORS = ("bf16", "fp8", "int8", "nvfp4", "gptq-int4", "awq-int4")
SINGLE_CARD_KINDS = ("consumer", "workstation", "unified")  # a person's machine: one card unless --gpus says


@dataclass
class Tried:
    precision: str
    bits_per_weight: float
    fits: bool
    why_not: str = ""  # short by ..., or why it is not a candidate here
    fit_checked: bool = True  # False: not a candidate here (why_not says why), its memory never checked


@dataclass
class Choice:
    precision: str | None
    gpu: str
    gpus: int
    native: str
    native_bits: float
    tried: list[Tried] = field(default_factory=list)
    gguf: bool = False  # the engine runs GGUF files (llama.cpp's family): no engine to suggest switching to

    def sentence(self) -> str:
        where = f"{self.gpus}×{self.gpu.upper()}"
        if self.precision is None:
            last = self.tried[-1] if self.tried else None
            smallest = f" (the smallest, {last.precision.upper()}: {last.why_not})" if last else ""
            other = "" if self.gguf else ", or --engine llamacpp with GGUF quants"
            return (f"--weights auto: no precision this engine can load fits on {where}{smallest}; try a shorter "
                    f"--context, more --gpus{other}")  # fmt: skip
        chosen = next(t for t in self.tried if t.precision == self.precision)
        native_bits = self.native_bits
        text = f"--weights auto: {self.precision.upper()} is the highest-quality precision that fits on {where}"
        if self.precision == self.native:
            return text + f" (the checkpoint as released, {chosen.bits_per_weight:.1f} bits per weight)"
        if chosen.bits_per_weight >= native_bits:
            return text + (f" ({chosen.bits_per_weight:.1f} bits per weight, no fewer than the released "
                           f"{self.native.upper()}'s {native_bits:.1f})")  # fmt: skip
        text += (f"; it gives up precision: {chosen.bits_per_weight:.1f} bits per weight against {native_bits:.1f} "
                 f"in the released {self.native.upper()}")  # fmt: skip
        better = [t for t in self.tried if not t.fits and t.why_not][:3]
        if better:
            text += " (" + "; ".join(f"{t.precision.upper()}: {t.why_not}" for t in better) + ")"
        return text

    def to_json(self) -> dict:
        return {"precision": self.precision, "gpu": self.gpu, "gpus": self.gpus, "native": self.native,
                "sentence": self.sentence(),
                "tried": [t.__dict__ for t in self.tried]}  # fmt: skip


def bits_per_weight(a: ModelArch, precision: str) -> float:
    """Bytes of the main model's checkpoint x 8 / its parameters (scales and zero points included)."""
    main = [g for g in tensor_groups(a) if g.scope == "model"]
    return checkpoint_bytes(main, precision) * 8 / count_params(a).total


def candidates(a: ModelArch, gpu: GPU, engine: EngineProfile) -> list[str]:
    """The precisions worth trying, best first (see the module docstring)."""
    native = default_precision(a)
    pool = GGUF_PRECISIONS if engine.llamacpp_split else SAFETENSORS
    size = {p: bits_per_weight(a, p) for p in pool}
    if native not in pool:  # llama.cpp: every GGUF type, largest first
        return sorted(pool, key=lambda p: -size[p])
    # BF16 next to an FP8 original: the same quality, for GPUs without FP8 (a lossless conversion, checkpoints.py)
    first = [native] + (["bf16"] if native != "bf16" else [])
    return first + [p for p in sorted(pool, key=lambda p: -size[p]) if size[p] < size[native] and p not in first]


def _usable(a: ModelArch, gpu: GPU, engine: EngineProfile, p: str) -> str:
    """Why `p` is not a candidate on this GPU and engine, or '' when it is."""
    prec = get_precision(p)
    if not prec.weight_only and not gpu.supports(prec.compute):
        return f"{gpu.id} has no {prec.compute.upper()} tensor cores"
    if canonical_model(a.name) is None:
        return ""  # a model of the user's own (a local config): they convert it themselves, any format goes
    ck = checkpoint(a.name, p)
    if ck is not None:
        return ck.unsupported.get(engine.name, "")
    if p == "fp8" and not engine.llamacpp_split and checkpoint(a.name, "bf16") is not None:
        return ""  # the BF16 checkpoint, quantized to FP8 at load
    if p == default_precision(a) or (p == "bf16" and default_precision(a) == "fp8"):
        return ""  # as released, or its lossless BF16 conversion (the launch command says how to make it)
    return "no public checkpoint"


def single_count(gpu: GPU) -> int:
    """The count --weights auto plans for when --gpus is not given: one card, or one full node."""
    return 1 if gpu.kind in SINGLE_CARD_KINDS else gpu.gpus_per_node


def choose(a: ModelArch, gpu: GPU | str, engine: str | EngineProfile, kv_dtype: str, workload: Workload,
           spec: Speculative = Speculative(), host: Host = Host(), count: int | None = None) -> Choice:  # fmt: skip
    g = machine_holding(get_gpu(gpu) if isinstance(gpu, str) else gpu, count)
    eng = get_engine(engine) if isinstance(engine, str) else engine
    n = count or single_count(g)
    lays = layouts_of(a, g, eng, spec, n)
    if not lays:
        raise PlanError(f"--weights auto: {no_layout_reason(a, g, eng, spec, n)}")
    native = default_precision(a)
    choice = Choice(None, g.id, n, native, bits_per_weight(a, native), gguf=eng.llamacpp_split)
    for p in candidates(a, g, eng):
        why = _usable(a, g, eng, p)
        bpw = bits_per_weight(a, p)
        if why:
            choice.tried.append(Tried(p, bpw, False, why, fit_checked=False))
            continue
        r = fit_on(a, g, p, kv_dtype, workload, eng, spec, host, lays)
        choice.tried.append(Tried(p, bpw, r.fits, "" if r.fits else _shortfall(r.memory).split(" (")[0]))
        if r.fits:
            choice.precision = p
            break
    return choice


def is_auto_default(gpu_ids: list[str], engine: str) -> bool:
    """--weights defaults to auto for llama.cpp (and ik_llama.cpp) and when every GPU asked for is a
    consumer/workstation card."""
    return is_llamacpp(engine) or (bool(gpu_ids) and all(get_gpu(x).kind in SINGLE_CARD_KINDS for x in gpu_ids))


assert set(SAFETENSORS) | set(GGUF_PRECISIONS) <= set(PRECISIONS)


def resolve_weights(weights: str | None, a: ModelArch, gpu_ids: list[str], engine: str, kv_dtype: str,
                    workload: Workload, spec: Speculative, host: Host,
                    count: int | None = None) -> tuple[str, Choice | None]:  # fmt: skip
    """The precision a command plans with: --weights as given; `auto` (or no --weights where auto is the default:
    llama.cpp, consumer cards) chooses for the first GPU type asked for."""
    if weights is not None and weights.lower() != "auto":
        return weights.lower(), None
    if weights is None and (not gpu_ids or not is_auto_default(gpu_ids, engine)):
        return default_precision(a), None
    if not gpu_ids:
        raise PlanError("--weights auto chooses for a GPU type and count: give --gpu (and --gpus for the count)")
    choice = choose(a, gpu_ids[0], engine, kv_dtype, workload, spec, host, count)
    if choice.precision is None:
        raise NoPrecisionFits(choice)
    return choice.precision, choice


class NoPrecisionFits(PlanError):
    """--weights auto found nothing that fits; `choice` holds what was tried (plan_request names the smallest that
    was checked in its llama.cpp -ngl hint)."""

    def __init__(self, choice: Choice):
        super().__init__(choice.sentence())
        self.choice = choice

    @property
    def smallest_checked(self) -> str | None:
        return next((t.precision for t in reversed(self.choice.tried) if t.fit_checked), None)
