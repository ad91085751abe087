"""Evaluator specs (``"fuzzy:threshold=90,scorer=token_set_ratio"``) and suite files.

An *evaluator spec* names a registered evaluator and its settings in one string, the form the
CLI's ``--evaluators`` option and suite files use::

    exact                                      the evaluator with its default settings
    fuzzy:threshold=90,scorer=token_set_ratio  settings after a colon, comma-separated
    exact,lenient,fuzzy:threshold=90,anls      a list: a bare name starts the next evaluator

Setting values are read as JSON when they parse (``90`` is a number, ``true`` a boolean,
``[1, 2]`` a list, ``"90"`` a string), otherwise kept as text; ``-`` in a key becomes ``_``.
Commas inside brackets or quotes do not split.

>>> [str(s) for s in parse_evaluator_specs("exact,fuzzy:threshold=90,scorer=token_set_ratio")]
['exact', 'fuzzy:threshold=90,scorer=token_set_ratio']
>>> parse_evaluator_spec("fuzzy:threshold=90").settings
{'threshold': 90}

A *suite file* (TOML or JSON) declares an :class:`~vqaft.evaluate.suite.EvaluationSuite`; see
:class:`SuiteFile` for the keys. Every problem is reported as a
:class:`~vqaft.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import difflib
import importlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vqaft.errors import ConfigError, UnknownComponentError
from vqaft.evaluate.base import Evaluator, create_evaluator
from vqaft.evaluate.statistics import NORMAL_MIN_N

__all__ = [
    "GROUPINGS",
    "EvaluatorSpec",
    "SuiteFile",
    "build_evaluators",
    "classifier_from_file",
    "evaluators_from_file",
    "load_suite_file",
    "parse_evaluator_spec",
    "parse_evaluator_specs",
]

GROUPINGS = ("question_type", "openness")
"""The groupings a suite can report: by question type, and by open/closed question."""

_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")
_KEY = re.compile(r"^[A-Za-z_][\w\-]*$")


class EvaluatorSpec(BaseModel):
    """A registered evaluator's name, its settings, and an optional label.

    ``str(spec)`` gives the canonical spec string (settings in the order given).

    >>> spec = EvaluatorSpec(name="fuzzy", settings={"threshold": 90})
    >>> str(spec), spec.create().settings["threshold"]
    ('fuzzy:threshold=90', 90)
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    def __str__(self) -> str:
        if not self.settings:
            return self.name
        return (
            self.name + ":" + ",".join(f"{k}={_format_value(v)}" for k, v in self.settings.items())
        )

    def create(self) -> Evaluator:
        """Build the evaluator.

        Raises:
            UnknownComponentError: no evaluator of that name ("did you mean" in the hint).
            ConfigError: the settings are not accepted, or the evaluator fails to build.
        """
        try:
            return create_evaluator(self.name, **self.settings)
        except (ConfigError, UnknownComponentError):
            raise
        except Exception as exc:  # a plugin's constructor may fail in any way
            raise ConfigError(
                f"evaluator {str(self)!r} could not be created: {type(exc).__name__}: {exc}",
                hint="check its settings",
            ) from exc


def _format_value(value: Any) -> str:
    if isinstance(value, str) and _KEY.match(value) and value not in {"true", "false", "null"}:
        return value
    return json.dumps(value, ensure_ascii=False)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets, braces or quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    escaped = False
    for char in text:
        if quote is not None:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if quote is not None or depth != 0:
        raise ConfigError(
            f"unbalanced quotes or brackets in evaluator spec {text!r}",
            hint='close every quote and bracket, e.g. fuzzy:scorer="ratio"',
        )
    parts.append("".join(current).strip())
    return parts


def _parse_value(raw: str) -> Any:
    raw = raw.strip()
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    lowered = raw.lower()
    if lowered in {"true", "yes", "on"}:
        return True
    if lowered in {"false", "no", "off"}:
        return False
    if lowered in {"none", "null"}:
        return None
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    return raw


def _parse_setting(token: str, text: str) -> tuple[str, Any]:
    key, sep, raw = token.partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key):
        raise ConfigError(
            f"expected KEY=VALUE in evaluator spec {text!r}, got {token!r}",
            hint="write settings as name:key=value,key=value (e.g. fuzzy:threshold=90)",
        )
    return key.replace("-", "_"), _parse_value(raw)


def parse_evaluator_specs(text: str) -> list[EvaluatorSpec]:
    """Parse a comma-separated list of evaluator specs (see the module docstring).

    Raises:
        ConfigError: the text is empty, a setting comes before any evaluator name, a setting
            repeats, or a token is neither ``name``, ``name:key=value`` nor ``key=value``.

    >>> [s.name for s in parse_evaluator_specs("exact, lenient, anls:threshold=0.4")]
    ['exact', 'lenient', 'anls']
    """
    if not text or not text.strip():
        raise ConfigError("no evaluators given", hint="e.g. exact,lenient,fuzzy:threshold=90")
    specs: list[tuple[str, dict[str, Any]]] = []
    for token in _split_top_level(text):
        if not token:
            continue
        head, colon, rest = token.partition(":")
        if _NAME.match(head.strip()) and (colon or "=" not in token):
            settings: dict[str, Any] = {}
            specs.append((head.strip(), settings))
            if colon and rest.strip():
                key, value = _parse_setting(rest, text)
                settings[key] = value
            continue
        if not specs:
            raise ConfigError(
                f"setting {token!r} comes before any evaluator name in {text!r}",
                hint="start with the evaluator's name, e.g. fuzzy:threshold=90",
            )
        name, settings = specs[-1]
        key, value = _parse_setting(token, text)
        if key in settings:
            raise ConfigError(
                f"setting {key!r} of evaluator {name!r} is given twice in {text!r}",
                hint="give each setting once",
            )
        settings[key] = value
    if not specs:
        raise ConfigError("no evaluators given", hint="e.g. exact,lenient,fuzzy:threshold=90")
    return [EvaluatorSpec(name=name, settings=settings) for name, settings in specs]


def parse_evaluator_spec(text: str) -> EvaluatorSpec:
    """Parse one evaluator spec such as ``"fuzzy:threshold=90,scorer=token_set_ratio"``.

    Raises:
        ConfigError: the text is not exactly one valid spec.
    """
    specs = parse_evaluator_specs(text)
    if len(specs) != 1:
        raise ConfigError(
            f"expected one evaluator spec, got {len(specs)} in {text!r}",
            hint="pass one name with its settings, e.g. fuzzy:threshold=90",
        )
    return specs[0]


EvaluatorLike = str | EvaluatorSpec | Evaluator | Mapping[str, Any]
"""What one entry of a suite's evaluator list may be."""


def _spec_from_mapping(label: str | None, data: Mapping[str, Any]) -> EvaluatorSpec:
    settings = dict(data)
    name = settings.pop("evaluator", None) or label
    if not isinstance(name, str) or not name:
        raise ConfigError(
            "an evaluator table needs an 'evaluator' name",
            hint='e.g. {evaluator = "fuzzy", threshold = 90}',
        )
    return EvaluatorSpec(name=name, settings=settings, label=label)


def _to_spec(label: str | None, value: Any) -> EvaluatorSpec | Evaluator:
    if isinstance(value, EvaluatorSpec):
        return value if label is None else value.model_copy(update={"label": label})
    if isinstance(value, str):
        spec = parse_evaluator_spec(value)
        return spec if label is None else spec.model_copy(update={"label": label})
    if isinstance(value, Mapping):
        return _spec_from_mapping(label, value)
    if isinstance(value, Evaluator):
        return value
    raise ConfigError(
        f"cannot make an evaluator from {type(value).__name__}",
        hint="pass a registered name, a spec string, an EvaluatorSpec, a settings table or an "
        "evaluator instance",
    )


def build_evaluators(
    evaluators: str | Sequence[EvaluatorLike] | Mapping[str, EvaluatorLike],
) -> dict[str, Evaluator]:
    """Create evaluators from specs and return them by label.

    Accepts a spec list string, a sequence of names / spec strings / :class:`EvaluatorSpec` /
    instances, or a mapping ``{label: name, spec string, settings table or instance}`` (a
    settings table names its evaluator under ``"evaluator"``, default: the label).

    Labels: the explicit label, else the evaluator's name; when one name appears several times
    without labels, each gets its canonical spec string (``"fuzzy:threshold=80"``).

    Raises:
        UnknownComponentError: an unknown evaluator name ("did you mean" in the hint).
        ConfigError: bad settings, an empty list, or two evaluators with one label.

    >>> list(build_evaluators("exact,fuzzy:threshold=80,fuzzy:threshold=95"))
    ['exact', 'fuzzy:threshold=80', 'fuzzy:threshold=95']
    """
    return _build(evaluators, source=None)


def _build(
    evaluators: str | Sequence[EvaluatorLike] | Mapping[str, EvaluatorLike],
    *,
    source: str | None,
) -> dict[str, Evaluator]:
    """Build evaluators; with ``source`` (a suite file) every error names the file and key."""
    raw: list[tuple[str | None, Any, str]]
    if isinstance(evaluators, str):
        raw = [
            (None, s, f"evaluators[{i}]") for i, s in enumerate(parse_evaluator_specs(evaluators))
        ]
    elif isinstance(evaluators, Mapping):
        raw = [(str(k), v, f"evaluators.{k}") for k, v in evaluators.items()]
    else:
        raw = [(None, v, f"evaluators[{i}]") for i, v in enumerate(evaluators)]
    if not raw:
        raise ConfigError("no evaluators given", hint="e.g. exact,lenient,fuzzy:threshold=90")

    def located(where: str, exc: ConfigError | UnknownComponentError) -> ConfigError:
        return ConfigError(f"key {where!r}: {exc.message}", file=source, hint=exc.hint)

    entries: list[tuple[str | None, EvaluatorSpec | Evaluator, str]] = []
    for label, value, where in raw:
        try:
            entries.append((label, _to_spec(label, value), where))
        except ConfigError as exc:
            if source is None:
                raise
            raise located(where, exc) from None

    counts: dict[str, int] = {}
    for _, item, _ in entries:
        if isinstance(item, EvaluatorSpec) and item.label is None:
            counts[item.name] = counts.get(item.name, 0) + 1
    built: dict[str, Evaluator] = {}
    for label, item, where in entries:
        try:
            if isinstance(item, EvaluatorSpec):
                key = label or item.label or item.name
                if item.label is None and counts.get(item.name, 0) > 1:
                    key = str(item)
                instance = item.create()
            else:
                key = label or str(item.name)
                instance = item
            if key in built:
                raise ConfigError(
                    f"two evaluators are labelled {key!r}",
                    hint="give them different settings or labels ({label: spec})",
                )
        except (ConfigError, UnknownComponentError) as exc:
            if source is None:
                raise
            raise located(where, exc) from None
        built[key] = instance
    return built


# -- suite files ------------------------------------------------------------------------------


class SuiteFile(BaseModel):
    """The keys of a suite file (TOML or JSON). Unknown keys are errors.

    Example (TOML)::

        name = "ocr-vqa"
        evaluators = ["exact", "lenient", "fuzzy:threshold=90,scorer=token_set_ratio", "anls"]
        group_by = ["question_type", "openness"]
        confidence = 0.95

    or, with labels and settings tables::

        [evaluators]
        exact = {}
        fuzzy90 = { evaluator = "fuzzy", threshold = 90, scorer = "token_set_ratio" }
        anls = "anls:threshold=0.5"

    Attributes:
        name: the suite's name, shown in reports.
        description: free text, shown in reports.
        evaluators: a list of spec strings, or a table ``{label: spec string or settings}``.
        classifier: ``"ocr-vqa"`` (default), ``"module:function"`` (a function
            ``question -> type``), or a table ``{question text: type}``.
        closed_types: the closed (yes/no-like) question types (default ``["Yes/No"]``).
        group_by: groupings to report besides "All": ``question_type``, ``openness``.
        primary: the evaluator label used to find disagreements (default: the first with a
            pass/fail verdict).
        confidence: level of every interval.
        alpha: significance level of comparisons.
        n_resamples: bootstrap and permutation resamples.
        seed: random seed of resampling.
        normal_min_n: groups of at least this many items use the normal approximation for
            continuous means and comparisons instead of resampling (default 2000; ``0``
            always resamples).
        on_error: ``"skip"`` (default: bad lines are listed and left out) or ``"raise"``.
        details: score item by item to keep each evaluator's per-item details (slower).
        concurrency: items scored at once by async (network-bound) evaluators.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "suite"
    description: str | None = None
    evaluators: list[str] | dict[str, str | dict[str, Any]]
    classifier: str | dict[str, str] = "ocr-vqa"
    closed_types: list[str] | None = None
    group_by: tuple[Literal["question_type", "openness"], ...] = ("question_type",)
    primary: str | None = None
    confidence: float = Field(default=0.95, gt=0, lt=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    n_resamples: int = Field(default=2000, gt=0)
    seed: int = 0
    normal_min_n: int = Field(default=NORMAL_MIN_N, ge=0)
    on_error: Literal["raise", "skip"] = "skip"
    details: bool = False
    concurrency: int = Field(default=8, gt=0)

    @field_validator("evaluators")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if not value:
            raise ValueError("must name at least one evaluator")
        return value


def _key_path(loc: Iterable[int | str]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _describe_validation(error: ValidationError) -> tuple[str, str | None]:
    first = error.errors()[0]
    loc = tuple(first["loc"])
    # For unions, pydantic appends the tried member type ("list[str]"); drop those parts.
    loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str", "dict"})))
    key = _key_path(loc)
    if first["type"] == "extra_forbidden":
        known = list(SuiteFile.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(known)
        return f"unknown key {key!r}", hint
    if first["type"] == "missing":
        return f"missing key {key!r}", 'e.g. evaluators = ["exact", "lenient"]'
    message = first["msg"].removeprefix("Value error, ")
    return f"key {key!r}: {message} (got {first.get('input')!r})", None


def _read_structured(path: Path) -> Any:
    if path.suffix.lower() not in {".json", ".toml"}:
        raise ConfigError(
            f"unsupported suite file type {path.suffix!r}",
            file=str(path),
            hint="use a .toml or .json file",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read suite file: {exc.strerror or exc}", file=str(path), hint="check the path"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("suite file is not valid UTF-8", file=str(path)) from exc
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno, hint="fix the syntax"
            ) from None
    toml = _toml_module(path)
    try:
        return toml.loads(text)
    except Exception as exc:  # tomllib.TOMLDecodeError (or tomli's) names line and column
        raise ConfigError(f"invalid TOML: {exc}", file=str(path), hint="fix the syntax") from None


def _toml_module(path: Path) -> Any:
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ConfigError(
        "reading TOML needs Python 3.11+ or the 'tomli' package",
        file=str(path),
        hint="pip install tomli, or write the suite as JSON",
    )


def load_suite_file(path: str | Path) -> SuiteFile:
    """Read and validate a suite file (``.toml`` or ``.json``).

    Raises:
        ConfigError: the file cannot be read or parsed, or a key is unknown, missing or
            invalid (the message names the file and the key).
    """
    path = Path(path)
    data = _read_structured(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"a suite file holds a table/object, not {type(data).__name__}", file=str(path)
        )
    try:
        return SuiteFile.model_validate(data)
    except ValidationError as exc:
        message, hint = _describe_validation(exc)
        raise ConfigError(message, file=str(path), hint=hint) from None


def evaluators_from_file(config: SuiteFile, path: str | Path | None) -> dict[str, Evaluator]:
    """Create a suite file's evaluators, naming the offending key in every error.

    Raises:
        ConfigError: an unknown evaluator (with "did you mean" in the hint) or bad settings.
    """
    source = "<suite>" if path is None else str(path)
    evaluators: list[EvaluatorLike] | dict[str, EvaluatorLike] = (
        dict(config.evaluators) if isinstance(config.evaluators, dict) else list(config.evaluators)
    )
    return _build(evaluators, source=source)


def classifier_from_file(config: SuiteFile, path: str | Path | None) -> Any:
    """The classifier spec of a suite file: ``None`` (OCR-VQA), a mapping, or a function.

    Raises:
        ConfigError: ``"module:function"`` cannot be imported or is not callable.
    """
    value = config.classifier
    if isinstance(value, dict):
        return value
    if value in {"ocr-vqa", "ocr_vqa", "default"}:
        return None
    module_name, colon, attr = value.partition(":")
    if not colon or not module_name or not attr:
        raise ConfigError(
            f"key 'classifier': unknown classifier {value!r}",
            file=None if path is None else str(path),
            hint="use 'ocr-vqa', 'package.module:function', or a table {question = type}",
        )
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"key 'classifier': cannot import {value!r}: {exc}",
            file=None if path is None else str(path),
            hint="check the module path and that the package is installed",
        ) from None
    if not callable(target):
        raise ConfigError(
            f"key 'classifier': {value!r} is not callable",
            file=None if path is None else str(path),
            hint="point it at a function question -> type",
        )
    return target
