"""llama.cpp's -ngl N over several GPUs (`plan --gpu-layers N --gpus G`, gpu_layers.py): every layer offloaded is the
planner's full-GPU plan on the same G GPUs; one GPU is the single-GPU split unchanged; memory of the busiest GPU
by hand from llama.cpp's layer assignment; at batch 1 the GPUs run one after another, so only the hand-offs depend
on G; auto is the most layers that load on every GPU."""

import json

import pytest
from click.testing import CliRunner

from specsize.cli import cli
from specsize.deployment import HostCPU
from specsize.gpu_layers import Splitter
from specsize.hardware import get_gpu, get_link
from specsize.kvcache import kv_dtype_bytes, kv_values_per_layer
from specsize.memory import activation_bytes
from specsize.quant import get_precision
from specsize.resolve import load_model
from specsize.scenario import Workload
from specsize.sharding import llamacpp_gpu_layer_split
from specsize.tensors import tensor_groups

R1 = ["deepseek-r1", "--gpu", "rtx-3090", "--engine", "llamacpp", "--weights", "ud-iq1_s"]


def as_json(*args):
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


RECORDED_ONE_GPU = (11, 252.268983, 25688878224)  # -ngl, tpot_ms, gpu_bytes at c505c01 (one GPU)

QWEN32 = ["r1-distill-qwen-32b", "--gpu", "rtx-4090", "--engine", "llamacpp", "--weights", "q8_0", "--context", "8192"]


@pytest.mark.parametrize("args", [[*R1, "--gpus", "8"], [*QWEN32, "--gpus", "2"]])
def test_every_layer_on_g_gpus_is_the_full_gpu_plan_on_them(args):
    full = as_json("plan", *args, "--spec", "none")["gpus"][0]["recommended"]
    g = int(args[args.index("--gpus") + 1])
    assert full["layout"]["text"] == f"TP1 PP{g}"  # llama.cpp's layer split over the G GPUs
    d = as_json("plan", *args, "--gpu-layers", str(load_model(args[0]).num_layers))
    split = d["gpu_layers"]
    assert split["tpot_ms"] == pytest.approx(full["tpot_ms"], rel=1e-12)
    assert split["gpu_bytes"] == pytest.approx(full["memory_per_gpu_bytes"], rel=1e-12)
    assert split["cpu_ms"] == 0 and split["host_bytes"] == pytest.approx(d["splits"][-1]["host_bytes"])
    assert d["commands"]["lines"][-1].endswith("-ngl 99 --split-mode layer")  # the output layer too (load_tensors)


def test_one_gpu_is_the_single_gpu_split():
    """--gpus 1 and no --gpus give the same JSON, key for key; and the single-GPU split's figures are the ones the
    single-GPU code gave before several GPUs existed (recorded at c505c01: `specsize plan deepseek-r1 --gpu rtx-3090
    --engine llamacpp --weights ud-iq1_s --gpu-layers auto --json`)."""
    a = as_json("plan", *R1, "--gpu-layers", "auto")
    b = as_json("plan", *R1, "--gpu-layers", "auto", "--gpus", "1")
    assert a == b and a["gpu_layers"]["layers_per_gpu"] == [a["gpu_layers"]["gpu_layers"]]
    s = a["gpu_layers"]
    assert (s["gpu_layers"], round(s["tpot_ms"], 6), round(s["gpu_bytes"])) == RECORDED_ONE_GPU


def test_llama_cpp_assigns_the_last_layers_to_the_gpus_evenly():
    # src/llama-model.cpp load_tensors: unit j of act_gpu_layers goes to GPU upper_bound(splits, j / act)
    assert llamacpp_gpu_layer_split(44, 61, 4) == [11, 11, 11, 11]
    assert llamacpp_gpu_layer_split(45, 61, 4) == [12, 11, 11, 11]
    # 62 units, GPU k taking units 62k/8 <= j < 62(k+1)/8; the output (unit 61) is the last GPU's
    assert llamacpp_gpu_layer_split(61, 61, 8) == [8, 8, 8, 7, 8, 8, 8, 6]
    assert llamacpp_gpu_layer_split(3, 61, 4) == [1, 1, 1, 0]
    for n in range(62):
        assert sum(llamacpp_gpu_layer_split(n, 61, 3)) == n


def test_busiest_gpu_memory_by_hand():
    """R1 UD-IQ1_S, -ngl 45 on 4 RTX 3090: GPU 0 holds 12 layers, each 1/61 of the layer weights and of the KV cache
    (MLA latent, 576 values a token a layer in BF16), plus the prefill chunk's activations and llama.cpp's runtime."""
    a = load_model("deepseek-r1")
    w = Workload(1, 4096, 4096)
    sp = Splitter(a, "rtx-3090", "ud-iq1_s", "bf16", w, HostCPU(), gpus=4)
    p = get_precision("ud-iq1_s")
    layered = sum(p.group_bytes(g) for g in tensor_groups(a) if g.scope == "model" and g.layers)
    kv_per_layer = w.context * kv_values_per_layer(a) * kv_dtype_bytes("bf16")
    assert kv_values_per_layer(a) == 576
    runtime = 0.3 * 2**30  # engines.py: llama.cpp runtime_bytes, no NCCL
    by_hand = 12 * layered / 61 + 12 * kv_per_layer + activation_bytes(a, 512, 1) + runtime
    s = sp.split(45)
    assert s.per_gpu == (12, 11, 11, 11)
    assert s.gpu_bytes == pytest.approx(by_hand, rel=1e-9)
    assert sp.split(44).gpu_bytes == pytest.approx(by_hand - (layered / 61 + kv_per_layer), rel=1e-9)


def test_at_batch_one_only_the_hand_offs_depend_on_the_gpu_count():
    """A layer split is a pipeline: at batch 1 the token runs the CPU's layers then each GPU's in turn, so the GPUs'
    time is that of one GPU holding all N layers; the chain CPU -> GPU 0 -> ... -> the last GPU in use -> CPU adds
    one GPU-to-GPU hop per GPU in use but the first: one hidden state (7,168 BF16 values) over the RTX 3090's PCIe
    4.0 link (the catalog's latency and bandwidth)."""
    a = load_model("deepseek-r1")
    w = Workload(1, 4096, 4096)
    one = Splitter(a, "rtx-3090", "ud-iq1_s", "bf16", w, HostCPU())
    four = Splitter(a, "rtx-3090", "ud-iq1_s", "bf16", w, HostCPU(), gpus=4)
    link = get_link(get_gpu("rtx-3090").intra_node_link)
    hop = link.latency + a.hidden_size * 2 / link.bandwidth
    assert hop > 0
    for n, used in ((0, 0), (3, 3), (30, 4), (44, 4)):
        s1, s4 = one.split(n), four.split(n)
        assert s4.gpu_time == pytest.approx(s1.gpu_time, rel=1e-12)
        assert s4.cpu_time == pytest.approx(s1.cpu_time, rel=1e-12)
        assert s4.tpot - s1.tpot == pytest.approx(max(0, used - 1) * hop, rel=1e-9, abs=1e-12)


def test_at_a_batch_fewer_layers_than_all_run_the_gpus_in_turn():
    """llama.cpp pipelines the GPUs only when every layer and the output are offloaded (src/llama-context.cpp:
    n_gpu_layers > n_layer); with fewer, each GPU runs the whole batch over its layers in turn: the GPUs' time is
    one GPU's holding all N layers at that batch, whatever G."""
    a = load_model("deepseek-r1")
    w = Workload(8, 1024, 1024)
    one = Splitter(a, "rtx-3090", "ud-iq1_s", "bf16", w, HostCPU())
    four = Splitter(a, "rtx-3090", "ud-iq1_s", "bf16", w, HostCPU(), gpus=4)
    assert four.split(40).gpu_time == pytest.approx(one.split(40).gpu_time, rel=1e-12)
    assert four.split(61).gpu_time < one.split(61).gpu_time  # all offloaded: the pipeline's micro-batches


def test_auto_fits_every_gpu_and_more_gpus_take_more_layers():
    prev = 0
    for g in (1, 2, 4, 8):
        d = as_json("plan", *R1, "--gpus", str(g), "--gpu-layers", "auto")
        n = d["gpu_layers"]["gpu_layers"]
        assert d["gpu_layers"]["fits"] and n >= prev
        if n < 61:
            assert not as_json("plan", *R1, "--gpus", str(g), "--gpu-layers", str(n + 1))["gpu_layers"]["fits"]
        prev = n
        if g > 1:
            assert f"-ngl {n} --split-mode layer" in d["commands"]["lines"][-1] or n == 61
    assert prev == 61  # 8 RTX 3090 hold all of UD-IQ1_S


def test_too_many_gpus_is_one_line():
    r = CliRunner().invoke(cli, ["plan", *R1, "--gpus", "9", "--gpu-layers", "auto"])
    assert r.exit_code == 1 and "1 to 8 GPUs of one machine" in r.output and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(cli, ["plan", "r1-distill-qwen-32b", "--gpu", "apple-m2-max", "--gpus", "2", "--engine",
                                 "llamacpp", "--weights", "q4_k_m", "--gpu-layers", "auto"])  # fmt: skip
    assert r.exit_code == 1 and "machine holds 1" in r.output and "Traceback" not in r.output, r.output


def test_the_sentence_and_the_command_say_what_llama_cpp_is_given():
    r = CliRunner().invoke(cli, ["plan", *R1, "--gpus", "4", "--gpu-layers", "auto"])
    assert r.output.startswith("llama.cpp -ngl 44: 44 of 61 layers on the 4 x RTX-3090 (11+11+11+11)"), r.output
    # every layer offloaded is -ngl 99 (the output layer too); none is -ngl 0, not the default
    r = CliRunner().invoke(cli, ["plan", *R1, "--gpus", "8", "--gpu-layers", "61"])
    assert r.output.startswith("llama.cpp -ngl 99: 61 of 61 layers"), r.output
    d = as_json("plan", *R1, "--gpus", "4", "--gpu-layers", "0")
    assert d["commands"]["plan"].endswith("-ngl 0") and d["commands"]["lines"][-1].endswith("-ngl 0 --split-mode layer")


def test_plan_that_does_not_fit_in_vram_names_the_gpu_layers_that_do():
    """Where `plan --engine llamacpp` refuses (the model does not fit the GPUs you have), it says how many layers
    -ngl would load on them and gives the command; that command plans exactly that split."""
    r = CliRunner().invoke(cli, ["plan", *R1, "--gpus", "4"])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output, r.output
    auto = as_json("plan", *R1, "--gpus", "4", "--gpu-layers", "auto")["gpu_layers"]
    n = auto["gpu_layers"]
    assert f"-ngl {n} loads {n} of 61 layers on the 4 x RTX-3090" in r.output
    assert f"{auto['tok_s_per_user']:,.1f} tok/s per user" in r.output
    cmd = r.output.split("plan it: ")[1].split()
    assert cmd[:2] == ["specsize", "plan"] and cmd[-2:] == ["--gpu-layers", "auto"]
    assert as_json(*cmd[1:])["gpu_layers"] == auto
    # --weights auto: the smallest GGUF tried, the user's workload kept in the command
    r = CliRunner().invoke(cli, ["plan", "deepseek-r1", "--gpu", "rtx-4090", "--engine", "llamacpp", "--weights",
                                 "auto", "--context", "8192"])  # fmt: skip
    assert r.exit_code == 1 and "no precision this engine can load" in r.output, r.output
    assert r.output.rstrip().endswith("--weights ud-iq1_s --context 8192 --gpu-layers auto"), r.output
    # another engine, or experts already offloaded: no -ngl hint
    r = CliRunner().invoke(cli, ["plan", *R1, "--gpus", "4", "--engine", "vllm"])
    assert r.exit_code == 1 and "-ngl" not in r.output
    # no layer loads (R1 in BF16 on a 12 GB card), or the GPU's memory is the RAM (unified): no hint either
    for args in (["deepseek-r1", "--gpu", "rtx-3060", "--weights", "bf16"],
                 ["deepseek-r1", "--gpu", "apple-m2-max", "--weights", "q4_k_m"]):  # fmt: skip
        r = CliRunner().invoke(cli, ["plan", *args, "--engine", "llamacpp"])
        assert r.exit_code == 1 and "-ngl" not in r.output and "Traceback" not in r.output, r.output


def test_fit_splits_over_gpus_as_plan_does():
    """`fit --gpu-layers --gpus G` is plan's split on the same G cards (its memory and speed, no commands); fit
    without --gpu-layers finds the fewest GPUs itself, so --gpus alone is one line pointing to plan."""
    for g in ("1", "4"):
        f = as_json("fit", *R1, "--gpus", g, "--gpu-layers", "auto")
        p = as_json("plan", *R1, "--gpus", g, "--gpu-layers", "auto")
        assert "commands" not in f and f["gpus"] == int(g)
        assert f == {k: v for k, v in p.items() if k != "commands"}
    assert as_json("fit", *R1, "--gpus", "4", "--gpu-layers", "auto")["gpu_layers"]["gpu_layers"] == 44
    r = CliRunner().invoke(cli, ["fit", "deepseek-r1", "--gpus", "4"])
    assert r.exit_code == 1 and "plan --gpus" in r.output and "Traceback" not in r.output, r.output


def test_ik_llamacpp_splits_layers_as_llamacpp_with_its_faster_cpu():
    """ik_llama.cpp's -ngl split: llama.cpp's memory and layer assignment, its own CPU rate (faster per core), and
    its command (local file, -rtr since weights stay in RAM); where the model does not fit, the hint names it."""
    ik = as_json("plan", *[x if x != "llamacpp" else "ik_llamacpp" for x in R1], "--gpus", "4", "--gpu-layers", "auto")
    main = as_json("plan", *R1, "--gpus", "4", "--gpu-layers", "auto")
    for k in ("gpu_layers", "gpu_bytes", "host_bytes", "layers_per_gpu", "gpu_ms"):
        assert ik["gpu_layers"][k] == main["gpu_layers"][k], k
    assert ik["gpu_layers"]["cpu_ms"] < main["gpu_layers"]["cpu_ms"]
    assert ik["answer"][0].startswith("ik_llama.cpp -ngl 44: 44 of 61 layers")
    assert ik["commands"]["lines"][-1].endswith("-ngl 44 --split-mode layer -rtr")
    r = CliRunner().invoke(cli, ["plan", "deepseek-r1", "--gpu", "rtx-3090", "--gpus", "4", "--engine", "ik_llamacpp",
                                 "--weights", "ud-iq1_s"])  # fmt: skip
    assert r.exit_code == 1 and "ik_llama.cpp can still run it" in r.output and "--engine ik_llamacpp" in r.output


def test_gpu_layers_bad_input_is_one_line():
    """A count below one, or --gpu-layers on an engine without -ngl, is one line naming the fix (before --weights
    auto looks for a format that engine cannot split)."""
    for args, says in ((["fit", *R1, "--gpus", "0", "--gpu-layers", "auto"], "--gpus must be a positive"),
                       (["plan", "deepseek-r1", "--gpu", "rtx-4090", "--engine", "vllm", "--gpu-layers", "auto"],
                        "add --engine llamacpp (or ik_llamacpp)")):  # fmt: skip
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 1 and says in r.output and len(r.output.strip().splitlines()) == 1, r.output
