"""The typed results of an :class:`~vqaft.evaluate.suite.EvaluationSuite` run.

:class:`SuiteResult` holds, per model, every item's scores and the summaries per group
(:class:`ModelResult`), rating distributions for rating evaluators (an LLM judge), and the
pairwise comparisons between models (:class:`ModelComparison`). It round-trips through JSON
(:meth:`SuiteResult.save` / :meth:`SuiteResult.load`; no pickle), which is how ``vqaft report``
re-renders a report from a run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vqaft.datasets.base import SkippedItem
from vqaft.errors import ConfigError
from vqaft.evaluate.base import EvaluatorInfo
from vqaft.evaluate.scoring import ALL, ComparisonResult, EvaluationResult, GroupResult, ItemResult

__all__ = [
    "CLOSED",
    "JUDGE_RATINGS",
    "OPEN",
    "Grouping",
    "ModelComparison",
    "ModelResult",
    "RatingDistribution",
    "SuiteInfo",
    "SuiteResult",
]

JUDGE_RATINGS: tuple[str, ...] = ("Very Similar", "Mostly Similar", "Somewhat Similar", "Incorrect")
"""The LLM judge's ratings, best first: the order used when an evaluator declares none."""

OPEN = "Open"
CLOSED = "Closed"
"""Group names of the ``openness`` grouping."""


Grouping = Literal["question_type", "openness"]
"""A grouping a suite can report besides "All"."""


class RatingDistribution(BaseModel):
    """How often a rating evaluator gave each rating over a group of items.

    Attributes:
        ratings: the rating labels, best first.
        counts: items per rating (every label present, zeros included).
        unjudged: items the evaluator could not rate (failed predictions are not counted).
    """

    model_config = ConfigDict(frozen=True)

    ratings: tuple[str, ...]
    counts: dict[str, int]
    unjudged: int = 0

    @property
    def n_judged(self) -> int:
        """Items that received a rating."""
        return sum(self.counts.values())

    def shares(self) -> dict[str, float]:
        """Share of each rating among judged items (zeros when none was judged)."""
        total = self.n_judged
        return {r: (self.counts[r] / total if total else 0.0) for r in self.ratings}


class SuiteInfo(BaseModel):
    """What produced the numbers of a :class:`SuiteResult`.

    Attributes:
        name, description: the suite's.
        evaluators: per label, the evaluator's name, version and settings.
        rating_scales: per rating evaluator label, its ratings (best first).
        classifier: the question classifier's name.
        closed_types: the closed question types.
        group_by: the groupings reported besides "All".
        primary: the evaluator label used for disagreements (first pass/fail one by default).
        confidence, alpha, n_resamples, seed: statistics settings.
        normal_min_n: groups of at least this many items used the normal approximation
            (``0``: none did; results saved before the setting existed load with ``0``, as
            they always resampled).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    description: str | None = None
    evaluators: dict[str, EvaluatorInfo]
    rating_scales: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    classifier: str
    closed_types: tuple[str, ...]
    group_by: tuple[Grouping, ...]
    primary: str | None
    confidence: float
    alpha: float
    n_resamples: int
    seed: int
    normal_min_n: int = 0


class ModelResult(BaseModel):
    """One model's results.

    Attributes:
        name: the model's name in this run.
        source: its predictions file, if any.
        evaluation: every item's scores and the per-question-type summaries.
        groups: per grouping (``question_type``, ``openness``), the groups' summaries ("All" is
            :attr:`overall`).
        ratings: per rating evaluator label, per group name ("All", types, Open/Closed), the
            rating distribution.
        missing: gold example ids this model has no prediction for.
        gold_mismatches: example ids whose own ``actual_answer`` differs from the gold file's
            (a sign that ids are misaligned).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    source: str | None
    evaluation: EvaluationResult
    groups: dict[str, dict[str, GroupResult]]
    ratings: dict[str, dict[str, RatingDistribution]] = Field(default_factory=dict)
    missing: tuple[str, ...] = ()
    gold_mismatches: tuple[str, ...] = ()

    @property
    def overall(self) -> GroupResult:
        """The "All" group."""
        return self.evaluation.groups[ALL]

    @property
    def items(self) -> tuple[ItemResult, ...]:
        """Per-item results, in input order."""
        return self.evaluation.items

    @property
    def skipped(self) -> tuple[SkippedItem, ...]:
        """Input left out: bad lines, repeated ids, predictions without gold."""
        return self.evaluation.skipped


class ModelComparison(BaseModel):
    """Model ``a`` against model ``b`` (differences are ``a - b``) on their shared ids."""

    model_config = ConfigDict(frozen=True)

    a: str
    b: str
    result: ComparisonResult


class SuiteResult(BaseModel):
    """Everything a suite run found; what reports and other projects consume.

    Attributes:
        suite: what produced the numbers.
        vqaft_version: the vqaft version that ran.
        created_at: when (ISO 8601, UTC).
        gold: the gold file, or ``None`` when gold answers came from the predictions.
        gold_skipped: lines of the gold file left out.
        models: per model name, its results (in the order given).
        comparisons: every pair of models, in the order given (``a`` before ``b``).
    """

    model_config = ConfigDict(frozen=True)

    suite: SuiteInfo
    vqaft_version: str
    created_at: str
    gold: str | None = None
    gold_skipped: tuple[SkippedItem, ...] = ()
    models: dict[str, ModelResult]
    comparisons: tuple[ModelComparison, ...] = ()

    def model(self, name: str) -> ModelResult:
        """One model's result.

        Raises:
            ConfigError: no model of that name.
        """
        if name not in self.models:
            raise ConfigError(
                f"no model named {name!r} in this result", hint="models: " + ", ".join(self.models)
            )
        return self.models[name]

    def comparison(self, a: str, b: str) -> ModelComparison:
        """The comparison of ``a`` against ``b``.

        Raises:
            ConfigError: that pair was not compared (ask for ``(b, a)`` to flip the order).
        """
        for comparison in self.comparisons:
            if (comparison.a, comparison.b) == (a, b):
                return comparison
        pairs = ", ".join(f"{c.a} vs {c.b}" for c in self.comparisons) or "none"
        raise ConfigError(f"no comparison of {a!r} against {b!r}", hint=f"compared: {pairs}")

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON (``vqaft report`` reads it back)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.model_dump_json(exclude_defaults=True), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | Path) -> SuiteResult:
        """Read a result written by :meth:`save`.

        Raises:
            ConfigError: the file cannot be read or is not a suite result.
        """
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read suite result: {exc.strerror or exc}", file=str(source)
            ) from exc
        try:
            return cls.model_validate_json(text)
        except ValueError as exc:
            raise ConfigError(
                f"not a vqaft suite result: {str(exc).splitlines()[0]}",
                file=str(source),
                hint="pass the suite_result.json written by vqaft evaluate --out",
            ) from None
