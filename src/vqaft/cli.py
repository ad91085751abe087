"""The ``vqaft`` command line: a thin layer over the public API."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vqaft`` command."""
    del argv
    print("vqaft: commands arrive soon", file=sys.stderr)
    return 2
