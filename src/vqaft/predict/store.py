"""The predictions store: an append-only JSONL file that survives crashes and restarts.

Each answered (or failed) example becomes one JSON line, written with one ``write`` call as
soon as the answer arrives; ``fsync`` follows at most every ``fsync_interval`` seconds and on
close. When the same id appears again (a failed example retried), the latest line wins.

Opening a store:

* reads what is there, keeping the latest record per example id;
* repairs a torn last line (a write cut short by a crash or ``kill -9``): an incomplete line
  at the end is cut off (a complete JSON object that only lacks its newline is kept), so the
  example is simply asked again;
* refuses a file that is damaged in the middle (that is not a crash artefact), naming the line;
* takes an exclusive lock (POSIX ``flock``), so two runs cannot write one file at once; the
  operating system releases it when a process dies, however it dies.

:meth:`PredictionStore.compact` rewrites the file atomically (temporary file, ``fsync``,
rename) with one line per id in the test file's order, which is what
:func:`vqaft.evaluate.load_predictions` expects; the runner does that at the end of each run.

>>> with PredictionStore.open("predictions.jsonl") as store:  # doctest: +SKIP
...     store.append({"example_id": "b1:0", "predicted_answer": "Dune", ...})
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from vqaft.errors import PredictionError, PredictionsFileError

__all__ = ["PredictionStore"]


def _lock(fd: int, path: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - no flock on Windows; run one at a time
        return
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise PredictionError(
            "another process is writing these predictions",
            file=str(path),
            hint="wait for the other vqaft predict run to finish, or choose another --out",
        ) from None


def _record_id(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    value = data.get("example_id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PredictionStore:
    """An open predictions file: the latest record per example id, and appends.

    Use :meth:`open` (a context manager). Attributes after opening:

    Attributes:
        path: the file.
        repaired_bytes: bytes of a torn last line cut off when opening (0 if none).
        superseded: lines replaced by a later line with the same id (retried failures).
    """

    def __init__(self, path: Path, fd: int, fsync_interval: float) -> None:
        self.path = path
        self._fd: int | None = fd
        self._fsync_interval = fsync_interval
        self._last_sync = time.monotonic()
        self._dirty = False
        self._records: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self.repaired_bytes = 0
        self.superseded = 0

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, fsync_interval: float = 1.0) -> PredictionStore:
        """Open (or create) the store at ``path``, repairing a torn last line.

        Args:
            path: the JSONL file; its folder is created if needed.
            fsync_interval: seconds between ``fsync`` calls while appending (0: every line).

        Raises:
            PredictionsFileError: a line other than the last is not a JSON object with an
                ``example_id``.
            PredictionError: another process holds the file.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        _lock(fd, target)
        store = cls(target, fd, fsync_interval)
        try:
            store._load()
        except BaseException:
            store.close()
            raise
        return store

    def _load(self) -> None:
        with open(self.path, "rb") as handle:
            content = handle.read()
        offset, number, good_end = 0, 0, 0
        pending_error: PredictionsFileError | None = None
        while offset < len(content):
            newline = content.find(b"\n", offset)
            end = len(content) if newline < 0 else newline + 1
            raw = content[offset:end]
            number += 1
            offset = end
            if not raw.strip():
                if newline >= 0:
                    good_end = end
                continue
            parsed = self._parse(raw)
            if parsed is None:
                # Bad line: fine if nothing valid follows (a torn tail), an error otherwise.
                pending_error = pending_error or PredictionsFileError(
                    "not a complete JSON object with an example_id",
                    file=str(self.path),
                    line=number,
                    hint="the file is damaged before its last line; move it aside (or delete "
                    "that line) and run again",
                )
                continue
            if pending_error is not None:
                raise pending_error
            if newline < 0:  # complete record, only the newline was lost
                os.write(self._fd_or_raise(), b"\n")
                end += 1
            self._remember(parsed)
            good_end = end
        if good_end < len(content):
            self.repaired_bytes = len(content) - good_end
            os.ftruncate(self._fd_or_raise(), good_end)
            os.fsync(self._fd_or_raise())

    @staticmethod
    def _parse(raw: bytes) -> dict[str, Any] | None:
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return data if _record_id(data) is not None else None

    def _remember(self, record: dict[str, Any]) -> None:
        example_id = _record_id(record)
        if example_id is None:  # pragma: no cover - checked by callers
            return
        if example_id in self._records:
            self.superseded += 1
        else:
            self._order.append(example_id)
        self._records[example_id] = record

    def _fd_or_raise(self) -> int:
        if self._fd is None:
            raise PredictionError("the predictions store is closed", file=str(self.path))
        return self._fd

    # -- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, example_id: object) -> bool:
        return example_id in self._records

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The latest record per id, in order of first appearance."""
        return (self._records[i] for i in self._order)

    def get(self, example_id: str) -> dict[str, Any] | None:
        """The latest record of ``example_id``, or ``None`` if it has none."""
        return self._records.get(example_id)

    def answered(self) -> set[str]:
        """Ids whose latest record is an answer."""
        return {i for i, r in self._records.items() if r.get("error") is None}

    def failed(self) -> set[str]:
        """Ids whose latest record is a failure (``error`` set)."""
        return {i for i, r in self._records.items() if r.get("error") is not None}

    def models(self) -> set[str]:
        """The ``model`` values recorded."""
        return {r["model"] for r in self._records.values() if isinstance(r.get("model"), str)}

    # -- writing ------------------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record (one ``write``; ``fsync`` at most every ``fsync_interval``).

        Raises:
            PredictionsFileError: the record has no ``example_id``.
        """
        data = dict(record)
        if _record_id(data) is None:
            raise PredictionsFileError(
                "a prediction record needs a non-empty example_id", file=str(self.path)
            )
        line = (json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n").encode()
        fd = self._fd_or_raise()
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        self._remember(data)
        self._dirty = True
        if time.monotonic() - self._last_sync >= self._fsync_interval:
            self.sync()

    def sync(self) -> None:
        """``fsync`` what was appended."""
        if self._fd is not None and self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._last_sync = time.monotonic()

    def needs_compaction(self, order: Sequence[str]) -> bool:
        """Whether the file has repeated ids or is not in ``order`` (ids not in ``order`` last)."""
        return self.superseded > 0 or self._order != self._ordered_ids(order)

    def _ordered_ids(self, order: Sequence[str]) -> list[str]:
        listed = [i for i in order if i in self._records]
        known = set(listed)
        return listed + [i for i in self._order if i not in known]

    def compact(self, order: Sequence[str] = ()) -> bool:
        """Rewrite the file with the latest line per id, ids in ``order`` first, atomically.

        Returns whether the file was rewritten (not when it is already compact and ordered).
        """
        if not self.needs_compaction(order):
            return False
        self.sync()
        ids = self._ordered_ids(order)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "wb") as out:
                for example_id in ids:
                    record = self._records[example_id]
                    out.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(self.path.parent)
        # The old file (which our descriptor and lock belong to) is gone: reopen the new one.
        old = self._fd_or_raise()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        _lock(fd, self.path)
        os.close(old)
        self._fd = fd
        self._order = ids
        self.superseded = 0
        return True

    def close(self) -> None:
        """``fsync`` and close (releases the lock); idempotent."""
        if self._fd is None:
            return
        try:
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> PredictionStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd is None else f"{len(self._records)} ids"
        return f"PredictionStore({str(self.path)!r}, {state})"
