"""Encoding a Pillow image to bytes without holding the GIL.

Pillow releases the GIL while it encodes into a *real file* (one with a ``fileno``), but not
while it encodes into an ``io.BytesIO``: there the compressed data comes back to Python in
chunks, under the lock. With ``BytesIO``, encoding threads take turns and two threads encode
no faster than one. :func:`save_to_bytes` encodes into an in-memory file instead (a Linux
``memfd``, one per thread and reused), then reads the bytes back: the same bytes, and the
encoding runs on every core. Where ``memfd_create`` does not exist it falls back to
``BytesIO``.

>>> from PIL import Image
>>> image = Image.new("RGB", (32, 16), (200, 30, 30))
>>> buffer = io.BytesIO()
>>> image.save(buffer, format="JPEG", quality=90)
>>> save_to_bytes(image, "JPEG", quality=90) == buffer.getvalue()
True
"""

from __future__ import annotations

import io
import os
import threading
import weakref
from typing import Any

from PIL import Image

__all__ = ["save_to_bytes"]

_local = threading.local()
_KEEP_BYTES = 8 << 20  # an in-memory file larger than this is emptied after use


class _MemoryFile(io.FileIO):
    """An anonymous in-memory file of this thread, closed when the thread's storage goes."""


def _thread_file() -> io.FileIO | None:
    handle: io.FileIO | None = getattr(_local, "handle", None)
    if handle is not None and getattr(_local, "pid", None) != os.getpid():
        # A forked child inherits the thread's file *description* (offset and contents are
        # shared with the parent): it must not write into it. It gets a file of its own.
        handle = None
    if handle is None and hasattr(os, "memfd_create"):
        try:
            fd = os.memfd_create("vqaft-image", getattr(os, "MFD_CLOEXEC", 0))
        except OSError:  # e.g. a seccomp profile that forbids it: fall back to BytesIO
            return None
        # closefd=False: the finaliser owns the descriptor, so a thread that ends while
        # holding a file closes it without a ResourceWarning.
        handle = _MemoryFile(fd, "w+b", closefd=False)
        weakref.finalize(handle, os.close, fd)
        _local.handle = handle
        _local.pid = os.getpid()
    return handle


def save_to_bytes(image: Image.Image, format: str, **options: Any) -> bytes:
    """``image.save(<buffer>, format, **options)``, returning the buffer's bytes."""
    handle = _thread_file()
    if handle is None:
        buffer = io.BytesIO()
        image.save(buffer, format=format, **options)
        return buffer.getvalue()
    # Overwrite from the start without truncating: the file's pages are reused rather than
    # freed and faulted in again, and only the first ``size`` bytes are read back.
    handle.seek(0)
    image.save(handle, format=format, **options)
    size = handle.tell()
    chunks = [os.pread(handle.fileno(), size, 0)]
    done = len(chunks[0])
    while done < size:  # pread may return less than asked for; read the rest
        chunk = os.pread(handle.fileno(), size - done, done)
        if not chunk:
            raise OSError(f"in-memory image file ended at {done} of {size} bytes")
        chunks.append(chunk)
        done += len(chunk)
    if size > _KEEP_BYTES:
        handle.truncate(0)  # do not hold on to the memory of an unusually large image
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
