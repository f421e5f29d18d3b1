"""Launch commands: golden files (reviewed against each engine's documentation at the pinned version), and
every emitted command parsed with that engine's flags (a parser per engine built from its docs)."""

import argparse
import json
import os
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from specsize.cli import cli

GOLDEN = Path(__file__).parent / "golden" / "launch"
UPDATE = os.environ.get("SPECSIZE_UPDATE_GOLDEN") == "1"

IO_1K = ["--input", "1024", "--output", "1024"]
CASES = {
    "sglang_r1_h200_mtp1": ["plan", "--gpu", "h200"],
    "sglang_r1_h100_2nodes_mtp3": ["plan", "--gpu", "h100-sxm", "--spec", "mtp:3", "--concurrency", "8"],
    "sglang_r1_b200_fp8kv_dp_none": ["plan", "--gpu", "b200", "--spec", "none", "--kv-cache", "fp8"],
    "vllm_r1_h200_mtp1_fp8kv": ["plan", "--gpu", "h200", "--engine", "vllm", "--kv-cache", "fp8"],
    "vllm_r1_h100_2nodes_mtp1": ["plan", "--gpu", "h100-sxm", "--engine", "vllm"],
    "vllm_r1_h100_2nodes_pp": ["plan", "--gpu", "h100-sxm", "--engine", "vllm", "--spec", "none"],
    "vllm_qwen32b_draft": [
        "plan",
        "r1-distill-qwen-32b",
        "--gpu",
        "h100-sxm",
        "--engine",
        "vllm",
        "--spec",
        "draft:r1-distill-qwen-1.5b:4",
    ],
    "vllm_r1_h200_eager": ["plan", "--gpu", "h200", "--engine", "vllm", "--no-cuda-graphs"],
    # attention DP + EP where plan finds it serves the users faster: one node, and two (vLLM: one serve per node)
    "vllm_r1_h200_dep8_c128": ["plan", "--gpu", "h200", "--engine", "vllm", "--concurrency", "128", *IO_1K],
    "vllm_r1_h200_dep16_c512": ["plan", "--gpu", "h200", "--engine", "vllm", "--concurrency", "512", *IO_1K],
    "sglang_r1_h200_dep16_c512": ["plan", "--gpu", "h200", "--concurrency", "512", *IO_1K],
    # TensorRT-LLM's trtllm-serve and its --extra_llm_api_options YAML
    "trtllm_r1_h200_dep8_c512": [
        "plan",
        "--gpu",
        "h200",
        "--engine",
        "trtllm",
        "--kv-cache",
        "fp8",
        "--concurrency",
        "512",
        *IO_1K,
    ],
    "trtllm_r1_b200_nvfp4": ["plan", "--gpu", "b200", "--engine", "trtllm", "--weights", "nvfp4"],
    "trtllm_r1_h100_2nodes": ["plan", "--gpu", "h100-sxm", "--engine", "trtllm"],
    "sglang_r1_h200_eager": ["plan", "--gpu", "h200", "--no-cuda-graphs"],
    "vllm_qwen7b_ngram": ["plan", "r1-distill-qwen-7b", "--gpu", "l40s", "--engine", "vllm", "--spec", "ngram:4"],
    "sglang_qwen32b_standalone": [
        "plan",
        "r1-distill-qwen-32b",
        "--gpu",
        "h200",
        "--spec",
        "draft:r1-distill-qwen-1.5b:3",
    ],
    "llamacpp_qwen32b_draft_4090": [
        "plan",
        "r1-distill-qwen-32b",
        "--gpu",
        "rtx-4090",
        "--engine",
        "llamacpp",
        "--weights",
        "q4_k_m",
        "--spec",
        "draft:r1-distill-qwen-1.5b:8",
        "--context",
        "8192",
    ],
    "llamacpp_r1_q4_offload_4090": [
        "plan",
        "--gpu",
        "rtx-4090",
        "--engine",
        "llamacpp",
        "--weights",
        "q4_k_m",
        "--offload-experts",
        "--context",
        "8192",
    ],
    # ik_llama.cpp: the fork's own flags, local files (discussion #258's rig: an A6000 and a Threadripper PRO)
    "ik_llamacpp_r1_udq2kxl_offload_a6000": [
        "plan",
        "--gpu",
        "rtx-a6000",
        "--engine",
        "ik_llamacpp",
        "--weights",
        "ud-q2_k_xl",
        "--offload-experts",
        "--context",
        "8192",
    ],
    "ik_llamacpp_qwen7b_4090": [
        "plan",
        "r1-distill-qwen-7b",
        "--gpu",
        "rtx-4090",
        "--engine",
        "ik_llamacpp",
        "--weights",
        "q8_0",
        "--context",
        "8192",
    ],
}


def emitted(args):
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["commands"]


@pytest.mark.parametrize("name", CASES)
def test_golden(name):
    c = emitted(CASES[name])
    text = f"# {c['version']}: {c['plan']}\n" + "\n".join(c["lines"]) + "\n"
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


# --- each engine's flags, as documented for the pinned version ----------------------------------------------------


def vllm_parser():
    # docs.vllm.ai/en/v0.11.0: serve arguments; vllm/config/speculative.py SpeculativeMethod
    p = argparse.ArgumentParser(prog="vllm", exit_on_error=False)
    p.add_argument("serve", choices=["serve"])
    p.add_argument("model")
    for f in ("--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size", "--max-model-len",
              "--max-num-seqs"):  # fmt: skip
        p.add_argument(f, type=int)
    p.add_argument("--enable-expert-parallel", action="store_true")
    p.add_argument("--enforce-eager", action="store_true")
    p.add_argument("--gpu-memory-utilization", type=float)
    p.add_argument("--kv-cache-dtype", choices=["auto", "fp8", "fp8_e4m3", "fp8_e5m2"])
    # vllm/model_executor/layers/quantization/__init__.py QuantizationMethods (a subset)
    p.add_argument("--quantization", choices=["fp8", "modelopt_fp4", "moe_wna16", "awq_marlin", "awq", "gptq_marlin",
                                              "compressed-tensors", "experts_int8"])  # fmt: skip
    p.add_argument("--speculative-config", type=json.loads)
    p.add_argument("--distributed-executor-backend", choices=["ray", "mp", "uni", "external_launcher"])
    # serving/data_parallel_deployment.md: one `vllm serve` per node, the others --headless
    for f in ("--data-parallel-size-local", "--data-parallel-rpc-port", "--data-parallel-start-rank"):
        p.add_argument(f, type=int)
    p.add_argument("--data-parallel-address")
    p.add_argument("--headless", action="store_true")
    return p


VLLM_SPEC_KEYS = {"method", "model", "num_speculative_tokens", "draft_tensor_parallel_size", "prompt_lookup_min",
                  "prompt_lookup_max"}  # fmt: skip
VLLM_METHODS = {"ngram", "eagle", "eagle3", "medusa", "mlp_speculator", "draft_model", "deepseek_mtp", "mtp"}


def sglang_parser():
    # SGLang 0.5 server arguments (docs.sglang.ai/advanced_features/server_arguments.html)
    p = argparse.ArgumentParser(prog="sglang", exit_on_error=False)
    p.add_argument("-m", choices=["sglang.launch_server"])
    p.add_argument("--model-path", required=True)
    for f in ("--tp", "--dp", "--ep-size", "--context-length", "--max-running-requests", "--speculative-num-steps",
              "--speculative-eagle-topk", "--speculative-num-draft-tokens", "--nnodes", "--node-rank"):  # fmt: skip
        p.add_argument(f, type=int)
    p.add_argument("--enable-dp-attention", action="store_true")
    p.add_argument("--moe-dense-tp-size", type=int)
    p.add_argument("--enable-dp-lm-head", action="store_true")
    p.add_argument("--disable-cuda-graph", action="store_true")
    p.add_argument("--mem-fraction-static", type=float)
    p.add_argument("--kv-cache-dtype", choices=["auto", "fp8_e5m2", "fp8_e4m3"])
    # sglang server_args.py --quantization choices (a subset)
    p.add_argument("--quantization", choices=["fp8", "modelopt_fp4", "moe_wna16", "awq_marlin", "w8a8_int8",
                                              "w8a8_fp8", "gptq_marlin"])  # fmt: skip
    p.add_argument("--speculative-algorithm", choices=["EAGLE", "EAGLE3", "NEXTN", "STANDALONE", "NGRAM"])
    p.add_argument("--speculative-draft-model-path")
    p.add_argument("--dist-init-addr")
    return p


def llamacpp_parser():
    # llama.cpp tools/server/README.md (b6000)
    p = argparse.ArgumentParser(prog="llama-server", exit_on_error=False)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-m", "--model")
    src.add_argument("-hf", "-hfr", "--hf-repo")  # <user>/<model>[:quant] (common/arg.cpp)
    for f in ("-c", "-np", "-ngl", "-ngld", "--draft-max", "--draft-min"):
        p.add_argument(f, type=int)
    p.add_argument("--split-mode", choices=["none", "layer", "row"])
    p.add_argument("-ot", "--override-tensor")
    draft = p.add_mutually_exclusive_group()
    draft.add_argument("--model-draft", "-md")
    draft.add_argument("-hfd", "-hfrd", "--hf-repo-draft")
    cache_types = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"]
    p.add_argument("-ctk", "--cache-type-k", choices=cache_types)
    p.add_argument("-ctv", "--cache-type-v", choices=cache_types)
    return p


def ik_llamacpp_parser():
    # ik_llama.cpp common/common.cpp (8337e4cd, 2026-08-15): llama.cpp's server flags (no -hf) and its own; -fa takes
    # a value there (on|off|auto, PR #944) and -fmoe is gone (on by default, -no-fmoe, PR #863)
    p = llamacpp_parser()
    p.add_argument("-mla", "--mla-use", type=int, choices=[0, 1, 2, 3])
    p.add_argument("-fa", "--flash-attn", choices=["on", "off", "auto", "1", "0"])
    p.add_argument("-no-fmoe", "--no-fused-moe", action="store_true")
    p.add_argument("-rtr", "--run-time-repack", action="store_true")
    return p


def trtllm_parser():
    # TensorRT-LLM 1.x trtllm-serve (docs: commands/trtllm-serve; examples/serve/deepseek_r1_reasoning_parser.sh)
    p = argparse.ArgumentParser(prog="trtllm-serve", exit_on_error=False)
    p.add_argument("model")
    p.add_argument("--backend", choices=["pytorch", "tensorrt", "_autodeploy"])
    p.add_argument("--host")
    for f in ("--port", "--tp_size", "--ep_size", "--pp_size", "--max_batch_size", "--max_num_tokens",
              "--max_seq_len"):  # fmt: skip
        p.add_argument(f, type=int)
    p.add_argument("--kv_cache_free_gpu_memory_fraction", type=float)
    p.add_argument("--extra_llm_api_options")
    return p


# the LLM API options the YAML may set (tensorrt_llm/llmapi/llm_args.py, 1.x): the ones launch.py writes
TRTLLM_YAML_KEYS = {"enable_attention_dp", "attention_dp_config", "speculative_config", "kv_cache_config"}


def trtllm_yaml(lines):
    """The YAML a heredoc writes (`cat > FILE <<'EOF'` ... `EOF`): each line `key: <JSON flow value>`."""
    start = next(i for i, x in enumerate(lines) if x.startswith("cat > ") and x.endswith("<<'EOF'"))
    end = lines.index("EOF", start)
    return {k: json.loads(v) for k, v in (x.split(": ", 1) for x in lines[start + 1 : end])}


def commands_of(lines):
    out, heredoc = [], False
    for x in lines:
        if x.startswith("cat > ") and x.endswith("<<'EOF'"):
            heredoc = True
        elif heredoc:
            heredoc = x != "EOF"
        elif x and not x.startswith("#") and not x.startswith("ray start"):
            out.append(shlex.split(x))
    return out


@pytest.mark.parametrize("name", CASES)
def test_emitted_commands_parse_as_the_engine_flags(name):
    c = emitted(CASES[name])
    for argv in commands_of(c["lines"]):
        if argv[0] == "vllm":
            ns = vllm_parser().parse_args(argv[1:])
            if ns.speculative_config:
                assert set(ns.speculative_config) <= VLLM_SPEC_KEYS
                assert ns.speculative_config["method"] in VLLM_METHODS
        elif argv[0] == "python":
            ns = sglang_parser().parse_args(argv[1:])
            trio = [ns.speculative_num_steps, ns.speculative_eagle_topk, ns.speculative_num_draft_tokens]
            if ns.speculative_algorithm in ("EAGLE", "EAGLE3", "STANDALONE"):
                assert None not in trio  # SGLang: set all three or none
                assert ns.speculative_num_draft_tokens == ns.speculative_num_steps + 1  # chain: topk 1
        elif argv[0] == "trtllm-serve":
            ns = trtllm_parser().parse_args(argv[1:])
            opts = trtllm_yaml(c["lines"])
            assert set(opts) <= TRTLLM_YAML_KEYS and ns.extra_llm_api_options == "extra-llm-api-config.yml"
            assert opts["enable_attention_dp"] == ("DP-attention" in c["plan"])
        else:
            assert argv[0] == "llama-server"
            ik = c["version"].startswith("ik_llama.cpp")
            ns = (ik_llamacpp_parser() if ik else llamacpp_parser()).parse_args(argv[1:])
            assert not ik or (ns.model and not ns.hf_repo)  # ik_llama.cpp: no -hf REPO:QUANT


def test_multi_node_commands_name_every_node():
    sg = emitted(CASES["sglang_r1_h100_2nodes_mtp3"])["lines"]
    assert sum("--node-rank" in x for x in sg) == 2 and all("--nnodes 2" in x for x in sg if "sglang" in x)
    vl = emitted(CASES["vllm_r1_h100_2nodes_mtp1"])["lines"]
    assert any(x.startswith("ray start --head") for x in vl)
    assert "--tensor-parallel-size 16" in vl[-1]  # vLLM cannot pipeline with speculation: TP spans the nodes
    pp = emitted(CASES["vllm_r1_h100_2nodes_pp"])["lines"]
    assert "--pipeline-parallel-size 2" in pp[-1] and "--tensor-parallel-size 8" in pp[-1]


def test_attention_dp_commands_size_each_rank_and_name_every_node():
    """Under attention DP vLLM's --max-num-seqs and TensorRT-LLM's max_batch_size are each rank's (vLLM's
    data_parallel_deployment.md; NVIDIA/srt-slurm's "dep8_batch64" recipes), SGLang's --max-running-requests the
    server's (it divides it over the DP ranks); vLLM runs one `vllm serve` per node, the others headless."""
    vl = emitted(CASES["vllm_r1_h200_dep16_c512"])
    serves = [argv for argv in commands_of(vl["lines"]) if argv[0] == "vllm"]
    ns = [vllm_parser().parse_args(a[1:]) for a in serves]
    assert [(n.headless, n.data_parallel_start_rank, n.data_parallel_size_local) for n in ns] == [
        (False, None, 8), (True, 8, 8)]  # fmt: skip
    assert all(n.data_parallel_size == 16 and n.tensor_parallel_size == 1 and n.enable_expert_parallel for n in ns)
    assert ns[0].max_num_seqs == 1024 // 16  # the plan admits 1,024 (CURVE_LIMIT) over 16 ranks
    sg = commands_of(emitted(CASES["sglang_r1_h200_dep16_c512"])["lines"])
    assert {sglang_parser().parse_args(a[1:]).max_running_requests for a in sg} == {1024}
    tr = emitted(CASES["trtllm_r1_h200_dep8_c512"])
    (argv,) = commands_of(tr["lines"])
    ns = trtllm_parser().parse_args(argv[1:])
    assert (ns.tp_size, ns.ep_size, ns.max_batch_size) == (8, 8, 1024 // 8)
    assert trtllm_yaml(tr["lines"]) == {
        "enable_attention_dp": True,
        "attention_dp_config": {"enable_balance": True, "batching_wait_iters": 0, "timeout_iters": 60},
        "speculative_config": {"decoding_type": "MTP", "num_nextn_predict_layers": 1},
        "kv_cache_config": {"dtype": "fp8", "free_gpu_memory_fraction": 0.9},  # the YAML replaces it whole
    }
    two = emitted(CASES["trtllm_r1_h100_2nodes"])["lines"]
    assert any("srun -N 2 --ntasks-per-node 8 trtllm-llmapi-launch" in x for x in two)


def test_trtllm_does_not_quantize_at_load_so_a_bf16_only_model_in_fp8_is_a_comment():
    c = emitted(["plan", "r1-distill-qwen-7b", "--gpu", "l40s", "--engine", "trtllm", "--weights", "fp8"])
    assert commands_of(c["lines"]) == [] and "TensorRT Model Optimizer" in c["lines"][0]


def test_a_method_the_engine_cannot_express_is_a_comment_not_a_crash():
    c = emitted(["plan", "r1-distill-qwen-7b", "--gpu", "rtx-4090", "--engine", "llamacpp", "--spec", "ngram:4",
                 "--weights", "q4_k_m", "--context", "4096"])  # fmt: skip
    assert c["lines"][0].startswith("# llama-server") and "draft model" in c["lines"][0]


# --- the checkpoint each command loads matches the plan's precision -----------------------------------------------

# What a repository name must contain for each precision: read off the publishers' naming (DeepSeek's own FP8
# repositories carry no suffix; NVIDIA's -FP4, the AWQ repositories -AWQ/-awq, Meituan's -INT8, GGUF quant tags).
NAME_MARK = {"nvfp4": "FP4", "awq-int4": "AWQ", "int8": "INT8", "gptq-int4": "W4A16"}
GRID = [
    (model, weights, engine, gpu)
    for model, weights, gpu in [
        ("deepseek-r1", "fp8", "h200"),
        ("deepseek-r1", "nvfp4", "b200"),
        ("deepseek-r1", "awq-int4", "h100-sxm"),
        ("deepseek-r1", "int8", "a100-80gb"),
        ("deepseek-r1", "bf16", "h200"),
        ("deepseek-r1-0528", "nvfp4", "b200"),
        ("r1-distill-qwen-32b", "bf16", "h100-sxm"),
        ("r1-distill-qwen-32b", "awq-int4", "l40s"),
        ("r1-distill-qwen-14b", "gptq-int4", "l40s"),
        ("r1-distill-qwen-7b", "fp8", "l40s"),
    ]
    for engine in ("vllm", "sglang")
] + [
    (model, weights, "llamacpp", gpu)
    for model, weights, gpu in [
        ("deepseek-r1", "ud-iq1_s", "h100-sxm"),
        ("deepseek-r1", "q4_k_m", "h200"),
        ("deepseek-r1", "ud-q2_k_xl", "h200"),
        ("r1-distill-qwen-32b", "q4_k_m", "rtx-4090"),
        ("r1-distill-llama-8b", "q8_0", "rtx-4090"),
        ("r1-distill-qwen-1.5b", "q2_k", "rtx-3060"),
    ]
]


def _loaded(argv):
    """The checkpoint an emitted command loads: vLLM's positional model, SGLang's --model-path, llama.cpp's -hf/-m."""
    if argv[0] == "vllm":
        ns = vllm_parser().parse_args(argv[1:])
        return ns.model, ns.quantization
    if argv[0] == "python":
        ns = sglang_parser().parse_args(argv[1:])
        return ns.model_path, ns.quantization
    ns = llamacpp_parser().parse_args(argv[1:])
    return ns.hf_repo or ns.model, None


@pytest.mark.parametrize(("model", "weights", "engine", "gpu"), GRID)
def test_the_command_loads_the_checkpoint_of_the_plans_precision(model, weights, engine, gpu):
    args = ["plan", model, "--weights", weights, "--engine", engine, "--gpu", gpu, "--context", "8192"]
    if engine == "llamacpp":
        args += ["--spec", "none"]
    c = emitted(args)
    cmds = commands_of(c["lines"])
    if weights == "int8" and engine == "vllm":  # vLLM cannot run INT8 MoE: said in a comment, no command
        assert cmds == [] and "INT8" in c["lines"][0] and "--engine sglang" in c["lines"][0]
        return
    assert cmds, c["lines"]
    for argv in cmds:
        path, quant = _loaded(argv)
        ck = c["checkpoint"]
        if ck["repo"] is None:  # no public checkpoint: the comment says how to make one, the command a local dir
            assert path.startswith("./") and weights.upper() in path and "make one" in " ".join(c["lines"])
            continue
        if weights in NAME_MARK:
            assert NAME_MARK[weights] in path.upper().replace("-", ""), path
        elif engine == "llamacpp":
            assert path.endswith(":" + weights.upper()), path  # the GGUF quant tag is the precision
        if weights == "fp8" and "distill" in model:  # BF16 distill quantized at load
            assert quant == "fp8" and path.startswith("deepseek-ai/")
        if weights == "fp8" and "distill" not in model:
            # already FP8: no quantization flag (SGLang docs: "should not run it with any quantization arguments")
            assert path == "deepseek-ai/DeepSeek-R1" and quant is None
        if weights in ("nvfp4",):
            assert quant == "modelopt_fp4"
        if weights == "awq-int4" and "distill" not in model:
            assert quant == "moe_wna16"
        if weights == "int8":
            assert quant == "w8a8_int8"


def test_every_catalog_checkpoint_is_sourced_and_its_precision_known():
    from specsize.checkpoints import all_checkpoints
    from specsize.quant import PRECISIONS
    from specsize.resolve import load_model

    for ck in all_checkpoints():
        assert ck.precision in PRECISIONS and ck.source
        load_model(ck.model)  # the model is in the catalog
        assert (ck.repo is None) != (ck.gguf_repo is None)


def test_a_gguf_precision_on_vllm_and_a_safetensors_one_on_llamacpp_are_comments_that_say_what_to_do():
    c = emitted(["plan", "--weights", "q4_k_m", "--engine", "vllm", "--gpu", "h200", "--context", "8192"])
    assert c["lines"][0].startswith("#") and "--engine llamacpp" in c["lines"][0]
    c = emitted(["plan", "--weights", "fp8", "--engine", "llamacpp", "--gpu", "h200", "--spec", "none",
                 "--context", "8192"])  # fmt: skip
    assert c["lines"][0].startswith("#") and "--weights q4_k_m" in c["lines"][0]


def test_attention_dp_with_ep_in_each_engines_spelling():
    from specsize.launch import sglang_disagg_commands, trtllm_extra_options, vllm_commands
    from specsize.scenario import Layout, Speculative

    lay = Layout(tp=1, dp=8, ep=8)  # vLLM's own spelling, normalised
    assert lay == Layout(tp=8, ep=8, attention="dp")
    *_, v = vllm_commands("deepseek-r1", lay, 1, Speculative(), "bf16", 4096, 64, 0.9)  # comments, then the command
    assert "--tensor-parallel-size 1 --data-parallel-size 8 --enable-expert-parallel" in v
    assert trtllm_extra_options(lay, Speculative("mtp", 1)) == {
        "tensor_parallel_size": 8, "moe_expert_parallel_size": 8, "enable_attention_dp": True,
        "attention_dp_config": {"enable_balance": True, "batching_wait_iters": 0, "timeout_iters": 60},
        "speculative_config": {"decoding_type": "MTP", "num_nextn_predict_layers": 1}}  # fmt: skip
    assert "attention_dp_config" not in trtllm_extra_options(Layout(tp=8, ep=8), Speculative())
    lines = sglang_disagg_commands("deepseek-r1", Layout(tp=8, ep=8), lay, 2, 1)
    assert sum("--disaggregation-mode prefill" in x for x in lines) == 2
    assert any("--disaggregation-mode decode" in x and "--enable-dp-attention --moe-dense-tp-size 1 --enable-dp-lm-head"
               in x for x in lines)  # fmt: skip
    assert "--prefill http://PREFILL_1_IP:30000 --decode http://DECODE_0_IP:30100" in lines[-1]


def test_one_record_per_engine_holds_the_version_the_launch_commands_name():
    """engines.py's record is the one place of an engine's version (launch.py reads it) and of SGLang's memory
    fraction by TP size (a field, not a special case by name): 0.81 at TP8, 0.79 at TP16 (SGLang server_args.py)."""
    from specsize.engines import get_engine
    from specsize.launch import VERSIONS

    assert VERSIONS == {
        "vllm": "vLLM 0.11",
        "sglang": "SGLang 0.5",
        "trtllm": "TensorRT-LLM 1.2",
        "llamacpp": "llama.cpp b6000",
        "ik_llamacpp": "ik_llama.cpp 8337e4cd",
    }
    assert all(VERSIONS[e] == get_engine(e).release for e in VERSIONS)
    sglang = get_engine("sglang")
    assert (sglang.memory_fraction(8), sglang.memory_fraction(16)) == (0.81, 0.79)
    assert get_engine("vllm").memory_fraction(16) == 0.90 and sglang.perf.name == "sglang"


def test_trtllm_launch_is_said_to_be_impossible_where_it_is():
    """TensorRT-LLM runs on NVIDIA GPUs and loads BF16 / FP8 / NVFP4 checkpoints: elsewhere the launch section is one
    comment that says what to use instead (the plan's figures stand)."""
    amd = emitted(["plan", "--gpu", "mi300x", "--engine", "trtllm"])
    assert commands_of(amd["lines"]) == [] and "NVIDIA GPUs only" in amd["lines"][0]
    awq = emitted(["plan", "--gpu", "h100-sxm", "--engine", "trtllm", "--weights", "awq-int4"])
    assert commands_of(awq["lines"]) == [] and "not awq-int4" in awq["lines"][0]
