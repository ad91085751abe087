"""String-equality evaluators: ``exact``, ``lenient`` and ``normalized``.

All three are pass/fail: the value is 1.0 when the prediction matches any gold answer, else 0.0.

* ``exact`` -- equal after trimming surrounding whitespace (the cookbook's strict standard).
* ``lenient`` -- the cookbook's lenient rule: equal ignoring case, or the gold answer appears
  inside the prediction ignoring case. Generous by design, and it shows: the gold "No" is
  found inside "I don't know", and an empty gold answer matches only an empty prediction.
* ``normalized`` -- equal after VQA-style normalisation (:mod:`vqaft.evaluate.normalize`).

>>> ExactMatch().score(" Travel ", ["Travel"]).passed
True
>>> LenientMatch().score("**Answer:** No.", ["No"]).passed
True
>>> NormalizedMatch().score("The Two Towers!", ["two towers"]).passed
True
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from vqaft.evaluate.base import (
    BaseEvaluator,
    BatchScores,
    GoldPairs,
    Golds,
    ItemScore,
    evaluator,
    gold_tuple,
)
from vqaft.evaluate.normalize import normalize_answer, unique_normalized

__all__ = ["ExactMatch", "LenientMatch", "NormalizedMatch"]


@evaluator("exact", version="1")
class ExactMatch(BaseEvaluator):
    """Pass when the prediction equals a gold answer after trimming surrounding whitespace."""

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Score one prediction (``details["matched_gold"]`` is the index of the match)."""
        p = prediction.strip()
        for index, g in enumerate(gold_tuple(gold)):
            if p == g.strip():
                return ItemScore(value=1.0, passed=True, details={"matched_gold": index})
        return ItemScore(value=0.0, passed=False)

    def score_batch(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> BatchScores:
        """Vectorised :meth:`score` (same results)."""
        pairs = GoldPairs.build(predictions, golds)
        stripped_p = map(str.strip, pairs.predictions)
        stripped_g = map(str.strip, pairs.golds)
        hits = np.fromiter(
            map(operator.eq, stripped_p, stripped_g), dtype=np.bool_, count=len(pairs)
        )
        return BatchScores.from_passed(pairs.any(hits))


@evaluator("lenient", version="1")
class LenientMatch(BaseEvaluator):
    """Pass when a gold answer equals the prediction or appears inside it, ignoring case.

    Both sides are trimmed and lower-cased first. An empty gold answer is never "contained"
    (it would match everything); it matches only an empty prediction.
    """

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Score one prediction (``details["matched_gold"]`` is the index of the match)."""
        p = prediction.strip().lower()
        for index, g in enumerate(gold_tuple(gold)):
            if _lenient(p, g.strip().lower()):
                return ItemScore(value=1.0, passed=True, details={"matched_gold": index})
        return ItemScore(value=0.0, passed=False)

    def score_batch(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> BatchScores:
        """Vectorised :meth:`score` (same results)."""
        pairs = GoldPairs.build(predictions, golds)
        folded_p = _folded(pairs.predictions)
        folded_g = _folded(pairs.golds)
        # For a non-empty gold, "equal or contained" is just "contained" (operator.contains
        # runs at C speed); an empty gold is handled separately below.
        hits = np.fromiter(
            map(operator.contains, folded_p, folded_g), dtype=np.bool_, count=len(pairs)
        )
        if "" in folded_g:
            for i, gold in enumerate(folded_g):
                if not gold:
                    hits[i] = folded_p[i] == ""
        return BatchScores.from_passed(pairs.any(hits))


def _folded(texts: list[str]) -> list[str]:
    """Trimmed, lower-cased texts (``map`` keeps the loop in C)."""
    return list(map(str.lower, map(str.strip, texts)))


def _lenient(prediction: str, gold: str) -> bool:
    """``prediction`` and ``gold`` already trimmed and lower-cased."""
    return prediction == gold or (bool(gold) and gold in prediction)


@evaluator("normalized", version="1")
class NormalizedMatch(BaseEvaluator):
    """Pass when the prediction equals a gold answer after VQA-style normalisation.

    See :mod:`vqaft.evaluate.normalize` for the rule (case, punctuation, articles, number
    words, contractions). ``details["normalized"]`` holds the normalised prediction.
    """

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Score one prediction."""
        p = normalize_answer(prediction)
        for index, g in enumerate(gold_tuple(gold)):
            if p == normalize_answer(g):
                return ItemScore(
                    value=1.0, passed=True, details={"matched_gold": index, "normalized": p}
                )
        return ItemScore(value=0.0, passed=False, details={"normalized": p})

    def score_batch(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> BatchScores:
        """Vectorised :meth:`score` (same results).

        Identical strings normalise identically, so only pairs that differ are normalised, and
        each distinct text among them once.
        """
        pairs = GoldPairs.build(predictions, golds)
        hits = np.fromiter(
            map(operator.eq, pairs.predictions, pairs.golds), dtype=np.bool_, count=len(pairs)
        )
        rest = np.flatnonzero(~hits).tolist()
        if rest:
            left = list(map(pairs.predictions.__getitem__, rest))
            right = list(map(pairs.golds.__getitem__, rest))
            table = unique_normalized([*left, *right])
            same = map(operator.eq, map(table.__getitem__, left), map(table.__getitem__, right))
            hits[rest] = np.fromiter(same, dtype=np.bool_, count=len(rest))
        return BatchScores.from_passed(pairs.any(hits))
