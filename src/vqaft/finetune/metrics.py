"""A fine-tuning job's result file: per-step metrics as a typed table.

OpenAI attaches one result file to a succeeded job (``result_files[0]``, purpose
``fine-tune-results``). Its content is a CSV **encoded in base64**; :meth:`ResultMetrics.parse`
decodes it (and also accepts a plain CSV) and reads one :class:`MetricsRow` per step::

    step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss,...
    1,1.92,0.41,,,,
    2,1.71,0.47,1.80,0.45,,

Empty cells are ``None`` (validation columns are empty without a validation file, the
``full_valid_*`` ones on all but the last step). Columns the service may add later are kept in
:attr:`MetricsRow.extra`; a cell that is not a number is kept as ``None`` and listed in
:attr:`ResultMetrics.problems`, never silently dropped.

>>> table = ResultMetrics.parse(base64.b64encode(b"step,train_loss\\n1,2.0\\n2,1.5\\n"))
>>> table.final()["train_loss"], len(table)
(1.5, 2)
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vqaft.errors import FineTuneJobError

__all__ = ["KNOWN_COLUMNS", "MetricsRow", "ResultMetrics"]

KNOWN_COLUMNS = (
    "step",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)
_PROBLEMS_LISTED = 50


class MetricsRow(BaseModel):
    """The metrics of one training step (``None``: not measured at that step)."""

    model_config = ConfigDict(frozen=True)

    step: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None
    extra: dict[str, float | None] = Field(default_factory=dict)

    def get(self, column: str) -> float | None:
        """The value of ``column`` (a known column or an extra one)."""
        if column in KNOWN_COLUMNS:
            value = getattr(self, column)
            return None if value is None else float(value)
        return self.extra.get(column)


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    value = float(text)
    return None if math.isnan(value) else value


def _decode(content: bytes | str) -> str:
    raw = content.encode() if isinstance(content, str) else bytes(content)
    stripped = b"".join(raw.split())
    try:
        decoded = base64.b64decode(stripped, validate=True)
        text = decoded.decode("utf-8")
        if text.lstrip("\ufeff").lower().startswith("step"):
            return text.lstrip("\ufeff")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    try:
        text = raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        text = ""
    if text.lower().startswith("step"):
        return text
    raise FineTuneJobError(
        "the job's result file is neither a base64-encoded CSV nor a CSV starting with 'step'",
        code="bad_result_file",
        hint="download it with `client.files.content(id)` and inspect it",
    )


class ResultMetrics(BaseModel):
    """The result file's table: one row per step, in file order."""

    columns: list[str]
    rows: list[MetricsRow]
    file_id: str | None = None
    problems: list[str] = Field(
        default_factory=list, description="cells that were not numbers (first 50)"
    )
    problem_count: int = 0

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def parse(cls, content: bytes | str, *, file_id: str | None = None) -> ResultMetrics:
        """Read a result file's content (base64-encoded CSV, or plain CSV).

        Raises:
            FineTuneJobError: the content is not a metrics CSV (code ``bad_result_file``).
        """
        text = _decode(content)
        reader = csv.reader(io.StringIO(text))
        header = [h.strip() for h in next(reader, [])]
        if not header or header[0] != "step":
            raise FineTuneJobError(
                f"the job's result file has no 'step' column (header: {header[:8]})",
                code="bad_result_file",
            )
        rows: list[MetricsRow] = []
        problems: list[str] = []
        count = 0
        for lineno, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            values: dict[str, Any] = {}
            extra: dict[str, float | None] = {}
            for name, cell in zip(header, cells, strict=False):
                try:
                    value = _number(cell)
                except ValueError:
                    count += 1
                    if len(problems) < _PROBLEMS_LISTED:
                        problems.append(f"line {lineno}, column {name}: {cell[:40]!r}")
                    value = None
                if name in KNOWN_COLUMNS:
                    values[name] = value
                else:
                    extra[name] = value
            step = values.pop("step", None)
            if step is None:
                count += 1
                if len(problems) < _PROBLEMS_LISTED:
                    problems.append(f"line {lineno}: no step number (row kept as step 0)")
                step = 0
            rows.append(MetricsRow(step=int(step), extra=extra, **values))
        return cls(
            columns=header, rows=rows, file_id=file_id, problems=problems, problem_count=count
        )

    def column(self, name: str) -> list[float | None]:
        """All values of one column, step by step."""
        return [row.get(name) for row in self.rows]

    def final(self) -> dict[str, float | None]:
        """The last value measured of each column (``None`` if never measured)."""
        out: dict[str, float | None] = {}
        for name in self.columns:
            values = [v for v in self.column(name) if v is not None]
            out[name] = values[-1] if values else None
        return out

    def describe(self) -> str:
        """One line: steps and the final losses/accuracies."""
        final = self.final()
        parts = [f"{len(self.rows)} steps"]
        for name in self.columns[1:]:
            value = final.get(name)
            if value is not None:
                parts.append(f"{name}={value:.4g}")
        return "metrics: " + ", ".join(parts)

    def to_csv(self) -> str:
        """The table as a plain (decoded) CSV."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            cells = [str(row.step)]
            for name in self.columns[1:]:
                value = row.get(name)
                cells.append("" if value is None else repr(value))
            writer.writerow(cells)
        return out.getvalue()

    def to_markdown(self, *, max_rows: int = 20) -> str:
        """A Markdown table, evenly thinned to at most ``max_rows`` rows (last row kept)."""
        rows = self.rows
        if len(rows) > max_rows > 1:
            stride = (len(rows) - 1) / (max_rows - 1)
            rows = [rows[round(i * stride)] for i in range(max_rows)]
        head = "| " + " | ".join(self.columns) + " |"
        rule = "|" + "|".join("---:" for _ in self.columns) + "|"
        body = []
        for row in rows:
            cells = [str(row.step)] + [
                "" if row.get(n) is None else f"{row.get(n):.4f}" for n in self.columns[1:]
            ]
            body.append("| " + " | ".join(cells) + " |")
        return "\n".join([head, rule, *body])
