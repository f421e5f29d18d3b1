"""specsize: size, predict and measure DeepSeek-R1 and its family with speculative decoding.

The calculator (this package without `specsize.engine`) is pure Python and never imports torch.
"""

from specsize.config import ModelArch, parse_config
from specsize.errors import SpecsizeError
from specsize.resolve import load_model

__version__ = "0.1.0"
__all__ = ["ModelArch", "SpecsizeError", "__version__", "inspect", "load_model", "parse_config"]


def inspect(model: str) -> dict:
    """The component breakdown, totals, checkpoint bytes and KV bytes of a model (as `specsize inspect --json`)."""
    from specsize.report import inspect_report

    return inspect_report(load_model(model))
