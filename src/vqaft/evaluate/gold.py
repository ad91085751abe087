"""Gold answers from a file, for predictions that do not carry their own.

Two layouts load as they are:

* the ``<split>.ids.jsonl`` side file that ``vqaft prepare`` writes next to each split, one
  ``{"line", "example_id", "image_id", "question", "answers", "image_sha256"}`` object per line;
* any JSONL file with ``example_id`` and the gold answer(s) under ``answers``, ``answer``,
  ``actual_answer`` or ``gold`` (a string or a list of strings), optionally ``question`` and
  ``image_id`` -- a predictions file works too.

Other fields are ignored. ``example_id`` may be a string or an integer (it becomes its decimal
string, as in predictions files).

>>> gold = gold_from_mapping({"b1:0": "Jane Doe", "b1:1": ["Yes"]})
>>> gold["b1:0"].answers, len(gold)
(('Jane Doe',), 2)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vqaft.datasets.base import OnError, SkippedItem
from vqaft.errors import ConfigError, EvaluationError

__all__ = ["ANSWER_FIELDS", "GoldEntry", "GoldSet", "gold_from_mapping", "load_gold"]

ANSWER_FIELDS = ("answers", "answer", "actual_answer", "gold")
"""Fields read as the gold answer(s), first present wins."""


class GoldEntry(BaseModel):
    """The gold answer(s) of one example.

    Attributes:
        example_id: the example's id.
        answers: the acceptable answers (at least one).
        question: the question text, if the file has it.
        image_id: the image's id, if the file has it.
        line: the 1-based line of the gold file it came from.
    """

    model_config = ConfigDict(frozen=True)

    example_id: str
    answers: tuple[str, ...] = Field(min_length=1)
    question: str | None = None
    image_id: str | None = None
    line: int | None = None


class GoldSet(BaseModel):
    """Gold answers keyed by example id, in file order.

    Attributes:
        entries: ``{example_id: GoldEntry}``.
        source: the file they came from, if any.
        skipped: lines left out under ``on_error="skip"``, with the reason.
    """

    model_config = ConfigDict(frozen=True)

    entries: dict[str, GoldEntry]
    source: str | None = None
    skipped: tuple[SkippedItem, ...] = ()

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, example_id: object) -> bool:
        return example_id in self.entries

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.entries)

    def __getitem__(self, example_id: str) -> GoldEntry:
        """The entry of ``example_id``.

        Raises:
            EvaluationError: there is no gold answer for that id.
        """
        try:
            return self.entries[example_id]
        except KeyError:
            raise EvaluationError(
                "no gold answer for this example id",
                file=self.source,
                example_id=example_id,
                hint="check that the predictions and the gold file come from the same split",
            ) from None


def _id_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _answers(data: Mapping[str, Any]) -> tuple[str, ...]:
    for name in ANSWER_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, str):
            return (value,)
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError(f"{name} must be a string or a non-empty list of strings")
    raise ValueError("no gold answer (expected one of: " + ", ".join(ANSWER_FIELDS) + ")")


def _entry(data: Any, line: int | None) -> GoldEntry:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    example_id = _id_text(data.get("example_id"))
    if example_id is None:
        raise ValueError("missing or invalid example_id (a non-empty string or an integer)")
    question = data.get("question")
    image_id = data.get("image_id")
    return GoldEntry(
        example_id=example_id,
        answers=_answers(data),
        question=question if isinstance(question, str) else None,
        image_id=str(image_id) if isinstance(image_id, (str, int)) else None,
        line=line,
    )


def load_gold(path: str | Path, *, on_error: OnError = "raise") -> GoldSet:
    """Load gold answers from a JSONL file (see the module docstring for the layouts).

    Args:
        path: the file, e.g. ``runs/x/data/test.ids.jsonl``.
        on_error: ``"raise"`` stops at the first bad line; ``"skip"`` lists it in
            :attr:`GoldSet.skipped` (a repeated id keeps its first line).

    Raises:
        EvaluationError: a bad line or repeated example id (unless skipping), an unreadable
            file, or a file without any gold answer.
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    source = str(path)
    entries: dict[str, GoldEntry] = {}
    skipped: list[SkippedItem] = []
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise EvaluationError(
            f"cannot read gold file: {exc.strerror or exc}", file=source, hint="check the path"
        ) from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            example_id: str | None = None
            try:
                data = json.loads(raw)
                if isinstance(data, dict):
                    example_id = _id_text(data.get("example_id"))
                entry = _entry(data, number)
                if entry.example_id in entries:
                    raise ValueError(
                        f"example id {entry.example_id!r} appears again (first on line "
                        f"{entries[entry.example_id].line})"
                    )
            except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
                message = f"invalid JSON: {exc}" if isinstance(exc, json.JSONDecodeError) else exc
                error = EvaluationError(
                    str(message),
                    file=source,
                    line=number,
                    example_id=example_id,
                    hint="each line needs example_id and answers (a string or list of strings)",
                )
                if on_error != "skip":
                    raise error from None
                skipped.append(
                    SkippedItem(
                        reason=str(message), file=source, line=number, example_id=example_id
                    )
                )
                continue
            entries[entry.example_id] = entry
    if not entries:
        raise EvaluationError(
            "the gold file holds no gold answers",
            file=source,
            hint="pass the <split>.ids.jsonl written by vqaft prepare, or a JSONL file with "
            "example_id and answers",
        )
    return GoldSet(entries=entries, source=source, skipped=tuple(skipped))


def gold_from_mapping(
    mapping: Mapping[str, str | Sequence[str]], *, source: str | None = None
) -> GoldSet:
    """Gold answers from ``{example_id: answer or [answers]}``.

    Raises:
        EvaluationError: an answer is empty or not text.
    """
    entries: dict[str, GoldEntry] = {}
    for key, value in mapping.items():
        try:
            answers = _answers({"answers": value if isinstance(value, str) else list(value)})
        except (ValueError, TypeError) as exc:
            raise EvaluationError(str(exc), example_id=str(key), file=source) from None
        entries[str(key)] = GoldEntry(example_id=str(key), answers=answers)
    return GoldSet(entries=entries, source=source)
