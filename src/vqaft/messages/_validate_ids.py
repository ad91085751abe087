"""Read the ``<stem>.ids.jsonl`` side file that maps JSONL lines to example ids.

The writer puts one ``{"line": n, "example_id": ..., "image_id": ..., ...}`` object per record,
in line order. :class:`IdsLookup` checks the order in one quick pass, then walks the side file
in step with the training file, so memory stays constant; a side file out of order is read
into a dictionary instead (and said so).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from vqaft.messages._validate_images import Problem

__all__ = ["IdsLookup", "side_file_for"]


def side_file_for(path: Path) -> Path:
    """``data/train.jsonl`` -> ``data/train.ids.jsonl``."""
    return path.with_name(path.stem + ".ids.jsonl")


class IdsLookup:
    """Example id of each line of a training file, from its side file.

    Use as a context manager; call :meth:`get` with increasing line numbers.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[tuple[int, Problem]] = []
        self.records = 0
        self._handle: IO[bytes] | None = None
        self._ordinal = 0
        self._pending: tuple[int, str | None] | None = None
        self._table: dict[int, str | None] | None = None
        self._max_asked = 0
        self._exhausted = False

    def __enter__(self) -> IdsLookup:
        self._handle = self.path.open("rb")
        if not self._in_order():
            self._load_table()
        return self

    def _in_order(self) -> bool:
        """One quick pass: are the side file's ``line`` values increasing?"""
        last = 0
        with self.path.open("rb") as handle:
            for ordinal, raw in enumerate(handle, 1):
                try:
                    obj = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                line = obj.get("line", ordinal) if isinstance(obj, dict) else None
                if isinstance(line, int):
                    if line <= last:
                        return False
                    last = line
        return True

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _next(self) -> tuple[int, str | None] | None:
        if self._handle is None or self._exhausted:
            return None
        for raw in self._handle:
            self._ordinal += 1
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                self._problem(f"side file line {self._ordinal} is not valid JSON ({exc})")
                continue
            if not isinstance(obj, dict):
                self._problem(f"side file line {self._ordinal} is not a JSON object")
                continue
            self.records += 1
            line = obj.get("line", self.records)
            if not isinstance(line, int) or isinstance(line, bool) or line < 1:
                self._problem(f"side file line {self._ordinal} has an invalid 'line': {line!r}")
                continue
            example_id = obj.get("example_id")
            return line, None if example_id is None else str(example_id)
        self._exhausted = True
        return None

    def _problem(self, message: str) -> None:
        self.problems.append(
            (
                self._ordinal,
                Problem(
                    "warning",
                    "ids_file_mismatch",
                    message,
                    "rewrite the data files with vqaft so the side file matches",
                ),
            )
        )

    def get(self, line: int) -> str | None:
        """The example id of ``line`` of the training file, or None if the side file has none."""
        self._max_asked = max(self._max_asked, line)
        if self._table is not None:
            return self._table.get(line)
        while True:
            if self._pending is None:
                self._pending = self._next()
                if self._pending is None:
                    return None
            pending_line, example_id = self._pending
            if pending_line == line:
                self._pending = None
                return example_id
            if pending_line > line:
                return None
            self._pending = None  # a side-file entry for a line already passed

    def _load_table(self) -> None:
        # Rare path: the whole side file in a dictionary.
        table: dict[int, str | None] = {}
        while (item := self._next()) is not None:
            table.setdefault(item[0], item[1])
        self._problem("side file is not in line order; it was read into memory")
        self._table = table
        self._pending = None

    def remaining(self) -> int:
        """Side-file records not matched to a line (read to the end)."""
        extra = 0
        if self._table is not None:
            return sum(1 for line in self._table if line > self._max_asked)
        if self._pending is not None:
            extra += 1
            self._pending = None
        while self._next() is not None:
            extra += 1
        return extra
