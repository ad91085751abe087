"""One rooted error hierarchy for vqaft.

Every error carries structured fields saying *where* the problem is (file, line, row, example
id) and *what to do* about it (``hint``), so that a CLI, a notebook or a log can show the same
facts. ``str(error)`` renders them in one readable message::

    >>> error = DatasetError("questions and answers differ in length (3 vs 2)",
    ...                      file="train.parquet", row=17, hint="fix or drop the row")
    >>> print(error)
    train.parquet, row 17: questions and answers differ in length (3 vs 2) (fix or drop the row)
    >>> error.row, error.hint
    (17, 'fix or drop the row')

No field ever holds a secret: API keys are never passed to these constructors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ComponentClashError",
    "ConfigError",
    "DatasetError",
    "EvaluationError",
    "FineTuneJobError",
    "ImageError",
    "PluginLoadError",
    "PredictionError",
    "PredictionsFileError",
    "RegistryError",
    "TrainingFileError",
    "UnknownComponentError",
    "VqaftError",
]


class VqaftError(Exception):
    """Base class of every error vqaft raises on purpose.

    Attributes:
        message: what went wrong, in one sentence.
        file: the file concerned, if any.
        line: 1-based line number in ``file`` (JSONL files), if any.
        row: 0-based row index in a table or dataset split, if any.
        example_id: the stable example id (``"<image_id>:<k>"``), if any.
        hint: what the user can do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        row: int | None = None,
        example_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.line = line
        self.row = row
        self.example_id = example_id
        self.hint = hint
        super().__init__(self._render())

    def location(self) -> str:
        """The "where" part of the message (may be empty)."""
        parts: list[str] = []
        if self.file is not None:
            parts.append(self.file)
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.example_id is not None:
            parts.append(f"example {self.example_id}")
        return ", ".join(parts)

    def _render(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready dictionary (for manifests and machine-readable output)."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "row": self.row,
            "example_id": self.example_id,
            "hint": self.hint,
        }


class ConfigError(VqaftError):
    """An argument, setting or configuration file is invalid."""


class DatasetError(VqaftError):
    """A dataset row or file cannot be turned into examples."""


class ImageError(DatasetError):
    """An image cannot be decoded, is unsafe (decompression bomb) or has an unusable format."""


class TrainingFileError(VqaftError):
    """A chat-format JSONL training file breaks a rule (raised by strict validation)."""


class RegistryError(VqaftError):
    """Base class of registry problems."""


class UnknownComponentError(RegistryError, LookupError):
    """No component of that kind is registered under the requested name."""

    def __init__(
        self, kind: str, name: str, available: Sequence[str], suggestions: Sequence[str]
    ) -> None:
        self.kind = kind
        self.name = name
        self.available = tuple(available)
        self.suggestions = tuple(suggestions)
        if suggestions:
            hint = "did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
        else:
            hint = "available: " + (", ".join(available) if available else "none")
        super().__init__(f"unknown {kind} {name!r}", hint=hint)

    def __str__(self) -> str:
        # LookupError/KeyError would quote the message; keep it readable.
        return self._render()


class ComponentClashError(RegistryError):
    """Two different objects were registered under the same name."""


class PluginLoadError(RegistryError):
    """A plugin's entry point could not be imported or is not what it claims to be."""

    def __init__(
        self, message: str, *, distribution: str | None, entry_point: str, hint: str | None = None
    ) -> None:
        self.distribution = distribution
        self.entry_point = entry_point
        super().__init__(message, hint=hint)


class FineTuneJobError(VqaftError):
    """A fine-tuning job failed or was cancelled."""

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.job_id = job_id
        self.code = code
        super().__init__(message, hint=hint)


class PredictionError(VqaftError):
    """A prediction request failed in a way that stops the run (e.g. authentication)."""


class EvaluationError(VqaftError):
    """Scoring cannot go on: no gold answer, a malformed score, an evaluator misbehaving."""


class PredictionsFileError(EvaluationError):
    """A predictions JSONL file breaks a rule (bad JSON, missing field, duplicate example id)."""
