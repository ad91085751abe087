"""Turn one source row into examples: validate it, explode its questions, resolve its image.

Every table-like adapter (OCR-VQA, Hugging Face datasets, parquet, JSONL) funnels its rows
through :func:`explode_row`, so all of them accept and reject exactly the same rows with the same
messages. A row is one *image*; its ``question`` value is either one string (one example) or a
list of strings (one example per entry, with the answer list of the same length).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vqaft.datasets.base import OnError, SkippedItem
from vqaft.errors import ConfigError, DatasetError
from vqaft.types import Example, ImageRef

__all__ = [
    "OPTIONAL_ROLES",
    "REQUIRED_ROLES",
    "ErrorSink",
    "RawRow",
    "RoleSpec",
    "Roles",
    "explode_row",
    "image_ref_from_value",
]

_log = logging.getLogger("vqaft.datasets")

REQUIRED_ROLES = ("question", "answer", "image")
"""Roles every dataset must map to a column (or JSON field)."""
OPTIONAL_ROLES = ("image_id", "id")
"""Roles that may be absent: ``image_id`` defaults to ``"<split>-<row>"``, ``id`` to
``"<image_id>:<k>"``."""

_DEFAULT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "question": ("question", "questions"),
    "answer": ("answer", "answers"),
    "image": ("image",),
    "image_id": ("image_id",),
    "id": ("id",),
}

RESERVED_METADATA_KEYS = ("row", "line")
"""Metadata keys the adapters fill themselves (source row index, JSONL line number)."""


@dataclass(frozen=True)
class Roles:
    """The column (or JSON field) that plays each role, resolved for one table or object."""

    question: str
    answer: str
    image: str
    image_id: str | None = None
    id: str | None = None

    def columns(self) -> list[str]:
        """The columns these roles read, without duplicates, in role order."""
        names = [self.question, self.answer, self.image, self.image_id, self.id]
        return list(dict.fromkeys(n for n in names if n is not None))


@dataclass(frozen=True)
class RoleSpec:
    """Which column plays which role, as the user gave it; unnamed roles use default names.

    A role mapped to ``None`` is switched off (optional roles only). Unnamed roles try their
    default names in order: question ``question``/``questions``, answer ``answer``/``answers``,
    image ``image``, image_id ``image_id``, id ``id``.
    """

    explicit: Mapping[str, str | None]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str | None] | None, *, what: str) -> RoleSpec:
        """Check a user's ``{role: column}`` mapping.

        Raises:
            ConfigError: an unknown role, a required role switched off, or a non-string name.
        """
        given = dict(mapping or {})
        known = REQUIRED_ROLES + OPTIONAL_ROLES
        for role, column in given.items():
            if role not in known:
                raise ConfigError(
                    f"unknown {what} role {role!r}",
                    hint="roles are " + ", ".join(known),
                )
            if column is None and role in REQUIRED_ROLES:
                raise ConfigError(
                    f"the {role!r} role cannot be switched off", hint=f"name its {what}"
                )
            if column is not None and (not isinstance(column, str) or not column):
                raise ConfigError(
                    f"{what} for role {role!r} must be a non-empty string, got {column!r}"
                )
        return cls(given)

    def resolve(self, available: Collection[str]) -> tuple[Roles | None, list[str]]:
        """Resolve against the columns present: ``(roles, [])`` or ``(None, missing)``.

        ``missing`` describes each required role that found no column (e.g. ``"'question'"``
        or ``"'question' or 'questions'"`` when defaults were tried).
        """
        chosen: dict[str, str | None] = {}
        missing: list[str] = []
        for role in REQUIRED_ROLES + OPTIONAL_ROLES:
            if role in self.explicit:
                column = self.explicit[role]
                if column is not None and column not in available:
                    missing.append(repr(column))
                chosen[role] = column
                continue
            candidates = _DEFAULT_CANDIDATES[role]
            found = next((c for c in candidates if c in available), None)
            if found is None and role in REQUIRED_ROLES:
                missing.append(" or ".join(repr(c) for c in candidates))
            chosen[role] = found
        if missing:
            return None, missing
        return (
            Roles(
                question=_str(chosen["question"]),
                answer=_str(chosen["answer"]),
                image=_str(chosen["image"]),
                image_id=chosen["image_id"],
                id=chosen["id"],
            ),
            [],
        )


def _str(value: str | None) -> str:
    if value is None:  # pragma: no cover - resolve() fills every required role first
        raise ConfigError("internal error: a required role is unresolved")
    return value


@dataclass(frozen=True)
class RawRow:
    """One image row as read from a source, before validation.

    Exactly one of ``values`` (the row's projected columns / the JSON object) and ``problem``
    (why the row could not even be read, e.g. invalid JSON) is set.
    """

    index: int
    file: str | None
    values: Mapping[str, Any] | None = None
    line: int | None = None
    base_dir: Path | None = None
    problem: DatasetError | None = None


class ErrorSink:
    """Applies an ``on_error`` policy: raise the first problem, or record each one and go on.

    Under ``"skip"`` each problem becomes a :class:`SkippedItem` appended to ``skipped``; when no
    list was given it is logged as a warning on the ``vqaft.datasets`` logger, so no data is
    dropped without a trace.
    """

    def __init__(self, on_error: OnError, skipped: list[SkippedItem] | None, split: str) -> None:
        if on_error not in ("raise", "skip"):
            raise ConfigError(
                f"on_error must be 'raise' or 'skip', got {on_error!r}",
                hint="use on_error='skip' to record bad rows and carry on",
            )
        self.on_error = on_error
        self.skipped = skipped
        self.split = split
        self.count = 0

    def report(self, error: DatasetError) -> None:
        """Raise ``error``, or record it as skipped."""
        if self.on_error == "raise":
            raise error
        self.count += 1
        item = SkippedItem(
            reason=error.message,
            split=self.split,
            row=error.row,
            example_id=error.example_id,
            file=error.file,
            line=error.line,
        )
        if self.skipped is not None:
            self.skipped.append(item)
        else:
            _log.warning("skipped: %s", error)


_ROW_HINT = "fix or remove the row, or pass on_error='skip' to skip it and carry on"


def explode_row(
    raw: RawRow,
    roles: Roles,
    *,
    split: str,
    metadata_columns: Sequence[str],
    sink: ErrorSink,
) -> list[Example]:
    """Validate one image row and return its examples (one per question), in question order.

    A problem with the whole row (image, image_id, question/answer lists) is reported to
    ``sink`` and yields no example; a problem with one question or answer skips only that
    pair, so the ids of the others (``"<image_id>:<k>"``) do not change.
    """
    values = raw.values if raw.values is not None else {}
    where = f"row {raw.index}"

    def problem(message: str, *, hint: str = _ROW_HINT, example_id: str | None = None) -> None:
        sink.report(
            DatasetError(
                f"split {split!r}, {where}: {message}",
                file=raw.file,
                line=raw.line,
                row=raw.index,
                example_id=example_id,
                hint=hint,
            )
        )

    # -- image id --------------------------------------------------------------------------
    if roles.image_id is not None:
        raw_id = values.get(roles.image_id)
        if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
            problem(f"image id ({roles.image_id!r}) is missing")
            return []
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            problem(
                f"image id ({roles.image_id!r}) must be a string or an integer, "
                f"got {type(raw_id).__name__}"
            )
            return []
        image_id = str(raw_id)
    else:
        image_id = f"{split}-{raw.index}"
    where = f"image_id {image_id!r}"

    # -- image -----------------------------------------------------------------------------
    try:
        image = image_ref_from_value(values.get(roles.image), raw.base_dir)
    except _BadValue as bad:
        problem(f"image ({roles.image!r}) {bad.message}", hint=bad.hint)
        return []

    # -- questions and answers ---------------------------------------------------------------
    questions = values.get(roles.question)
    answers = values.get(roles.answer)
    ids = values.get(roles.id) if roles.id is not None else None
    pairs: list[tuple[Any, Any, Any]]
    if questions is None:
        problem(f"question ({roles.question!r}) is missing")
        return []
    if isinstance(questions, (list, tuple)):
        if answers is None:
            problem(f"answers ({roles.answer!r}) are missing")
            return []
        if not isinstance(answers, (list, tuple)):
            problem(
                f"questions ({roles.question!r}) hold a list but answers ({roles.answer!r}) "
                f"hold a {type(answers).__name__}",
                hint="give one answer per question, as a list of the same length",
            )
            return []
        if len(questions) != len(answers):
            problem(
                f"questions and answers differ in length ({len(questions)} vs {len(answers)})",
                hint="every question needs exactly one answer (or one list of answers); "
                + _ROW_HINT,
            )
            return []
        if not questions:
            problem("the row has no questions", hint="remove the row, or add its questions")
            return []
        if isinstance(ids, (list, tuple)):
            if len(ids) != len(questions):
                problem(
                    f"ids ({roles.id!r}) and questions differ in length "
                    f"({len(ids)} vs {len(questions)})",
                    hint="give one id per question, or leave the id column out",
                )
                return []
            id_list = list(ids)
        elif ids is not None:  # one id for the row: the k-th question gets "<id>:<k>"
            id_list = [_suffixed(ids, k) for k in range(len(questions))]
        else:
            id_list = [None] * len(questions)
        pairs = list(zip(questions, answers, id_list, strict=True))
    elif isinstance(questions, str):
        if answers is None:
            problem(f"answer ({roles.answer!r}) is missing")
            return []
        pairs = [(questions, answers, ids)]
    else:
        problem(
            f"question ({roles.question!r}) must be a string or a list of strings, "
            f"got {type(questions).__name__}",
            hint="store questions as text",
        )
        return []

    try:
        metadata = {column: _jsonable(values.get(column), column) for column in metadata_columns}
    except _BadValue as bad:
        problem(bad.message, hint=bad.hint)
        return []
    metadata["row"] = raw.index
    if raw.line is not None:
        metadata["line"] = raw.line

    examples: list[Example] = []
    for k, (question, answer, given_id) in enumerate(pairs):
        example_id = f"{image_id}:{k}"
        if given_id is not None:
            if isinstance(given_id, bool) or not isinstance(given_id, (str, int)):
                problem(f"id of question {k} must be a string or an integer", hint=_ROW_HINT)
                continue
            if str(given_id).strip():
                example_id = str(given_id)
        bad_question = _text_problem(question)
        if bad_question is not None:
            problem(
                f"question {k} {bad_question}",
                hint="questions must be non-empty strings; " + _ROW_HINT,
                example_id=example_id,
            )
            continue
        gold = _answers(answer)
        if isinstance(gold, str):
            problem(
                f"answer {k} {gold}",
                hint="answers must be non-empty strings (or lists of them); " + _ROW_HINT,
                example_id=example_id,
            )
            continue
        examples.append(
            Example(
                id=example_id,
                image=image,
                question=question,
                answers=gold,
                image_id=image_id,
                split=split,
                metadata=dict(metadata),
            )
        )
    return examples


def _suffixed(row_id: object, k: int) -> object:
    if isinstance(row_id, bool) or not isinstance(row_id, (str, int)):
        return row_id  # reported as a bad id below
    return f"{row_id}:{k}"


def _text_problem(value: object) -> str | None:
    """Why ``value`` is not usable text, or ``None`` when it is."""
    if value is None:
        return "is missing (null)"
    if not isinstance(value, str):
        return f"is not a string ({type(value).__name__} {value!r:.40})"
    if not value.strip():
        return "is empty"
    return None


def _answers(value: object) -> tuple[str, ...] | str:
    """The gold answers, or a string saying what is wrong with them."""
    if isinstance(value, (list, tuple)):
        if not value:
            return "is an empty list"
        for i, item in enumerate(value):
            why = _text_problem(item)
            if why is not None:
                return f"(alternative {i}) {why}"
        return tuple(value)
    why = _text_problem(value)
    if why is not None:
        return why
    return (str(value),)


class _BadValue(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


_IMAGE_HINT = "every row needs an image: bytes, a file path, an http(s) URL or a data URL"

_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",  # TIFF
    b"MM\x00*",
)


def image_ref_from_value(value: object, base_dir: Path | None) -> ImageRef:
    """Turn a stored image value into an :class:`ImageRef` without decoding the image.

    Accepted: a ``datasets`` Image dict (``{"bytes": ..., "path": ...}``; bytes win, a lone
    path is resolved against ``base_dir``), raw bytes, an ``http(s)://`` URL (kept as a URL), a
    ``data:`` URL, a raw base64 string of a PNG/JPEG/GIF/WebP/BMP/TIFF image, or a file path.

    >>> image_ref_from_value({"bytes": None, "path": "c.jpg"}, Path("/data")).path
    '/data/c.jpg'
    """
    if value is None:
        raise _BadValue("is missing (null)", _IMAGE_HINT)
    if isinstance(value, Mapping):
        data = value.get("bytes")
        if data is not None:
            return image_ref_from_value(data, base_dir)
        path = value.get("path")
        if path is None or (isinstance(path, str) and not path.strip()):
            raise _BadValue("is missing (both bytes and path are null)", _IMAGE_HINT)
        return image_ref_from_value(path, base_dir)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if not data:
            raise _BadValue("is empty (zero bytes)", _IMAGE_HINT)
        return ImageRef(data=data)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise _BadValue("is an empty string", _IMAGE_HINT)
        lowered = text[:8].lower()
        if lowered.startswith(("http://", "https://", "data:")):
            return ImageRef(url=text)
        if lowered.startswith("file://"):
            text = text[len("file://") :]
        decoded = _base64_image(text)
        if decoded is not None:
            return ImageRef(data=decoded)
        path = Path(text)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return ImageRef(path=str(path))
    raise _BadValue(f"has unsupported type {type(value).__name__}", _IMAGE_HINT)


def _base64_image(text: str) -> bytes | None:
    """The bytes of ``text`` if it is raw base64 of a known image format, else ``None``."""
    if len(text) < 32 or "." in text:
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if data.startswith(_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return data
    return None


def _jsonable(value: object, column: str) -> Any:
    """``value`` as JSON-ready data (dates become ISO strings); binary data is refused."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, column) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, column) for k, v in value.items()}
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise _BadValue(
            f"metadata column {column!r} holds binary data",
            "leave binary columns out of the metadata columns",
        )
    return str(value)
