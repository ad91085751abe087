"""EvaluationSuite: evaluators + question typing + grouping, run over one or more models.

A suite is the object teams import to evaluate their fine-tunes the same way every time::

    from vqaft.evaluate import EvaluationSuite

    suite = EvaluationSuite(["exact", "lenient", "fuzzy:threshold=90", "anls"],
                            group_by=["question_type", "openness"])
    result = suite.run({"fine-tuned": "preds/ft.jsonl", "gpt-4o": "preds/4o.jsonl"},
                       gold="runs/x/data/test.ids.jsonl")
    result.models["fine-tuned"].overall.summaries["exact"].interval
    result.comparison("fine-tuned", "gpt-4o").result.comparisons["All"]["exact"].verdict()

or declared in a TOML/JSON file (see :class:`~vqaft.evaluate.spec.SuiteFile`)::

    suite = EvaluationSuite.from_file("suite.toml")

What a run does, per model: load the predictions (bad lines are listed and left out unless
``on_error="raise"``); attach gold answers from ``gold`` (a gold file wins over the lines' own
``actual_answer``; predictions without gold are left out and listed; gold ids without a
prediction are listed as *missing*); score every item with every evaluator (an evaluator that
raises on an item leaves an error record on that item, the run goes on); summarise overall and
per group with intervals; then compare every pair of models on their shared example ids.

Rating evaluators (an LLM judge) fit in as ordinary evaluators. An evaluator that declares
``ratings`` (its rating labels, best first) or puts ``details["rating"]`` on its scores gets a
rating distribution per group; items it could not rate (it raised, or ``score_items``
returned an exception for them) count as *unjudged*. Such evaluators are scored with details,
through the first of these methods they have:

* ``score_items(predictions, golds, questions) -> Sequence[ItemScore | BaseException]``
  (the evaluator batches and caches as it likes; an exception marks an unscored item);
* a native ``async def ascore(...)``, run concurrently (``concurrency`` at a time);
* ``score(...)`` item by item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from vqaft.datasets.base import OnError, SkippedItem
from vqaft.errors import ConfigError, EvaluationError, PredictionsFileError
from vqaft.evaluate._detailed import rating_scales, score_detailed, wants_details
from vqaft.evaluate.base import Evaluator, ItemScore, evaluator_info, gold_tuple
from vqaft.evaluate.gold import GoldSet, gold_from_mapping, load_gold
from vqaft.evaluate.predictions import PredictionRecord, PredictionSet, load_predictions
from vqaft.evaluate.question_types import OCR_VQA_TYPES, QuestionClassifier, question_classifier
from vqaft.evaluate.scoring import (
    ALL,
    EvaluationResult,
    GroupResult,
    ItemResult,
    compare_results,
    score_predictions,
)
from vqaft.evaluate.spec import (
    GROUPINGS,
    EvaluatorLike,
    SuiteFile,
    build_evaluators,
    classifier_from_file,
    evaluators_from_file,
    load_suite_file,
)
from vqaft.evaluate.statistics import NORMAL_MIN_N, Summary, summarize
from vqaft.evaluate.suite_result import (
    CLOSED,
    JUDGE_RATINGS,
    OPEN,
    Grouping,
    ModelComparison,
    ModelResult,
    RatingDistribution,
    SuiteInfo,
    SuiteResult,
)

__all__ = [
    "CLOSED",
    "DEFAULT_EVALUATORS",
    "JUDGE_RATINGS",
    "OPEN",
    "EvaluationSuite",
    "ModelComparison",
    "ModelResult",
    "RatingDistribution",
    "SuiteInfo",
    "SuiteResult",
]  # the result types live in vqaft.evaluate.suite_result and are re-exported here

DEFAULT_EVALUATORS: tuple[str, ...] = ("exact", "lenient", "normalized", "fuzzy", "anls")
"""The evaluators of :meth:`EvaluationSuite.default`."""

PredictionsLike = str | Path | PredictionSet
GoldLike = str | Path | GoldSet | Mapping[str, str | Sequence[str]]
ClassifierLike = QuestionClassifier | Mapping[str, str] | Callable[[str], str] | None


# -- the suite --------------------------------------------------------------------------------


class EvaluationSuite:
    """Evaluators, a question classifier and groupings, run over one or more prediction sets.

    Args:
        evaluators: a spec list string (``"exact,fuzzy:threshold=90"``), a sequence of names,
            spec strings, :class:`~vqaft.evaluate.spec.EvaluatorSpec` or instances, or a mapping
            ``{label: ...}``; default :data:`DEFAULT_EVALUATORS`.
        classifier: question typing: ``None`` (OCR-VQA), a mapping ``{question: type}``, a
            function, or a :class:`~vqaft.evaluate.question_types.QuestionClassifier`.
        closed_types: the closed types (default ``["Yes/No"]``).
        group_by: groupings to report besides "All": ``"question_type"``, ``"openness"``.
        primary: the evaluator label for disagreements (default: the first pass/fail one).
        confidence: level of every interval.
        alpha: significance level of comparisons.
        n_resamples: bootstrap and permutation resamples.
        seed: resampling seed.
        normal_min_n: groups of at least this many items use the normal approximation for
            continuous means and comparisons instead of resampling (much faster, agrees to
            about 1e-3; see :data:`~vqaft.evaluate.statistics.NORMAL_MIN_N`); ``0`` always
            resamples.
        on_error: ``"skip"`` lists bad input and goes on; ``"raise"`` stops at the first.
        details: keep every evaluator's per-item ``details`` (slower: no vectorised path).
        concurrency: items scored at once by async evaluators.
        name, description: shown in reports.

    Raises:
        UnknownComponentError: an unknown evaluator name (with "did you mean").
        ConfigError: bad settings or options.

    >>> suite = EvaluationSuite("exact,lenient")
    >>> preds = PredictionSet.from_records(
    ...     [{"example_id": 1, "predicted_answer": "travel", "actual_answer": "Travel"}])
    >>> suite.run({"m": preds}).models["m"].overall.summaries["lenient"].mean
    1.0
    """

    def __init__(
        self,
        evaluators: str | Sequence[EvaluatorLike] | Mapping[str, EvaluatorLike] = (
            DEFAULT_EVALUATORS
        ),
        *,
        classifier: ClassifierLike = None,
        closed_types: Sequence[str] | None = None,
        group_by: Sequence[Grouping] = ("question_type",),
        primary: str | None = None,
        confidence: float = 0.95,
        alpha: float = 0.05,
        n_resamples: int = 2000,
        seed: int = 0,
        normal_min_n: int = NORMAL_MIN_N,
        on_error: OnError = "skip",
        details: bool = False,
        concurrency: int = 8,
        name: str = "suite",
        description: str | None = None,
    ) -> None:
        self.evaluators: dict[str, Evaluator] = build_evaluators(evaluators)
        self.classifier = question_classifier(
            classifier, closed=None if closed_types is None else tuple(closed_types)
        )
        unknown = [g for g in group_by if g not in GROUPINGS]
        if unknown:
            raise ConfigError(
                f"unknown grouping {unknown[0]!r}", hint="choose from " + ", ".join(GROUPINGS)
            )
        if primary is not None and primary not in self.evaluators:
            raise ConfigError(
                f"primary evaluator {primary!r} is not in the suite",
                hint="labels: " + ", ".join(self.evaluators),
            )
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if not 0 < confidence < 1 or not 0 < alpha < 1:
            raise ConfigError("confidence and alpha must lie strictly between 0 and 1")
        if n_resamples <= 0 or concurrency <= 0:
            raise ConfigError("n_resamples and concurrency must be positive")
        if isinstance(normal_min_n, bool) or not isinstance(normal_min_n, int) or normal_min_n < 0:
            raise ConfigError(
                f"normal_min_n must be a whole number >= 0, got {normal_min_n!r}",
                hint=f"e.g. {NORMAL_MIN_N}; 0 always resamples",
            )
        self.group_by: tuple[Grouping, ...] = tuple(dict.fromkeys(group_by))
        self.primary = primary
        self.confidence = confidence
        self.alpha = alpha
        self.n_resamples = n_resamples
        self.seed = seed
        self.normal_min_n = normal_min_n
        self.on_error: OnError = on_error
        self.details = details
        self.concurrency = concurrency
        self.name = name
        self.description = description

    def __repr__(self) -> str:
        return (
            f"EvaluationSuite(name={self.name!r}, evaluators={list(self.evaluators)!r}, "
            f"classifier={self.classifier.name!r}, group_by={list(self.group_by)!r})"
        )

    @classmethod
    def default(cls, **options: Any) -> EvaluationSuite:
        """The default suite: exact, lenient, normalized, fuzzy and ANLS, by question type."""
        return cls(DEFAULT_EVALUATORS, **options)

    @classmethod
    def from_config(
        cls, config: SuiteFile, *, path: str | Path | None = None, **overrides: Any
    ) -> EvaluationSuite:
        """Build a suite from a validated :class:`~vqaft.evaluate.spec.SuiteFile`.

        ``overrides`` replace the file's values (e.g. ``evaluators=...`` from the command line).
        """
        options: dict[str, Any] = {
            "classifier": classifier_from_file(config, path),
            "closed_types": config.closed_types,
            "group_by": tuple(config.group_by),
            "primary": config.primary,
            "confidence": config.confidence,
            "alpha": config.alpha,
            "n_resamples": config.n_resamples,
            "seed": config.seed,
            "normal_min_n": config.normal_min_n,
            "on_error": config.on_error,
            "details": config.details,
            "concurrency": config.concurrency,
            "name": config.name,
            "description": config.description,
        }
        if "evaluators" in overrides and "primary" not in overrides:
            options["primary"] = None  # the file's primary may not be among the new evaluators
        options.update(overrides)
        evaluators = options.pop("evaluators", None)
        if evaluators is None:
            evaluators = evaluators_from_file(config, path)
        return cls(evaluators, **options)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> EvaluationSuite:
        """Load a suite from a TOML or JSON file (see :class:`~vqaft.evaluate.spec.SuiteFile`).

        Raises:
            ConfigError: the file is unreadable or invalid; the message names the key.
        """
        return cls.from_config(load_suite_file(path), path=path, **overrides)

    # -- running ----------------------------------------------------------------------------

    def run(
        self,
        prediction_sets: Mapping[str, PredictionsLike]
        | Sequence[PredictionsLike]
        | PredictionsLike,
        gold: GoldLike | None = None,
    ) -> SuiteResult:
        """Score every prediction set and compare every pair of models.

        Args:
            prediction_sets: ``{model name: predictions file or PredictionSet}``; a sequence
                (or a single one) is named by file stem.
            gold: a gold file (``<split>.ids.jsonl`` or any JSONL with example_id and answers),
                a :class:`~vqaft.evaluate.gold.GoldSet`, or ``{example_id: answers}``; default:
                each line's own ``actual_answer``.

        Raises:
            PredictionsFileError, EvaluationError: unreadable input, or any bad input when
                ``on_error="raise"``.
            ConfigError: no prediction sets.
        """
        named = _name_sets(prediction_sets)
        gold_set = self._gold(gold)
        partial = {name: self._run_one(name, p, gold_set) for name, p in named.items()}
        scales = rating_scales(
            self.evaluators, [it for m in partial.values() for it in m.evaluation.items]
        )
        models = {
            name: m.model_copy(update={"ratings": self._ratings(m.evaluation, scales)})
            for name, m in partial.items()
        }
        primary = self.primary or _first_pass_fail(models, list(self.evaluators))
        comparisons = []
        names = list(models)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                comparisons.append(
                    ModelComparison(
                        a=a,
                        b=b,
                        result=compare_results(
                            models[a].evaluation,
                            models[b].evaluation,
                            alpha=self.alpha,
                            confidence=self.confidence,
                            n_resamples=self.n_resamples,
                            seed=self.seed,
                            normal_min_n=self.normal_min_n,
                        ),
                    )
                )
        from vqaft import __version__

        return SuiteResult(
            suite=SuiteInfo(
                name=self.name,
                description=self.description,
                evaluators={label: evaluator_info(e) for label, e in self.evaluators.items()},
                rating_scales=scales,
                classifier=self.classifier.name,
                closed_types=tuple(sorted(self.classifier.closed)),
                group_by=self.group_by,
                primary=primary,
                confidence=self.confidence,
                alpha=self.alpha,
                n_resamples=self.n_resamples,
                seed=self.seed,
                normal_min_n=self.normal_min_n,
            ),
            vqaft_version=__version__,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            gold=None if gold_set is None else (gold_set.source or "<mapping>"),
            gold_skipped=() if gold_set is None else gold_set.skipped,
            models=models,
            comparisons=tuple(comparisons),
        )

    def _gold(self, gold: GoldLike | None) -> GoldSet | None:
        if gold is None or isinstance(gold, GoldSet):
            return gold
        if isinstance(gold, (str, Path)):
            return load_gold(gold, on_error=self.on_error)
        if isinstance(gold, Mapping):
            return gold_from_mapping(gold)
        raise ConfigError(
            f"cannot use {type(gold).__name__} as gold answers",
            hint="pass a gold file path, a GoldSet, or {example_id: answers}",
        )

    def _load(self, predictions: PredictionsLike) -> PredictionSet:
        if isinstance(predictions, PredictionSet):
            return predictions
        return load_predictions(predictions, require_gold=False, on_error=self.on_error)

    def _attach_gold(
        self, loaded: PredictionSet, gold: GoldSet | None
    ) -> tuple[PredictionSet, tuple[str, ...], tuple[str, ...]]:
        """Records with gold answers, plus missing ids and gold mismatches."""
        kept: list[PredictionRecord] = []
        skipped = list(loaded.skipped)
        mismatches: list[str] = []
        for record in loaded.records:
            if gold is not None:
                entry = gold.entries.get(record.example_id)
                if entry is None:
                    problem = EvaluationError(
                        "prediction has no gold answer in the gold file",
                        file=loaded.source,
                        line=record.line,
                        example_id=record.example_id,
                        hint=f"check that it and {gold.source or 'the gold answers'} come from "
                        "the same split",
                    )
                else:
                    if record.actual_answer is not None and record.actual_answer != entry.answers:
                        mismatches.append(record.example_id)
                    kept.append(
                        record.model_copy(
                            update={
                                "actual_answer": entry.answers,
                                "question": record.question or entry.question,
                            }
                        )
                    )
                    continue
            elif record.actual_answer is not None or record.failed:
                kept.append(record)
                continue
            else:
                problem = PredictionsFileError(
                    "prediction has no gold answer (no actual_answer, and no gold file given)",
                    file=loaded.source,
                    line=record.line,
                    example_id=record.example_id,
                    hint="add actual_answer to the line, or pass the gold file (--gold)",
                )
            if self.on_error == "raise":
                raise problem
            skipped.append(
                SkippedItem(
                    reason=problem.message,
                    file=problem.file,
                    line=problem.line,
                    example_id=problem.example_id,
                )
            )
        missing: tuple[str, ...] = ()
        if gold is not None:
            present = {r.example_id for r in loaded.records}
            missing = tuple(i for i in gold.entries if i not in present)
        prepared = PredictionSet(records=tuple(kept), source=loaded.source, skipped=tuple(skipped))
        return prepared, missing, tuple(mismatches)

    def _run_one(
        self, name: str, predictions: PredictionsLike, gold: GoldSet | None
    ) -> ModelResult:
        prepared, missing, mismatches = self._attach_gold(self._load(predictions), gold)
        detailed = {k: e for k, e in self.evaluators.items() if wants_details(e)}
        cheap = {k: e for k, e in self.evaluators.items() if k not in detailed}
        if not detailed:
            evaluation = self._score(prepared, cheap)
        else:
            evaluation = self._score_with_details(prepared, cheap, detailed)
        groups: dict[str, dict[str, GroupResult]] = {}
        if "question_type" in self.group_by:
            groups["question_type"] = {k: g for k, g in evaluation.groups.items() if k != ALL}
        if "openness" in self.group_by:
            groups["openness"] = self._openness_groups(evaluation)
        return ModelResult(
            name=name,
            source=prepared.source,
            evaluation=evaluation,
            groups=groups,
            missing=missing,
            gold_mismatches=mismatches,
        )

    def _score(self, prepared: PredictionSet, evaluators: dict[str, Evaluator]) -> EvaluationResult:
        """Score ``prepared`` with ``evaluators`` under the suite's settings."""
        return score_predictions(
            prepared,
            evaluators,
            classifier=self.classifier,
            details=self.details,
            confidence=self.confidence,
            n_resamples=self.n_resamples,
            seed=self.seed,
            normal_min_n=self.normal_min_n,
        )

    # -- evaluators that need per-item details (judges) ---------------------------------------

    def _score_with_details(
        self,
        prepared: PredictionSet,
        cheap: dict[str, Evaluator],
        detailed: dict[str, Evaluator],
    ) -> EvaluationResult:
        if cheap:
            base = self._score(prepared, cheap)
            items = list(base.items)
            base_groups: dict[str, GroupResult] = dict(base.groups)
        else:
            items = _skeleton_items(prepared, self.classifier)
            base_groups = {}
        live = [i for i, item in enumerate(items) if item.failed is None]
        predictions = [str(items[i].prediction) for i in live]
        golds = [gold_tuple(items[i].gold) for i in live]
        questions = [items[i].question for i in live]
        extra_scores: list[dict[str, ItemScore]] = [{} for _ in items]
        extra_errors: list[dict[str, str]] = [{} for _ in items]
        for label, instance in detailed.items():
            outcomes = score_detailed(instance, predictions, golds, questions, self.concurrency)
            for position, index in enumerate(live):
                outcome = outcomes[position]
                if isinstance(outcome, ItemScore):
                    extra_scores[index][label] = outcome
                else:
                    extra_errors[index][label] = outcome
        merged = [
            item.model_copy(
                update={
                    "scores": {
                        k: s
                        for k in self.evaluators
                        if (s := item.scores.get(k) or extra_scores[i].get(k)) is not None
                    },
                    "errors": {
                        k: e
                        for k in self.evaluators
                        if (e := item.errors.get(k) or extra_errors[i].get(k)) is not None
                    },
                }
            )
            for i, item in enumerate(items)
        ]
        types = [item.question_type for item in merged]
        order = [ALL, *_group_order(types)]
        groups: dict[str, GroupResult] = {}
        for group in order:
            members = [it for it in merged if group == ALL or it.question_type == group]
            previous = base_groups.get(group)
            summaries, n_errors = self._summaries(members, list(detailed))
            groups[group] = GroupResult(
                group=group,
                closed=None if group == ALL else self.classifier.is_closed(group),
                n_items=len(members),
                n_failed=sum(1 for it in members if it.failed is not None),
                summaries={
                    k: (summaries[k] if k in summaries else _summary_of(previous, k))
                    for k in self.evaluators
                },
                n_errors={
                    k: (n_errors[k] if k in n_errors else _errors_of(previous, k))
                    for k in self.evaluators
                },
            )
        return EvaluationResult(
            source=prepared.source,
            models=prepared.models,
            evaluators={label: evaluator_info(e) for label, e in self.evaluators.items()},
            classifier=self.classifier.name,
            confidence=self.confidence,
            items=tuple(merged),
            groups=groups,
            skipped=prepared.skipped,
        )

    def _summaries(
        self, members: Sequence[ItemResult], labels: Sequence[str]
    ) -> tuple[dict[str, Summary], dict[str, int]]:
        summaries: dict[str, Summary] = {}
        n_errors: dict[str, int] = {}
        for label in labels:
            scored = [it.scores[label] for it in members if label in it.scores]
            values = np.fromiter((s.value for s in scored), dtype=np.float64, count=len(scored))
            verdicts = [s.passed for s in scored]
            passed: Any = verdicts if scored and all(v is not None for v in verdicts) else None
            summaries[label] = summarize(
                values,
                passed,
                confidence=self.confidence,
                n_resamples=self.n_resamples,
                seed=self.seed,
                normal_min_n=self.normal_min_n,
            )
            n_errors[label] = sum(1 for it in members if label in it.errors)
        return summaries, n_errors

    def _openness_groups(self, evaluation: EvaluationResult) -> dict[str, GroupResult]:
        groups: dict[str, GroupResult] = {}
        for group, closed in ((OPEN, False), (CLOSED, True)):
            members = [it for it in evaluation.items if it.closed is closed]
            if not members:
                continue
            summaries, n_errors = self._summaries(members, list(evaluation.evaluators))
            groups[group] = GroupResult(
                group=group,
                closed=closed,
                n_items=len(members),
                n_failed=sum(1 for it in members if it.failed is not None),
                summaries=summaries,
                n_errors=n_errors,
            )
        return groups

    def _ratings(
        self, evaluation: EvaluationResult, scales: Mapping[str, tuple[str, ...]]
    ) -> dict[str, dict[str, RatingDistribution]]:
        """Per rating evaluator, per group, how often each rating was given."""
        result: dict[str, dict[str, RatingDistribution]] = {}
        order = [g for g in evaluation.groups]
        if "openness" in self.group_by:
            order += [OPEN, CLOSED]
        for label, scale in scales.items():
            counts: dict[str, dict[str, int]] = {}
            unjudged: dict[str, int] = {}
            for it in evaluation.items:
                if it.failed is not None:
                    continue
                score = it.scores.get(label)
                rating = None if score is None else score.details.get("rating")
                member_of = [ALL, it.question_type]
                if "openness" in self.group_by:
                    member_of.append(CLOSED if it.closed else OPEN)
                for group in member_of:
                    group_counts = counts.setdefault(group, dict.fromkeys(scale, 0))
                    unjudged.setdefault(group, 0)
                    if isinstance(rating, str) and rating in group_counts:
                        group_counts[rating] += 1
                    else:
                        unjudged[group] += 1
            result[label] = {
                group: RatingDistribution(
                    ratings=scale, counts=counts[group], unjudged=unjudged[group]
                )
                for group in order
                if group in counts
            }
        return result


# -- helpers ----------------------------------------------------------------------------------


def _name_sets(
    prediction_sets: Mapping[str, PredictionsLike] | Sequence[PredictionsLike] | PredictionsLike,
) -> dict[str, PredictionsLike]:
    if isinstance(prediction_sets, (str, Path, PredictionSet)):
        prediction_sets = [prediction_sets]
    if isinstance(prediction_sets, Mapping):
        named = {str(k): v for k, v in prediction_sets.items()}
    else:
        named = {}
        for index, item in enumerate(prediction_sets):
            if isinstance(item, PredictionSet):
                base = (item.source and Path(item.source).stem) or (
                    item.models[0] if item.models else f"model{index + 1}"
                )
            else:
                base = Path(item).stem
            name, n = base, 2
            while name in named:
                name, n = f"{base}-{n}", n + 1
            named[name] = item
    if not named:
        raise ConfigError(
            "no prediction sets to evaluate", hint="pass at least one predictions file"
        )
    return named


def _skeleton_items(prepared: PredictionSet, classifier: QuestionClassifier) -> list[ItemResult]:
    items = []
    for record in prepared.records:
        gold = (record.actual_answer or ()) if record.failed else record.gold
        question_type = classifier(record.question, gold)
        items.append(
            ItemResult(
                example_id=record.example_id,
                question=record.question,
                question_type=question_type,
                closed=classifier.is_closed(question_type),
                prediction=record.predicted_answer,
                gold=gold,
                failed=None if record.error is None else str(record.error),
            )
        )
    return items


def _group_order(types: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(types))
    known = [t for t in OCR_VQA_TYPES if t in seen]
    return known + [t for t in seen if t not in known]


def _summary_of(group: GroupResult | None, label: str) -> Summary:
    if group is None or label not in group.summaries:
        return Summary(n=0, mean=None, interval=None)
    return group.summaries[label]


def _errors_of(group: GroupResult | None, label: str) -> int:
    return 0 if group is None else group.n_errors.get(label, 0)


def _first_pass_fail(models: Mapping[str, ModelResult], labels: Sequence[str]) -> str | None:
    for label in labels:
        for model in models.values():
            summary = model.overall.summaries.get(label)
            if summary is not None and summary.pass_rate is not None:
                return label
    return None
