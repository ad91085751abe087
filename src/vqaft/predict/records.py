"""The lines of a predictions file: an answer or a failure, with the gold answers.

The fields are those of the evaluation's predictions format
(:mod:`vqaft.evaluate.predictions`): ``example_id``, ``predicted_answer``, ``actual_answer``,
``question``, ``model``, ``usage``, ``latency`` and ``error``; a few more (``finish_reason``,
``attempts``, ``refusal``, ``batch_id``) are kept as extras.
"""

from __future__ import annotations

from typing import Any

from vqaft.predict.base import Completion, RequestFailed
from vqaft.predict.testfile import ExampleRef

__all__ = ["answer_record", "failure_record"]


def _base(ref: ExampleRef, model: str) -> dict[str, Any]:
    return {
        "example_id": ref.example_id,
        "predicted_answer": None,
        "actual_answer": list(ref.answers) if ref.answers else None,
        "question": ref.question,
        "model": model,
    }


def answer_record(
    ref: ExampleRef, model: str, completion: Completion, **extra: Any
) -> dict[str, Any]:
    """The record of an answered example.

    >>> ref = ExampleRef(1, "b1:0", "Who wrote this book?", ("Jane Doe",))
    >>> answer_record(ref, "gpt-4o", Completion("Jane Doe"))["predicted_answer"]
    'Jane Doe'
    """
    record = _base(ref, model)
    record["predicted_answer"] = completion.text
    record["usage"] = dict(completion.usage) if completion.usage is not None else None
    record["latency"] = None if completion.latency is None else round(completion.latency, 4)
    record["error"] = None
    record["finish_reason"] = completion.finish_reason
    record["attempts"] = completion.attempts
    if completion.refusal is not None:
        record["refusal"] = completion.refusal
    record.update(extra)
    return record


def failure_record(
    ref: ExampleRef, model: str, failure: RequestFailed, **extra: Any
) -> dict[str, Any]:
    """The record of an example that could not be answered (``error`` says why)."""
    record = _base(ref, model)
    record["usage"] = None
    record["latency"] = None
    record["error"] = failure.record()
    record["attempts"] = failure.attempts
    record.update(extra)
    return record
