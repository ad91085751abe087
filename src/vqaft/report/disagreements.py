"""Examples where the models disagree: one passes the primary metric, another fails it.

>>> from vqaft.evaluate import EvaluationSuite, PredictionSet
>>> def preds(answer):
...     return PredictionSet.from_records([{"example_id": 1, "question": "Who wrote this book?",
...         "predicted_answer": answer, "actual_answer": "Jane Doe"}])
>>> result = EvaluationSuite("exact").run({"ft": preds("Jane Doe"), "base": preds("J. Doe")})
>>> [(d.example_id, d.verdicts) for d in find_disagreements(result)]
[('1', {'ft': True, 'base': False})]
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from vqaft.errors import ConfigError
from vqaft.evaluate.scoring import ItemResult
from vqaft.evaluate.suite_result import SuiteResult

__all__ = ["Disagreement", "find_disagreements"]


class Disagreement(BaseModel):
    """One example the models disagree on.

    Attributes:
        example_id: the example.
        question: its question, if known.
        question_type: its type.
        gold: its gold answers.
        label: the evaluator whose verdicts differ.
        answers: per model, its answer (``None`` for a failed prediction).
        verdicts: per model, whether it passed (``None``: not scored).
    """

    model_config = ConfigDict(frozen=True)

    example_id: str
    question: str | None
    question_type: str
    gold: tuple[str, ...]
    label: str
    answers: dict[str, str | None]
    verdicts: dict[str, bool | None]


def _verdict(item: ItemResult, label: str) -> bool | None:
    score = item.scores.get(label)
    if score is None:
        return None
    return score.passed if score.passed is not None else score.value >= 0.5


def find_disagreements(result: SuiteResult, label: str | None = None) -> list[Disagreement]:
    """Examples scored for two or more models whose verdicts on ``label`` differ.

    Args:
        result: a suite run with two or more models (fewer gives an empty list).
        label: the evaluator to compare on; default the suite's primary evaluator (the first
            with pass/fail verdicts). A continuous evaluator counts a score of 0.5 or more as a
            pass.

    Raises:
        ConfigError: ``label`` is not one of the suite's evaluators.
    """
    chosen = label or result.suite.primary or next(iter(result.suite.evaluators), None)
    if chosen is None or chosen not in result.suite.evaluators:
        raise ConfigError(
            f"no evaluator labelled {chosen!r} in this result",
            hint="labels: " + ", ".join(result.suite.evaluators),
        )
    if len(result.models) < 2:
        return []
    by_model = {name: {it.example_id: it for it in m.items} for name, m in result.models.items()}
    order: dict[str, None] = {}
    for model in result.models.values():
        order.update(dict.fromkeys(it.example_id for it in model.items))
    found: list[Disagreement] = []
    for example_id in order:
        present = {
            name: items[example_id] for name, items in by_model.items() if example_id in items
        }
        verdicts = {name: _verdict(item, chosen) for name, item in present.items()}
        known = {v for v in verdicts.values() if v is not None}
        if len(known) < 2:
            continue
        first = next(iter(present.values()))
        found.append(
            Disagreement(
                example_id=example_id,
                question=first.question,
                question_type=first.question_type,
                gold=first.gold,
                label=chosen,
                answers={name: item.prediction for name, item in present.items()},
                verdicts=verdicts,
            )
        )
    return found
