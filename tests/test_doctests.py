"""The planner's docstring examples run as tests: every top-level specsize module with a `>>>` example.
(A test module rather than pytest's --doctest-modules: the suite is run as `pytest tests ...`, which would not
collect src/, and the engine's modules import torch.)"""

import doctest
import importlib
from pathlib import Path

import pytest

import specsize

WITH_EXAMPLES = sorted(
    p.stem for p in Path(specsize.__file__).parent.glob("*.py") if p.stem != "__main__" and ">>> " in p.read_text()
)


def test_the_planner_has_examples():
    assert {"deployment", "scenario"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(f"specsize.{name}"))
    assert result.attempted and not result.failed
