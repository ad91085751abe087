"""The Predictor protocol, its request and answer types, and the predictor registry.

A predictor answers one chat request at a time, asynchronously; the runner
(:func:`vqaft.predict.predict_file`) takes care of concurrency, the resumable store, progress
and retrying only what failed. A backend therefore implements one coroutine::

    from vqaft.predict import Completion, PredictionRequest, register_predictor

    @register_predictor("echo")
    class Echo:
        model = "echo-1"

        async def apredict(self, request: PredictionRequest) -> Completion:
            return Completion(text=request.question or "")

A synchronous backend (a local model, say) can subclass :class:`BasePredictor` and implement
``predict`` instead; ``apredict`` then runs it in a worker thread.

What a backend raises decides what happens to the run:

* :class:`RequestFailed` -- this example failed (a 400 for a bad image, retries used up); the
  runner records it as an error record and goes on. ``--retry-failed`` retries it later.
* :class:`~vqaft.errors.PredictionError` -- every request would fail the same way (bad API
  key, no quota, unknown model); the runner stops at once and keeps what it has.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from vqaft._registry import Registry
from vqaft.errors import VqaftError

__all__ = [
    "BasePredictor",
    "Completion",
    "PredictionRequest",
    "Predictor",
    "RequestFailed",
    "create_predictor",
    "predictors",
    "register_predictor",
]


@dataclass(frozen=True)
class PredictionRequest:
    """One example to answer: the chat messages to send and what to record next to the answer.

    Attributes:
        example_id: the example's stable id (the store's key; the batch ``custom_id``).
        messages: the chat messages (OpenAI format, images as ``image_url`` parts), without
            the assistant's answer.
        gold: the acceptable gold answers, copied into the record's ``actual_answer``.
        question: the question text, copied into the record.
        line: the 1-based line of the test file the messages came from, if any.
    """

    example_id: str
    messages: Sequence[Mapping[str, Any]] = field(repr=False)
    gold: tuple[str, ...] | None = None
    question: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Completion:
    """A model's answer to one request.

    Attributes:
        text: the answer text (surrounding white space stripped by the OpenAI backend; empty
            when the model refused or was filtered: see ``refusal`` and ``finish_reason``).
        finish_reason: why the model stopped (``"stop"``, ``"length"``, ``"content_filter"``).
        usage: token counts as the server reported them (``prompt_tokens``,
            ``completion_tokens``, ``total_tokens``, details).
        latency: seconds the answering request took (``None`` when unknown, e.g. batches).
        attempts: requests sent for this answer (1 plus retries).
        refusal: the model's refusal message, if it refused.
    """

    text: str
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None
    latency: float | None = None
    attempts: int = 1
    refusal: str | None = None


class RequestFailed(VqaftError):
    """One example could not be answered; the run records the failure and carries on.

    Attributes:
        kind: a short machine-readable reason (``"bad_request"``, ``"server_error"``,
            ``"rate_limited"``, ``"connection"``, ``"timeout"``, ``"malformed_response"``, ...).
        status: the HTTP status of the last attempt, if there was one.
        code: the API's error code, if any.
        attempts: requests sent before giving up.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        code: str | None = None,
        attempts: int = 1,
        example_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.kind = kind
        self.status = status
        self.code = code
        self.attempts = attempts
        super().__init__(message, example_id=example_id, hint=hint)

    def record(self) -> dict[str, Any]:
        """The ``error`` object written to the predictions store."""
        return {
            "type": self.kind,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "attempts": self.attempts,
        }


@runtime_checkable
class Predictor(Protocol):
    """Answers chat requests for one model.

    Implementations need a ``model`` attribute (recorded in every prediction) and an
    ``apredict`` coroutine. They may also define ``async def aclose()``, which the runner
    calls when it created the predictor itself (or ran it on a private event loop).
    """

    model: str

    async def apredict(self, request: PredictionRequest) -> Completion:
        """Answer one request, or raise :class:`RequestFailed` / ``PredictionError``."""
        ...


class BasePredictor:
    """Optional base for synchronous backends: implement :meth:`predict`, get ``apredict``.

    >>> class Upper(BasePredictor):
    ...     model = "upper"
    ...     def predict(self, request):
    ...         return Completion(text=(request.question or "").upper())
    >>> asyncio.run(Upper().apredict(PredictionRequest("x:0", [], question="hi"))).text
    'HI'
    """

    model: str

    def predict(self, request: PredictionRequest) -> Completion:
        """Answer one request synchronously (called in a worker thread by ``apredict``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict or apredict")

    async def apredict(self, request: PredictionRequest) -> Completion:
        """Run :meth:`predict` in a worker thread."""
        return await asyncio.to_thread(self.predict, request)

    async def aclose(self) -> None:
        """Release resources (nothing by default)."""


predictors: Registry[Callable[..., Predictor]] = Registry(
    "predictor", "vqaft.predictors", check=callable
)
"""Registry of predictor factories (usually classes), entry-point group ``vqaft.predictors``."""

register_predictor = predictors.register
"""Decorator: ``@register_predictor("name")`` registers a predictor class or factory."""


def create_predictor(name: str, **kwargs: Any) -> Predictor:
    """Create the predictor registered as ``name`` with ``kwargs``.

    >>> predictor = create_predictor("openai", model="gpt-4o")  # doctest: +SKIP

    Raises:
        UnknownComponentError: no predictor has that name (with suggestions).
    """
    return predictors.get(name)(**kwargs)
