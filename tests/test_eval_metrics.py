"""Reference cases for each built-in metric, and the batch path equal to the per-item path."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest

from vqaft.errors import ConfigError, EvaluationError
from vqaft.evaluate import (
    ANLS,
    BaseEvaluator,
    BatchScores,
    Evaluator,
    ExactMatch,
    FuzzyMatch,
    ItemScore,
    LenientMatch,
    NormalizedMatch,
    create_evaluator,
    score_batch,
)

# -- exact ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "gold", "passed"),
    [
        ("Travel", ["Travel"], True),
        ("  Travel\n", ["Travel "], True),  # trimmed on both sides
        ("travel", ["Travel"], False),  # case matters
        ("Travel.", ["Travel"], False),
        ("No", ["Yes", "No"], True),  # any gold answer
        ("", [""], True),
    ],
)
def test_exact(prediction: str, gold: list[str], passed: bool) -> None:
    score = ExactMatch().score(prediction, gold)
    assert score.passed is passed
    assert score.value == float(passed)


def test_exact_reports_which_gold_matched() -> None:
    assert ExactMatch().score("No", ["Yes", "No"]).details == {"matched_gold": 1}


# -- lenient ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "gold", "passed"),
    [
        ("travel", ["Travel"], True),  # case-insensitive equality
        ("**Answer:**\n\nNo. The cover shows a travel guide.", ["No"], True),  # contained
        ("DK Eyewitness Travel Guide: Peru", ["Travel Guide"], True),
        ("Cookshack", ["Cookshack, Inc."], False),  # the gold must be inside the prediction
        ("I don't know", ["No"], True),  # the cookbook's rule is this generous
        ("anything", [""], False),  # an empty gold is never "contained"
        ("", [""], True),
        ("Yes", ["Maybe", " yes "], True),
    ],
)
def test_lenient(prediction: str, gold: list[str], passed: bool) -> None:
    assert LenientMatch().score(prediction, gold).passed is passed


# -- normalized -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "gold", "passed"),
    [
        ("The Two Towers!", ["two towers"], True),
        ("Yes.", ["Yes"], True),
        ("Sci-Fi", ["sci fi"], True),
        ("Children\u2019s Books", ["Children's Books"], True),
        ("I dont know", ["I don't know"], True),
        ("1,000 Places", ["1000 places"], True),
        ("3.5", ["35"], False),
        ("Travel Guide", ["Travel"], False),  # no containment: equality only
        ("An", ["the"], True),  # both normalise to the empty string
    ],
)
def test_normalized(prediction: str, gold: list[str], passed: bool) -> None:
    assert NormalizedMatch().score(prediction, gold).passed is passed


# -- fuzzy ------------------------------------------------------------------------------------

WRINKLE = "A Wrinkle in Time"
WRINKLE_GOLD = "A Wrinkle in Time (Time Quintet)"


def test_fuzzy_ratio_by_hand() -> None:
    # default_process: "a wrinkle in time" (17 chars) vs "a wrinkle in time  time quintet"
    # (31 chars). Indel distance 14, so ratio = 100 · (1 - 14/48) = 70.8333...
    score = FuzzyMatch().score(WRINKLE, [WRINKLE_GOLD])
    assert score.details["similarity"] == pytest.approx(100 * 34 / 48)
    assert score.value == pytest.approx(34 / 48)
    assert score.passed is False  # below 90
    assert FuzzyMatch(threshold=70).score(WRINKLE, [WRINKLE_GOLD]).passed is True


def test_fuzzy_scorers() -> None:
    assert FuzzyMatch(scorer="partial_ratio").score(WRINKLE, [WRINKLE_GOLD]).value == 1.0
    token_set = FuzzyMatch(scorer="token_set_ratio")
    assert token_set.score("Time A Wrinkle in", [WRINKLE.lower()]).value == 1.0
    assert FuzzyMatch(scorer="token_sort_ratio").score("b a", ["a b"]).value == 1.0


def test_fuzzy_threshold_is_inclusive() -> None:
    # ratio("abcd", "abce") = 100 · 2·3 / 8 = 75
    assert FuzzyMatch(threshold=75).score("abcd", ["abce"]).passed is True
    assert FuzzyMatch(threshold=75.01).score("abcd", ["abce"]).passed is False


def test_fuzzy_preprocess() -> None:
    assert FuzzyMatch(preprocess="none").score("TRAVEL", ["travel"]).value == 0.0
    assert FuzzyMatch().score("TRAVEL", ["travel"]).value == 1.0
    assert FuzzyMatch(preprocess="normalized").score("The Two", ["2"]).value == 1.0


def test_fuzzy_best_gold() -> None:
    score = FuzzyMatch().score("Travel", ["History", "Travel"])
    assert score.value == 1.0
    assert score.details["best_gold"] == 1


@pytest.mark.parametrize(
    "settings",
    [
        {"scorer": "WRatio"},
        {"preprocess": "lower"},
        {"threshold": 120},
        {"threshold": -1},
        {"threshold": "90"},
        {"threshold": 0.9},  # a 0-1 fraction by mistake
    ],
)
def test_fuzzy_rejects_bad_settings(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        FuzzyMatch(**settings)  # type: ignore[arg-type]


# -- anls -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("Cookshack Inc", ["Cookshack"], 9 / 13),  # 4 deletions / 13 characters
        ("abcd", ["abce"], 0.75),  # 1 substitution / 4
        ("2018", ["2019"], 0.75),
        ("ab", ["ac"], 0.0),  # NL = 0.5 is not below the threshold: 0
        ("abc", ["abd"], 1 - 1 / 3),  # NL = 1/3
        ("HELLO", ["hello"], 1.0),  # case-insensitive by default
        ("  a   b ", ["a b"], 1.0),  # whitespace trimmed and collapsed
        ("", [""], 1.0),
        ("", ["abc"], 0.0),
        ("Time", ["Tim", "Time Quintet"], 0.75),  # best of 1/4 and 8/12 (>= 0.5, so 0)
        ("Travel", ["Cookbooks, Food & Wine"], 0.0),
    ],
)
def test_anls(prediction: str, gold: list[str], expected: float) -> None:
    score = ANLS().score(prediction, gold)
    assert score.value == pytest.approx(expected, abs=1e-12)
    assert score.passed is None


def test_anls_settings() -> None:
    assert ANLS(case_sensitive=True).score("HELLO", ["hello"]).value == 0.0
    # threshold 0.6: NL = 0.5 now scores 1 - 0.5
    assert ANLS(threshold=0.6).score("ab", ["ac"]).value == 0.5
    with pytest.raises(ConfigError):
        ANLS(threshold=0)
    with pytest.raises(ConfigError):
        ANLS(threshold=1.5)


# -- input checks -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exact", "lenient", "normalized", "fuzzy", "anls"])
def test_no_gold_is_an_error(name: str) -> None:
    evaluator = create_evaluator(name)
    with pytest.raises(EvaluationError, match="no gold answer"):
        evaluator.score("x", [])
    with pytest.raises(EvaluationError, match="row 1"):
        score_batch(evaluator, ["x", "y"], [["x"], []])
    with pytest.raises(EvaluationError, match="not a string"):
        score_batch(evaluator, ["x", None], ["x", "y"])  # type: ignore[list-item]
    with pytest.raises(EvaluationError, match="2 predictions but 1 gold"):
        score_batch(evaluator, ["x", "y"], ["x"])


def test_a_lone_gold_string_is_one_answer() -> None:
    assert ExactMatch().score("Travel", "Travel").passed  # a str is one answer, not letters
    assert score_batch(ExactMatch(), ["Travel"], ["Travel"]).values.tolist() == [1.0]


# -- batch == per item ------------------------------------------------------------------------

_PIECES = [
    "Yes",
    "No",
    "yes",
    "the ",
    "Travel",
    "Time",
    " Quintet",
    "(",
    ")",
    ", ",
    ".",
    "-",
    " ",
    "\u2019s",
    "two",
    "2",
    "\u00e9",
    "Cookshack",
    " Inc",
    "\n",
]


def _random_batch(rng: random.Random, n: int) -> tuple[list[str], list[str | list[str]]]:
    def text() -> str:
        return "".join(rng.choices(_PIECES, k=rng.randint(0, 5)))

    predictions = [text() for _ in range(n)]
    golds: list[str | list[str]] = []
    for p in predictions:
        kind = rng.random()
        if kind < 0.3:
            golds.append(p)  # an exact hit
        elif kind < 0.6:
            golds.append(text())
        else:
            golds.append([text() for _ in range(rng.randint(1, 4))])
    return predictions, golds


EVALUATORS = [
    ExactMatch(),
    LenientMatch(),
    NormalizedMatch(),
    FuzzyMatch(),
    FuzzyMatch(scorer="partial_ratio", threshold=80, preprocess="none"),
    FuzzyMatch(scorer="token_set_ratio", threshold=60, preprocess="normalized"),
    FuzzyMatch(scorer="token_sort_ratio", threshold=0),
    ANLS(),
    ANLS(threshold=0.8, case_sensitive=True),
]


@pytest.mark.parametrize("evaluator", EVALUATORS, ids=lambda e: repr(e))
def test_batch_equals_per_item(evaluator: Evaluator) -> None:
    predictions, golds = _random_batch(random.Random(11), 2000)
    batch = score_batch(evaluator, predictions, golds)
    single = [
        evaluator.score(p, [g] if isinstance(g, str) else g)
        for p, g in zip(predictions, golds, strict=True)
    ]
    assert batch.values.tolist() == [s.value for s in single]  # identical, not approximately
    if batch.passed is None:
        assert all(s.passed is None for s in single)
    else:
        assert batch.passed.tolist() == [s.passed for s in single]
    assert 0 < batch.values.mean() < 1  # the batch is a real mix of hits and misses


def test_batch_of_nothing() -> None:
    for evaluator in EVALUATORS:
        assert len(score_batch(evaluator, [], [])) == 0


class _Halves(BaseEvaluator):
    name = "halves"

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        return ItemScore(value=0.5, passed=None)


def test_base_class_supplies_batch_and_async() -> None:
    import asyncio

    evaluator = _Halves()
    assert score_batch(evaluator, ["a", "b"], ["a", "b"]).values.tolist() == [0.5, 0.5]
    assert score_batch(evaluator, ["a"], ["a"]).passed is None
    assert asyncio.run(evaluator.ascore("a", ["a"])).value == 0.5


def test_item_score_rejects_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="less than or equal to 1"):
        ItemScore(value=1.5)
    values = np.array([0.5, 42.0])
    with pytest.raises(EvaluationError, match=r"\[0, 1\]"):
        BatchScores(values=values)
