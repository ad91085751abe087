"""``metrics.json``: the stable, versioned, machine-readable summary of a suite run.

The document is a :class:`MetricsDocument` (pydantic; ``MetricsDocument.model_json_schema()``
gives its JSON Schema). ``schema_version`` is ``"MAJOR.MINOR"``: a minor bump only adds
optional fields; a major bump renames or removes something, and :func:`read_metrics` refuses a
major version it does not know. Every number sits next to what produced it: the evaluator label
keys :attr:`MetricsDocument.evaluators` (name, version, settings); every interval names its
method (``wilson``, ``bootstrap``, ``normal``, ``newcombe``, ``paired-bootstrap``,
``paired-normal``) and every comparison its test (``mcnemar-exact``,
``sign-flip-permutation``, ``sign-flip-normal``).

Versions: ``1.1`` added ``suite.normal_min_n`` (the group size from which continuous means and
comparisons use the normal approximation; a ``1.0`` file reads as ``0``, never) and the
methods ``normal`` / ``paired-normal`` and the test ``sign-flip-normal``.

Shape (abridged)::

    {"schema_version": "1.1", "vqaft_version": "0.1.0", "created_at": "...",
     "suite": {"name", "classifier", "closed_types", "group_by", "primary", "confidence", ...},
     "gold": {"source": "file" | "predictions", "file", "n_skipped", "skipped": [...]},
     "evaluators": {"exact": {"name", "version", "settings", "kind", "ratings"}},
     "models": {"ft": {"source", "n_items", "n_failed", "n_skipped", "n_missing", ...,
                       "overall": {"n_items", "n_failed", "closed",
                                   "metrics": {"exact": {"n", "mean", "interval", "pass_rate",
                                                         "pass_interval", "n_errors"}}},
                       "groups": {"question_type": {"Title": {...same as overall...}}},
                       "ratings": {"llm_judge": {"All": {"ratings", "counts", "unjudged", ...}}},
                       "skipped": [...], "missing_example_ids": [...], ...}},
     "comparisons": [{"a": "ft", "b": "base", "n_common", "only_in_a", "only_in_b",
                      "groups": {"All": {"exact": {"n", "mean_a", "mean_b", "difference",
                                                  "interval", "test", "p_value", "alpha",
                                                  "significant", "statement", ...}}}}]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vqaft.datasets.base import SkippedItem
from vqaft.errors import ConfigError
from vqaft.evaluate.scoring import ALL, GroupResult
from vqaft.evaluate.statistics import Interval, PairedComparison, Summary
from vqaft.evaluate.suite_result import RatingDistribution, SuiteResult
from vqaft.report.statements import comparison_statement

__all__ = [
    "METRICS_FILE",
    "SCHEMA_VERSION",
    "ComparisonEntry",
    "EvaluatorEntry",
    "GroupEntry",
    "IntervalEntry",
    "MetricEntry",
    "MetricsDocument",
    "ModelEntry",
    "PairedEntry",
    "RatingEntry",
    "build_metrics",
    "group_names",
    "headline",
    "read_metrics",
    "write_metrics",
]

SCHEMA_VERSION = "1.1"
"""Version of the metrics.json layout written by this vqaft."""

METRICS_FILE = "metrics.json"

EvaluatorKind = Literal["pass_fail", "continuous", "continuous_with_threshold", "rating", "unknown"]


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IntervalEntry(_Entry):
    """A confidence interval: ends, level and method."""

    low: float
    high: float
    confidence: float
    method: str


class MetricEntry(_Entry):
    """One evaluator over one group of one model.

    ``mean`` is the mean score (the pass rate for pass/fail metrics); ``pass_rate`` is set when
    the evaluator gives pass/fail verdicts; ``n`` counts scored items; ``n_errors`` items the
    evaluator failed on (not in ``n``).
    """

    n: int
    mean: float | None
    interval: IntervalEntry | None
    pass_rate: float | None = None
    pass_interval: IntervalEntry | None = None
    n_errors: int = 0


class GroupEntry(_Entry):
    """One group (All, a question type, Open/Closed) of one model."""

    n_items: int
    n_failed: int
    closed: bool | None
    metrics: dict[str, MetricEntry]


class RatingEntry(_Entry):
    """How often a rating evaluator gave each rating (best first) in one group."""

    ratings: list[str]
    counts: dict[str, int]
    unjudged: int
    n_judged: int
    shares: dict[str, float]


class SkipEntry(_Entry):
    """A line or item left out, and why."""

    reason: str
    file: str | None = None
    line: int | None = None
    example_id: str | None = None


class ModelEntry(_Entry):
    """One model: counts, overall metrics, groups, ratings, and what was left out."""

    source: str | None
    n_items: int
    n_failed: int
    n_skipped: int
    n_missing: int
    n_gold_mismatches: int
    overall: GroupEntry
    groups: dict[str, dict[str, GroupEntry]]
    ratings: dict[str, dict[str, RatingEntry]] = Field(default_factory=dict)
    skipped: list[SkipEntry] = Field(default_factory=list)
    missing_example_ids: list[str] = Field(default_factory=list)
    gold_mismatch_example_ids: list[str] = Field(default_factory=list)


class PairedEntry(_Entry):
    """Model A against model B on one metric and group (``difference = mean_a - mean_b``)."""

    n: int
    mean_a: float
    mean_b: float
    difference: float
    interval: IntervalEntry
    test: str
    p_value: float
    alpha: float
    significant: bool
    both: int | None = None
    only_a: int | None = None
    only_b: int | None = None
    neither: int | None = None
    statement: str


class ComparisonEntry(_Entry):
    """Every metric of model ``a`` against model ``b``, per group."""

    a: str
    b: str
    n_common: int
    only_in_a: int
    only_in_b: int
    groups: dict[str, dict[str, PairedEntry]]


class EvaluatorEntry(_Entry):
    """What produced a metric: name, rule version, settings, and its kind."""

    name: str
    version: str
    settings: dict[str, Any]
    kind: EvaluatorKind
    ratings: list[str] | None = None


class SuiteEntry(_Entry):
    """The suite's options."""

    name: str
    description: str | None
    classifier: str
    closed_types: list[str]
    group_by: list[str]
    primary: str | None
    confidence: float
    alpha: float
    n_resamples: int
    seed: int
    normal_min_n: int = 0  # added in 1.1; 1.0 files always resampled


class GoldInfo(_Entry):
    """Where the gold answers came from."""

    source: Literal["file", "predictions"]
    file: str | None
    n_skipped: int
    skipped: list[SkipEntry] = Field(default_factory=list)


class MetricsDocument(_Entry):
    """The whole ``metrics.json`` (see the module docstring)."""

    schema_version: str = SCHEMA_VERSION
    vqaft_version: str
    created_at: str
    suite: SuiteEntry
    gold: GoldInfo
    evaluators: dict[str, EvaluatorEntry]
    models: dict[str, ModelEntry]
    comparisons: list[ComparisonEntry] = Field(default_factory=list)


def _interval(interval: Interval | None) -> IntervalEntry | None:
    if interval is None:
        return None
    return IntervalEntry(
        low=interval.low,
        high=interval.high,
        confidence=interval.confidence,
        method=interval.method,
    )


def _metric(summary: Summary, n_errors: int) -> MetricEntry:
    return MetricEntry(
        n=summary.n,
        mean=summary.mean,
        interval=_interval(summary.interval),
        pass_rate=summary.pass_rate,
        pass_interval=_interval(summary.pass_interval),
        n_errors=n_errors,
    )


def _group(group: GroupResult) -> GroupEntry:
    return GroupEntry(
        n_items=group.n_items,
        n_failed=group.n_failed,
        closed=group.closed,
        metrics={
            label: _metric(summary, group.n_errors.get(label, 0))
            for label, summary in group.summaries.items()
        },
    )


def _rating(distribution: RatingDistribution) -> RatingEntry:
    return RatingEntry(
        ratings=list(distribution.ratings),
        counts=dict(distribution.counts),
        unjudged=distribution.unjudged,
        n_judged=distribution.n_judged,
        shares=distribution.shares(),
    )


def _skip(item: SkippedItem) -> SkipEntry:
    return SkipEntry(reason=item.reason, file=item.file, line=item.line, example_id=item.example_id)


def _kind(result: SuiteResult, label: str) -> EvaluatorKind:
    if label in result.suite.rating_scales:
        return "rating"
    for model in result.models.values():
        summary = model.overall.summaries.get(label)
        if summary is None or summary.n == 0:
            continue
        if summary.pass_rate is None:
            return "continuous"
        if summary.interval is not None and summary.interval.method == "wilson":
            return "pass_fail" if summary.mean == summary.pass_rate else "continuous_with_threshold"
        return "continuous_with_threshold"
    return "unknown"


def _paired(comparison: PairedComparison, a: str, b: str, label: str, group: str) -> PairedEntry:
    interval = _interval(comparison.interval)
    if interval is None:  # pragma: no cover - a paired comparison always has an interval
        raise ConfigError("paired comparison without an interval")
    return PairedEntry(
        n=comparison.n,
        mean_a=comparison.mean_a,
        mean_b=comparison.mean_b,
        difference=comparison.difference,
        interval=interval,
        test=comparison.test,
        p_value=comparison.p_value,
        alpha=comparison.alpha,
        significant=comparison.significant,
        both=comparison.both,
        only_a=comparison.only_a,
        only_b=comparison.only_b,
        neither=comparison.neither,
        statement=comparison_statement(comparison, a=a, b=b, label=label, group=group),
    )


def build_metrics(result: SuiteResult) -> MetricsDocument:
    """The :class:`MetricsDocument` of a suite result.

    >>> from vqaft.evaluate import EvaluationSuite, PredictionSet
    >>> preds = PredictionSet.from_records(
    ...     [{"example_id": 1, "predicted_answer": "Yes", "actual_answer": "Yes"}])
    >>> doc = build_metrics(EvaluationSuite("exact").run({"m": preds}))
    >>> doc.schema_version, doc.models["m"].overall.metrics["exact"].mean
    ('1.1', 1.0)
    """
    models: dict[str, ModelEntry] = {}
    for name, model in result.models.items():
        overall = model.overall
        models[name] = ModelEntry(
            source=model.source,
            n_items=overall.n_items,
            n_failed=overall.n_failed,
            n_skipped=len(model.skipped),
            n_missing=len(model.missing),
            n_gold_mismatches=len(model.gold_mismatches),
            overall=_group(overall),
            groups={
                grouping: {name: _group(g) for name, g in groups.items()}
                for grouping, groups in model.groups.items()
            },
            ratings={
                label: {group: _rating(d) for group, d in per_group.items()}
                for label, per_group in model.ratings.items()
            },
            skipped=[_skip(s) for s in model.skipped],
            missing_example_ids=list(model.missing),
            gold_mismatch_example_ids=list(model.gold_mismatches),
        )
    comparisons = [
        ComparisonEntry(
            a=c.a,
            b=c.b,
            n_common=c.result.n_common,
            only_in_a=len(c.result.only_in_a),
            only_in_b=len(c.result.only_in_b),
            groups={
                group: {
                    label: _paired(paired, c.a, c.b, label, group)
                    for label, paired in per_label.items()
                }
                for group, per_label in c.result.comparisons.items()
            },
        )
        for c in result.comparisons
    ]
    suite = result.suite
    return MetricsDocument(
        vqaft_version=result.vqaft_version,
        created_at=result.created_at,
        suite=SuiteEntry(
            name=suite.name,
            description=suite.description,
            classifier=suite.classifier,
            closed_types=list(suite.closed_types),
            group_by=list(suite.group_by),
            primary=suite.primary,
            confidence=suite.confidence,
            alpha=suite.alpha,
            n_resamples=suite.n_resamples,
            seed=suite.seed,
            normal_min_n=suite.normal_min_n,
        ),
        gold=GoldInfo(
            source="predictions" if result.gold is None else "file",
            file=result.gold,
            n_skipped=len(result.gold_skipped),
            skipped=[_skip(s) for s in result.gold_skipped],
        ),
        evaluators={
            label: EvaluatorEntry(
                name=info.name,
                version=info.version,
                settings=dict(info.settings),
                kind=_kind(result, label),
                ratings=(
                    list(result.suite.rating_scales[label])
                    if label in result.suite.rating_scales
                    else None
                ),
            )
            for label, info in suite.evaluators.items()
        },
        models=models,
        comparisons=comparisons,
    )


def write_metrics(source: SuiteResult | MetricsDocument, path: str | Path) -> Path:
    """Write ``metrics.json`` (indented, keys in a stable order) and return its path."""
    document = source if isinstance(source, MetricsDocument) else build_metrics(source)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return target


def read_metrics(path: str | Path) -> MetricsDocument:
    """Read and validate a ``metrics.json``.

    Raises:
        ConfigError: unreadable, not JSON, an unknown major schema version, or a field that
            does not match the schema (the message names it).
    """
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read metrics: {exc.strerror or exc}", file=str(source)) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"metrics file is not valid JSON: {exc}", file=str(source)) from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ConfigError(
            "not a vqaft metrics.json (no schema_version)",
            file=str(source),
            hint="pass the metrics.json written by vqaft evaluate --out",
        )
    version = str(data["schema_version"])
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ConfigError(
            f"metrics.json schema version {version} is not supported (this vqaft reads "
            f"{SCHEMA_VERSION.split('.')[0]}.x)",
            file=str(source),
            hint="re-run vqaft evaluate with this vqaft, or use the vqaft that wrote it",
        )
    try:
        return MetricsDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"metrics.json field {where!r}: {first['msg']}",
            file=str(source),
            hint="the file was edited or written by an incompatible tool",
        ) from None


def headline(entry: MetricEntry) -> tuple[float | None, IntervalEntry | None]:
    """The number to show for a metric: its pass rate if it has one, else its mean."""
    if entry.pass_rate is not None:
        return entry.pass_rate, entry.pass_interval
    return entry.mean, entry.interval


def group_names(document: MetricsDocument, grouping: str = "question_type") -> list[str]:
    """The groups of ``grouping`` across models, in first-seen order ("All" excluded)."""
    names: dict[str, None] = {}
    for model in document.models.values():
        names.update(dict.fromkeys(model.groups.get(grouping, {})))
    return [n for n in names if n != ALL]
