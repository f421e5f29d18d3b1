"""`specsize plan` as a user drives it: the embedded default, --json, --explain, --plot, and bad input."""

import json

import pytest
from click.testing import CliRunner

from specsize.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_default_plan_is_r1_with_mtp_on_the_usual_gpus():
    r = run("plan")
    assert r.exit_code == 0, r.output
    assert "deepseek-r1 fp8" in r.output and "spec mtp k=1" in r.output
    for gpu in ("h200", "b200", "h100-sxm", "mi300x", "a100-80gb"):
        assert gpu in r.output
    assert "python -m sglang.launch_server" in r.output  # the launch command for the chosen plan


def test_json_shape_is_stable():
    d = json.loads(run("plan", "--gpu", "h200", "--json").output)
    assert set(d) >= {"model", "weights", "kv_cache", "engine", "workload", "spec", "gpus", "commands", "assumptions"}
    g = d["gpus"][0]
    assert g["fits"] and set(g) >= {"minimum", "recommended", "curve"}
    o = g["recommended"]
    assert set(o) >= {"layout", "nodes", "memory_per_gpu_bytes", "ttft_ms", "tpot_ms", "tok_s_per_user",
                      "tok_s_per_gpu", "decode_step", "spec", "best", "break_even_concurrency"}  # fmt: skip
    assert o["spec"]["tok_s_per_user"] == pytest.approx(o["tok_s_per_user"] * o["spec"]["speedup"])
    assert [p["concurrency"] for p in g["curve"]][:4] == [1, 2, 4, 8]


def test_multi_node_plans_price_the_network():
    d = json.loads(run("plan", "--gpu", "h100-sxm", "--json").output)
    n = d["gpus"][0]["recommended"]["network"]
    assert n["inter_node"] == "ib-ndr" and n["slow_network_tpot_ms"] > n["tpot_ms"]


def test_explain_lists_every_term_and_constant():
    r = run("plan", "--gpu", "h200", "--explain")
    assert r.exit_code == 0
    for needle in ("one decode step", "communication", "routing correlation", "MTP acceptance", "fitted"):
        assert needle in r.output


def test_eager_mode_costs_kernel_launches():
    def tpot(*extra):
        return json.loads(run("plan", "--gpu", "h200", "--json", *extra).output)["gpus"][0]["recommended"]["tpot_ms"]

    assert tpot("--no-cuda-graphs") > tpot()


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "plan.png"
    r = run("plan", "--gpu", "h200", "--gpu", "b200", "--plot", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--spec", "medusa"], "unknown speculative method"),
        (["--spec", "mtp:0"], "k must be >= 1"),
        (["--acceptance", "1.2"], "acceptance rates must be in (0, 1]"),
        (["--acceptance", "high"], "comma-separated numbers"),
        (["--gpu", "rtx-3060", "--weights", "fp8"], "does not fit on any GPU type"),
        (["r1-distill-qwen-7b", "--spec", "mtp"], "has no MTP layer"),
        (["--engine", "mlx", "--gpu", "h200", "--spec", "mtp"], "does not support speculative method"),
        (["--inter-node", "carrier-pigeon"], "unknown link"),
        (["--plot", "plan.svg"], "writes a PNG"),
        (["--draft-tp", "2"], "--draft-tp applies to a draft model"),
        (["r1-distill-qwen-7b", "--spec", "draft:r1-distill-qwen-1.5b", "--draft-tp", "0"], "positive integer"),
    ],
)
def test_bad_input_is_one_line(args, needle):
    r = run("plan", *args)
    assert r.exit_code != 0
    assert needle in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_plan_says_how_it_read_a_deepseek_v3_architecture_under_another_model_type(tmp_path):
    """Kimi-K2's config (model_type kimi_k2, architectures DeepseekV3ForCausalLM) is planned as DeepSeek-V3 with a
    one-line note on stderr, as `inspect` says it."""
    from specsize import catalog

    config = dict(catalog.find_model("deepseek-v3")["config"], model_type="kimi_k2",
                  architectures=["DeepseekV3ForCausalLM"])  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    r = CliRunner().invoke(cli, ["plan", str(tmp_path), "--gpu", "h200"])
    assert r.exit_code == 0, r.output
    assert r.stderr.count("note: model_type 'kimi_k2' read as deepseek_v3") == 1
