"""Scoring evaluators that need per-item details: rating judges and async evaluators.

Cheap evaluators run vectorised through :func:`~vqaft.evaluate.scoring.score_predictions`,
which keeps no per-item details. An evaluator is scored here instead when it declares
``ratings``, offers ``score_items`` or has a native ``async def ascore``. Each item ends up
with an :class:`~vqaft.evaluate.base.ItemScore` or the text of why it was not scored; an
evaluator that raises never stops the run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from vqaft.evaluate.base import BaseEvaluator, Evaluator, ItemScore
from vqaft.evaluate.scoring import ItemResult
from vqaft.evaluate.suite_result import JUDGE_RATINGS

__all__ = ["rating_scales", "score_detailed", "wants_details"]

T = TypeVar("T")


def wants_details(evaluator: Evaluator) -> bool:
    """Whether an evaluator is scored item by item with details (judges, async evaluators)."""
    if getattr(evaluator, "ratings", None):
        return True
    if callable(getattr(evaluator, "score_items", None)):
        return True
    return _native_async(evaluator)


def _native_async(evaluator: Evaluator) -> bool:
    method = getattr(type(evaluator), "ascore", None)
    return inspect.iscoroutinefunction(method) and method is not BaseEvaluator.ascore


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _outcome(value: object) -> ItemScore | str:
    if isinstance(value, ItemScore):
        return value
    if isinstance(value, BaseException):
        return _error_text(value)
    if value is None:
        return "not scored"
    return f"EvaluationError: returned {type(value).__name__}, not ItemScore"


def score_detailed(
    evaluator: Evaluator,
    predictions: list[str],
    golds: list[tuple[str, ...]],
    questions: list[str | None],
    concurrency: int,
) -> list[ItemScore | str]:
    """Per item, an :class:`ItemScore` or the text of why it was not scored."""
    n = len(predictions)
    method = getattr(evaluator, "score_items", None)
    if callable(method):
        try:
            outcomes = list(method(predictions, golds, questions))
        except Exception:  # noqa: S110 - the batch failed as a whole: retry item by item
            pass
        else:
            if len(outcomes) == n:
                return [_outcome(o) for o in outcomes]
    if _native_async(evaluator):
        return [
            _outcome(o)
            for o in _run_async(_gather(evaluator, predictions, golds, questions, concurrency))
        ]
    results: list[ItemScore | str] = []
    for p, g, q in zip(predictions, golds, questions, strict=True):
        try:
            results.append(_outcome(evaluator.score(p, g, question=q)))
        except Exception as exc:  # a plugin may fail in any way: record it, go on
            results.append(_error_text(exc))
    return results


async def _gather(
    evaluator: Evaluator,
    predictions: list[str],
    golds: list[tuple[str, ...]],
    questions: list[str | None],
    concurrency: int,
) -> list[object]:
    semaphore = asyncio.Semaphore(concurrency)
    method = evaluator.ascore  # type: ignore[attr-defined]

    async def one(p: str, g: tuple[str, ...], q: str | None) -> object:
        async with semaphore:
            try:
                return await method(p, g, question=q)
            except Exception as exc:  # recorded per item
                return exc

    return list(await asyncio.gather(*map(one, predictions, golds, questions)))


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also from inside a running loop (notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def rating_scales(
    evaluators: Mapping[str, Evaluator], items: Sequence[ItemResult]
) -> dict[str, tuple[str, ...]]:
    """Per rating evaluator label, its ratings (declared, else the judge's order + any seen)."""
    scales: dict[str, tuple[str, ...]] = {}
    for label, instance in evaluators.items():
        declared = getattr(instance, "ratings", None)
        seen = [
            r
            for it in items
            if label in it.scores and isinstance(r := it.scores[label].details.get("rating"), str)
        ]
        if declared:
            scales[label] = tuple(str(r) for r in declared)
        elif seen:
            known = [r for r in JUDGE_RATINGS if r in seen]
            scales[label] = tuple(known + [r for r in dict.fromkeys(seen) if r not in known])
    return scales
