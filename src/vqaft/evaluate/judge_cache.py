"""The LLM judge's on-disk cache: one JSON line per judged item, keyed by everything it saw.

A rating is reused only when the judge model, the prompt version, the question, its
open/closed type, the gold answers (in any order) and the prediction are all the same; the
key is a SHA-256 of those. The file is plain JSONL (no pickle), append-only, readable and
greppable; each line also keeps the inputs, so a rating can be audited::

    {"key": "9c1e...", "model": "gpt-4o", "prompt_version": "vqaft-judge-1",
     "question": "Who wrote this book?", "closed": false, "gold": ["Cookshack"],
     "prediction": "Cookshack, Inc.", "rating": "Very Similar", "created": "2025-..."}

No secret is ever written: the API key is not part of an entry. Lines that cannot be read
(a line cut short by an interrupted run, a hand edit) are skipped, listed in
:attr:`JudgeCache.skipped` and logged; later lines for the same key win.

>>> cache = JudgeCache()           # in memory only
>>> key = cache_key("gpt-4o", "v1", "Who wrote this book?", ["Cookshack"], "Cookshack Inc",
...                 closed=False)
>>> cache.get(key) is None
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from vqaft.datasets.base import SkippedItem
from vqaft.errors import ConfigError
from vqaft.evaluate.judge_prompt import Rating

__all__ = ["CACHE_DIR_ENV", "CacheEntry", "JudgeCache", "cache_key", "default_cache_path"]

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "VQAFT_CACHE_DIR"
"""Environment variable naming the folder of vqaft's caches (default ``~/.cache/vqaft``)."""

_FILE_NAME = "judge-cache.jsonl"


def default_cache_path() -> Path:
    """Where the judge cache lives by default.

    ``$VQAFT_CACHE_DIR/judge-cache.jsonl``, else ``$XDG_CACHE_HOME/vqaft/judge-cache.jsonl``,
    else ``~/.cache/vqaft/judge-cache.jsonl``.
    """
    folder = os.environ.get(CACHE_DIR_ENV)
    if folder:
        return Path(folder).expanduser() / _FILE_NAME
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "vqaft" / _FILE_NAME


def cache_key(
    model: str,
    prompt_version: str,
    question: str | None,
    gold: Sequence[str],
    prediction: str,
    *,
    closed: bool,
) -> str:
    """The cache key of one judged item (hex SHA-256; gold order does not matter)."""
    material = json.dumps(
        [model, prompt_version, question, closed, sorted(gold), prediction],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class CacheEntry(BaseModel):
    """One line of the cache file: a rating and everything that produced it."""

    model_config = ConfigDict(frozen=True)

    key: str
    model: str
    prompt_version: str
    question: str | None
    closed: bool
    gold: tuple[str, ...]
    prediction: str
    rating: Rating
    created: str = ""

    @classmethod
    def make(
        cls,
        *,
        model: str,
        prompt_version: str,
        question: str | None,
        closed: bool,
        gold: Sequence[str],
        prediction: str,
        rating: Rating,
    ) -> CacheEntry:
        """An entry with its key computed and the current time (UTC) recorded."""
        return cls(
            key=cache_key(model, prompt_version, question, gold, prediction, closed=closed),
            model=model,
            prompt_version=prompt_version,
            question=question,
            closed=closed,
            gold=tuple(gold),
            prediction=prediction,
            rating=rating,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )


class JudgeCache:
    """Ratings by cache key, in memory and (with ``path``) in an append-only JSONL file.

    Safe to share between the tasks and threads of one process (a lock guards reads and
    writes). Two processes appending to the same file do not corrupt each other's lines on
    local file systems (each entry is written with one ``write`` in append mode), but each
    only sees the other's entries when it next opens the file.

    Args:
        path: the JSONL file (created on first write), or ``None`` for a cache that lives in
            memory only.

    Raises:
        ConfigError: (on first use) the file exists but cannot be read.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path).expanduser()
        self.skipped: list[SkippedItem] = []
        self.write_errors = 0
        self._ratings: dict[str, Rating] = {}
        self._loaded = self.path is None
        self._needs_newline = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = "memory" if self.path is None else str(self.path)
        return f"JudgeCache({where!r})"

    def __len__(self) -> int:
        with self._lock:
            self._load()
            return len(self._ratings)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def get(self, key: str) -> Rating | None:
        """The cached rating for ``key``, or ``None`` when the item was never judged."""
        with self._lock:
            self._load()
            return self._ratings.get(key)

    def put(self, entries: Iterable[CacheEntry]) -> None:
        """Remember ratings, and append them to the file (one line each).

        A failed write (disk full, permissions) is logged and counted in ``write_errors``;
        the ratings are still kept in memory for this process.
        """
        batch = list(entries)
        if not batch:
            return
        with self._lock:
            self._load()
            for entry in batch:
                self._ratings[entry.key] = entry.rating
            if self.path is None:
                return
            text = "".join(entry.model_dump_json() + "\n" for entry in batch)
            if self._needs_newline:
                text = "\n" + text
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError as exc:
                self.write_errors += 1
                log.warning(
                    "judge cache %s: could not append %d entries (%s); they are kept in "
                    "memory only",
                    self.path,
                    len(batch),
                    exc.strerror or exc,
                )
            else:
                self._needs_newline = False

    def _load(self) -> None:
        """Read the file once (caller holds the lock)."""
        if self._loaded or self.path is None:
            return
        self._loaded = True
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(
                f"cannot read the judge cache: {exc.strerror or exc}",
                file=str(self.path),
                hint="fix its permissions, or pass another cache path (or cache=None)",
            ) from exc
        self._needs_newline = bool(raw) and not raw.endswith(b"\n")
        # Split at "\n" only: str.splitlines would also split inside entries whose text holds
        # U+2028, U+0085 or other characters that JSON leaves unescaped.
        for number, line in enumerate(raw.decode("utf-8", errors="replace").split("\n"), 1):
            if not line.strip():
                continue
            try:
                entry = CacheEntry.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ())) or "line"
                self.skipped.append(
                    SkippedItem(
                        reason=f"unreadable cache entry ({where}: {first.get('msg', 'invalid')})",
                        file=str(self.path),
                        line=number,
                    )
                )
                continue
            self._ratings[entry.key] = entry.rating
        if self.skipped:
            log.warning(
                "judge cache %s: skipped %d unreadable lines (first: line %s); their items will "
                "be judged again",
                self.path,
                len(self.skipped),
                self.skipped[0].line,
            )
