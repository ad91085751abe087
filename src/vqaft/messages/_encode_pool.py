"""Run image encodes on a thread pool, or inline when one worker is asked for.

Pillow releases the GIL while it decodes, converts and resizes, and while it encodes into a
real file (:func:`vqaft.messages._image_save.save_to_bytes` gives it an in-memory one), so
threads spread that work over the cores without the costs of processes: no pickling of image
bytes, no worker memory, no fork server, and no ``if __name__ == "__main__"`` guard needed in
the user's script or notebook. Each encode returns the finished ``data:`` URL as ASCII bytes, so
the writer only copies bytes into the output file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from vqaft.errors import ConfigError, ImageError
from vqaft.messages.images import ImagePolicy, _encode, _Encoded
from vqaft.messages.vision_tokens import Detail

__all__ = ["EncodeFailure", "EncodeOutcome", "InlineExecutor", "encode_job", "open_executor"]

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class EncodeFailure:
    """An image that could not be encoded (an :class:`ImageError`'s message and hint)."""

    message: str
    hint: str | None


EncodeOutcome = _Encoded | EncodeFailure


def encode_job(
    data: bytes, policy: ImagePolicy, detail: Detail, digest: str | None = None
) -> EncodeOutcome:
    """Encode one image; an :class:`ImageError` becomes an :class:`EncodeFailure` value."""
    try:
        return _encode(data, policy, detail, digest)
    except ImageError as exc:
        return EncodeFailure(exc.message, exc.hint)


class InlineExecutor(Executor):
    """An executor that runs each call at once in the calling thread (``workers=1``)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def available_cpus() -> int:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # pragma: no cover - non-Linux


def resolve_workers(workers: int | None) -> int:
    """``None`` means one encoding thread per available CPU."""
    if workers is None:
        return available_cpus()
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}", hint="use 1 for no pool")
    return workers


def open_executor(workers: int) -> Executor:
    """A pool of ``workers`` encoding threads, or an inline executor for ``workers == 1``."""
    if workers <= 1:
        return InlineExecutor()
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vqaft-encode")
