"""Write byte chunks to a file and SHA-256 them, on two background threads.

Writing a large JSONL file and hashing it are each as costly as the rest of the parent's work
(SHA-256 runs at a few hundred MB/s on CPUs without SHA extensions). Both release the GIL on
large buffers, so handing them to threads lets them run beside the main thread (building
records, collecting encoded images) and beside each other. The queues are bounded, so memory
stays flat; chunks are shared, never copied.

The writing thread also pushes the file to disk every ``sync_every`` bytes, so that the final
``fsync`` (which makes the atomic rename durable) has little left to do: on a machine with
plenty of RAM nothing else starts writeback early, and flushing a gigabyte only at the end
would take seconds.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import IO

__all__ = ["HashingWriter"]

_QUEUE_RECORDS = 64
_SYNC_EVERY = 32 << 20
_STOP: None = None


class HashingWriter:
    """Appends chunk sequences to ``handle`` and to a SHA-256, in order, off the main thread.

    Use as a context manager; on a clean exit every chunk is written and hashed, and
    :attr:`sha256` holds the digest. An error in a worker thread is raised from the next
    :meth:`put` or from the exit.
    """

    def __init__(self, handle: IO[bytes], *, sync_every: int | None = _SYNC_EVERY) -> None:
        self.byte_size = 0
        self.sha256 = ""
        self._handle = handle
        self._sync_every = sync_every
        self._unsynced = 0
        self._hash = hashlib.sha256()
        self._error: BaseException | None = None
        self._queues: list[queue.Queue[Sequence[bytes] | None]] = []
        self._threads: list[threading.Thread] = []
        for name, consume in (("write", self._write), ("sha256", self._hash.update)):
            jobs: queue.Queue[Sequence[bytes] | None] = queue.Queue(maxsize=_QUEUE_RECORDS)
            thread = threading.Thread(
                target=self._run, args=(jobs, consume), name=f"vqaft-{name}", daemon=True
            )
            self._queues.append(jobs)
            self._threads.append(thread)

    def __enter__(self) -> HashingWriter:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        for jobs in self._queues:
            jobs.put(_STOP)
        for thread in self._threads:
            thread.join()
        if exc_type is None:
            self._raise_if_failed()
            self.sha256 = self._hash.hexdigest()

    def put(self, chunks: Sequence[bytes]) -> None:
        """Queue ``chunks`` (one record) for writing and hashing; blocks when the queue is full."""
        self._raise_if_failed()
        for jobs in self._queues:
            jobs.put(chunks)
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
