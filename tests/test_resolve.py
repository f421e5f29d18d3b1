"""Finding config.json offline: catalog names, files, directories, and the local Hugging Face cache."""

import json

import pytest

from specsize import catalog
from specsize.errors import ConfigError
from specsize.resolve import load_model

CFG = catalog.find_model("deepseek-r1-distill-qwen-7b")["config"]


def test_config_file_and_directory(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(CFG))
    assert load_model(str(tmp_path / "config.json")).hidden_size == 3584
    assert load_model(str(tmp_path)).name == tmp_path.name


def _fake_hf_cache(root, repo="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", rev="abc123"):
    org, name = repo.split("/")
    d = root / f"models--{org}--{name}"
    (d / "snapshots" / rev).mkdir(parents=True)
    (d / "snapshots" / rev / "config.json").write_text(json.dumps(CFG))
    (d / "refs").mkdir()
    (d / "refs" / "main").write_text(rev)
    return d


def test_hf_cache_repo_id(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    _fake_hf_cache(tmp_path, repo="someorg/My-Model")
    a = load_model("someorg/My-Model")
    assert a.name == "someorg/My-Model" and a.num_layers == 28


def test_hf_cache_repo_directory(tmp_path):
    d = _fake_hf_cache(tmp_path)
    assert load_model(str(d)).vocab_size == 152064


def test_unknown_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="unknown model"):
        load_model("nobody/nothing")
