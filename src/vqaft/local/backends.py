"""The ``local`` fine-tuner and predictor: the local models behind vqaft's backend protocols.

Both register as ``local`` (decorators here, and entry points in the ``vqaft.finetuners`` and
``vqaft.predictors`` groups), so a run switches from OpenAI to the offline backend by name::

    from vqaft.finetune import load_finetuner
    from vqaft.predict import create_predictor, predict_file

    tuner = load_finetuner("local", run_dir="runs/x/finetune")
    result = tuner.fine_tune("runs/x/data/train.jsonl", "runs/x/data/validation.jsonl")
    model_id = result.job.fine_tuned_model                   # "local/ft-3f2a9c01b7de"

    for model in ("local/base", model_id):
        predict_file("runs/x/data/test.jsonl", create_predictor("local", model=model))

* :class:`LocalFineTuner` fits synchronously (OCR, then seconds of numpy) inside ``start``;
  ``job.json`` in the run directory records the inputs' fingerprint, so calling it again
  with the same files re-attaches to the finished model instead of fitting again. The model
  file goes to ``<run_dir>/model.json`` and to the models folder (:func:`default_models_dir`)
  under its id, where :class:`LocalPredictor` finds it by id.
* :class:`LocalPredictor` answers one request at a time (the runner calls it from worker
  threads); the OCR behind it is cached and spread over the cores by
  :class:`~vqaft.local.ocr.OcrService`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from vqaft.errors import ConfigError, FineTuneJobError, ImageError
from vqaft.finetune.base import (
    BaseFineTuner,
    FineTuneConfig,
    FineTuneJob,
    FineTuneResult,
    JobStatus,
    MetricsRow,
    ResultMetrics,
    register_finetuner,
)
from vqaft.finetune.state import (
    JobState,
    file_digest,
    fingerprint_of,
    load_state,
    reattaches,
    save_state,
)
from vqaft.local.model import BASE_ID, LocalModel
from vqaft.local.ocr import CACHE_DIR_ENV, OcrService, check_image
from vqaft.local.records import parse_record, read_chat_file
from vqaft.predict.base import (
    BasePredictor,
    Completion,
    PredictionRequest,
    RequestFailed,
    register_predictor,
)

__all__ = [
    "MODEL_FILE",
    "LocalFineTuner",
    "LocalPredictor",
    "default_models_dir",
    "model_path_for",
]

log = logging.getLogger("vqaft.local")

MODEL_FILE = "model.json"
"""The model file's name in a fine-tuning run directory."""

_BACKEND = "local"
_FIT_VERSION = "local-fit-1"
_FINGERPRINT_SEPARATORS = (", ", ": ")  # what job.json files already record was made with
PathArg = str | os.PathLike[str]


def default_models_dir() -> Path:
    """Where fitted local models are kept by id: ``$VQAFT_CACHE_DIR/local-models``, else
    ``$XDG_CACHE_HOME/vqaft/local-models``, else ``~/.cache/vqaft/local-models``."""
    folder = os.environ.get(CACHE_DIR_ENV)
    if folder:
        return Path(folder).expanduser() / "local-models"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "vqaft" / "local-models"


def model_path_for(model_id: str, models_dir: PathArg | None = None) -> Path:
    """The file a model id is kept in (``local/ft-abc`` -> ``<dir>/local-ft-abc.json``)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-")
    return Path(models_dir or default_models_dir()) / f"{slug}.json"


# -- fine-tuner ------------------------------------------------------------------------------


@register_finetuner("local")
class LocalFineTuner(BaseFineTuner):
    """Fit the local model on a training file; a :class:`~vqaft.finetune.FineTuner`.

    Args:
        run_dir: where ``job.json`` and ``model.json`` go (none: the model is only kept in
            the models folder, and nothing makes a second call re-attach).
        models_dir: the models folder (default :func:`default_models_dir`).
        cache_dir: the OCR cache folder (default: ``$VQAFT_CACHE_DIR/ocr``).
        workers: OCR workers (default: one per core).
        progress: show progress bars.

    ``config`` (a :class:`~vqaft.finetune.FineTuneConfig`) is accepted for the protocol; its
    settings concern hosted models and do not change a local fit.
    """

    def __init__(
        self,
        run_dir: PathArg | None = None,
        *,
        models_dir: PathArg | None = None,
        cache_dir: PathArg | None = None,
        workers: int | None = None,
        progress: bool = False,
    ) -> None:
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
        self.cache_dir = cache_dir
        self.workers = workers
        self.progress = progress
        self._job: FineTuneJob | None = None
        self._report: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"LocalFineTuner(run_dir={None if self.run_dir is None else str(self.run_dir)!r})"

    def _state(self) -> JobState:
        if self.run_dir is None:
            return JobState(backend=_BACKEND)
        state = load_state(self.run_dir)
        if state.job_id is not None and state.backend != _BACKEND:
            raise ConfigError(
                f"the run directory holds a {state.backend} fine-tuning job ({state.job_id})",
                file=str(self.run_dir),
                hint="use another run directory for the local backend",
            )
        return state

    def start(
        self,
        train: PathArg,
        validation: PathArg | None = None,
        *,
        config: FineTuneConfig | None = None,
        resume: str | None = None,
        new_job: bool = False,
    ) -> FineTuneJob:
        """Fit the model (or re-attach to the one these exact inputs already gave).

        Raises:
            DatasetError: a file is missing or holds no usable training record.
            ConfigError: rapidocr is not installed, or the run directory belongs to another
                backend.
        """
        from vqaft.local.learner import fit_local_model

        train_path = Path(train)
        valid_path = None if validation is None else Path(validation)
        for path in (train_path, valid_path):
            if path is not None and not path.is_file():
                from vqaft.errors import DatasetError

                raise DatasetError("no such file", file=str(path), hint="check the path")
        fingerprint = fingerprint_of(
            {
                "fit": _FIT_VERSION,
                "train": file_digest(train_path)[0],
                "validation": None if valid_path is None else file_digest(valid_path)[0],
            },
            separators=_FINGERPRINT_SEPARATORS,
        )
        job_id = f"localjob-{fingerprint[:16]}"
        state = self._state()
        if resume is not None and resume != state.job_id:
            raise FineTuneJobError(
                f"no local job {resume!r} in this run directory",
                job_id=resume,
                hint="local fits are not resumable by id; run start() with the files again",
            )
        if (
            reattaches(state.job_id, state.fingerprint, fingerprint, new_job=new_job)
            and state.fine_tuned_model
        ):
            path = self._existing_model(state.fine_tuned_model)
            if path is not None:
                log.info("re-attached to %s (%s)", job_id, state.fine_tuned_model)
                self._job = self._job_from_state(state)
                return self._job
        started = int(time.time())
        out = None if self.run_dir is None else self.run_dir / MODEL_FILE
        with OcrService(self.cache_dir, workers=self.workers) as ocr:
            result = fit_local_model(
                train_path, valid_path, out=out, ocr=ocr, progress=self.progress
            )
        model_id = result.model.id
        result.model.save(model_path_for(model_id, self.models_dir))
        if out is None:
            result.model.path = model_path_for(model_id, self.models_dir)
        self._report = result.report.model_dump(mode="json")
        state = JobState(
            backend=_BACKEND,
            fingerprint=fingerprint,
            job_id=job_id,
            status=JobStatus.SUCCEEDED.value,
            fine_tuned_model=model_id,
            request={
                "train": str(train_path),
                "validation": None if valid_path is None else str(valid_path),
                "created_at": started,
                "finished_at": int(time.time()),
                "report": self._report,
            },
        )
        if self.run_dir is not None:
            save_state(self.run_dir, state)
        self._job = self._job_from_state(state)
        return self._job

    def _existing_model(self, model_id: str) -> Path | None:
        for path in (
            None if self.run_dir is None else self.run_dir / MODEL_FILE,
            model_path_for(model_id, self.models_dir),
        ):
            if path is not None and path.is_file():
                try:
                    if LocalModel.load(path).id == model_id:
                        if not model_path_for(model_id, self.models_dir).is_file():
                            LocalModel.load(path).save(model_path_for(model_id, self.models_dir))
                        return path
                except ConfigError:
                    continue
        return None

    @staticmethod
    def _job_from_state(state: JobState) -> FineTuneJob:
        request = state.request or {}
        return FineTuneJob(
            id=state.job_id or "",
            status=JobStatus.parse(state.status),
            model=BASE_ID,
            fine_tuned_model=state.fine_tuned_model,
            training_file=request.get("train"),
            validation_file=request.get("validation"),
            created_at=request.get("created_at"),
            finished_at=request.get("finished_at"),
            method="local",
        )

    def _current(self, job_id: str | None) -> FineTuneJob:
        job = self._job
        if job is None and self.run_dir is not None:
            state = self._state()
            if state.job_id is not None:
                job = self._job_from_state(state)
        if job is None or (job_id is not None and job_id != job.id):
            raise FineTuneJobError(
                "no local fine-tuning job here" if job is None else f"unknown job {job_id!r}",
                job_id=job_id,
                hint="call start() (or fine_tune()) first",
            )
        return job

    def wait(self, job_id: str | None = None, *, timeout: float | None = None) -> FineTuneJob:
        """The job (local fits finish inside :meth:`start`)."""
        return self._current(job_id)

    def status(self, job_id: str | None = None) -> FineTuneJob:
        """The job as recorded."""
        return self._current(job_id)

    def cancel(self, job_id: str | None = None) -> FineTuneJob:
        """Nothing to cancel: a local fit is over when :meth:`start` returns."""
        return self._current(job_id)

    def results(self, job: FineTuneJob | None = None) -> FineTuneResult:
        """The result of the fit (default: the run's job), with its accuracies as metrics.

        :meth:`fine_tune` is :meth:`start`, then this (waiting returns at once). The metrics
        table has one row: ``train_accuracy`` (lenient, on the training file) and, as extra
        columns, ``valid_accuracy`` and ``base_valid_accuracy`` (the fitted and the base
        model on the validation file), plus per question type ``valid_accuracy_<type>``.
        """
        job = job or self._current(None)
        report = self._report
        if report is None and self.run_dir is not None:
            report = (self._state().request or {}).get("report")
        return FineTuneResult(
            job=job,
            metrics=_metrics(report or {}),
            run_dir=None if self.run_dir is None else str(self.run_dir),
        )


def _metrics(report: dict[str, Any]) -> ResultMetrics:
    train = report.get("train_accuracy") or {}
    valid = report.get("validation_accuracy") or {}
    base = report.get("base_validation_accuracy") or {}
    extra: dict[str, float | None] = {
        "valid_accuracy": valid.get("all"),
        "base_valid_accuracy": base.get("all"),
    }
    for name, value in sorted(valid.items()):
        if name != "all":
            extra[f"valid_accuracy_{name}"] = value
    row = MetricsRow(step=1, train_accuracy=train.get("all"), extra=extra)
    return ResultMetrics(columns=["step", "train_accuracy", *extra], rows=[row])


# -- predictor ---------------------------------------------------------------------------------


@register_predictor("local")
class LocalPredictor(BasePredictor):
    """Answer test records with a local model; a :class:`~vqaft.predict.Predictor`.

    Args:
        model: ``"local/base"``, a fitted model's id (``"local/ft-..."``, looked up in
            ``models_dir``), or the path of a model file.
        model_file: the model file, when not found by id.
        models_dir: the models folder (default :func:`default_models_dir`).
        cache_dir: the OCR cache folder (default: ``$VQAFT_CACHE_DIR/ocr``).
        workers: OCR workers (default: one per core).

    Raises:
        ConfigError: the model cannot be found or read.
    """

    def __init__(
        self,
        model: str = BASE_ID,
        *,
        model_file: PathArg | None = None,
        models_dir: PathArg | None = None,
        cache_dir: PathArg | None = None,
        workers: int | None = None,
    ) -> None:
        self.local = _resolve(model, model_file, models_dir)
        self.model = self.local.id
        self.cache_dir = cache_dir
        self.workers = workers
        self._ocr: OcrService | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalPredictor({self.model!r})"

    @property
    def ocr(self) -> OcrService:
        """The OCR service (started on first use)."""
        with self._lock:
            if self._ocr is None:
                self._ocr = OcrService(self.cache_dir, workers=self.workers)
            return self._ocr

    def predict(self, request: PredictionRequest) -> Completion:
        """Answer one request.

        Raises:
            RequestFailed: the messages hold no question or no embedded image
                (``invalid_input``), or the image cannot be decoded (``bad_image``).
            ConfigError: rapidocr is not installed (stops the run).
        """
        started = time.perf_counter()
        try:
            item = parse_record({"messages": list(request.messages)})
        except ValueError as exc:
            raise RequestFailed(
                str(exc), kind="invalid_input", attempts=1, example_id=request.example_id
            ) from None
        try:
            check_image(item.image)
            text = self.local.answer(item.question, item.image, self.ocr)
        except ImageError as exc:
            raise RequestFailed(
                exc.message, kind="bad_image", attempts=1, example_id=request.example_id
            ) from None
        return Completion(text=text, finish_reason="stop", latency=time.perf_counter() - started)

    def prefetch(self, test_file: PathArg, *, progress: bool = False) -> int:
        """OCR every image of a chat JSONL file ahead of predicting (with a progress bar);
        returns the number of distinct images. Unreadable records are left for
        :meth:`predict` to report."""
        items = read_chat_file(test_file).items
        unique = list({item.image: None for item in items})
        self.ocr.read_many(unique, progress=progress, desc=f"OCR {Path(test_file).name}")
        return len(unique)

    async def aclose(self) -> None:
        """Stop the OCR workers."""
        self.close()

    def close(self) -> None:
        """Stop the OCR workers (synchronous)."""
        with self._lock:
            ocr, self._ocr = self._ocr, None
        if ocr is not None:
            ocr.close()


def _resolve(model: str, model_file: PathArg | None, models_dir: PathArg | None) -> LocalModel:
    if model_file is not None:
        loaded = LocalModel.load(model_file)
        if model not in (BASE_ID, loaded.id) and Path(model) != Path(model_file):
            raise ConfigError(
                f"model file {model_file} holds {loaded.id}, not {model!r}",
                hint="pass the id the fine-tune reported, or leave model at its default",
            )
        return loaded
    if model == BASE_ID:
        return LocalModel.base()
    if model.startswith("local/") and not model.endswith(".json"):
        path = model_path_for(model, models_dir)
        if not path.is_file():
            raise ConfigError(
                f"no local model {model!r} in {path.parent}",
                file=str(path),
                hint="fit it with the local fine-tuner, or pass model_file=...",
            )
        loaded = LocalModel.load(path)
        if loaded.id != model:  # pragma: no cover - the file name comes from the id
            raise ConfigError(f"{path} holds {loaded.id}, not {model}")
        return loaded
    if model.endswith(".json"):
        return LocalModel.load(model)
    raise ConfigError(
        f"unknown local model {model!r}",
        hint=f"use {BASE_ID!r}, a 'local/ft-...' id, or the path of a model file",
    )
