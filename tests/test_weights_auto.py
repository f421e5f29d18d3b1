"""`--weights auto`: the highest-quality precision that fits a GPU type and count, checked against fitting each
precision by hand with `fit --weights P` (the loop a user would otherwise write)."""

import json

from click.testing import CliRunner

from specsize.cli import cli
from specsize.precision_choice import candidates
from specsize.resolve import load_model


def run(*args):
    return CliRunner().invoke(cli, list(args))


def fits_on_one(model, weights, gpu, *extra):
    r = run("fit", model, "--weights", weights, "--gpu", gpu, "--json", *extra)
    assert r.exit_code == 0, r.output
    row = json.loads(r.output)["results"][0]
    return row["fits"] and row["min_gpus"] == 1


def test_the_32b_distill_on_a_4090_by_default_with_llamacpp_is_the_largest_gguf_that_fits():
    extra = ["--engine", "llamacpp", "--context", "8192"]
    r = run("fit", "r1-distill-qwen-32b", "--gpu", "rtx-4090", *extra, "--json")  # no --weights: auto (consumer card)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    chosen = d["weights"]
    # Q5_K_M: 23 GB of file, of which llama.cpp keeps the 0.5 GB token embedding in host RAM (src/llama-model.cpp),
    # plus 2.1 GB of KV for 8,192 tokens, under the 4090's 25.8 GB; Q6_K (27 GB) does not fit
    assert d["weights_choice"]["precision"] == chosen == "q5_k_m"
    order = candidates(load_model("r1-distill-qwen-32b"), None, _engine("llamacpp"))
    assert fits_on_one("r1-distill-qwen-32b", chosen, "rtx-4090", *extra)
    for better in order[: order.index(chosen)]:  # every larger GGUF does not fit on one card
        assert not fits_on_one("r1-distill-qwen-32b", better, "rtx-4090", *extra), better
    assert "gives up precision" in d["weights_choice"]["sentence"]


def _engine(name):
    from specsize.engines import get_engine

    return get_engine(name)


def test_r1_keeps_its_released_fp8_where_it_fits_and_moves_down_where_it_does_not():
    d = json.loads(run("plan", "--weights", "auto", "--gpu", "h200", "--json").output)
    assert d["weights"] == "fp8" and "as released" in d["answer"][0]
    d = json.loads(run("plan", "--weights", "auto", "--gpu", "h100-sxm", "--gpus", "8", "--json").output)
    assert d["weights"] == "awq-int4"  # FP8 needs 16 H100; NVFP4 needs FP4 tensor cores; the AWQ checkpoint fits
    tried = {t["precision"]: t for t in d["weights_choice"]["tried"]}
    assert "short by" in tried["fp8"]["why_not"] and "FP4" in tried["nvfp4"]["why_not"]
    assert d["commands"]["checkpoint"]["repo"] == "cognitivecomputations/DeepSeek-R1-AWQ"


def test_nothing_fits_is_one_line_with_what_to_try():
    r = run("fit", "r1-distill-qwen-32b", "--gpu", "rtx-3060", "--weights", "auto")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "no precision this engine can load fits on 1×RTX-3060" in r.output and "--engine llamacpp" in r.output


def test_a_model_of_ones_own_is_not_limited_to_published_checkpoints(tmp_path):
    from specsize import catalog

    d = tmp_path / "my-7b"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(catalog.find_model("r1-distill-qwen-7b")["config"]))
    r = run("fit", str(d), "--gpu", "rtx-4090", "--engine", "llamacpp", "--context", "8192", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["weights"] == "q8_0"  # the largest GGUF; the user converts it themselves
