"""How a fake fine-tuning job unfolds: ``JobStep``, ``JobEvent``, ``JobError`` and scripts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vqaft.errors import ConfigError

__all__ = [
    "DEFAULT_JOB_SCRIPT",
    "JOB_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "JobError",
    "JobEvent",
    "JobScript",
    "JobStep",
    "StepLike",
    "normalise_script",
]

JOB_STATUSES = frozenset(
    {
        "validating_files",
        "queued",
        "running",
        "pausing",
        "paused",
        "succeeded",
        "failed",
        "cancelled",
    }
)
TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class JobError:
    """The ``error`` of a failed job: ``{code, message, param}``."""

    code: str
    message: str
    param: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The OpenAI error object of a failed job."""
        return {"code": self.code, "message": self.message, "param": self.param}


@dataclass(frozen=True)
class JobEvent:
    """An extra event a script step appends to the job's event list."""

    message: str
    level: Literal["info", "warn", "error"] = "info"
    type: Literal["message", "metrics"] = "message"
    data: Mapping[str, Any] | None = None

    @classmethod
    def moderation_skipped(cls, count: int, *, lines: Sequence[int] = ()) -> JobEvent:
        """A warning that ``count`` training examples were skipped by content moderation.

        The fake's own wording (OpenAI's exact text is not published):
        ``"<count> training examples were skipped because their images were flagged by
        content moderation"``, with ``data = {"reason": "moderation",
        "skipped_examples": count, "lines": [...]}`` (1-based training-file lines).
        """
        return cls(
            message=(
                f"{count} training examples were skipped because their images were flagged "
                "by content moderation"
            ),
            level="warn",
            data={"reason": "moderation", "skipped_examples": count, "lines": list(lines)},
        )


@dataclass(frozen=True)
class JobStep:
    """One status in a job script, with optional extra events and (for ``failed``) an error.

    Example::

        FakeOpenAI(job_script=[
            "validating_files",
            JobStep("running", events=(JobEvent.moderation_skipped(2, lines=[4, 9]),)),
            JobStep.failed("invalid_training_file", "Line 3 has no assistant message",
                           param="training_file"),
        ])
    """

    status: str
    events: tuple[JobEvent, ...] = field(default=())
    error: JobError | None = None

    def __post_init__(self) -> None:
        if self.status not in JOB_STATUSES:
            raise ConfigError(
                f"unknown fine-tuning job status {self.status!r} in a job script",
                hint="use one of " + ", ".join(sorted(JOB_STATUSES)),
            )
        if self.error is not None and self.status != "failed":
            raise ConfigError(f"only a 'failed' step can carry an error, not {self.status!r}")
        object.__setattr__(self, "events", tuple(self.events))

    @classmethod
    def failed(
        cls,
        code: str = "server_error",
        message: str = "The fine-tuning job failed (scripted by FakeOpenAI).",
        *,
        param: str | None = None,
        events: Sequence[JobEvent] = (),
    ) -> JobStep:
        """A ``failed`` step with the job error ``{code, message, param}``."""
        return cls("failed", events=tuple(events), error=JobError(code, message, param))


StepLike = str | JobStep
#: A job script: the statuses a job goes through, or a function from the job-create request
#: body to them (to give each job its own script).
JobScript = Sequence[StepLike] | Callable[[Mapping[str, Any]], Sequence[StepLike]]

DEFAULT_JOB_SCRIPT: tuple[str, ...] = ("validating_files", "queued", "running", "succeeded")


def normalise_script(steps: Sequence[StepLike]) -> tuple[JobStep, ...]:
    """Turn strings into ``JobStep`` and check the script; raise ``ConfigError`` if wrong."""
    if isinstance(steps, str) or not steps:
        raise ConfigError(
            "a job script must be a non-empty sequence of statuses",
            hint='e.g. ["validating_files", "queued", "running", "succeeded"]',
        )
    out = tuple(step if isinstance(step, JobStep) else JobStep(str(step)) for step in steps)
    for index, step in enumerate(out[:-1]):
        if step.status in TERMINAL_JOB_STATUSES:
            raise ConfigError(
                f"job script step {index} is the final status {step.status!r}, yet more follow",
                hint="put succeeded, failed or cancelled last",
            )
    return out
