"""The examples in the evaluation modules' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "vqaft.evaluate",
    "vqaft.evaluate.anls",
    "vqaft.evaluate.base",
    "vqaft.evaluate.fuzzy",
    "vqaft.evaluate.normalize",
    "vqaft.evaluate.predictions",
    "vqaft.evaluate.question_types",
    "vqaft.evaluate.scoring",
    "vqaft.evaluate.statistics",
    "vqaft.evaluate.strings",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
