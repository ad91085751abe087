"""Question typing: every OCR-VQA question form, and user-supplied rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vqaft.errors import ConfigError
from vqaft.evaluate.question_types import (
    AUTHOR,
    GENRE,
    OTHER,
    TITLE,
    UNKNOWN,
    YES_NO,
    QuestionClassifier,
    ocr_vqa_question_type,
    question_classifier,
)


def _expected_type(question: str) -> str:
    """The type each template must get, decided from its wording independently of the code."""
    if question == "What is the title of this book?":
        return TITLE
    if question in ("Who wrote this book?", "Who is the author of this book?"):
        return AUTHOR
    if question in ("What is the genre of this book?", "What type of book is this?"):
        return GENRE
    if question.startswith("Is this "):
        return YES_NO
    return OTHER


def test_all_66_templates_of_validation_1000(shared_dir: Path) -> None:
    data = json.loads(
        (shared_dir / "data" / "ocr-vqa" / "question-templates-val1000.json").read_text()
    )
    templates = [t["question"] for t in data["templates"]]
    assert len(templates) == data["distinct_questions"] == 66
    classify = question_classifier()
    got = {q: classify(q) for q in templates}
    assert got == {q: _expected_type(q) for q in templates}
    counts: dict[str, int] = {}
    for t in data["templates"]:
        counts[got[t["question"]]] = counts.get(got[t["question"]], 0) + t["count"]
    # Shares stated in PROVENANCE.md: title 20.8%, genre 20.8%, author 19.4%, yes/no 39.0%.
    assert counts == {TITLE: 998, GENRE: 998, AUTHOR: 931, YES_NO: 1870, OTHER: 1}
    assert sum(counts.values()) == data["total_questions"]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Is this christianity book?", YES_NO),  # no article
        ("Is this an art related book?", YES_NO),  # "an"
        ("Is this a sci-fi book?", YES_NO),
        ("Is this book related to Cookbooks, Food & Wine?", YES_NO),
        ("Is this book related to Children's Books?", YES_NO),
        ("is this book related to travel", YES_NO),  # case and missing "?"
        ("Is this a brand-new-alias book?", YES_NO),  # an alias OCR-VQA never used
        ("Does this book have a map?", YES_NO),  # any auxiliary-verb opening
        ("  WHO WROTE   this book?  ", AUTHOR),
        ("What type of book is this", GENRE),
        ("What is the edition of this book?", OTHER),
        ("Which publisher printed this book?", OTHER),
    ],
)
def test_question_forms(question: str, expected: str) -> None:
    assert ocr_vqa_question_type(question) == expected


def test_open_and_closed_are_decided_in_code() -> None:
    classify = question_classifier()
    assert classify.is_closed(YES_NO)
    assert [classify.openness(t) for t in (TITLE, AUTHOR, GENRE, OTHER, UNKNOWN)] == ["open"] * 5


def test_missing_question_is_typed_from_gold() -> None:
    classify = question_classifier()
    assert classify(None, ["Yes"]) == YES_NO
    assert classify(None, [" no "]) == YES_NO
    assert classify(None, ["Yes", "Travel"]) == UNKNOWN
    assert classify(None, ["A Wrinkle in Time"]) == UNKNOWN
    assert classify(None, []) == UNKNOWN


def test_mapping_classifier() -> None:
    classify = question_classifier({"How many pages does it have?": "Count"}, closed={"Count"})
    assert classify("how many pages does it have") == "Count"
    assert classify("Who wrote this book?") == OTHER
    assert classify.is_closed("Count")
    assert not classify.is_closed(YES_NO)


def test_function_classifier_and_passthrough() -> None:
    def by_first_word(question: str) -> str:
        return question.split()[0].lower()

    classify = question_classifier(by_first_word)
    assert classify("Where is it?") == "where"
    assert classify.name == "by_first_word"
    assert question_classifier(classify) is classify
    assert question_classifier(classify, closed={"is"}).is_closed("is")


def test_classifier_returning_a_non_string_is_an_error() -> None:
    classify = QuestionClassifier(lambda q: None, name="broken")  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="broken"):
        classify("Who?")


def test_unusable_spec_is_an_error() -> None:
    with pytest.raises(ConfigError, match="question classifier"):
        question_classifier(42)  # type: ignore[arg-type]
