"""Models bundled with the package (package data): the tiny-r1 family, built by scripts/build_tiny_r1.py, and
tiny-dense (a dense Qwen2 target that tiny-r1-draft drafts for), built by scripts/build_tiny_dense.py. A bundled
name works wherever a model directory does."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED = ("tiny-r1", "tiny-r1-draft", "tiny-dense")


def bundled_model_dir(name: str) -> Path | None:
    """The directory of a bundled model, or None (an unknown name, or a build without the assets)."""
    if name not in BUNDLED:
        return None
    path = Path(str(resources.files("specsize.assets").joinpath(name)))
    return path if (path / "config.json").is_file() else None
