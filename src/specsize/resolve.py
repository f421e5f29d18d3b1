"""Find a model's config.json, offline: a catalog name, a bundled model (tiny-r1, tiny-r1-draft), a config.json
path, a model directory, or a repository in the local Hugging Face cache (ORG/NAME or models--ORG--NAME)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from specsize import catalog
from specsize.config import ModelArch, parse_config
from specsize.errors import ConfigError


def hf_cache_dirs() -> list[Path]:
    """Where huggingface_hub keeps downloads (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)."""
    dirs = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]) / "hub")
    dirs.append(Path.home() / ".cache" / "huggingface" / "hub")
    return dirs


def _snapshot(repo_dir: Path) -> Path | None:
    """The snapshot refs/main points at, else the newest snapshot holding a config.json."""
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        snap = repo_dir / "snapshots" / ref.read_text().strip()
        if (snap / "config.json").is_file():
            return snap
    snaps = [s for s in (repo_dir / "snapshots").glob("*") if (s / "config.json").is_file()]
    return max(snaps, key=lambda s: s.stat().st_mtime) if snaps else None


def find_config_file(spec: str) -> Path | None:
    """The config.json a path or HF repo id refers to, or None when it names nothing on disk."""
    p = Path(spec).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        if (p / "config.json").is_file():
            return p / "config.json"
        if (p / "snapshots").is_dir():
            snap = _snapshot(p)
            return snap / "config.json" if snap else None
        raise ConfigError(f"{p}: no config.json in this directory (expected a Hugging Face model directory)")
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        org, name = spec.split("/")
        for cache in hf_cache_dirs():
            repo = cache / f"models--{org}--{name}"
            if repo.is_dir():
                snap = _snapshot(repo)
                if snap:
                    return snap / "config.json"
    return None


def read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it ({e})") from None


def load_model(spec: str) -> ModelArch:
    """ModelArch for a catalog name or alias, a config.json, a model directory, or a cached HF repo."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"a model must be named by a catalog name, a path or ORG/NAME, got {spec!r}")
    entry = catalog.find_model(spec)
    if entry is not None:
        return parse_config(entry["config"], name=entry["name"], source=entry["source"])
    from specsize.assets import bundled_model_dir

    bundled = bundled_model_dir(spec)
    if bundled is not None:
        return parse_config(read_json(bundled / "config.json"), name=spec, source=f"bundled model {spec}")
    path = find_config_file(spec)
    looks_like_path = spec.startswith((".", "/", "~")) or spec.endswith(".json") or spec.count("/") > 1
    if path is None and looks_like_path:
        raise ConfigError(
            f"{spec}: no such file or directory (give a config.json, a model directory, or a "
            "catalog name from `specsize models`)"
        )
    if path is None:
        names = ", ".join(catalog.model_names())
        raise ConfigError(
            f"unknown model {spec!r}: not a catalog name, a config.json, a model directory, or a repository in the "
            f"local Hugging Face cache. Catalog: {names}"
        )
    name = path.resolve().parent.name or path.stem  # ./config.json: the current folder's name
    if path.parent.parent.name == "snapshots":
        name = path.parent.parent.parent.name.removeprefix("models--").replace("--", "/")
    return parse_config(read_json(path), name=name, source=str(path))
