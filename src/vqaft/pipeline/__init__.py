"""Experiments: one TOML file, one resumable run folder, from data to report.

::

    from vqaft.pipeline import load_experiment, run_experiment

    experiment = load_experiment("examples/ocr-vqa-gpt4o.toml", ["finetune.suffix=covers"])
    result = run_experiment(experiment, "runs/covers")
    print(result.summary())

or the bundled offline demo::

    from vqaft.pipeline import run_demo

    print(run_demo("runs/demo").headline.format_text())

Modules: :mod:`~vqaft.pipeline.experiment` (the file's schema, loading and ``--set``
overrides), :mod:`~vqaft.pipeline.stages` (one function per stage),
:mod:`~vqaft.pipeline.manifest` (per-stage manifests and the run layout),
:mod:`~vqaft.pipeline.components` (name checks before a run, the evaluators),
:mod:`~vqaft.pipeline.runner` (:func:`run_experiment`), :mod:`~vqaft.pipeline.headline`,
:mod:`~vqaft.pipeline.index` (the page linking every file) and :mod:`~vqaft.pipeline.demo`.
See docs/experiments.md.

The names below are imported on first use, so that ``vqaft --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vqaft.pipeline.demo import demo_experiment, demo_path, run_demo
    from vqaft.pipeline.experiment import (
        FINETUNE_REF,
        Experiment,
        apply_overrides,
        load_experiment,
        parse_experiment,
        parse_override,
    )
    from vqaft.pipeline.headline import Headline, HeadlineComparison, HeadlineModel, headline
    from vqaft.pipeline.manifest import STAGES, RunLayout, StageManifest
    from vqaft.pipeline.runner import RunResult, StageRecord, run_experiment

_WHERE = {
    "demo_experiment": "demo",
    "demo_path": "demo",
    "run_demo": "demo",
    "FINETUNE_REF": "experiment",
    "Experiment": "experiment",
    "apply_overrides": "experiment",
    "load_experiment": "experiment",
    "parse_experiment": "experiment",
    "parse_override": "experiment",
    "Headline": "headline",
    "HeadlineComparison": "headline",
    "HeadlineModel": "headline",
    "headline": "headline",
    "STAGES": "manifest",
    "RunLayout": "manifest",
    "StageManifest": "manifest",
    "RunResult": "runner",
    "StageRecord": "runner",
    "run_experiment": "runner",
}

__all__ = [
    "FINETUNE_REF",
    "STAGES",
    "Experiment",
    "Headline",
    "HeadlineComparison",
    "HeadlineModel",
    "RunLayout",
    "RunResult",
    "StageManifest",
    "StageRecord",
    "apply_overrides",
    "demo_experiment",
    "demo_path",
    "headline",
    "load_experiment",
    "parse_experiment",
    "parse_override",
    "run_demo",
    "run_experiment",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"vqaft.pipeline.{module}"), name)
