"""score_predictions and compare_results: grouping, statistics, failures, comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from vqaft.errors import ConfigError, PredictionsFileError, UnknownComponentError
from vqaft.evaluate import (
    ALL,
    BaseEvaluator,
    FuzzyMatch,
    ItemScore,
    PredictionSet,
    compare_results,
    score_predictions,
    wilson_interval,
)

QUESTIONS = {
    "title": "What is the title of this book?",
    "author": "Who wrote this book?",
    "genre": "What type of book is this?",
    "yes_no": "Is this a kids book?",
}


def _records(answers: list[tuple[str, str, str]], model: str) -> list[dict[str, Any]]:
    return [
        {
            "example_id": i,
            "question": QUESTIONS[kind],
            "predicted_answer": predicted,
            "actual_answer": gold,
            "model": model,
        }
        for i, (kind, predicted, gold) in enumerate(answers)
    ]


# 12 yes/no items: the fine-tune gets 11 right, the base model 8; 4 title, 2 genre, 2 author.
FT = (
    [("yes_no", "Yes", "Yes")] * 6
    + [("yes_no", "No", "No")] * 5
    + [("yes_no", "Yes", "No")]
    + [("title", "A Wrinkle in Time", "A Wrinkle in Time (Time Quintet)")]
    + [("title", "Peru", "Peru")] * 3
    + [("genre", "Travel", "Travel")] * 2
    + [("author", "Madeleine L'Engle", "Madeleine L'Engle")] * 2
)
BASE = (
    [("yes_no", "Yes", "Yes")] * 6
    + [("yes_no", "**Answer:** No", "No")] * 2
    + [("yes_no", "Yes", "No")] * 4
    + [("title", "A Wrinkle in Time", "A Wrinkle in Time (Time Quintet)")]
    + [("title", "peru", "Peru")] * 3
    + [("genre", "Travel guide", "Travel")] * 2
    + [("author", "M. L'Engle", "Madeleine L'Engle")] * 2
)


@pytest.fixture
def ft() -> PredictionSet:
    return PredictionSet.from_records(_records(FT, "ft"), source="ft.jsonl")


@pytest.fixture
def base() -> PredictionSet:
    return PredictionSet.from_records(_records(BASE, "gpt-4o"), source="4o.jsonl")


def test_groups_and_summaries(ft: PredictionSet) -> None:
    result = score_predictions(ft, ["exact", "lenient", "anls"])
    assert list(result.groups) == [ALL, "Title", "Author", "Genre", "Yes/No"]
    assert result.models == ("ft",)
    assert result.classifier == "ocr-vqa"
    yes_no = result.groups["Yes/No"]
    assert yes_no.closed is True
    assert result.groups["Title"].closed is False
    assert yes_no.n_items == 12
    exact = yes_no.summaries["exact"]
    assert (exact.n, exact.mean) == (12, 11 / 12)
    assert exact.interval == wilson_interval(11, 12)
    overall = result.groups[ALL].summaries["exact"]
    assert (overall.n, overall.mean) == (20, 18 / 20)  # the Wrinkle title is not exact
    anls = result.groups["Title"].summaries["anls"]
    assert anls.interval is not None
    assert anls.interval.method == "bootstrap"
    assert anls.pass_rate is None
    assert result.evaluators["anls"].settings == {"threshold": 0.5, "case_sensitive": False}
    first = result.items[0]
    assert (first.example_id, first.question_type, first.closed) == ("0", "Yes/No", True)
    assert first.scores["exact"].passed is True


def test_compare_two_models(ft: PredictionSet, base: PredictionSet) -> None:
    a = score_predictions(ft, ["exact", "lenient", "anls"])
    b = score_predictions(base, ["exact", "lenient", "anls"])
    comparison = compare_results(a, b)
    assert comparison.n_common == 20
    assert (comparison.a, comparison.b) == ("ft.jsonl", "4o.jsonl")
    yes_no = comparison.comparisons["Yes/No"]["exact"]
    # FT right / base wrong on 5 items (2 "**Answer:** No" + 3 of the 4 wrong "Yes"), the
    # reverse on none: exact McNemar p = 2 · (1/2)^5 = 0.0625 -> not significant.
    assert (yes_no.only_a, yes_no.only_b, yes_no.both, yes_no.neither) == (5, 0, 6, 1)
    assert yes_no.p_value == 0.0625
    assert yes_no.significant is False
    lenient = comparison.comparisons["Yes/No"]["lenient"]
    assert (lenient.only_a, lenient.only_b) == (3, 0)  # lenient forgives "**Answer:** No"
    overall = comparison.comparisons[ALL]["exact"]
    assert overall.difference == pytest.approx((18 - 6) / 20)
    assert overall.significant is True
    anls = comparison.comparisons[ALL]["anls"]
    assert anls.test == "sign-flip-permutation"


def test_compare_needs_the_same_evaluators(ft: PredictionSet, base: PredictionSet) -> None:
    a = score_predictions(ft, ["exact"])
    b = score_predictions(base, {"exact": FuzzyMatch()})
    with pytest.raises(ConfigError, match="different evaluators"):
        compare_results(a, b)


def test_compare_reports_unmatched_ids(ft: PredictionSet) -> None:
    a = score_predictions(ft, ["exact"])
    partial = PredictionSet.from_records(_records(FT[:5], "other"))
    b = score_predictions(partial, ["exact"])
    comparison = compare_results(a, b)
    assert comparison.n_common == 5
    assert len(comparison.only_in_a) == 15
    assert comparison.only_in_b == ()


class _Explosive(BaseEvaluator):
    """Raises on predictions containing "boom"; its batch path always raises."""

    name = "explosive"

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        if "boom" in prediction:
            raise RuntimeError("kaboom")
        return ItemScore(value=1.0, passed=True)


def test_a_raising_evaluator_is_recorded_per_item() -> None:
    predictions = PredictionSet.from_records(
        [
            {"example_id": 1, "predicted_answer": "fine", "actual_answer": "x"},
            {"example_id": 2, "predicted_answer": "boom", "actual_answer": "x"},
            {"example_id": 3, "predicted_answer": "fine", "actual_answer": "x"},
        ]
    )
    result = score_predictions(predictions, [_Explosive(), "exact"])
    errors = {it.example_id: it.errors for it in result.items}
    assert errors == {"1": {}, "2": {"explosive": "RuntimeError: kaboom"}, "3": {}}
    assert "explosive" not in result.items[1].scores
    assert "exact" in result.items[1].scores  # other evaluators are unaffected
    group = result.groups[ALL]
    assert group.n_errors == {"explosive": 1, "exact": 0}
    assert group.summaries["explosive"].n == 2
    assert group.summaries["exact"].n == 3


def test_failed_predictions_are_counted_not_scored() -> None:
    predictions = PredictionSet.from_records(
        [
            {"example_id": 1, "predicted_answer": "Yes", "actual_answer": "Yes"},
            {"example_id": 2, "predicted_answer": None, "actual_answer": "No", "error": "429"},
            {"example_id": 3, "predicted_answer": None, "error": "timeout"},  # no gold either
            {"example_id": 4, "predicted_answer": "Travel", "actual_answer": "History"},
        ]
    )
    result = score_predictions(predictions, ["exact"])
    group = result.groups[ALL]
    assert (group.n_items, group.n_failed) == (4, 2)
    assert group.summaries["exact"].n == 2
    assert group.summaries["exact"].mean == 0.5
    assert result.items[1].failed == "429"
    assert result.items[1].scores == {}
    # No question text: typed from the gold answers.
    assert [it.question_type for it in result.items] == ["Yes/No", "Yes/No", "Unknown", "Unknown"]


def test_missing_gold_is_an_error() -> None:
    predictions = PredictionSet.from_records([{"example_id": 1, "predicted_answer": "Yes"}])
    with pytest.raises(PredictionsFileError, match="no gold answer"):
        score_predictions(predictions, ["exact"])


def test_labels_tell_one_evaluator_apart_from_itself(ft: PredictionSet) -> None:
    result = score_predictions(
        ft, {"fuzzy90": "fuzzy", "fuzzy60": FuzzyMatch(threshold=60)}, details=True
    )
    title = result.groups["Title"]
    # "A Wrinkle in Time" vs its gold: similarity 70.8, so it passes at 60 but not at 90.
    assert title.summaries["fuzzy90"].pass_rate == 3 / 4
    assert title.summaries["fuzzy60"].pass_rate == 1.0
    assert result.evaluators["fuzzy60"].settings["threshold"] == 60
    wrinkle = next(it for it in result.items if it.prediction == "A Wrinkle in Time")
    assert wrinkle.scores["fuzzy90"].details["similarity"] == pytest.approx(70.8333, abs=1e-4)
    with pytest.raises(ConfigError, match="two evaluators are labelled 'fuzzy'"):
        score_predictions(ft, ["fuzzy", FuzzyMatch(threshold=60)])


def test_unknown_evaluator_name(ft: PredictionSet) -> None:
    with pytest.raises(UnknownComponentError, match="did you mean 'lenient'"):
        score_predictions(ft, ["exact", "lenent"])
    with pytest.raises(ConfigError, match="no evaluators"):
        score_predictions(ft, [])


def test_custom_classifier_and_scores_accessor(ft: PredictionSet) -> None:
    result = score_predictions(
        ft, ["exact"], classifier=lambda q: "Closed" if q.startswith("Is") else "Open"
    )
    assert list(result.groups) == [ALL, "Closed", "Open"]
    assert result.groups["Closed"].closed is False  # only "Yes/No" is closed unless told
    ids, values, passed = result.scores("exact", "Closed")
    assert len(ids) == 12
    assert values.sum() == 11
    assert passed is not None
    with pytest.raises(ConfigError, match="no evaluator labelled"):
        result.scores("anls")


def test_result_round_trips_through_json(ft: PredictionSet) -> None:
    from vqaft.evaluate import EvaluationResult

    result = score_predictions(ft, ["exact", "anls"])
    again = EvaluationResult.model_validate_json(result.model_dump_json())
    assert again == result
