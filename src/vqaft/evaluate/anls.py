"""The ``anls`` evaluator: Average Normalized Levenshtein Similarity (ST-VQA, DocVQA).

For one gold answer ``g`` and prediction ``p`` (both trimmed, inner whitespace collapsed and,
unless ``case_sensitive``, lower-cased)::

    NL(p, g) = levenshtein(p, g) / max(len(p), len(g))      (0 when both are empty)
    s(p, g)  = 1 - NL(p, g)   if NL(p, g) < threshold,  else 0

An item scores the best ``s`` over its gold answers; the mean over items is the ANLS. The
threshold (0.5 in the literature) turns answers that are mostly wrong into a clean 0 instead of
a small partial credit. ANLS is continuous: ``passed`` is ``None``.

>>> ANLS().score("Cookshack Inc", ["Cookshack"]).value   # 4 edits / 13 characters
0.6923076923076923
>>> ANLS().score("Travel", ["Cookbooks, Food & Wine"]).value
0.0
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from vqaft.errors import ConfigError
from vqaft.evaluate.base import BaseEvaluator, BatchScores, GoldPairs, Golds, ItemScore, evaluator
from vqaft.evaluate.base import gold_tuple as _gold_tuple

__all__ = ["ANLS", "anls_similarity"]


def anls_similarity(prediction: str, gold: str, *, threshold: float = 0.5) -> float:
    """``s(p, g)`` for two already-prepared strings (see the module docstring).

    >>> anls_similarity("abcd", "abce")
    0.75
    >>> anls_similarity("abcd", "wxyz")
    0.0
    """
    distance = float(Levenshtein.normalized_distance(prediction, gold))
    return 1.0 - distance if distance < threshold else 0.0


@evaluator("anls", version="1")
class ANLS(BaseEvaluator):
    """Average Normalized Levenshtein Similarity, best over the gold answers."""

    def __init__(self, threshold: float = 0.5, case_sensitive: bool = False) -> None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0 < threshold <= 1
        ):
            raise ConfigError(
                f"anls threshold must be in (0, 1], got {threshold!r}",
                hint="the usual value is 0.5",
            )
        self.threshold = threshold
        self.case_sensitive = case_sensitive

    def _prepare(self, text: str) -> str:
        text = " ".join(text.split())
        return text if self.case_sensitive else text.lower()

    def _prepare_all(self, texts: list[str]) -> list[str]:
        """:meth:`_prepare` for many texts, with the loop in C (``map``)."""
        collapsed = map(" ".join, map(str.split, texts))
        return list(collapsed if self.case_sensitive else map(str.lower, collapsed))

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Score one prediction (``details["best_gold"]``: index of the best gold answer)."""
        p = self._prepare(prediction)
        best, best_index = -1.0, 0
        for index, g in enumerate(_gold_tuple(gold)):
            similarity = anls_similarity(p, self._prepare(g), threshold=self.threshold)
            if similarity > best:
                best, best_index = similarity, index
        return ItemScore(value=best, passed=None, details={"best_gold": best_index})

    def score_batch(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> BatchScores:
        """Vectorised :meth:`score` with ``rapidfuzz.process.cpdist`` (same results).

        Identical strings are at distance 0 (similarity 1) without computing anything; the
        other pairs are prepared and measured in one ``cpdist`` call.
        """
        pairs = GoldPairs.build(predictions, golds)
        same = np.fromiter(
            map(operator.eq, pairs.predictions, pairs.golds), dtype=np.bool_, count=len(pairs)
        )
        similarity = same.astype(np.float64)
        rest = np.flatnonzero(~same).tolist()
        if rest:
            distance = process.cpdist(
                self._prepare_all(list(map(pairs.predictions.__getitem__, rest))),
                self._prepare_all(list(map(pairs.golds.__getitem__, rest))),
                scorer=Levenshtein.normalized_distance,
                dtype=np.float64,
                workers=-1,
            )
            distance = np.asarray(distance, dtype=np.float64)
            similarity[rest] = np.where(distance < self.threshold, 1.0 - distance, 0.0)
        return BatchScores(values=pairs.best(similarity), passed=None)
