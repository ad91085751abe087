"""Batch API mode: the same predictions at half the price, answered within 24 hours.

:func:`predict_batch` writes the requests still to be answered as Batch API input files
(``custom_id`` = example id; split so that no file exceeds 50,000 requests or 200 MB),
uploads them (purpose ``batch``), creates one batch per file, polls them with a progress bar,
downloads their output and error files and joins the answers by ``custom_id`` into the same
predictions store that online prediction writes -- so the two modes mix freely, and the
evaluation reads either.

It is idempotent. What it has done is kept next to the store in ``<out stem>.batches.json``
(input file ids, batch ids, statuses; never the key), saved after every step, so running it
again -- after Ctrl-C, a crash, or with ``wait=False`` -- re-attaches to the batches already
created instead of paying for new ones; a batch whose creation was interrupted is found again
by its input file. Examples in a running batch are not sent again; with ``retry_failed=True``
examples whose batch line failed go into a new batch.

>>> summary = predict_batch("runs/demo/data/test.jsonl", "gpt-4o")  # doctest: +SKIP
>>> summary.format_text()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import openai
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from vqaft.errors import ConfigError, PredictionError
from vqaft.predict.base import RequestFailed
from vqaft.predict.chat_format import (
    MalformedResponse,
    RequestOptions,
    build_body,
    parse_completion,
)
from vqaft.predict.connection import OpenAIConnection
from vqaft.predict.records import answer_record, failure_record
from vqaft.predict.retry import RetryPolicy, fatal_error, redact, retry
from vqaft.predict.runner import PredictionSummary, _Tally, open_store, summarize, to_do
from vqaft.predict.store import PredictionStore
from vqaft.predict.testfile import ExampleRef, default_output_path, iter_requests, read_test_ids

__all__ = ["BatchLimits", "BatchPart", "BatchState", "batch_state_path", "predict_batch"]

T = TypeVar("T")

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_FIND_PAGES = 100  # pages of 100 batches read when looking for one by its input file
"""Batch statuses after which nothing changes."""


@dataclass(frozen=True)
class BatchLimits:
    """How large one batch may be (OpenAI: 50,000 requests and a 200 MB input file).

    >>> BatchLimits().max_requests
    50000
    """

    max_requests: int = 50_000
    max_bytes: int = 200 * 1000 * 1000

    def __post_init__(self) -> None:
        if self.max_requests < 1 or self.max_bytes < 1:
            raise ConfigError("batch limits must be >= 1")


class BatchPart(BaseModel):
    """One batch: its input, its server-side ids and how far it got."""

    number: int
    requests: int
    bytes: int
    custom_ids: list[str]
    input_path: str | None = None
    input_file_id: str | None = None
    input_file_created_at: int | None = None
    batch_id: str | None = None
    status: str = "building"
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    joined: bool = False


class BatchState(BaseModel):
    """Everything Batch mode has done for one predictions file (``<stem>.batches.json``)."""

    version: int = 1
    model: str
    endpoint: str
    test_file: str
    parts: list[BatchPart] = Field(default_factory=list)

    def save(self, path: Path) -> None:
        """Write the state atomically."""
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(self.model_dump_json(indent=2) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> BatchState | None:
        """Read the state, or ``None`` if there is none.

        Raises:
            ConfigError: the file exists but is not a batch state.
        """
        if not path.is_file():
            return None
        try:
            return cls.model_validate_json(path.read_bytes())
        except ValueError as exc:
            raise ConfigError(
                f"cannot read the batch state: {exc}",
                file=str(path),
                hint="if no batch is running any more, delete the file and run again",
            ) from None


def batch_state_path(out: str | os.PathLike[str]) -> Path:
    """Where Batch mode keeps its state for the predictions file ``out``.

    >>> batch_state_path("predictions/gpt-4o.jsonl").as_posix()
    'predictions/gpt-4o.batches.json'
    """
    path = Path(out)
    return path.with_name(f"{path.stem}.batches.json")


class _Api:
    """The Batch API calls, retried and with errors turned into vqaft errors."""

    def __init__(
        self, client: openai.OpenAI, policy: RetryPolicy, secret: str | None, model: str
    ) -> None:
        self.client = client
        self.policy = policy
        self.secret = secret
        self.model = model

    def call(self, what: str, send: Callable[[], T]) -> T:
        try:
            return retry(
                send,
                policy=self.policy,
                fatal=lambda f: fatal_error(f, model=self.model),
                secret=self.secret,
            )
        except RequestFailed as failed:
            raise PredictionError(
                f"{what} failed: {failed.message}",
                hint="check the input and the endpoint; rerun to resume",
            ) from failed

    def upload(self, path: Path) -> tuple[str, int | None]:
        """Upload a batch input file; its id and creation time (server clock, Unix seconds)."""

        def send() -> tuple[str, int | None]:
            with open(path, "rb") as handle:
                uploaded = self.client.files.create(file=handle, purpose="batch")
            created = getattr(uploaded, "created_at", None)
            return uploaded.id, int(created) if isinstance(created, (int, float)) else None

        return self.call(f"uploading {path.name}", send)

    def find_batch(self, input_file_id: str, not_before: int | None = None) -> Any:
        """The batch made from ``input_file_id``, or None.

        Batches are listed newest first, page by page, until one is found or the listing
        reaches batches created before the input file was (``not_before``, the file's
        ``created_at`` on the same server clock): none of those can use it. Without that
        time, at most :data:`_FIND_PAGES` pages are read.
        """
        page = self.call("listing batches", lambda: self.client.batches.list(limit=100))
        for _ in range(_FIND_PAGES):
            for batch in page.data:
                if batch.input_file_id == input_file_id:
                    return batch
            older = [b.created_at for b in page.data if isinstance(b.created_at, int)]
            if not_before is not None and older and min(older) < not_before:
                return None
            if not page.has_next_page():
                return None
            page = self.call("listing batches", page.get_next_page)
        return None

    def create(self, input_file_id: str, endpoint: str, metadata: Mapping[str, str]) -> Any:
        return self.call(
            "creating a batch",
            lambda: self.client.batches.create(
                input_file_id=input_file_id,
                endpoint=endpoint,  # type: ignore[arg-type]
                completion_window="24h",
                metadata=dict(metadata),
            ),
        )

    def retrieve(self, batch_id: str) -> Any:
        return self.call(
            f"checking batch {batch_id}", lambda: self.client.batches.retrieve(batch_id)
        )

    def content(self, file_id: str) -> bytes:
        return self.call(
            f"downloading {file_id}", lambda: self.client.files.content(file_id).content
        )


def _update(part: BatchPart, batch: Any) -> bool:
    counts = getattr(batch, "request_counts", None)
    errors = getattr(batch, "errors", None)
    data = getattr(errors, "data", None) or []
    new = {
        "batch_id": batch.id,
        "status": str(batch.status),
        "completed": int(getattr(counts, "completed", 0) or 0),
        "failed": int(getattr(counts, "failed", 0) or 0),
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "errors": [e.model_dump(exclude_none=True) for e in data],
    }
    changed = any(getattr(part, k) != v for k, v in new.items())
    for key, value in new.items():
        setattr(part, key, value)
    return changed


def _write_parts(
    test_file: str | os.PathLike[str],
    refs: Sequence[ExampleRef],
    wanted: set[str],
    *,
    model: str,
    options: RequestOptions | None,
    endpoint: str,
    limits: BatchLimits,
    out: Path,
    first_number: int,
    store: PredictionStore,
    tally: _Tally,
) -> list[BatchPart]:
    parts: list[BatchPart] = []
    handle: IO[bytes] | None = None
    current: BatchPart | None = None
    url = endpoint
    try:
        for ref, request in iter_requests(test_file, refs, wanted):
            if isinstance(request, RequestFailed):
                store.append(failure_record(ref, model, request))
                tally.sent += 1
                tally.failed += 1
                continue
            line = {
                "custom_id": ref.example_id,
                "method": "POST",
                "url": url,
                "body": build_body(model, request.messages, options),
            }
            data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
            if len(data) > limits.max_bytes:
                too_big = RequestFailed(
                    f"the request is {len(data)} bytes, more than a batch file may hold "
                    f"({limits.max_bytes})",
                    kind="too_large",
                    attempts=0,
                    example_id=ref.example_id,
                )
                store.append(failure_record(ref, model, too_big))
                tally.sent += 1
                tally.failed += 1
                continue
            if current is None or (
                current.requests + 1 > limits.max_requests
                or current.bytes + len(data) > limits.max_bytes
            ):
                if handle is not None:
                    handle.close()
                number = first_number + len(parts)
                path = out.with_name(f"{out.stem}.batch-{number}.jsonl")
                handle = open(path, "wb")  # noqa: SIM115 - closed when the part is full
                current = BatchPart(
                    number=number, requests=0, bytes=0, custom_ids=[], input_path=str(path)
                )
                parts.append(current)
            if handle is None:  # pragma: no cover - opened with the part above
                raise PredictionError("internal error: no batch input file open")
            handle.write(data)
            current.requests += 1
            current.bytes += len(data)
            current.custom_ids.append(ref.example_id)
            tally.sent += 1
            tally.requests += 1
    finally:
        if handle is not None:
            handle.close()
    return parts


def _result_lines(content: bytes) -> Iterable[dict[str, Any]]:
    for raw in content.splitlines():
        if not raw.strip():
            continue
        with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError):
            data = json.loads(raw)
            if isinstance(data, dict) and isinstance(data.get("custom_id"), str):
                yield data


def _line_failure(line: Mapping[str, Any], secret: str | None, cid: str) -> RequestFailed:
    response = line.get("response")
    if not isinstance(response, dict):
        response = {}
    status = response.get("status_code")
    body = response.get("body")
    error = line.get("error")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
    code = message = None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        message = error.get("message")
    status = status if isinstance(status, int) else None
    if status == 429:
        kind = "rate_limited"
    elif status is not None and status >= 500:
        kind = "server_error"
    elif status == 400:
        kind = "bad_request"
    elif status is not None:
        kind = f"http_{status}"
    else:
        kind = str(code or "batch_error")
    return RequestFailed(
        redact(str(message or "the batch line failed"), secret),
        kind=kind,
        status=status,
        code=str(code) if code else None,
        example_id=cid,
    )


def _join(
    api: _Api,
    part: BatchPart,
    refs: Mapping[str, ExampleRef],
    store: PredictionStore,
    model: str,
    tally: _Tally,
) -> None:
    results: dict[str, dict[str, Any]] = {}
    for file_id in (part.output_file_id, part.error_file_id):
        if file_id:
            for line in _result_lines(api.content(file_id)):
                results[line["custom_id"]] = line
    batch_error = (
        "; ".join(str(e.get("message")) for e in part.errors if e.get("message"))
        or f"the batch ended '{part.status}' without an answer for this example"
    )
    answered = store.answered()
    for cid in part.custom_ids:
        ref = refs.get(cid)
        if ref is None:
            continue
        previous = store.get(cid)
        if cid in answered or (previous is not None and previous.get("batch_id") == part.batch_id):
            continue  # answered meanwhile, or joined before an interruption
        result = results.get(cid)
        record: dict[str, Any]
        if result is None:
            failure = RequestFailed(
                redact(batch_error, api.secret), kind=f"batch_{part.status}", example_id=cid
            )
            record = failure_record(ref, model, failure, batch_id=part.batch_id)
        else:
            response = result.get("response")
            ok = isinstance(response, dict) and response.get("status_code") == 200
            try:
                if not ok:
                    raise _line_failure(result, api.secret, cid)
                completion = parse_completion(response.get("body"))  # type: ignore[union-attr]
                record = answer_record(ref, model, completion, batch_id=part.batch_id)
            except MalformedResponse as exc:
                failure = RequestFailed(
                    f"malformed batch answer: {exc}", kind="malformed_response", example_id=cid
                )
                record = failure_record(ref, model, failure, batch_id=part.batch_id)
            except RequestFailed as failure:
                record = failure_record(ref, model, failure, batch_id=part.batch_id)
        store.append(record)
        if record["error"] is None:
            tally.answered += 1
            tally.add_usage(record["usage"])
        else:
            tally.failed += 1
    part.joined = True


def _endpoint(client: openai.OpenAI) -> str:
    return "/chat/completions" if isinstance(client, openai.AzureOpenAI) else "/v1/chat/completions"


def predict_batch(
    test_file: str | os.PathLike[str],
    model: str,
    *,
    out: str | os.PathLike[str] | None = None,
    connection: OpenAIConnection | None = None,
    client: openai.OpenAI | None = None,
    options: RequestOptions | None = None,
    retry_failed: bool = False,
    wait: bool = True,
    poll_interval: float = 30.0,
    max_wait: float | None = None,
    limits: BatchLimits | None = None,
    metadata: Mapping[str, str] | None = None,
    retry_policy: RetryPolicy | None = None,
    progress: bool = False,
    fsync_interval: float = 1.0,
    sleep: Callable[[float], Any] = time.sleep,
) -> PredictionSummary:
    """Predict ``test_file`` with OpenAI's Batch API into the store ``out``.

    Args:
        test_file: a chat JSONL test file with its ``<stem>.ids.jsonl`` side file.
        model: the model (or Azure deployment).
        out: the predictions file (default ``predictions/<model>.jsonl`` in the run folder);
            the state goes to ``<stem>.batches.json`` next to it.
        connection: the endpoint (default: OpenAI, key in ``OPENAI_API_KEY``).
        client: a ready ``openai.OpenAI`` instead of ``connection`` (its retries are switched
            off; vqaft retries).
        options: request options for every line.
        retry_failed: put examples whose latest record is a failure into a new batch.
        wait: poll until every batch has ended; ``False`` submits, collects what has ended
            and returns (run again later to collect the rest).
        poll_interval: seconds between status checks.
        max_wait: stop waiting after this many seconds (the batches keep running).
        limits: requests and bytes per batch (default OpenAI's 50,000 and 200 MB).
        metadata: extra batch metadata (string values).
        retry_policy: retries of the API calls (default 5 attempts).
        progress: show a progress bar while polling.
        fsync_interval: seconds between ``fsync`` calls on the store.
        sleep: how to wait between polls (tests pass a no-op).

    Raises:
        PredictionError: authentication, quota or an API call that keeps failing; a rerun
            resumes where this one stopped.
        ConfigError: ``out`` belongs to another model or test file, or bad arguments.
    """
    if connection is not None and client is not None:
        raise ConfigError("give connection= or client=, not both")
    if poll_interval < 0:
        raise ConfigError(f"poll_interval must be >= 0, got {poll_interval}")
    started = time.perf_counter()
    limits = limits or BatchLimits()
    policy = retry_policy or RetryPolicy(max_attempts=5)
    if client is None:
        connection = connection or OpenAIConnection()
        api_client = connection.sync_client(max_retries=0)
        secret = connection.secret()
        owned = True
    else:
        api_client = client.with_options(max_retries=0)
        secret = str(getattr(client, "api_key", "") or "") or None
        owned = False
    api = _Api(api_client, policy, secret, model)
    try:
        refs = read_test_ids(test_file)
        by_id = {r.example_id: r for r in refs}
        target = Path(out) if out is not None else default_output_path(test_file, model)
        state_path = batch_state_path(target)
        with open_store(target, model, refs, fsync_interval=fsync_interval) as store:
            tally = _Tally()
            try:
                state = _prepare_state(state_path, model, _endpoint(api_client), test_file)
                pending = to_do(store, refs, retry_failed)
                skipped = len(refs) - len(pending)
                live = {cid for p in state.parts if not p.joined for cid in p.custom_ids}
                wanted = pending - live
                if wanted:
                    state.parts += _write_parts(
                        test_file,
                        refs,
                        wanted,
                        model=model,
                        options=options,
                        endpoint=state.endpoint,
                        limits=limits,
                        out=target,
                        first_number=max((p.number for p in state.parts), default=0) + 1,
                        store=store,
                        tally=tally,
                    )
                    state.save(state_path)
                active = [p for p in state.parts if not p.joined]
                extra = {str(k): str(v) for k, v in (metadata or {}).items()}
                for part in active:
                    _submit(api, part, state, state_path, model, test_file, extra)
                _poll(
                    api, active, state, state_path, wait, poll_interval, max_wait, progress, sleep
                )
                for part in active:
                    if part.status in TERMINAL:
                        _join(api, part, by_id, store, model, tally)
                        state.save(state_path)
                tally.batches = [p.batch_id for p in active if p.batch_id]
                tally.pending_batches = [
                    p.batch_id for p in active if p.batch_id and p.status not in TERMINAL
                ]
            finally:
                store.compact([r.example_id for r in refs])
            return summarize(
                out=target,
                model=model,
                mode="batch",
                refs=refs,
                store=store,
                skipped=skipped,
                tally=tally,
                started=started,
            )
    finally:
        if owned:
            api_client.close()


def _prepare_state(
    state_path: Path, model: str, endpoint: str, test_file: str | os.PathLike[str]
) -> BatchState:
    state = BatchState.load(state_path)
    if state is None:
        return BatchState(model=model, endpoint=endpoint, test_file=str(test_file))
    if state.model != model:
        raise ConfigError(
            f"the batch state belongs to model {state.model!r}",
            file=str(state_path),
            hint="choose another --out for this model",
        )
    # A part that was never uploaded is rebuilt from the test file.
    kept = []
    for part in state.parts:
        if part.input_file_id is None and not part.joined:
            if part.input_path:
                with contextlib.suppress(OSError):
                    Path(part.input_path).unlink()
            continue
        kept.append(part)
    state.parts = kept
    return state


def _submit(
    api: _Api,
    part: BatchPart,
    state: BatchState,
    state_path: Path,
    model: str,
    test_file: str | os.PathLike[str],
    metadata: Mapping[str, str],
) -> None:
    if part.input_file_id is None:
        if part.input_path is None:  # pragma: no cover - parts are built with a path
            raise PredictionError(f"batch part {part.number} has no input file")
        part.input_file_id, part.input_file_created_at = api.upload(Path(part.input_path))
        part.status = "uploaded"
        state.save(state_path)
        with contextlib.suppress(OSError):
            Path(part.input_path).unlink()
        part.input_path = None
        state.save(state_path)
    if part.batch_id is None:
        batch = api.find_batch(part.input_file_id, part.input_file_created_at)
        if batch is None:
            batch = api.create(
                part.input_file_id,
                state.endpoint,
                {
                    "source": "vqaft",
                    "model": model[:500],
                    "test_file": Path(test_file).name[:500],
                    "part": str(part.number),
                    **metadata,
                },
            )
        _update(part, batch)
        state.save(state_path)


def _poll(
    api: _Api,
    parts: Sequence[BatchPart],
    state: BatchState,
    state_path: Path,
    wait: bool,
    poll_interval: float,
    max_wait: float | None,
    progress: bool,
    sleep: Callable[[float], Any],
) -> None:
    total = sum(p.requests for p in parts)
    bar = tqdm(total=total, desc=f"batch {state.model}", unit="req", disable=not progress)
    started = time.monotonic()
    try:
        while True:
            changed = False
            for part in parts:
                if part.status not in TERMINAL and part.batch_id is not None:
                    changed |= _update(part, api.retrieve(part.batch_id))
            if changed:
                state.save(state_path)
            done = sum(p.completed + p.failed for p in parts)
            bar.n = min(done, total)
            statuses = sorted({p.status for p in parts})
            bar.set_postfix_str(", ".join(statuses), refresh=False)
            bar.refresh()
            if all(p.status in TERMINAL for p in parts) or not wait:
                return
            if max_wait is not None and time.monotonic() - started >= max_wait:
                return
            sleep(poll_interval)
    finally:
        bar.close()
