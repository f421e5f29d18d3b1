"""CPU/GPU hybrid as the engines do it (offload.py): llama.cpp keeps one copy of the offloaded experts however
many sockets, ktransformers (USE_NUMA) one per socket; the host's memory, channels and cores are options whose
bandwidth --explain shows and the speed follows; a RAM shortfall says RAM."""

import json

import pytest
from click.testing import CliRunner

from specsize.cli import cli

R1_Q4 = ["deepseek-r1", "--weights", "q4_k_m", "--offload-experts", "--context", "8192", "--gpu", "rtx-4090"]


def run(*args):
    return CliRunner().invoke(cli, list(args))


def host_ram(engine, sockets):
    r = run("fit", *R1_Q4, "--engine", engine, "--sockets", str(sockets), "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["results"][0]["host_ram_bytes"]


def test_llamacpp_keeps_one_copy_ktransformers_one_per_socket():
    one = host_ram("llamacpp", 1)
    assert host_ram("llamacpp", 2) == one
    assert host_ram("ktransformers", 2) == 2 * host_ram("ktransformers", 1)


def test_host_memory_channels_and_cores_set_the_bandwidth_explain_shows_and_the_speed():
    args = ["plan", *R1_Q4, "--engine", "llamacpp", "--spec", "none"]
    r = run(*args, "--host-memory", "ddr5-6000", "--channels", "2", "--explain")
    assert r.exit_code == 0, r.output
    assert "96.0 GB/s" in r.output and "ddr5-6000 x 2 channels x 1 socket(s)" in r.output  # 2 x 6000 MT/s x 8 B
    slow = json.loads(run(*args, "--channels", "2", "--json").output)["gpus"][0]["recommended"]["tpot_ms"]
    fast = json.loads(run(*args, "--channels", "12", "--json").output)["gpus"][0]["recommended"]["tpot_ms"]
    assert fast < slow  # the experts stream from host memory: more channels, shorter steps
    d = json.loads(run(*args, "--json").output)
    assert d["host"]["given"] is False and d["host"]["expert_copies"] == 1


def test_a_ram_shortfall_says_ram_not_gpus():
    r = run("plan", *R1_Q4, "--engine", "ktransformers", "--sockets", "2", "--ram", "500")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "host RAM short by" in r.output and "one per socket" in r.output and "more GPUs do not help" in r.output
    assert "does not fit even on" not in r.output


def test_bad_host_options_are_one_line():
    for bad, needle in ((["--channels", "0"], "--channels"), (["--cores", "-3"], "--cores"),
                        (["--host-memory", "ddr9"], "ddr9"), (["--sockets", "0"], "--sockets")):  # fmt: skip
        r = run("plan", *R1_Q4, "--engine", "llamacpp", *bad)
        assert r.exit_code == 1 and needle in r.output and "Traceback" not in r.output, r.output


def _llamacpp_hybrid(cores=32):
    from specsize.deployment import HostCPU, build_deployment
    from specsize.engines import get_engine
    from specsize.hardware import get_gpu
    from specsize.resolve import load_model
    from specsize.scenario import Host, Layout

    cpu = HostCPU(memory="ddr5-4800", channels_per_socket=12, cores_per_socket=cores)
    return build_deployment(load_model("deepseek-r1"), get_gpu("rtx-pro-6000"), "q8_0", "bf16", Layout(),
                            get_engine("llamacpp"), host=Host(True, None, 1), cpu=cpu)  # fmt: skip


def test_the_cpu_computes_the_experts_of_every_moe_layer_at_llamacpps_rate():
    """R1's routed experts per token, by hand: 58 MoE layers x 8 experts x 3 matrices of 7168 x 2048, 2 FLOPs per
    weight (config.json of deepseek-ai/DeepSeek-R1), on 8 cores at LLAMACPP_CPU_FLOPS_PER_CORE (few enough that the
    cores, not the 12 channels of DDR5, bound the CPU's part); half the cores, twice the time."""
    from specsize.perf import step_time
    from specsize.perf_constants import LLAMACPP_CPU_FLOPS_PER_CORE

    dep = _llamacpp_hybrid(cores=8)
    st = step_time(dep.main, dep.machine, 1, 1, 64)
    by_hand = 2 * 58 * 8 * 3 * 7168 * 2048 / (8 * LLAMACPP_CPU_FLOPS_PER_CORE)
    assert st.host_bound == "compute" and abs(st.host / by_hand - 1) < 1e-9
    slow = _llamacpp_hybrid(cores=4)
    assert step_time(slow.main, slow.machine, 1, 1, 64).host == pytest.approx(2 * st.host)


def test_a_step_of_32_tokens_or_more_copies_the_experts_over_pcie():
    """llama.cpp's op offload: from 32 tokens a step (a prefill ubatch) computes the experts in RAM on the GPU,
    their bytes over PCIe 5.0 x16 (64 GB/s) x PCIE_COPY_EFFICIENCY; below it the CPU computes them."""
    from specsize.perf import step_time
    from specsize.perf_constants import PCIE_COPY_EFFICIENCY

    dep = _llamacpp_hybrid()
    below = step_time(dep.main, dep.machine, 31, 1, 64, prefill=True)
    at = step_time(dep.main, dep.machine, 32, 1, 64, prefill=True)
    assert below.host_bound in ("memory", "compute") and at.host_bound == "communication"
    assert at.host == pytest.approx(at.expert_bytes / (64e9 * PCIE_COPY_EFFICIENCY))
