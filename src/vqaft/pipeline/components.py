"""Checks made before a run starts, and the evaluators of ``[evaluate]``.

:func:`check_components` looks up every adapter, backend and evaluator an experiment names, so
that a misspelt name fails at once (naming the key, with "did you mean") instead of after the
data is prepared and a model fine-tuned. :func:`build_evaluators` creates the evaluators of
``[evaluate]``; an ``llm_judge`` without a ``cache`` setting gets the run's cache file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vqaft._registry import Registry
from vqaft.datasets.base import dataset_adapters
from vqaft.errors import ConfigError, UnknownComponentError
from vqaft.evaluate.base import Evaluator
from vqaft.evaluate.spec import EvaluatorSpec, parse_evaluator_spec
from vqaft.evaluate.spec import build_evaluators as _build
from vqaft.finetune.base import finetuners
from vqaft.pipeline.experiment import Experiment
from vqaft.predict.base import predictors

__all__ = ["build_evaluators", "check_components"]


def check_components(experiment: Experiment, source: str | Path | None = None) -> None:
    """Check that every named adapter, backend and evaluator exists, before a run starts.

    Raises:
        ConfigError: naming the key, with "did you mean" suggestions.
    """
    where = None if source is None else str(source)

    def lookup(key: str, registry: Registry[Any], name: str) -> None:
        try:
            registry.get(name)
        except UnknownComponentError as exc:
            raise ConfigError(f"key {key!r}: {exc.message}", file=where, hint=exc.hint) from None

    lookup("dataset.adapter", dataset_adapters, experiment.dataset.adapter)
    if experiment.finetune is not None:
        lookup("finetune.backend", finetuners, experiment.finetune.backend)
    for index, model in enumerate(experiment.predict.models):
        lookup(f"predict.models[{index}].backend", predictors, model.backend)
    labels = list(build_evaluators(experiment, None, source, progress=False))
    metric = experiment.report.headline_metric
    if metric not in labels:
        raise ConfigError(
            f"key 'report.headline_metric': {metric!r} is not one of the evaluators",
            file=where,
            hint="evaluator labels: " + ", ".join(labels),
        )


def _evaluator_entries(
    experiment: Experiment,
) -> list[tuple[str, str | None, EvaluatorSpec]]:
    """(key, label, spec) per configured evaluator."""
    configured = experiment.evaluate.evaluators
    entries: list[tuple[str, str | None, EvaluatorSpec]] = []
    if isinstance(configured, dict):
        for label, value in configured.items():
            key = f"evaluate.evaluators.{label}"
            if isinstance(value, str):
                spec = parse_evaluator_spec(value)
            else:
                settings = dict(value)
                name = settings.pop("evaluator", None) or label
                spec = EvaluatorSpec(name=str(name), settings=settings)
            entries.append((key, label, spec))
    else:
        for index, text in enumerate(configured):
            entries.append((f"evaluate.evaluators[{index}]", None, parse_evaluator_spec(text)))
    return entries


def build_evaluators(
    experiment: Experiment, cache: Path | None, source: str | Path | None, *, progress: bool
) -> dict[str, Evaluator]:
    where = None if source is None else str(source)
    try:
        entries = _evaluator_entries(experiment)
    except ConfigError as exc:
        raise ConfigError(
            f"key 'evaluate.evaluators': {exc.message}", file=where, hint=exc.hint
        ) from None
    counts: dict[str, int] = {}
    for _, label, spec in entries:
        if label is None:
            counts[spec.name] = counts.get(spec.name, 0) + 1
    built: dict[str, Evaluator] = {}
    for key, label, spec in entries:
        # unlabelled repeats are told apart by their spec string, as build_evaluators does
        name = label or (str(spec) if counts.get(spec.name, 0) > 1 else spec.name)
        settings = dict(spec.settings)
        if spec.name == "llm_judge":
            if cache is not None:
                settings.setdefault("cache", str(cache))
            settings.setdefault("progress", progress)
        try:
            evaluators = _build(
                {name: EvaluatorSpec(name=spec.name, settings=settings, label=name)}
            )
        except (ConfigError, UnknownComponentError) as exc:
            raise ConfigError(f"key {key!r}: {exc.message}", file=where, hint=exc.hint) from None
        if name in built:
            raise ConfigError(
                f"key {key!r}: two evaluators are labelled {name!r}",
                file=where,
                hint="give them labels: [evaluate.evaluators] label = 'spec'",
            )
        built.update(evaluators)
    return built
