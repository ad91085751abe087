"""Write vqaft's prepared data in other trainers' formats, so it can be taken anywhere.

* ``trl`` -- ``messages`` with ``{"type": "image"}`` parts + ``images`` (paths);
* ``llama-factory`` -- ShareGPT ``messages`` with ``<image>`` + ``images``, and an entry in
  ``dataset_info.json``;
* ``ms-swift`` -- ``messages`` with ``<image>`` + ``images``;
* ``axolotl`` -- ``messages`` with ``{"type": "image", "path": ...}`` parts, and a config
  snippet ``<stem>.axolotl.yaml``.

Images are written once each to ``<out>/images/`` and referenced by path::

    >>> from vqaft.export import export_file
    >>> result = export_file("runs/x/data/train.jsonl", "ms-swift", "exp")  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
    ms-swift: 721 records (721 with answers), 721 images (150 new) -> exp/train.jsonl

From the command line: ``vqaft export runs/x/data/train.jsonl --format trl --out exports/trl``.
"""

from __future__ import annotations

import difflib
import os

from vqaft.errors import ConfigError
from vqaft.export.axolotl import AxolotlExporter
from vqaft.export.base import Exporter, ExportResult, export_records
from vqaft.export.llama_factory import LlamaFactoryExporter
from vqaft.export.ms_swift import MsSwiftExporter
from vqaft.export.trl import TRLExporter

__all__ = [
    "EXPORTERS",
    "AxolotlExporter",
    "ExportResult",
    "Exporter",
    "LlamaFactoryExporter",
    "MsSwiftExporter",
    "TRLExporter",
    "export_file",
    "get_exporter",
]

EXPORTERS: dict[str, Exporter] = {
    e.name: e for e in (TRLExporter(), LlamaFactoryExporter(), MsSwiftExporter(), AxolotlExporter())
}
"""The export formats by name."""


def get_exporter(name: str) -> Exporter:
    """The exporter called ``name``.

    Raises:
        ConfigError: no such format (with the closest names and the list).
    """
    try:
        return EXPORTERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(EXPORTERS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "formats: " + ", ".join(EXPORTERS)
        raise ConfigError(f"unknown export format {name!r}", hint=hint) from None


def export_file(
    source: str | os.PathLike[str],
    format: str,
    out_dir: str | os.PathLike[str],
    *,
    relative_paths: bool = False,
) -> ExportResult:
    """Export one vqaft chat JSONL file (train, validation or test) to ``format``.

    Raises:
        ConfigError: unknown format, or ``out_dir`` would overwrite the source.
        DatasetError: a record is malformed (file, line, example id).
        ImageError: an image cannot be read.
    """
    return export_records(get_exporter(format), source, out_dir, relative_paths=relative_paths)
