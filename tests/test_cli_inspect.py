"""The CLI as a user drives it: models, inspect, --json, and one-line errors."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from specsize.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_models_json_lists_the_catalog():
    r = run("models", "--json")
    assert r.exit_code == 0
    rows = {m["name"]: m for m in json.loads(r.output)}
    assert rows["deepseek-r1"]["kv_bytes_per_token_bf16"] == 70272
    assert {"deepseek-r1-distill-qwen-1.5b", "qwen2.5-0.5b-instruct", "llama-3.2-1b-instruct"} <= set(rows)


def test_models_table():
    r = run("models")
    assert r.exit_code == 0 and "deepseek-r1" in r.output and "671.03B" in r.output


def test_inspect_json_shape():
    r = run("inspect", "r1", "--json")
    assert r.exit_code == 0
    d = json.loads(r.output)
    for key in (
        "name",
        "family",
        "params_total",
        "params_active",
        "params_mtp",
        "kv_bytes_per_token",
        "checkpoint_bytes",
        "components",
    ):
        assert key in d
    assert d["name"] == "deepseek-r1" and d["family"] == "deepseek_v3"
    assert d["kv_bytes_per_token"]["fp8"] == 35136
    assert sum(c["params"] for c in d["components"]) == d["params_total"]


def test_inspect_table():
    r = run("inspect", "deepseek-r1-distill-qwen-7b")
    assert r.exit_code == 0
    assert "7,615,616,512" in r.output and "57,344 B" in r.output


def test_inspect_a_model_directory(tmp_path):
    from specsize import catalog

    (tmp_path / "config.json").write_text(json.dumps(catalog.find_model("r1-distill-qwen-1.5b")["config"]))
    r = run("inspect", str(tmp_path), "--json")
    assert r.exit_code == 0
    assert json.loads(r.output)["params_total"] == 1_777_088_000


def _one_line_error(r, needle):
    assert r.exit_code != 0
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], r.output


def test_errors_are_one_line(tmp_path):
    _one_line_error(run("inspect", "no-such-model"), "unknown model 'no-such-model'")
    _one_line_error(run("inspect", str(tmp_path)), "no config.json")
    _one_line_error(run("inspect", str(tmp_path / "missing" / "config.json")), "no such file or directory")
    bad = tmp_path / "config.json"
    bad.write_text("{ not json")
    _one_line_error(run("inspect", str(bad)), "not valid JSON")
    bad.write_text(json.dumps({"model_type": "gpt2", "hidden_size": 8}))
    _one_line_error(run("inspect", str(bad)), "'gpt2' is not supported")
    bad.write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    _one_line_error(run("inspect", str(bad)), "'num_attention_heads'")


def test_calculator_imports_no_engine_stack():
    """`import specsize` and its CLI must not pull torch, transformers or safetensors."""
    code = (
        "import sys, specsize, specsize.cli, specsize.report; specsize.inspect('r1');"
        "print(','.join(m for m in ('torch', 'transformers', 'safetensors') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "specsize", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "specsize" in out.stdout


def test_fit_json_has_every_gpu_and_the_breakdown():
    r = run("fit", "deepseek-r1", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    rows = {x["gpu"]: x for x in d["results"]}
    assert rows["h200"]["min_gpus"] == 8 and rows["h200"]["layout"]["tp"] == 8
    assert {t["term"] for t in rows["h200"]["breakdown"]} >= {"weights", "kv_cache", "activations", "runtime"}
    assert not rows["rtx-3060"]["fits"] and "short by" in rows["rtx-3060"]["reason"]


def test_fit_table_and_explain():
    r = run("fit", "r1", "--spec", "mtp:1", "--gpu", "h200", "--explain", "--engine", "sglang")
    assert r.exit_code == 0, r.output
    assert "spec_weights" in r.output and "mem_fraction_static" in r.output


def test_fit_bad_input_is_one_line():
    _one_line_error(run("fit", "r1", "--gpu", "h9000"), "unknown GPU")
    _one_line_error(run("fit", "r1", "--concurrency", "-2"), "concurrency")
    _one_line_error(run("fit", "r1", "--context", "999999"), "exceeds")
    _one_line_error(run("fit", "r1", "--spec", "draft:llama-3.2-1b-instruct"), "tokenizer")
    _one_line_error(run("fit", "r1", "--weights", "int3"), "unknown weight precision")


def test_hw_reports_no_gpu_here():
    r = run("hw", "--json")
    assert r.exit_code == 0
    d = json.loads(r.output)
    assert d["cpu"]["cores"] >= 1 and isinstance(d["gpus"], list)
    r = run("hw")
    assert r.exit_code == 0 and "GPU" in r.output


def test_fit_offload_reports_host_ram():
    r = run("fit", "r1", "--weights", "q4_k_m", "--engine", "ktransformers", "--offload-experts", "--gpu", "rtx-4090",
            "--sockets", "2", "--ram", "512", "--json")  # fmt: skip
    row = json.loads(r.output)["results"][0]
    assert not row["fits"] and "host RAM short by" in row["reason"]
    assert row["host_ram_bytes"] == pytest.approx(2 * 382e9, rel=0.05)
