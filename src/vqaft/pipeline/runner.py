"""Run an experiment: prepare -> validate -> finetune -> predict -> evaluate -> report.

::

    from vqaft.pipeline import load_experiment, run_experiment

    experiment = load_experiment("examples/ocr-vqa-gpt4o.toml")
    result = run_experiment(experiment, "runs/ocr-vqa-gpt4o")
    print(result.summary())

Everything lands in one run folder (see :class:`~vqaft.pipeline.manifest.RunLayout`). Each
stage records the hash of its inputs in ``stages/<stage>.json``; running the same experiment
again skips every stage whose inputs and outputs are unchanged, so a run killed at any point
finishes by running the same command again: the interrupted stage starts over or resumes
(the fine-tuner re-attaches to its job, the predictions store skips what is answered), and
nothing is paid for twice. ``from_stage`` forces that stage and every later one to run.
At the end, ``run.json`` and ``report/index.md`` list every file of the run.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vqaft.errors import ConfigError, VqaftError
from vqaft.pipeline.components import check_components
from vqaft.pipeline.experiment import Experiment
from vqaft.pipeline.headline import Headline
from vqaft.pipeline.index import write_index
from vqaft.pipeline.manifest import (
    RUN_FILE,
    STAGES,
    RunLayout,
    StageManifest,
    now_iso,
    stable_hash,
    write_json_atomic,
)
from vqaft.pipeline.stages import STAGE_TABLE, StageContext

__all__ = ["LOCK_FILE", "RunResult", "StageRecord", "run_experiment"]

LOCK_FILE = ".run.lock"
"""Held (``flock``) by the run using the folder; the OS releases it when the process dies."""


@dataclass(frozen=True)
class StageRecord:
    """What happened to one stage in this run.

    Attributes:
        name: the stage.
        status: ``ran``, ``skipped`` (inputs and outputs unchanged) or ``not configured``.
        seconds: time spent in this run.
        reason: why it ran (``first run``, ``inputs changed``, ``resumed after an
            interruption``, ``forced by --from``, ...).
        manifest: its manifest (``None`` when not configured).
    """

    name: str
    status: str
    seconds: float = 0.0
    reason: str | None = None
    manifest: StageManifest | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the manifest is referred to by path)."""
        return {
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "reason": self.reason,
            "manifest": None if self.manifest is None else f"stages/{self.name}.json",
            "input_hash": None if self.manifest is None else self.manifest.input_hash,
            "stage_seconds": None if self.manifest is None else self.manifest.seconds,
            "finished_at": None if self.manifest is None else self.manifest.finished_at,
        }


@dataclass(frozen=True)
class RunResult:
    """The outcome of :func:`run_experiment`.

    Attributes:
        run_dir: the run folder.
        stages: per stage, what happened.
        fine_tuned_model: the model the finetune stage produced, if any.
        headline: the headline numbers.
        report: ``report/report.html``.
        index: ``report/index.md`` (links every file of the run).
        seconds: wall time of this run.
    """

    run_dir: Path
    stages: dict[str, StageRecord]
    fine_tuned_model: str | None
    headline: Headline | None
    report: Path | None
    index: Path | None
    seconds: float
    artefacts: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """The stages and their times, where the report is, and the headline numbers."""
        lines = []
        for record in self.stages.values():
            timing = f" in {record.seconds:.1f} s" if record.status == "ran" else ""
            lines.append(f"{record.name:<9} {record.status}{timing}")
        if self.fine_tuned_model:
            lines.append(f"fine-tuned model: {self.fine_tuned_model}")
        if self.report is not None:
            lines.append(f"report: {self.report}")
        if self.index is not None:
            lines.append(f"every file of the run: {self.index}")
        if self.headline is not None:
            lines.append(self.headline.format_text())
        return "\n".join(lines)


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _reason(previous: StageManifest | None, input_hash: str, forced: bool) -> str:
    if forced:
        return "forced by --from"
    if previous is None:
        return "first run"
    if previous.status == "running":
        return "resuming an interrupted run"
    if previous.status == "failed":
        return "it failed last time"
    if previous.input_hash != input_hash:
        changed = "inputs changed"
        return changed
    return "its files changed or are missing"


@contextmanager
def _exclusive(layout: RunLayout) -> Iterator[None]:
    """Hold the run folder's lock, so that two runs never work in one folder at once (two
    fine-tuning jobs, two writers of one predictions file)."""
    if sys.platform == "win32":  # pragma: no cover - no flock; run one at a time
        yield
        return
    import fcntl

    path = layout.root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                "another vqaft run is using this run folder",
                file=str(layout.root),
                hint="wait for it to finish (it resumes where it is), or use another --run-dir",
            ) from None
        yield
    finally:
        os.close(fd)


def _sweep_partial_files(layout: RunLayout) -> int:
    """Remove the temporary files a killed run left behind (``.<name>.<hex>.partial`` and
    ``.<name>.<hex>.tmp``: files are written under such names and renamed when complete).
    Safe because this run holds the folder's lock."""
    count = 0
    for path in layout.root.rglob(".*"):
        if path.is_file() and path.name.endswith((".partial", ".tmp")):
            path.unlink(missing_ok=True)
            count += 1
    return count


def _error_record(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, VqaftError):
        return exc.to_dict()
    return {"error": type(exc).__name__, "message": str(exc) or type(exc).__name__}


def run_experiment(
    experiment: Experiment,
    run_dir: str | Path,
    from_stage: str | None = None,
    *,
    source: str | Path | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
    overrides: Sequence[str] = (),
) -> RunResult:
    """Run (or finish, or update) the experiment in ``run_dir``.

    Args:
        experiment: the validated experiment (see :func:`~vqaft.pipeline.load_experiment`).
        run_dir: the run folder (created if missing).
        from_stage: run this stage and every later one even if their inputs are unchanged
            (a forced finetune re-attaches to the job of the same inputs; a forced predict
            asks only what is missing or failed).
        source: the experiment file (recorded, and named in error messages).
        progress: show progress bars.
        echo: receives one line per progress message (default: standard error).
        overrides: the ``--set`` overrides used, recorded in ``run.json``.

    Raises:
        ConfigError: an unknown stage, adapter, backend or evaluator (before anything runs).
        VqaftError: a stage failed (its manifest says ``failed`` and why).
    """
    if from_stage is not None and from_stage not in STAGES:
        raise ConfigError(f"unknown stage {from_stage!r}", hint="stages: " + ", ".join(STAGES))
    say = echo or _stderr
    started = time.perf_counter()
    layout = RunLayout(Path(run_dir))
    src = None if source is None else Path(source)
    check_components(experiment, src)
    layout.root.mkdir(parents=True, exist_ok=True)
    with _exclusive(layout):
        return _run(experiment, layout, from_stage, src, progress, say, overrides, started)


def _run(
    experiment: Experiment,
    layout: RunLayout,
    from_stage: str | None,
    src: Path | None,
    progress: bool,
    say: Callable[[str], None],
    overrides: Sequence[str],
    started: float,
) -> RunResult:
    started_at = now_iso()
    swept = _sweep_partial_files(layout)
    if swept:
        say(f"removed {swept} partial file(s) left by an interrupted run")
    write_json_atomic(layout.experiment, experiment.to_data())
    ctx = StageContext(
        experiment=experiment, layout=layout, source=src, progress=progress, echo=say
    )
    records: dict[str, StageRecord] = {}
    forced = False
    say(f"run folder: {layout.root}")
    for number, name in enumerate(STAGES, 1):
        stage = STAGE_TABLE[name]
        forced = forced or name == from_stage
        tag = f"[{number}/{len(STAGES)}] {name}"
        if not stage.enabled(ctx):
            records[name] = StageRecord(name, "not configured")
            say(f"{tag}: not configured")
            continue
        inputs = stage.inputs(ctx)
        input_hash = stable_hash(inputs)
        previous = layout.read_manifest(name)
        if (
            not forced
            and previous is not None
            and previous.status == "complete"
            and previous.input_hash == input_hash
            and previous.intact(layout.root)
        ):
            ctx.done[name] = previous
            records[name] = StageRecord(name, "skipped", 0.0, "inputs unchanged", previous)
            say(f"{tag}: skipped (inputs unchanged)")
            continue
        reason = _reason(previous, input_hash, forced)
        say(f"{tag}: running ({reason})")
        records[name] = _run_stage(ctx, name, inputs, input_hash, reason, tag)
    return _finish(ctx, records, started, started_at, src, overrides)


def _run_stage(
    ctx: StageContext,
    name: str,
    inputs: dict[str, str],
    input_hash: str,
    reason: str,
    tag: str,
) -> StageRecord:
    from vqaft import __version__

    layout = ctx.layout
    began = time.perf_counter()
    running = StageManifest(
        stage=name,
        status="running",
        input_hash=input_hash,
        inputs=inputs,
        started_at=now_iso(),
        vqaft_version=__version__,
    )
    layout.write_manifest(running)
    ctx.inputs = inputs
    ctx.input_hash = input_hash
    try:
        output = STAGE_TABLE[name].run(ctx)
    except BaseException as exc:
        seconds = round(time.perf_counter() - began, 3)
        layout.write_manifest(
            running.model_copy(
                update={
                    "status": "failed",
                    "finished_at": now_iso(),
                    "seconds": seconds,
                    "error": _error_record(exc),
                }
            )
        )
        ctx.echo(f"{tag}: failed after {seconds:.1f} s")
        raise
    seconds = round(time.perf_counter() - began, 3)
    manifest = running.model_copy(
        update={
            "status": "complete",
            "outputs": layout.digests(output.files),
            "details": output.details,
            "finished_at": now_iso(),
            "seconds": seconds,
        }
    )
    layout.write_manifest(manifest)
    ctx.done[name] = manifest
    ctx.echo(f"{tag}: done in {seconds:.1f} s")
    return StageRecord(name, "ran", seconds, reason, manifest)


def _finish(
    ctx: StageContext,
    records: Mapping[str, StageRecord],
    started: float,
    started_at: str,
    source: str | Path | None,
    overrides: Sequence[str],
) -> RunResult:
    from vqaft import __version__

    layout = ctx.layout
    report = ctx.done.get("report")
    numbers = None
    if report is not None and isinstance(report.details.get("headline"), dict):
        numbers = Headline.model_validate(report.details["headline"])
    finetune = ctx.done.get("finetune")
    model = None if finetune is None else finetune.details.get("fine_tuned_model")
    stages = {name: record.to_dict() for name, record in records.items()}
    md, _ = write_index(
        layout,
        title=ctx.experiment.name,
        description=ctx.experiment.description,
        headline=numbers,
        stages=stages,
        extra=[RUN_FILE],
    )
    seconds = round(time.perf_counter() - started, 3)
    html = layout.report / "report.html"
    artefacts = layout.artefacts()
    if RUN_FILE not in {a["path"] for a in artefacts}:
        artefacts.append({"path": RUN_FILE, "bytes": None, "stage": "run"})
    write_json_atomic(
        layout.run_file,
        {
            "vqaft_version": __version__,
            "experiment": {
                "name": ctx.experiment.name,
                "file": None if source is None else str(source),
                "overrides": list(overrides),
                "resolved": "experiment.json",
            },
            "started_at": started_at,
            "finished_at": now_iso(),
            "seconds": seconds,
            "stages": stages,
            "fine_tuned_model": model,
            "headline": None if numbers is None else numbers.to_dict(),
            "report": layout.relative(html) if html.is_file() else None,
            "index": layout.relative(md),
            "artefacts": artefacts,
        },
    )
    return RunResult(
        run_dir=layout.root,
        stages=dict(records),
        fine_tuned_model=model if isinstance(model, str) else None,
        headline=numbers,
        report=html if html.is_file() else None,
        index=md,
        seconds=seconds,
        artefacts=artefacts,
    )
