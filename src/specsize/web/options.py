"""The form's choices, read from the catalogs (models, precisions, GPUs, engines, links)."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def choices() -> dict[str, Any]:
    from specsize import catalog
    from specsize.assets import BUNDLED, bundled_model_dir
    from specsize.engines import ENGINES
    from specsize.hardware import gpu_ids
    from specsize.kvcache import KV_DTYPE_BYTES
    from specsize.launch import VERSIONS
    from specsize.quant import PRECISIONS
    from specsize.scenario import SPEC_METHODS

    models = catalog.model_names() + [n for n in BUNDLED if bundled_model_dir(n) is not None]
    gpus = [(g, e["name"]) for g, e in catalog.hardware_entries("gpus").items() if g in gpu_ids()]
    return {
        "models": models,
        "precisions": list(PRECISIONS),
        "kv_dtypes": list(KV_DTYPE_BYTES),
        "gpus": gpus,
        "engines": list(ENGINES),
        "methods": list(SPEC_METHODS),
        "links": list(catalog.hardware_entries("links")),
        "launch_engines": list(VERSIONS),  # the engines launch.py writes commands for
    }
