"""Run image encodes in worker processes, or inline when one core is asked for.

Workers receive the source bytes and return the finished ``data:`` URL as ASCII bytes, so the
parent only copies bytes into the output file. Worker processes are started with
``forkserver`` where available (safe in a multi-threaded parent, unlike ``fork``, and cheap
once the server has imported the encoder) and ``spawn`` elsewhere.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
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
    """``None`` means one fewer than the available CPUs, and at least one.

    The writing process keeps about one core busy on its own (serialising records, writing
    and SHA-256-hashing the output on background threads), so on two CPUs the default is to
    encode in-process (``1``) while those threads use the other core.
    """
    if workers is None:
        return max(1, available_cpus() - 1)
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}", hint="use 1 for no pool")
    return workers


def open_executor(workers: int) -> Executor:
    """A process pool with ``workers`` processes, or an inline executor for ``workers == 1``."""
    if workers <= 1:
        return InlineExecutor()
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # Import the encoder once in the fork server (a no-op once the server runs), so each
        # worker starts as a cheap fork instead of importing vqaft afresh. "__main__" is the
        # default preload, kept so that other users of the fork server see no change.
        context.set_forkserver_preload(["__main__", __name__])
        return ProcessPoolExecutor(max_workers=workers, mp_context=context)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
