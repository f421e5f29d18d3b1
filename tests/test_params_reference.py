"""Our parameter count equals transformers' own model, instantiated on the meta device, for every family."""

import random

import pytest

from specsize.config import SUPPORTED_FAMILIES, parse_config
from specsize.params import count_params

from .conftest import random_config

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def transformers_numel(cfg: dict) -> int:
    """sum(p.numel()) of the transformers model, plus DeepSeek-V3's e_score_correction_bias, which the
    checkpoint stores as a tensor but transformers registers as a buffer."""
    kwargs = {k: v for k, v in cfg.items() if k != "model_type"}
    hf_cfg = transformers.AutoConfig.for_model(cfg["model_type"], **kwargs)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_cfg)
    n = sum(p.numel() for p in model.parameters())
    n += sum(b.numel() for name, b in model.named_buffers() if name.endswith("e_score_correction_bias"))
    return n


@pytest.mark.parametrize("family", SUPPORTED_FAMILIES)
@pytest.mark.parametrize("seed", range(4))
def test_param_count_matches_transformers(family, seed):
    cfg = random_config(family, random.Random(f"{family}-{seed}"))
    ours = count_params(parse_config(cfg)).total  # main model: transformers drops the MTP layer
    assert ours == transformers_numel(cfg), cfg
