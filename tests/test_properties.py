"""Property-based tests (hypothesis): no config file, scenario file or command-line option makes the CLI print a
traceback. Each input either works (exit 0) or gets one line and exit 1 (click's own usage errors: exit 2).
A few hundred examples per property, no deadline (the planner is fast, the machine may not be)."""

import json

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specsize import catalog
from specsize.cli import cli

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.sampled_from([0, 1, 2, -1, 10**10, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.lists(st.integers(0, 4), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)  # fmt: skip


def no_traceback(r):
    assert r.exception is None or isinstance(r.exception, SystemExit), (r.output, repr(r.exception))
    assert r.exit_code in (0, 1, 2), r.output
    assert "Traceback" not in r.output


def _mutated(base: dict, data) -> dict:
    cfg = json.loads(json.dumps(base))
    keys = data.draw(st.lists(st.sampled_from(sorted(cfg)), min_size=1, max_size=3, unique=True))
    for k in keys:
        cfg[k] = data.draw(junk)
    return cfg


@SETTINGS
@given(data=st.data(), base=st.sampled_from(["r1-distill-qwen-1.5b", "deepseek-r1", "r1-distill-llama-8b"]))
def test_no_config_file_makes_a_traceback(tmp_path, data, base):
    cfg = _mutated(catalog.find_model(base)["config"], data)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg, allow_nan=True))
    runner = CliRunner()
    no_traceback(runner.invoke(cli, ["inspect", str(path)]))
    no_traceback(runner.invoke(cli, ["fit", str(path), "--gpu", "h200", "--context", "4096"]))


BASE_CASE = {"id": "x", "source": "test", "scenario": {"model": "deepseek-r1", "weights": "fp8", "kv_cache": "bf16",
             "hardware": {"gpu": "h200", "count": 8}, "engine": "sglang",
             "workload": {"concurrency": 1, "input_tokens": 1024, "output_tokens": 1024}},
             "expect": {"min_gpus": 8}, "tolerance": 0.1}  # fmt: skip
SCENARIO_KEYS = ["model", "weights", "kv_cache", "hardware", "engine", "workload", "spec", "layout"]


@SETTINGS
@given(data=st.data())
def test_no_scenario_file_makes_a_traceback(tmp_path, data):
    case = json.loads(json.dumps(BASE_CASE))
    for k in data.draw(st.lists(st.sampled_from(SCENARIO_KEYS), min_size=1, max_size=2, unique=True)):
        case["scenario"][k] = data.draw(junk)
    # the expected values stay numbers: validating them is the validate format's own job (tests/test_validate.py)
    case["expect"] = {data.draw(st.sampled_from(["min_gpus", "tpot_ms", "speedup", "checkpoint_gb"])): 8}
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([case], allow_nan=True))
    no_traceback(CliRunner().invoke(cli, ["validate", str(path)]))


numbers = st.one_of(st.integers(-5, 10**7).map(str), st.sampled_from(["nan", "inf", "-0", "1e10", "0.5", "", "x"]))
OPTIONS = {
    "--gpus": numbers, "--nodes": numbers, "--context": numbers, "--input": numbers, "--output": numbers,
    "--concurrency": numbers,
    "--spec": st.sampled_from(["none", "mtp", "mtp:0", "mtp:3", "ngram:3:4", "draft:", "draft:r1-distill-qwen-1.5b",
                               "draft:nope:2", "eagle:2", "mtp:x", ":", "draft:r1-distill-qwen-1.5b:2:2"]),
    "--weights": st.sampled_from(["auto", "fp8", "bf16", "q4_k_m", "ud-iq1_s", "awq-int4", "nvfp4", "int8", "zzz"]),
    "--kv-cache": st.sampled_from(["bf16", "fp8", "int3"]),
    "--engine": st.sampled_from(["vllm", "sglang", "llamacpp", "ktransformers", "mlx", "trtllm", "nope"]),
    "--gpu": st.sampled_from(["h200", "h100-sxm", "rtx-4090", "apple-m3-ultra", "b200", "nope"]),
    "--draft-tp": numbers, "--acceptance": st.sampled_from(["0.8", "0.8,0.6", "nan", "2", "-1", "a,b", ""]),
    "--repeat-fraction": numbers, "--ram": numbers, "--sockets": numbers,
    "--gpu-layers": st.sampled_from(["auto", "0", "5", "28", "99", "-1", "x", ""]),
    "--host-memory": st.sampled_from(["ddr5-4800", "ddr4-3200", "ddr9"]), "--channels": numbers, "--cores": numbers,
}  # fmt: skip
FLAGS = ["--offload-experts", "--no-cuda-graphs", "--explain"]


@SETTINGS
@given(data=st.data(), command=st.sampled_from(["plan", "fit"]),
       model=st.sampled_from(["deepseek-r1", "r1-distill-qwen-7b", "tiny-r1"]))  # fmt: skip
def test_no_command_line_makes_a_traceback(data, command, model):
    args = [command, model]
    for opt in data.draw(st.lists(st.sampled_from(sorted(OPTIONS)), max_size=4, unique=True)):
        if command == "fit" and opt in (
            "--gpus",
            "--nodes",
            "--acceptance",
            "--repeat-fraction",
            "--host-memory",
            "--channels",
            "--cores",
        ):
            continue  # plan's options
        args += [opt, data.draw(OPTIONS[opt])]
    args += [f for f in FLAGS if data.draw(st.booleans()) and (command == "plan" or f == "--offload-experts")]
    no_traceback(CliRunner().invoke(cli, [*args, "--json"]))
