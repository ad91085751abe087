"""The FineTuner protocol, its registry, and the typed objects every backend speaks.

A fine-tuning backend turns a chat-format training JSONL file (and optionally a validation
file) into a model id. It implements :class:`FineTuner` (five methods; inherit nothing, or
subclass :class:`BaseFineTuner`, which supplies ``fine_tune`` from ``start``, ``wait`` and a
``results`` method) and registers under a name, either with :func:`register_finetuner` or
through the ``vqaft.finetuners`` entry-point group::

    @register_finetuner("my-trainer")
    class MyTrainer:
        def __init__(self, run_dir=None, **options): ...
        def start(self, train, validation=None, *, config=None, resume=None, new_job=False): ...
        def wait(self, job_id=None, *, timeout=None): ...
        def status(self, job_id=None): ...
        def cancel(self, job_id=None): ...
        def fine_tune(self, train, validation=None, *, config=None, resume=None,
                      new_job=False, timeout=None): ...

    tuner = load_finetuner("openai", run_dir="runs/x/finetune")
    result = tuner.fine_tune("runs/x/data/train.jsonl", "runs/x/data/validation.jsonl")
    print(result.job.fine_tuned_model, result.metrics.final())

The objects here (:class:`FineTuneConfig`, :class:`FineTuneJob`, :class:`JobEvent`,
:class:`Checkpoint`, :class:`ModerationReport`, :class:`FineTuneResult`, and
:class:`~vqaft.finetune.metrics.ResultMetrics`) are pydantic models, JSON-ready, and hold no
secret.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from os import PathLike
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vqaft._registry import Registry
from vqaft.finetune.metrics import MetricsRow, ResultMetrics
from vqaft.finetune.state import fingerprint_of
from vqaft.messages.estimate import DEFAULT_MODEL

__all__ = [
    "DEFAULT_MODEL",
    "BaseFineTuner",
    "Checkpoint",
    "FineTuneConfig",
    "FineTuneJob",
    "FineTuneProgress",
    "FineTuneResult",
    "FineTuner",
    "Hyperparameters",
    "JobErrorInfo",
    "JobEvent",
    "JobStatus",
    "LoggingProgress",
    "MetricsRow",
    "ModerationReport",
    "ResultMetrics",
    "finetuners",
    "load_finetuner",
    "register_finetuner",
]

PathArg = str | PathLike[str]


class JobStatus(str, Enum):
    """The lifecycle of a fine-tuning job.

    ``UNKNOWN`` stands for a status this version of vqaft does not know (a newer API); such a
    job is treated as still in progress.
    """

    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """Whether the job is over (succeeded, failed or cancelled)."""
        return self in _TERMINAL

    @classmethod
    def parse(cls, value: object) -> JobStatus:
        """The status named ``value``; :attr:`UNKNOWN` for anything else."""
        try:
            return cls(str(value.value if isinstance(value, Enum) else value))
        except ValueError:
            return cls.UNKNOWN


_TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class Hyperparameters(BaseModel):
    """Supervised fine-tuning hyperparameters; ``"auto"`` lets the service choose.

    >>> Hyperparameters(n_epochs=3).to_api()
    {'n_epochs': 3, 'batch_size': 'auto', 'learning_rate_multiplier': 'auto'}
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_epochs: int | Literal["auto"] = Field(
        default="auto", description="passes over the training set"
    )
    batch_size: int | Literal["auto"] = Field(default="auto", description="examples per step")
    learning_rate_multiplier: float | Literal["auto"] = Field(
        default="auto", description="scales the service's default learning rate"
    )

    @field_validator("n_epochs")
    @classmethod
    def _epochs(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 50:
            raise ValueError("n_epochs must be from 1 to 50 (or 'auto')")
        return value

    @field_validator("batch_size")
    @classmethod
    def _batch(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 256:
            raise ValueError("batch_size must be from 1 to 256 (or 'auto')")
        return value

    @field_validator("learning_rate_multiplier")
    @classmethod
    def _lr(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not value > 0:
            raise ValueError("learning_rate_multiplier must be > 0 (or 'auto')")
        return value

    def to_api(self) -> dict[str, Any]:
        """The ``hyperparameters`` object of a job-create request."""
        return {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }


_METADATA_MAX_KEYS = 16


class FineTuneConfig(BaseModel):
    """What to train: the base model, hyperparameters and job options.

    Args:
        model: the base model snapshot (default ``gpt-4o-2024-08-06``).
        hyperparameters: n_epochs, batch_size, learning_rate_multiplier.
        suffix: up to 64 characters added to the fine-tuned model's name.
        seed: makes the job reproducible (the service picks one otherwise).
        metadata: up to 16 string pairs attached to the job (keys up to 64 characters,
            values up to 512).
        integrations: job integrations as the API takes them (e.g. ``{"type": "wandb",
            "wandb": {"project": "vqa"}}``).
        max_cost_usd: refuse to create a job whose estimated training cost is higher.

    >>> FineTuneConfig(suffix="covers", hyperparameters=Hyperparameters(n_epochs=2)).model
    'gpt-4o-2024-08-06'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(default=DEFAULT_MODEL, min_length=1)
    hyperparameters: Hyperparameters = Field(default_factory=lambda: Hyperparameters())
    suffix: str | None = Field(default=None, min_length=1, max_length=64)
    seed: int | None = None
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] = Field(default_factory=list)
    max_cost_usd: float | None = Field(default=None, ge=0)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > _METADATA_MAX_KEYS:
            raise ValueError(f"metadata holds at most {_METADATA_MAX_KEYS} pairs")
        for key, item in value.items():
            if not 1 <= len(key) <= 64 or len(item) > 512:
                raise ValueError(
                    f"metadata key {key!r}: keys are 1-64 characters, values at most 512"
                )
        return value

    def fingerprint(self, train_sha256: str, validation_sha256: str | None) -> str:
        """A digest of everything that decides what a job trains (not ``max_cost_usd``).

        Two runs with the same fingerprint would create the same job; the backend uses it to
        re-attach instead of paying twice.
        """
        payload = self.model_dump(mode="json", exclude={"max_cost_usd"})
        payload["train"] = train_sha256
        payload["validation"] = validation_sha256
        return fingerprint_of(payload)


class JobErrorInfo(BaseModel):
    """The ``error`` of a failed job, as the service reported it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    code: str | None = None
    message: str | None = None
    param: str | None = None


def _as_dict(obj: object) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        data = dump(mode="json")
        if isinstance(data, dict):
            return data
    raise TypeError(f"expected a mapping or a pydantic model, got {type(obj).__name__}")


class FineTuneJob(BaseModel):
    """A fine-tuning job, as last seen (backend-neutral; built from the API's job object).

    ``hyperparameters`` are the values the job uses (the service resolves ``"auto"`` once the
    job runs). ``error`` is only set for a failed job.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    status: JobStatus
    model: str | None = None
    fine_tuned_model: str | None = None
    training_file: str | None = None
    validation_file: str | None = None
    created_at: int | None = None
    finished_at: int | None = None
    estimated_finish: int | None = None
    trained_tokens: int | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    method: str | None = None
    error: JobErrorInfo | None = None
    result_files: list[str] = Field(default_factory=list)
    seed: int | None = None
    suffix: str | None = None
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] = Field(default_factory=list)
    raw_status: str | None = Field(
        default=None, description="the status text when status is UNKNOWN"
    )

    @property
    def is_terminal(self) -> bool:
        """Whether the job is over."""
        return self.status.is_terminal

    @classmethod
    def from_api(cls, obj: object) -> FineTuneJob:
        """Build from an OpenAI ``fine_tuning.job`` (an SDK object or its JSON)."""
        data = _as_dict(obj)
        status = JobStatus.parse(data.get("status"))
        method = data.get("method") or {}
        kind = method.get("type") if isinstance(method, Mapping) else None
        hyper: Any = None
        if isinstance(kind, str) and isinstance(method.get(kind), Mapping):
            hyper = method[kind].get("hyperparameters")
        if not isinstance(hyper, Mapping):
            hyper = data.get("hyperparameters")
        hyper = {k: v for k, v in (hyper or {}).items() if v is not None}
        error = data.get("error")
        failed = status is JobStatus.FAILED
        return cls(
            id=str(data.get("id")),
            status=status,
            model=data.get("model"),
            fine_tuned_model=data.get("fine_tuned_model"),
            training_file=data.get("training_file"),
            validation_file=data.get("validation_file"),
            created_at=data.get("created_at"),
            finished_at=data.get("finished_at"),
            estimated_finish=data.get("estimated_finish"),
            trained_tokens=data.get("trained_tokens"),
            hyperparameters=hyper,
            method=kind if isinstance(kind, str) else None,
            error=JobErrorInfo.model_validate(error) if failed and error else None,
            result_files=list(data.get("result_files") or []),
            seed=data.get("seed"),
            suffix=data.get("user_provided_suffix"),
            metadata=data.get("metadata"),
            integrations=[
                dict(i) for i in data.get("integrations") or [] if isinstance(i, Mapping)
            ],
            raw_status=None if status is not JobStatus.UNKNOWN else str(data.get("status")),
        )

    def describe(self) -> str:
        """One line: id, status, and the model or the error."""
        text = f"{self.id} {self.status.value if self.raw_status is None else self.raw_status}"
        if self.fine_tuned_model:
            text += f" -> {self.fine_tuned_model}"
        if self.error is not None:
            text += f" ({self.error.code}: {self.error.message})"
        return text


_COUNT = re.compile(r"\b(\d[\d,]*)\b")
_MODERATION_WORDS = re.compile(r"moderat|flagged|policy", re.IGNORECASE)


class JobEvent(BaseModel):
    """One event of a job's log (status messages, metrics, warnings)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    created_at: int | None = None
    level: str = "info"
    message: str = ""
    type: str | None = None
    data: dict[str, Any] | None = None

    @classmethod
    def from_api(cls, obj: object) -> JobEvent:
        """Build from an OpenAI ``fine_tuning.job.event`` (an SDK object or its JSON)."""
        data = _as_dict(obj)
        payload = data.get("data")
        return cls(
            id=str(data.get("id")),
            created_at=data.get("created_at"),
            level=str(data.get("level") or "info"),
            message=str(data.get("message") or ""),
            type=data.get("type"),
            data=dict(payload) if isinstance(payload, Mapping) else None,
        )

    @property
    def is_moderation_skip(self) -> bool:
        """Whether the event reports training examples skipped by content moderation.

        OpenAI does not publish the exact wording, so both a structured ``data.reason ==
        "moderation"`` and a message mentioning skipped examples and moderation (or flagged
        content) count.
        """
        if self.data and self.data.get("reason") == "moderation":
            return True
        text = self.message.lower()
        return "skip" in text and bool(_MODERATION_WORDS.search(text))

    @property
    def skipped_examples(self) -> int:
        """How many examples a moderation event says were skipped (0 if it does not say)."""
        if self.data and isinstance(self.data.get("skipped_examples"), int):
            return int(self.data["skipped_examples"])
        match = _COUNT.search(self.message)
        return int(match.group(1).replace(",", "")) if match else 0

    @property
    def skipped_lines(self) -> list[int]:
        """The 1-based training-file lines a moderation event names (empty if none)."""
        lines = (self.data or {}).get("lines")
        return [int(x) for x in lines if isinstance(x, int)] if isinstance(lines, list) else []

    def describe(self) -> str:
        """One line for progress output."""
        level = "" if self.level == "info" else f"[{self.level}] "
        return f"{level}{self.message}"


class Checkpoint(BaseModel):
    """A checkpoint of a job: a usable model id at a training step, with its metrics."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    step_number: int | None = None
    fine_tuned_model_checkpoint: str | None = None
    created_at: int | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)

    @classmethod
    def from_api(cls, obj: object) -> Checkpoint:
        """Build from an OpenAI ``fine_tuning.job.checkpoint``."""
        data = _as_dict(obj)
        metrics = data.get("metrics") or {}
        return cls(
            id=str(data.get("id")),
            step_number=data.get("step_number"),
            fine_tuned_model_checkpoint=data.get("fine_tuned_model_checkpoint"),
            created_at=data.get("created_at"),
            metrics={
                str(k): (float(v) if isinstance(v, (int, float)) else None)
                for k, v in metrics.items()
            },
        )


class ModerationReport(BaseModel):
    """Training examples the service skipped because content moderation flagged them.

    ``skipped_examples`` adds up the counts the events give; ``lines`` lists the training-file
    lines they name (when they do); ``messages`` keeps each event's text.
    """

    model_config = ConfigDict(frozen=True)

    skipped_examples: int = 0
    lines: list[int] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)

    @classmethod
    def from_events(cls, events: Iterable[JobEvent]) -> ModerationReport:
        """Collect the moderation events among ``events``."""
        hits = [e for e in events if e.is_moderation_skip]
        lines = sorted({line for e in hits for line in e.skipped_lines})
        return cls(
            skipped_examples=sum(e.skipped_examples for e in hits),
            lines=lines,
            messages=[e.message for e in hits],
        )


class FineTuneResult(BaseModel):
    """Everything a finished fine-tune produced, for the report."""

    job: FineTuneJob
    metrics: ResultMetrics | None = None
    checkpoints: list[Checkpoint] = Field(default_factory=list)
    moderation: ModerationReport = Field(default_factory=ModerationReport)
    estimated_cost_usd: float | None = None
    run_dir: str | None = None

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [f"job {self.job.describe()}"]
        if self.job.trained_tokens is not None:
            lines.append(f"  trained tokens   {self.job.trained_tokens:,}")
        if self.estimated_cost_usd is not None:
            lines.append(f"  estimated cost   ${self.estimated_cost_usd:,.2f}")
        if self.metrics is not None and self.metrics.rows:
            lines.append("  " + self.metrics.describe())
        for ckpt in self.checkpoints:
            lines.append(
                f"  checkpoint step {ckpt.step_number}: {ckpt.fine_tuned_model_checkpoint}"
            )
        if self.moderation.skipped_examples or self.moderation.messages:
            where = (
                f" (lines {', '.join(map(str, self.moderation.lines))})"
                if self.moderation.lines
                else ""
            )
            lines.append(
                f"  moderation       {self.moderation.skipped_examples} training examples "
                f"skipped{where}"
            )
        return "\n".join(lines)


@runtime_checkable
class FineTuneProgress(Protocol):
    """Receives progress as it happens (the CLI prints it; the default logs it)."""

    def status(self, job: FineTuneJob, previous: JobStatus | None) -> None:
        """The job's status changed (``previous`` is None the first time it is seen)."""

    def event(self, event: JobEvent) -> None:
        """A new job event arrived (oldest first)."""

    def upload(self, role: str, sent: int, total: int) -> None:
        """``sent`` of ``total`` bytes of the ``role`` file ("train", "validation") are up."""

    def message(self, text: str) -> None:
        """Anything else worth telling (re-attached to a job, skipped an upload, ...)."""


class LoggingProgress:
    """The default progress: lines on the ``vqaft.finetune`` logger (INFO)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("vqaft.finetune")

    def status(self, job: FineTuneJob, previous: JobStatus | None) -> None:
        """Log the new status."""
        self.logger.info("job %s: %s", job.id, job.raw_status or job.status.value)

    def event(self, event: JobEvent) -> None:
        """Log the event's message."""
        self.logger.info("event: %s", event.describe())

    def upload(self, role: str, sent: int, total: int) -> None:
        """Log finished uploads."""
        if sent >= total:
            self.logger.info("uploaded %s file (%s bytes)", role, f"{total:,}")

    def message(self, text: str) -> None:
        """Log the text."""
        self.logger.info("%s", text)


@runtime_checkable
class FineTuner(Protocol):
    """What vqaft needs from a fine-tuning backend. Implement these methods; inherit nothing.

    ``start`` must be idempotent: called again with the same inputs and settings it returns
    the job it already created (re-attaching) instead of starting a second, paid one.
    ``wait`` returns a succeeded job and raises
    :class:`~vqaft.errors.FineTuneJobError` for a failed or cancelled one.
    """

    def start(
        self,
        train: PathArg,
        validation: PathArg | None = None,
        *,
        config: FineTuneConfig | None = None,
        resume: str | None = None,
        new_job: bool = False,
    ) -> FineTuneJob:
        """Upload what is needed and create the job (or re-attach to it); do not wait."""
        ...

    def wait(self, job_id: str | None = None, *, timeout: float | None = None) -> FineTuneJob:
        """Wait for the job to finish, reporting progress."""
        ...

    def status(self, job_id: str | None = None) -> FineTuneJob:
        """The job as it is now."""
        ...

    def cancel(self, job_id: str | None = None) -> FineTuneJob:
        """Ask the service to cancel the job."""
        ...

    def fine_tune(
        self,
        train: PathArg,
        validation: PathArg | None = None,
        *,
        config: FineTuneConfig | None = None,
        resume: str | None = None,
        new_job: bool = False,
        timeout: float | None = None,
    ) -> FineTuneResult:
        """``start``, ``wait``, then collect metrics, checkpoints and moderation skips."""
        ...


class BaseFineTuner(ABC):
    """Optional base for backends: implement the protocol's steps and :meth:`results`, get
    :meth:`fine_tune`.

    A backend that subclasses it still satisfies :class:`FineTuner` by its own methods; the
    base adds nothing but the one-call ``fine_tune`` (start, wait, results).

    >>> class Instant(BaseFineTuner):
    ...     job = FineTuneJob(id="job-1", status=JobStatus.SUCCEEDED, fine_tuned_model="m-1")
    ...     def start(self, train, validation=None, *, config=None, resume=None,
    ...               new_job=False):
    ...         return self.job
    ...     def wait(self, job_id=None, *, timeout=None):
    ...         return self.job
    ...     def status(self, job_id=None):
    ...         return self.job
    ...     def cancel(self, job_id=None):
    ...         return self.job
    ...     def results(self, job=None):
    ...         return FineTuneResult(job=job or self.job)
    >>> Instant().fine_tune("train.jsonl").job.fine_tuned_model
    'm-1'
    >>> isinstance(Instant(), FineTuner)
    True
    """

    @abstractmethod
    def start(
        self,
        train: PathArg,
        validation: PathArg | None = None,
        *,
        config: FineTuneConfig | None = None,
        resume: str | None = None,
        new_job: bool = False,
    ) -> FineTuneJob:
        """Upload what is needed and create the job (or re-attach to it); do not wait."""

    @abstractmethod
    def wait(self, job_id: str | None = None, *, timeout: float | None = None) -> FineTuneJob:
        """Wait for the job to finish; return the succeeded job."""

    @abstractmethod
    def status(self, job_id: str | None = None) -> FineTuneJob:
        """The job as it is now."""

    @abstractmethod
    def cancel(self, job_id: str | None = None) -> FineTuneJob:
        """Ask the backend to cancel the job."""

    @abstractmethod
    def results(self, job: FineTuneJob | None = None) -> FineTuneResult:
        """What the finished ``job`` produced (default: the run's job)."""

    def fine_tune(
        self,
        train: PathArg,
        validation: PathArg | None = None,
        *,
        config: FineTuneConfig | None = None,
        resume: str | None = None,
        new_job: bool = False,
        timeout: float | None = None,
    ) -> FineTuneResult:
        """Start (or re-attach), wait, and collect the results: the whole step in one call.

        Raises:
            ConfigError: see the backend's :meth:`start`.
            FineTuneJobError: see the backend's :meth:`wait` and :meth:`results` (the job
                failed or was cancelled, or the backend could not follow it).
        """
        job = self.start(train, validation, config=config, resume=resume, new_job=new_job)
        job = self.wait(job.id, timeout=timeout)
        return self.results(job)


finetuners: Registry[Callable[..., FineTuner]] = Registry(
    "fine-tuner", "vqaft.finetuners", check=callable
)
"""Registry of fine-tuner factories (usually classes), entry-point group ``vqaft.finetuners``."""

register_finetuner = finetuners.register
"""Decorator: ``@register_finetuner("name")`` registers a fine-tuner class or factory."""


def load_finetuner(name: str, **kwargs: Any) -> FineTuner:
    """Create the fine-tuner registered as ``name`` with ``kwargs``.

    >>> tuner = load_finetuner("openai", run_dir="runs/x/finetune")  # doctest: +SKIP
    """
    return finetuners.get(name)(**kwargs)
