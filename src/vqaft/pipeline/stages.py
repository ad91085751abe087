"""The six stages of a run, one function pair each: what a stage reads, and what it does.

Every stage has an ``*_inputs(ctx)`` function, returning named digests of everything that
decides its result (its config section, without operational keys such as ``concurrency``,
and the SHA-256 of the upstream files it reads), and a ``run_*(ctx)`` function that does the
work through vqaft's public API and returns the files it wrote:

=========  =====================================================  ===============================
stage      calls                                                   writes
=========  =====================================================  ===============================
prepare    ``load_adapter``, ``MessageBuilder``, ``prepare``       ``data/<split>.jsonl`` + ids
validate   ``validate_many``, ``estimate``                         ``data/validation.json``, ...
finetune   ``load_finetuner(...).fine_tune``                       ``finetune/`` (``result.json``)
predict    ``create_predictor``, ``predict_file``                  ``predictions/<model>.jsonl``
           (``mode = "batch"``: ``predict_batch``)                 (+ ``<model>.batches.json``)
evaluate   ``EvaluationSuite.from_config(...).run``                ``evaluation/suite_result.json``
report     ``write_report``                                        ``report/``
=========  =====================================================  ===============================

Resuming is the backends' own business and works because each stage reuses its folder: the
fine-tuner re-attaches to the job recorded in ``finetune/job.json``, the predictions store
skips the examples already answered, and Batch API mode re-attaches to the batches recorded in
``predictions/<model>.batches.json``. When a stage's inputs change, what the old inputs
produced there is moved aside into a ``superseded/`` folder first (never deleted), so a new
job or new predictions never mix with old ones.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vqaft.datasets.base import DatasetAdapter, few_shot_examples, load_adapter
from vqaft.errors import ConfigError, FineTuneJobError, PredictionError, VqaftError
from vqaft.evaluate.suite import EvaluationSuite
from vqaft.evaluate.suite_result import SuiteResult
from vqaft.finetune.base import load_finetuner
from vqaft.messages.builder import DEFAULT_SYSTEM_PROMPT, MessageBuilder
from vqaft.messages.estimate import MODEL_PRICES, estimate
from vqaft.messages.validate import validate_many
from vqaft.messages.writer import MANIFEST_NAME, ids_path, prepare
from vqaft.pipeline.components import build_evaluators
from vqaft.pipeline.experiment import (
    FINETUNE_DIR_REF,
    FINETUNE_REF,
    OPERATIONAL_KEYS,
    Experiment,
    MessagesSection,
    PredictModel,
)
from vqaft.pipeline.headline import headline
from vqaft.pipeline.manifest import RunLayout, StageManifest, stable_hash, write_json_atomic
from vqaft.predict.base import create_predictor
from vqaft.predict.batch import batch_state_path, predict_batch
from vqaft.predict.openai_backend import OpenAIPredictor
from vqaft.predict.runner import PredictionSummary, predict_file
from vqaft.types import Example

__all__ = [
    "PIPELINE_VERSION",
    "STAGE_TABLE",
    "Stage",
    "StageContext",
    "StageOutput",
    "build_suite",
    "pick_few_shot",
]

PIPELINE_VERSION = "1"
"""Part of every stage's inputs: a new value reruns every stage (a changed run layout)."""

SUPERSEDED = "superseded"
_INPUTS_FILE = "inputs.json"
_JUDGE_CACHE = "judge_cache.jsonl"
_SUITE_RESULT = "suite_result.json"
_PURPOSES = ("train", "validation", "test")


@dataclass
class StageContext:
    """What a stage sees: the experiment, the run folder, and the stages done before it.

    Attributes:
        experiment: the validated experiment.
        layout: the run folder.
        source: the experiment file, if any (relative paths, error messages).
        progress: show progress bars.
        echo: prints one progress line.
        done: manifests of the stages finished (run or skipped) in this run, by name.
        inputs: the current stage's inputs (set by the runner before ``run``).
        input_hash: their hash.
    """

    experiment: Experiment
    layout: RunLayout
    source: Path | None = None
    progress: bool = True
    echo: Callable[[str], None] = print
    done: dict[str, StageManifest] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    input_hash: str = ""

    @property
    def where(self) -> str | None:
        """The experiment file, for error messages."""
        return None if self.source is None else str(self.source)

    def output_digest(self, stage: str, path: Path) -> str:
        """The SHA-256 that ``stage`` recorded for ``path``.

        Raises:
            ConfigError: the stage has not run, or did not write that file.
        """
        manifest = self.done.get(stage)
        relative = self.layout.relative(path)
        if manifest is None or relative not in manifest.outputs:
            raise ConfigError(
                f"the {stage} stage has not produced {relative}",
                file=str(self.layout.manifest_path(stage)),
                hint=f"run the experiment again from the {stage} stage (--from {stage})",
            )
        return manifest.outputs[relative]

    def fine_tuned_model(self) -> str:
        """The model id the finetune stage produced.

        Raises:
            ConfigError: the finetune stage has not produced one.
        """
        manifest = self.done.get("finetune")
        model = None if manifest is None else manifest.details.get("fine_tuned_model")
        if not isinstance(model, str) or not model:
            raise ConfigError(
                f"{FINETUNE_REF!r} is used but the finetune stage produced no model",
                file=self.where,
                hint="check [finetune], or run again from it (--from finetune)",
            )
        return model


@dataclass(frozen=True)
class StageOutput:
    """What a stage wrote (files or folders) and a few facts about it."""

    files: tuple[Path, ...]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """One stage: its name, whether it applies, its inputs, and its work."""

    name: str
    enabled: Callable[[StageContext], bool]
    inputs: Callable[[StageContext], dict[str, str]]
    run: Callable[[StageContext], StageOutput]


# -- helpers ----------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """``value`` without operational keys (at any depth)."""
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if k not in OPERATIONAL_KEYS}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _section_hash(value: Any) -> str:
    return stable_hash(_clean(value))


def _keyed(ctx: StageContext, key: str, exc: Exception, hint: str | None = None) -> ConfigError:
    if isinstance(exc, VqaftError):
        message, hint = exc.message, hint or exc.hint
    else:
        message = f"{type(exc).__name__}: {exc}"
    return ConfigError(f"key {key!r}: {message}", file=ctx.where, hint=hint)


def _system_prompt(messages: MessagesSection) -> str | None:
    if messages.system_prompt is None:
        return DEFAULT_SYSTEM_PROMPT
    return messages.system_prompt or None


def _read_claims(marker: Path) -> dict[str, str]:
    """``inputs.json`` of a stage folder: which input hash each output was produced from."""
    try:
        loaded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _stale_claim(marker: Path, name: str, input_hash: str) -> str | None:
    """The input hash ``name`` was produced from, when it is not ``input_hash`` (the caller
    then moves the old output aside before producing the new one)."""
    previous = _read_claims(marker).get(name)
    return previous if previous is not None and previous != input_hash else None


def _write_claim(marker: Path, name: str, input_hash: str) -> None:
    claims = _read_claims(marker)
    claims[name] = input_hash
    write_json_atomic(marker, claims)


def _move_aside(paths: Sequence[Path], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in paths:
        if path.exists():
            shutil.move(str(path), str(target / path.name))


def _resolve_refs(value: Any, ctx: StageContext) -> Any:
    if value == FINETUNE_DIR_REF:
        return str(ctx.layout.finetune)
    if value == FINETUNE_REF:
        return ctx.fine_tuned_model()
    if isinstance(value, Mapping):
        return {k: _resolve_refs(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, ctx) for v in value]
    return value


def _data_digests(ctx: StageContext, splits: Sequence[str]) -> dict[str, str]:
    digests: dict[str, str] = {}
    for split in splits:
        path = ctx.layout.split_file(split)
        digests[f"data/{split}.jsonl"] = ctx.output_digest("prepare", path)
        digests[f"data/{split}.ids.jsonl"] = ctx.output_digest("prepare", ids_path(path))
    return digests


def _split_names(ctx: StageContext) -> list[str]:
    return list(ctx.experiment.dataset.splits)


# -- evaluation suite ---------------------------------------------------------------------------


def build_suite(ctx: StageContext) -> EvaluationSuite:
    """The evaluation suite of ``[evaluate]``, with the judge's cache in ``evaluation/``."""
    section = ctx.experiment.evaluate
    cache = ctx.layout.evaluation / _JUDGE_CACHE
    evaluators = build_evaluators(ctx.experiment, cache, ctx.source, progress=ctx.progress)
    return EvaluationSuite.from_config(
        section, path=ctx.source, evaluators=evaluators, primary=section.primary
    )


# -- prepare ----------------------------------------------------------------------------------


def pick_few_shot(
    adapter: DatasetAdapter, splits: Mapping[str, tuple[int | None, int]], k: int
) -> list[Example]:
    """One question from each of ``k`` training images just past the training sample.

    The shuffle that picks the training images continues past them, so few-shot images never
    repeat a training image and the choice is reproducible.

    Raises:
        ConfigError: few-shot examples are wanted but the train split is sampled whole.
    """
    if k <= 0:
        return []
    if "train" not in splits:
        raise ConfigError(
            "key 'messages.few_shot': few-shot examples come from the train split, which is "
            "not sampled",
            hint="add [dataset.splits.train]",
        )
    n_train, seed = splits["train"]
    if n_train is None:
        raise ConfigError(
            "key 'messages.few_shot': few-shot images must lie outside the training sample, "
            "but the train split takes every image",
            hint="sample fewer training images, or set few_shot = 0",
        )
    return few_shot_examples(adapter, k, n_train=n_train, seed=seed)


def prepare_inputs(ctx: StageContext) -> dict[str, str]:
    """The dataset and messages sections (with the system prompt resolved)."""
    experiment = ctx.experiment
    messages = _clean(experiment.messages.model_dump(mode="json"))
    messages["system_prompt"] = _system_prompt(experiment.messages)
    return {
        "pipeline": PIPELINE_VERSION,
        "dataset": _section_hash(experiment.dataset.model_dump(mode="json")),
        "messages": stable_hash(messages),
    }


def run_prepare(ctx: StageContext) -> StageOutput:
    """Sample the splits and write the chat-format files (``vqaft prepare``)."""
    dataset = ctx.experiment.dataset
    messages = ctx.experiment.messages
    try:
        adapter = load_adapter(dataset.adapter, **dataset.args)
    except TypeError as exc:
        raise _keyed(ctx, "dataset.args", exc, "check the adapter's arguments") from None
    splits = {name: (s.count, s.seed) for name, s in dataset.splits.items()}
    builder = MessageBuilder(
        _system_prompt(messages),
        few_shot=pick_few_shot(adapter, splits, messages.few_shot),
        detail=messages.detail,
        question_template=messages.question_template,
    )
    manifest = prepare(
        adapter,
        ctx.layout.data,
        splits=splits,
        builder=builder,
        policy=messages.image_policy,
        workers=messages.workers,
        on_error=dataset.on_error,
        progress=ctx.progress,
        dataset_info={"name": dataset.adapter, "args": dataset.args},
    )
    for line in manifest.summary().splitlines():
        ctx.echo(f"  {line}")
    files: list[Path] = []
    for name in manifest.splits:
        path = ctx.layout.split_file(name)
        files += [path, ids_path(path)]
    files.append(ctx.layout.data / MANIFEST_NAME)
    details = {
        name: {
            "images": split.images,
            "examples": split.examples,
            "skipped": len(split.skipped),
            "content_sha256": split.content_sha256,
        }
        for name, split in manifest.splits.items()
    }
    return StageOutput(tuple(files), {"splits": details})


# -- validate ---------------------------------------------------------------------------------


def validate_inputs(ctx: StageContext) -> dict[str, str]:
    """The data files, the validate section, and what the estimate prices."""
    experiment = ctx.experiment
    inputs = {
        "pipeline": PIPELINE_VERSION,
        "validate": _section_hash(experiment.validate_section.model_dump(mode="json")),
        **_data_digests(ctx, _split_names(ctx)),
    }
    if experiment.finetune is not None:
        inputs["estimate_for"] = stable_hash(
            [experiment.finetune.model, experiment.finetune.hyperparameters.n_epochs]
        )
    return inputs


def run_validate(ctx: StageContext) -> StageOutput:
    """Check the files against OpenAI's rules and estimate the training cost.

    Raises:
        TrainingFileError: a file breaks a rule and ``validate.fail_on_errors`` is set (the
            findings are in ``data/validation.json``).
    """
    experiment = ctx.experiment
    layout = ctx.layout
    files = {p: layout.split_file(p) for p in _PURPOSES if p in experiment.dataset.splits}
    reports = validate_many(files, progress=ctx.progress)
    report_path = write_json_atomic(layout.data / "validation.json", reports.to_dict())
    for report in reports:
        ctx.echo(f"  {report.summary()}")
    outputs = [report_path]
    details: dict[str, Any] = {
        "ok": reports.ok,
        "errors": reports.count("error"),
        "warnings": reports.count("warning"),
        "not_checked": [s for s in experiment.dataset.splits if s not in _PURPOSES],
    }
    if reports.has_errors and experiment.validate_section.fail_on_errors:
        reports.raise_for_errors()
    finetune = experiment.finetune
    if finetune is not None and experiment.validate_section.estimate:
        record: dict[str, Any]
        if _priced(finetune.model):
            result = estimate(
                layout.split_file("train"),
                epochs=finetune.hyperparameters.n_epochs,
                model=finetune.model,
            )
            record = result.to_dict()
            for line in result.format_text().splitlines():
                ctx.echo(f"  {line}")
            details["estimated_cost_usd"] = result.cost_usd
        else:
            record = {"model": finetune.model, "note": "no known price for this model"}
        outputs.append(write_json_atomic(layout.data / "estimate.json", record))
    return StageOutput(tuple(outputs), details)


def _priced(model: str) -> bool:
    """Whether ``estimate`` knows the model's price (a fine-tuned ``ft:<base>:...`` trains at
    its base model's)."""
    if model.startswith("ft:"):
        model = model.split(":")[1]
    return model in MODEL_PRICES


# -- finetune ---------------------------------------------------------------------------------


def _finetune_enabled(ctx: StageContext) -> bool:
    return ctx.experiment.finetune is not None


def finetune_inputs(ctx: StageContext) -> dict[str, str]:
    """The training and validation files and the finetune section (not ``max_cost_usd``)."""
    finetune = ctx.experiment.finetune
    if finetune is None:  # pragma: no cover - the stage is disabled then
        raise ConfigError("no [finetune] section")
    section = _clean(finetune.model_dump(mode="json"))
    section.pop("max_cost_usd", None)
    splits = ["train"] + (["validation"] if "validation" in ctx.experiment.dataset.splits else [])
    return {
        "pipeline": PIPELINE_VERSION,
        "finetune": stable_hash(section),
        **_data_digests(ctx, splits),
    }


def run_finetune(ctx: StageContext) -> StageOutput:
    """Fine-tune (or re-attach to the job already started for these inputs) and wait."""
    finetune = ctx.experiment.finetune
    if finetune is None:  # pragma: no cover - the stage is disabled then
        raise ConfigError("no [finetune] section")
    layout = ctx.layout
    folder = layout.finetune
    marker = folder / _INPUTS_FILE
    previous = _stale_claim(marker, "input_hash", ctx.input_hash)
    if previous is not None:
        target = folder / SUPERSEDED / previous[:12]
        ctx.echo(f"  the fine-tuning inputs changed: earlier job files moved to {target}")
        _move_aside([p for p in folder.iterdir() if p.name != SUPERSEDED], target)
    _write_claim(marker, "input_hash", ctx.input_hash)

    args = dict(finetune.args)
    key_env = args.pop("api_key_env", None)
    if key_env is not None:
        key = os.environ.get(str(key_env))
        if not key:
            raise ConfigError(
                f"key 'finetune.args.api_key_env': the environment variable {key_env} is not set",
                file=ctx.where,
                hint=f"export {key_env}=... before running",
            )
        args["api_key"] = key
    try:
        tuner = load_finetuner(finetune.backend, run_dir=folder, **args)
    except TypeError as exc:
        raise _keyed(ctx, "finetune.args", exc, "check the backend's options") from None
    train = layout.split_file("train")
    validation = layout.split_file("validation")
    has_validation = "validation" in ctx.experiment.dataset.splits and validation.is_file()
    result = tuner.fine_tune(
        train,
        validation if has_validation else None,
        config=finetune.job_config(),
        timeout=finetune.timeout,
    )
    model = result.job.fine_tuned_model
    if not model:
        raise FineTuneJobError(
            f"job {result.job.id} finished without naming a fine-tuned model",
            job_id=result.job.id,
            hint="check the job on the service",
        )
    result_path = write_json_atomic(folder / "result.json", result.model_dump(mode="json"))
    for line in result.summary().splitlines():
        ctx.echo(f"  {line}")
    details: dict[str, Any] = {
        "fine_tuned_model": model,
        "job_id": result.job.id,
        "trained_tokens": result.job.trained_tokens,
        "estimated_cost_usd": result.estimated_cost_usd,
        "moderation_skipped": result.moderation.skipped_examples,
    }
    if result.metrics is not None:
        details["final_metrics"] = result.metrics.final()
    return StageOutput((result_path, marker), details)


# -- predict ----------------------------------------------------------------------------------


def _model_id(ctx: StageContext, model: PredictModel) -> str:
    return ctx.fine_tuned_model() if model.model == FINETUNE_REF else model.model


def predict_inputs(ctx: StageContext) -> dict[str, str]:
    """The test file and, per model, its entry with ``@finetune`` resolved.

    A model's ``mode`` counts only when it is ``"batch"`` (so switching mode reruns its
    predictions, and online entries hash as they did before the key existed); its ``batch``
    settings are operational.
    """
    inputs = {"pipeline": PIPELINE_VERSION, **_data_digests(ctx, ["test"])}
    for model in ctx.experiment.predict.models:
        entry = _clean(model.model_dump(mode="json", exclude={"batch"}))
        if model.mode == "online":
            entry.pop("mode")
        entry["model"] = _model_id(ctx, model)
        inputs[f"model:{model.name}"] = stable_hash(entry)
    return inputs


def _batch_files(out: Path) -> list[Path]:
    """Batch mode's files for the predictions file ``out``: its state and any input files."""
    return [batch_state_path(out), *sorted(out.parent.glob(f"{out.stem}.batch-*.jsonl"))]


def _predict_online(
    ctx: StageContext, index: int, model: PredictModel, model_id: str, args: dict[str, Any]
) -> PredictionSummary:
    try:
        predictor = create_predictor(model.backend, model=model_id, **args)
    except TypeError as exc:
        raise _keyed(
            ctx, f"predict.models[{index}].args", exc, "check the backend's options"
        ) from None
    return predict_file(
        ctx.layout.split_file("test"),
        predictor,
        out=ctx.layout.predictions_file(model.name),
        concurrency=model.concurrency,
        retry_failed=model.retry_failed,
        progress=ctx.progress,
    )


def _predict_batch(
    ctx: StageContext, index: int, model: PredictModel, model_id: str, args: dict[str, Any]
) -> PredictionSummary:
    """Predict through the Batch API; the state lies next to the predictions file, in the
    predict stage's folder, so a rerun re-attaches to the batches this one created.

    Raises:
        PredictionError: ``batch.timeout`` passed with batches still running.
    """
    try:
        # The online predictor reads the same args (endpoint, key variable, request options).
        settings = OpenAIPredictor(model_id, **args)
    except TypeError as exc:
        raise _keyed(
            ctx, f"predict.models[{index}].args", exc, "check the backend's options"
        ) from None
    out = ctx.layout.predictions_file(model.name)
    summary = predict_batch(
        ctx.layout.split_file("test"),
        model_id,
        out=out,
        connection=settings.connection,
        options=settings.options,
        retry_failed=model.retry_failed,
        poll_interval=model.batch.poll_interval,
        max_wait=model.batch.timeout,
        progress=ctx.progress,
    )
    if summary.pending_batches:
        raise PredictionError(
            f"model {model.name!r}: batch(es) {', '.join(summary.pending_batches)} still "
            f"running after predict.models[{index}].batch.timeout = {model.batch.timeout} s",
            file=str(batch_state_path(out)),
            hint="they keep running on the service; run the same command again to collect "
            "them (it re-attaches to these batches and sends nothing twice)",
        )
    return summary


def run_predict(ctx: StageContext) -> StageOutput:
    """Answer the test questions with every model (resuming each predictions file, and in
    Batch API mode re-attaching to the batches already created)."""
    layout = ctx.layout
    marker = layout.predictions / _INPUTS_FILE
    files: list[Path] = [marker]
    details: dict[str, Any] = {}
    models = ctx.experiment.predict.models
    for index, model in enumerate(models):
        out = layout.predictions_file(model.name)
        model_hash = ctx.inputs[f"model:{model.name}"]
        previous = _stale_claim(marker, model.name, model_hash)
        earlier = [p for p in (out, *_batch_files(out)) if p.exists()]
        if previous is not None and earlier:
            target = layout.predictions / SUPERSEDED / f"{model.name}-{previous[:12]}"
            ctx.echo(f"  {model.name}: its settings changed; earlier predictions moved to {target}")
            _move_aside(earlier, target)
        _write_claim(marker, model.name, model_hash)
        model_id = _model_id(ctx, model)
        args = _resolve_refs(dict(model.args), ctx)
        batch = model.mode == "batch"
        ctx.echo(f"  {model.name}: {model_id} ({model.backend}{', Batch API' if batch else ''})")
        predict = _predict_batch if batch else _predict_online
        summary = predict(ctx, index, model, model_id, args)
        for line in summary.format_text().splitlines():
            if not line.startswith("rerun with --retry-failed"):
                ctx.echo(f"    {line}")
        if summary.failed_total:
            ctx.echo(
                f"    {summary.failed_total} example(s) of {model.name} failed: they count as "
                "failures in the evaluation, and are asked again whenever this stage runs "
                "(vqaft run ... --from predict)"
            )
        details[model.name] = {
            "model": model_id,
            "backend": model.backend,
            "mode": model.mode,
            "examples": summary.examples,
            "answered": summary.answered_total,
            "failed": summary.failed_total,
            "missing": summary.missing,
            "sent": summary.sent,
            "requests": summary.requests,
        }
        files.append(out)
        if batch:
            details[model.name]["batches"] = list(summary.batches)
            files.append(batch_state_path(out))
    return StageOutput(tuple(files), {"models": details})


# -- evaluate ---------------------------------------------------------------------------------


def evaluate_inputs(ctx: StageContext) -> dict[str, str]:
    """The gold answers, every predictions file, and the evaluate section."""
    layout = ctx.layout
    test = layout.split_file("test")
    inputs = {
        "pipeline": PIPELINE_VERSION,
        "evaluate": _section_hash(ctx.experiment.evaluate.model_dump(mode="json")),
        "gold": ctx.output_digest("prepare", ids_path(test)),
    }
    for model in ctx.experiment.predict.models:
        path = layout.predictions_file(model.name)
        inputs[f"predictions:{model.name}"] = ctx.output_digest("predict", path)
    return inputs


def run_evaluate(ctx: StageContext) -> StageOutput:
    """Score every model with the suite and compare them pairwise."""
    layout = ctx.layout
    suite = build_suite(ctx)
    sets = {m.name: layout.predictions_file(m.name) for m in ctx.experiment.predict.models}
    result = suite.run(sets, gold=ids_path(layout.split_file("test")))
    path = result.save(layout.evaluation / _SUITE_RESULT)
    details: dict[str, Any] = {}
    for name, model in result.models.items():
        overall = model.overall
        details[name] = {
            "items": overall.n_items,
            "failed": overall.n_failed,
            "missing": len(model.missing),
            "skipped": len(model.skipped),
            "means": {k: s.mean for k, s in overall.summaries.items()},
        }
        ctx.echo(
            f"  {name}: {overall.n_items} items, "
            + ", ".join(
                f"{k} {s.mean:.3f}" for k, s in overall.summaries.items() if s.mean is not None
            )
        )
    files = [path]
    cache = layout.evaluation / _JUDGE_CACHE
    if cache.is_file():
        files.append(cache)
    return StageOutput(tuple(files), {"models": details})


# -- report -----------------------------------------------------------------------------------


def report_inputs(ctx: StageContext) -> dict[str, str]:
    """The suite result and the report section."""
    experiment = ctx.experiment
    return {
        "pipeline": PIPELINE_VERSION,
        "report": _section_hash(experiment.report.model_dump(mode="json")),
        "experiment": stable_hash([experiment.name, experiment.description]),
        "evaluation": ctx.output_digest("evaluate", ctx.layout.evaluation / _SUITE_RESULT),
    }


def run_report(ctx: StageContext) -> StageOutput:
    """Write the report (HTML, Markdown, metrics.json, charts) and the headline numbers."""
    from vqaft.report import write_report

    section = ctx.experiment.report
    result = SuiteResult.load(ctx.layout.evaluation / _SUITE_RESULT)
    files = write_report(
        result,
        ctx.layout.report,
        charts=section.charts,
        max_rows=section.max_rows,
        near_miss_threshold=section.near_miss_threshold,
    )  # report/suite_result.json too: `vqaft report RUN_DIR` re-renders the report from it
    numbers = headline(result, section.headline_metric, section.baseline)
    if files.charts_unavailable:
        ctx.echo(f"  no charts: {files.charts_unavailable}")
    written = (*files.written(), *files.charts)
    return StageOutput(
        tuple(written),
        {
            "headline": numbers.to_dict(),
            "html": ctx.layout.relative(files.html),
            "charts": len(files.charts),
            "charts_unavailable": files.charts_unavailable,
        },
    )


def _always(ctx: StageContext) -> bool:
    return True


STAGE_TABLE: dict[str, Stage] = {
    "prepare": Stage("prepare", _always, prepare_inputs, run_prepare),
    "validate": Stage("validate", _always, validate_inputs, run_validate),
    "finetune": Stage("finetune", _finetune_enabled, finetune_inputs, run_finetune),
    "predict": Stage("predict", _always, predict_inputs, run_predict),
    "evaluate": Stage("evaluate", _always, evaluate_inputs, run_evaluate),
    "report": Stage("report", _always, report_inputs, run_report),
}
"""The stages by name, in run order."""
