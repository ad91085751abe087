"""``vqaft demo``: the bundled offline experiment, with a few knobs.

The demo experiment (``vqaft/pipeline/experiments/demo.toml``) generates synthetic book
covers (150 / 50 / 100 images by default, the cookbook's sample sizes), fine-tunes the
``local`` OCR backend on the training file, answers the test questions with the base and the
fine-tuned local model, scores them with every evaluator that needs no network and writes the
full report. Nothing is downloaded.

The LLM judge joins when an endpoint is configured: ``judge_base_url=`` (or the
``VQAFT_JUDGE_BASE_URL`` environment variable), with ``judge_model`` (``VQAFT_JUDGE_MODEL``,
default ``gpt-4o``) and the key in ``judge_api_key_env`` (``VQAFT_JUDGE_API_KEY_ENV``, default
``OPENAI_API_KEY``).

>>> sizes = {"train": 20, "validation": 5, "test": 10}
>>> result = run_demo("runs/demo", images=sizes)  # doctest: +SKIP
>>> print(result.headline.format_text())  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from vqaft.errors import ConfigError
from vqaft.evaluate.spec import parse_evaluator_spec
from vqaft.pipeline.experiment import Experiment, apply_overrides, parse_experiment, read_toml
from vqaft.pipeline.runner import RunResult, run_experiment

__all__ = [
    "DEFAULT_DEMO_DIR",
    "JUDGE_BASE_URL_ENV",
    "JUDGE_KEY_ENV_ENV",
    "JUDGE_MODEL_ENV",
    "demo_experiment",
    "demo_path",
    "run_demo",
]

DEFAULT_DEMO_DIR = Path("runs/demo")
"""Where ``vqaft demo`` puts its run by default."""

JUDGE_BASE_URL_ENV = "VQAFT_JUDGE_BASE_URL"
JUDGE_MODEL_ENV = "VQAFT_JUDGE_MODEL"
JUDGE_KEY_ENV_ENV = "VQAFT_JUDGE_API_KEY_ENV"
DEFAULT_JUDGE_MODEL = "gpt-4o"
LOCAL_BACKEND = "local"


def demo_path() -> Path:
    """The bundled demo experiment file."""
    return Path(str(resources.files("vqaft.pipeline") / "experiments" / "demo.toml"))


def demo_experiment(
    *,
    images: Mapping[str, int] | None = None,
    judge_base_url: str | None = None,
    judge_model: str | None = None,
    judge_api_key_env: str | None = None,
    overrides: Sequence[str | tuple[str, Any]] = (),
) -> Experiment:
    """The demo experiment with the given sample sizes and judge endpoint.

    Args:
        images: images per split (``{"train": 150, "validation": 50, "test": 100}`` by
            default); a split set to 0 is left out (train and test are needed).
        judge_base_url: an OpenAI-compatible endpoint for the LLM judge (default: the
            ``VQAFT_JUDGE_BASE_URL`` environment variable; unset: no judge).
        judge_model: the judge model (default ``VQAFT_JUDGE_MODEL`` or ``gpt-4o``).
        judge_api_key_env: the variable holding the judge's key (default
            ``VQAFT_JUDGE_API_KEY_ENV`` or ``OPENAI_API_KEY``).
        overrides: further ``key.path=value`` overrides, applied last.

    Raises:
        ConfigError: a bad sample size or override.
    """
    path = demo_path()
    data = read_toml(path)
    changes: list[str | tuple[str, Any]] = []
    for split, count in (images or {}).items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ConfigError(
                f"images[{split!r}] must be a whole number >= 0, got {count!r}",
                hint="e.g. --images-train 150",
            )
        if count == 0:
            data = _drop_split(data, split)
        else:
            changes.append((f"dataset.args.images.{split}", count))
    url = judge_base_url or os.environ.get(JUDGE_BASE_URL_ENV) or None
    if url:
        model = judge_model or os.environ.get(JUDGE_MODEL_ENV) or DEFAULT_JUDGE_MODEL
        key_env = judge_api_key_env or os.environ.get(JUDGE_KEY_ENV_ENV) or "OPENAI_API_KEY"
        changes.append(("evaluate.evaluators", _with_judge(data, url, model, key_env)))
    data = apply_overrides(data, [*changes, *overrides], source=path)
    return parse_experiment(data, source=path)


def _drop_split(data: dict[str, Any], split: str) -> dict[str, Any]:
    dataset = dict(data.get("dataset", {}))
    args = dict(dataset.get("args", {}))
    images = {k: v for k, v in dict(args.get("images", {})).items() if k != split}
    splits = {k: v for k, v in dict(dataset.get("splits", {})).items() if k != split}
    args["images"] = images
    dataset["args"] = args
    dataset["splits"] = splits
    return {**data, "dataset": dataset}


def _with_judge(data: Mapping[str, Any], url: str, model: str, key_env: str) -> dict[str, Any]:
    configured = dict(data.get("evaluate", {})).get("evaluators", [])
    table: dict[str, Any] = {}
    if isinstance(configured, dict):
        table.update(configured)
    else:
        for text in configured:
            spec = parse_evaluator_spec(str(text))
            table[str(spec)] = str(spec)
    table["llm_judge"] = {
        "evaluator": "llm_judge",
        "model": model,
        "base_url": url,
        "api_key_env": key_env,
    }
    return table


def _check_local_backend(experiment: Experiment) -> None:
    """Say how to install the local backend when the demo needs it and it is missing."""
    from vqaft.finetune.base import finetuners
    from vqaft.predict.base import predictors

    uses: list[tuple[str, str, list[str]]] = []
    if experiment.finetune is not None:
        uses.append(("finetune.backend", experiment.finetune.backend, finetuners.names()))
    for index, model in enumerate(experiment.predict.models):
        uses.append((f"predict.models[{index}].backend", model.backend, predictors.names()))
    for key, backend, installed in uses:
        if backend == LOCAL_BACKEND and LOCAL_BACKEND not in installed:
            raise ConfigError(
                f"the demo runs the {LOCAL_BACKEND!r} backend ({key}), which is not installed",
                hint='install it with: pip install "vqaft[local]"',
            )


def run_demo(
    run_dir: str | Path = DEFAULT_DEMO_DIR,
    *,
    images: Mapping[str, int] | None = None,
    judge_base_url: str | None = None,
    judge_model: str | None = None,
    judge_api_key_env: str | None = None,
    overrides: Sequence[str | tuple[str, Any]] = (),
    from_stage: str | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the demo experiment in ``run_dir`` (see :func:`demo_experiment` for the options).

    Like every run it resumes: running it again skips what is done.
    """
    experiment = demo_experiment(
        images=images,
        judge_base_url=judge_base_url,
        judge_model=judge_model,
        judge_api_key_env=judge_api_key_env,
        overrides=overrides,
    )
    _check_local_backend(experiment)
    recorded = [o if isinstance(o, str) else f"{o[0]}={o[1]!r}" for o in overrides]
    return run_experiment(
        experiment,
        run_dir,
        from_stage,
        source=demo_path(),
        progress=progress,
        echo=echo,
        overrides=recorded,
    )
