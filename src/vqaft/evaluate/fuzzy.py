"""The ``fuzzy`` evaluator: rapidfuzz similarity with a pass/fail threshold.

The value is the best similarity over the gold answers, scaled to ``[0, 1]``; the item passes
when that similarity (on rapidfuzz's 0-100 scale) is at least ``threshold``. Both the verdict
and the continuous score are kept, so a report can show near-misses.

Settings:

* ``scorer`` -- ``"ratio"`` (whole-string edit similarity), ``"partial_ratio"`` (best matching
  substring), ``"token_set_ratio"`` (word sets, order and repeats ignored) or
  ``"token_sort_ratio"`` (sorted words);
* ``threshold`` -- 0-100, default 90;
* ``preprocess`` -- ``"default"`` (rapidfuzz's: lower case, non-alphanumerics to spaces,
  trimmed), ``"normalized"`` (VQA-style normalisation) or ``"none"``.

>>> gold = ["A Wrinkle in Time (Time Quintet)"]
>>> score = FuzzyMatch(threshold=85).score("A Wrinkle in Time", gold)
>>> round(score.value, 4), score.passed
(0.7083, False)
>>> FuzzyMatch(scorer="partial_ratio").score("A Wrinkle in Time", gold).passed
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from vqaft.errors import ConfigError
from vqaft.evaluate.base import BaseEvaluator, BatchScores, GoldPairs, Golds, ItemScore, evaluator
from vqaft.evaluate.base import gold_tuple as _gold_tuple
from vqaft.evaluate.normalize import normalize_answer, unique_normalized

__all__ = ["PREPROCESSORS", "SCORERS", "FuzzyMatch"]

SCORERS: dict[str, Callable[..., float]] = {
    "ratio": fuzz.ratio,
    "partial_ratio": fuzz.partial_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
}
"""The rapidfuzz scorers ``fuzzy`` accepts, by name."""

PREPROCESSORS = ("default", "normalized", "none")
"""The values ``fuzzy``'s ``preprocess`` setting accepts."""


@evaluator("fuzzy", version="1")
class FuzzyMatch(BaseEvaluator):
    """Pass when the best rapidfuzz similarity to a gold answer reaches ``threshold`` (0-100)."""

    def __init__(
        self, scorer: str = "ratio", threshold: float = 90.0, preprocess: str = "default"
    ) -> None:
        if scorer not in SCORERS:
            raise ConfigError(
                f"unknown fuzzy scorer {scorer!r}", hint="choose one of " + ", ".join(SCORERS)
            )
        if preprocess not in PREPROCESSORS:
            raise ConfigError(
                f"unknown fuzzy preprocess {preprocess!r}",
                hint="choose one of " + ", ".join(PREPROCESSORS),
            )
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0 <= threshold <= 100
        ):
            raise ConfigError(
                f"fuzzy threshold must be a number from 0 to 100, got {threshold!r}",
                hint="the threshold is on rapidfuzz's 0-100 scale, e.g. 90",
            )
        if 0 < threshold < 1:
            raise ConfigError(
                f"fuzzy threshold {threshold!r} looks like a 0-1 fraction",
                hint=f"the threshold is on a 0-100 scale: use {threshold * 100:g}",
            )
        self.scorer = scorer
        self.threshold = threshold
        self.preprocess = preprocess
        self._scorer = SCORERS[scorer]
        self._processor: Callable[[str], str] | None = (
            default_process if preprocess == "default" else None
        )

    def _prepare(self, text: str) -> str:
        return normalize_answer(text) if self.preprocess == "normalized" else text

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Score one prediction (``details``: best ``similarity`` 0-100 and ``best_gold``)."""
        p = self._prepare(prediction)
        best, best_index = -1.0, 0
        for index, g in enumerate(_gold_tuple(gold)):
            similarity = float(self._scorer(p, self._prepare(g), processor=self._processor))
            if similarity > best:
                best, best_index = similarity, index
        details: dict[str, Any] = {"similarity": best, "best_gold": best_index}
        return ItemScore(value=best / 100.0, passed=best >= self.threshold, details=details)

    def score_batch(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> BatchScores:
        """Vectorised :meth:`score` with ``rapidfuzz.process.cpdist`` (same results)."""
        pairs = GoldPairs.build(predictions, golds)
        left, right = pairs.predictions, pairs.golds
        if self.preprocess == "normalized":
            table = unique_normalized([*left, *right])
            left = list(map(table.__getitem__, left))
            right = list(map(table.__getitem__, right))
        similarity = process.cpdist(
            left,
            right,
            scorer=self._scorer,
            processor=self._processor,
            dtype=np.float64,
            workers=-1,
        )
        best = pairs.best(np.asarray(similarity, dtype=np.float64))
        return BatchScores(values=best / 100.0, passed=best >= self.threshold)
