"""The ``openai`` fine-tuner: OpenAI's fine-tuning API (and compatible services).

:class:`OpenAIFineTuner` uploads the training (and validation) file, creates a supervised
fine-tuning job, waits for it while reporting status changes and events, and collects the
result metrics, checkpoints and moderation skips. Everything it learns is written to the run
directory's ``job.json`` the moment it is known, so that:

* running the same step again **re-attaches** to the job it already created (same files, same
  settings) instead of starting, and paying for, a second one;
* a file already uploaded (same sha256) is not uploaded again;
* an interrupted multipart upload continues from its last part;
* a crash between sending the create request and saving its answer is recovered by looking
  the job up by a fingerprint stored in its metadata.

>>> tuner = OpenAIFineTuner("runs/covers/finetune")  # doctest: +SKIP
>>> result = tuner.fine_tune("runs/covers/data/train.jsonl",
...                          "runs/covers/data/validation.jsonl",
...                          config=FineTuneConfig(max_cost_usd=20, suffix="covers"))
... # doctest: +SKIP
>>> result.job.fine_tuned_model  # doctest: +SKIP
'ft:gpt-4o-2024-08-06:acme:covers:AbC123'

The API key comes from ``OPENAI_API_KEY`` (or ``api_key=``, or the ``client`` you pass); it
is never written to the run directory, logs, reprs or error messages.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai

from vqaft.errors import ConfigError, FineTuneJobError
from vqaft.finetune._api import api_errors, is_transient, redact
from vqaft.finetune.base import (
    BaseFineTuner,
    Checkpoint,
    FineTuneConfig,
    FineTuneJob,
    FineTuneProgress,
    FineTuneResult,
    JobEvent,
    JobStatus,
    LoggingProgress,
    ModerationReport,
    PathArg,
    register_finetuner,
)
from vqaft.finetune.metrics import ResultMetrics
from vqaft.finetune.state import (
    STATE_FILE,
    EstimateRecord,
    JobState,
    PreviousJob,
    check_reattach,
    file_digest,
    load_state,
    save_state,
)
from vqaft.finetune.upload import (
    FILES_API_LIMIT,
    PART_SIZE,
    check_training_file,
    ensure_uploaded,
)
from vqaft.messages.estimate import MODEL_PRICES, CostEstimate, estimate

__all__ = ["FINGERPRINT_KEY", "OpenAIFineTuner"]

FINGERPRINT_KEY = "vqaft_fingerprint"
"""Job metadata key holding the request fingerprint (finds a job whose id was not saved)."""

EVENTS_FILE = "events.jsonl"
RESULT_FILE = "result.json"
METRICS_FILE = "metrics.csv"
_EVENT_PAGE = 100
_MAX_EVENT_PAGES = 200
_CREATE_ATTEMPTS = 4


def _make_client(
    api_key: str | None, base_url: str | None, timeout: float, max_retries: int
) -> openai.OpenAI:
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
    if not key:
        raise ConfigError(
            "no OpenAI API key",
            hint="set the OPENAI_API_KEY environment variable, or pass api_key= or client=",
        )
    return openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)


def _price_model(model: str) -> str:
    """The price-table model of ``model`` (a fine-tuned ``ft:<base>:...`` model trains at its
    base model's price)."""
    if model.startswith("ft:"):
        base = model.split(":")[1]
        if base in MODEL_PRICES:
            return base
    return model


@register_finetuner("openai")
class OpenAIFineTuner(BaseFineTuner):
    """Fine-tune through OpenAI's API (or an OpenAI-compatible one), idempotently.

    Args:
        run_dir: the folder for ``job.json`` (state), ``events.jsonl``, ``metrics.csv`` and
            ``result.json``. Without one, nothing is remembered between runs.
        client: an ``openai.OpenAI`` client to use (its key stays inside it).
        api_key: used when no ``client`` is given (default: ``OPENAI_API_KEY``).
        base_url: used when no ``client`` is given (default: ``OPENAI_BASE_URL`` or OpenAI).
        poll_interval: seconds between status checks while waiting.
        progress: receives status changes, events, upload progress and notes (default:
            :class:`~vqaft.finetune.base.LoggingProgress`).
        files_api_limit: files up to this many bytes go through ``files.create``; larger
            ones through the Uploads API (OpenAI: 512 MB).
        part_size: bytes per Uploads API part (OpenAI: at most 64 MB).
        max_transient_errors: consecutive network errors / 5xx / 429 tolerated while
            waiting before giving up (the job keeps running; waiting again re-attaches).
        request_timeout, max_retries: for the client built here.
        sleep: the function used to wait (tests may pass one that does not sleep).
    """

    name = "openai"

    def __init__(
        self,
        run_dir: PathArg | None = None,
        *,
        client: openai.OpenAI | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        poll_interval: float = 10.0,
        progress: FineTuneProgress | None = None,
        files_api_limit: int = FILES_API_LIMIT,
        part_size: int = PART_SIZE,
        max_transient_errors: int = 30,
        request_timeout: float = 600.0,
        max_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if poll_interval < 0:
            raise ConfigError(f"poll_interval must be >= 0 seconds, got {poll_interval}")
        self._client = client or _make_client(api_key, base_url, request_timeout, max_retries)
        self._secret: str | None = getattr(self._client, "api_key", None) or None
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.poll_interval = float(poll_interval)
        self.progress: FineTuneProgress = progress or LoggingProgress()
        self.files_api_limit = files_api_limit
        self.part_size = part_size
        self.max_transient_errors = max_transient_errors
        self._sleep = sleep
        self._state = load_state(self.run_dir) if self.run_dir is not None else JobState()

    def __repr__(self) -> str:
        run_dir = None if self.run_dir is None else str(self.run_dir)
        return f"OpenAIFineTuner(run_dir={run_dir!r}, base_url={self.base_url!r})"

    # -- small helpers --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API base URL the client talks to."""
        return str(getattr(self._client, "base_url", ""))

    @property
    def state(self) -> JobState:
        """The run's state (what ``job.json`` holds)."""
        return self._state

    def _save(self) -> None:
        if self.run_dir is not None:
            save_state(self.run_dir, self._state)

    def _errors(self, action: str, job_id: str | None = None) -> Any:
        return api_errors(action, secret=self._secret, job_id=job_id)

    def _job_id(self, job_id: str | None) -> str:
        if job_id:
            return job_id
        if self._state.job_id:
            return self._state.job_id
        where = f" in {self.run_dir / STATE_FILE}" if self.run_dir is not None else ""
        raise ConfigError(
            f"no fine-tuning job id given and none recorded{where}",
            hint="pass a job id (see `vqaft jobs list`) or the run directory of a started job",
        )

    def _record(self, job: FineTuneJob) -> None:
        """Remember the latest view of the run's own job."""
        state = self._state
        if state.job_id != job.id:
            return
        changed = (
            state.status != job.status.value
            or state.fine_tuned_model != job.fine_tuned_model
            or (job.result_files[0] if job.result_files else None) != state.result_file
        )
        if not changed:
            return
        state.status = job.status.value
        state.fine_tuned_model = job.fine_tuned_model
        state.error = job.error.model_dump() if job.error is not None else None
        state.result_file = job.result_files[0] if job.result_files else None
        self._save()

    # -- the job lifecycle ------------------------------------------------------------------

    def start(
        self,
        train: PathArg,
        validation: PathArg | None = None,
        *,
        config: FineTuneConfig | None = None,
        resume: str | None = None,
        new_job: bool = False,
    ) -> FineTuneJob:
        """Upload the files and create the job, or re-attach to the one already created.

        Args:
            train: the training JSONL file.
            validation: an optional validation JSONL file.
            config: model, hyperparameters, suffix, seed, metadata, integrations and the
                cost guard (default: :class:`~vqaft.finetune.base.FineTuneConfig()`).
            resume: attach to this existing job id instead of creating one.
            new_job: create a new job even though the run directory holds one (e.g. after
                it failed); the old one is kept in ``previous_jobs``.

        Raises:
            ConfigError: missing files; the estimated cost exceeds ``max_cost_usd``; the run
                directory holds a job for other files or settings; bad credentials.
            FineTuneJobError: the API refused an upload or the job.
        """
        config = config or FineTuneConfig()
        train_path = Path(train)
        val_path = Path(validation) if validation is not None else None
        check_training_file(train_path, "train")
        if val_path is not None:
            check_training_file(val_path, "validation")
        train_digest = file_digest(train_path)
        val_digest = file_digest(val_path) if val_path is not None else None
        fingerprint = config.fingerprint(train_digest[0], val_digest[0] if val_digest else None)
        state = self._state

        if resume:
            return self._resume(resume, fingerprint)
        if check_reattach(
            state.job_id,
            state.status,
            state.fingerprint,
            fingerprint,
            new_job=new_job,
            run_dir=self.run_dir,
            hint="use another --run-dir, attach to it with --resume "
            f"{state.job_id}, or pass --new-job to start another (paid) job",
        ):
            self.progress.message(
                f"re-attaching to job {state.job_id}, created earlier for these files and "
                "settings (no new job is started)"
            )
            return self.status(state.job_id)
        if state.job_id and new_job:
            self._retire_current()
        if state.creating_since is not None and state.fingerprint == fingerprint:
            found = self._find_created(fingerprint)
            if found is not None:
                self.progress.message(
                    f"found job {found.id}, created by an earlier run that stopped before "
                    "saving its id; re-attaching"
                )
                return self._adopt(found, fingerprint)

        estimated = self._check_cost(train_path, config)
        train_file = ensure_uploaded(
            self._client,
            train_path,
            "train",
            state,
            save=self._save,
            progress=self.progress,
            secret=self._secret,
            files_api_limit=self.files_api_limit,
            part_size=self.part_size,
            digest=train_digest,
        )
        val_id: str | None = None
        if val_path is not None:
            val_id = ensure_uploaded(
                self._client,
                val_path,
                "validation",
                state,
                save=self._save,
                progress=self.progress,
                secret=self._secret,
                files_api_limit=self.files_api_limit,
                part_size=self.part_size,
                digest=val_digest,
            ).file_id
        else:
            state.files.pop("validation", None)
        request = self._request(config, train_file.file_id, val_id, fingerprint)
        state.fingerprint = fingerprint
        state.request = request
        state.estimate = estimated
        state.creating_since = time.time()
        self._save()
        job = self._create(request, fingerprint)
        return self._adopt(job, fingerprint)

    def _retire_current(self) -> None:
        state = self._state
        if state.job_id is None:
            return
        state.previous_jobs.append(
            PreviousJob(
                job_id=state.job_id,
                status=state.status,
                fingerprint=state.fingerprint,
                replaced_at=time.time(),
            )
        )
        state.job_id = state.status = state.fine_tuned_model = state.result_file = None
        state.error = None
        state.fingerprint = None
        state.creating_since = None
        self._save()

    def _resume(self, job_id: str, fingerprint: str) -> FineTuneJob:
        state = self._state
        if state.job_id == job_id:
            self.progress.message(f"re-attaching to job {job_id}")
            return self.status(job_id)
        with self._errors(f"cannot find job {job_id}", job_id):
            job = FineTuneJob.from_api(self._client.fine_tuning.jobs.retrieve(job_id))
        if state.job_id:
            self._retire_current()
        train = state.files.get("train")
        if train is not None and job.training_file and train.file_id != job.training_file:
            self.progress.message(
                f"note: job {job_id} trains on {job.training_file}, not on the file this run "
                f"directory uploaded ({train.file_id})"
            )
        self.progress.message(f"resuming job {job_id}")
        return self._adopt(job, fingerprint)

    def _adopt(self, job: FineTuneJob, fingerprint: str | None) -> FineTuneJob:
        state = self._state
        state.job_id = job.id
        state.fingerprint = fingerprint
        state.creating_since = None
        state.status = None  # let _record write the full view
        self._record(job)
        self._save()
        self.progress.status(job, None)
        return job

    def _check_cost(self, train: Path, config: FineTuneConfig) -> EstimateRecord | None:
        price_model = _price_model(config.model)
        if price_model not in MODEL_PRICES:
            if config.max_cost_usd is not None:
                raise ConfigError(
                    f"cannot enforce max_cost_usd={config.max_cost_usd:g}: no training price is "
                    f"known for model {config.model!r}",
                    hint="known models: " + ", ".join(sorted(MODEL_PRICES)) + "; or drop the "
                    "cost limit",
                )
            self.progress.message(f"no training price known for {config.model}; cost not estimated")
            return None
        est: CostEstimate = estimate(
            train, epochs=config.hyperparameters.n_epochs, model=price_model
        )
        record = EstimateRecord(
            model=config.model,
            epochs=est.epochs,
            examples=est.examples,
            trained_tokens=est.trained_tokens,
            cost_usd=round(est.cost_usd, 4),
            max_cost_usd=config.max_cost_usd,
        )
        self.progress.message(
            f"estimated training cost ${est.cost_usd:,.2f} ({est.trained_tokens:,} trained tokens,"
            f" {est.examples:,} examples x {est.epochs} epochs)"
        )
        if config.max_cost_usd is not None and est.cost_usd > config.max_cost_usd:
            raise ConfigError(
                f"the estimated training cost ${est.cost_usd:,.2f} exceeds max_cost_usd "
                f"${config.max_cost_usd:,.2f}; no job was created",
                file=str(train),
                hint="raise --max-cost-usd, train on fewer examples or epochs, or use "
                "detail='low' images",
            )
        return record

    @staticmethod
    def _request(
        config: FineTuneConfig, train_id: str, val_id: str | None, fingerprint: str
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": config.model,
            "training_file": train_id,
            "method": {
                "type": "supervised",
                "supervised": {"hyperparameters": config.hyperparameters.to_api()},
            },
        }
        if val_id is not None:
            request["validation_file"] = val_id
        if config.suffix is not None:
            request["suffix"] = config.suffix
        if config.seed is not None:
            request["seed"] = config.seed
        metadata = dict(config.metadata or {})
        if len(metadata) < 16:
            metadata[FINGERPRINT_KEY] = fingerprint
        request["metadata"] = metadata
        if config.integrations:
            request["integrations"] = list(config.integrations)
        return request

    def _find_created(self, fingerprint: str) -> FineTuneJob | None:
        """The newest job whose metadata carries ``fingerprint`` (first page only)."""
        with self._errors("cannot list fine-tuning jobs"):
            page = self._client.fine_tuning.jobs.list(
                limit=20, metadata={FINGERPRINT_KEY: fingerprint}
            )
        for item in page.data:
            job = FineTuneJob.from_api(item)
            if (job.metadata or {}).get(FINGERPRINT_KEY) == fingerprint:
                return job
        return None

    def _create(self, request: dict[str, Any], fingerprint: str) -> FineTuneJob:
        """Send the create request; after a lost answer, look the job up before retrying,
        so that a retry never starts a second job."""
        creator = self._client.with_options(max_retries=0)
        delay = max(1.0, self.poll_interval)
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                return FineTuneJob.from_api(creator.fine_tuning.jobs.create(**request))
            except openai.OpenAIError as exc:
                if not is_transient(exc) or attempt == _CREATE_ATTEMPTS:
                    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
                        self._state.creating_since = None  # refused: surely not created
                        self._save()
                    with self._errors("cannot create the fine-tuning job"):
                        raise exc from None
                self.progress.message(
                    f"creating the job failed ({type(exc).__name__}); checking whether it "
                    "was created anyway"
                )
            self._sleep(min(60.0, delay * attempt) if self.poll_interval else 0.0)
            try:
                found = self._find_created(fingerprint)
            except FineTuneJobError:
                found = None
            if found is not None:
                return found
        raise AssertionError("unreachable")  # pragma: no cover

    def status(self, job_id: str | None = None) -> FineTuneJob:
        """The job as the service reports it now (default: the run's job)."""
        job_id = self._job_id(job_id)
        with self._errors(f"cannot retrieve job {job_id}", job_id):
            job = FineTuneJob.from_api(self._client.fine_tuning.jobs.retrieve(job_id))
        self._record(job)
        return job

    def cancel(self, job_id: str | None = None) -> FineTuneJob:
        """Ask the service to cancel the job (default: the run's job)."""
        job_id = self._job_id(job_id)
        with self._errors(f"cannot cancel job {job_id}", job_id):
            job = FineTuneJob.from_api(self._client.fine_tuning.jobs.cancel(job_id))
        self._record(job)
        self.progress.status(job, None)
        return job

    def list_jobs(self, limit: int = 20) -> list[FineTuneJob]:
        """The newest ``limit`` jobs of the organisation (one page, newest first)."""
        with self._errors("cannot list fine-tuning jobs"):
            page = self._client.fine_tuning.jobs.list(limit=limit)
        return [FineTuneJob.from_api(item) for item in page.data]

    def events(self, job_id: str | None = None, limit: int = 20) -> list[JobEvent]:
        """The newest ``limit`` events of a job (one page, newest first)."""
        job_id = self._job_id(job_id)
        with self._errors(f"cannot list the events of job {job_id}", job_id):
            page = self._client.fine_tuning.jobs.list_events(job_id, limit=limit)
        return [JobEvent.from_api(item) for item in page.data]

    def checkpoints(self, job_id: str | None = None, limit: int = 10) -> list[Checkpoint]:
        """The job's checkpoints (one page, newest first; OpenAI keeps the last three)."""
        job_id = self._job_id(job_id)
        with self._errors(f"cannot list the checkpoints of job {job_id}", job_id):
            page = self._client.fine_tuning.jobs.checkpoints.list(job_id, limit=limit)
        return [Checkpoint.from_api(item) for item in page.data]

    def result_metrics(self, job: FineTuneJob) -> ResultMetrics | None:
        """Download and decode the job's result file (None if it has none yet)."""
        if not job.result_files:
            return None
        file_id = job.result_files[0]
        with self._errors(f"cannot download result file {file_id}", job.id):
            content = self._client.files.content(file_id).read()
        return ResultMetrics.parse(content, file_id=file_id)

    # -- waiting ----------------------------------------------------------------------------

    def _events_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / EVENTS_FILE

    def _known_events(self, job_id: str) -> list[JobEvent]:
        path = self._events_path()
        if path is None or not path.is_file():
            return []
        known: list[JobEvent] = []
        with path.open(encoding="utf-8") as handle:
            for raw in handle:
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError:
                    continue  # a torn last line from a crash; its event is fetched again
                if isinstance(line, dict) and line.get("job_id") == job_id:
                    known.append(JobEvent.model_validate(line.get("event") or {}))
        return known

    def _fetch_new_events(self, job_id: str, seen: set[str]) -> list[JobEvent]:
        """Events not in ``seen``, oldest first (pages newest-first until a seen one)."""
        fresh: list[JobEvent] = []
        after: str | None = None
        for _ in range(_MAX_EVENT_PAGES):
            if after is None:
                page = self._client.fine_tuning.jobs.list_events(job_id, limit=_EVENT_PAGE)
            else:
                page = self._client.fine_tuning.jobs.list_events(
                    job_id, limit=_EVENT_PAGE, after=after
                )
            items = [JobEvent.from_api(item) for item in page.data]
            hit_seen = False
            for event in items:
                if event.id in seen:
                    hit_seen = True
                    break
                fresh.append(event)
            if hit_seen or not items or not page.has_more:
                break
            after = items[-1].id
        fresh.reverse()
        unique: list[JobEvent] = []
        for event in fresh:
            if event.id not in seen:
                seen.add(event.id)
                unique.append(event)
        path = self._events_path()
        if unique and path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                for event in unique:
                    line = {"job_id": job_id, "event": event.model_dump(mode="json")}
                    handle.write(json.dumps(line) + "\n")
        return unique

    def wait(self, job_id: str | None = None, *, timeout: float | None = None) -> FineTuneJob:
        """Wait until the job finishes, reporting status changes and new events.

        Waiting can be interrupted and started again at any time: it re-attaches to the
        job, and events already reported (kept in ``events.jsonl``) are not reported again.

        Returns:
            the succeeded job.

        Raises:
            FineTuneJobError: the job failed (with the API's error code and message), was
                cancelled, or ``timeout`` seconds passed (the job keeps running), or the API
                stayed unreachable for ``max_transient_errors`` polls in a row.
        """
        job_id = self._job_id(job_id)
        started = time.monotonic()
        seen = {event.id for event in self._known_events(job_id)}
        last: JobStatus | None = None
        failures = 0
        while True:
            try:
                job = FineTuneJob.from_api(self._client.fine_tuning.jobs.retrieve(job_id))
                new_events = self._fetch_new_events(job_id, seen)
            except openai.OpenAIError as exc:
                if not is_transient(exc):
                    with self._errors(f"cannot follow job {job_id}", job_id):
                        raise exc from None
                failures += 1
                if failures > self.max_transient_errors:
                    raise FineTuneJobError(
                        f"lost contact with the API while waiting for job {job_id} "
                        f"({failures} failures in a row; last: {type(exc).__name__}: "
                        f"{redact(str(exc), self._secret)})",
                        job_id=job_id,
                        code="connection_error",
                        hint="the job keeps running on the service; run again to re-attach",
                    ) from exc
                self._sleep(min(60.0, self.poll_interval * 2 ** min(failures, 6)))
                continue
            failures = 0
            for event in new_events:
                self.progress.event(event)
            if job.status is not last:
                self.progress.status(job, last)
                last = job.status
            self._record(job)
            if job.is_terminal:
                return self._outcome(job)
            if timeout is not None and time.monotonic() - started > timeout:
                raise FineTuneJobError(
                    f"job {job_id} is still {job.status.value} after waiting {timeout:g} s",
                    job_id=job_id,
                    code="timeout",
                    hint="the job keeps running on the service; run again to re-attach",
                )
            self._sleep(self.poll_interval)

    @staticmethod
    def _outcome(job: FineTuneJob) -> FineTuneJob:
        if job.status is JobStatus.FAILED:
            error = job.error
            code = error.code if error is not None else None
            message = (error.message if error is not None else None) or "no reason given"
            if code and code.startswith("invalid_") and code.endswith("_file"):
                hint = "fix the file (`vqaft validate` helps), then start again with --new-job"
            else:
                hint = f"see `vqaft jobs events {job.id}`; start again with --new-job"
            raise FineTuneJobError(
                f"fine-tuning job {job.id} failed: {message}", job_id=job.id, code=code, hint=hint
            )
        if job.status is JobStatus.CANCELLED:
            raise FineTuneJobError(
                f"fine-tuning job {job.id} was cancelled before it finished",
                job_id=job.id,
                code="cancelled",
                hint="start a new job with --new-job (or a new --run-dir)",
            )
        return job

    # -- results ------------------------------------------------------------------------------

    def all_events(self, job_id: str | None = None) -> list[JobEvent]:
        """Every event of the job, oldest first (from ``events.jsonl`` plus any new ones)."""
        job_id = self._job_id(job_id)
        known = self._known_events(job_id)
        seen = {event.id for event in known}
        with self._errors(f"cannot list the events of job {job_id}", job_id):
            fresh = self._fetch_new_events(job_id, seen)
        return known + fresh

    def moderation(self, job_id: str | None = None) -> ModerationReport:
        """Training examples skipped by content moderation, from the job's events."""
        return ModerationReport.from_events(self.all_events(job_id))

    def results(self, job: FineTuneJob | None = None) -> FineTuneResult:
        """Metrics table, checkpoints and moderation skips of a succeeded job; written to
        ``result.json`` and ``metrics.csv`` (decoded) in the run directory.

        Raises:
            FineTuneJobError: the job failed or was cancelled.
            ConfigError: the job has not finished yet.
        """
        job = job or self.status()
        self._outcome(job)
        if not job.is_terminal:
            raise ConfigError(
                f"job {job.id} is still {job.status.value}: no results yet",
                hint="wait for it (run the same command again without --no-wait)",
            )
        metrics = self.result_metrics(job)
        estimated = self._state.estimate.cost_usd if self._state.estimate else None
        result = FineTuneResult(
            job=job,
            metrics=metrics,
            checkpoints=self.checkpoints(job.id),
            moderation=self.moderation(job.id),
            estimated_cost_usd=estimated if self._state.job_id == job.id else None,
            run_dir=None if self.run_dir is None else str(self.run_dir),
        )
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / RESULT_FILE).write_text(
                result.model_dump_json(indent=2) + "\n", encoding="utf-8"
            )
            if metrics is not None:
                (self.run_dir / METRICS_FILE).write_text(metrics.to_csv(), encoding="utf-8")
        if result.moderation.skipped_examples or result.moderation.messages:
            self.progress.message(
                f"{result.moderation.skipped_examples} training examples were skipped by "
                "content moderation"
                + (f" (lines {result.moderation.lines})" if result.moderation.lines else "")
            )
        return result
