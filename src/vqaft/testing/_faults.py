"""Fault injection: what can go wrong (``Fault``) and when (``FaultRule``, ``FaultPlan``)."""

from __future__ import annotations

import difflib
import math
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from vqaft.errors import ConfigError
from vqaft.testing._api_error import error_body
from vqaft.testing._request import RequestInfo

__all__ = ["ENDPOINTS", "Fault", "FaultKind", "FaultPlan", "FaultRule", "check_endpoint"]

FaultKind = Literal["http_error", "drop", "timeout", "malformed", "delay"]

#: Every endpoint name the fake server answers, for fault rules and the request log.
#: A rule's ``endpoint`` may also be a dotted prefix: ``"files"``, ``"fine_tuning"``.
ENDPOINTS: tuple[str, ...] = (
    "chat.completions",
    "files.create",
    "files.retrieve",
    "files.list",
    "files.delete",
    "files.content",
    "uploads.create",
    "uploads.parts.create",
    "uploads.complete",
    "uploads.cancel",
    "fine_tuning.jobs.create",
    "fine_tuning.jobs.retrieve",
    "fine_tuning.jobs.list",
    "fine_tuning.jobs.list_events",
    "fine_tuning.jobs.cancel",
    "fine_tuning.jobs.pause",
    "fine_tuning.jobs.resume",
    "fine_tuning.jobs.checkpoints.list",
    "batches.create",
    "batches.retrieve",
    "batches.list",
    "batches.cancel",
    "models.list",
    "models.retrieve",
    "batch_line",
)

_RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "1s",
    "x-ratelimit-limit-tokens": "30000",
    "x-ratelimit-remaining-tokens": "0",
    "x-ratelimit-reset-tokens": "1s",
}


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


@dataclass(frozen=True)
class Fault:
    """One thing that can go wrong with a request. Build it with the class methods.

    ``http_error`` faults answer with ``status`` and OpenAI's error body, so the SDK raises
    its usual exception (``RateLimitError``, ``AuthenticationError``, ``InternalServerError``,
    ...). ``drop`` closes the connection without answering (``APIConnectionError``),
    ``timeout`` holds the request until the client gives up (``APITimeoutError``),
    ``malformed`` answers 200 with a body that is not JSON, and ``delay`` only slows the
    request down and then answers it normally.

    Example::

        fake.faults.add(Fault.rate_limit(retry_after=2), endpoint="chat.completions", on=[3, 5])
    """

    kind: FaultKind
    status: int = 0
    message: str = ""
    error_type: str = ""
    code: str | None = None
    param: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def http_error(
        cls,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Any error status with OpenAI's error body ``{"error": {message, type, param, code}}``."""
        if not 400 <= status <= 599:
            raise ConfigError(
                f"an HTTP error fault needs a 4xx or 5xx status, got {status}",
                hint="use Fault.malformed() for a broken 200 answer",
            )
        return cls(
            kind="http_error",
            status=status,
            message=message,
            error_type=type,
            code=code,
            param=param,
            headers=tuple((headers or {}).items()),
        )

    @classmethod
    def rate_limit(
        cls, retry_after: float | None = 1.0, *, retry_after_ms: float | None = None
    ) -> Fault:
        """429 ``rate_limit_exceeded`` with ``Retry-After`` (seconds; ``None`` to leave it out).

        The ``x-ratelimit-*`` headers say no requests or tokens remain. ``retry_after_ms``
        adds the ``retry-after-ms`` header, which the SDK prefers over ``Retry-After``.
        """
        headers = dict(_RATE_LIMIT_HEADERS)
        wait_text = "1s"
        if retry_after is not None:
            if retry_after < 0 or not math.isfinite(retry_after):
                raise ConfigError(f"retry_after must be >= 0 seconds, got {retry_after}")
            headers["retry-after"] = _seconds_text(retry_after)
            wait_text = f"{_seconds_text(retry_after)}s"
            headers["x-ratelimit-reset-requests"] = wait_text
        if retry_after_ms is not None:
            headers["retry-after-ms"] = _seconds_text(retry_after_ms)
        return cls.http_error(
            429,
            "Rate limit reached for requests per min (RPM) in organization org-fake: "
            f"Limit 500, Used 500, Requested 1. Please try again in {wait_text}.",
            type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )

    @classmethod
    def insufficient_quota(cls) -> Fault:
        """429 ``insufficient_quota``: out of credit. The SDK retries it like a rate limit."""
        return cls.http_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            type="insufficient_quota",
            code="insufficient_quota",
        )

    @classmethod
    def unauthorized(cls) -> Fault:
        """401 ``invalid_api_key`` (the SDK raises ``AuthenticationError``)."""
        return cls.http_error(
            401, "Incorrect API key provided.", type="invalid_request_error", code="invalid_api_key"
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A 5xx ``server_error`` (default 500; the SDK raises ``InternalServerError``)."""
        if not 500 <= status <= 599:
            raise ConfigError(f"server_error needs a 5xx status, got {status}")
        return cls.http_error(
            status,
            "The server had an error while processing your request. Sorry about that!",
            type="server_error",
        )

    @classmethod
    def overloaded(cls) -> Fault:
        """503: "The engine is currently overloaded, please try again later"."""
        return cls.http_error(
            503, "The engine is currently overloaded, please try again later.", type="server_error"
        )

    @classmethod
    def bad_request(
        cls, message: str, *, param: str | None = None, code: str | None = None
    ) -> Fault:
        """400 ``invalid_request_error`` (e.g. from a responder: "Invalid image")."""
        return cls.http_error(400, message, type="invalid_request_error", param=param, code=code)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering (the SDK raises ``APIConnectionError``)."""
        return cls(kind="drop")

    @classmethod
    def timeout(cls, hold: float = 60.0) -> Fault:
        """Hold the request unanswered until the client disconnects (its timeout) or ``hold``
        seconds pass, then close the connection. Set a short client timeout in tests."""
        if hold <= 0:
            raise ConfigError(f"hold must be > 0 seconds, got {hold}")
        return cls(kind="timeout", seconds=hold)

    @classmethod
    def malformed(cls) -> Fault:
        """Answer 200 ``application/json`` with a truncated body that is not valid JSON."""
        return cls(kind="malformed", status=200)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` more, then answer normally (a slow request, not an error)."""
        if seconds < 0:
            raise ConfigError(f"delay must be >= 0 seconds, got {seconds}")
        return cls(kind="delay", seconds=seconds)

    # -- helpers ------------------------------------------------------------------------

    def error_body(self) -> dict[str, Any]:
        """The OpenAI error body of an ``http_error`` fault."""
        return error_body(self.message, type=self.error_type, param=self.param, code=self.code)

    @property
    def label(self) -> str:
        """A short name for logs and counters: ``"429"``, ``"drop"``, ``"timeout"``, ..."""
        return str(self.status) if self.kind == "http_error" else self.kind


def check_endpoint(endpoint: str) -> str:
    """Return ``endpoint`` if it names an endpoint or a dotted prefix of one, else raise."""
    if endpoint == "*" or any(
        name == endpoint or name.startswith(endpoint + ".") for name in ENDPOINTS
    ):
        return endpoint
    close = difflib.get_close_matches(endpoint, ENDPOINTS, n=3)
    hint = ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else None
    raise ConfigError(
        f"unknown endpoint {endpoint!r} in a fault rule",
        hint=hint or "see vqaft.testing.ENDPOINTS for the names",
    )


def _matches(pattern: str | None, endpoint: str) -> bool:
    if pattern is None or pattern == "*":
        return endpoint != "batch_line"
    return endpoint == pattern or endpoint.startswith(pattern + ".")


class FaultRule:
    """When one ``Fault`` happens: an endpoint filter plus a script (``on``) and/or a ``rate``.

    ``seen`` counts the requests that matched the endpoint (and ``when``); ``fired`` counts
    the requests the rule actually failed. Made by ``FaultPlan.add``.
    """

    def __init__(
        self,
        fault: Fault,
        *,
        endpoint: str | None,
        rate: float | None,
        on: frozenset[int],
        times: int | None,
        when: Callable[[RequestInfo], bool] | None,
        rng: random.Random,
    ) -> None:
        self.fault = fault
        self.endpoint = endpoint
        self.rate = rate
        self.on = on
        self.times = times
        self.when = when
        self.seen = 0
        self.fired = 0
        self._rng = rng

    def __repr__(self) -> str:
        return (
            f"FaultRule({self.fault.label!r}, endpoint={self.endpoint!r}, rate={self.rate}, "
            f"on={sorted(self.on)}, times={self.times}, seen={self.seen}, fired={self.fired})"
        )

    def _wants(self, info: RequestInfo) -> bool:
        """Count the request if it matches; say whether the rule would fire (plan lock held)."""
        if not _matches(self.endpoint, info.endpoint):
            return False
        if self.when is not None and not self.when(info):
            return False
        self.seen += 1
        # Draw for every matching request, so the seeded sequence does not depend on `on`.
        draw = self._rng.random() if self.rate is not None else 1.0
        if self.times is not None and self.fired >= self.times:
            return False
        return self.seen in self.on or (self.rate is not None and draw < self.rate)


class FaultPlan:
    """The fault rules of one fake server; thread-safe. Reached as ``FakeOpenAI.faults``.

    Every matching rule counts every request (so ``on=[3]`` always means the 3rd matching
    request, whatever other rules did); the first rule, in order of ``add``, that fires wins.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rules: list[FaultRule] = []
        self._created = 0
        self._lock = threading.Lock()

    def add(
        self,
        fault: Fault,
        endpoint: str | None = None,
        *,
        rate: float | None = None,
        on: Iterable[int] | None = None,
        times: int | None = None,
        when: Callable[[RequestInfo], bool] | None = None,
    ) -> FaultRule:
        """Fail matching requests with ``fault``; return the rule (to inspect or remove).

        Args:
            fault: what happens (``Fault.rate_limit()``, ``Fault.drop()``, ...).
            endpoint: an endpoint name or dotted prefix (``"chat.completions"``,
                ``"files"``, ``"fine_tuning.jobs.retrieve"``); ``None`` or ``"*"`` for all
                HTTP endpoints. ``"batch_line"`` targets request lines inside batches.
            rate: probability in [0, 1] that a matching request fails (seeded, repeatable).
            on: 1-based numbers of the matching requests that fail, e.g. ``[3, 5]``.
            times: fire at most this many times.
            when: extra predicate on the request (e.g. one ``custom_id``).

        With neither ``rate`` nor ``on`` every matching request fails (up to ``times``).

        Example::

            fake.faults.add(Fault.server_error(), "chat.completions", rate=0.2)
            fake.faults.add(Fault.drop(), "files.create", on=[1])
        """
        if endpoint is not None:
            check_endpoint(endpoint)
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ConfigError(f"rate must be in [0, 1], got {rate}")
        on_set = frozenset(on or ())
        if any(n < 1 for n in on_set):
            raise ConfigError("`on` counts requests from 1", hint=f"got {sorted(on_set)}")
        if times is not None and times < 0:
            raise ConfigError(f"times must be >= 0, got {times}")
        if rate is None and not on_set:
            rate = 1.0
        with self._lock:
            self._created += 1
            rng = random.Random(f"{self._seed}:{self._created}")  # noqa: S311 - test double
            rule = FaultRule(
                fault, endpoint=endpoint, rate=rate, on=on_set, times=times, when=when, rng=rng
            )
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        """Stop applying ``rule`` (no error if it is already gone)."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The active rules, in order of ``add``."""
        with self._lock:
            return tuple(self._rules)

    def pick(self, info: RequestInfo) -> Fault | None:
        """The fault for this request, or ``None``. Counts the request for every rule."""
        chosen: Fault | None = None
        with self._lock:
            for rule in self._rules:
                if rule._wants(info) and chosen is None:
                    rule.fired += 1
                    chosen = rule.fault
        return chosen
