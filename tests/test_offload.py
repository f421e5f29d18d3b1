"""CPU/GPU hybrid as the engines do it (offload.py): llama.cpp keeps one copy of the offloaded experts however
many sockets, ktransformers (USE_NUMA) one per socket; the host's memory, channels and cores are options whose
bandwidth --explain shows and the speed follows; a RAM shortfall says RAM."""

import json

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
