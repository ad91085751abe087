"""Fine-tuning jobs of the fake server: create, scripted lifecycle, events, checkpoints."""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vqaft.errors import ConfigError
from vqaft.testing._api_error import ApiError, not_found
from vqaft.testing._files import FileService
from vqaft.testing._job_results import TrainingFileFacts, analyse_training_file, metrics_csv
from vqaft.testing._job_script import (
    DEFAULT_JOB_SCRIPT,
    TERMINAL_JOB_STATUSES,
    JobError,
    JobEvent,
    JobScript,
    JobStep,
    StepLike,
    normalise_script,
)
from vqaft.testing._store import Store, paginate

__all__ = ["Advance", "JobService"]

#: How scripted objects (jobs, batches) move on: one step per ``retrieve`` call, or one
#: step every N seconds of the server's clock.
Advance = Literal["retrieve"] | float

_STATUS_EVENTS = {
    "queued": "Files validated, moving job to queued state",
    "running": "Fine-tuning job started",
    "pausing": "Pausing fine-tuning job",
    "paused": "Fine-tuning job paused",
    "cancelled": "Fine-tuning job cancelled",
}
_DEFAULTS = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 2.0, "beta": 0.1}
_LIMITS: dict[str, tuple[float, float]] = {
    "n_epochs": (1, 50),
    "batch_size": (1, 256),
    "learning_rate_multiplier": (1e-9, 1e9),
    "beta": (1e-9, 2.0),
}


@dataclass
class _Job:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    metadata: dict[str, Any] | None
    integrations: list[Any]
    hyperparameters: dict[str, Any]
    method: dict[str, Any]
    created_at: int
    base_time: float
    script: tuple[JobStep, ...]
    training: TrainingFileFacts
    validation: TrainingFileFacts | None
    status: str = "validating_files"
    pos: int = 0
    held: bool = False
    finished_at: int | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error: JobError | None = None
    result_files: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": "org-fake",
            "result_files": list(self.result_files),
            "status": self.status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "hyperparameters": {
                k: self.hyperparameters[k]
                for k in ("n_epochs", "batch_size", "learning_rate_multiplier")
            },
            "trained_tokens": self.trained_tokens,
            "error": None if self.error is None else self.error.to_api(),
            "integrations": list(self.integrations),
            "seed": self.seed,
            "estimated_finish": None,
            "method": self.method,
            "metadata": self.metadata,
            "user_provided_suffix": self.suffix,
        }


def _resolve_method(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    method = body.get("method")
    if method is not None and not isinstance(method, Mapping):
        raise ApiError(400, "Invalid 'method': expected an object.", param="method")
    kind = str((method or {}).get("type", "supervised"))
    if kind not in ("supervised", "dpo", "reinforcement"):
        raise ApiError(400, f"Invalid method type {kind!r}.", param="method.type")
    source = ((method or {}).get(kind) or {}).get("hyperparameters")
    if source is None:
        source = body.get("hyperparameters") or {}
    if not isinstance(source, Mapping):
        raise ApiError(
            400, "Invalid 'hyperparameters': expected an object.", param="hyperparameters"
        )
    names = ["n_epochs", "batch_size", "learning_rate_multiplier"] + (
        ["beta"] if kind == "dpo" else []
    )
    resolved: dict[str, Any] = {}
    for name in names:
        value = source.get(name, "auto")
        if value == "auto" or value is None:
            value = _DEFAULTS[name]
        low, high = _LIMITS[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not low <= value <= high
        ):
            raise ApiError(
                400, f"Invalid hyperparameter {name}={value!r}.", param=f"hyperparameters.{name}"
            )
        if name in ("n_epochs", "batch_size") and not float(value).is_integer():
            raise ApiError(
                400,
                f"Invalid hyperparameter {name}={value!r}: expected an integer.",
                param=f"hyperparameters.{name}",
            )
        resolved[name] = int(value) if name in ("n_epochs", "batch_size") else float(value)
    return {"type": kind, kind: {"hyperparameters": dict(resolved)}}, resolved


class JobService:
    """``/fine_tuning/jobs``: jobs move through a script on each retrieve (or with time)."""

    def __init__(
        self,
        store: Store,
        files: FileService,
        *,
        script: JobScript | None,
        advance: Advance,
        validate_files: bool,
        min_examples: int,
    ) -> None:
        self._store = store
        self._files = files
        self._jobs: dict[str, _Job] = {}
        self.script = script
        self.advance_mode: Advance = advance
        self.validate_files = validate_files
        self.min_examples = min_examples

    # -- configuration ------------------------------------------------------------------

    @property
    def script(self) -> JobScript:
        """The script new jobs follow (a sequence of steps, or a function of the request)."""
        return self._script

    @script.setter
    def script(self, value: JobScript | None) -> None:
        if value is None:
            value = DEFAULT_JOB_SCRIPT
        if not callable(value):
            normalise_script(value)  # fail early on a bad script
        self._script: JobScript = value

    def _script_for(self, body: Mapping[str, Any]) -> tuple[JobStep, ...]:
        script = self._script
        steps = script(body) if callable(script) else script
        return normalise_script(steps)

    # -- lookups ------------------------------------------------------------------------

    def _job(self, job_id: str) -> _Job:
        with self._store.lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise not_found("fine-tuning job", job_id, param="fine_tuning_job_id")
        return job

    def fine_tuned_models(self) -> set[str]:
        """Ids of the models produced by succeeded jobs (and their checkpoints)."""
        with self._store.lock:
            out = {j.fine_tuned_model for j in self._jobs.values() if j.fine_tuned_model}
            out |= {
                c["fine_tuned_model_checkpoint"] for j in self._jobs.values() for c in j.checkpoints
            }
        return {m for m in out if m}

    def clear(self) -> None:
        """Forget every job."""
        with self._store.lock:
            self._jobs.clear()

    # -- the lifecycle ------------------------------------------------------------------

    def _event(
        self,
        job: _Job,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: Mapping[str, Any] | None = None,
    ) -> None:
        job.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": self._store.ids.alnum("ftevent-", 24),
                "created_at": self._store.now(),
                "level": level,
                "message": message,
                "data": dict(data or {}),
                "type": type,
            }
        )

    def _validation_error(self, job: _Job) -> JobError | None:
        if not self.validate_files:
            return None
        if job.training.problem is not None:
            return JobError(
                "invalid_training_file",
                f"The job failed due to an invalid training file: {job.training.problem}.",
                "training_file",
            )
        if job.validation is not None and job.validation.problem is not None:
            return JobError(
                "invalid_validation_file",
                f"The job failed due to an invalid validation file: {job.validation.problem}.",
                "validation_file",
            )
        return None

    def _enter(self, job: _Job, step: JobStep) -> None:
        leaving_validation = job.status == "validating_files" and step.status not in (
            "validating_files",
            "failed",
            "cancelled",
        )
        if leaving_validation:
            problem = self._validation_error(job)
            if problem is not None:
                self._fail(job, problem)
                return
        job.status = step.status
        if step.status == "failed":
            self._fail(
                job,
                step.error
                or JobError(
                    "server_error", "The fine-tuning job failed (scripted by FakeOpenAI).", None
                ),
                extra=step.events,
            )
            return
        if step.status in _STATUS_EVENTS:
            self._event(job, _STATUS_EVENTS[step.status])
        if step.status == "succeeded":
            self._succeed(job)
        elif step.status == "cancelled":
            job.finished_at = self._store.now()
        self._extra_events(job, step.events)

    def _extra_events(self, job: _Job, events: Sequence[JobEvent]) -> None:
        for event in events:
            self._event(job, event.message, level=event.level, type=event.type, data=event.data)

    def _fail(self, job: _Job, error: JobError, extra: Sequence[JobEvent] = ()) -> None:
        job.status = "failed"
        job.error = error
        job.finished_at = self._store.now()
        self._extra_events(job, extra)
        self._event(job, error.message, level="error")

    def _succeed(self, job: _Job) -> None:
        hp = job.hyperparameters
        examples = max(1, job.training.examples)
        steps_per_epoch = math.ceil(examples / hp["batch_size"])
        total = min(2000, hp["n_epochs"] * steps_per_epoch)
        csv_text, rows = metrics_csv(
            seed=job.id, total_steps=total, has_validation=job.validation_file is not None
        )
        result = self._files.add(
            "step_metrics.csv", "fine-tune-results", base64.b64encode(csv_text.encode())
        )
        suffix = job.suffix or ""
        model = f"ft:{job.model}:fake:{suffix}:{job.id[-8:]}"
        for row in rows[:: max(1, total // 10)]:
            step = int(row["step"])
            self._event(
                job,
                f"Step {step}/{total}: training loss={row['train_loss']:.2f}",
                type="metrics",
                data={
                    "step": step,
                    "train_loss": row["train_loss"],
                    "train_mean_token_accuracy": row["train_accuracy"],
                    "total_steps": total,
                },
            )
        epochs = range(max(1, hp["n_epochs"] - 2), hp["n_epochs"] + 1)
        for epoch in epochs:
            step = min(total, epoch * steps_per_epoch)
            row = rows[step - 1]
            final = epoch == hp["n_epochs"]
            name = model if final else f"{model}:ckpt-step-{step}"
            metrics = {
                "step": float(step),
                "train_loss": row["train_loss"],
                "train_mean_token_accuracy": row["train_accuracy"],
            }
            if "valid_loss" in row:
                metrics["valid_loss"] = row["valid_loss"]
                metrics["valid_mean_token_accuracy"] = row["valid_mean_token_accuracy"]
            if "full_valid_loss" in row:
                metrics["full_valid_loss"] = row["full_valid_loss"]
                metrics["full_valid_mean_token_accuracy"] = row["full_valid_mean_token_accuracy"]
            job.checkpoints.append(
                {
                    "object": "fine_tuning.job.checkpoint",
                    "id": self._store.ids.alnum("ftckpt_", 24),
                    "created_at": self._store.now(),
                    "fine_tuned_model_checkpoint": name,
                    "fine_tuning_job_id": job.id,
                    "metrics": metrics,
                    "step_number": step,
                }
            )
            if not final:
                self._event(job, f"Checkpoint created at step {step}")
        job.fine_tuned_model = model
        job.trained_tokens = job.training.tokens * hp["n_epochs"]
        job.result_files = [result.id]
        job.finished_at = self._store.now()
        self._event(job, f"New fine-tuned model created: {model}")
        self._event(job, "The job has successfully completed")

    def _step(self, job: _Job) -> bool:
        if job.status in TERMINAL_JOB_STATUSES or job.held or job.pos >= len(job.script) - 1:
            return False
        job.pos += 1
        self._enter(job, job.script[job.pos])
        return True

    def _sync_clock(self, job: _Job) -> None:
        mode = self.advance_mode
        if isinstance(mode, str):
            return
        target = int((self._store.clock() - job.base_time) / float(mode))
        while job.pos < target and self._step(job):
            pass

    # -- endpoints ----------------------------------------------------------------------

    def _facts(self, file_id: str, param: str, min_examples: int) -> TrainingFileFacts:
        stored = self._files.find(file_id)
        if stored is None:
            raise ApiError(400, f"invalid {param}: {file_id}", param=param, code="invalid_file_id")
        if stored.purpose != "fine-tune":
            raise ApiError(
                400,
                f"File {file_id} has purpose {stored.purpose!r}; {param} must be uploaded with "
                "purpose 'fine-tune'.",
                param=param,
            )
        return analyse_training_file(stored.content, min_examples=min_examples)

    def create(self, body: Any) -> dict[str, Any]:
        """``POST /fine_tuning/jobs``."""
        if not isinstance(body, Mapping):
            raise ApiError(400, "Expected a JSON object body.")
        for name in ("model", "training_file"):
            if not isinstance(body.get(name), str) or not body.get(name):
                raise ApiError(
                    400,
                    f"Missing required parameter: '{name}'.",
                    param=name,
                    code="missing_required_parameter",
                )
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or not 1 <= len(suffix) <= 64):
            raise ApiError(400, "Invalid 'suffix': a string of 1 to 64 characters.", param="suffix")
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ApiError(400, "Invalid 'metadata': expected an object.", param="metadata")
        method, hyperparameters = _resolve_method(body)
        training = self._facts(body["training_file"], "training_file", self.min_examples)
        validation_id = body.get("validation_file")
        validation = self._facts(validation_id, "validation_file", 1) if validation_id else None
        script = self._script_for(body)
        seed = body.get("seed")
        with self._store.lock:
            job_id = self._store.ids.alnum("ftjob-", 24)
            job = _Job(
                id=job_id,
                model=body["model"],
                training_file=body["training_file"],
                validation_file=validation_id or None,
                suffix=suffix,
                seed=seed if isinstance(seed, int) else zlib.crc32(job_id.encode()) & 0x7FFFFFFF,
                metadata=dict(metadata) if metadata is not None else None,
                integrations=list(body.get("integrations") or []),
                hyperparameters=hyperparameters,
                method=method,
                created_at=self._store.now(),
                base_time=self._store.clock(),
                script=script,
                training=training,
                validation=validation,
            )
            self._event(job, f"Created fine-tuning job: {job_id}")
            self._event(
                job,
                f"Validating training file: {job.training_file}"
                + (f" and validation file: {job.validation_file}" if job.validation_file else ""),
            )
            job.status = "validating_files"
            first = script[0]
            if first.status != "validating_files" or first.events:
                self._enter(job, first)
            self._jobs[job_id] = job
            return job.to_api()

    def retrieve(self, job_id: str) -> dict[str, Any]:
        """``GET /fine_tuning/jobs/{id}``; moves the job one step in ``"retrieve"`` mode."""
        job = self._job(job_id)
        with self._store.lock:
            if self.advance_mode == "retrieve":
                self._step(job)
            else:
                self._sync_clock(job)
            return job.to_api()

    def list(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /fine_tuning/jobs`` (newest first; ``after``, ``limit``, ``metadata[k]=v``)."""
        wanted = {
            k[len("metadata[") : -1]: v
            for k, v in query.items()
            if k.startswith("metadata[") and k.endswith("]")
        }
        with self._store.lock:
            jobs = list(self._jobs.values())
            for job in jobs:
                self._sync_clock(job)
            items = [
                j.to_api()
                for j in reversed(jobs)
                if all((j.metadata or {}).get(k) == v for k, v in wanted.items())
            ]
        return paginate(items, query, default_limit=20, max_limit=100)

    def list_events(self, job_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /fine_tuning/jobs/{id}/events`` (newest first)."""
        job = self._job(job_id)
        with self._store.lock:
            self._sync_clock(job)
            events = list(reversed(job.events))
        return paginate(events, query, default_limit=20, max_limit=1000)

    def list_checkpoints(self, job_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /fine_tuning/jobs/{id}/checkpoints`` (newest first; empty until success)."""
        job = self._job(job_id)
        with self._store.lock:
            self._sync_clock(job)
            checkpoints = list(reversed(job.checkpoints))
        return paginate(checkpoints, query, default_limit=10, max_limit=100, first_last_ids=True)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """``POST /fine_tuning/jobs/{id}/cancel``: a 400 for finished jobs."""
        job = self._job(job_id)
        with self._store.lock:
            self._sync_clock(job)
            if job.status in TERMINAL_JOB_STATUSES:
                raise ApiError(
                    400, f"Job {job_id} has already {job.status}; it cannot be cancelled."
                )
            job.status = "cancelled"
            job.finished_at = self._store.now()
            self._event(job, _STATUS_EVENTS["cancelled"])
            return job.to_api()

    def pause(self, job_id: str) -> dict[str, Any]:
        """``POST /fine_tuning/jobs/{id}/pause``: only a running job can be paused."""
        job = self._job(job_id)
        with self._store.lock:
            self._sync_clock(job)
            if job.status != "running":
                raise ApiError(
                    400, f"Job {job_id} is {job.status}; only running jobs can be paused."
                )
            job.status = "paused"
            job.held = True
            self._event(job, _STATUS_EVENTS["paused"])
            return job.to_api()

    def resume(self, job_id: str) -> dict[str, Any]:
        """``POST /fine_tuning/jobs/{id}/resume``: continue the script of a paused job."""
        job = self._job(job_id)
        with self._store.lock:
            if job.status != "paused":
                raise ApiError(
                    400, f"Job {job_id} is {job.status}; only paused jobs can be resumed."
                )
            job.status = "running"
            job.held = False
            if not isinstance(self.advance_mode, str):
                job.base_time = self._store.clock() - job.pos * float(self.advance_mode)
            self._event(job, "Fine-tuning job resumed")
            return job.to_api()

    # -- test-side controls ---------------------------------------------------------------

    def advance(self, job_id: str, steps: int = 1) -> str:
        """Move a job up to ``steps`` steps along its script; return its status."""
        job = self._job(job_id)
        with self._store.lock:
            for _ in range(steps):
                if not self._step(job):
                    break
            return job.status

    def set_script(self, job_id: str, steps: Sequence[StepLike]) -> None:
        """Give an existing job a new script; it continues from its current position."""
        script = normalise_script(steps)
        job = self._job(job_id)
        with self._store.lock:
            if job.status in TERMINAL_JOB_STATUSES:
                raise ConfigError(f"job {job_id} has already {job.status}; its script is over")
            job.script = (
                (JobStep(job.status), *script) if script[0].status != job.status else script
            )
            job.pos = 0

    def status_of(self, job_id: str) -> str:
        """The job's status (without moving it)."""
        return self._job(job_id).status
