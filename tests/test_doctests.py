"""Every docstring example in the package runs and shows what it says (``+SKIP`` ones aside)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import vqaft

# Subpackages with optional heavy dependencies are imported only when those are installed.
_OPTIONAL = ("vqaft.hf", "vqaft.local")


def _modules() -> list[str]:
    names = ["vqaft"]
    for info in pkgutil.walk_packages(vqaft.__path__, prefix="vqaft."):
        if not info.name.endswith(".__main__"):  # running it would start the command
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        if name.startswith(_OPTIONAL):
            pytest.skip(f"optional dependency missing: {exc}")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
