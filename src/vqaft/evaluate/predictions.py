"""Predictions JSONL: one line per example id, loaded and checked.

Each line is a JSON object with at least::

    {"example_id": "b1:0", "predicted_answer": "A Wrinkle in Time", "actual_answer": "..."}

``example_id`` may be a string or an integer (the cookbook's result files use integers; they
load as they are and the id becomes its decimal string). ``actual_answer`` is the gold answer
or a list of acceptable gold answers. Optional fields: ``question``, ``model``, ``usage``
(token counts, free-form object), ``latency`` (seconds) and ``error`` (why the prediction
failed; such a line may have ``predicted_answer: null``). Other fields are kept in ``extra``.

A prediction whose ``error`` is set is a *failed* prediction: it is loaded, never scored, and
counted. Everything else that breaks a rule -- invalid JSON, a missing or mistyped field, a
repeated example id -- raises :class:`~vqaft.errors.PredictionsFileError` naming the file, the
line and the example id, or with ``on_error="skip"`` is listed in ``skipped`` and left out.

>>> import json, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "p.jsonl")
>>> _ = open(path, "w").write(json.dumps(
...     {"example_id": 6, "predicted_answer": "Travel", "actual_answer": "Travel"}) + "\\n")
>>> load_predictions(path).records[0].example_id
'6'
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

from vqaft.datasets.base import OnError, SkippedItem
from vqaft.errors import ConfigError, PredictionsFileError

__all__ = ["PredictionRecord", "PredictionSet", "load_predictions", "read_prediction_lines"]

_KNOWN_FIELDS = frozenset(
    {
        "example_id",
        "predicted_answer",
        "actual_answer",
        "question",
        "model",
        "usage",
        "latency",
        "error",
    }
)


class PredictionRecord(BaseModel):
    """One model answer to one example, with its gold answer(s).

    Attributes:
        example_id: the example's id (integers in the input become strings).
        predicted_answer: the model's answer; ``None`` only for a failed prediction.
        actual_answer: the acceptable gold answers (at least one); ``None`` when the file
            carries no gold (load with ``require_gold=False`` and supply it separately).
        question: the question text, if recorded.
        model: the model that answered, if recorded.
        usage: token usage or other accounting, if recorded.
        latency: seconds the request took, if recorded.
        error: why the prediction failed, if it did (a message or a structured object).
        extra: any other fields of the line.
        line: the 1-based line in the file it came from, if loaded from a file.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    example_id: str
    predicted_answer: StrictStr | None
    actual_answer: tuple[StrictStr, ...] | None = Field(default=None)
    question: StrictStr | None = None
    model: StrictStr | None = None
    usage: dict[str, Any] | None = None
    latency: float | None = Field(default=None, ge=0)
    error: StrictStr | dict[str, Any] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    line: int | None = None

    @field_validator("example_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a string or an integer, not a boolean")
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("must not be empty")
            return value
        raise ValueError(f"must be a string or an integer, got {_json_type(value)}")

    @field_validator("actual_answer", mode="before")
    @classmethod
    def _gold_tuple(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError("must not be an empty list")
            return tuple(value)
        if value is None:
            return None
        raise ValueError(f"must be a string or a list of strings, got {_json_type(value)}")

    @property
    def failed(self) -> bool:
        """Whether the prediction failed (``error`` is set)."""
        return self.error is not None

    @property
    def gold(self) -> tuple[str, ...]:
        """The gold answers.

        Raises:
            PredictionsFileError: the record has no gold answer.
        """
        if self.actual_answer is None:
            raise PredictionsFileError(
                "prediction has no gold answer",
                line=self.line,
                example_id=self.example_id,
                hint="add actual_answer, or attach gold answers from the dataset",
            )
        return self.actual_answer


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


class PredictionSet(BaseModel):
    """The predictions of one model (or one file), in file order.

    Attributes:
        records: every loaded record, failed predictions included.
        source: the file they came from, if any.
        skipped: lines left out under ``on_error="skip"``, with the reason.
    """

    model_config = ConfigDict(frozen=True)

    records: tuple[PredictionRecord, ...]
    source: str | None = None
    skipped: tuple[SkippedItem, ...] = ()

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[PredictionRecord]:  # type: ignore[override]
        return iter(self.records)

    @property
    def failed(self) -> tuple[PredictionRecord, ...]:
        """Records whose prediction failed (``error`` set)."""
        return tuple(r for r in self.records if r.failed)

    @property
    def models(self) -> tuple[str, ...]:
        """The distinct ``model`` values, in order of appearance."""
        return tuple(dict.fromkeys(r.model for r in self.records if r.model is not None))

    def by_id(self) -> dict[str, PredictionRecord]:
        """The records keyed by example id."""
        return {r.example_id: r for r in self.records}

    @classmethod
    def from_records(
        cls, records: Iterable[PredictionRecord | dict[str, Any]], *, source: str | None = None
    ) -> PredictionSet:
        """Build a set from records or dicts (validated; ids must be unique).

        Raises:
            PredictionsFileError: a dict is not a valid record, or an id repeats.
        """
        built: list[PredictionRecord] = []
        seen: dict[str, int] = {}
        for row, item in enumerate(records):
            record = item if isinstance(item, PredictionRecord) else _parse(item, source, None, row)
            if record.example_id in seen:
                raise PredictionsFileError(
                    f"example id {record.example_id!r} appears twice "
                    f"(rows {seen[record.example_id]} and {row})",
                    file=source,
                    row=row,
                    example_id=record.example_id,
                    hint="keep one prediction per example id",
                )
            seen[record.example_id] = row
            built.append(record)
        return cls(records=tuple(built), source=source)


def _describe_errors(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "record"
        kind = item["type"]
        if kind == "missing":
            parts.append(f"missing field {field!r}")
        elif kind == "extra_forbidden":
            parts.append(f"unexpected field {field!r}")
        elif kind in {"string_type", "float_type", "float_parsing", "dict_type", "tuple_type"}:
            got = _json_type(item.get("input"))
            parts.append(f"{field} must be {_expected(kind)}, got {got}")
        else:
            message = item["msg"].removeprefix("Value error, ")
            parts.append(f"{field} {message}")
    return "; ".join(parts)


def _expected(kind: str) -> str:
    return {
        "string_type": "a string",
        "float_type": "a number",
        "float_parsing": "a number",
        "dict_type": "an object",
        "tuple_type": "a list of strings",
    }[kind]


def _parse(
    data: Any, source: str | None, line: int | None, row: int | None = None
) -> PredictionRecord:
    if not isinstance(data, dict):
        raise PredictionsFileError(
            f"expected a JSON object, got {_json_type(data)}",
            file=source,
            line=line,
            row=row,
            hint="write one JSON object per line",
        )
    raw_id = data.get("example_id")
    example_id = str(raw_id) if isinstance(raw_id, (str, int)) and raw_id != "" else None
    fields = {k: v for k, v in data.items() if k in _KNOWN_FIELDS}
    extra = {k: v for k, v in data.items() if k not in _KNOWN_FIELDS}
    if "predicted_answer" not in fields and "error" in fields:
        fields["predicted_answer"] = None
    try:
        record = PredictionRecord(**fields, extra=extra, line=line)
    except ValidationError as exc:
        raise PredictionsFileError(
            _describe_errors(exc),
            file=source,
            line=line,
            row=row,
            example_id=example_id,
            hint="each line needs example_id, predicted_answer (a string) and actual_answer",
        ) from None
    if record.predicted_answer is None and record.error is None:
        raise PredictionsFileError(
            "predicted_answer is null but no error is recorded",
            file=source,
            line=line,
            row=row,
            example_id=record.example_id,
            hint="write the answer as a string, or set 'error' to say why there is none",
        )
    return record


def read_prediction_lines(
    path: str | Path,
    *,
    on_error: OnError = "raise",
    skipped: list[SkippedItem] | None = None,
) -> Iterator[PredictionRecord]:
    """Yield the records of a predictions JSONL file one by one (no duplicate check).

    Blank lines are ignored. With ``on_error="skip"`` a bad line is appended to ``skipped``.

    Raises:
        PredictionsFileError: a bad line (unless skipping), or the file cannot be read.
    """
    source = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; bytes so bad UTF-8 names a line
    except OSError as exc:
        raise PredictionsFileError(
            f"cannot read predictions: {exc.strerror or exc}",
            file=source,
            hint="check the path",
        ) from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise PredictionsFileError(
                        f"not valid UTF-8 at byte {exc.start}",
                        file=source,
                        line=number,
                        hint="write the file as UTF-8",
                    ) from None
                try:
                    data = json.loads(text, parse_constant=_reject_constant)
                except (json.JSONDecodeError, ValueError) as exc:
                    raise PredictionsFileError(
                        f"invalid JSON: {exc}",
                        file=source,
                        line=number,
                        hint="each line must be one complete JSON object",
                    ) from None
                yield _parse(data, source, number)
            except PredictionsFileError as error:
                if on_error != "skip":
                    raise
                if skipped is not None:
                    skipped.append(_skip_of(error))


def _reject_constant(name: str) -> float:
    if name in {"NaN", "Infinity", "-Infinity"}:
        raise ValueError(f"{name} is not valid JSON")
    return math.nan  # pragma: no cover - json only calls this for the three names above


def _skip_of(error: PredictionsFileError) -> SkippedItem:
    return SkippedItem(
        reason=error.message, file=error.file, line=error.line, example_id=error.example_id
    )


def load_predictions(
    path: str | Path,
    *,
    require_gold: bool = True,
    on_error: OnError = "raise",
) -> PredictionSet:
    """Load a predictions JSONL file, checking every line.

    Args:
        path: the file.
        require_gold: every record must carry ``actual_answer`` (set ``False`` when the gold
            answers come from elsewhere).
        on_error: ``"raise"`` (default) stops at the first bad line; ``"skip"`` leaves bad
            lines out and lists them in :attr:`PredictionSet.skipped` (a repeated example id
            keeps the first line).

    Raises:
        PredictionsFileError: a bad line, a repeated example id, a missing gold answer (unless
            skipping), or an unreadable file.
        ConfigError: ``on_error`` is not ``"raise"`` or ``"skip"``.
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    source = str(path)
    skipped: list[SkippedItem] = []
    records: list[PredictionRecord] = []
    first_line: dict[str, int | None] = {}
    for record in read_prediction_lines(path, on_error=on_error, skipped=skipped):
        problem: PredictionsFileError | None = None
        if record.example_id in first_line:
            problem = PredictionsFileError(
                f"example id {record.example_id!r} appears again (first on line "
                f"{first_line[record.example_id]})",
                file=source,
                line=record.line,
                example_id=record.example_id,
                hint="keep one prediction per example id",
            )
        elif require_gold and record.actual_answer is None:
            problem = PredictionsFileError(
                "missing field 'actual_answer'",
                file=source,
                line=record.line,
                example_id=record.example_id,
                hint="add the gold answer, or load with require_gold=False and attach it",
            )
        if problem is not None:
            if on_error != "skip":
                raise problem
            skipped.append(_skip_of(problem))
            continue
        first_line[record.example_id] = record.line
        records.append(record)
    return PredictionSet(records=tuple(records), source=source, skipped=tuple(skipped))
