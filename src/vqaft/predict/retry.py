"""Which API errors to retry, how long to wait, and when to stop the whole run.

The ``openai`` SDK retries by itself, but it treats ``429 insufficient_quota`` (no credit
left) like a rate limit and retries it, and it cannot tell a run to stop. vqaft therefore
creates its clients with ``max_retries=0`` and retries here:

======================================  ===========================================================
What happened                           What vqaft does
======================================  ===========================================================
429 rate limit                          wait ``Retry-After`` (every request of the run waits), retry
408, 409, 5xx, timeout, dropped conn.   exponential backoff with jitter (``Retry-After`` if sent)
200 with a body that is not an answer   retry like a 5xx
400, 413, 422, other 4xx                no retry: the example fails, the run goes on
401, 403, 404, 429 ``insufficient_quota`` stop the run (``PredictionError``): nothing would succeed
``Retry-After`` above ``max_retry_after``  stop the run: rerun later, the answers so far are kept
======================================  ===========================================================

The budget is bounded: at most ``max_attempts`` requests per example, each wait at most
``max_delay`` seconds (``max_retry_after`` for a server-requested wait).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import openai

from vqaft._secrets import redact as _redact
from vqaft.errors import ConfigError, PredictionError
from vqaft.predict.base import RequestFailed
from vqaft.predict.chat_format import MalformedResponse

__all__ = [
    "Failure",
    "RateLimitGate",
    "RetryPolicy",
    "aretry",
    "classify",
    "fatal_error",
    "redact",
    "retry",
    "retry_after_seconds",
]

T = TypeVar("T")

_MIN_SECRET_LENGTH = 8  # a short placeholder ("EMPTY") is no secret


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with ``secret`` and anything shaped like an API key replaced by ``***``.

    >>> redact("Incorrect API key provided: sk-proj-abcd****wxyz.")
    'Incorrect API key provided: ***.'
    """
    return _redact(text, secret, min_secret_length=_MIN_SECRET_LENGTH)


@dataclass(frozen=True)
class RetryPolicy:
    """How persistently to retry one request.

    Attributes:
        max_attempts: requests per example at most (the first one included).
        initial_delay: first backoff in seconds; doubles with each retry.
        max_delay: longest backoff in seconds.
        max_retry_after: longest ``Retry-After`` honoured; a longer one stops the run
            (usually a daily limit: rerun later, nothing answered is lost).
        jitter: randomise backoffs (between half and all of the computed delay) so that
            many waiting requests do not come back at the same moment.

    >>> RetryPolicy(initial_delay=1.0, jitter=False).delay(3)
    4.0
    """

    max_attempts: int = 8
    initial_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"{name} must be a finite number >= 0, got {value}")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None:
            # Honour the server's wait; a little jitter on top spreads the comeback.
            extra = random.uniform(0, min(1.0, 0.1 * retry_after)) if self.jitter else 0.0  # noqa: S311
            return retry_after + extra
        base = min(self.max_delay, self.initial_delay * 2.0 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0) if self.jitter else base  # noqa: S311


@dataclass(frozen=True)
class Failure:
    """What an exception from a request means.

    Attributes:
        kind: short reason (``rate_limited``, ``server_error``, ``timeout``, ``connection``,
            ``malformed_response``, ``bad_request``, ``authentication``, ``insufficient_quota``,
            ``permission_denied``, ``not_found``, ``http_<status>``).
        message: the server's message or the exception's, secrets removed.
        status: HTTP status, if any.
        code: the API's error code (or type), if any.
        retryable: waiting and trying again may help.
        fatal: no other request of the run can succeed either: stop the run.
        retry_after: seconds the server asked to wait, if it said.
    """

    kind: str
    message: str
    status: int | None = None
    code: str | None = None
    retryable: bool = False
    fatal: bool = False
    retry_after: float | None = None


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, else ``Retry-After`` in seconds or as
    an HTTP date; ``None`` when absent or unreadable.

    >>> retry_after_seconds({"retry-after": "2"})
    2.0
    >>> retry_after_seconds({"retry-after-ms": "150", "retry-after": "9"})
    0.15
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) / divisor
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            return value
    raw = lowered.get("retry-after")
    if raw:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is not None:
            return max(0.0, float(email.utils.mktime_tz(parsed) - time.time()))
    return None


def _error_fields(exc: openai.APIStatusError) -> tuple[str | None, str]:
    code: str | None = None
    message = str(exc.message)
    body = exc.body
    inner = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(inner, dict):
        for key in ("code", "type"):
            if inner.get(key):
                code = str(inner[key])
                break
        if isinstance(inner.get("message"), str):
            message = inner["message"]
    if code is None and getattr(exc, "code", None):
        code = str(exc.code)
    return code, message


def _is_quota(exc: openai.APIStatusError) -> bool:
    body = exc.body
    inner = body.get("error", body) if isinstance(body, dict) else None
    values = {getattr(exc, "code", None), getattr(exc, "type", None)}
    if isinstance(inner, dict):
        values |= {inner.get("code"), inner.get("type")}
    return "insufficient_quota" in values


_FATAL_STATUS = {401: "authentication", 403: "permission_denied", 404: "not_found"}


def classify(exc: BaseException, secret: str | None = None) -> Failure | None:
    """What ``exc`` (raised by a request) means; ``None`` if it is not a request error.

    >>> classify(MalformedResponse("no choices")).retryable
    True
    """
    if isinstance(exc, openai.APITimeoutError):
        return Failure("timeout", "the request timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f"{exc.message}" + (f" ({type(cause).__name__})" if cause is not None else "")
        return Failure("connection", redact(detail, secret), retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        code, message = _error_fields(exc)
        message = redact(message, secret)
        headers = exc.response.headers
        retry_after = retry_after_seconds(headers)
        should_retry = headers.get("x-should-retry")
        if status == 429 and _is_quota(exc):
            return Failure("insufficient_quota", message, status, "insufficient_quota", fatal=True)
        if status in _FATAL_STATUS:
            return Failure(_FATAL_STATUS[status], message, status, code, fatal=True)
        if status == 429:
            kind, retryable = "rate_limited", True
        elif status == 408:
            kind, retryable = "timeout", True
        elif status == 409 or status >= 500:
            kind, retryable = "server_error", True
        elif status == 400:
            kind, retryable = "bad_request", False
        else:
            kind, retryable = f"http_{status}", False
        if should_retry == "false":
            retryable = False
        return Failure(kind, message, status, code, retryable=retryable, retry_after=retry_after)
    if isinstance(
        exc, (MalformedResponse, json.JSONDecodeError, openai.APIResponseValidationError)
    ):
        return Failure("malformed_response", redact(str(exc), secret), retryable=True)
    return None


_FATAL_HINTS = {
    "authentication": "check the API key (its environment variable, api_key= or client=) and "
    "the base URL",
    "insufficient_quota": "the account has no credit left: add credit or raise the project's "
    "budget (platform.openai.com > Settings > Billing), then rerun; answered examples are kept",
    "permission_denied": "the key may not use this model or endpoint: check the model name, "
    "the project's model access and the region",
    "not_found": "check the model name (a fine-tuned model is 'ft:...'; on Azure, the deployment "
    "name) and the base URL",
    "rate_limited": "the rate limit resets later (a daily limit?): rerun then; answered examples "
    "are kept and not sent again",
}


def fatal_error(
    failure: Failure, *, model: str | None = None, hint: str | None = None
) -> PredictionError:
    """The :class:`PredictionError` that stops a run because of ``failure``."""
    status = f"HTTP {failure.status}" if failure.status is not None else "no HTTP status"
    code = f", {failure.code}" if failure.code else ""
    about = f" for model {model!r}" if model else ""
    return PredictionError(
        f"{failure.kind.replace('_', ' ')}{about} ({status}{code}): {failure.message}",
        hint=hint or _FATAL_HINTS.get(failure.kind),
    )


def _too_long(failure: Failure, policy: RetryPolicy) -> bool:
    return failure.retry_after is not None and failure.retry_after > policy.max_retry_after


def _long_wait(failure: Failure) -> Failure:
    wait = failure.retry_after or 0.0
    return Failure(
        failure.kind,
        f"the server asks to wait {wait:.0f} s before retrying ({failure.message})",
        failure.status,
        failure.code,
        fatal=True,
    )


def _give_up(failure: Failure, attempts: int, example_id: str | None) -> RequestFailed:
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    return RequestFailed(
        f"{failure.kind.replace('_', ' ')}{tried}: {failure.message}",
        kind=failure.kind,
        status=failure.status,
        code=failure.code,
        attempts=attempts,
        example_id=example_id,
    )


class RateLimitGate:
    """Shared by the requests of one run: after a 429 every request waits out ``Retry-After``,
    not only the one that got it (so the run backs off as a whole)."""

    def __init__(self) -> None:
        self._until = 0.0

    def hold(self, seconds: float) -> None:
        """Let no request start for ``seconds`` from now (extends, never shortens)."""
        self._until = max(self._until, time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds until requests may start again."""
        return max(0.0, self._until - time.monotonic())

    async def wait(self) -> None:
        """Sleep until requests may start (re-checking: another 429 may extend the hold)."""
        while (left := self.remaining()) > 0:
            await asyncio.sleep(left)


FatalFactory = Callable[[Failure], PredictionError]


async def aretry(
    send: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    gate: RateLimitGate | None = None,
    fatal: FatalFactory = fatal_error,
    secret: str | None = None,
    example_id: str | None = None,
) -> tuple[T, int]:
    """Await ``send()`` until it succeeds; return its result and the number of attempts.

    Raises:
        RequestFailed: the error is not retryable, or ``policy.max_attempts`` are used up.
        PredictionError: the error stops the run (built by ``fatal``).
    """
    attempt = 0
    while True:
        if gate is not None:
            await gate.wait()
        attempt += 1
        try:
            return await send(), attempt
        except Exception as exc:
            failure = classify(exc, secret)
            if failure is None:
                raise
            delay = _next_delay(failure, attempt, policy, fatal, example_id, exc)
            if gate is not None and failure.retry_after is not None:
                gate.hold(delay)
        await asyncio.sleep(delay)


def retry(
    send: Callable[[], T],
    *,
    policy: RetryPolicy,
    fatal: FatalFactory = fatal_error,
    secret: str | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """The synchronous :func:`aretry`, for the few control calls of Batch mode."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return send()
        except Exception as exc:
            failure = classify(exc, secret)
            if failure is None:
                raise
            delay = _next_delay(failure, attempt, policy, fatal, None, exc)
        sleep(delay)


def _next_delay(
    failure: Failure,
    attempt: int,
    policy: RetryPolicy,
    fatal: FatalFactory,
    example_id: str | None,
    exc: Exception,
) -> float:
    if failure.fatal:
        raise fatal(failure) from exc
    if failure.retryable and _too_long(failure, policy):
        raise fatal(_long_wait(failure)) from exc
    if not failure.retryable or attempt >= policy.max_attempts:
        raise _give_up(failure, attempt, example_id) from exc
    return policy.delay(attempt, failure.retry_after)
