"""The ``export`` subcommand: ``vqaft export FILE.jsonl --format FORMAT --out DIR``.

:func:`add_commands` adds it to the main parser's subparsers (the handler returns an exit code
and raises :class:`~vqaft.errors.VqaftError` for bad input)::

    vqaft export runs/x/data/train.jsonl runs/x/data/validation.jsonl --format llama-factory \\
        --out exports/llama-factory
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vqaft.export import EXPORTERS, export_file

__all__ = ["add_commands"]


def add_commands(subparsers: Any) -> None:
    """Add ``export`` to ``subparsers`` (from ``add_subparsers``)."""
    formats = "; ".join(f"{name}: {e.description}" for name, e in EXPORTERS.items())
    p = subparsers.add_parser(
        "export",
        help="write prepared JSONL files in another trainer's format (trl, llama-factory, "
        "ms-swift, axolotl)",
        description="Convert vqaft chat-format JSONL files (images as data URLs) into another "
        "trainer's format. Each distinct image is written once to OUT/images/; each FILE "
        f"becomes OUT/<stem>.jsonl. Formats: {formats}.",
    )
    p.add_argument("files", type=Path, nargs="+", metavar="FILE.jsonl")
    p.add_argument("--format", required=True, choices=sorted(EXPORTERS), dest="format_name")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument(
        "--relative-paths",
        action="store_true",
        help="image paths relative to DIR (to move the folder) instead of absolute",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    results = [
        export_file(f, args.format_name, args.out, relative_paths=args.relative_paths)
        for f in args.files
    ]
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
    else:
        for result in results:
            print(result.summary())
    return 0
