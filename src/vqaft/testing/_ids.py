"""Seeded generation of OpenAI-looking object ids (``file-...``, ``ftjob-...``)."""

from __future__ import annotations

import random
import string
import threading

__all__ = ["IdFactory"]

_ALNUM = string.ascii_letters + string.digits


class IdFactory:
    """Makes ids from a seeded generator, so a run with the same request order repeats them."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - ids for a test double, not secrets
        self._lock = threading.Lock()

    def alnum(self, prefix: str, length: int = 24) -> str:
        """``prefix`` followed by ``length`` letters and digits (``file-``, ``ftjob-``)."""
        with self._lock:
            return prefix + "".join(self._rng.choices(_ALNUM, k=length))

    def hex(self, prefix: str, length: int = 32) -> str:
        """``prefix`` followed by ``length`` hex digits (``batch_``, ``req_``)."""
        with self._lock:
            return prefix + f"{self._rng.getrandbits(4 * length):0{length}x}"
