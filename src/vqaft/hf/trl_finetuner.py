"""The ``trl`` fine-tuner: LoRA (or QLoRA) fine-tuning of an open VLM with TRL's SFTTrainer.

It consumes the same chat-format JSONL files as the ``openai`` backend: images are decoded
from their data URLs, the messages are rendered by the model's own processor and chat
template, and the loss falls on the assistant's answer only (see :mod:`vqaft.hf.data`). The
result is a LoRA adapter plus a metadata file; its folder is the "fine-tuned model" id that
the ``hf`` predictor (or vLLM) takes::

    from vqaft.finetune import FineTuneConfig, Hyperparameters, load_finetuner

    tuner = load_finetuner("trl", run_dir="runs/covers/finetune", lora_r=16)
    result = tuner.fine_tune(
        "runs/covers/data/train.jsonl", "runs/covers/data/validation.jsonl",
        config=FineTuneConfig(model="Qwen/Qwen2.5-VL-3B-Instruct", suffix="covers",
                              hyperparameters=Hyperparameters(n_epochs=2, batch_size=4)))
    print(result.job.fine_tuned_model)        # .../runs/covers/finetune/adapter
    print(result.metrics.to_markdown())       # training and validation loss per step

How :class:`~vqaft.finetune.base.FineTuneConfig` maps onto training:

==============================  ==========================================================
``model``                       the base model (hub id or folder)
``n_epochs``                    epochs (``auto``: 3)
``batch_size``                  examples per device per step (``auto``: 4); times
                                ``gradient_accumulation_steps`` and the number of
                                processes is the effective batch
``learning_rate_multiplier``    scales ``learning_rate`` (``auto``: 1)
``seed``                        the trainer's seed (default 42)
``suffix``                      the adapter's name (default ``vqaft``): the LoRA module
                                name to serve it under with vLLM
``metadata``                    copied into the adapter's metadata file
``integrations``                ``{"type": "wandb"}`` etc. become TRL's ``report_to``
``max_cost_usd``                ignored (local training has no bill)
==============================  ==========================================================

Everything else is a constructor option (:class:`TRLSettings`). Training runs in a
background thread: :meth:`TRLFineTuner.start` returns at once, :meth:`~TRLFineTuner.wait`
joins it, :meth:`~TRLFineTuner.cancel` stops it after the current step. Running the same
step again with the same data and settings re-attaches to the finished job instead of
training again; an interrupted job restarts, from the last checkpoint when ``save_steps``
wrote one. The run directory holds:

==================  ==============================================================
``job.json``        the job: status, fingerprint, settings, data hashes
``adapter/``        the LoRA adapter (PEFT) and ``vqaft_adapter.json`` (metadata)
``metrics.jsonl``   every log line of the trainer as it happens (loss per step,
                    validation loss, learning rate, ...)
``metrics.csv``     the per-step table (``step,train_loss,...,valid_loss,...``)
``result.json``     the :class:`~vqaft.finetune.base.FineTuneResult`
``checkpoints/``    the trainer's checkpoints (only with ``save_steps``)
==================  ==============================================================

Several GPUs: launch the same training with ``accelerate launch`` (see docs/open-models.md);
only the main process writes the run directory.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vqaft.errors import ConfigError, DatasetError, FineTuneJobError, VqaftError
from vqaft.finetune.base import (
    BaseFineTuner,
    FineTuneConfig,
    FineTuneJob,
    FineTuneProgress,
    FineTuneResult,
    JobErrorInfo,
    JobEvent,
    JobStatus,
    LoggingProgress,
)
from vqaft.finetune.metrics import ResultMetrics
from vqaft.finetune.state import STATE_FILE, check_reattach, fingerprint_of
from vqaft.hf.loading import (
    Precision,
    Quantization,
    describe_device,
    load_model,
    load_processor,
    require_hf,
    resolve_precision,
)
from vqaft.hf.metadata import (
    AdapterMetadata,
    DataFile,
    describe_file,
    write_adapter_metadata,
)

__all__ = [
    "DEFAULT_TARGET_MODULES",
    "OPERATIONAL_SETTINGS",
    "TRLFineTuner",
    "TRLJobState",
    "TRLSettings",
]

log = logging.getLogger("vqaft.finetune")

PathArg = str | PathLike[str]

DEFAULT_TARGET_MODULES = (
    r".*(language_model|text_model|model\.layers).*\."
    r"(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
)
"""LoRA targets by default: the attention and MLP projections of the *language* model only
(a PEFT full-match regex), not the vision tower -- which is also what vLLM can serve."""

ADAPTER_DIR = "adapter"
METRICS_LOG = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
RESULT_FILE = "result.json"
CHECKPOINTS_DIR = "checkpoints"
PREVIOUS_DIR = "previous"

DEFAULT_EPOCHS = 3
DEFAULT_BATCH_SIZE = 4
DEFAULT_SEED = 42
DEFAULT_ADAPTER_NAME = "vqaft"

OPERATIONAL_SETTINGS = frozenset(
    {"logging_steps", "eval_steps", "save_steps", "torch_threads", "dataloader_num_workers"}
)
"""Settings that change how training is watched or saved, not what it learns; changing them
does not start a new job."""

# trainer log keys -> vqaft's metrics columns (the rest are kept as extra columns)
_COLUMN_OF = {
    "loss": "train_loss",
    "mean_token_accuracy": "train_accuracy",
    "eval_loss": "valid_loss",
    "eval_mean_token_accuracy": "valid_mean_token_accuracy",
}
_EXTRA_COLUMNS = ("learning_rate", "grad_norm", "epoch", "num_tokens", "entropy")
_SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second")


class TRLSettings(BaseModel):
    """The ``trl`` fine-tuner's options (constructor keywords; ``[finetune.args]``).

    Attributes:
        learning_rate: the peak learning rate (times ``learning_rate_multiplier``).
        lora_r, lora_alpha, lora_dropout: the LoRA rank, scaling and dropout.
        target_modules: the modules LoRA wraps: a list of names, a PEFT regex, or
            ``"all-linear"``. Default :data:`DEFAULT_TARGET_MODULES`.
        modules_to_save: modules trained in full and saved with the adapter (e.g.
            ``["lm_head"]`` for a randomly initialised head; vLLM cannot serve these).
        gradient_accumulation_steps: steps whose gradients add up before an update.
        precision: ``auto`` (bf16 on GPUs that have it, fp16 on others, fp32 on CPU),
            ``bf16``, ``fp16`` or ``fp32``; the base model is loaded in it.
        quantization: ``none``, ``4bit`` (QLoRA: NF4, double quantization) or ``8bit``;
            needs bitsandbytes and a CUDA GPU.
        max_length: truncate sequences to this many tokens (``None``: never; image tokens
            must not be cut).
        max_steps: stop after this many optimizer steps (overrides the epochs).
        warmup_steps: warm-up steps (a number below 1 is a fraction of all steps).
        weight_decay, lr_scheduler_type: the optimizer's weight decay and LR schedule.
        gradient_checkpointing: trade compute for memory (large models).
        eval_batch_size: validation batch size (default: the training batch size).
        processor_class, model_class: ``"module:Class"`` to load the processor / model when
            transformers' Auto classes cannot.
        trainer_args: further ``trl.SFTConfig`` fields, passed as they are (``optim``,
            ``fsdp``, ``deepspeed``, ``ddp_find_unused_parameters``, ...).
        logging_steps: log the training loss every N steps (default every step).
        eval_steps: validate every N steps; a number below 1 is a fraction of all steps
            (default 0.1: ten times per run, and once more at the end).
        save_steps: write a resumable checkpoint every N steps (``None``: no checkpoints).
        torch_threads: CPU threads for torch (tiny models on a busy CPU train far faster
            with 1).
        dataloader_num_workers: worker processes decoding images for the trainer.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    learning_rate: float = Field(default=2e-4, gt=0)
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: str | list[str] = DEFAULT_TARGET_MODULES
    modules_to_save: list[str] | None = None
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    precision: Precision = "auto"
    quantization: Quantization = "none"
    max_length: int | None = Field(default=None, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    warmup_steps: float = Field(default=0.0, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    lr_scheduler_type: str = "linear"
    gradient_checkpointing: bool = False
    eval_batch_size: int | None = Field(default=None, ge=1)
    processor_class: str | None = None
    model_class: str | None = None
    trainer_args: dict[str, Any] = Field(default_factory=dict)
    logging_steps: int = Field(default=1, ge=1)
    eval_steps: float = Field(default=0.1, gt=0)
    save_steps: float | None = Field(default=None, gt=0)
    torch_threads: int | None = Field(default=None, ge=1)
    dataloader_num_workers: int = Field(default=0, ge=0)


class TRLJobState(BaseModel):
    """``job.json``: the job and what it was started from."""

    job: FineTuneJob
    fingerprint: str
    config: dict[str, Any]
    settings: dict[str, Any]
    train: DataFile
    validation: DataFile | None = None
    adapter_dir: str
    previous_jobs: list[str] = Field(default_factory=list)


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _resolved_hyperparameters(config: FineTuneConfig, settings: TRLSettings) -> dict[str, Any]:
    hyper = config.hyperparameters
    multiplier = 1.0 if hyper.learning_rate_multiplier == "auto" else hyper.learning_rate_multiplier
    return {
        "n_epochs": DEFAULT_EPOCHS if hyper.n_epochs == "auto" else hyper.n_epochs,
        "batch_size": DEFAULT_BATCH_SIZE if hyper.batch_size == "auto" else hyper.batch_size,
        "learning_rate": settings.learning_rate * float(multiplier),
        "seed": DEFAULT_SEED if config.seed is None else config.seed,
    }


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, DatasetError):
        return "invalid_training_file"
    if isinstance(exc, ConfigError):
        return "invalid_config"
    if "out of memory" in str(exc).lower():
        return "out_of_memory"
    return "training_error"


class TRLFineTuner(BaseFineTuner):
    """Fine-tune an open VLM with LoRA through TRL; registered as ``trl``.

    Args:
        run_dir: where the job, adapter and metrics go (default: ``finetune/`` next to the
            training file).
        progress: receives status changes, per-step metrics events and messages (default
            :class:`~vqaft.finetune.base.LoggingProgress`).
        **settings: the :class:`TRLSettings` (``learning_rate``, ``lora_r``, ...).

    Raises:
        ConfigError: an unknown or invalid setting, or the ``[hf]`` extra is missing.

    >>> tuner = TRLFineTuner("runs/x/finetune", lora_r=8, torch_threads=1)  # doctest: +SKIP
    """

    def __init__(
        self,
        run_dir: PathArg | None = None,
        *,
        progress: FineTuneProgress | None = None,
        **settings: Any,
    ) -> None:
        require_hf("trl", "accelerate")
        try:
            self.settings = TRLSettings(**settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"trl fine-tuner option {key!r}: {first['msg']}",
                hint="see vqaft.hf.trl_finetuner.TRLSettings for the options",
            ) from None
        reserved = {"output_dir", "resume_from_checkpoint"} & set(self.settings.trainer_args)
        if reserved:
            raise ConfigError(
                f"trainer_args may not set {', '.join(sorted(reserved))}",
                hint="vqaft chooses them (the run directory's checkpoints/ folder)",
            )
        self.run_dir: Path | None = None if run_dir is None else Path(run_dir)
        self.progress: FineTuneProgress = progress or LoggingProgress()
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._state: TRLJobState | None = None
        self._rows: list[dict[str, Any]] = []
        self._summary: dict[str, float] = {}
        self._events = 0

    def __repr__(self) -> str:
        return f"TRLFineTuner(run_dir={str(self.run_dir)!r})"

    # -- state ----------------------------------------------------------------------------

    def _dir(self) -> Path:
        if self.run_dir is None:
            raise ConfigError(
                "no run directory: nothing has been started",
                hint="call start() or fine_tune() first, or pass run_dir",
            )
        return self.run_dir

    def _load_state(self) -> TRLJobState | None:
        if self._state is not None:
            return self._state
        path = self._dir() / STATE_FILE
        if not path.is_file():
            return None
        try:
            self._state = TRLJobState.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError, ValueError) as exc:
            raise ConfigError(
                f"unreadable job state: {exc}",
                file=str(path),
                hint="restore the file, or use another run directory",
            ) from None
        return self._state

    def _save(self) -> None:
        if self._state is None or not _is_main_process():
            return
        with self._lock:
            folder = self._dir()
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / STATE_FILE
            temporary = target.with_name(f".{target.name}.tmp")
            temporary.write_text(self._state.model_dump_json(indent=2) + "\n", encoding="utf-8")
            os.replace(temporary, target)

    def _update(self, previous: JobStatus | None = None, **changes: Any) -> FineTuneJob:
        with self._lock:
            if self._state is None:  # pragma: no cover - callers hold a state
                raise ConfigError("no job")
            job = self._state.job.model_copy(update=changes)
            self._state = self._state.model_copy(update={"job": job})
            self._save()
        if "status" in changes and changes["status"] is not previous:
            self.progress.status(job, previous)
        return job

    def _fingerprint(
        self, config: FineTuneConfig, train: DataFile, validation: DataFile | None
    ) -> str:
        payload = {
            "backend": "trl",
            "config": config.model_dump(
                mode="json", exclude={"max_cost_usd", "metadata", "integrations"}
            ),
            "settings": self.settings.model_dump(mode="json", exclude=set(OPERATIONAL_SETTINGS)),
            "train": train.sha256,
            "validation": None if validation is None else validation.sha256,
        }
        return fingerprint_of(payload)

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
        """Start training in a background thread, or re-attach to the job already there.

        Args:
            train: the training JSONL file.
            validation: an optional validation file (its loss is logged per ``eval_steps``).
            config: base model, hyperparameters, seed, suffix, metadata, integrations.
            resume: the id of the job in the run directory (checked, then attached to).
            new_job: train again although the run directory holds a job for other data or
                settings; the old adapter and files move to ``previous/<job id>/``.

        Raises:
            ConfigError: a file is missing; the run directory holds a job for other data or
                settings (and ``new_job`` is not set); ``resume`` names another job.
        """
        config = config or FineTuneConfig()
        train_path = Path(train)
        val_path = None if validation is None else Path(validation)
        for role, path in (("train", train_path), ("validation", val_path)):
            if path is not None and not path.is_file():
                raise ConfigError(f"{role} file not found", file=str(path), hint="check the path")
        if self.run_dir is None:
            self.run_dir = train_path.parent / "finetune"
        train_file = describe_file(train_path)
        val_file = None if val_path is None else describe_file(val_path)
        fingerprint = self._fingerprint(config, train_file, val_file)
        state = self._load_state()

        if resume is not None and (state is None or state.job.id != resume):
            raise ConfigError(
                f"job {resume!r} is not the job of this run directory"
                + ("" if state is None else f" ({state.job.id})"),
                file=str(self._dir() / STATE_FILE),
                hint="a trl job lives in its run directory: pass that run_dir",
            )
        if self._thread is not None and self._thread.is_alive():
            if state is not None and state.fingerprint == fingerprint:
                return state.job
            raise ConfigError(
                "this fine-tuner is already training another job",
                hint="wait for it or cancel it first",
            )
        previous_jobs: list[str] = []
        if state is not None:
            if check_reattach(
                state.job.id,
                state.job.status.value,
                state.fingerprint,
                fingerprint,
                new_job=new_job,
                run_dir=self._dir(),
                hint="use another run directory, or pass new_job=True (--new-job) to train "
                "again (the old adapter is kept under previous/)",
            ):
                if state.job.status is JobStatus.SUCCEEDED:
                    self.progress.message(
                        f"re-attaching to job {state.job.id}, trained earlier on these files "
                        "with these settings (not training again)"
                    )
                    return state.job
                self.progress.message(
                    f"job {state.job.id} ended as {state.job.status.value}; training again"
                )
            else:
                self._retire(state)
            previous_jobs = [*state.previous_jobs]
            if state.fingerprint != fingerprint or new_job:
                previous_jobs.append(state.job.id)
        if config.max_cost_usd is not None:
            self.progress.message("max_cost_usd is ignored: local training has no bill")

        resolved = _resolved_hyperparameters(config, self.settings)
        job = FineTuneJob(
            id=f"trl-{fingerprint[:16]}",
            status=JobStatus.QUEUED,
            model=config.model,
            training_file=str(train_path),
            validation_file=None if val_path is None else str(val_path),
            created_at=int(time.time()),
            hyperparameters=resolved,
            method="supervised",
            seed=resolved["seed"],
            suffix=config.suffix,
            metadata=config.metadata,
            integrations=config.integrations,
        )
        self._state = TRLJobState(
            job=job,
            fingerprint=fingerprint,
            config=config.model_dump(mode="json"),
            settings=self.settings.model_dump(mode="json"),
            train=train_file,
            validation=val_file,
            adapter_dir=str((self._dir() / ADAPTER_DIR).resolve()),
            previous_jobs=previous_jobs,
        )
        self._save()
        self.progress.status(job, None)
        self._cancel.clear()
        self._thread = threading.Thread(
            target=self._run,
            args=(config, train_path, val_path),
            name=f"vqaft-trl-{job.id}",
        )
        self._thread.start()
        return job

    def _retire(self, state: TRLJobState) -> None:
        if not _is_main_process():
            return
        folder = self._dir()
        target = folder / PREVIOUS_DIR / state.job.id
        target.mkdir(parents=True, exist_ok=True)
        for name in (ADAPTER_DIR, METRICS_LOG, METRICS_CSV, RESULT_FILE, CHECKPOINTS_DIR):
            path = folder / name
            if path.exists():
                shutil.move(str(path), str(target / name))
        self.progress.message(f"job {state.job.id} moved to {target}")

    def _run(self, config: FineTuneConfig, train: Path, validation: Path | None) -> None:
        started = self._update(JobStatus.QUEUED, status=JobStatus.RUNNING)
        try:
            cancelled, trained_tokens = self._train(config, train, validation, started)
        except BaseException as exc:  # the thread must record every failure
            log.debug("training failed", exc_info=True)
            message = exc.message if isinstance(exc, VqaftError) else f"{type(exc).__name__}: {exc}"
            self._update(
                JobStatus.RUNNING,
                status=JobStatus.FAILED,
                finished_at=int(time.time()),
                error=JobErrorInfo(code=_error_code(exc), message=message[:2000]),
            )
            return
        if cancelled:
            self._update(
                JobStatus.RUNNING, status=JobStatus.CANCELLED, finished_at=int(time.time())
            )
            return
        self._update(
            JobStatus.RUNNING,
            status=JobStatus.SUCCEEDED,
            finished_at=int(time.time()),
            fine_tuned_model=self._state.adapter_dir if self._state else None,
            trained_tokens=trained_tokens,
        )

    def _train(
        self, config: FineTuneConfig, train: Path, validation: Path | None, job: FineTuneJob
    ) -> tuple[bool, int | None]:
        import torch
        from peft import LoraConfig
        from transformers import PrinterCallback
        from trl import SFTConfig, SFTTrainer

        from vqaft.hf.data import training_dataset

        settings = self.settings
        folder = self._dir()
        if settings.torch_threads is not None:
            torch.set_num_threads(settings.torch_threads)
        precision = resolve_precision(settings.precision)
        hyper = job.hyperparameters
        self.progress.message(f"loading {config.model} ({precision})")
        processor = load_processor(config.model, settings.processor_class)
        train_set = training_dataset(train)
        val_set = None if validation is None else training_dataset(validation)
        model = load_model(
            config.model,
            model_class=settings.model_class,
            precision=precision,
            quantization=settings.quantization,
        )
        lora = LoraConfig(
            r=settings.lora_r,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules=settings.target_modules,
            modules_to_save=settings.modules_to_save,
            task_type="CAUSAL_LM",
        )
        checkpoints = folder / CHECKPOINTS_DIR
        args: dict[str, Any] = {
            "output_dir": str(checkpoints),
            "num_train_epochs": hyper["n_epochs"],
            "max_steps": settings.max_steps or -1,
            "per_device_train_batch_size": hyper["batch_size"],
            "per_device_eval_batch_size": settings.eval_batch_size or hyper["batch_size"],
            "gradient_accumulation_steps": settings.gradient_accumulation_steps,
            "learning_rate": hyper["learning_rate"],
            "lr_scheduler_type": settings.lr_scheduler_type,
            "warmup_steps": settings.warmup_steps,
            "weight_decay": settings.weight_decay,
            "seed": hyper["seed"],
            "bf16": precision == "bf16",
            "fp16": precision == "fp16",
            "use_cpu": not torch.cuda.is_available(),
            "logging_steps": settings.logging_steps,
            "eval_strategy": "steps" if val_set is not None else "no",
            "eval_steps": settings.eval_steps if val_set is not None else None,
            "save_strategy": "steps" if settings.save_steps else "no",
            "save_steps": settings.save_steps or 500,
            "save_total_limit": 2,
            "report_to": [str(i.get("type")) for i in config.integrations] or "none",
            "max_length": settings.max_length,
            # transformers 5 names it activation_checkpointing (the old name is a deprecated
            # alias that warns); vqaft's setting keeps its name.
            "activation_checkpointing": settings.gradient_checkpointing,
            "remove_unused_columns": False,
            "completion_only_loss": True,
            "disable_tqdm": True,
            "dataloader_num_workers": settings.dataloader_num_workers,
            **settings.trainer_args,
        }
        callback = _make_callback(self)
        trainer = SFTTrainer(
            model=model,
            args=SFTConfig(**args),
            train_dataset=train_set,
            eval_dataset=val_set,
            processing_class=processor,
            peft_config=lora,
            callbacks=[callback],
        )
        trainer.remove_callback(PrinterCallback)  # logs go to metrics.jsonl and progress
        resume = _latest_checkpoint(checkpoints)
        if resume is not None:
            self.progress.message(f"resuming from {resume.name}")
        self._reset_metrics(None if resume is None else int(resume.name.rsplit("-", 1)[1]))
        output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        if self._cancel.is_set():
            return True, None
        if val_set is not None and not any(
            "eval_loss" in r and r.get("step") == trainer.state.global_step for r in self._rows
        ):
            trainer.evaluate()  # the validation loss of the final adapter
        adapter = Path(self._state.adapter_dir if self._state else folder / ADAPTER_DIR)
        trainer.save_model(str(adapter))
        if _is_main_process():  # the trainer pickles its arguments there; vqaft keeps JSON
            (adapter / "training_args.bin").unlink(missing_ok=True)
        tokens = next(
            (int(r["num_tokens"]) for r in reversed(self._rows) if "num_tokens" in r), None
        )
        if _is_main_process():
            self._write_metadata(config, adapter, train_set, val_set, precision, output, job)
            (folder / METRICS_CSV).write_text(self.metrics().to_csv(), encoding="utf-8")
        return False, tokens

    def _write_metadata(
        self,
        config: FineTuneConfig,
        adapter: Path,
        train_set: Any,
        val_set: Any,
        precision: str,
        output: Any,
        job: FineTuneJob,
    ) -> None:
        state = self._state
        if state is None:  # pragma: no cover
            return
        final = self.metrics().final()
        metrics: dict[str, float | int | None] = {
            "train_loss": final.get("train_loss"),
            "valid_loss": final.get("valid_loss"),
            "steps": int(getattr(output, "global_step", 0) or 0),
            **self._summary,
        }
        hyperparameters = {
            **job.hyperparameters,
            **self.settings.model_dump(mode="json", exclude=set(OPERATIONAL_SETTINGS)),
            "precision": precision,
            "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        }
        write_adapter_metadata(
            adapter,
            AdapterMetadata(
                base_model=config.model,
                adapter_name=config.suffix or DEFAULT_ADAPTER_NAME,
                processor_class=self.settings.processor_class,
                model_class=self.settings.model_class,
                job_id=job.id,
                fingerprint=state.fingerprint,
                train=state.train.model_copy(update={"examples": len(train_set)}),
                validation=None
                if state.validation is None
                else state.validation.model_copy(update={"examples": len(val_set)}),
                hyperparameters=hyperparameters,
                metrics=metrics,
                device=describe_device(),
                job_metadata=config.metadata,
            ),
        )

    # -- metrics ----------------------------------------------------------------------------

    def _reset_metrics(self, keep_until: int | None) -> None:
        """Start the metrics log afresh, or keep its rows up to a checkpoint's step."""
        path = self._dir() / METRICS_LOG
        kept: list[dict[str, Any]] = []
        if keep_until is not None and path.is_file():
            rows = [json.loads(t) for t in path.read_text("utf-8").splitlines() if t.strip()]
            kept = [r for r in rows if int(r.get("step", 0)) <= keep_until]
        with self._lock:
            self._rows = kept
            self._summary = {}
            if _is_main_process():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")

    def _on_log(self, step: int, total: int, logs: Mapping[str, Any]) -> None:
        row = {"step": step, **{k: v for k, v in logs.items() if isinstance(v, (int, float))}}
        with self._lock:
            if any(key in row for key in _SUMMARY_KEYS):
                self._summary.update({k: float(row[k]) for k in _SUMMARY_KEYS if k in row})
                return
            self._rows.append(row)
            if _is_main_process():
                with open(self._dir() / METRICS_LOG, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
            self._events += 1
            number = self._events
        job_id = self._state.job.id if self._state else "trl"
        parts = [
            f"{label}={row[key]:.4f}"
            for key, label in (("loss", "training loss"), ("eval_loss", "validation loss"))
            if key in row
        ]
        data: dict[str, Any] = {"step": step, "total_steps": total}
        data.update({_COLUMN_OF.get(k, k): v for k, v in row.items() if k != "step"})
        self.progress.event(
            JobEvent(
                id=f"{job_id}-{number}",
                created_at=int(time.time()),
                message=f"Step {step}/{total}: {', '.join(parts) or 'logged'}",
                type="metrics",
                data=data,
            )
        )

    def metrics(self) -> ResultMetrics:
        """The per-step table so far (from memory, else from ``metrics.jsonl``)."""
        with self._lock:
            rows = list(self._rows)
        if not rows and self.run_dir is not None and (self.run_dir / METRICS_LOG).is_file():
            text = (self.run_dir / METRICS_LOG).read_text(encoding="utf-8")
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        return _table(rows)

    # -- waiting, status, cancel, results ---------------------------------------------------

    def _job(self, job_id: str | None) -> FineTuneJob:
        state = self._load_state()
        if state is None:
            raise ConfigError(
                "this run directory holds no trl job",
                file=str(self._dir()),
                hint="start one with start() or fine_tune()",
            )
        if job_id is not None and job_id != state.job.id:
            raise ConfigError(
                f"job {job_id!r} is not the job of this run directory ({state.job.id})",
                hint="pass the run directory that holds it",
            )
        return state.job

    def status(self, job_id: str | None = None) -> FineTuneJob:
        """The job as it is now."""
        return self._job(job_id)

    def wait(self, job_id: str | None = None, *, timeout: float | None = None) -> FineTuneJob:
        """Wait for training to finish; Ctrl-C cancels it after the current step.

        Raises:
            FineTuneJobError: training failed (code ``invalid_training_file``,
                ``invalid_config``, ``out_of_memory``, ``training_error``), was cancelled,
                was interrupted in an earlier process (run again to restart it), or is still
                running after ``timeout`` seconds (code ``timeout``; it goes on).
        """
        job = self._job(job_id)
        thread = self._thread
        if thread is not None:
            try:
                thread.join(timeout)
            except KeyboardInterrupt:
                self._cancel.set()
                thread.join()
                raise
            if thread.is_alive():
                raise FineTuneJobError(
                    f"job {job.id} is still training after {timeout:g} s",
                    job_id=job.id,
                    code="timeout",
                    hint="it goes on in this process: call wait() again",
                )
            job = self._job(job_id)
        elif not job.is_terminal:
            raise FineTuneJobError(
                f"job {job.id} was interrupted while {job.status.value} (no training runs in "
                "this process)",
                job_id=job.id,
                code="interrupted",
                hint="run the same step again: it restarts training (from the last checkpoint "
                "when save_steps wrote one)",
            )
        return _outcome(job)

    def cancel(self, job_id: str | None = None) -> FineTuneJob:
        """Stop training after the current step (the job ends ``cancelled``)."""
        job = self._job(job_id)
        self._cancel.set()
        if (self._thread is None or not self._thread.is_alive()) and not job.is_terminal:
            job = self._update(job.status, status=JobStatus.CANCELLED, finished_at=int(time.time()))
        return job

    def results(self, job: FineTuneJob | None = None) -> FineTuneResult:
        """The per-step metrics of a succeeded job; written to ``result.json`` and
        ``metrics.csv``.

        Raises:
            FineTuneJobError: the job failed or was cancelled.
            ConfigError: it has not finished.
        """
        job = job or self._job(None)
        _outcome(job)
        if not job.is_terminal:
            raise ConfigError(f"job {job.id} is still {job.status.value}: no results yet")
        metrics = self.metrics()
        result = FineTuneResult(job=job, metrics=metrics, run_dir=str(self._dir()))
        if _is_main_process():
            folder = self._dir()
            (folder / RESULT_FILE).write_text(result.model_dump_json(indent=2) + "\n", "utf-8")
            (folder / METRICS_CSV).write_text(metrics.to_csv(), encoding="utf-8")
        return result


def _outcome(job: FineTuneJob) -> FineTuneJob:
    if job.status is JobStatus.FAILED:
        error = job.error
        code = error.code if error is not None else None
        raise FineTuneJobError(
            f"trl job {job.id} failed: {(error.message if error else None) or 'no reason given'}",
            job_id=job.id,
            code=code,
            hint="fix the cause, then run the same step again (it trains again)",
        )
    if job.status is JobStatus.CANCELLED:
        raise FineTuneJobError(
            f"trl job {job.id} was cancelled before it finished",
            job_id=job.id,
            code="cancelled",
            hint="run the same step again to train again",
        )
    return job


def _latest_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    found = [
        (int(p.name.rsplit("-", 1)[1]), p)
        for p in folder.glob("checkpoint-*")
        if p.is_dir() and p.name.rsplit("-", 1)[1].isdigit()
    ]
    return max(found)[1] if found else None


def _table(rows: list[dict[str, Any]]) -> ResultMetrics:
    """Trainer log rows -> the metrics table, one row per step (train and eval merged)."""
    merged: dict[int, dict[str, Any]] = {}
    extras: list[str] = []
    for row in rows:
        step = int(row.get("step", 0))
        target = merged.setdefault(step, {})
        for key, value in row.items():
            if key == "step":
                continue
            column = _COLUMN_OF.get(key)
            if column is None:
                if key not in _EXTRA_COLUMNS:
                    continue
                column = key
                if column not in extras:
                    extras.append(column)
            target[column] = value
    known = [c for c in ("train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy")]
    present = [c for c in known if any(c in r for r in merged.values())]
    columns = ["step", *present, *[e for e in _EXTRA_COLUMNS if e in extras]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for step in sorted(merged):
        cells = [str(step)]
        for column in columns[1:]:
            value = merged[step].get(column)
            cells.append("" if value is None else repr(float(value)))
        writer.writerow(cells)
    return ResultMetrics.parse(out.getvalue())


def _make_callback(tuner: TRLFineTuner) -> Any:
    from transformers import TrainerCallback

    class _VqaftCallback(TrainerCallback):  # type: ignore[misc]
        """Records every log line and stops training when the job is cancelled."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and state.is_world_process_zero:
                tuner._on_log(int(state.global_step), int(state.max_steps), logs)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if tuner._cancel.is_set():
                control.should_training_stop = True

    return _VqaftCallback()
