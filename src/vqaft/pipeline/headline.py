"""The headline numbers of a run: one metric per model, each model against the baseline, and
the metric per question type.

>>> from vqaft.evaluate import EvaluationSuite, PredictionSet
>>> def preds(answers):
...     return PredictionSet.from_records(
...         [{"example_id": i, "predicted_answer": a, "actual_answer": "Yes"}
...          for i, a in enumerate(answers)])
>>> result = EvaluationSuite("lenient").run(
...     {"base": preds(["No"] * 8 + ["Yes"] * 2), "ft": preds(["Yes"] * 10)})
>>> print(headline(result, "lenient").format_text())
lenient accuracy (all questions):
  base  20.0%  (n=10)
  ft    100.0%  (n=10)
ft vs base: +80.0 points, McNemar p = 0.0078 (significant at 0.05)
by question type      n    base      ft
  Yes/No             10   20.0%  100.0%
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from vqaft.errors import ConfigError
from vqaft.evaluate.scoring import ALL
from vqaft.evaluate.suite_result import SuiteResult

__all__ = ["Headline", "HeadlineComparison", "HeadlineGroup", "HeadlineModel", "headline"]

_TEST_NAMES = {
    "mcnemar-exact": "McNemar",
    "sign-flip-permutation": "permutation test",
    "sign-flip-normal": "normal-approximation permutation test",
}


class HeadlineModel(BaseModel):
    """One model's overall score on the headline metric."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: float | None
    n: int


class HeadlineComparison(BaseModel):
    """``model`` against ``baseline`` on their shared examples (``difference = model - baseline``).

    Attributes:
        test: ``mcnemar-exact`` for pass/fail metrics, ``sign-flip-permutation`` otherwise
            (``sign-flip-normal`` for large groups).
    """

    model_config = ConfigDict(frozen=True)

    model: str
    baseline: str
    n: int
    difference: float
    low: float
    high: float
    p_value: float
    test: str
    alpha: float
    significant: bool


class HeadlineGroup(BaseModel):
    """Each model's score on the headline metric within one question type.

    Attributes:
        values: per model name, the mean (``None`` where the model has no scored item of the
            type).
    """

    model_config = ConfigDict(frozen=True)

    group: str
    n: int
    values: dict[str, float | None]


class Headline(BaseModel):
    """The numbers a run ends with: overall, each comparison, and per question type."""

    model_config = ConfigDict(frozen=True)

    metric: str
    models: list[HeadlineModel]
    comparisons: list[HeadlineComparison]
    groups: list[HeadlineGroup] = []

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return self.model_dump(mode="json")

    def format_text(self) -> str:
        """A few lines: each model's score, then each comparison with its p-value."""
        width = max((len(m.name) for m in self.models), default=0)
        lines = [f"{self.metric} accuracy (all questions):"]
        for model in self.models:
            value = "n/a" if model.value is None else f"{100 * model.value:.1f}%"
            lines.append(f"  {model.name:<{width}}  {value}  (n={model.n})")
        for c in self.comparisons:
            word = "significant" if c.significant else "not significant"
            test = _TEST_NAMES.get(c.test, c.test)
            lines.append(
                f"{c.model} vs {c.baseline}: {100 * c.difference:+.1f} points, "
                f"{test} p = {c.p_value:.2g} ({word} at {c.alpha:g})"
            )
        if self.groups:
            names = [m.name for m in self.models]
            group_width = max(len("by question type"), *(len(g.group) for g in self.groups))
            columns = [max(len(name), 6) for name in names]
            header = "  ".join(f"{name:>{w}}" for name, w in zip(names, columns, strict=True))
            lines.append(f"{'by question type':<{group_width}}  {'n':>5}  {header}")
            for group in self.groups:
                cells = "  ".join(
                    f"{_percent(group.values.get(name)):>{w}}"
                    for name, w in zip(names, columns, strict=True)
                )
                lines.append(f"  {group.group:<{group_width - 2}}  {group.n:>5}  {cells}")
        return "\n".join(lines)


def headline(result: SuiteResult, metric: str, baseline: str | None = None) -> Headline:
    """The headline of a suite result: ``metric`` per model, each model against ``baseline``.

    Args:
        result: the evaluation.
        metric: an evaluator label of the suite (``"lenient"``).
        baseline: the model compared against (default: the first model).

    Raises:
        ConfigError: ``metric`` is not one of the suite's evaluators, or ``baseline`` is not a
            model of the result.
    """
    names = list(result.models)
    if not names:
        raise ConfigError("the evaluation holds no model")
    labels = list(result.suite.evaluators)
    if metric not in labels:
        raise ConfigError(
            f"key 'report.headline_metric': {metric!r} is not an evaluator of the suite",
            hint="evaluators: " + ", ".join(labels),
        )
    base = baseline or names[0]
    if base not in result.models:
        raise ConfigError(
            f"key 'report.baseline': no model named {base!r}", hint="models: " + ", ".join(names)
        )
    models = []
    for name, model in result.models.items():
        summary = model.overall.summaries.get(metric)
        models.append(
            HeadlineModel(
                name=name,
                value=None if summary is None else summary.mean,
                n=0 if summary is None else summary.n,
            )
        )
    comparisons = []
    for name in names:
        if name == base:
            continue
        found = _paired(result, name, base, metric)
        if found is not None:
            comparisons.append(found)
    return Headline(
        metric=metric,
        models=models,
        comparisons=comparisons,
        groups=_groups(result, metric),
    )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _groups(result: SuiteResult, metric: str) -> list[HeadlineGroup]:
    """Per question type (in the order of the first model that has it), each model's mean."""
    order: list[str] = []
    for model in result.models.values():
        for group in model.groups.get("question_type", {}):
            if group not in order:
                order.append(group)
    groups = []
    for group in order:
        values: dict[str, float | None] = {}
        n = 0
        for name, model in result.models.items():
            found = model.groups.get("question_type", {}).get(group)
            summary = None if found is None else found.summaries.get(metric)
            values[name] = None if summary is None else summary.mean
            n = max(n, 0 if found is None else found.n_items)
        groups.append(HeadlineGroup(group=group, n=n, values=values))
    return groups


def _paired(result: SuiteResult, model: str, base: str, metric: str) -> HeadlineComparison | None:
    for comparison in result.comparisons:
        if {comparison.a, comparison.b} != {model, base}:
            continue
        paired = comparison.result.comparisons.get(ALL, {}).get(metric)
        if paired is None:
            return None
        sign = 1.0 if comparison.a == model else -1.0
        low, high = paired.interval.low, paired.interval.high
        if sign < 0:
            low, high = -high, -low
        return HeadlineComparison(
            model=model,
            baseline=base,
            n=paired.n,
            difference=sign * paired.difference,
            low=low,
            high=high,
            p_value=paired.p_value,
            test=paired.test,
            alpha=paired.alpha,
            significant=paired.significant,
        )
    return None
