"""Build small OCR-VQA-shaped datasets (parquet shards, JSONL) with real Pillow images."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from vqaft.datasets.ocr_vqa_schema import OCR_VQA_SCHEMA

GENRES = ("Cookbooks, Food & Wine", "Travel", "Law", "Science Fiction & Fantasy", "Reference")


def image_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (8, 6)) -> bytes:
    """A tiny solid-colour image, different for every seed."""
    colour = ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256)
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


def noise_png(seed: int, side: int = 96) -> bytes:
    """An incompressible PNG (random pixels): about ``3 * side**2`` bytes."""
    data = random.Random(seed).randbytes(side * side * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), data).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def ocr_vqa_row(image_id: str, seed: int, n_questions: int, **overrides: Any) -> dict[str, Any]:
    """One row in the Hugging Face OCR-VQA layout with ``n_questions`` QA pairs."""
    genre = GENRES[seed % len(GENRES)]
    title = f"Book number {seed}"
    author = f"Author {seed % 7}"
    pool = [
        ("Who wrote this book?", author),
        ("What is the title of this book?", title),
        ("What type of book is this?", genre),
        ("Is this a travel book?", "Yes" if genre == "Travel" else "No"),
        ("Is this book related to Law?", "Yes" if genre == "Law" else "No"),
        ("What is the genre of this book?", genre),
        ("Who is the author of this book?", author),
    ]
    row: dict[str, Any] = {
        "image": {"bytes": image_bytes(seed, "JPEG" if seed % 2 else "PNG"), "path": None},
        "image_id": image_id,
        "questions": [q for q, _ in pool[:n_questions]],
        "answers": [a for _, a in pool[:n_questions]],
        "ocr_tokens": title.split(),
        "ocr_info": [],
        "title": title,
        "authorName": author,
        "genre": genre,
        "image_width": 8,
        "image_height": 6,
        "image_url": f"http://ecx.images-amazon.com/images/I/{image_id}.jpg",
        "set_name": "train",
    }
    row.update(overrides)
    return row


def ocr_vqa_rows(prefix: str, count: int, *, first_seed: int = 0) -> list[dict[str, Any]]:
    """``count`` rows with ids ``<prefix><n>`` and 2 to 7 questions each."""
    rng = random.Random(first_seed)
    return [
        ocr_vqa_row(f"{prefix}{first_seed + i:04d}", first_seed + i, rng.randint(2, 7))
        for i in range(count)
    ]


def write_parquet(
    path: Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    schema: pa.Schema | None = OCR_VQA_SCHEMA,
    row_group_size: int | None = None,
) -> Path:
    """Write ``rows`` to one parquet file (``schema=None`` lets pyarrow infer the types)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(list(rows), schema=schema)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def write_hf_layout(
    root: Path,
    splits: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]],
    *,
    schema: pa.Schema | None = OCR_VQA_SCHEMA,
    row_group_size: int | None = None,
) -> Path:
    """Write ``{split: [shard rows, ...]}`` as ``root/data/<split>-0000i-of-0000n.parquet``."""
    for split, shards in splits.items():
        for i, rows in enumerate(shards):
            name = f"{split}-{i:05d}-of-{len(shards):05d}.parquet"
            write_parquet(root / "data" / name, rows, schema=schema, row_group_size=row_group_size)
    return root


def write_jsonl(path: Path, lines: Iterable[Mapping[str, Any] | str | bytes]) -> Path:
    """Write objects (as JSON), strings and raw bytes, one per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for line in lines:
            if isinstance(line, bytes):
                handle.write(line + b"\n")
            elif isinstance(line, str):
                handle.write(line.encode() + b"\n")
            else:
                handle.write(json.dumps(line).encode() + b"\n")
    return path
