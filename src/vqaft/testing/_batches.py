"""Batches of the fake server: validate the input file, run each line, write output files."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vqaft.errors import ConfigError
from vqaft.testing._api_error import ApiError, not_found
from vqaft.testing._files import FileService
from vqaft.testing._jobs import Advance
from vqaft.testing._store import Store, paginate

__all__ = [
    "BATCH_STATUSES",
    "DEFAULT_BATCH_SCRIPT",
    "BatchService",
    "LineRunner",
    "normalise_batch_script",
]

BATCH_STATUSES = frozenset(
    {
        "validating",
        "failed",
        "in_progress",
        "finalizing",
        "completed",
        "expired",
        "cancelling",
        "cancelled",
    }
)
_TERMINAL = frozenset({"failed", "completed", "expired", "cancelled"})
DEFAULT_BATCH_SCRIPT: tuple[str, ...] = ("validating", "in_progress", "finalizing", "completed")
MAX_BATCH_REQUESTS = 50_000
SUPPORTED_BATCH_ENDPOINTS = ("/v1/chat/completions",)

#: Runs one batch line: (request body, custom_id, seq) -> (status code, response body).
LineRunner = Callable[[Mapping[str, Any], str, int], tuple[int, dict[str, Any]]]


def normalise_batch_script(script: Sequence[str] | None) -> tuple[str, ...]:
    """Check a batch script (statuses in order); raise ``ConfigError`` if it is wrong."""
    if script is None:
        return DEFAULT_BATCH_SCRIPT
    steps = tuple(script)
    if isinstance(script, str) or not steps:
        raise ConfigError(
            "a batch script must be a non-empty sequence of statuses",
            hint=f"e.g. {list(DEFAULT_BATCH_SCRIPT)}",
        )
    for index, status in enumerate(steps):
        if status not in BATCH_STATUSES:
            raise ConfigError(
                f"unknown batch status {status!r}",
                hint="use one of " + ", ".join(sorted(BATCH_STATUSES)),
            )
        if status in _TERMINAL and index != len(steps) - 1:
            raise ConfigError(
                f"batch script step {index} is the final status {status!r} but more steps follow"
            )
    return steps


@dataclass
class _Line:
    number: int
    custom_id: str
    body: dict[str, Any]


@dataclass
class _Batch:
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, Any] | None
    created_at: int
    base_time: float
    script: tuple[str, ...]
    status: str = "validating"
    pos: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    times: dict[str, int | None] = field(default_factory=dict)
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] | None = None
    lines: list[_Line] = field(default_factory=list)
    results: list[tuple[_Line, int, dict[str, Any]]] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": None if self.errors is None else {"object": "list", "data": self.errors},
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.times.get("in_progress"),
            "expires_at": self.created_at + 24 * 3600,
            "finalizing_at": self.times.get("finalizing"),
            "completed_at": self.times.get("completed"),
            "failed_at": self.times.get("failed"),
            "expired_at": self.times.get("expired"),
            "cancelling_at": self.times.get("cancelling"),
            "cancelled_at": self.times.get("cancelled"),
            "request_counts": {
                "total": self.total,
                "completed": self.completed,
                "failed": self.failed,
            },
            "usage": self.usage,
            "metadata": self.metadata,
        }


def _line_error(number: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": number}


def parse_batch_input(content: bytes, endpoint: str) -> tuple[list[_Line], list[dict[str, Any]]]:
    """Parse and check a batch input file; return its lines and the problems found."""
    lines: list[_Line] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    text = content.decode("utf-8", "replace")
    url = endpoint[len("/v1") :] if endpoint.startswith("/v1") else endpoint
    # Split at "\n" only: str.splitlines also splits at U+2028 and U+0085.
    for number, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            errors.append(
                _line_error(
                    number, "invalid_json_line", "This line is not parseable as valid JSON."
                )
            )
            continue
        if not isinstance(record, dict):
            errors.append(
                _line_error(number, "invalid_request", "Each line must be a JSON object.")
            )
            continue
        custom_id = record.get("custom_id")
        body = record.get("body")
        if not isinstance(custom_id, str) or not custom_id:
            errors.append(
                _line_error(
                    number,
                    "missing_required_parameter",
                    "Missing required parameter: 'custom_id'.",
                    "custom_id",
                )
            )
        elif custom_id in seen:
            errors.append(
                _line_error(
                    number,
                    "duplicate_custom_id",
                    f"The custom_id {custom_id!r} appears more than once.",
                    "custom_id",
                )
            )
        elif record.get("method") != "POST":
            errors.append(
                _line_error(
                    number, "invalid_method", "The 'method' of each line must be 'POST'.", "method"
                )
            )
        elif record.get("url") not in (endpoint, url):
            errors.append(
                _line_error(
                    number,
                    "mismatched_endpoint",
                    f"The 'url' {record.get('url')!r} does not match the "
                    f"batch endpoint {endpoint!r}.",
                    "url",
                )
            )
        elif not isinstance(body, dict) or not isinstance(body.get("model"), str):
            errors.append(
                _line_error(
                    number,
                    "missing_required_parameter",
                    "Each line needs a 'body' object with a 'model'.",
                    "body",
                )
            )
        else:
            seen.add(custom_id)
            lines.append(_Line(number, custom_id, body))
    if not lines and not errors:
        errors.append(_line_error(1, "empty_file", "The input file has no requests."))
    if len(lines) > MAX_BATCH_REQUESTS:
        errors.append(
            _line_error(
                MAX_BATCH_REQUESTS + 1,
                "too_many_requests",
                f"A batch holds at most {MAX_BATCH_REQUESTS} requests.",
            )
        )
    return lines, errors


class BatchService:
    """``/batches``: scripted lifecycle; lines run through the chat responder when finalizing."""

    def __init__(
        self,
        store: Store,
        files: FileService,
        run_line: LineRunner,
        *,
        script: Sequence[str] | None,
        advance: Advance,
    ) -> None:
        self._store = store
        self._files = files
        self._run_line = run_line
        self._batches: dict[str, _Batch] = {}
        self.script = normalise_batch_script(script)
        self.advance_mode: Advance = advance

    def _batch(self, batch_id: str) -> _Batch:
        with self._store.lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            raise not_found("batch", batch_id, param="batch_id")
        return batch

    def clear(self) -> None:
        """Forget every batch."""
        with self._store.lock:
            self._batches.clear()

    # -- lifecycle (batch.lock held) ----------------------------------------------------

    def _process(self, batch: _Batch, seq: int) -> None:
        if batch.results is not None:
            return
        results = []
        prompt = completion = 0
        for line in batch.lines:
            status, body = self._run_line(line.body, line.custom_id, seq)
            results.append((line, status, body))
            if status == 200:
                usage = body.get("usage") or {}
                prompt += int(usage.get("prompt_tokens", 0))
                completion += int(usage.get("completion_tokens", 0))
        batch.results = results
        batch.completed = sum(1 for _, status, _ in results if status == 200)
        batch.failed = len(results) - batch.completed
        batch.usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        }

    def _write_files(self, batch: _Batch, *, expired: bool) -> None:
        out: list[str] = []
        err: list[str] = []
        for line, status, body in batch.results or []:
            row = {
                "id": self._store.ids.hex("batch_req_", 32),
                "custom_id": line.custom_id,
                "response": {
                    "status_code": status,
                    "request_id": self._store.ids.hex("req_", 32),
                    "body": body,
                },
                "error": None,
            }
            (out if status == 200 else err).append(json.dumps(row))
        if expired and batch.results is None:
            for line in batch.lines:
                err.append(
                    json.dumps(
                        {
                            "id": self._store.ids.hex("batch_req_", 32),
                            "custom_id": line.custom_id,
                            "response": None,
                            "error": {
                                "code": "batch_expired",
                                "message": "This request could not be "
                                "executed before the completion window expired.",
                            },
                        }
                    )
                )
            batch.failed = len(batch.lines)
        if out:
            batch.output_file_id = self._files.add(
                f"{batch.id}_output.jsonl", "batch_output", ("\n".join(out) + "\n").encode()
            ).id
        if err:
            batch.error_file_id = self._files.add(
                f"{batch.id}_error.jsonl", "batch_output", ("\n".join(err) + "\n").encode()
            ).id

    def _enter(self, batch: _Batch, status: str, seq: int) -> None:
        if batch.status == "validating" and status not in ("failed", "cancelling", "cancelled"):
            stored = self._files.find(batch.input_file_id)
            lines, errors = parse_batch_input(stored.content if stored else b"", batch.endpoint)
            if errors:
                batch.errors = errors
                batch.status = "failed"
                batch.times["failed"] = self._store.now()
                return
            batch.lines = lines
            batch.total = len(lines)
            models = {line.body.get("model") for line in lines}
            batch.model = str(models.pop()) if len(models) == 1 else None
        batch.status = status
        batch.times[status] = self._store.now()
        if status == "in_progress":
            return
        if status in ("finalizing", "completed"):
            self._process(batch, seq)
        if status == "failed" and batch.errors is None:
            batch.errors = [
                _line_error(0, "fake_failure", "The batch failed (scripted by FakeOpenAI).")
            ]
        if status in ("completed", "expired", "cancelled"):
            self._write_files(batch, expired=status == "expired")

    def _step(self, batch: _Batch, seq: int) -> bool:
        if batch.status in _TERMINAL or batch.pos >= len(batch.script) - 1:
            return False
        batch.pos += 1
        self._enter(batch, batch.script[batch.pos], seq)
        return True

    def _sync(self, batch: _Batch, seq: int, *, retrieve: bool) -> None:
        mode = self.advance_mode
        if isinstance(mode, str):
            if retrieve:
                self._step(batch, seq)
            return
        target = int((self._store.clock() - batch.base_time) / float(mode))
        while batch.pos < target and self._step(batch, seq):
            pass

    # -- endpoints ----------------------------------------------------------------------

    def create(self, body: Any, seq: int) -> dict[str, Any]:
        """``POST /batches``."""
        if not isinstance(body, Mapping):
            raise ApiError(400, "Expected a JSON object body.")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(name), str) or not body.get(name):
                raise ApiError(
                    400,
                    f"Missing required parameter: '{name}'.",
                    param=name,
                    code="missing_required_parameter",
                )
        if body["endpoint"] not in SUPPORTED_BATCH_ENDPOINTS:
            raise ApiError(
                400,
                f"FakeOpenAI runs batches for {list(SUPPORTED_BATCH_ENDPOINTS)} "
                f"only, not {body['endpoint']!r}.",
                param="endpoint",
            )
        if body["completion_window"] != "24h":
            raise ApiError(
                400,
                "Invalid 'completion_window': only '24h' is supported.",
                param="completion_window",
            )
        stored = self._files.find(body["input_file_id"])
        if stored is None:
            raise not_found("File object", body["input_file_id"], param="input_file_id")
        if stored.purpose != "batch":
            raise ApiError(
                400,
                f"File {stored.id} has purpose {stored.purpose!r}; a batch input "
                "file must be uploaded with purpose 'batch'.",
                param="input_file_id",
            )
        metadata = body.get("metadata")
        with self._store.lock:
            batch = _Batch(
                id=self._store.ids.hex("batch_", 32),
                endpoint=body["endpoint"],
                input_file_id=stored.id,
                completion_window="24h",
                metadata=dict(metadata) if isinstance(metadata, Mapping) else None,
                created_at=self._store.now(),
                base_time=self._store.clock(),
                script=self.script,
            )
            self._batches[batch.id] = batch
        with batch.lock:
            if self.script[0] != "validating":
                self._enter(batch, self.script[0], seq)
            return batch.to_api()

    def retrieve(self, batch_id: str, seq: int) -> dict[str, Any]:
        """``GET /batches/{id}``; moves the batch one step in ``"retrieve"`` mode."""
        batch = self._batch(batch_id)
        with batch.lock:
            self._sync(batch, seq, retrieve=True)
            return batch.to_api()

    def list(self, query: Mapping[str, str], seq: int) -> dict[str, Any]:
        """``GET /batches`` (newest first)."""
        with self._store.lock:
            batches = list(reversed(self._batches.values()))
        items = []
        for batch in batches:
            with batch.lock:
                self._sync(batch, seq, retrieve=False)
                items.append(batch.to_api())
        return paginate(items, query, default_limit=20, max_limit=100, first_last_ids=True)

    def cancel(self, batch_id: str, seq: int) -> dict[str, Any]:
        """``POST /batches/{id}/cancel``: ``cancelling`` now, ``cancelled`` on the next step."""
        batch = self._batch(batch_id)
        with batch.lock:
            self._sync(batch, seq, retrieve=False)
            if batch.status in _TERMINAL or batch.status == "cancelling":
                raise ApiError(400, f"Batch {batch_id} is {batch.status}; it cannot be cancelled.")
            batch.status = "cancelling"
            batch.times["cancelling"] = self._store.now()
            batch.script = (*batch.script[: batch.pos + 1], "cancelled")
            return batch.to_api()

    def advance(self, batch_id: str, steps: int, seq: int = 0) -> str:
        """Move a batch up to ``steps`` steps along its script; return its status."""
        batch = self._batch(batch_id)
        with batch.lock:
            for _ in range(steps):
                if not self._step(batch, seq):
                    break
            return batch.status
