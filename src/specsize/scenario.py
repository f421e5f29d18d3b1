"""What a plan is about: layout (how GPUs are used), workload, speculative method. Validated on construction."""

from __future__ import annotations

from dataclasses import dataclass

from specsize.config import ModelArch
from specsize.errors import PlanError

SPEC_METHODS = ("none", "mtp", "draft", "ngram", "eagle")


@dataclass(frozen=True)
class Layout:
    """tp: tensor parallel (experts are split over the same GPUs: EP x MoE-TP = tp); pp: pipeline stages;
    ep: expert-parallel degree inside the TP group (performance only: bytes per GPU are the same);
    dp: replicas; attention: "tp" (heads split, MLA latent replicated) or "dp" (SGLang DP attention:
    sequences split across the TP ranks, every weight but the routed experts whole on each: sharding.py).
    Every engine's spelling maps onto this (engine_layout): SGLang --tp 8 --dp 8 --enable-dp-attention --ep 8 and
    TensorRT-LLM tensor_parallel_size 8 + enable_attention_dp + moe_expert_parallel_size 8 are tp=8, ep=8,
    attention "dp"; vLLM's tp 1, dp 8, ep 8 is normalised to the same on construction."""

    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1
    attention: str = "tp"

    def __post_init__(self):
        for name in ("tp", "pp", "ep", "dp"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise PlanError(f"layout {name} must be a positive integer, got {v!r}")
        if self.attention not in ("tp", "dp"):
            raise PlanError(f"layout attention must be 'tp' or 'dp', got {self.attention!r}")
        if self.ep > self.tp and self.ep % self.tp == 0 and self.tp * self.dp % self.ep == 0:
            # vLLM's spelling of attention-DP + EP: --tensor-parallel-size 1 --data-parallel-size 8
            # --enable-expert-parallel is one group of 8 GPUs, attention data-parallel, experts EP8.
            object.__setattr__(self, "dp", self.tp * self.dp // self.ep)
            object.__setattr__(self, "tp", self.ep)
            object.__setattr__(self, "attention", "dp")
        if self.tp % self.ep:
            raise PlanError(
                f"layout ep ({self.ep}) must divide tp ({self.tp}) (experts are split inside the TP group), or "
                f"equal tp x dp with attention data-parallel (vLLM: --data-parallel-size with --enable-expert-parallel)"
            )

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp

    @property
    def attn_tp(self) -> int:
        return self.tp if self.attention == "tp" else 1

    @property
    def attn_dp(self) -> int:
        """The ranks attention runs data-parallel over: the whole group under attention DP, else one."""
        return self.tp if self.attention == "dp" else 1

    def short(self) -> str:
        """describe() for a narrow table: attention DP with EP over the whole group as "DEPn" (NVIDIA's and
        InferenceX's name for it), anything else as describe() spells it."""
        if self.attention == "dp" and self.ep == self.tp and self.pp == self.dp == 1:
            return f"DEP{self.tp}"
        return self.describe()

    def describe(self) -> str:
        parts = [f"TP{self.tp}"]
        if self.ep > 1:
            parts.append(f"EP{self.ep}")
        if self.pp > 1:
            parts.append(f"PP{self.pp}")
        if self.dp > 1:
            parts.append(f"DP{self.dp}")
        if self.attention == "dp":
            parts.append("DP-attention")
        return " ".join(parts)


def engine_layout(tp: int, ep: int = 1, dp_attention: bool = False, gpus: int | None = None, pp: int = 1) -> Layout:
    """One serving instance as the measured corpus and the engines spell it (tp: the engine's tensor-parallel
    size; ep: expert-parallel size; dp_attention: attention data-parallel over the group) on `gpus` GPUs
    (default max(tp, ep)). The group is every GPU of the instance; attention is data-parallel whenever the
    engine's TP is smaller than the group (vLLM --data-parallel-size, SGLang/TRT-LLM DP attention)."""
    group = (gpus or max(tp, ep)) // pp
    if group < 1 or group < max(tp, ep) or (group % max(tp, ep) and group % tp):
        raise PlanError(f"layout tp {tp}, ep {ep} does not fit an instance of {gpus} GPUs")
    attention = "dp" if dp_attention or tp < group else "tp"
    if group % ep:
        raise PlanError(f"layout ep ({ep}) must divide the instance's {group} GPUs")
    return Layout(tp=group, pp=pp, ep=ep, attention=attention)


# Each engine's own names for the layout keys (scenario files may use any of them):
# SGLang --tp / --dp / --ep-size / --enable-dp-attention; TensorRT-LLM tensor_parallel_size /
# moe_expert_parallel_size / enable_attention_dp; vLLM tensor_parallel_size / data_parallel_size /
# enable_expert_parallel; the measured corpus's dp_attention.
LAYOUT_ALIASES = {"tensor_parallel_size": "tp", "tp_size": "tp", "pipeline_parallel_size": "pp", "pp_size": "pp",
                  "moe_expert_parallel_size": "ep", "ep_size": "ep", "expert_parallel_size": "ep",
                  "data_parallel_size": "dp", "dp_size": "dp"}  # fmt: skip
DP_ATTENTION_FLAGS = ("dp_attention", "enable_dp_attention", "enable_attention_dp")


def layout_from_spelling(raw: dict) -> Layout:
    """A Layout from any engine's spelling of it. With attention DP, SGLang's --dp (and TensorRT-LLM's implied
    one) counts attention ranks inside the TP group, not replicas: {"tp": 8, "dp": 8, "enable_dp_attention": true}
    is one group of 8. vLLM's {"tp": 1, "dp": 8, "enable_expert_parallel": true} is the same group (Layout
    normalises it), its EP the whole group."""
    if not isinstance(raw, dict):
        raise PlanError(f"layout must be an object of tp / pp / ep / dp / attention, got {raw!r}")
    known = {"tp", "pp", "ep", "dp", "attention", "enable_expert_parallel", *LAYOUT_ALIASES, *DP_ATTENTION_FLAGS}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PlanError(
            f"layout: unknown key(s) {', '.join(unknown)}; use tp, pp, ep, dp, attention (or an "
            f"engine's own names: {', '.join(sorted(LAYOUT_ALIASES))}, {', '.join(DP_ATTENTION_FLAGS)})"
        )
    lay = {LAYOUT_ALIASES.get(k, k): v for k, v in raw.items() if k in LAYOUT_ALIASES or k in ("tp", "pp", "ep", "dp")}
    dp_attn = any(raw.get(f) is True for f in DP_ATTENTION_FLAGS) or raw.get("attention") == "dp"
    if "attention" in raw and raw["attention"] not in ("tp", "dp"):
        raise PlanError(f"layout attention must be 'tp' or 'dp', got {raw['attention']!r}")
    tp, dp = lay.get("tp", 1), lay.get("dp", 1)
    if raw.get("enable_expert_parallel") is True and "ep" not in lay:
        lay["ep"] = tp * dp  # vLLM: the experts over every GPU of the DP group
    if dp_attn and isinstance(tp, int) and tp > 1 and dp == tp and lay.get("ep", 1) <= tp:
        lay["dp"] = 1  # SGLang --tp N --dp N --enable-dp-attention: attention ranks, not replicas
    return Layout(**lay, attention="dp" if dp_attn else "tp")


def mean_context(input_tokens: float, output_tokens: float) -> float:
    """The mean cache length of a request while it decodes: its prompt and half its output.

    >>> mean_context(4096, 1024)
    4608.0
    """
    return input_tokens + output_tokens / 2


@dataclass(frozen=True)
class Workload:
    concurrency: int = 1
    input_tokens: int = 4096
    output_tokens: int = 4096

    def __post_init__(self):
        for name in ("concurrency", "input_tokens", "output_tokens"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (1 if name != "output_tokens" else 0):
                raise PlanError(f"workload {name} must be a positive integer, got {v!r}")

    @property
    def context(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def mean_context(self) -> float:
        return mean_context(self.input_tokens, self.output_tokens)

    def check_against(self, arch: ModelArch) -> None:
        if self.context > arch.max_position_embeddings:
            raise PlanError(
                f"context {self.context:,} tokens (input {self.input_tokens:,} + output {self.output_tokens:,}) "
                f"exceeds {arch.name}'s maximum of {arch.max_position_embeddings:,}; shorten --input/--output"
            )


@dataclass(frozen=True)
class Speculative:
    method: str = "none"
    k: int = 1  # num_speculative_tokens
    draft: ModelArch | None = None  # method "draft"
    draft_tp: int | None = None  # None: the target's TP (vLLM's default for draft_tensor_parallel_size)
    acceptance: tuple[float, ...] | None = None  # per-position conditional acceptance; None: the default

    def __post_init__(self):
        if self.method not in SPEC_METHODS:
            raise PlanError(f"unknown speculative method {self.method!r}; choose one of: {', '.join(SPEC_METHODS)}")
        if not isinstance(self.k, int) or self.k < 1:
            raise PlanError(f"number of speculative tokens k must be >= 1, got {self.k!r}")
        if self.method == "draft" and self.draft is None:
            raise PlanError("method 'draft' needs a draft model: --spec draft:MODEL[:k]")
        if self.draft_tp is not None and (not isinstance(self.draft_tp, int) or self.draft_tp < 1):
            raise PlanError(f"draft tensor parallel size must be a positive integer, got {self.draft_tp!r}")
        for a in self.acceptance or ():
            if not 0 < a <= 1:
                raise PlanError(f"acceptance rates must be in (0, 1], got {a}")

    @property
    def enabled(self) -> bool:
        return self.method != "none"

    def describe(self) -> str:
        if not self.enabled:
            return "none"
        name = f"draft:{self.draft.name}" if self.method == "draft" and self.draft else self.method
        return f"{name} k={self.k}"


@dataclass(frozen=True)
class Host:
    """CPU/GPU hybrid serving: routed experts in host RAM (ktransformers; llama.cpp -ot exps=CPU).
    numa_copies: engines that keep one copy of the experts per NUMA node (ktransformers USE_NUMA=1 on a
    dual-socket server) need that many times the RAM."""

    offload_experts: bool = False
    ram_bytes: float | None = None  # checked when given
    numa_copies: int = 1

    def __post_init__(self):
        if not isinstance(self.numa_copies, int) or self.numa_copies < 1:
            raise PlanError(f"NUMA copies (sockets) must be a positive integer, got {self.numa_copies!r}")
        if self.ram_bytes is not None and self.ram_bytes <= 0:
            raise PlanError(f"host RAM must be positive, got {self.ram_bytes!r}")


MAX_VOCAB_PADDING = 256  # vocabulary rows a draft may differ from its target by (padding to a multiple of 128/256)


def check_draft_vocab(target: ModelArch, draft: ModelArch) -> None:
    """A draft must share the target's tokenizer; vocab sizes may differ only by padding (R1-Distill-Qwen-1.5B
    has 151,936 rows, the 7B 152,064: same tokenizer, padded to a multiple of 128/256)."""
    if abs(target.vocab_size - draft.vocab_size) > MAX_VOCAB_PADDING:
        raise PlanError(
            f"draft {draft.name} has a vocabulary of {draft.vocab_size:,} tokens and target {target.name} "
            f"{target.vocab_size:,}: they do not share a tokenizer; pick a draft of the same family"
        )


def default_k(method: str) -> int:
    """Draft tokens per round when none are given: 1 for MTP (R1 ships one MTP module, num_nextn_predict_layers
    1), 4 for a draft model, n-gram or EAGLE (assumption).

    >>> default_k("mtp"), default_k("draft")
    (1, 4)
    """
    return 1 if method in ("mtp", "none") else 4


def parse_spec(text: str, target: ModelArch, load=None, draft_tp: int | None = None) -> Speculative:
    """'none' | 'mtp[:k]' | 'ngram[:k]' | 'eagle[:k]' | 'draft:MODEL[:k]' -> Speculative."""
    parts = text.split(":")
    method = parts[0].lower()
    if method not in SPEC_METHODS:
        raise PlanError(f"unknown speculative method {method!r}; choose one of: {', '.join(SPEC_METHODS)}")
    draft = None
    if method == "draft":
        if len(parts) < 2 or not parts[1]:
            raise PlanError("--spec draft needs a model: draft:MODEL[:k], e.g. draft:deepseek-r1-distill-qwen-1.5b:4")
        if load is None:
            from specsize.resolve import load_model as load
        draft = load(parts[1])
        check_draft_vocab(target, draft)
        rest = parts[2:]
    else:
        rest = parts[1:]
    k = default_k(method)
    if len(rest) > 1:
        form = "draft:MODEL[:k]" if method == "draft" else f"{method}[:k]"
        raise PlanError(f"--spec {text!r}: one field too many; the form is {form}")
    if rest:
        try:
            k = int(rest[0])
        except ValueError:
            raise PlanError(f"--spec {text!r}: k must be an integer, got {rest[0]!r}") from None
    if method == "mtp" and not target.has_mtp:
        raise PlanError(f"{target.name} has no MTP layer (num_nextn_predict_layers is 0); use draft, ngram or none")
    if draft_tp is not None and method != "draft":
        raise PlanError(f"--draft-tp applies to a draft model (--spec draft:MODEL), not to {method!r}")
    return Speculative(method=method, k=k, draft=draft, draft_tp=draft_tp)
