"""Write byte chunks to a file on a background thread, and fingerprint them on the way.

Writing a large JSONL file costs as much as the rest of the parent's work; the write releases
the GIL, so handing it to a thread lets it run beside the main thread (building records,
collecting encoded images). The queue is bounded, so memory stays flat; chunks are shared,
never copied.

The fingerprint is vqaft's *content digest* (see :func:`vqaft.messages.writer.content_digest`):
SHA-256 over the file's bytes with every image data URL replaced by that URL's own BLAKE2b-256.
Callers pass the replacement chunks, so the big image payloads are hashed once per image, not
once per question, and the digest is still recomputable from the file alone.

With ``durable=True`` the writing thread also pushes the file to disk every 32 MB, so that the
final ``fsync`` (which makes the atomic rename durable) has little left to do: on a machine
with plenty of RAM nothing else starts writeback early, and flushing a gigabyte only at the
end would take seconds. By default nothing is forced to disk: the OS writes the page cache
back on its own, and a killed process loses nothing that was written.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import IO

__all__ = ["RecordWriter"]

_QUEUE_RECORDS = 64
_SYNC_EVERY = 32 << 20
_STOP: None = None


class RecordWriter:
    """Appends chunk sequences to ``handle`` off the main thread, and fingerprints them.

    Use as a context manager; on a clean exit every chunk is written and
    :attr:`content_sha256` holds the content digest. An error in the writing thread is raised
    from the next :meth:`put` or from the exit.
    """

    def __init__(self, handle: IO[bytes], *, durable: bool = False) -> None:
        self.byte_size = 0
        self.content_sha256 = ""
        self._handle = handle
        self._sync_every = _SYNC_EVERY if durable else None
        self._unsynced = 0
        self._hash = hashlib.sha256()
        self._error: BaseException | None = None
        self._jobs: queue.Queue[Sequence[bytes] | None] = queue.Queue(maxsize=_QUEUE_RECORDS)
        self._thread = threading.Thread(
            target=self._run, args=(self._jobs, self._write), name="vqaft-write", daemon=True
        )

    def __enter__(self) -> RecordWriter:
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._jobs.put(_STOP)
        self._thread.join()
        if exc_type is None:
            self._raise_if_failed()
            self.content_sha256 = self._hash.hexdigest()

    def put(self, chunks: Sequence[bytes], fingerprint: Sequence[bytes]) -> None:
        """Queue ``chunks`` (one record) for writing; hash ``fingerprint`` (the same chunks with
        each image data URL replaced by its BLAKE2b-256). Blocks when the queue is full."""
        self._raise_if_failed()
        self._jobs.put(chunks)
        for chunk in fingerprint:
            self._hash.update(chunk)
        self.byte_size += sum(len(chunk) for chunk in chunks)

    def _write(self, chunk: bytes) -> None:
        self._handle.write(chunk)
        if self._sync_every is None:
            return
        self._unsynced += len(chunk)
        if self._unsynced >= self._sync_every:
            self._handle.flush()
            _datasync(self._handle.fileno())
            self._unsynced = 0

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(
        self, jobs: queue.Queue[Sequence[bytes] | None], consume: Callable[[bytes], object]
    ) -> None:
        while True:
            chunks = jobs.get()
            if chunks is None:
                return
            if self._error is not None:
                continue  # keep draining so the producer never blocks forever
            try:
                for chunk in chunks:
                    consume(chunk)
            except BaseException as exc:
                self._error = exc


def _datasync(fd: int) -> None:
    sync = getattr(os, "fdatasync", os.fsync)  # fdatasync is missing on macOS
    sync(fd)
