"""What every exporter shares: the protocol, the result, the image folder, the driver.

An exporter turns vqaft's chat-format records (OpenAI messages, images as base64 data URLs)
into one row of another trainer's format. The driver (:func:`export_records`) reads the
source file, writes each distinct image once into ``<out>/images/`` (named by its SHA-256, so
a cover asked about three times is stored once), hands the exporter each record with its
image paths, writes the rows to ``<out>/<stem>.jsonl`` atomically, and lets the exporter add
its side files (LLaMA-Factory's ``dataset_info.json``, an axolotl config snippet).

Writing an exporter::

    class MyFormat:
        name = "my-format"
        description = "..."

        def row(self, example: ChatExample, images: list[str]) -> dict[str, Any]: ...

        def finish(self, out_dir: Path, data_file: Path, records: int) -> list[Path]:
            return []
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from PIL import Image
from pydantic import BaseModel, ConfigDict

from vqaft.errors import ConfigError, DatasetError, ImageError
from vqaft.hf.data import ChatExample, Message, read_chat_jsonl

__all__ = [
    "IMAGE_TOKEN",
    "ExportResult",
    "Exporter",
    "ImageFolder",
    "export_records",
    "plain_messages",
]

IMAGE_TOKEN = "<image>"  # noqa: S105 - a placeholder, not a secret
"""The image placeholder of LLaMA-Factory and ms-swift text content."""

_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


class ExportResult(BaseModel):
    """What an export wrote.

    Attributes:
        format: the exporter's name.
        source: the vqaft JSONL file read.
        data_file: the rows written (``<out>/<stem>.jsonl``).
        side_files: other files written (``dataset_info.json``, a config snippet, ...).
        records: rows written (one per source record; none is dropped).
        answered: rows that carry an assistant answer (training rows).
        images: images referenced; images_written: files newly written (the rest were there).
    """

    model_config = ConfigDict(frozen=True)

    format: str
    source: str
    data_file: str
    side_files: list[str]
    records: int
    answered: int
    images: int
    images_written: int

    def summary(self) -> str:
        """One line for the command line."""
        extra = f" (+ {', '.join(self.side_files)})" if self.side_files else ""
        return (
            f"{self.format}: {self.records} records ({self.answered} with answers), "
            f"{self.images} images ({self.images_written} new) -> {self.data_file}{extra}"
        )


@runtime_checkable
class Exporter(Protocol):
    """One target format."""

    name: str
    description: str

    def row(self, example: ChatExample, images: list[str]) -> dict[str, Any]:
        """The row for one record; ``images`` are the paths of its images, in order."""
        ...

    def finish(self, out_dir: Path, data_file: Path, records: int) -> list[Path]:
        """Write side files after the rows; return their paths."""
        ...


class ImageFolder:
    """Writes each distinct image once, as ``<folder>/<sha256>.<ext>``.

    Args:
        folder: where the images go (created).
        relative_to: write paths relative to this folder (default: absolute paths).
    """

    def __init__(self, folder: Path, relative_to: Path | None = None) -> None:
        self.folder = folder
        self.relative_to = relative_to
        self.seen: dict[str, str] = {}
        self.written = 0

    def add(self, data: bytes, *, example: ChatExample, file: str) -> str:
        """Store ``data`` (if new) and return the path to reference it by.

        Raises:
            ImageError: the bytes are not an image Pillow recognises.
        """
        digest = hashlib.sha256(data).hexdigest()
        known = self.seen.get(digest)
        if known is not None:
            return known
        try:
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format or ""
        except Exception as exc:  # Pillow raises many types for corrupt data
            raise ImageError(
                f"cannot read image: {exc}",
                file=file,
                line=example.line,
                example_id=example.example_id,
                hint="re-encode it as JPEG or PNG (vqaft prepare does)",
            ) from exc
        target = self.folder / f"{digest}.{_EXTENSIONS.get(kind, kind.lower() or 'bin')}"
        if not target.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, target)
            self.written += 1
        path = (
            os.path.relpath(target, self.relative_to)
            if self.relative_to is not None
            else str(target.resolve())
        )
        self.seen[digest] = path
        return path


def plain_messages(example: ChatExample, *, file: str | None = None) -> list[Message]:
    """The messages with string content: text parts joined, each image as ``<image>``.

    Raises:
        DatasetError: a text already contains ``<image>`` (it would count as an image).
    """
    out: list[Message] = []
    for message in [*example.prompt, *(example.completion or [])]:
        pieces = []
        for part in message["content"]:
            if part["type"] == "image":
                pieces.append(IMAGE_TOKEN)
                continue
            if IMAGE_TOKEN in part["text"]:
                raise DatasetError(
                    f"the text contains {IMAGE_TOKEN!r}, which this format reads as an image",
                    file=file,
                    line=example.line,
                    example_id=example.example_id,
                    hint="reword the text, or export to the trl or axolotl format",
                )
            pieces.append(part["text"])
        out.append({"role": message["role"], "content": "".join(pieces)})
    return out


def export_records(
    exporter: Exporter,
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    relative_paths: bool = False,
) -> ExportResult:
    """Export the vqaft JSONL file ``source`` to ``out_dir`` with ``exporter``.

    Images go to ``out_dir/images/``; rows to ``out_dir/<stem>.jsonl`` (written under a
    temporary name, then renamed). Image paths are absolute unless ``relative_paths`` (then
    relative to ``out_dir``, for moving the folder elsewhere).

    Raises:
        DatasetError: the source is missing or a record is malformed (file, line, example id).
        ImageError: an image cannot be read.
        ConfigError: ``out_dir`` is the source's own folder and would overwrite it.
    """
    src = Path(source)
    out = Path(out_dir)
    data_file = out / f"{src.stem}.jsonl"
    if data_file.resolve() == src.resolve():
        raise ConfigError(
            "the export would overwrite its source file",
            file=str(src),
            hint="choose another --out folder",
        )
    out.mkdir(parents=True, exist_ok=True)
    images = ImageFolder(out / "images", relative_to=out if relative_paths else None)
    records = answered = referenced = 0
    temporary = data_file.with_name(f".{data_file.name}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            for example in _examples(src):
                paths = [images.add(d, example=example, file=str(src)) for d in example.images]
                try:
                    row = exporter.row(example, paths)
                except DatasetError as exc:
                    if exc.file is not None:
                        raise
                    raise DatasetError(
                        exc.message,
                        file=str(src),
                        line=example.line,
                        example_id=example.example_id,
                        hint=exc.hint,
                    ) from None
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                records += 1
                answered += example.completion is not None
                referenced += len(paths)
        os.replace(temporary, data_file)
    finally:
        temporary.unlink(missing_ok=True)
    side = exporter.finish(out, data_file, records)
    return ExportResult(
        format=exporter.name,
        source=str(src),
        data_file=str(data_file),
        side_files=[str(p) for p in side],
        records=records,
        answered=answered,
        images=referenced,
        images_written=images.written,
    )


def _examples(source: Path) -> Iterable[ChatExample]:
    return read_chat_jsonl(source, require_answer=False)
