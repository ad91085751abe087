"""Score a prediction set with several evaluators, per question type, and compare two models.

This is the plain-function core that :class:`EvaluationSuite`, the CLI and the reports build on::

    from vqaft.evaluate import load_predictions, score_predictions, compare_results

    ft = score_predictions(load_predictions("ft.jsonl"), ["exact", "lenient", "anls"])
    base = score_predictions(load_predictions("4o.jsonl"), ["exact", "lenient", "anls"])
    ft.groups["Yes/No"].summaries["exact"].interval      # Wilson interval of the accuracy
    compare_results(ft, base).comparisons["All"]["exact"].verdict()

Evaluators are given by registered name (default settings), as instances, or as a mapping
``{label: evaluator}`` when one evaluator is used twice with different settings. Cheap
evaluators run vectorised; an evaluator that raises is retried item by item, and the items it
fails on are recorded in :attr:`ItemResult.errors` instead of stopping the run. Failed
predictions (``error`` set in the file) are never scored and are counted per group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from vqaft.datasets.base import SkippedItem
from vqaft.errors import ConfigError, EvaluationError
from vqaft.evaluate.base import (
    BatchScores,
    Evaluator,
    EvaluatorInfo,
    ItemScore,
    create_evaluator,
    evaluator_info,
    gold_tuple,
    score_batch,
)
from vqaft.evaluate.predictions import PredictionRecord, PredictionSet
from vqaft.evaluate.question_types import OCR_VQA_TYPES, QuestionClassifier, question_classifier
from vqaft.evaluate.statistics import (
    NORMAL_MIN_N,
    PairedComparison,
    Summary,
    paired_comparison,
    summarize,
)

__all__ = [
    "ALL",
    "ComparisonResult",
    "EvaluationResult",
    "GroupResult",
    "ItemResult",
    "compare_results",
    "resolve_evaluators",
    "score_predictions",
]

ALL = "All"
"""The name of the group holding every item."""

EvaluatorsSpec = Sequence[Evaluator | str] | Mapping[str, Evaluator | str]


class ItemResult(BaseModel):
    """The scores of one prediction.

    Attributes:
        example_id: the example's id.
        question: the question text, if known.
        question_type: its type (see :mod:`vqaft.evaluate.question_types`).
        closed: whether that type is closed (yes/no).
        prediction: the model's answer (``None`` for a failed prediction).
        gold: the acceptable gold answers.
        scores: per evaluator label, the item's score (missing where the evaluator failed).
        errors: per evaluator label, why scoring this item failed.
        failed: why the prediction itself failed; such items have no scores.
    """

    model_config = ConfigDict(frozen=True)

    example_id: str
    question: str | None
    question_type: str
    closed: bool
    prediction: str | None
    gold: tuple[str, ...]
    scores: dict[str, ItemScore] = Field(default_factory=dict)
    errors: dict[str, str] = Field(default_factory=dict)
    failed: str | None = None


class GroupResult(BaseModel):
    """One group of items (all of them, or one question type) and its summaries.

    Attributes:
        group: ``"All"`` or a question type.
        closed: whether the group's type is closed (``None`` for ``"All"``).
        n_items: items in the group, failed predictions included.
        n_failed: failed predictions (not scored).
        summaries: per evaluator label, n / mean / interval over the items it scored.
        n_errors: per evaluator label, items it failed to score.
    """

    model_config = ConfigDict(frozen=True)

    group: str
    closed: bool | None
    n_items: int
    n_failed: int
    summaries: dict[str, Summary]
    n_errors: dict[str, int]


class EvaluationResult(BaseModel):
    """Everything :func:`score_predictions` found, ready for reports and comparisons.

    Attributes:
        source: the predictions file, if any.
        models: the ``model`` values seen in the predictions.
        evaluators: per label, what produced the numbers (name, version, settings).
        classifier: the question classifier's name.
        confidence: the level of every interval.
        items: per-item results, in input order.
        groups: ``"All"`` first, then each question type.
        skipped: input lines left out while loading.
    """

    model_config = ConfigDict(frozen=True)

    source: str | None
    models: tuple[str, ...]
    evaluators: dict[str, EvaluatorInfo]
    classifier: str
    confidence: float
    items: tuple[ItemResult, ...]
    groups: dict[str, GroupResult]
    skipped: tuple[SkippedItem, ...] = ()

    def scores(
        self, label: str, group: str = ALL
    ) -> tuple[list[str], NDArray[np.float64], NDArray[np.bool_] | None]:
        """Example ids, values and verdicts of one evaluator over one group (scored items only).

        Raises:
            ConfigError: no evaluator with that label.
        """
        if label not in self.evaluators:
            raise ConfigError(
                f"no evaluator labelled {label!r} in this result",
                hint="available: " + ", ".join(self.evaluators),
            )
        chosen = [
            item
            for item in self.items
            if label in item.scores and (group == ALL or item.question_type == group)
        ]
        ids = [item.example_id for item in chosen]
        values = np.fromiter(
            (item.scores[label].value for item in chosen), dtype=np.float64, count=len(chosen)
        )
        verdicts = [item.scores[label].passed for item in chosen]
        if chosen and all(v is not None for v in verdicts):
            return ids, values, np.array(verdicts, dtype=np.bool_)
        return ids, values, None


def resolve_evaluators(evaluators: EvaluatorsSpec) -> dict[str, Evaluator]:
    """Turn names, instances or a ``{label: ...}`` mapping into ``{label: evaluator}``.

    Raises:
        UnknownComponentError: an unknown evaluator name (with "did you mean").
        ConfigError: two evaluators would share a label, or the list is empty.

    >>> list(resolve_evaluators(["exact", "anls"]))
    ['exact', 'anls']
    """
    items: Iterable[tuple[str | None, Evaluator | str]]
    if isinstance(evaluators, Mapping):
        items = list(evaluators.items())
    elif isinstance(evaluators, str):
        items = [(None, evaluators)]
    else:
        items = [(None, e) for e in evaluators]
    resolved: dict[str, Evaluator] = {}
    for label, spec in items:
        instance = create_evaluator(spec) if isinstance(spec, str) else spec
        if not isinstance(instance, Evaluator):
            raise ConfigError(
                f"{instance!r} is not an evaluator",
                hint="pass a registered name or an object with name, version, settings, score()",
            )
        key = label if label is not None else str(instance.name)
        if key in resolved:
            raise ConfigError(
                f"two evaluators are labelled {key!r}",
                hint="pass a mapping {label: evaluator} to tell them apart",
            )
        resolved[key] = instance
    if not resolved:
        raise ConfigError("no evaluators given", hint="e.g. ['exact', 'lenient', 'anls']")
    return resolved


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _score_items(
    evaluator: Evaluator,
    predictions: list[str],
    golds: list[tuple[str, ...]],
    questions: list[str | None],
    *,
    details: bool,
) -> tuple[list[ItemScore | None], dict[int, str]]:
    """Score every item; returns scores (None where it failed) and errors by position."""
    if not details:
        try:
            batch: BatchScores = score_batch(evaluator, predictions, golds, questions)
        except Exception:  # noqa: S110 - a plugin's batch failed: retry item by item below
            pass
        else:
            return [batch.item(i) for i in range(len(batch))], {}
    scores: list[ItemScore | None] = []
    errors: dict[int, str] = {}
    for i, (p, g, q) in enumerate(zip(predictions, golds, questions, strict=True)):
        try:
            result = evaluator.score(p, g, question=q)
            if not isinstance(result, ItemScore):
                raise EvaluationError(f"score() returned {type(result).__name__}, not ItemScore")
        except Exception as exc:  # a plugin may fail in any way: record it, go on
            scores.append(None)
            errors[i] = _error_text(exc)
        else:
            scores.append(result)
    return scores, errors


class _Column:
    """One evaluator's scores over a sequence of items, as arrays (built once, masked per group).

    ``scored``: the item has a score; ``values``: its value (0 where unscored); ``verdict``:
    1 passed, 0 failed, -1 no verdict or unscored; ``errored``: the evaluator failed on it.
    """

    def __init__(self, items: Sequence[ItemResult], label: str) -> None:
        scores = [it.scores.get(label) for it in items]
        n = len(scores)
        self.scored = np.fromiter((s is not None for s in scores), dtype=np.bool_, count=n)
        self.values = np.fromiter(
            (0.0 if s is None else s.value for s in scores), dtype=np.float64, count=n
        )
        self.verdict = np.fromiter(
            (-1 if s is None or s.passed is None else int(s.passed) for s in scores),
            dtype=np.int8,
            count=n,
        )
        self.errored = np.fromiter((label in it.errors for it in items), dtype=np.bool_, count=n)


def _group_summary(
    column: _Column,
    mask: NDArray[np.bool_],
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
    normal_min_n: int,
) -> Summary:
    """The summary of the items in ``mask`` that ``column``'s evaluator scored, in item order."""
    chosen = mask & column.scored
    values = column.values[chosen]
    verdicts = column.verdict[chosen]
    passed = verdicts == 1 if verdicts.size and bool((verdicts >= 0).all()) else None
    return summarize(
        values,
        passed,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        normal_min_n=normal_min_n,
    )


def _group_order(types: Iterable[str]) -> list[str]:
    seen = list(dict.fromkeys(types))
    known = [t for t in OCR_VQA_TYPES if t in seen]
    return known + [t for t in seen if t not in known]


def score_predictions(
    predictions: PredictionSet | Iterable[PredictionRecord],
    evaluators: EvaluatorsSpec,
    *,
    classifier: QuestionClassifier | Mapping[str, str] | Callable[[str], str] | None = None,
    details: bool = False,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    normal_min_n: int = NORMAL_MIN_N,
) -> EvaluationResult:
    """Score predictions with several evaluators and summarise them per question type.

    Args:
        predictions: a loaded :class:`PredictionSet` or any iterable of records.
        evaluators: names, instances, or ``{label: name or instance}``.
        classifier: question typing (default: OCR-VQA); a mapping or function is accepted.
        details: score item by item to keep each evaluator's per-item ``details`` (slower);
            by default cheap evaluators run vectorised and items carry no details.
        confidence: level of every interval.
        n_resamples: bootstrap resamples for continuous means.
        seed: bootstrap seed.
        normal_min_n: groups with at least this many scored items get the normal interval for
            continuous means instead of the bootstrap (``0``: always the bootstrap); see
            :func:`~vqaft.evaluate.statistics.summarize`.

    Raises:
        PredictionsFileError: a (non-failed) record has no gold answer.
        UnknownComponentError, ConfigError: see :func:`resolve_evaluators`.

    >>> from vqaft.evaluate import PredictionSet
    >>> preds = PredictionSet.from_records([
    ...     {"example_id": 1, "predicted_answer": "Yes", "actual_answer": "Yes",
    ...      "question": "Is this a kids book?"},
    ...     {"example_id": 2, "predicted_answer": "travel", "actual_answer": "Travel",
    ...      "question": "What type of book is this?"}])
    >>> result = score_predictions(preds, ["exact", "lenient"])
    >>> result.groups["All"].summaries["exact"].mean
    0.5
    >>> result.groups["Genre"].summaries["lenient"].mean
    1.0
    """
    record_set = (
        predictions
        if isinstance(predictions, PredictionSet)
        else PredictionSet.from_records(predictions)
    )
    resolved = resolve_evaluators(evaluators)
    classify = question_classifier(classifier)

    records = list(record_set.records)
    # A failed prediction may lack its gold answer; any other record without one raises.
    golds = [r.actual_answer or () if r.failed else r.gold for r in records]
    types = [classify(r.question, g) for r, g in zip(records, golds, strict=True)]
    live = [i for i, r in enumerate(records) if not r.failed]
    live_predictions = [str(records[i].predicted_answer) for i in live]
    live_golds = [gold_tuple(golds[i]) for i in live]
    live_questions = [records[i].question for i in live]

    per_item_scores: list[dict[str, ItemScore]] = [{} for _ in records]
    per_item_errors: list[dict[str, str]] = [{} for _ in records]
    for label, instance in resolved.items():
        scores, errors = _score_items(
            instance, live_predictions, live_golds, live_questions, details=details
        )
        for position, index in enumerate(live):
            score = scores[position]
            if score is not None:
                per_item_scores[index][label] = score
            else:
                per_item_errors[index][label] = errors[position]

    items = tuple(
        ItemResult.model_construct(
            example_id=record.example_id,
            question=record.question,
            question_type=types[i],
            closed=classify.is_closed(types[i]),
            prediction=record.predicted_answer,
            gold=golds[i],
            scores=per_item_scores[i],
            errors=per_item_errors[i],
            failed=None if record.error is None else str(record.error),
        )
        for i, record in enumerate(records)
    )

    # Each evaluator's scores become arrays once; every group is a mask over them.
    columns = {label: _Column(items, label) for label in resolved}
    type_array = np.array(types, dtype=object)
    failed = np.fromiter((it.failed is not None for it in items), dtype=np.bool_, count=len(items))
    groups: dict[str, GroupResult] = {}
    for group in [ALL, *_group_order(types)]:
        mask = np.ones(len(items), dtype=np.bool_) if group == ALL else type_array == group
        groups[group] = GroupResult(
            group=group,
            closed=None if group == ALL else classify.is_closed(group),
            n_items=int(mask.sum()),
            n_failed=int((mask & failed).sum()),
            summaries={
                label: _group_summary(
                    column,
                    mask,
                    confidence=confidence,
                    n_resamples=n_resamples,
                    seed=seed,
                    normal_min_n=normal_min_n,
                )
                for label, column in columns.items()
            },
            n_errors={label: int((mask & c.errored).sum()) for label, c in columns.items()},
        )

    return EvaluationResult(
        source=record_set.source,
        models=record_set.models,
        evaluators={label: evaluator_info(e) for label, e in resolved.items()},
        classifier=classify.name,
        confidence=confidence,
        items=items,
        groups=groups,
        skipped=record_set.skipped,
    )


class ComparisonResult(BaseModel):
    """Model A against model B, per group and evaluator, on the examples both answered.

    Attributes:
        a, b: the sources (or model names) of the two results.
        n_common: examples scored in both.
        only_in_a, only_in_b: example ids present in one result only (not compared).
        comparisons: ``{group: {evaluator label: PairedComparison}}``; groups with no common
            scored example are left out.
    """

    model_config = ConfigDict(frozen=True)

    a: str | None
    b: str | None
    n_common: int
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]
    comparisons: dict[str, dict[str, PairedComparison]]


def compare_results(
    a: EvaluationResult,
    b: EvaluationResult,
    *,
    alpha: float = 0.05,
    confidence: float | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    normal_min_n: int = NORMAL_MIN_N,
) -> ComparisonResult:
    """Compare two results of the same evaluators on the same examples, pairwise by id.

    Question types come from ``a``. Pass/fail metrics get an exact McNemar test, continuous
    ones a permutation test, or its normal approximation from ``normal_min_n`` differing pairs
    on (see :func:`~vqaft.evaluate.statistics.paired_comparison`).

    Raises:
        ConfigError: the two results were produced by different evaluators or settings.
    """
    if a.evaluators != b.evaluators:
        raise ConfigError(
            "the two results were scored by different evaluators or settings",
            hint="score both prediction sets with the same evaluators before comparing",
        )
    level = a.confidence if confidence is None else confidence
    items_a = {it.example_id: it for it in a.items}
    items_b = {it.example_id: it for it in b.items}
    common = [i for i in items_a if i in items_b]
    common_a = [items_a[i] for i in common]
    common_b = [items_b[i] for i in common]
    # Each evaluator's paired scores become arrays once; every group is a mask over them.
    paired_columns = {
        label: (_Column(common_a, label), _Column(common_b, label)) for label in a.evaluators
    }
    type_array = np.array([it.question_type for it in common_a], dtype=object)
    comparisons: dict[str, dict[str, PairedComparison]] = {}
    groups = [ALL, *_group_order(it.question_type for it in common_a)]
    for group in groups:
        in_group = np.ones(len(common), dtype=np.bool_) if group == ALL else type_array == group
        per_label: dict[str, PairedComparison] = {}
        for label, (column_a, column_b) in paired_columns.items():
            chosen = in_group & column_a.scored & column_b.scored
            if not chosen.any():
                continue
            values_a, values_b = column_a.values[chosen], column_b.values[chosen]
            binary = bool(
                (column_a.verdict[chosen] >= 0).all()
                and (column_b.verdict[chosen] >= 0).all()
                and np.isin(values_a, (0.0, 1.0)).all()
                and np.isin(values_b, (0.0, 1.0)).all()
            )
            per_label[label] = paired_comparison(
                values_a,
                values_b,
                binary=binary,
                confidence=level,
                alpha=alpha,
                n_resamples=n_resamples,
                seed=seed,
                normal_min_n=normal_min_n,
            )
        if per_label:
            comparisons[group] = per_label
    return ComparisonResult(
        a=a.source or (a.models[0] if a.models else None),
        b=b.source or (b.models[0] if b.models else None),
        n_common=len(common),
        only_in_a=tuple(i for i in items_a if i not in items_b),
        only_in_b=tuple(i for i in items_b if i not in items_a),
        comparisons=comparisons,
    )
