"""Launch commands for a plan, in each engine's own syntax, pinned to the versions the syntax follows.

- vLLM 0.11 (`vllm serve`; docs.vllm.ai/en/v0.11.0): --tensor-parallel-size, --pipeline-parallel-size,
  --data-parallel-size, --enable-expert-parallel, --max-model-len, --gpu-memory-utilization, --max-num-seqs,
  --enforce-eager,
  --kv-cache-dtype, --speculative-config JSON (method mtp | draft_model | ngram | eagle; num_speculative_tokens;
  draft_tensor_parallel_size; prompt_lookup_min/max). Multi-node: a Ray cluster (ray start --head / --address)
  and --distributed-executor-backend ray.
- SGLang 0.5 (`python -m sglang.launch_server`; docs.sglang.ai, server arguments and speculative decoding):
  --tp, --dp + --enable-dp-attention, --ep-size, --mem-fraction-static, --context-length,
  --max-running-requests, --kv-cache-dtype, --speculative-algorithm EAGLE (DeepSeek MTP: the model's own NextN
  layer) | STANDALONE (--speculative-draft-model-path) | NGRAM, with --speculative-num-steps /
  --speculative-eagle-topk / --speculative-num-draft-tokens all set. Multi-node: --nnodes, --node-rank,
  --dist-init-addr on every node.
- llama.cpp server (b6000; tools/server/README.md): -m, -c, -ngl, -np, --split-mode layer, -ot exps=CPU for
  expert offload, --model-draft / -ngld / --draft-max / --draft-min for a draft model.
"""

from __future__ import annotations

import json
import shlex

from specsize import catalog
from specsize.errors import PlanError
from specsize.scenario import Layout, Speculative

VERSIONS = {"vllm": "vLLM 0.11", "sglang": "SGLang 0.5", "llamacpp": "llama.cpp b6000"}
HEAD = "HEAD_NODE_IP"  # placeholder the user replaces


def model_path(name: str) -> str:
    """The Hugging Face repository id of a catalog model (its ORG/NAME alias), else the name as given."""
    entry = catalog.find_model(name)
    if entry:
        for alias in entry.get("aliases", []):
            if "/" in alias:
                return alias
    return name


def canonical(name: str) -> str:
    """The catalog's own name for a model (GGUF file names follow it), else the name as given."""
    entry = catalog.find_model(name)
    return entry["name"] if entry else name


def _kv_flag(kv_dtype: str, engine: str) -> list[str]:
    if kv_dtype != "fp8":
        return []
    return ["--kv-cache-dtype", "fp8_e4m3" if engine == "sglang" else "fp8"]


def vllm_commands(model: str, layout: Layout, nodes: int, spec: Speculative, kv_dtype: str, max_len: int,
                  max_seqs: int, fraction: float, eager: bool = False) -> list[str]:  # fmt: skip
    if layout.attention == "dp":  # vLLM's attention-DP + EP: TP 1, one DP rank per GPU, experts over all of them
        args = ["vllm", "serve", model_path(model), "--tensor-parallel-size", "1",
                "--data-parallel-size", str(layout.tp * layout.dp), "--enable-expert-parallel"]  # fmt: skip
    else:
        args = ["vllm", "serve", model_path(model), "--tensor-parallel-size", str(layout.tp)]
    if layout.pp > 1:
        args += ["--pipeline-parallel-size", str(layout.pp)]
    if layout.dp > 1 and layout.attention != "dp":
        args += ["--data-parallel-size", str(layout.dp)]
    if layout.ep > 1 and layout.attention != "dp":
        args += ["--enable-expert-parallel"]
    args += ["--max-model-len", str(max_len), "--gpu-memory-utilization", f"{fraction:.2f}",
             "--max-num-seqs", str(max_seqs)]  # fmt: skip
    args += _kv_flag(kv_dtype, "vllm")
    if eager:
        args += ["--enforce-eager"]
    if spec.enabled:
        cfg: dict = {"method": {"mtp": "mtp", "draft": "draft_model", "ngram": "ngram", "eagle": "eagle"}[spec.method]}
        if spec.method == "draft":
            cfg["model"] = model_path(spec.draft.name)
            cfg["draft_tensor_parallel_size"] = spec.draft_tp or layout.tp  # the plan's (memory.py, deployment.py)
        if spec.method == "eagle":
            cfg["model"] = "EAGLE_HEAD_PATH"
        cfg["num_speculative_tokens"] = spec.k
        if spec.method == "ngram":
            cfg.update(prompt_lookup_min=2, prompt_lookup_max=5)
        args += ["--speculative-config", json.dumps(cfg)]
    if nodes == 1:
        return [shlex.join(args)]
    if spec.enabled and layout.pp > 1:
        raise PlanError("vLLM cannot combine pipeline parallelism with speculative decoding; plan with TP across nodes")
    return [
        "# on the head node:",
        "ray start --head --port=6379",
        f"# on each of the other {nodes - 1} node(s):",
        f"ray start --address={HEAD}:6379",
        "# then, on the head node:",
        shlex.join([*args, "--distributed-executor-backend", "ray"]),
    ]


def sglang_commands(model: str, layout: Layout, nodes: int, spec: Speculative, kv_dtype: str, max_len: int,
                    max_seqs: int, fraction: float, eager: bool = False) -> list[str]:  # fmt: skip
    args = ["python", "-m", "sglang.launch_server", "--model-path", model_path(model), "--tp", str(layout.tp)]
    if layout.pp > 1:
        raise PlanError("this plan uses pipeline parallelism; SGLang plans span nodes with TP (--tp) instead")
    if layout.attention == "dp":
        args += ["--dp", str(layout.tp), "--enable-dp-attention"]
    if layout.ep > 1:
        args += ["--ep-size", str(layout.ep)]
    args += ["--mem-fraction-static", f"{fraction:.2f}", "--context-length", str(max_len),
             "--max-running-requests", str(max_seqs)]  # fmt: skip
    args += _kv_flag(kv_dtype, "sglang")
    if eager:
        args += ["--disable-cuda-graph"]
    if spec.enabled:
        if spec.method == "ngram":
            args += ["--speculative-algorithm", "NGRAM", "--speculative-num-draft-tokens", str(spec.k)]
        else:
            algo = {"mtp": "EAGLE", "eagle": "EAGLE", "draft": "STANDALONE"}[spec.method]
            args += ["--speculative-algorithm", algo]
            if spec.method == "draft":
                args += ["--speculative-draft-model-path", model_path(spec.draft.name)]
            if spec.method == "eagle":
                args += ["--speculative-draft-model-path", "EAGLE_HEAD_PATH"]
            args += ["--speculative-num-steps", str(spec.k), "--speculative-eagle-topk", "1",
                     "--speculative-num-draft-tokens", str(spec.k + 1)]  # fmt: skip
    if nodes == 1:
        return [shlex.join(args)]
    out = []
    for rank in range(nodes):
        out.append(f"# node {rank}{' (its address is ' + HEAD + ')' if rank == 0 else ''}:")
        node = ["--nnodes", str(nodes), "--node-rank", str(rank), "--dist-init-addr", f"{HEAD}:5000"]
        out.append(shlex.join([*args, *node]))
    return out


def sglang_disagg_commands(model: str, prefill: Layout, decode: Layout, prefill_instances: int,
                           decode_instances: int, transfer: str = "nixl") -> list[str]:  # fmt: skip
    """SGLang prefill/decode disaggregation (docs.sglang.ai, PD disaggregation; SGLang 0.5): prefill and decode
    servers with --disaggregation-mode and a transfer backend (mooncake | nixl), joined by sglang_router."""
    out, prefills, decodes = [], [], []
    for role, lay, count, urls, port in (("prefill", prefill, prefill_instances, prefills, 30000),
                                         ("decode", decode, decode_instances, decodes, 30100)):  # fmt: skip
        for i in range(count):
            host = f"{role.upper()}_{i}_IP"
            args = ["python", "-m", "sglang.launch_server", "--model-path", model_path(model), "--tp", str(lay.tp)]
            if lay.attention == "dp":
                args += ["--dp", str(lay.tp), "--enable-dp-attention"]
            if lay.ep > 1:
                args += ["--ep-size", str(lay.ep)]
            args += ["--disaggregation-mode", role, "--disaggregation-transfer-backend", transfer,
                     "--host", "0.0.0.0", "--port", str(port)]  # fmt: skip
            out += [f"# {role} instance {i} ({lay.gpus} GPUs; multi-node groups add --nnodes/--node-rank):",
                    shlex.join(args)]  # fmt: skip
            urls.append(f"http://{host}:{port}")
    router = ["python", "-m", "sglang_router.launch_router", "--pd-disaggregation"]
    for u in prefills:
        router += ["--prefill", u]
    for u in decodes:
        router += ["--decode", u]
    return [*out, "# the router, which clients call:", shlex.join([*router, "--host", "0.0.0.0", "--port", "8000"])]


def trtllm_extra_options(layout: Layout, spec: Speculative) -> dict:
    """TensorRT-LLM's spelling of a layout (LLM API / trtllm-serve --extra_llm_api_options YAML, 1.x):
    tensor_parallel_size, enable_attention_dp, moe_expert_parallel_size; MTP as speculative_config."""
    opts: dict = {"tensor_parallel_size": layout.tp, "moe_expert_parallel_size": layout.ep,
                  "enable_attention_dp": layout.attention == "dp"}  # fmt: skip
    if spec.method == "mtp":
        opts["speculative_config"] = {"decoding_type": "MTP", "num_nextn_predict_layers": spec.k}
    return opts


def llamacpp_commands(model: str, layout: Layout, spec: Speculative, precision: str, max_len: int, max_seqs: int,
                      offload_experts: bool) -> list[str]:  # fmt: skip
    gguf = f"{canonical(model)}-{precision.upper()}.gguf"
    args = ["llama-server", "-m", gguf, "-c", str(max_len * max_seqs), "-np", str(max_seqs), "-ngl", "99"]
    if layout.gpus > 1:
        args += ["--split-mode", "layer"]
    if offload_experts:
        args += ["-ot", "exps=CPU"]
    if spec.method == "draft":
        args += ["--model-draft", f"{canonical(spec.draft.name)}-{precision.upper()}.gguf", "-ngld", "99",
                 "--draft-max", str(spec.k), "--draft-min", "0"]  # fmt: skip
    elif spec.enabled:
        raise PlanError(f"llama-server ({VERSIONS['llamacpp']}) drafts only with a draft model, not {spec.method!r}")
    return [shlex.join(args)]


def commands(engine: str, model: str, layout: Layout, nodes: int, spec: Speculative, precision: str, kv_dtype: str,
             max_len: int, max_seqs: int, fraction: float, offload_experts: bool = False,
             eager: bool = False) -> list[str]:  # fmt: skip
    """The command lines (and comments) that start `engine` for this plan."""
    if engine == "vllm":
        return vllm_commands(model, layout, nodes, spec, kv_dtype, max_len, max_seqs, fraction, eager)
    if engine == "sglang":
        return sglang_commands(model, layout, nodes, spec, kv_dtype, max_len, max_seqs, fraction, eager)
    if engine == "llamacpp":
        return llamacpp_commands(model, layout, spec, precision, max_len, max_seqs, offload_experts)
    raise PlanError(f"no launch commands for engine {engine!r}; specsize emits them for {', '.join(VERSIONS)}")


def plan_commands(p, model: str, offload_experts: bool = False) -> dict | None:
    """The commands for a plan's chosen option (the first GPU type asked for that fits), or None when the
    engine has no command syntax here. A plan the engine cannot express gives a comment, not an error."""
    if p.engine not in VERSIONS or p.chosen is None:
        return None
    g = p.chosen
    o = g.recommended
    from specsize.engines import get_engine

    fraction = get_engine(p.engine).memory_fraction(o.layout.tp)
    # servers admit as many requests as the KV budget holds; a local llama-server gets the asked concurrency
    max_seqs = (
        p.workload.concurrency
        if p.engine == "llamacpp"
        else max(p.workload.concurrency, min(o.memory.max_concurrency, 1024))
    )
    try:
        lines = commands(p.engine, model, o.layout, o.nodes, p.spec, p.precision, p.kv_dtype, p.workload.context,
                         max_seqs, fraction, offload_experts, eager=not p.cuda_graphs)  # fmt: skip
    except PlanError as e:
        lines = [f"# {e}"]
    return {"engine": p.engine, "version": VERSIONS[p.engine], "plan": f"{g.gpu} x {o.layout.gpus} "
            f"({o.layout.describe()})", "lines": lines}  # fmt: skip
