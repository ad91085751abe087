"""The fake server's request log and counters."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Counters", "RequestLog", "RequestRecord", "elide_data_urls"]

_KEEP = 64


def elide_data_urls(value: Any) -> Any:
    """A copy of a JSON value with long ``data:`` URLs (base64 images) shortened."""
    if isinstance(value, str):
        if value.startswith("data:") and len(value) > 2 * _KEEP:
            head = value[: value.find(",") + 1] if "," in value[:_KEEP] else value[:_KEEP]
            return f"{head}...<{len(value)} chars>"
        return value
    if isinstance(value, dict):
        return {k: elide_data_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [elide_data_urls(v) for v in value]
    return value


@dataclass(frozen=True)
class RequestRecord:
    """One request the fake server received.

    Attributes:
        seq: 1-based request number.
        timestamp: wall-clock time (``time.time()``) when the request arrived.
        method: HTTP method.
        path: path below ``/v1`` (query string excluded).
        endpoint: endpoint name (``"chat.completions"``) or ``"unknown"``.
        query: query parameters.
        body: parsed JSON body with long ``data:`` URLs shortened; for multipart requests the
            form fields and ``{filename, bytes, content_type}`` per file. Never file bytes.
        status: HTTP status sent, or ``None`` when the connection was dropped or held.
        fault: the injected fault's label (``"429"``, ``"drop"``, ``"timeout"``,
            ``"malformed"``, ``"delay"``) or ``None``.
        error_code: the ``error.code`` (or ``error.type``) of an error answer, if any.
        auth_present: whether an ``Authorization`` header was sent. The key itself is never
            recorded.
        retry_count: the SDK's ``x-stainless-retry-count`` header (0 on first tries), if sent.
        duration_s: seconds from arrival to the answer (excluding a ``timeout`` fault's hold).
    """

    seq: int
    timestamp: float
    method: str
    path: str
    endpoint: str
    query: dict[str, str]
    body: Any
    status: int | None
    fault: str | None
    error_code: str | None
    auth_present: bool
    retry_count: int | None
    duration_s: float


@dataclass(frozen=True)
class Counters:
    """A snapshot of the request counters.

    Attributes:
        total: requests answered (or dropped) so far.
        by_endpoint: requests per endpoint name.
        by_status: requests per outcome: the HTTP status, or ``"drop"`` / ``"timeout"``.
        by_endpoint_status: requests per ``(endpoint, outcome)``.
        by_fault: injected faults per label.
        in_flight: requests being handled right now.
        max_in_flight: the most requests handled at the same time so far.
    """

    total: int
    by_endpoint: dict[str, int] = field(default_factory=dict)
    by_status: dict[int | str, int] = field(default_factory=dict)
    by_endpoint_status: dict[tuple[str, int | str], int] = field(default_factory=dict)
    by_fault: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0


class RequestLog:
    """Thread-safe request log and counters. Reached as ``FakeOpenAI.log``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._seq = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._by_endpoint: Counter[str] = Counter()
        self._by_status: Counter[int | str] = Counter()
        self._by_endpoint_status: Counter[tuple[str, int | str]] = Counter()
        self._by_fault: Counter[str] = Counter()

    def begin(self) -> int:
        """Count a request as in flight; return its sequence number."""
        with self._lock:
            self._seq += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            return self._seq

    def finish(self, record: RequestRecord) -> None:
        """Store a finished request and update the counters."""
        outcome: int | str = record.status if record.status is not None else (record.fault or "?")
        with self._lock:
            self._in_flight -= 1
            self._records.append(record)
            self._by_endpoint[record.endpoint] += 1
            self._by_status[outcome] += 1
            self._by_endpoint_status[(record.endpoint, outcome)] += 1
            if record.fault is not None:
                self._by_fault[record.fault] += 1

    def records(self, endpoint: str | None = None) -> list[RequestRecord]:
        """The finished requests in arrival order, optionally of one endpoint (or prefix)."""
        with self._lock:
            rows = list(self._records)
        rows.sort(key=lambda r: r.seq)
        if endpoint is None:
            return rows
        return [r for r in rows if r.endpoint == endpoint or r.endpoint.startswith(endpoint + ".")]

    def count(self, endpoint: str | None = None, status: int | str | None = None) -> int:
        """How many finished requests match ``endpoint`` (name or prefix) and ``status``."""
        return sum(
            1
            for r in self.records(endpoint)
            if status is None or r.status == status or (r.status is None and r.fault == status)
        )

    def counters(self) -> Counters:
        """A snapshot of the counters."""
        with self._lock:
            return Counters(
                total=sum(self._by_endpoint.values()),
                by_endpoint=dict(self._by_endpoint),
                by_status=dict(self._by_status),
                by_endpoint_status=dict(self._by_endpoint_status),
                by_fault=dict(self._by_fault),
                in_flight=self._in_flight,
                max_in_flight=self._max_in_flight,
            )

    def reset(self) -> None:
        """Forget the records and zero the counters (sequence numbers restart at 1)."""
        with self._lock:
            self._records.clear()
            self._seq = 0
            self._max_in_flight = self._in_flight
            self._by_endpoint.clear()
            self._by_status.clear()
            self._by_endpoint_status.clear()
            self._by_fault.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
