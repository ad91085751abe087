"""The ``finetune`` and ``jobs`` subcommands of the ``vqaft`` command line.

:func:`add_commands` adds them to the main parser's subparsers. Each handler is a thin layer
over :class:`~vqaft.finetune.openai_backend.OpenAIFineTuner`, prints progress to stderr and
results to stdout, returns an exit code, and raises :class:`~vqaft.errors.VqaftError` for
problems (the main command prints it as one line)::

    vqaft finetune runs/x/data/train.jsonl --validation runs/x/data/validation.jsonl \\
        --epochs 2 --suffix covers --max-cost-usd 20
    vqaft jobs list
    vqaft jobs status --run-dir runs/x/data/finetune
    vqaft jobs events ftjob-abc123 --limit 50
    vqaft jobs cancel ftjob-abc123

The API key is read from ``OPENAI_API_KEY`` only (never a command-line argument, which other
users of the machine could see); ``--base-url`` (or ``OPENAI_BASE_URL``) points at another
OpenAI-compatible service.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from tqdm import tqdm

from vqaft.errors import ConfigError
from vqaft.finetune.base import (
    DEFAULT_MODEL,
    FineTuneConfig,
    FineTuneJob,
    Hyperparameters,
    JobEvent,
    JobStatus,
)

__all__ = ["CliProgress", "add_commands"]

EXIT_OK = 0


class CliProgress:
    """Progress for a terminal: status lines, event lines, tqdm bars for uploads and steps.

    Metrics events (``Step k/N: ...``) move a "training" bar instead of printing a line each;
    every other event is printed as it arrives.
    """

    def __init__(self, stream: IO[str] | None = None, *, bars: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bars = bars
        self._uploads: dict[str, tqdm[Any]] = {}
        self._steps: tqdm[Any] | None = None

    def _print(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        if self._steps is not None:
            self._steps.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def status(self, job: FineTuneJob, previous: JobStatus | None) -> None:
        """Print the new status (with what it means for paused jobs)."""
        text = f"job {job.id}: {job.raw_status or job.status.value}"
        if job.status is JobStatus.PAUSED:
            text += " (paused on the service; resume it there, then this wait continues)"
        if job.fine_tuned_model:
            text += f" -> {job.fine_tuned_model}"
        self._print(text)
        if job.is_terminal:
            self.close()

    def event(self, event: JobEvent) -> None:
        """Print the event, or advance the training bar for a metrics event."""
        data = event.data or {}
        step, total = data.get("step"), data.get("total_steps")
        metrics = event.type == "metrics" and isinstance(step, int) and isinstance(total, int)
        if metrics and self.bars:
            if self._steps is None:
                self._steps = tqdm(
                    total=total, desc="training", unit="step", file=self.stream, leave=True
                )
            self._steps.n = int(step) if isinstance(step, int) else 0
            loss = data.get("train_loss")
            if isinstance(loss, (int, float)):
                self._steps.set_postfix(loss=f"{loss:.3f}", refresh=False)
            self._steps.refresh()
            return
        self._print(f"  {event.describe()}")

    def upload(self, role: str, sent: int, total: int) -> None:
        """Show a byte bar per uploaded file."""
        if not self.bars:
            if sent >= total:
                self._print(f"uploaded {role} file ({total:,} bytes)")
            return
        bar = self._uploads.get(role)
        if bar is None:
            bar = tqdm(
                total=total,
                desc=f"upload {role}",
                unit="B",
                unit_scale=True,
                file=self.stream,
                leave=True,
            )
            self._uploads[role] = bar
        bar.n = sent
        bar.refresh()
        if sent >= total:
            bar.close()

    def message(self, text: str) -> None:
        """Print a note."""
        self._print(text)

    def close(self) -> None:
        """Close any open bar."""
        if self._steps is not None:
            self._steps.close()
            self._steps = None
        for bar in self._uploads.values():
            bar.close()
        self._uploads.clear()


def _auto_int(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number or 'auto', got {text!r}"
        ) from None


def _auto_float(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _metadata_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _integration(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc.msg}") from None
    if not isinstance(value, dict) or "type" not in value:
        raise argparse.ArgumentTypeError(
            'expected a JSON object with "type", e.g. {"type": "wandb", "wandb": {...}}'
        )
    return value


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="an OpenAI-compatible API (default: OPENAI_BASE_URL, else OpenAI); the key is read "
        "from OPENAI_API_KEY",
    )


def add_commands(subparsers: Any) -> None:
    """Add ``finetune`` and ``jobs`` to ``subparsers`` (from ``add_subparsers``)."""
    f = subparsers.add_parser(
        "finetune",
        help="upload training files, create a fine-tuning job and wait for it",
        description="Upload TRAIN (and --validation), create an OpenAI fine-tuning job and wait "
        "for it, showing status changes and events; then save the metrics table, checkpoints "
        "and moderation skips in the run directory. Running the same command again re-attaches "
        "to the job it created instead of starting (and paying for) another one.",
    )
    f.add_argument("train", type=Path, metavar="TRAIN.jsonl")
    f.add_argument("--validation", type=Path, metavar="VAL.jsonl")
    f.add_argument("--model", default=DEFAULT_MODEL, help=f"base model (default {DEFAULT_MODEL})")
    f.add_argument("--epochs", type=_auto_int, default="auto", metavar="N", help="or 'auto'")
    f.add_argument("--batch-size", type=_auto_int, default="auto", metavar="N", help="or 'auto'")
    f.add_argument(
        "--lr-multiplier", type=_auto_float, default="auto", metavar="X", help="or 'auto'"
    )
    f.add_argument("--suffix", help="up to 64 characters added to the model name")
    f.add_argument("--seed", type=int)
    f.add_argument(
        "--metadata",
        type=_metadata_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="job metadata, repeatable",
    )
    f.add_argument(
        "--integration",
        type=_integration,
        action="append",
        default=[],
        metavar="JSON",
        help='job integration, repeatable (e.g. \'{"type": "wandb", "wandb": {"project": "p"}}\')',
    )
    f.add_argument(
        "--run-dir",
        type=Path,
        metavar="DIR",
        help="where job.json, events.jsonl, metrics.csv and result.json go (default: a "
        "'finetune' folder next to TRAIN)",
    )
    f.add_argument("--resume", metavar="JOB_ID", help="attach to this existing job")
    f.add_argument(
        "--new-job",
        action="store_true",
        help="start a new (paid) job even though the run directory holds one",
    )
    f.add_argument(
        "--max-cost-usd",
        type=float,
        metavar="X",
        help="refuse to create a job whose estimated training cost is higher",
    )
    f.add_argument(
        "--no-wait", action="store_true", help="create the job and return without waiting"
    )
    f.add_argument(
        "--poll-interval", type=float, default=10.0, metavar="S", help="seconds between checks"
    )
    f.add_argument("--timeout", type=float, metavar="S", help="stop waiting after S seconds")
    f.add_argument("--json", action="store_true", help="print the result as JSON")
    f.add_argument("--no-progress", action="store_true", help="no progress bars")
    _connection_options(f)
    f.set_defaults(handler=_cmd_finetune)

    j = subparsers.add_parser(
        "jobs",
        help="list, inspect or cancel fine-tuning jobs",
        description="Look at fine-tuning jobs. JOB_ID defaults to the job of --run-dir.",
    )
    jsub = j.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    jl = jsub.add_parser("list", help="the newest jobs")
    jl.add_argument("--limit", type=int, default=20)
    jl.add_argument("--json", action="store_true")
    _connection_options(jl)
    jl.set_defaults(handler=_cmd_jobs_list)
    for name, handler, help_text in (
        ("status", _cmd_jobs_status, "a job's status, hyperparameters and checkpoints"),
        ("events", _cmd_jobs_events, "a job's newest events"),
        ("cancel", _cmd_jobs_cancel, "cancel a job"),
    ):
        p = jsub.add_parser(name, help=help_text)
        p.add_argument("job_id", nargs="?", metavar="JOB_ID")
        p.add_argument("--run-dir", type=Path, metavar="DIR", help="take the job id from here")
        p.add_argument("--json", action="store_true")
        if name == "events":
            p.add_argument("--limit", type=int, default=20)
        _connection_options(p)
        p.set_defaults(handler=handler)


def _config(args: argparse.Namespace) -> FineTuneConfig:
    try:
        return FineTuneConfig(
            model=args.model,
            hyperparameters=Hyperparameters(
                n_epochs=args.epochs,
                batch_size=args.batch_size,
                learning_rate_multiplier=args.lr_multiplier,
            ),
            suffix=args.suffix,
            seed=args.seed,
            metadata=dict(args.metadata) or None,
            integrations=list(args.integration),
            max_cost_usd=args.max_cost_usd,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid fine-tuning settings: {problems}") from None


def _tuner(args: argparse.Namespace, run_dir: Path | None, progress: CliProgress) -> Any:
    from vqaft.finetune.openai_backend import OpenAIFineTuner

    return OpenAIFineTuner(
        run_dir,
        base_url=args.base_url,
        poll_interval=getattr(args, "poll_interval", 10.0),
        progress=progress,
    )


def _cmd_finetune(args: argparse.Namespace) -> int:
    config = _config(args)
    run_dir = args.run_dir or args.train.parent / "finetune"
    progress = CliProgress(bars=not args.no_progress)
    tuner = _tuner(args, run_dir, progress)
    try:
        job = tuner.start(
            args.train,
            args.validation,
            config=config,
            resume=args.resume,
            new_job=args.new_job,
        )
        if args.no_wait:
            if args.json:
                print(job.model_dump_json(indent=2))
            else:
                print(job.describe())
                if not job.is_terminal:
                    print(
                        "not waiting: run the same command again to wait for it (it re-attaches)"
                        f", or see `vqaft jobs status {job.id}`"
                    )
            return EXIT_OK
        job = tuner.wait(job.id, timeout=args.timeout)
        result = tuner.results(job)
    finally:
        progress.close()
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(result.summary())
        print(f"run directory: {run_dir}")
    return EXIT_OK


def _jobs_tuner(args: argparse.Namespace) -> Any:
    return _tuner(args, getattr(args, "run_dir", None), CliProgress(bars=False))


def _cmd_jobs_list(args: argparse.Namespace) -> int:
    jobs = _jobs_tuner(args).list_jobs(limit=args.limit)
    if args.json:
        print(json.dumps([j.model_dump(mode="json") for j in jobs], indent=2))
    else:
        for job in jobs:
            print(job.describe())
        if not jobs:
            print("no fine-tuning jobs")
    return EXIT_OK


def _cmd_jobs_status(args: argparse.Namespace) -> int:
    tuner = _jobs_tuner(args)
    job = tuner.status(args.job_id)
    checkpoints = tuner.checkpoints(job.id) if job.status is JobStatus.SUCCEEDED else []
    if args.json:
        payload = job.model_dump(mode="json")
        payload["checkpoints"] = [c.model_dump(mode="json") for c in checkpoints]
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    print(job.describe())
    print(f"  model            {job.model}")
    if job.hyperparameters:
        hp = ", ".join(f"{k}={v}" for k, v in sorted(job.hyperparameters.items()))
        print(f"  hyperparameters  {hp}")
    if job.trained_tokens is not None:
        print(f"  trained tokens   {job.trained_tokens:,}")
    for ckpt in checkpoints:
        print(f"  checkpoint step {ckpt.step_number}: {ckpt.fine_tuned_model_checkpoint}")
    return EXIT_OK


def _cmd_jobs_events(args: argparse.Namespace) -> int:
    events = _jobs_tuner(args).events(args.job_id, limit=args.limit)
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in events], indent=2))
        return EXIT_OK
    for event in reversed(events):  # oldest first, like a log
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event.created_at or 0))
        print(f"{when}  {event.describe()}")
    return EXIT_OK


def _cmd_jobs_cancel(args: argparse.Namespace) -> int:
    job = _jobs_tuner(args).cancel(args.job_id)
    print(job.model_dump_json(indent=2) if args.json else job.describe())
    return EXIT_OK
