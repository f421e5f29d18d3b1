"""The plan form: the page's query string (the whole scenario, so a shared link reproduces the page) read into
a plan_request.PlanRequest, with a message per field for what cannot be read. No planning here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from specsize.config import ModelArch
from specsize.errors import SpecsizeError
from specsize.plan import DEFAULT_ENGINE, DEFAULT_GPUS
from specsize.plan_request import PlanRequest

# The form's fields (query parameter names). "gpu" repeats; the rest are single values.
TEXT_FIELDS = ("model", "config", "weights", "kv_cache", "engine", "input", "output", "concurrency", "method", "k",
               "draft", "acceptance", "inter_node", "graphs", "offload", "ram_gb", "gpus", "nodes")  # fmt: skip
DEFAULTS: dict[str, Any] = {
    "model": "deepseek-r1", "config": "", "weights": "", "kv_cache": "bf16", "engine": DEFAULT_ENGINE,
    "input": "4096", "output": "4096", "concurrency": "1", "method": "", "k": "", "draft": "", "acceptance": "",
    "inter_node": "", "graphs": "on", "offload": "", "ram_gb": "", "gpu": list(DEFAULT_GPUS),
    "gpus": "", "nodes": "",  # the GPUs / machines the user has (`plan --gpus N --nodes M`); empty: the fewest that fit
}  # fmt: skip
PASTED_MODEL_PATH = "MODEL_DIR"  # what the launch command names a pasted config.json's model (replace it)


@dataclass
class Form:
    """What the query string says (values, to refill the form) and what it asks (request), or why not (errors:
    field -> message)."""

    values: dict[str, Any]
    request: PlanRequest | None = None
    arch: ModelArch | None = None  # a pasted config.json, parsed
    errors: dict[str, str] = field(default_factory=dict)


def _int(values: dict[str, Any], name: str, what: str, errors: dict[str, str]) -> int | None:
    text = str(values[name]).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        errors[name] = f"{what}: give a whole number, got {text!r}"
        return None


def _float(values: dict[str, Any], name: str, what: str, errors: dict[str, str]) -> float | None:
    text = str(values[name]).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        errors[name] = f"{what}: give a number, got {text!r}"
        return None


def parse_pasted_config(text: str) -> ModelArch:
    """A pasted or uploaded config.json (a Hugging Face model's)."""
    from specsize.config import parse_config
    from specsize.errors import ConfigError

    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        msg = f"pasted config.json is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        raise ConfigError(msg) from None
    name = raw.get("_name_or_path") if isinstance(raw, dict) else None
    return parse_config(raw, name=str(name or "pasted config.json"), source="pasted config.json")


def known_model(name: str) -> bool:
    from specsize import catalog
    from specsize.assets import bundled_model_dir

    return catalog.find_model(name) is not None or bundled_model_dir(name) is not None


def spec_text(method: str, k: int | None, draft: str) -> str | None:
    """The form's method, k and draft model as `--spec` says them (None: the command's default)."""
    if not method:
        return None
    head = f"draft:{draft}" if method == "draft" else method
    return head if k is None else f"{head}:{k}"


def _canonical(values: dict[str, Any]) -> None:
    """Aliases as the catalog's own names (r1-distill-qwen-32b, H200, SGLang), so the form's choices show what a
    shared link asked for and a resubmission asks the same; unknown names stay as given (their error comes later)."""
    from specsize import catalog

    for name in ("model", "draft"):
        entry = catalog.find_model(values[name]) if values[name] else None
        if entry:
            values[name] = entry["name"]
    values["gpu"] = [(catalog.find_hardware("gpus", g) or {"id": g})["id"] for g in values["gpu"]]
    for name in ("engine", "weights"):
        values[name] = values[name].lower()


def read_form(query: Any) -> Form:
    """`query`: a mapping with getlist (starlette's QueryParams) or a plain dict of lists."""
    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        got = query.getlist(name) if hasattr(query, "getlist") else query.get(name, [])
        values[name] = got[-1] if got else DEFAULTS[name]
    gpus = query.getlist("gpu") if hasattr(query, "getlist") else query.get("gpu", [])
    values["gpu"] = [g for g in gpus if g] or list(DEFAULTS["gpu"])
    _canonical(values)
    form = Form(values)
    e = form.errors
    inp = _int(values, "input", "input tokens", e)
    out = _int(values, "output", "output tokens", e)
    conc = _int(values, "concurrency", "concurrency", e)
    k = _int(values, "k", "k", e)
    ram = _float(values, "ram_gb", "host RAM", e)
    gpu_count = _int(values, "gpus", "GPU count", e)  # 0 or negative: the library's message (plan.count_for)
    nodes = _int(values, "nodes", "nodes", e)
    if values["config"].strip():
        try:
            form.arch = parse_pasted_config(values["config"])
        except SpecsizeError as err:
            e["config"] = str(err)
    if values["method"] == "draft" and not values["draft"]:
        e["draft"] = "speculative method draft needs a draft model: pick one"
    # The page resolves names in the catalog only: a path would read this server's files for whoever asks.
    for name in ("model", "draft"):
        if values[name] and not (name == "model" and form.arch is not None) and not known_model(values[name]):
            e[name] = f"unknown model {values[name]!r}: pick one of the catalog, or paste its config.json"
    if e:
        return form
    model = PASTED_MODEL_PATH if form.arch is not None else values["model"]
    form.request = PlanRequest(
        model=model, weights=values["weights"] or None, kv_cache=values["kv_cache"], input_tokens=inp,
        output_tokens=out, concurrency=1 if conc is None else conc,
        spec=spec_text(values["method"], k, values["draft"]), engine=values["engine"], gpus=tuple(values["gpu"]),
        ram_gb=ram, offload_experts=values["offload"] == "on", acceptance=values["acceptance"].strip() or None,
        inter_node=values["inter_node"] or None, cuda_graphs=values["graphs"] != "off", gpu_count=gpu_count,
        nodes=nodes,
    )  # fmt: skip
    return form


# where a plan_request error's field shows on the form
FIELD_OF = {"model": "model", "workload": "workload", "engine": "engine", "spec": "method", "acceptance": "acceptance",
            "inter_node": "inter_node", "host": "ram_gb", "gpus": "gpu", "gpu_count": "gpus", "weights": "weights",
            "kv_cache": "kv_cache", "calibration": "acceptance", "repeat_fraction": "method",
            "plan": "plan"}  # fmt: skip


def form_field(err: SpecsizeError) -> str:
    return FIELD_OF.get(getattr(err, "field", None) or "plan", "plan")
