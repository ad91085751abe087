"""Writing synthetic covers as OCR-VQA-layout Parquet, one row group at a time."""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from vqaft.datasets.ocr_vqa_schema import OCR_VQA_SCHEMA

if TYPE_CHECKING:
    from vqaft.datasets.synthetic import SyntheticCover

__all__ = ["hf_schema", "write_covers_parquet"]


@lru_cache(maxsize=1)
def hf_schema() -> pa.Schema:
    """:data:`OCR_VQA_SCHEMA` with ``datasets`` feature metadata (``image`` as an Image)."""
    import datasets

    features = datasets.Features.from_arrow_schema(OCR_VQA_SCHEMA)
    features["image"] = datasets.Image()
    return OCR_VQA_SCHEMA.with_metadata(features.arrow_schema.metadata)


def write_covers_parquet(
    covers: Iterable[SyntheticCover],
    path: Path,
    *,
    rows_per_group: int = 64,
    total: int | None = None,
    progress_label: str | None = None,
) -> Path:
    """Stream ``covers`` into ``path`` (written to a temporary name, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    schema = hf_schema()
    bar = tqdm(total=total, desc=progress_label, unit="img", disable=progress_label is None)
    try:
        with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
            batch: list[dict[str, object]] = []
            for cover in covers:
                batch.append(cover.to_row())
                if len(batch) >= rows_per_group:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    bar.update(len(batch))
                    batch = []
            if batch or total == 0:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                bar.update(len(batch))
        os.replace(partial, path)
    finally:
        bar.close()
        partial.unlink(missing_ok=True)
    return path
