"""``FakeOpenAI``: a local OpenAI-compatible HTTP server for tests and benchmarks."""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from vqaft.errors import ConfigError, VqaftError
from vqaft.testing._api_error import ApiError, error_body
from vqaft.testing._batches import BatchService
from vqaft.testing._chat import ChatService
from vqaft.testing._faults import Fault, FaultPlan
from vqaft.testing._files import FileService
from vqaft.testing._job_script import JobScript, StepLike
from vqaft.testing._jobs import Advance, JobService
from vqaft.testing._log import RequestLog, RequestRecord, elide_data_urls
from vqaft.testing._parse import ParsedBody, parse_body
from vqaft.testing._request import RequestInfo
from vqaft.testing._responders import Responder, default_responder
from vqaft.testing._routes import Call, RawContent, Router
from vqaft.testing._server import Action, Answer, Drop, Hold, IncomingRequest, LoopbackServer
from vqaft.testing._store import Store

if TYPE_CHECKING:
    import openai

__all__ = ["FakeOpenAI", "FakeServerError", "Latency"]

#: Injected latency: seconds for every request, or a function of the request.
Latency = float | Callable[[RequestInfo], float]

_MiB = 1024 * 1024
_DUMMY_KEY = "sk-fake-not-a-real-key"
_MALFORMED = b'{"id": "chatcmpl-fake", "object": "chat.completion", "choices": [{"index": 0, "mess'
_RATE_HEADERS = (
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-reset-requests", "6ms"),
    ("x-ratelimit-limit-tokens", "30000000"),
    ("x-ratelimit-remaining-tokens", "29999000"),
    ("x-ratelimit-reset-tokens", "2ms"),
)


class FakeServerError(VqaftError):
    """The fake server itself failed while answering (a bug, or a responder that raised).

    Raised when a ``strict`` ``FakeOpenAI`` leaves its ``with`` block; the failures are also
    listed in ``FakeOpenAI.internal_errors`` and were answered with HTTP 500.
    """


def _check_latency(latency: Latency) -> Latency:
    if callable(latency):
        return latency
    if isinstance(latency, bool) or not isinstance(latency, (int, float)):
        raise ConfigError(f"latency must be seconds or a callable, got {latency!r}")
    if latency < 0 or not math.isfinite(latency):
        raise ConfigError(f"latency must be >= 0 seconds, got {latency}")
    return float(latency)


def _check_advance(advance: Advance) -> Advance:
    if advance == "retrieve":
        return advance
    if isinstance(advance, (int, float)) and not isinstance(advance, bool) and advance > 0:
        return float(advance)
    raise ConfigError(
        f"advance must be 'retrieve' or a number of seconds > 0, got {advance!r}",
        hint="'retrieve' moves jobs and batches one step per retrieve call",
    )


class FakeOpenAI:
    """A local OpenAI-compatible HTTP server (127.0.0.1, a free port) for tests.

    It speaks enough of the OpenAI REST API for the official ``openai`` SDK: files,
    uploads, fine-tuning jobs (scripted lifecycle, events, checkpoints, a base64 CSV result
    file), chat completions (pluggable responders, structured output) and batches, with
    injected latency, fault injection, a request log and counters.

    Example::

        from vqaft.testing import FakeOpenAI, Fault

        with FakeOpenAI(latency=0.01) as fake:
            fake.faults.add(Fault.rate_limit(retry_after=0.1), "chat.completions", on=[1])
            client = fake.client()
            reply = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
            assert fake.log.count("chat.completions") == 2  # one 429, one retry

    Args:
        responder: the fake model, ``f(ChatRequest) -> answer`` (see ``default_responder``).
        latency: seconds to wait before answering each request, or ``f(RequestInfo) -> s``.
        job_script: statuses every new fine-tuning job goes through (strings or
            ``JobStep``), or ``f(create_body) -> script``. Default: validating_files,
            queued, running, succeeded.
        batch_script: statuses of new batches. Default: validating, in_progress,
            finalizing, completed.
        advance: ``"retrieve"`` (each retrieve moves a job or batch one step) or seconds per
            step of ``clock``.
        api_key: when set, requests must send exactly this bearer key (else 401).
        seed: seeds object ids and rate-based faults, so runs repeat.
        clock: the time source for timestamps and time-based ``advance`` (tests can pass a
            fake clock).
        validate_training_files: fail jobs whose files are not chat JSONL (as OpenAI does).
        min_training_examples: fewest examples a training file needs (OpenAI: 10).
        check_models: 404 ``model_not_found`` for ``ft:`` models this server did not make.
        file_size_limit: largest ``files.create`` upload (OpenAI: 512 MB).
        part_size_limit: largest upload part (OpenAI: 64 MB).
        strict: raise ``FakeServerError`` when leaving ``with`` if a handler or responder
            raised (those requests were answered with 500).
        host, port: where to listen; the default is loopback on a free port.

    Attributes:
        faults: the ``FaultPlan``: ``fake.faults.add(Fault.drop(), "chat.completions", on=[2])``.
        log: the ``RequestLog``: ``fake.log.records()``, ``fake.log.count(endpoint, status)``,
            ``fake.log.counters()``. It never holds the API key, only whether one was sent.
        strict: see the ``strict`` argument.
    """

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        latency: Latency = 0.0,
        job_script: JobScript | None = None,
        batch_script: Sequence[str] | None = None,
        advance: Advance = "retrieve",
        api_key: str | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        validate_training_files: bool = True,
        min_training_examples: int = 10,
        check_models: bool = True,
        file_size_limit: int = 512 * _MiB,
        part_size_limit: int = 64 * _MiB,
        strict: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if api_key is not None and not api_key:
            raise ConfigError("api_key must be a non-empty string or None")
        self._defaults = (responder, _check_latency(latency), job_script, batch_script)
        self._api_key = api_key
        self._seed = seed
        self.strict = strict
        self.faults = FaultPlan(seed)
        self.log = RequestLog()
        self._internal_errors: list[BaseException] = []
        self._errors_lock = threading.Lock()
        self._latency: Latency = self._defaults[1]
        advance = _check_advance(advance)
        self._store = Store(seed=seed, clock=clock)
        self._files = FileService(
            self._store, file_size_limit=file_size_limit, part_size_limit=part_size_limit
        )
        self._jobs = JobService(
            self._store,
            self._files,
            script=job_script,
            advance=advance,
            validate_files=validate_training_files,
            min_examples=min_training_examples,
        )
        self._chat = ChatService(
            self._store, self._jobs, responder=responder, check_models=check_models
        )
        self._batches = BatchService(
            self._store, self._files, self._run_batch_line, script=batch_script, advance=advance
        )
        self._router = Router(
            files=self._files, jobs=self._jobs, batches=self._batches, chat=self._chat
        )
        self._server = LoopbackServer(
            self._handle, host=host, port=port, on_error=self._record_error
        )
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Start serving (idempotent); return ``self``."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving: close client connections, join every server thread (idempotent)."""
        for client in list(self._clients):
            client.close()
        self._server.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        errors = self.internal_errors
        if self.strict and errors and exc_type is None:
            first = errors[0]
            raise FakeServerError(
                f"{len(errors)} request(s) failed inside FakeOpenAI; the first: "
                f"{type(first).__name__}: {first}",
                hint="see FakeOpenAI.internal_errors; responders must return a Fault, not raise",
            ) from first

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server.running

    @property
    def port(self) -> int:
        """The TCP port (only while running)."""
        return self._server.address[1]

    @property
    def url(self) -> str:
        """The server root, ``http://127.0.0.1:PORT``."""
        host, port = self._server.address
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The API base URL for clients, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        key = "<required>" if self._api_key is not None else None
        return f"FakeOpenAI({where}, api_key={key})"

    # -- clients ------------------------------------------------------------------------

    def _client_key(self, api_key: str | None) -> str:
        return api_key if api_key is not None else (self._api_key or _DUMMY_KEY)

    def client(
        self,
        *,
        api_key: str | None = None,
        max_retries: int = 2,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> openai.OpenAI:
        """An ``openai.OpenAI`` client for this server (closed by ``stop``).

        ``api_key`` defaults to the required key (or a dummy); other keyword arguments go to
        ``openai.OpenAI``.
        """
        import openai

        if "http_client" not in kwargs:
            # Plain HTTP on loopback: skip building a TLS context (~70 ms a client).
            kwargs["http_client"] = openai.DefaultHttpxClient(verify=False)
        client = openai.OpenAI(
            base_url=self.base_url,
            api_key=self._client_key(api_key),
            max_retries=max_retries,
            timeout=timeout,
            **kwargs,
        )
        self._clients.add(client)
        return client

    def async_client(
        self,
        *,
        api_key: str | None = None,
        max_retries: int = 2,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` client for this server (close it, e.g. ``async with``)."""
        import openai

        if "http_client" not in kwargs:
            # Plain HTTP on loopback: skip building a TLS context (~70 ms a client).
            kwargs["http_client"] = openai.DefaultAsyncHttpxClient(verify=False)
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._client_key(api_key),
            max_retries=max_retries,
            timeout=timeout,
            **kwargs,
        )

    # -- configuration ------------------------------------------------------------------

    @property
    def responder(self) -> Responder:
        """The chat responder (settable; ``None`` restores ``default_responder``)."""
        return self._chat.responder

    @responder.setter
    def responder(self, value: Responder | None) -> None:
        self._chat.responder = value or default_responder

    @property
    def latency(self) -> Latency:
        """Injected latency: seconds, or ``f(RequestInfo) -> seconds`` (settable)."""
        return self._latency

    @latency.setter
    def latency(self, value: Latency) -> None:
        self._latency = _check_latency(value)

    @property
    def job_script(self) -> JobScript:
        """The script new fine-tuning jobs follow (settable; existing jobs keep theirs)."""
        return self._jobs.script

    @job_script.setter
    def job_script(self, value: JobScript | None) -> None:
        self._jobs.script = value

    @property
    def internal_errors(self) -> list[BaseException]:
        """Exceptions raised inside the server (answered as 500) since start or ``reset``."""
        with self._errors_lock:
            return list(self._internal_errors)

    def reset_log(self) -> None:
        """Clear the request log and counters."""
        self.log.reset()

    def reset(self) -> None:
        """Back to a fresh server: no files, jobs, batches, faults, log entries or errors;
        the constructor's responder, latency and scripts."""
        responder, latency, job_script, _ = self._defaults
        self.faults.clear()
        self.log.reset()
        self._files.clear()
        self._jobs.clear()
        self._batches.clear()
        self.responder = responder
        self._latency = latency
        self._jobs.script = job_script
        with self._errors_lock:
            self._internal_errors.clear()

    # -- test-side controls -------------------------------------------------------------

    def add_file(self, filename: str, content: bytes, *, purpose: str = "fine-tune") -> str:
        """Store a file directly (no HTTP request); return its id."""
        return self._files.add(filename, purpose, content).id

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a stored file (uploaded, result or batch output)."""
        stored = self._files.find(file_id)
        if stored is None:
            raise ConfigError(f"FakeOpenAI holds no file {file_id!r}")
        return stored.content

    def job_status(self, job_id: str) -> str:
        """A job's status, without moving it along its script."""
        try:
            return self._jobs.status_of(job_id)
        except ApiError as err:
            raise ConfigError(err.message) from None

    def advance_job(self, job_id: str, steps: int = 1) -> str:
        """Move a job up to ``steps`` steps along its script; return its new status."""
        try:
            return self._jobs.advance(job_id, steps)
        except ApiError as err:
            raise ConfigError(err.message) from None

    def set_job_script(self, job_id: str, steps: Sequence[StepLike]) -> None:
        """Give an existing job a new script, continuing from its current status."""
        try:
            self._jobs.set_script(job_id, steps)
        except ApiError as err:
            raise ConfigError(err.message) from None

    def advance_batch(self, batch_id: str, steps: int = 1) -> str:
        """Move a batch up to ``steps`` steps along its script; return its new status."""
        try:
            return self._batches.advance(batch_id, steps)
        except ApiError as err:
            raise ConfigError(err.message) from None

    # -- request handling ---------------------------------------------------------------

    def _record_error(self, error: BaseException) -> None:
        with self._errors_lock:
            self._internal_errors.append(error)

    def _check_auth(self, headers: Mapping[str, str]) -> None:
        if self._api_key is None:
            return
        auth = headers.get("authorization", "")
        if not auth:
            raise ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key "
                "in an Authorization header using Bearer auth.",
            )
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self._api_key.encode()
        ):
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")

    def _latency_for(self, info: RequestInfo) -> float:
        latency = self._latency
        seconds = float(latency(info)) if callable(latency) else latency
        return max(0.0, seconds)

    @staticmethod
    def _fault_action(fault: Fault, request_id: str) -> Action:
        if fault.kind == "http_error":
            body = json.dumps(fault.error_body()).encode()
            return Answer(
                fault.status, body, headers=(*fault.headers, ("x-request-id", request_id))
            )
        if fault.kind == "drop":
            return Drop()
        if fault.kind == "timeout":
            return Hold(fault.seconds)
        if fault.kind == "malformed":
            return Answer(200, _MALFORMED, headers=(("x-request-id", request_id),))
        raise TypeError(
            f"a responder returned Fault.{fault.kind}(); use the latency callable for delays"
        )

    def _handle(self, incoming: IncomingRequest) -> Action:
        started = time.monotonic()
        timestamp = time.time()
        seq = self.log.begin()
        split = urlsplit(incoming.target)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        sub = path[3:] if path.startswith("/v1/") else None
        matched = self._router.match(incoming.method, sub) if sub is not None else None
        endpoint = matched[0].endpoint if matched else "unknown"
        request_id = self._store.ids.hex("req_", 32)
        retry_header = incoming.headers.get("x-stainless-retry-count", "")
        fault_label: str | None = None
        error_code: str | None = None
        body_summary: Any = None
        action: Action = Drop()
        try:
            parsed: ParsedBody = parse_body(incoming.headers.get("content-type"), incoming.body)
            body_summary = elide_data_urls(parsed.summary())
            if matched is None:
                raise ApiError(404, f"Invalid URL ({incoming.method} {path})")
            self._check_auth(incoming.headers)
            route, params = matched
            info = RequestInfo(seq, endpoint, incoming.method, sub or "", query, body_summary)
            fault = self.faults.pick(info)
            delay = self._latency_for(info)
            if fault is not None and fault.kind == "delay":
                delay += fault.seconds
                fault_label = fault.label
                fault = None
            if delay > 0 and self._server.stopping.wait(delay):
                fault_label = "shutdown"
                return action
            if fault is None:
                result = route.handler(Call(seq, params, query, parsed))
                if isinstance(result, Fault):
                    fault = result
                elif isinstance(result, RawContent):
                    action = Answer(
                        200, result.data, result.content_type, (("x-request-id", request_id),)
                    )
                else:
                    headers: tuple[tuple[str, str], ...] = (
                        ("x-request-id", request_id),
                        ("openai-processing-ms", str(int(1000 * (time.monotonic() - started)))),
                    )
                    if endpoint == "chat.completions":
                        headers += _RATE_HEADERS
                    action = Answer(200, json.dumps(result).encode(), headers=headers)
            if fault is not None:
                action = self._fault_action(fault, request_id)
                fault_label = fault.label
                error_code = fault.code or fault.error_type or None
        except ApiError as err:
            error_code = err.code or err.type
            headers = (*err.headers.items(), ("x-request-id", request_id))
            action = Answer(err.status, json.dumps(err.body()).encode(), headers=headers)
        except Exception as exc:  # reported via internal_errors and FakeServerError
            self._record_error(exc)
            fault_label, error_code = "internal_error", "server_error"
            body = error_body(
                f"FakeOpenAI internal error: {type(exc).__name__}: {exc}", type="server_error"
            )
            action = Answer(500, json.dumps(body).encode(), headers=(("x-request-id", request_id),))
        finally:
            self.log.finish(
                RequestRecord(
                    seq=seq,
                    timestamp=timestamp,
                    method=incoming.method,
                    path=sub if sub is not None else path,
                    endpoint=endpoint,
                    query=query,
                    body=body_summary,
                    status=action.status if isinstance(action, Answer) else None,
                    fault=fault_label,
                    error_code=error_code,
                    auth_present="authorization" in incoming.headers,
                    retry_count=int(retry_header) if retry_header.isdigit() else None,
                    duration_s=time.monotonic() - started,
                )
            )
        return action

    def _run_batch_line(
        self, body: Mapping[str, Any], custom_id: str, seq: int
    ) -> tuple[int, dict[str, Any]]:
        info = RequestInfo(
            seq,
            "batch_line",
            "POST",
            "/chat/completions",
            {},
            elide_data_urls(dict(body)),
            custom_id,
        )
        try:
            fault = self.faults.pick(info)
            if fault is None or fault.kind == "delay":
                result = self._chat.complete(body, seq=seq, custom_id=custom_id)
                if not isinstance(result, Fault):
                    return 200, result
                fault = result
            if fault.kind == "http_error":
                return fault.status, fault.error_body()
            return 500, Fault.server_error().error_body()
        except ApiError as err:
            return err.status, err.body()
        except Exception as exc:  # reported via internal_errors and FakeServerError
            self._record_error(exc)
            return 500, error_body(
                f"FakeOpenAI internal error: {type(exc).__name__}: {exc}", type="server_error"
            )
