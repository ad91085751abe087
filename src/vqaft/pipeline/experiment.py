"""The experiment file: one TOML file that declares a whole run, validated by pydantic.

An experiment names the dataset and how to sample it, how to build the chat messages, how to
fine-tune, which models to compare, how to evaluate them and what the report shows::

    name = "ocr-vqa-gpt4o"

    [dataset]
    adapter = "ocr-vqa"
    args = { source = "howard-hou/OCR-VQA" }
    splits.train = { images = 150, seed = 42 }
    splits.validation = { images = 50, seed = 42 }
    splits.test = { images = 100, seed = 42 }

    [finetune]
    backend = "openai"
    model = "gpt-4o-2024-08-06"

    [[predict.models]]
    name = "base"
    model = "gpt-4o-2024-08-06"

    [[predict.models]]
    name = "fine-tuned"
    model = "@finetune"            # the model the finetune stage produced

Every problem is a :class:`~vqaft.errors.ConfigError` that names the file and the key
(``predict.models[1].model``), with a hint. ``--set key.path=value`` overrides any key before
validation (:func:`apply_overrides`). See docs/experiments.md for every key.

>>> experiment = load_experiment("examples/ocr-vqa-gpt4o.toml")  # doctest: +SKIP
>>> [m.name for m in experiment.predict.models]  # doctest: +SKIP
['base', 'fine-tuned']
"""

from __future__ import annotations

import copy
import datetime as _dt
import difflib
import importlib
import json
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vqaft.errors import ConfigError
from vqaft.evaluate.spec import SuiteFile
from vqaft.evaluate.suite import DEFAULT_EVALUATORS
from vqaft.finetune.base import FineTuneConfig, Hyperparameters
from vqaft.messages.estimate import DEFAULT_MODEL
from vqaft.messages.images import ImagePolicy

__all__ = [
    "BATCH_BACKENDS",
    "FINETUNE_REF",
    "OPERATIONAL_KEYS",
    "BatchSettings",
    "DatasetSection",
    "EvaluateSection",
    "Experiment",
    "FinetuneSection",
    "MessagesSection",
    "PredictModel",
    "PredictSection",
    "ReportSection",
    "SplitSampling",
    "ValidateSection",
    "apply_overrides",
    "load_experiment",
    "parse_experiment",
    "parse_override",
]

FINETUNE_REF = "@finetune"
"""A model name meaning "the model the finetune stage produced"."""

FINETUNE_DIR_REF = "@finetune.dir"
"""An argument value meaning "the finetune stage's folder" (for local backends' model files)."""

OPERATIONAL_KEYS = frozenset(
    {
        "concurrency",
        "connections_per_pool",
        "max_retries",
        "max_transient_errors",
        "poll_interval",
        "progress",
        "request_timeout",
        "timeout",
        "workers",
    }
)
"""Keys that change how fast or how patiently a stage runs, not what it produces.

They are left out of the stage input hashes, so changing them never reruns a stage.
"""

BATCH_BACKENDS = frozenset({"openai"})
"""The predictor backends that can answer through OpenAI's Batch API (``mode = "batch"``)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SECRET_KEYS = frozenset({"api_key", "apikey", "secret", "password", "access_token", "auth_token"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitSampling(_Section):
    """How one split is sampled: ``images`` (a number, or ``"all"``) with ``seed``.

    Sampling is by image, exactly as the cookbook's ``shuffle(seed).select(range(images))``.
    """

    images: int | Literal["all"] = Field(
        default="all", description="images to sample, or 'all' for the whole split in order"
    )
    seed: int = 42

    @field_validator("images")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("images must be at least 1 (or 'all'); leave the split out to skip it")
        return value

    @property
    def count(self) -> int | None:
        """The number of images, ``None`` for all."""
        return None if self.images == "all" else int(self.images)


def _cookbook_splits() -> dict[str, SplitSampling]:
    return {
        "train": SplitSampling(images=150, seed=42),
        "validation": SplitSampling(images=50, seed=42),
        "test": SplitSampling(images=100, seed=42),
    }


class DatasetSection(_Section):
    """``[dataset]``: the adapter, its arguments, and the sampling of each split.

    Attributes:
        adapter: a registered dataset adapter (``ocr-vqa``, ``synthetic-covers``, ``hf``, ...).
        args: the adapter's keyword arguments (e.g. ``source``).
        splits: split name -> sampling; ``train`` and ``validation`` files carry answers,
            ``test`` is what the models answer. Default: the cookbook's 150/50/100, seed 42.
        on_error: ``"raise"`` stops at the first bad row or image; ``"skip"`` leaves it out
            and lists it in ``data/manifest.json``.
    """

    adapter: str = Field(default="ocr-vqa", min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    splits: dict[str, SplitSampling] = Field(default_factory=_cookbook_splits)
    on_error: Literal["raise", "skip"] = "raise"

    @field_validator("splits")
    @classmethod
    def _has_test(cls, value: dict[str, SplitSampling]) -> dict[str, SplitSampling]:
        if "test" not in value:
            raise ValueError("needs a 'test' split (the questions the models answer)")
        return value


class MessagesSection(_Section):
    """``[messages]``: how each example becomes a chat record.

    Attributes:
        system_prompt: the system message (default: vqaft's book-cover prompt); ``""`` for none.
        system_prompt_file: read the system message from this file instead (relative paths
            are relative to the experiment file).
        few_shot: training images shown as worked examples before every question (taken from
            outside the training sample).
        detail: the image ``detail``: ``auto``, ``low`` or ``high``.
        question_template: how the question is worded; must contain ``{question}``.
        image_policy: image encoding (``format``, ``quality``, ``resize``, ``max_side``).
        workers: encoding processes (default: the CPUs; operational).
    """

    system_prompt: str | None = None
    system_prompt_file: str | None = None
    few_shot: int = Field(default=0, ge=0, le=9)
    detail: Literal["auto", "low", "high"] = "auto"
    question_template: str = "{question}"
    image_policy: ImagePolicy = Field(default_factory=ImagePolicy)
    workers: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_prompt(self) -> MessagesSection:
        if self.system_prompt is not None and self.system_prompt_file is not None:
            raise ValueError("give system_prompt or system_prompt_file, not both")
        return self


class ValidateSection(_Section):
    """``[validate]``: checking the files against OpenAI's rules, and pricing the fine-tune.

    Attributes:
        fail_on_errors: stop the run when a file breaks a rule (warnings never stop it).
        estimate: estimate the training cost (for models with a known price).
    """

    fail_on_errors: bool = True
    estimate: bool = True


class FinetuneSection(_Section):
    """``[finetune]``: the fine-tuning backend and what it trains.

    Attributes:
        backend: a registered fine-tuner (``openai``, ``local``, ...).
        model: the base model to fine-tune.
        hyperparameters: ``n_epochs``, ``batch_size``, ``learning_rate_multiplier``.
        suffix, seed, metadata, integrations: job options (see docs/finetune.md).
        max_cost_usd: refuse to start a job estimated above this.
        timeout: stop waiting after this many seconds (the job keeps running; rerun to
            re-attach).
        args: the backend's constructor options (``base_url``, ``api_key_env``,
            ``poll_interval``, ...). API keys are never read from experiment files.
    """

    backend: str = Field(default="openai", min_length=1)
    model: str = Field(default=DEFAULT_MODEL, min_length=1)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    suffix: str | None = Field(default=None, min_length=1, max_length=64)
    seed: int | None = None
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] = Field(default_factory=list)
    max_cost_usd: float | None = Field(default=None, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    args: dict[str, Any] = Field(default_factory=dict)

    def job_config(self) -> FineTuneConfig:
        """The :class:`~vqaft.finetune.base.FineTuneConfig` handed to the backend."""
        return FineTuneConfig(
            model=self.model,
            hyperparameters=self.hyperparameters,
            suffix=self.suffix,
            seed=self.seed,
            metadata=self.metadata,
            integrations=self.integrations,
            max_cost_usd=self.max_cost_usd,
        )


class BatchSettings(_Section):
    """``batch = { ... }`` of a ``[[predict.models]]`` entry: how Batch API mode waits.

    Both keys are operational (changing them never reruns the stage).

    Attributes:
        poll_interval: seconds between status checks of the running batches.
        timeout: stop waiting after this many seconds; the stage then fails, the batches keep
            running on the service, and the next run re-attaches to them (``None``: wait
            until they end, up to the Batch API's 24 hours).
    """

    poll_interval: float = Field(default=30.0, ge=0)
    timeout: float | None = Field(default=None, gt=0)


class PredictModel(_Section):
    """One ``[[predict.models]]`` entry: a model to answer the test questions.

    Attributes:
        name: the model's name in the run (file ``predictions/<name>.jsonl``, report labels).
        model: the model id, or ``"@finetune"`` for the fine-tuned model.
        backend: a registered predictor (``openai``, ``local``, ...).
        mode: ``"online"`` sends one request per question; ``"batch"`` sends them through
            OpenAI's Batch API (half the price, answers within 24 hours; ``openai`` backend
            only), resumably: a rerun re-attaches to the batches already created.
        batch: Batch API settings (``poll_interval``, ``timeout``; ignored online).
        concurrency: requests in flight at most (operational; ignored in batch mode).
        retry_failed: ask examples that failed before again whenever the stage runs.
        args: the predictor's options (``base_url``, ``api_key_env``, ``temperature``,
            ``max_tokens``, ...); ``"@finetune.dir"`` stands for the finetune folder.
    """

    name: str
    model: str = Field(min_length=1)
    backend: str = Field(default="openai", min_length=1)
    mode: Literal["online", "batch"] = "online"
    batch: BatchSettings = Field(default_factory=BatchSettings)
    concurrency: int = Field(default=16, ge=1)
    retry_failed: bool = True
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "must be 1-64 letters, digits, '.', '_' or '-' (it names a file), "
                "starting with a letter or digit"
            )
        return value


class PredictSection(_Section):
    """``[predict]``: the models to compare (``[[predict.models]]``, at least one)."""

    models: list[PredictModel] = Field(min_length=1)

    @field_validator("models")
    @classmethod
    def _unique(cls, value: list[PredictModel]) -> list[PredictModel]:
        seen: set[str] = set()
        for model in value:
            if model.name in seen:
                raise ValueError(f"two models are named {model.name!r}; names must differ")
            seen.add(model.name)
        return value


class EvaluateSection(SuiteFile):
    """``[evaluate]``: the evaluation suite (the keys of a suite file, see docs/evaluation.md).

    ``evaluators`` defaults to exact, lenient, normalized, fuzzy and anls; ``group_by`` to
    question type and openness. Question types come from ``classifier`` (``"ocr-vqa"`` by
    default) and ``closed_types``. An ``llm_judge`` evaluator without a ``cache`` setting
    caches its ratings in the run's ``evaluation/`` folder.
    """

    evaluators: list[str] | dict[str, str | dict[str, Any]] = Field(
        default_factory=lambda: list(DEFAULT_EVALUATORS)
    )
    group_by: tuple[Literal["question_type", "openness"], ...] = ("question_type", "openness")


class ReportSection(_Section):
    """``[report]``: what the report shows.

    Attributes:
        charts: draw charts (needs matplotlib).
        max_rows: rows shown per item table.
        near_miss_threshold: fuzzy similarity (0-100) for "near miss" label problems.
        headline_metric: the evaluator label of the headline numbers (default ``lenient``).
        baseline: the model the others are compared with in the headline (default: the first).
    """

    charts: bool = True
    max_rows: int = Field(default=50, ge=1)
    near_miss_threshold: float = Field(default=85.0, ge=0, le=100)
    headline_metric: str = "lenient"
    baseline: str | None = None


class Experiment(_Section):
    """A whole experiment: every section of the file, validated.

    Attributes:
        name: names the default run folder (``runs/<name>``).
        description: free text, shown in the report index.
        dataset, messages, validate, finetune, predict, evaluate, report: the sections;
            ``finetune`` may be left out (then no model may be ``"@finetune"``).
    """

    name: str = "experiment"
    description: str | None = None
    dataset: DatasetSection = Field(default_factory=DatasetSection)
    messages: MessagesSection = Field(default_factory=MessagesSection)
    validate_: ValidateSection = Field(default_factory=ValidateSection, alias="validate")
    finetune: FinetuneSection | None = None
    predict: PredictSection
    evaluate: EvaluateSection = Field(default_factory=EvaluateSection)
    report: ReportSection = Field(default_factory=ReportSection)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be 1-64 letters, digits, '.', '_' or '-' (it names a folder)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        _check_batch_modes(self.predict.models)
        for index, model in enumerate(self.predict.models):
            if model.model == FINETUNE_REF and self.finetune is None:
                raise _KeyedError(
                    ("predict", "models", index, "model"),
                    f"{FINETUNE_REF!r} needs a [finetune] section",
                    "add [finetune], or name a model id",
                )
            if FINETUNE_DIR_REF in _strings(model.args) and self.finetune is None:
                raise _KeyedError(
                    ("predict", "models", index, "args"),
                    f"{FINETUNE_DIR_REF!r} needs a [finetune] section",
                    "add [finetune], or give the path",
                )
        if self.finetune is not None and "train" not in self.dataset.splits:
            raise _KeyedError(
                ("dataset", "splits"),
                "fine-tuning needs a 'train' split",
                "add [dataset.splits.train], or leave out [finetune]",
            )
        baseline = self.report.baseline
        names = [m.name for m in self.predict.models]
        if baseline is not None and baseline not in names:
            raise _KeyedError(
                ("report", "baseline"),
                f"no model is named {baseline!r}",
                "models: " + ", ".join(names),
            )
        return self

    @property
    def validate_section(self) -> ValidateSection:
        """The ``[validate]`` section (``validate`` is a pydantic method name)."""
        return self.validate_

    def to_data(self) -> dict[str, Any]:
        """The experiment as JSON-ready data, keys as in the file."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data


def _check_batch_modes(models: Sequence[PredictModel]) -> None:
    """Batch mode only for backends that have it, and no model named like another's batch
    input files (``<name>.batch-<n>.jsonl`` lie next to ``<name>.jsonl``)."""
    names = [m.name for m in models]
    for index, model in enumerate(models):
        if model.mode != "batch":
            continue
        if model.backend not in BATCH_BACKENDS:
            backends = " or ".join(f'backend = "{b}"' for b in sorted(BATCH_BACKENDS))
            raise _KeyedError(
                ("predict", "models", index, "mode"),
                f"model {model.name!r}: the {model.backend!r} backend has no Batch API mode",
                f'use mode = "online" for this model; Batch API mode needs {backends} '
                "(OpenAI or Azure OpenAI)",
            )
        pattern = re.compile(re.escape(model.name) + r"\.batch-[0-9]+")
        clash = next((n for n in names if pattern.fullmatch(n)), None)
        if clash is not None:
            raise _KeyedError(
                ("predict", "models", index, "mode"),
                f"model {model.name!r} in batch mode writes predictions/{clash}.jsonl, "
                f"the predictions file of model {clash!r}",
                f"rename model {clash!r}",
            )


class _KeyedError(ValueError):
    """A cross-key problem found after parsing; carries the key it concerns."""

    def __init__(self, loc: tuple[str | int, ...], message: str, hint: str | None) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
        self.hint = hint


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _secret_keys(data: Any, where: tuple[str | int, ...]) -> Iterable[tuple[str | int, ...]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(key, str) and key.lower() in _SECRET_KEYS:
                yield (*where, key)
            yield from _secret_keys(value, (*where, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _secret_keys(value, (*where, index))


# -- reading ----------------------------------------------------------------------------------


def _toml() -> Any:
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ConfigError(  # pragma: no cover - Python 3.10 without tomli
        "reading TOML needs Python 3.11+ or the 'tomli' package", hint="pip install tomli"
    )


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict.

    Raises:
        ConfigError: the file cannot be read or is not valid TOML (with line and column).
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read experiment file: {exc.strerror or exc}",
            file=str(source),
            hint="check the path",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError("experiment file is not valid UTF-8", file=str(source)) from None
    try:
        data: dict[str, Any] = _toml().loads(text)
    except Exception as exc:  # tomllib.TOMLDecodeError names line and column
        raise ConfigError(f"invalid TOML: {exc}", file=str(source), hint="fix the syntax") from None
    return data


def key_path(loc: Sequence[str | int]) -> str:
    """``("predict", "models", 1, "model")`` -> ``"predict.models[1].model"``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def _unwrap(annotation: Any) -> list[Any]:
    """The member types of ``X | None`` / ``Union[...]``, else ``[annotation]``."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return [a for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model that holds the key at ``loc`` (for "did you mean" suggestions)."""
    current: Any = Experiment
    for part in loc:
        next_type: Any = None
        for candidate in _unwrap(current):
            origin = get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                fields = candidate.model_fields
                name = str(part)
                field = fields.get(name) or next(
                    (f for f in fields.values() if f.alias == name), None
                )
                if field is not None:
                    next_type = field.annotation
                    break
            elif origin in (list, tuple) and isinstance(part, int):
                next_type = get_args(candidate)[0]
                break
            elif origin is dict and isinstance(part, str):
                next_type = get_args(candidate)[1]
                break
        if next_type is None:
            return None
        current = next_type
    for candidate in _unwrap(current):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _loc_of(error: Mapping[str, Any]) -> tuple[str | int, ...]:
    # pydantic adds the union member tried ("int", "literal['all']", "function-after[...]")
    loc = tuple(error["loc"])
    return tuple(
        p
        for p in loc
        if not (
            isinstance(p, str)
            and (
                p in {"str", "int", "float", "bool", "dict", "list"}
                or "[" in p
                or p.startswith(("function-", "literal"))
            )
        )
    )


def _describe(error: ValidationError) -> tuple[str, str | None]:
    errors = error.errors()
    first = errors[0]
    if isinstance(first.get("ctx", {}).get("error"), _KeyedError):
        keyed: _KeyedError = first["ctx"]["error"]
        return f"key {key_path(keyed.loc)!r}: {keyed.message}", keyed.hint
    loc = _loc_of(first)
    key = key_path(loc)
    kind = first["type"]
    hint: str | None = None
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        known = _field_names(parent) if parent is not None else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        if close:
            hint = f"did you mean {close[0]!r}?"
        else:
            hint = ("known keys here: " + ", ".join(known)) if known else None
        return f"unknown key {key!r}", hint
    if kind == "missing":
        if loc == ("predict",):
            hint = 'add at least one [[predict.models]] with name = "..." and model = "..."'
        return f"missing key {key!r}", hint
    message = str(first["msg"]).removeprefix("Value error, ")
    shown = first.get("input")
    got = "" if isinstance(shown, (dict, list)) else f" (got {shown!r})"
    return f"key {key!r}: {message}{got}", None


def parse_experiment(data: Mapping[str, Any], *, source: str | Path | None = None) -> Experiment:
    """Validate experiment data (as read from TOML) into an :class:`Experiment`.

    ``system_prompt_file`` is read here, relative to ``source``'s folder.

    Raises:
        ConfigError: an unknown, missing or invalid key (the message names it), an API key
            written into the file, or an unreadable prompt file.
    """
    where = None if source is None else str(source)
    for loc in _secret_keys(data, ()):
        raise ConfigError(
            f"key {key_path(loc)!r}: secrets are never read from experiment files",
            file=where,
            hint="put the key in an environment variable and name it with api_key_env",
        )
    try:
        experiment = Experiment.model_validate(dict(data))
    except ValidationError as exc:
        message, hint = _describe(exc)
        raise ConfigError(message, file=where, hint=hint) from None
    prompt_file = experiment.messages.system_prompt_file
    if prompt_file is not None:
        base = Path(source).parent if source is not None else Path.cwd()
        path = Path(prompt_file)
        path = path if path.is_absolute() else base / path
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"key 'messages.system_prompt_file': cannot read {path}: {exc}",
                file=where,
                hint="check the path (relative to the experiment file)",
            ) from None
        messages = experiment.messages.model_copy(
            update={"system_prompt": text.strip(), "system_prompt_file": None}
        )
        experiment = experiment.model_copy(update={"messages": messages})
    return experiment


def load_experiment(
    path: str | Path, overrides: Sequence[str | tuple[str, Any]] = ()
) -> Experiment:
    """Read, override and validate an experiment file.

    Args:
        path: the TOML file.
        overrides: ``"key.path=value"`` strings (as ``--set`` takes them) or ``(key, value)``
            pairs, applied in order before validation.

    Raises:
        ConfigError: unreadable file, bad TOML, a bad override, or an invalid key.

    >>> experiment = load_experiment("demo.toml", ["dataset.args.seed=1"])  # doctest: +SKIP
    """
    data = read_toml(path)
    data = apply_overrides(data, overrides, source=path)
    return parse_experiment(data, source=path)


# -- overrides --------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"key.path=value"``; the value is read as a TOML value, then JSON, else text.

    >>> parse_override("finetune.hyperparameters.n_epochs=2")
    ('finetune.hyperparameters.n_epochs', 2)
    >>> parse_override("dataset.args.source=data/ocr-vqa")
    ('dataset.args.source', 'data/ocr-vqa')
    >>> parse_override('predict.models.base.args={ temperature = 0 }')
    ('predict.models.base.args', {'temperature': 0})

    Raises:
        ConfigError: no ``=`` or an empty key.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            f"--set {text!r}: expected KEY=VALUE", hint="e.g. --set finetune.suffix=covers"
        )
    return key, _parse_value(raw.strip())


def _parse_value(raw: str) -> Any:
    try:
        value = _toml().loads(f"value = {raw}")["value"]
    except Exception:
        value = None
    else:
        if not isinstance(value, (_dt.date, _dt.time)):
            return value
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def apply_overrides(
    data: Mapping[str, Any],
    overrides: Sequence[str | tuple[str, Any]],
    *,
    source: str | Path | None = None,
) -> dict[str, Any]:
    """Return a copy of ``data`` with each override set.

    Keys are dotted paths. Tables that do not exist yet are created. In an array of tables a
    part is either an index (``predict.models.0.model``) or the ``name`` of an entry
    (``predict.models.base.args.base_url``).

    Raises:
        ConfigError: the path runs through a value that is not a table or array, an index is
            out of range, or no entry has that name.
    """
    result: dict[str, Any] = copy.deepcopy(dict(data))
    where = None if source is None else str(source)
    for item in overrides:
        key, value = parse_override(item) if isinstance(item, str) else item
        parts = [p for p in key.split(".")]
        if any(not p for p in parts):
            raise ConfigError(f"--set {key!r}: empty part in the key", file=where)
        _set(result, parts, value, key, where)
    return result


def _set(root: dict[str, Any], parts: list[str], value: Any, key: str, where: str | None) -> None:
    current: Any = root
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        shown = ".".join(parts[: depth + 1])
        if isinstance(current, dict):
            if last:
                current[part] = value
                return
            if part not in current:
                current[part] = {}
            current = current[part]
        elif isinstance(current, list):
            index = _list_index(current, part, shown, key, where)
            if last:
                current[index] = value
                return
            current = current[index]
        else:
            raise ConfigError(
                f"--set {key!r}: {'.'.join(parts[:depth])!r} is a value, not a table",
                file=where,
                hint="set the value itself, or a key of a table",
            )


def _list_index(items: list[Any], part: str, shown: str, key: str, where: str | None) -> int:
    if part.lstrip("-").isdigit():
        index = int(part)
        if not -len(items) <= index < len(items):
            raise ConfigError(
                f"--set {key!r}: {shown!r} is out of range ({len(items)} entries)", file=where
            )
        return index
    for index, entry in enumerate(items):
        if isinstance(entry, dict) and entry.get("name") == part:
            return index
    names = [str(e.get("name")) for e in items if isinstance(e, dict) and "name" in e]
    raise ConfigError(
        f"--set {key!r}: no entry named {part!r}",
        file=where,
        hint=("names: " + ", ".join(names)) if names else "use an index (0, 1, ...)",
    )
