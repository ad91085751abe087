"""Lazy, random-access reader of JSON Lines files (one image row per non-blank line).

Lines are read as bytes and decoded one at a time, so a line that is not UTF-8 or not valid
JSON is reported with its file and 1-based line number instead of failing the whole file.
Random access uses an index of line offsets (built on first need: 16 bytes per row); a full
pass in order just streams the files.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vqaft.datasets._arrow_rows import CHUNK_ROWS
from vqaft.datasets._explode import RawRow
from vqaft.errors import DatasetError

__all__ = ["JsonlRows"]

_BOM = b"\xef\xbb\xbf"
_LINE_HINT = "each line must hold one JSON object; fix the line or pass on_error='skip'"


class JsonlRows:
    """The rows of one split stored in JSONL files (read in the order given)."""

    def __init__(self, files: Sequence[Path], *, split: str) -> None:
        if not files:
            raise DatasetError(f"split {split!r} has no data files", hint="name at least one file")
        self.files = list(files)
        self.split = split
        self.label = str(files[0]) if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"
        self._offsets: list[array[int]] | None = None
        self._lines: list[array[int]] = []
        self._starts = np.zeros(1, dtype=np.int64)

    def file_columns(self) -> list[tuple[str, list[str]]] | None:
        """``None``: JSONL has no schema, fields are checked line by line."""
        return None

    def __len__(self) -> int:
        self._index()
        return int(self._starts[-1])

    def _index(self) -> list[array[int]]:
        if self._offsets is not None:
            return self._offsets
        offsets: list[array[int]] = []
        for path in self.files:
            file_offsets: array[int] = array("q")
            file_lines: array[int] = array("q")
            position = 0
            with self._open(path) as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        file_offsets.append(position)
                        file_lines.append(number)
                    position += len(line)
            offsets.append(file_offsets)
            self._lines.append(file_lines)
        self._starts = np.concatenate([[0], np.cumsum([len(o) for o in offsets])])
        self._offsets = offsets
        return offsets

    def _open(self, path: Path) -> BinaryIO:
        try:
            return path.open("rb")
        except OSError as exc:
            raise DatasetError(
                f"split {self.split!r}: cannot open JSONL file: {exc.strerror or exc}",
                file=str(path),
                hint="check the path",
            ) from exc

    def rows(self, indices: Sequence[int] | None, columns: Sequence[str]) -> Iterator[RawRow]:
        """Yield parsed rows; ``columns`` is ignored (a JSON object is parsed whole)."""
        if indices is None:
            index = 0
            for path in self.files:
                with self._open(path) as handle:
                    for number, line in enumerate(handle, start=1):
                        if line.strip():
                            yield self._parse(line, path, number, index)
                            index += 1
            return
        offsets = self._index()
        with ExitStack() as stack:
            handles: dict[int, BinaryIO] = {}
            for start in range(0, len(indices), CHUNK_ROWS):
                chunk = np.asarray(indices[start : start + CHUNK_ROWS], dtype=np.int64)
                owners = np.searchsorted(self._starts, chunk, side="right") - 1
                for index, owner in zip(chunk.tolist(), owners.tolist(), strict=True):
                    if owner not in handles:
                        handles[owner] = stack.enter_context(self._open(self.files[owner]))
                    local = index - int(self._starts[owner])
                    handle = handles[owner]
                    handle.seek(offsets[owner][local])
                    line = handle.readline()
                    number = self._lines[owner][local]
                    yield self._parse(line, self.files[owner], number, index)

    def _parse(self, line: bytes, path: Path, number: int, index: int) -> RawRow:
        def bad(message: str, hint: str = _LINE_HINT) -> RawRow:
            error = DatasetError(
                f"split {self.split!r}: {message}",
                file=str(path),
                line=number,
                row=index,
                hint=hint,
            )
            return RawRow(index=index, file=str(path), line=number, problem=error)

        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return bad(
                f"line is not valid UTF-8 (byte 0x{line[exc.start]:02x} at position {exc.start})",
                hint="re-save the file as UTF-8, or pass on_error='skip'",
            )
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            return bad(f"invalid JSON: {exc.msg} (column {exc.colno})")
        if not isinstance(values, dict):
            return bad(f"expected a JSON object, got {type(values).__name__}")
        return RawRow(index=index, file=str(path), line=number, values=values, base_dir=path.parent)
