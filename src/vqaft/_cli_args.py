"""Argument types shared by vqaft's command lines (``vqaft`` and ``python -m vqaft.hf.train``).

>>> key_value("batch-size=16")
('batch_size', 16)
>>> key_value("model=gpt-4o")
('model', 'gpt-4o')
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["key_value"]


def key_value(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` for ``-P``-style options: the value is read as JSON when it parses,
    else kept as a string; dashes in the key become underscores (keyword-argument names)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.replace("-", "_"), value
