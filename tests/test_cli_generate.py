"""`specsize generate` as a new user drives it, on model directories built here (random weights, a tiny BPE
tokenizer): streaming, the stats footer, --json, prompts from a file or stdin, Ctrl-C, and bad input."""

import json
import random

import pytest
from click.testing import CliRunner

from specsize.cli import cli
from specsize.config import parse_config
from specsize.engine import generate as generate_module
from specsize.engine.model import Transformer, init_weights
from specsize.engine.saver import save_model

from .conftest import random_config
from .test_engine_loader import _tokenizer_dir


def _model_dir(path, family, seed, vocab, **extra):
    path.mkdir(parents=True, exist_ok=True)
    _tokenizer_dir(path)
    c = random_config(family, random.Random(seed))
    c.update(vocab_size=vocab, max_position_embeddings=96, **extra)
    m = init_weights(Transformer(parse_config(c, "t", "test")), std=0.2, seed=seed)
    save_model(m, path, c)
    return path


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    from specsize.engine.tokenizer import Tokenizer

    (base / "probe").mkdir()
    vocab = Tokenizer.from_dir(_tokenizer_dir(base / "probe")).vocab_size
    return {
        "r1": _model_dir(base / "r1", "deepseek_v3", 1, vocab),
        "dense": _model_dir(base / "dense", "qwen2", 2, vocab),
        "draft": _model_dir(base / "draft", "qwen2", 3, vocab),
        "other_vocab": _model_dir(base / "other", "qwen2", 4, vocab + 1000),
    }


def run(*args, input=None):
    return CliRunner().invoke(cli, ["generate", *map(str, args)], input=input)


def test_mtp_generation_streams_and_reports(dirs):
    r = run("count the r in strawberry", "--model", dirs["r1"], "--max-new-tokens", 12)
    assert r.exit_code == 0, r.output
    assert "mtp k=2: acceptance" in r.stderr and "mean acceptance length" in r.stderr


def test_json_and_greedy_identity_through_the_cli(dirs):
    outs = {}
    for method, extra in (("none", []), ("mtp", ["-k", "3"]), ("ngram", ["-k", "5"])):
        r = run("12 + 35 = 47", "--model", dirs["r1"], "--method", method, "--max-new-tokens", 16, "--json", *extra)
        assert r.exit_code == 0, r.output
        d = json.loads(r.stdout)
        assert set(d) >= {"text", "token_ids", "stats", "finish_reason"}
        outs[method] = d["token_ids"]
    assert outs["none"] == outs["mtp"] == outs["ngram"]
    r = run("sort 3 1 2", "--model", dirs["dense"], "--method", "draft", "--draft", dirs["draft"], "--json",
            "--max-new-tokens", 10)  # fmt: skip
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["method"] == "draft" and d["stats"]["num_drafts"] > 0


def test_compile_gives_the_eager_tokens(dirs):
    outs = []
    for extra in ([], ["--compile"]):
        r = run("12 + 35 = 47", "--model", dirs["dense"], "--method", "ngram", "-k", 3, "--max-new-tokens", 16,
                "--json", *extra)  # fmt: skip
        assert r.exit_code == 0, r.output
        outs.append(json.loads(r.stdout)["token_ids"])
    assert outs[0] == outs[1]


def test_sampling_is_reproducible_with_a_seed(dirs):
    args = ("sort 3 1 2", "--model", dirs["r1"], "--temperature", 1.0, "--top-p", 0.9, "--seed", 7, "--json")
    a, b = run(*args), run(*args)
    assert json.loads(a.stdout)["token_ids"] == json.loads(b.stdout)["token_ids"]


def test_prompt_from_file_stdin_and_chat(dirs, tmp_path):
    f = tmp_path / "prompt.txt"
    f.write_text("count the r in strawberry")
    assert run("--file", f, "--model", dirs["r1"], "--max-new-tokens", 4).exit_code == 0
    assert run("--model", dirs["r1"], "--max-new-tokens", 4, input="sort 3 1 2").exit_code == 0
    r = run("12 + 35", "--chat", "--model", dirs["r1"], "--max-new-tokens", 4, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["prompt_tokens"] > 3


def test_ctrl_c_keeps_what_was_generated(dirs, monkeypatch):
    calls = {"n": 0}
    real = generate_module.verify_call  # the loop's verification call (MTP: fused with its drafting)

    def interrupted(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(generate_module, "verify_call", interrupted)
    r = run("sort 3 1 2", "--model", dirs["r1"], "--max-new-tokens", 40, "--json")
    assert r.exit_code == 130
    d = json.loads(r.stdout)
    assert d["finish_reason"] == "interrupted" and len(d["token_ids"]) >= 3


@pytest.mark.parametrize(
    "args, needle",
    [
        (["-k", "0"], "must be >= 1"),
        (["--method", "beam"], "unknown method"),
        (["--method", "draft"], "needs --draft"),
        (["--temperature", "-1"], "--temperature must be >= 0"),
    ],
)
def test_bad_options(dirs, args, needle):
    r = run("x", "--model", dirs["r1"], *args)
    assert r.exit_code != 0 and needle in r.output and "Traceback" not in r.output


def test_bad_models_and_prompts(dirs, tmp_path):
    r = run("x", "--model", dirs["dense"], "--method", "mtp")
    assert r.exit_code != 0 and "has no MTP layer" in r.output
    r = run("x", "--model", dirs["dense"], "--method", "draft", "--draft", dirs["other_vocab"])
    assert r.exit_code != 0 and ("not the same tokenizer" in r.output or "tokenizer differs" in r.output)
    r = run("strawberry " * 200, "--model", dirs["dense"])
    assert r.exit_code != 0 and "holds 96 positions" in r.output
    r = run("x", "--model", tmp_path / "nothing-here")
    assert r.exit_code != 0 and "no model directory" in r.output
    r = run("--model", dirs["dense"], input="")
    assert r.exit_code != 0 and "no prompt" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_without_the_engine_extra_it_says_what_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    for cmd in (["generate", "x"], ["bench"]):
        r = CliRunner().invoke(cli, cmd)
        assert r.exit_code != 0 and "pip install 'specsize[engine]'" in r.output and "Traceback" not in r.output
