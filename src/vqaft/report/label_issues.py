"""Likely label problems: answers marked wrong that look right, or gold answers that look off.

For each open question (closed yes/no questions are left out) whose prediction does not match
the gold answer after VQA normalisation, the prediction and gold are compared:

* ``prediction_contains_gold``: the gold answer appears whole-word inside the prediction
  ("Cookshack, Inc." for gold "Cookshack");
* ``gold_contains_prediction``: the prediction appears inside the gold answer ("A Wrinkle in
  Time" for gold "A Wrinkle in Time (Time Quintet)") -- often a gold answer carrying a series
  name or subtitle;
* ``near_miss``: a fuzzy similarity (rapidfuzz ``ratio`` of the normalised texts) of at least
  ``near_miss_threshold`` -- typos, transliterations, punctuation.

An example flagged for several models is more likely a label problem than a model error, so
issues are sorted by how many models were flagged, then by similarity.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from rapidfuzz import fuzz

from vqaft.evaluate.normalize import normalize_answer
from vqaft.evaluate.suite_result import SuiteResult

__all__ = ["IssueKind", "LabelIssue", "find_label_issues"]

IssueKind = Literal["prediction_contains_gold", "gold_contains_prediction", "near_miss"]

_RANK: dict[str, int] = {
    "prediction_contains_gold": 0,
    "gold_contains_prediction": 1,
    "near_miss": 2,
}
KIND_TEXT: dict[str, str] = {
    "prediction_contains_gold": "prediction contains the gold answer",
    "gold_contains_prediction": "gold answer contains the prediction",
    "near_miss": "near miss",
}


class LabelIssue(BaseModel):
    """One example whose gold answer may be wrong or too strict.

    Attributes:
        example_id: the example.
        question: its question, if known.
        question_type: its type.
        gold: its gold answers.
        kind: the strongest kind of finding among the flagged models.
        similarity: the best fuzzy similarity (0-100) of a flagged prediction to the gold.
        predictions: per flagged model, its answer.
    """

    model_config = ConfigDict(frozen=True)

    example_id: str
    question: str | None
    question_type: str
    gold: tuple[str, ...]
    kind: IssueKind
    similarity: float
    predictions: dict[str, str]


def _contains(outer: str, inner: str) -> bool:
    return bool(inner) and f" {inner} " in f" {outer} "


def _finding(
    prediction: str, gold: tuple[str, ...], near_miss_threshold: float
) -> tuple[IssueKind, float] | None:
    p = normalize_answer(prediction)
    if not p:
        return None
    normalized = [g for g in map(normalize_answer, gold) if g]
    if p in normalized:
        return None  # a match is not a label problem
    best: tuple[IssueKind, float] | None = None
    for g in normalized:
        similarity = float(fuzz.ratio(p, g))
        kind: IssueKind | None = None
        if _contains(p, g):
            kind = "prediction_contains_gold"
        elif _contains(g, p):
            kind = "gold_contains_prediction"
        elif similarity >= near_miss_threshold:
            kind = "near_miss"
        if kind is not None and (
            best is None or (_RANK[kind], -similarity) < (_RANK[best[0]], -best[1])
        ):
            best = (kind, similarity)
    return best


def find_label_issues(
    result: SuiteResult, *, near_miss_threshold: float = 85.0
) -> list[LabelIssue]:
    """Examples whose gold answer looks wrong or too strict (see the module docstring).

    Args:
        result: a suite run.
        near_miss_threshold: the fuzzy similarity (0-100) from which a non-matching prediction
            counts as a near miss.

    >>> from vqaft.evaluate import EvaluationSuite, PredictionSet
    >>> preds = PredictionSet.from_records([{"example_id": 437, "question": "Who wrote this book?",
    ...     "predicted_answer": "Cookshack, Inc.", "actual_answer": "Cookshack"}])
    >>> [i.kind for i in find_label_issues(EvaluationSuite("exact").run({"m": preds}))]
    ['prediction_contains_gold']
    """
    found: dict[str, LabelIssue] = {}
    order: list[str] = []
    for model_name, model in result.models.items():
        for item in model.items:
            if item.closed or item.failed is not None or item.prediction is None or not item.gold:
                continue
            finding = _finding(item.prediction, item.gold, near_miss_threshold)
            if finding is None:
                continue
            kind, similarity = finding
            current = found.get(item.example_id)
            if current is None:
                order.append(item.example_id)
                found[item.example_id] = LabelIssue(
                    example_id=item.example_id,
                    question=item.question,
                    question_type=item.question_type,
                    gold=item.gold,
                    kind=kind,
                    similarity=similarity,
                    predictions={model_name: item.prediction},
                )
                continue
            stronger = _RANK[kind] < _RANK[current.kind]
            found[item.example_id] = current.model_copy(
                update={
                    "kind": kind if stronger else current.kind,
                    "similarity": max(similarity, current.similarity),
                    "predictions": {**current.predictions, model_name: item.prediction},
                }
            )
    position = {example_id: i for i, example_id in enumerate(order)}
    return sorted(
        found.values(),
        key=lambda i: (-len(i.predictions), _RANK[i.kind], -i.similarity, position[i.example_id]),
    )
