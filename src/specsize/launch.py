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
  expert offload, --model-draft / -ngld / --draft-max / --draft-min for a draft model; -hf / -hfd ORG/NAME:QUANT
  fetch a GGUF quant (all its shards) from a Hugging Face repository (llama.cpp common/arg.cpp), as the GGUF
  repositories' own model pages show (e.g. `llama-server -hf unsloth/DeepSeek-R1-GGUF:Q4_K_M`).
- ik_llama.cpp's llama-server (8337e4cd, 2026-08-15; common/common.cpp): llama.cpp's flags above without -hf (a
  huggingface-cli download, then -m), its MLA cache, flash attention and fused MoE on by default, and -rtr (the
  weights kept in RAM repacked for its CPU kernels) wherever weights stay in RAM.

Every command loads the checkpoint its plan is for: the public checkpoint of that model in that precision
(checkpoints.py, each with its source) and the flags it needs (--quantization); where none is public, a
comment says so and how to make one, and the command points at the local directory that would hold it.
"""

from __future__ import annotations

import json
import shlex

from specsize import catalog
from specsize.checkpoints import (
    GGUF_PRECISIONS,
    checkpoint,
    local_dir,
    missing,
    online_fp8_flags,
    online_fp8_source,
)
from specsize.engines import get_engine, is_llamacpp
from specsize.errors import PlanError
from specsize.hardware import get_gpu
from specsize.scenario import Layout, Speculative

# the engines with launch commands
VERSIONS = {e: get_engine(e).release for e in ("vllm", "sglang", "trtllm", "llamacpp", "ik_llamacpp")}
HEAD = "HEAD_NODE_IP"  # placeholder the user replaces
# what trtllm-serve loads as published: unquantised, DeepSeek's block-scaled FP8, ModelOpt's FP8 and NVFP4
# (TensorRT-LLM's DeepSeek-R1 deployment guide: nvidia/DeepSeek-R1-FP4 and the FP8 checkpoint)
TRTLLM_PRECISIONS = ("bf16", "fp16", "fp8", "nvfp4")


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


def _short_source(source: str) -> str:
    """The first clause of a catalog source: where to look (the catalog and --json keep the whole of it)."""
    for sep in (" (", ";", ", '"):
        source = source.split(sep)[0]
    return source


def weights(engine: str, model: str, precision: str) -> tuple[str, list[str], list[str]]:
    """What a vLLM / SGLang / TensorRT-LLM command loads for `model` in `precision`: (path or repo, engine flags,
    comment lines).
    A precision the engine cannot serve raises PlanError (the plan shows it as a comment)."""
    if precision in GGUF_PRECISIONS:
        raise PlanError(f"{VERSIONS[engine]} serves safetensors checkpoints; GGUF {precision.upper()} is for llama.cpp "
                        "(--engine llamacpp)")  # fmt: skip
    if engine == "trtllm" and precision not in TRTLLM_PRECISIONS:
        raise PlanError(f"TensorRT-LLM loads BF16, FP8 and NVFP4 checkpoints (DeepSeek's, NVIDIA's ModelOpt), not "
                        f"{precision}: plan with --engine sglang or vllm")  # fmt: skip
    if catalog.find_model(model) is None:
        return model, [], []  # a local directory or a repository the user names: their own checkpoint
    ck = checkpoint(model, precision)
    if ck is not None and not ck.is_gguf:
        if engine in ck.unsupported:
            raise PlanError(ck.unsupported[engine])
        note = f"# weights: {ck.repo} ({precision}), from {_short_source(ck.source)}"
        return str(ck.repo), list(ck.flags.get(engine, [])), [note]
    bf16 = checkpoint(model, "bf16")
    if precision == "fp8" and bf16 is not None and engine == "trtllm":
        raise PlanError(f"no public FP8 checkpoint of {canonical(model)}, and TensorRT-LLM does not quantize at load: "
                        "make one with TensorRT Model Optimizer (FP8), or plan with --weights bf16")  # fmt: skip
    if precision == "fp8" and bf16 is not None:
        note = (f"# weights: no public FP8 checkpoint of {canonical(model)}; {bf16.repo} (BF16) quantized to FP8 at "
                f"load ({_short_source(online_fp8_source())})")  # fmt: skip
        return str(bf16.repo), online_fp8_flags(), [note]
    local = local_dir(model, precision)
    return local, [], [f"# weights: {missing(model, precision)}; then point the command at {local}"]


def draft_precision_name(precision: str, draft) -> str:
    """The precision a draft model runs in next to a target in `precision` (drafters.draft_precision's rule)."""
    from specsize.drafters import draft_precision
    from specsize.quant import get_precision

    return draft_precision(get_precision(precision), draft).name


def _draft_tp(spec: Speculative, layout: Layout) -> int:
    """The draft's TP the plan sized and timed (drafters.draft_layout)."""
    from specsize.drafters import draft_layout

    return draft_layout(spec, layout).tp


def _draft_path(engine: str, draft: str, precision: str) -> str:
    try:
        path, _, _ = weights(engine, draft, precision)
    except PlanError:
        path = model_path(draft)
    return path if not path.startswith("./") else model_path(draft)


def _kv_flag(kv_dtype: str, engine: str) -> list[str]:
    if kv_dtype != "fp8":
        return []
    return ["--kv-cache-dtype", "fp8_e4m3" if engine == "sglang" else "fp8"]


def vllm_commands(model: str, layout: Layout, nodes: int, spec: Speculative, kv_dtype: str, max_len: int,
                  max_seqs: int, fraction: float, eager: bool = False,
                  precision: str = "fp8") -> list[str]:  # fmt: skip
    path, qflags, notes = weights("vllm", model, precision)
    if layout.attention == "dp":  # vLLM's attention-DP + EP: TP 1, one DP rank per GPU, experts over all of them
        args = ["vllm", "serve", path, *qflags, "--tensor-parallel-size", "1",
                "--data-parallel-size", str(layout.tp * layout.dp), "--enable-expert-parallel"]  # fmt: skip
    else:
        args = ["vllm", "serve", path, *qflags, "--tensor-parallel-size", str(layout.tp)]
    if layout.pp > 1:
        args += ["--pipeline-parallel-size", str(layout.pp)]
    if layout.dp > 1 and layout.attention != "dp":
        args += ["--data-parallel-size", str(layout.dp)]
    if layout.ep > 1 and layout.attention != "dp":
        args += ["--enable-expert-parallel"]
    # --max-num-seqs applies per DP rank (vLLM docs, serving/data_parallel_deployment.md)
    per_rank = -(-max_seqs // layout.attn_dp)
    args += ["--max-model-len", str(max_len), "--gpu-memory-utilization", f"{fraction:.2f}",
             "--max-num-seqs", str(per_rank)]  # fmt: skip
    args += _kv_flag(kv_dtype, "vllm")
    if eager:
        args += ["--enforce-eager"]
    if spec.enabled:
        cfg: dict = {"method": {"mtp": "mtp", "draft": "draft_model", "ngram": "ngram", "eagle": "eagle"}[spec.method]}
        if spec.method == "draft":
            cfg["model"] = _draft_path("vllm", spec.draft.name, draft_precision_name(precision, spec.draft))
            cfg["draft_tensor_parallel_size"] = _draft_tp(spec, layout)
        if spec.method == "eagle":
            cfg["model"] = "EAGLE_HEAD_PATH"
        cfg["num_speculative_tokens"] = spec.k
        if spec.method == "ngram":
            cfg.update(prompt_lookup_min=2, prompt_lookup_max=5)
        args += ["--speculative-config", json.dumps(cfg)]
    if nodes == 1:
        return [*notes, shlex.join(args)]
    if spec.enabled and layout.pp > 1:
        raise PlanError("vLLM cannot combine pipeline parallelism with speculative decoding; plan with TP across nodes")
    if layout.attention == "dp":  # one vllm serve per node, the API server on the head (data_parallel_deployment.md)
        local = layout.gpus // nodes
        dp = ["--data-parallel-size-local", str(local), "--data-parallel-address", HEAD,
              "--data-parallel-rpc-port", "13345"]  # fmt: skip
        lines = [*notes, "# on the head node (its address is HEAD_NODE_IP):", shlex.join([*args, *dp])]
        for i in range(1, nodes):
            lines += [f"# node {i}:",
                      shlex.join([*args, "--headless", *dp, "--data-parallel-start-rank", str(i * local)])]  # fmt: skip
        return lines
    return [
        *notes,
        "# on the head node:",
        "ray start --head --port=6379",
        f"# on each of the other {nodes - 1} node(s):",
        f"ray start --address={HEAD}:6379",
        "# then, on the head node:",
        shlex.join([*args, "--distributed-executor-backend", "ray"]),
    ]


def sglang_dp_flags(group: int) -> list[str]:
    """SGLang's attention DP over `group` GPUs as its DP recipes run it: the dense MLP / shared experts and the
    head whole on every rank (--moe-dense-tp-size 1 --enable-dp-lm-head; NVIDIA/srt-slurm's R1 recipes, InferenceX's
    MoRI and Dynamo scripts), which is what sharding.py counts."""
    return ["--dp", str(group), "--enable-dp-attention", "--moe-dense-tp-size", "1", "--enable-dp-lm-head"]


def sglang_commands(model: str, layout: Layout, nodes: int, spec: Speculative, kv_dtype: str, max_len: int,
                    max_seqs: int, fraction: float, eager: bool = False,
                    precision: str = "fp8") -> list[str]:  # fmt: skip
    path, qflags, notes = weights("sglang", model, precision)
    args = ["python", "-m", "sglang.launch_server", "--model-path", path, *qflags, "--tp", str(layout.tp)]
    if layout.pp > 1:
        raise PlanError("this plan uses pipeline parallelism; SGLang plans span nodes with TP (--tp) instead")
    if layout.attention == "dp":
        args += sglang_dp_flags(layout.tp)
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
                dprec = draft_precision_name(precision, spec.draft)
                args += ["--speculative-draft-model-path", _draft_path("sglang", spec.draft.name, dprec)]
            if spec.method == "eagle":
                args += ["--speculative-draft-model-path", "EAGLE_HEAD_PATH"]
            args += ["--speculative-num-steps", str(spec.k), "--speculative-eagle-topk", "1",
                     "--speculative-num-draft-tokens", str(spec.k + 1)]  # fmt: skip
    if nodes == 1:
        return [*notes, shlex.join(args)]
    out = list(notes)
    for rank in range(nodes):
        out.append(f"# node {rank}{' (its address is ' + HEAD + ')' if rank == 0 else ''}:")
        node = ["--nnodes", str(nodes), "--node-rank", str(rank), "--dist-init-addr", f"{HEAD}:5000"]
        out.append(shlex.join([*args, *node]))
    return out


def sglang_disagg_commands(model: str, prefill: Layout, decode: Layout, prefill_instances: int,
                           decode_instances: int, transfer: str = "nixl",
                           precision: str = "fp8") -> list[str]:  # fmt: skip
    """SGLang prefill/decode disaggregation (docs.sglang.ai, PD disaggregation; SGLang 0.5): prefill and decode
    servers with --disaggregation-mode and a transfer backend (mooncake | nixl), joined by sglang_router."""
    path, qflags, notes = weights("sglang", model, precision)
    out, prefills, decodes = list(notes), [], []
    for role, lay, count, urls, port in (("prefill", prefill, prefill_instances, prefills, 30000),
                                         ("decode", decode, decode_instances, decodes, 30100)):  # fmt: skip
        for i in range(count):
            host = f"{role.upper()}_{i}_IP"
            args = ["python", "-m", "sglang.launch_server", "--model-path", path, *qflags, "--tp", str(lay.tp)]
            if lay.attention == "dp":
                args += sglang_dp_flags(lay.tp)
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
    if layout.attention == "dp":  # the attention-DP balance the planner's TTFT assumes (EngineProfile)
        opts["attention_dp_config"] = {"enable_balance": True, "batching_wait_iters": 0,
                                       "timeout_iters": get_engine("trtllm").adp_balance_timeout_iters}  # fmt: skip
    if spec.method == "mtp":
        opts["speculative_config"] = {"decoding_type": "MTP", "num_nextn_predict_layers": spec.k}
    return opts


def trtllm_commands(model: str, layout: Layout, nodes: int, spec: Speculative, kv_dtype: str, max_len: int,
                    max_seqs: int, fraction: float, precision: str = "fp8") -> list[str]:  # fmt: skip
    """trtllm-serve (1.x, PyTorch backend) with the layout's options in its --extra_llm_api_options YAML
    (trtllm_extra_options: attention DP and its balance, MTP), written by a heredoc first; TensorRT-LLM's own
    DeepSeek-R1 example spells it so (examples/serve/deepseek_r1_reasoning_parser.sh, 1.0-1.2). Under attention DP
    max_batch_size is each rank's (NVIDIA/srt-slurm's recipes: "gen2_dep8_batch64" sets 64 on each of 8 ranks)."""
    if spec.enabled and spec.method != "mtp":
        raise PlanError(f"the TensorRT-LLM launch here drafts with MTP only, not {spec.method!r}")
    if layout.pp > 1:
        raise PlanError("the TensorRT-LLM launch here spans nodes with TP or attention DP + EP, not PP")
    path, qflags, notes = weights("trtllm", model, precision)
    opts = trtllm_extra_options(layout, spec)
    del opts["tensor_parallel_size"], opts["moe_expert_parallel_size"]  # the command's --tp_size / --ep_size
    if kv_dtype == "fp8":  # the YAML replaces the command line's kv_cache_config whole: the fraction goes with it
        opts["kv_cache_config"] = {"dtype": "fp8", "free_gpu_memory_fraction": round(fraction, 2)}
    yaml_lines = [f"{k}: {json.dumps(v)}" for k, v in opts.items()]  # JSON values are YAML flow values
    args = ["trtllm-serve", path, *qflags, "--backend", "pytorch", "--host", "0.0.0.0", "--port", "8000",
            "--tp_size", str(layout.tp), "--ep_size", str(layout.ep), "--pp_size", "1",
            "--max_batch_size", str(-(-max_seqs // layout.attn_dp)),  # per rank under attention DP
            "--max_num_tokens", str(get_engine("trtllm").prefill_chunk),
            "--max_seq_len", str(max_len), "--kv_cache_free_gpu_memory_fraction", f"{fraction:.2f}",
            "--extra_llm_api_options", "extra-llm-api-config.yml"]  # fmt: skip
    lines = [*notes, "cat > extra-llm-api-config.yml <<'EOF'", *yaml_lines, "EOF"]
    if nodes > 1:
        per_node = layout.gpus // nodes
        lines.append(f"# {nodes} nodes: one MPI job of {layout.gpus} ranks, e.g. under Slurm prefix the command with "
                     f"`srun -N {nodes} --ntasks-per-node {per_node} trtllm-llmapi-launch`")  # fmt: skip
    return [*lines, shlex.join(args)]


def gguf_source(model: str, precision: str, engine: str = "llamacpp") -> tuple[list[str], list[str]]:
    """llama.cpp's model arguments for `model` in GGUF `precision`: (-hf ORG/NAME:QUANT or -m FILE, comment lines).
    ik_llama.cpp has no -hf (its -hfr/-hff fetch one file, in builds with curl): the download, then -m."""
    if precision not in GGUF_PRECISIONS:
        raise PlanError(f"llama.cpp ({VERSIONS[engine]}) runs GGUF files, not {precision}: plan with --weights "
                        f"q4_k_m (or another GGUF type: {', '.join(GGUF_PRECISIONS)})")  # fmt: skip
    ck = checkpoint(model, precision)
    if ck is not None and ck.is_gguf:
        folder = ck.gguf_repo.split("/")[-1]
        if engine == "ik_llamacpp":
            one = "*" not in ck.gguf_include  # one file, else the shards of a folder
            shards = f"{folder}/{ck.gguf_include.rsplit('/', 1)[0]}" if "/" in ck.gguf_include else folder
            return ["-m", f"{folder}/{ck.gguf_include}" if one else f"{shards}/FIRST_SHARD.gguf"], [
                f"# weights: {ck.gguf_include} of {ck.gguf_repo}, from {_short_source(ck.source)}: huggingface-cli "
                f"download {ck.gguf_repo} --include '{ck.gguf_include}' --local-dir {folder}"
                + ("" if one else "; FIRST_SHARD.gguf is its first file (-00001-of-...)")]  # fmt: skip
        return ["-hf", ck.hf], [
            f"# weights: {ck.gguf_include} of {ck.gguf_repo}, from {_short_source(ck.source)}; -hf downloads every "
            f"shard (offline: huggingface-cli download {ck.gguf_repo} --include '{ck.gguf_include}' --local-dir "
            f"{folder}, then -m the first .gguf file instead of -hf)"]  # fmt: skip
    gguf = f"{canonical(model)}-{precision.upper()}.gguf"
    if catalog.find_model(model) is None:
        return ["-m", gguf], []
    return ["-m", gguf], [f"# weights: {missing(model, precision)}; then -m {gguf}"]


def llamacpp_commands(model: str, layout: Layout, spec: Speculative, precision: str, max_len: int, max_seqs: int,
                      offload_experts: bool, kv_dtype: str = "bf16", gpu_layers: int | None = None,
                      engine: str = "llamacpp") -> list[str]:  # fmt: skip
    """llama-server's command line, for llama.cpp or its fork ik_llama.cpp (the same binary name and flags; the
    fork's MLA latent cache with flash attention and its fused MoE are on by default at the pinned build, -mla 3,
    common/common.h of 8337e4cd, so the one flag of its own written here is -rtr: the weights kept in RAM repacked
    at load for its CPU kernels, which turns mmap off)."""
    src, notes = gguf_source(model, precision, engine)
    ngl = "99" if gpu_layers is None else str(gpu_layers)  # 99: every layer (gpu_layers.py: -ngl N splits)
    args = ["llama-server", *src, "-c", str(max_len * max_seqs), "-np", str(max_seqs), "-ngl", ngl]
    if layout.gpus > 1:
        args += ["--split-mode", "layer"]
    if offload_experts:
        args += ["-ot", "exps=CPU"]
    if engine == "ik_llamacpp":
        notes = [*notes, f"# {VERSIONS[engine]}: MLA (-mla 3), flash attention and the fused MoE are its defaults; its "
                 "CPU rate is fitted to a figure of f2fb15de (2025-03: -mla 2 -fa -fmoe -amb 2048 -rtr)"]  # fmt: skip
        if offload_experts or gpu_layers is not None:
            args += ["-rtr"]
    if kv_dtype == "fp8":
        # llama.cpp has no FP8 KV cache; q8_0 (8.5 bits per value) is its nearest type (tools/server/README.md -ctk)
        args += ["-ctk", "q8_0", "-ctv", "q8_0"]
        notes = [*notes, "# KV cache: llama.cpp has no FP8 type; -ctk/-ctv q8_0 (8.5 bits) is the nearest"]
    if spec.method == "draft":
        dsrc, dnotes = gguf_source(spec.draft.name, precision, engine)
        draft = ["-hfd", dsrc[1]] if dsrc[0] == "-hf" else ["--model-draft", dsrc[1]]
        args += [*draft, "-ngld", "99", "--draft-max", str(spec.k), "--draft-min", "0"]
        notes = [*notes, *dnotes]
    elif spec.enabled:
        raise PlanError(f"llama-server ({VERSIONS[engine]}) drafts only with a draft model, not {spec.method!r}")
    return [*notes, shlex.join(args)]


def commands(engine: str, model: str, layout: Layout, nodes: int, spec: Speculative, precision: str, kv_dtype: str,
             max_len: int, max_seqs: int, fraction: float, offload_experts: bool = False,
             eager: bool = False, gpu_layers: int | None = None) -> list[str]:  # fmt: skip
    """The command lines (and comments) that start `engine` for this plan."""
    if engine == "vllm":
        return vllm_commands(model, layout, nodes, spec, kv_dtype, max_len, max_seqs, fraction, eager, precision)
    if engine == "sglang":
        return sglang_commands(model, layout, nodes, spec, kv_dtype, max_len, max_seqs, fraction, eager, precision)
    if engine == "trtllm":
        return trtllm_commands(model, layout, nodes, spec, kv_dtype, max_len, max_seqs, fraction, precision)
    if is_llamacpp(engine):
        return llamacpp_commands(
            model, layout, spec, precision, max_len, max_seqs, offload_experts, kv_dtype, gpu_layers, engine
        )
    raise PlanError(f"no launch commands for engine {engine!r}; specsize emits them for {', '.join(VERSIONS)}")


def plan_commands(p, model: str, offload_experts: bool = False) -> dict | None:
    """The commands for a plan's chosen option (the first GPU type asked for that fits), or None when the
    engine has no command syntax here. A plan the engine cannot express gives a comment, not an error."""
    if p.engine not in VERSIONS or p.chosen is None:
        return None
    g = p.chosen
    o = g.recommended
    from specsize.engines import get_engine
    from specsize.plan import CURVE_LIMIT

    fraction = get_engine(p.engine).memory_fraction(o.layout.tp)
    # servers admit as many requests as the KV budget holds; a local llama-server gets the asked concurrency
    max_seqs = (
        p.workload.concurrency
        if get_engine(p.engine).llamacpp_split
        else max(p.workload.concurrency, min(o.memory.max_concurrency, CURVE_LIMIT))
    )
    try:
        if p.engine == "trtllm" and get_gpu(g.gpu).vendor != "nvidia":
            raise PlanError(f"TensorRT-LLM runs on NVIDIA GPUs only, not {g.gpu}: plan with --engine sglang or vllm")
        lines = commands(p.engine, model, o.layout, o.nodes, p.spec, p.precision, p.kv_dtype, p.workload.context,
                         max_seqs, fraction, offload_experts, eager=not p.cuda_graphs)  # fmt: skip
    except PlanError as e:
        lines = [f"# {e}"]
    ck, bf16 = checkpoint(model, p.precision), checkpoint(model, "bf16")
    if ck is not None:
        ck_json = {"repo": ck.hf, "precision": ck.precision, "gguf": ck.is_gguf, "source": ck.source}
    elif p.precision == "fp8" and bf16 is not None and not get_engine(p.engine).llamacpp_split:
        ck_json = {"repo": bf16.repo, "precision": "bf16", "gguf": False, "quantized_at_load": "fp8",
                   "source": f"{bf16.source}; {online_fp8_source()}"}  # fmt: skip
    else:
        ck_json = {"repo": None, "precision": p.precision, "missing": missing(model, p.precision)}
    return {"engine": p.engine, "version": VERSIONS[p.engine], "plan": f"{g.gpu} x {o.layout.gpus} "
            f"({o.layout.describe()})", "lines": lines, "checkpoint": ck_json}  # fmt: skip
