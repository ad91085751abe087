"""``token_f1``: SQuAD-style token-overlap F1 between prediction and gold, best over golds.

After ``pip install vqaft-plugin-example`` it is used by name like a built-in::

    vqaft evaluate preds.jsonl --evaluators exact,token_f1:threshold=0.8
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from vqaft.evaluate import BaseEvaluator, ItemScore, evaluator, normalize_answer


@evaluator("token_f1", version="1")
class TokenF1(BaseEvaluator):
    """F1 of the words shared by the normalised prediction and gold answer (0 to 1).

    ``passed`` is ``f1 >= threshold``, so the suite reports a pass rate next to the mean F1.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """The best F1 over the gold answers."""
        predicted = normalize_answer(prediction).split()
        best = 0.0
        for answer in gold:
            expected = normalize_answer(answer).split()
            common = sum((Counter(predicted) & Counter(expected)).values())
            if common:
                precision, recall = common / len(predicted), common / len(expected)
                best = max(best, 2 * precision * recall / (precision + recall))
        return ItemScore(value=best, passed=best >= self.threshold, details={"f1": best})
