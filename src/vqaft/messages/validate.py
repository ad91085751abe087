"""Check chat-format JSONL files against OpenAI's rules for vision fine-tuning, offline.

:func:`validate` streams one file (constant memory apart from one small hash per distinct
example and per distinct image) and returns a :class:`ValidationReport` of
:class:`Finding` objects, each naming the rule (``code``), the line, the example id (from the
``<stem>.ids.jsonl`` side file when there is one) and what to do. :func:`validate_many` checks
the split files of one dataset together and adds cross-split checks (the same image or the same
question in train and test).

>>> report = validate("data/train.jsonl")  # doctest: +SKIP
>>> report.ok, report.count("error")  # doctest: +SKIP
(True, 0)
>>> print(report.format_text())  # doctest: +SKIP

Rules checked (codes in :data:`FINDING_CODES`):

* every line is UTF-8 JSON holding an object with a non-empty ``messages`` list; roles are
  system/developer/user/assistant (tool/function messages are checked for their own fields);
  content is a string or a list of ``text`` / ``image_url`` parts; ``detail`` is
  low/high/auto; assistant ``weight`` is 0 or 1;
* training and validation examples end with an assistant answer; test examples need none (and
  are warned about when they have one: a predictor would show the model its answer);
* images only in user messages; at most 10 per example; each a base64 ``data:image/...`` URL of
  at most 10 MB whose declared MIME type matches its bytes, a JPEG, PNG or WEBP in RGB or RGBA
  mode (only the header is read), or an http(s) URL (passed through, not checked offline);
* at least 10 training examples, at most 50,000 examples with images, at most 65,536 tokens per
  example (text estimated, images exact; ``detail="auto"`` billed as high);
* files above 512 MB need OpenAI's Uploads API (vqaft switches to it by itself), 8 GB at most;
* warnings: identical examples, one prompt with two different answers, images or questions
  shared with another split, empty prompts, unexpected keys.

The same image rules apply to test files, although chat requests would take more (e.g. GIF):
all splits come out of the same encoder, so a test-file image problem means a train problem too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from vqaft.errors import ConfigError, TrainingFileError
from vqaft.messages._validate_ids import IdsLookup, side_file_for
from vqaft.messages._validate_images import ImageInspector, Problem, Severity
from vqaft.messages._validate_records import MAX_IMAGES_PER_EXAMPLE, check_record
from vqaft.messages.text_tokens import TextTokenCounter, default_counter

__all__ = [
    "FILES_API_MAX_BYTES",
    "FINDING_CODES",
    "MAX_EXAMPLES_WITH_IMAGES",
    "MAX_EXAMPLE_TOKENS",
    "MIN_TRAINING_EXAMPLES",
    "UPLOADS_API_MAX_BYTES",
    "FileStats",
    "Finding",
    "MultiValidationReport",
    "Purpose",
    "Severity",
    "ValidationReport",
    "validate",
    "validate_many",
]

Purpose = Literal["train", "validation", "test"]
PurposeSource = Literal["argument", "file name", "content"]

MAX_EXAMPLE_TOKENS = 65_536
"""Largest training example gpt-4o-2024-08-06 fine-tuning takes, in tokens."""
MIN_TRAINING_EXAMPLES = 10
MAX_EXAMPLES_WITH_IMAGES = 50_000
FILES_API_MAX_BYTES = 512 * 1024**2
UPLOADS_API_MAX_BYTES = 8 * 1024**3

FINDING_CODES: Mapping[str, str] = {
    # lines and structure
    "invalid_utf8": "the line is not valid UTF-8",
    "invalid_json": "the line is not valid JSON",
    "blank_line": "an empty line inside the file",
    "not_object": "the line holds JSON that is not an object",
    "missing_messages": "no non-empty 'messages' list",
    "invalid_message": "a message is not an object or lacks a field its role needs",
    "invalid_role": "a role outside system/developer/user/assistant/tool/function",
    "missing_content": "a message without content",
    "invalid_content": "content that is neither a string nor a list of parts",
    "invalid_content_part": "a content part that is not a well-formed text or image_url part",
    "invalid_detail": "an image detail other than low/high/auto",
    "invalid_weight": "an assistant weight other than 0 or 1",
    "invalid_tools": "'tools' or 'functions' that is not a list",
    "unexpected_key": "a key that is not part of the chat fine-tuning format",
    "empty_content": "a message whose text is empty",
    "empty_system_prompt": "a system or developer message whose text is empty",
    # answers
    "missing_assistant": "a training/validation example with no assistant answer",
    "last_not_assistant": "a training/validation example that does not end with the answer",
    "test_has_answer": "a test example that ends with an assistant answer",
    # images
    "image_in_assistant": "an image in an assistant message",
    "image_not_in_user": "an image in a system, developer or tool message",
    "too_many_images": f"more than {MAX_IMAGES_PER_EXAMPLE} images in one example",
    "image_too_large": "an image above 10 MB",
    "unsupported_image_format": "an image that is not JPEG, PNG or WEBP",
    "unsupported_image_mode": "an image that is not RGB or RGBA",
    "image_unreadable": "image bytes Pillow cannot identify",
    "malformed_data_url": "a data URL that is not 'data:image/<type>;base64,<payload>'",
    "invalid_base64": "a data URL whose payload is not valid base64",
    "mime_mismatch": "a data URL whose MIME type does not match the image bytes",
    "invalid_image_url": "an image URL that is neither data: nor http(s)",
    "remote_images": "http(s) image URLs, passed through and not checked offline",
    # file level
    "empty_file": "no examples at all",
    "too_few_examples": f"fewer than {MIN_TRAINING_EXAMPLES} training examples",
    "too_many_image_examples": f"more than {MAX_EXAMPLES_WITH_IMAGES:,} examples with images",
    "too_many_tokens": f"an example above {MAX_EXAMPLE_TOKENS:,} tokens",
    "uploads_api": "a file above the Files API's 512 MB limit (sent with the Uploads API)",
    "file_too_large": "a file above the Uploads API's 8 GB limit",
    # duplicates and leakage
    "duplicate_example": "an example identical to an earlier one",
    "conflicting_answer": "the same prompt as an earlier example with a different answer",
    "image_leakage": "an image that is also in another split",
    "example_leakage": "a prompt (question and image) that is also in another split",
    "ids_file_mismatch": "the .ids.jsonl side file does not match the data file",
}
"""Every finding code, with what it means (the CLI can list them)."""

_TRAINING: frozenset[Purpose] = frozenset({"train", "validation"})
_TEST: frozenset[Purpose] = frozenset({"test"})
_PURPOSE_WORDS: tuple[tuple[Purpose, frozenset[str]], ...] = (
    ("test", frozenset({"test", "tests", "eval", "holdout"})),
    ("validation", frozenset({"validation", "valid", "val", "dev"})),
    ("train", frozenset({"train", "training"})),
)


class Finding(BaseModel):
    """One broken rule (or one fact worth knowing) about a chat-format JSONL file.

    Attributes:
        severity: ``"error"`` (OpenAI would reject the file), ``"warning"`` (accepted, but
            probably a mistake) or ``"info"``.
        code: stable machine-readable name of the rule, a key of :data:`FINDING_CODES`.
        message: what is wrong, in one sentence, naming the place inside the record.
        file: the file concerned.
        line: 1-based line number, or None for a whole-file finding.
        example_id: the example's id from the side file, when known.
        hint: what to do about it.
    """

    model_config = ConfigDict(frozen=True)

    severity: Severity
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    example_id: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return self.model_dump(mode="json")

    def __str__(self) -> str:
        where = [self.file or ""]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.example_id is not None:
            where.append(f"example {self.example_id}")
        text = f"{', '.join(w for w in where if w)}: {self.severity} [{self.code}] {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class FileStats(BaseModel):
    """Counts gathered while validating a file."""

    bytes: int = 0
    lines: int = 0
    examples: int = 0
    """Lines holding a usable record."""
    examples_with_answer: int = 0
    """Examples ending with an assistant message."""
    examples_with_images: int = 0
    images: int = 0
    unique_images: int = 0
    remote_images: int = 0
    duplicate_examples: int = 0
    max_example_tokens: int = 0
    max_example_tokens_line: int | None = None


class ValidationReport(BaseModel):
    """The result of :func:`validate` for one file.

    Findings are listed in file order, at most ``max_findings_per_code`` of each code; the rest
    are counted in ``suppressed`` (and in :meth:`count`), never dropped silently.
    """

    file: str
    purpose: Purpose
    purpose_source: PurposeSource
    ids_file: str | None = None
    token_counter: str
    findings: list[Finding] = Field(default_factory=list)
    suppressed: dict[str, int] = Field(default_factory=dict)
    totals: dict[str, int] = Field(default_factory=dict, description="findings per severity")
    stats: FileStats = Field(default_factory=lambda: FileStats())

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings and infos allowed)."""
        return self.count("error") == 0

    def count(self, severity: Severity) -> int:
        """Number of findings of ``severity``, including those not listed."""
        return self.totals.get(severity, 0)

    @property
    def errors(self) -> list[Finding]:
        """The listed error findings."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The listed warning findings."""
        return [f for f in self.findings if f.severity == "warning"]

    def codes(self) -> set[str]:
        """The codes of all findings (listed or suppressed)."""
        return {f.code for f in self.findings} | set(self.suppressed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (with ``ok`` added)."""
        data = self.model_dump(mode="json")
        data["ok"] = self.ok
        return data

    def summary(self) -> str:
        """One line: the file, its verdict and its counts."""
        verdict = "OK" if self.ok else "FAILED"
        s = self.stats
        return (
            f"{self.file}: {verdict} - {self.count('error')} errors, "
            f"{self.count('warning')} warnings, {self.count('info')} notes; "
            f"purpose {self.purpose} (from {self.purpose_source}); {s.examples:,} examples, "
            f"{s.examples_with_images:,} with images, {s.images:,} images "
            f"({s.unique_images:,} distinct), largest example ~{s.max_example_tokens:,} tokens"
        )

    @property
    def has_errors(self) -> bool:
        """True when there is at least one error (the opposite of :attr:`ok`)."""
        return not self.ok

    def format_text(self) -> str:
        """Human-readable rendering: a summary line, then one line per finding."""
        lines = [self.summary()]
        for finding in self.findings:
            where = "file" if finding.line is None else f"line {finding.line}"
            if finding.example_id is not None:
                where += f" [{finding.example_id}]"
            if finding.file is not None and finding.file != self.file:
                where = f"{finding.file} {where}"
            text = f"  {finding.severity:<7} {where}: {finding.message} [{finding.code}]"
            if finding.hint:
                text += f"\n          -> {finding.hint}"
            lines.append(text)
        for code, n in sorted(self.suppressed.items()):
            lines.append(f"  ... and {n:,} more [{code}] findings not listed")
        return "\n".join(lines)

    def raise_for_errors(self) -> None:
        """Raise :class:`~vqaft.errors.TrainingFileError` if there is any error.

        The exception carries the first error's line and example id.
        """
        if self.ok:
            return
        first = self.errors[0] if self.errors else None
        n = self.count("error")
        message = f"{n} error{'s' if n != 1 else ''} found"
        if first is not None:
            message += f"; first: {first.message} [{first.code}]"
        raise TrainingFileError(
            message,
            file=self.file,
            line=first.line if first else None,
            example_id=first.example_id if first else None,
            hint=(first.hint if first and first.hint else "run `vqaft validate` for the list"),
        )


@dataclass(frozen=True)
class MultiValidationReport:
    """The result of :func:`validate_many`: one report per file, cross-split checks included.

    Iterating over it yields the :class:`ValidationReport` of each file, in the order given.
    """

    reports: tuple[ValidationReport, ...]

    def __iter__(self) -> Iterator[ValidationReport]:
        return iter(self.reports)

    def __len__(self) -> int:
        return len(self.reports)

    def __getitem__(self, index: int) -> ValidationReport:
        return self.reports[index]

    @property
    def ok(self) -> bool:
        """True when no file has an error."""
        return all(r.ok for r in self.reports)

    @property
    def has_errors(self) -> bool:
        """True when some file has an error."""
        return not self.ok

    def count(self, severity: Severity) -> int:
        """Findings of ``severity`` over all files."""
        return sum(r.count(severity) for r in self.reports)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"ok": self.ok, "reports": [r.to_dict() for r in self.reports]}

    def format_text(self) -> str:
        """Human-readable rendering of every file's report."""
        return "\n\n".join(r.format_text() for r in self.reports)

    def raise_for_errors(self) -> None:
        """Raise :class:`~vqaft.errors.TrainingFileError` for the first file with errors."""
        for report in self.reports:
            report.raise_for_errors()


# --------------------------------------------------------------------------------------------
# the scan


@dataclass
class _Pending:
    finding: Finding
    applies_to: frozenset[Purpose]


@dataclass
class _Collector:
    file: str
    cap: int
    purpose: Purpose | None
    findings: list[Finding] = field(default_factory=list)
    listed: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    pending: list[_Pending] = field(default_factory=list)
    pending_listed: dict[str, int] = field(default_factory=dict)
    pending_overflow: list[tuple[str, Severity, frozenset[Purpose]]] = field(default_factory=list)

    def add(
        self,
        severity: Severity,
        code: str,
        message: str,
        *,
        line: int | None = None,
        example_id: str | None = None,
        hint: str | None = None,
        applies_to: frozenset[Purpose] | None = None,
        file: str | None = None,
    ) -> None:
        if applies_to is not None and self.purpose is not None:
            if self.purpose not in applies_to:
                return
            applies_to = None
        if applies_to is not None:  # purpose not known yet: decide at the end
            if self.pending_listed.get(code, 0) >= self.cap:
                self.pending_overflow.append((code, severity, applies_to))
                return
            self.pending_listed[code] = self.pending_listed.get(code, 0) + 1
        finding = Finding(
            severity=severity,
            code=code,
            message=message,
            file=file or self.file,
            line=line,
            example_id=example_id,
            hint=hint,
        )
        if applies_to is not None:
            self.pending.append(_Pending(finding, applies_to))
        else:
            self._keep(finding)

    def add_problem(self, problem: Problem, line: int | None, example_id: str | None) -> None:
        self.add(
            problem.severity,
            problem.code,
            problem.message,
            line=line,
            example_id=example_id,
            hint=problem.hint,
        )

    def _keep(self, finding: Finding) -> None:
        self.totals[finding.severity] = self.totals.get(finding.severity, 0) + 1
        if self.listed.get(finding.code, 0) >= self.cap:
            self.suppressed[finding.code] = self.suppressed.get(finding.code, 0) + 1
            return
        self.listed[finding.code] = self.listed.get(finding.code, 0) + 1
        self.findings.append(finding)

    def resolve(self, purpose: Purpose) -> None:
        """Keep the pending findings that apply to ``purpose``, in line order."""
        self.purpose = purpose
        for item in self.pending:
            if purpose in item.applies_to:
                self._keep(item.finding)
        for code, severity, applies_to in self.pending_overflow:
            if purpose in applies_to:
                self.totals[severity] = self.totals.get(severity, 0) + 1
                self.suppressed[code] = self.suppressed.get(code, 0) + 1
        self.pending.clear()
        self.pending_overflow.clear()

    def sorted_findings(self) -> list[Finding]:
        big = 1 << 62
        return sorted(self.findings, key=lambda f: f.line if f.line is not None else big)


@dataclass
class _Scan:
    """Everything one pass over a file leaves behind."""

    path: Path
    collector: _Collector
    purpose: Purpose | None
    purpose_source: PurposeSource | None
    ids_file: Path | None
    stats: FileStats
    images: dict[bytes, tuple[int, str | None]]
    prompts: dict[bytes, tuple[int, str | None]]
    counter: TextTokenCounter

    def report(self) -> ValidationReport:
        c = self.collector
        return ValidationReport(
            file=str(self.path),
            purpose=self.purpose or "train",
            purpose_source=self.purpose_source or "content",
            ids_file=None if self.ids_file is None else str(self.ids_file),
            token_counter=self.counter.name,
            findings=c.sorted_findings(),
            suppressed=dict(sorted(c.suppressed.items())),
            totals=dict(c.totals),
            stats=self.stats,
        )


@dataclass
class _LeakIndex:
    """Images and prompts of other split files: hash -> (file, line, example id)."""

    images: dict[bytes, tuple[str, int, str | None]] = field(default_factory=dict)
    prompts: dict[bytes, tuple[str, int, str | None]] = field(default_factory=dict)


def _purpose_from_name(path: Path) -> Purpose | None:
    words = set(re.split(r"[^a-z]+", path.name.lower()))
    for purpose, names in _PURPOSE_WORDS:
        if words & names:
            return purpose
    return None


def _open_checked(path: Path) -> Path:
    if not path.is_file():
        raise ConfigError(
            "file not found" if not path.exists() else "not a file",
            file=str(path),
            hint="check the path (the CLI resolves it against the current directory)",
        )
    return path


def _resolve_ids_file(path: Path, ids_file: str | PathLike[str] | bool | None) -> Path | None:
    if ids_file is False:
        return None
    if ids_file is None or ids_file is True:
        candidate = side_file_for(path)
        return candidate if candidate.is_file() else None
    resolved = Path(ids_file)
    if not resolved.is_file():
        raise ConfigError(
            "ids side file not found",
            file=str(resolved),
            hint="pass ids_file=None to use <stem>.ids.jsonl when present, or False for none",
        )
    return resolved


def _scan(
    path: Path,
    *,
    purpose: Purpose | None,
    ids_file: Path | None,
    inspector: ImageInspector,
    counter: TextTokenCounter,
    max_example_tokens: int,
    cap: int,
    leaks: _LeakIndex | None,
    progress: bool,
) -> _Scan:
    source: PurposeSource | None = "argument" if purpose is not None else None
    if purpose is None:
        purpose = _purpose_from_name(path)
        source = "file name" if purpose is not None else None
    collector = _Collector(file=str(path), cap=cap, purpose=purpose)
    stats = FileStats(bytes=path.stat().st_size)
    images: dict[bytes, tuple[int, str | None]] = {}  # asked-about images, for leak checks
    distinct: set[bytes] = set()
    prompts: dict[bytes, tuple[int, str | None, bytes]] = {}
    remote_first_line: int | None = None
    lines_without_id = 0
    extra = 0
    ids = IdsLookup(ids_file) if ids_file is not None else None
    bar = tqdm(total=stats.bytes, unit="B", unit_scale=True, desc=path.name, disable=not progress)
    with path.open("rb") as handle, bar:
        if ids is not None:
            ids.__enter__()
        try:
            for lineno, raw in enumerate(handle, 1):
                bar.update(len(raw))
                stats.lines = lineno
                example_id = ids.get(lineno) if ids is not None else None
                if ids is not None and example_id is None and raw.strip():
                    lines_without_id += 1
                record = _parse_line(raw, lineno, example_id, collector)
                if record is None:
                    continue
                check = check_record(record, inspector, counter.count)
                for problem in check.problems:
                    collector.add_problem(problem, lineno, example_id)
                if not check.usable:
                    continue
                stats.examples += 1
                image_tokens, remote = check.image_tokens()
                tokens = check.text_tokens + image_tokens
                if tokens > stats.max_example_tokens:
                    stats.max_example_tokens = tokens
                    stats.max_example_tokens_line = lineno
                if tokens > max_example_tokens:
                    collector.add(
                        "error",
                        "too_many_tokens",
                        f"example has about {tokens:,} tokens ({check.text_tokens:,} text, "
                        f"{image_tokens:,} image); the limit is {max_example_tokens:,}",
                        line=lineno,
                        example_id=example_id,
                        hint="shorten the text, use fewer images or detail='low'",
                        applies_to=_TRAINING,
                    )
                if check.images:
                    stats.examples_with_images += 1
                    stats.images += len(check.images)
                    stats.remote_images += remote
                    if remote and remote_first_line is None:
                        remote_first_line = lineno
                for use in check.images:
                    if use.info.key is not None:
                        distinct.add(use.info.key)
                for use in check.asked_images:
                    key = use.info.key
                    if key is None or key in images:
                        continue
                    images[key] = (lineno, example_id)
                    if leaks is not None and key in leaks.images:
                        other = leaks.images[key]
                        collector.add(
                            "warning",
                            "image_leakage",
                            f"{use.where}: the same image is in {_where(*other)}",
                            line=lineno,
                            example_id=example_id,
                            hint="split by image id so no image is in two splits",
                        )
                _check_answers(
                    check.ends_with_assistant, check.has_answer, lineno, example_id, collector
                )
                if check.ends_with_assistant:
                    stats.examples_with_answer += 1
                prompt_key, answer_key = check.prompt_and_answer_keys()
                seen = prompts.get(prompt_key)
                if seen is None:
                    prompts[prompt_key] = (lineno, example_id, answer_key)
                    if leaks is not None and prompt_key in leaks.prompts:
                        collector.add(
                            "warning",
                            "example_leakage",
                            f"the same prompt (question and image) is in "
                            f"{_where(*leaks.prompts[prompt_key])}",
                            line=lineno,
                            example_id=example_id,
                            hint="split by image id so no question is in two splits",
                        )
                elif seen[2] == answer_key:
                    stats.duplicate_examples += 1
                    collector.add(
                        "warning",
                        "duplicate_example",
                        f"example is identical to line {seen[0]}"
                        + (f" (example {seen[1]})" if seen[1] else ""),
                        line=lineno,
                        example_id=example_id,
                        hint="drop duplicates: they weigh the example double in training",
                    )
                else:
                    collector.add(
                        "warning",
                        "conflicting_answer",
                        f"same prompt as line {seen[0]} but a different answer",
                        line=lineno,
                        example_id=example_id,
                        hint="keep one answer per question (or accept several answers at "
                        "evaluation instead)",
                    )
        finally:
            if ids is not None:
                extra = ids.remaining()
                ids.__exit__(None, None, None)
    stats.unique_images = len(distinct)

    if purpose is None:
        purpose = "test" if stats.examples and not stats.examples_with_answer else "train"
        source = "content"
    collector.resolve(purpose)
    _file_level(collector, stats, purpose, remote_first_line)
    if ids is not None and ids_file is not None:
        for ordinal, problem in ids.problems:
            collector.add(
                problem.severity,
                problem.code,
                problem.message,
                hint=problem.hint,
                file=str(ids_file),
                line=ordinal,
            )
        if lines_without_id:
            collector.add(
                "warning",
                "ids_file_mismatch",
                f"{lines_without_id:,} lines have no entry in the side file {ids_file.name}",
                hint="rewrite the data files with vqaft so the side file matches",
            )
        if extra:
            collector.add(
                "warning",
                "ids_file_mismatch",
                f"the side file {ids_file.name} has {extra:,} entries for lines the file "
                "does not have",
                hint="rewrite the data files with vqaft so the side file matches",
            )
    return _Scan(
        path=path,
        collector=collector,
        purpose=purpose,
        purpose_source=source,
        ids_file=ids_file,
        stats=stats,
        images=images,
        prompts={k: (v[0], v[1]) for k, v in prompts.items()},
        counter=counter,
    )


def _where(file: str, line: int, example_id: str | None) -> str:
    text = f"{Path(file).name} line {line}"
    return f"{text} (example {example_id})" if example_id else text


def _parse_line(
    raw: bytes, lineno: int, example_id: str | None, collector: _Collector
) -> object | None:
    if not raw.strip():
        collector.add(
            "error",
            "blank_line",
            "empty line",
            line=lineno,
            example_id=example_id,
            hint="remove empty lines: every line must hold one JSON object",
        )
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        collector.add(
            "error",
            "invalid_utf8",
            f"line is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})",
            line=lineno,
            example_id=example_id,
            hint="write the file as UTF-8 (json.dumps output is ASCII-safe by default)",
        )
        return None
    try:
        record: object = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        collector.add(
            "error",
            "invalid_json",
            f"line is not valid JSON: {exc.msg} at column {exc.colno}",
            line=lineno,
            example_id=example_id,
            hint="write each record with json.dumps on one line",
        )
        return None
    return record


def _check_answers(
    ends_with_assistant: bool,
    has_answer: bool,
    lineno: int,
    example_id: str | None,
    collector: _Collector,
) -> None:
    if ends_with_assistant:
        collector.add(
            "warning",
            "test_has_answer",
            "test example ends with an assistant answer: a predictor would send the model its "
            "own answer",
            line=lineno,
            example_id=example_id,
            hint="write test files without the answer (keep gold answers in the side file)",
            applies_to=_TEST,
        )
    if not has_answer:
        collector.add(
            "error",
            "missing_assistant",
            "example has no assistant answer to train on"
            + (" (its assistant messages all have weight 0)" if ends_with_assistant else ""),
            line=lineno,
            example_id=example_id,
            hint="add the answer as a final assistant message (or validate as purpose='test')",
            applies_to=_TRAINING,
        )
    elif not ends_with_assistant:
        collector.add(
            "error",
            "last_not_assistant",
            "example does not end with an assistant message: the last turn teaches nothing",
            line=lineno,
            example_id=example_id,
            hint="end each training example with the assistant's answer",
            applies_to=_TRAINING,
        )


def _file_level(
    collector: _Collector, stats: FileStats, purpose: Purpose, remote_first_line: int | None
) -> None:
    if stats.examples == 0:
        collector.add(
            "error",
            "empty_file",
            "the file holds no usable example",
            hint="check that the right file was given and that it was fully written",
        )
    elif purpose == "train" and stats.examples < MIN_TRAINING_EXAMPLES:
        collector.add(
            "error",
            "too_few_examples",
            f"{stats.examples} training examples; OpenAI requires at least {MIN_TRAINING_EXAMPLES}",
            hint="add examples (50 to 100 usually give a clear improvement)",
        )
    if purpose in _TRAINING and stats.examples_with_images > MAX_EXAMPLES_WITH_IMAGES:
        collector.add(
            "error",
            "too_many_image_examples",
            f"{stats.examples_with_images:,} examples contain images; OpenAI allows at most "
            f"{MAX_EXAMPLES_WITH_IMAGES:,}",
            hint="sample fewer examples (e.g. --limit)",
        )
    if stats.remote_images:
        collector.add(
            "info",
            "remote_images",
            f"{stats.remote_images:,} images are http(s) URLs (first on line "
            f"{remote_first_line}); they are not checked offline and OpenAI skips any it "
            "cannot download",
            line=remote_first_line,
            hint="embed images as data URLs to have them checked here",
        )
    if stats.bytes > UPLOADS_API_MAX_BYTES:
        collector.add(
            "error",
            "file_too_large",
            f"file is {stats.bytes / 1024**3:.1f} GB; the Uploads API takes at most 8 GB",
            hint="use fewer examples, detail='low' or smaller images",
        )
    elif stats.bytes > FILES_API_MAX_BYTES:
        collector.add(
            "info",
            "uploads_api",
            f"file is {stats.bytes / 1024**2:,.0f} MB, above the Files API's 512 MB limit: it "
            "must go through the Uploads API (vqaft does this automatically)",
        )


def _scan_for_leaks(
    path: Path, inspector: ImageInspector, index: _LeakIndex, ids_file: Path | None
) -> None:
    """Add the images and prompts of ``path`` (a file of another split) to ``index``."""
    name = str(path)
    ids = IdsLookup(ids_file) if ids_file is not None else None
    with path.open("rb") as handle:
        if ids is not None:
            ids.__enter__()
        try:
            for lineno, raw in enumerate(handle, 1):
                example_id = ids.get(lineno) if ids is not None else None
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                check = check_record(record, inspector, _no_tokens)
                if not check.usable:
                    continue
                for use in check.asked_images:
                    if use.info.key is not None:
                        index.images.setdefault(use.info.key, (name, lineno, example_id))
                prompt_key, _ = check.prompt_and_answer_keys()
                index.prompts.setdefault(prompt_key, (name, lineno, example_id))
        finally:
            if ids is not None:
                ids.__exit__(None, None, None)


def _no_tokens(text: str) -> int:
    return 0


def _check_purpose(purpose: object) -> Purpose | None:
    if purpose is None or purpose in ("train", "validation", "test"):
        return purpose
    raise ConfigError(
        f"unknown purpose {purpose!r}",
        hint="use 'train', 'validation', 'test' or None (inferred from the name and content)",
    )


# --------------------------------------------------------------------------------------------
# public functions


def validate(
    path: str | PathLike[str],
    *,
    purpose: Purpose | None = None,
    against: Sequence[str | PathLike[str]] = (),
    ids_file: str | PathLike[str] | bool | None = None,
    max_example_tokens: int = MAX_EXAMPLE_TOKENS,
    max_findings_per_code: int = 100,
    token_counter: TextTokenCounter | None = None,
    progress: bool = False,
) -> ValidationReport:
    """Check one chat-format JSONL file against OpenAI's vision fine-tuning rules.

    Args:
        path: the JSONL file (one ``{"messages": [...]}`` object per line).
        purpose: ``"train"``, ``"validation"`` or ``"test"``; None infers it from the file
            name (``*train*``, ``*val*``, ``*test*``) or, failing that, from the content (no
            example ending with an answer means a test file).
        against: files of the other splits; an image or prompt of ``path`` found in one of
            them is reported (``image_leakage``, ``example_leakage``).
        ids_file: the side file mapping lines to example ids; None uses
            ``<stem>.ids.jsonl`` next to ``path`` when it exists, False uses none.
        max_example_tokens: per-example token limit (65,536 for gpt-4o-2024-08-06).
        max_findings_per_code: list at most this many findings of each code; the others are
            counted in ``report.suppressed``.
        token_counter: how text tokens are counted (default: :func:`default_counter`).
        progress: show a tqdm progress bar.

    Raises:
        ConfigError: the file (or an explicitly given side file) does not exist, or
            ``purpose`` is not one of the three.

    >>> report = validate("train.jsonl", against=["test.jsonl"])  # doctest: +SKIP
    >>> [f.code for f in report.errors]  # doctest: +SKIP
    []
    """
    file = _open_checked(Path(path))
    checked_purpose = _check_purpose(purpose)
    inspector = ImageInspector()
    leaks: _LeakIndex | None = None
    if against:
        leaks = _LeakIndex()
        for other in against:
            other_path = _open_checked(Path(other))
            _scan_for_leaks(other_path, inspector, leaks, _resolve_ids_file(other_path, None))
    scan = _scan(
        file,
        purpose=checked_purpose,
        ids_file=_resolve_ids_file(file, ids_file),
        inspector=inspector,
        counter=token_counter or default_counter(),
        max_example_tokens=max_example_tokens,
        cap=max_findings_per_code,
        leaks=leaks,
        progress=progress,
    )
    return scan.report()


def validate_many(
    files: Mapping[str, str | PathLike[str]] | Sequence[str | PathLike[str]],
    *,
    purpose: Purpose | None = None,
    max_example_tokens: int = MAX_EXAMPLE_TOKENS,
    max_findings_per_code: int = 100,
    token_counter: TextTokenCounter | None = None,
    progress: bool = False,
) -> MultiValidationReport:
    """Validate the split files of one dataset together, with cross-split leakage checks.

    Each file is read once. An image (same bytes) or a prompt (same question on the same
    image) found in two files is reported on the later file of the pair, naming the earlier:
    list the files as train, validation, test and leaks show up on the held-out files.

    Args:
        files: ``{"train": path, "validation": path, "test": path}`` (keys are purposes), or
            a list of paths whose purposes are inferred.
        purpose: with a list of paths, the purpose of all of them (None: inferred per file).
        max_example_tokens, max_findings_per_code, token_counter, progress: as for
            :func:`validate`.

    >>> multi = validate_many({"train": "train.jsonl", "test": "test.jsonl"})  # doctest: +SKIP
    >>> multi.ok  # doctest: +SKIP
    True
    """
    items: list[tuple[Purpose | None, Path]]
    if isinstance(files, Mapping):
        if purpose is not None:
            raise ConfigError(
                "give purposes either as the keys of `files` or as `purpose`, not both"
            )
        items = [(_check_purpose(k), _open_checked(Path(v))) for k, v in files.items()]
    else:
        items = [(_check_purpose(purpose), _open_checked(Path(v))) for v in files]
    inspector = ImageInspector()
    counter = token_counter or default_counter()
    scans = [
        _scan(
            path,
            purpose=purpose,
            ids_file=_resolve_ids_file(path, None),
            inspector=inspector,
            counter=counter,
            max_example_tokens=max_example_tokens,
            cap=max_findings_per_code,
            leaks=None,
            progress=progress,
        )
        for purpose, path in items
    ]
    for j, later in enumerate(scans):
        for earlier in scans[:j]:
            _cross_check(earlier, later)
    return MultiValidationReport(reports=tuple(scan.report() for scan in scans))


def _cross_check(earlier: _Scan, later: _Scan) -> None:
    name = str(earlier.path)
    shared_images = sorted(
        ((later.images[k], earlier.images[k]) for k in later.images.keys() & earlier.images.keys()),
        key=lambda pair: pair[0][0],
    )
    for (line, example_id), other in shared_images:
        later.collector.add(
            "warning",
            "image_leakage",
            f"the image first used here is also in {_where(name, *other)}",
            line=line,
            example_id=example_id,
            hint="split by image id so no image is in two splits",
        )
    shared_prompts = sorted(
        (
            (later.prompts[k], earlier.prompts[k])
            for k in later.prompts.keys() & earlier.prompts.keys()
        ),
        key=lambda pair: pair[0][0],
    )
    for (line, example_id), other in shared_prompts:
        later.collector.add(
            "warning",
            "example_leakage",
            f"the same prompt (question and image) is in {_where(name, *other)}",
            line=line,
            example_id=example_id,
            hint="split by image id so no question is in two splits",
        )
