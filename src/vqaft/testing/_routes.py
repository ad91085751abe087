"""The fake server's URL table: which endpoint answers which method and path."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from vqaft.testing._batches import BatchService
from vqaft.testing._chat import ChatService
from vqaft.testing._faults import Fault
from vqaft.testing._files import FileService
from vqaft.testing._jobs import JobService
from vqaft.testing._parse import ParsedBody

__all__ = ["Call", "HandlerResult", "RawContent", "Route", "Router"]


@dataclass(frozen=True)
class Call:
    """One matched request, as an endpoint handler sees it."""

    seq: int
    params: Mapping[str, str]
    query: Mapping[str, str]
    parsed: ParsedBody


@dataclass(frozen=True)
class RawContent:
    """A non-JSON answer (file contents)."""

    data: bytes
    content_type: str = "application/octet-stream"


HandlerResult = dict[str, Any] | RawContent | Fault
Handler = Callable[[Call], HandlerResult]


@dataclass(frozen=True)
class Route:
    """A method + path template bound to an endpoint name and its handler."""

    method: str
    pattern: re.Pattern[str]
    endpoint: str
    handler: Handler


def _route(method: str, template: str, endpoint: str, handler: Handler) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(method, re.compile(f"^{regex}$"), endpoint, handler)


class Router:
    """Matches ``(method, path below /v1)`` to a route and its path parameters."""

    def __init__(
        self, *, files: FileService, jobs: JobService, batches: BatchService, chat: ChatService
    ) -> None:
        ft = "/fine_tuning/jobs/{job_id}"
        self.routes: tuple[Route, ...] = (
            _route(
                "POST",
                "/chat/completions",
                "chat.completions",
                lambda c: chat.complete(c.parsed.json, seq=c.seq),
            ),
            _route("POST", "/files", "files.create", lambda c: files.create(c.parsed)),
            _route("GET", "/files", "files.list", lambda c: files.list(c.query)),
            _route(
                "GET",
                "/files/{file_id}",
                "files.retrieve",
                lambda c: files.retrieve(c.params["file_id"]),
            ),
            _route(
                "DELETE",
                "/files/{file_id}",
                "files.delete",
                lambda c: files.delete(c.params["file_id"]),
            ),
            _route(
                "GET",
                "/files/{file_id}/content",
                "files.content",
                lambda c: RawContent(files.content(c.params["file_id"])),
            ),
            _route(
                "POST", "/uploads", "uploads.create", lambda c: files.create_upload(c.parsed.json)
            ),
            _route(
                "POST",
                "/uploads/{upload_id}/parts",
                "uploads.parts.create",
                lambda c: files.add_part(c.params["upload_id"], c.parsed),
            ),
            _route(
                "POST",
                "/uploads/{upload_id}/complete",
                "uploads.complete",
                lambda c: files.complete_upload(c.params["upload_id"], c.parsed.json),
            ),
            _route(
                "POST",
                "/uploads/{upload_id}/cancel",
                "uploads.cancel",
                lambda c: files.cancel_upload(c.params["upload_id"]),
            ),
            _route(
                "POST",
                "/fine_tuning/jobs",
                "fine_tuning.jobs.create",
                lambda c: jobs.create(c.parsed.json),
            ),
            _route(
                "GET", "/fine_tuning/jobs", "fine_tuning.jobs.list", lambda c: jobs.list(c.query)
            ),
            _route(
                "GET", ft, "fine_tuning.jobs.retrieve", lambda c: jobs.retrieve(c.params["job_id"])
            ),
            _route(
                "GET",
                ft + "/events",
                "fine_tuning.jobs.list_events",
                lambda c: jobs.list_events(c.params["job_id"], c.query),
            ),
            _route(
                "GET",
                ft + "/checkpoints",
                "fine_tuning.jobs.checkpoints.list",
                lambda c: jobs.list_checkpoints(c.params["job_id"], c.query),
            ),
            _route(
                "POST",
                ft + "/cancel",
                "fine_tuning.jobs.cancel",
                lambda c: jobs.cancel(c.params["job_id"]),
            ),
            _route(
                "POST",
                ft + "/pause",
                "fine_tuning.jobs.pause",
                lambda c: jobs.pause(c.params["job_id"]),
            ),
            _route(
                "POST",
                ft + "/resume",
                "fine_tuning.jobs.resume",
                lambda c: jobs.resume(c.params["job_id"]),
            ),
            _route(
                "POST", "/batches", "batches.create", lambda c: batches.create(c.parsed.json, c.seq)
            ),
            _route("GET", "/batches", "batches.list", lambda c: batches.list(c.query, c.seq)),
            _route(
                "GET",
                "/batches/{batch_id}",
                "batches.retrieve",
                lambda c: batches.retrieve(c.params["batch_id"], c.seq),
            ),
            _route(
                "POST",
                "/batches/{batch_id}/cancel",
                "batches.cancel",
                lambda c: batches.cancel(c.params["batch_id"], c.seq),
            ),
            _route("GET", "/models", "models.list", lambda c: chat.list_models()),
            _route(
                "GET",
                "/models/{model_id}",
                "models.retrieve",
                lambda c: chat.retrieve_model(c.params["model_id"]),
            ),
        )

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for ``method`` and ``path`` (below ``/v1``), with its decoded parameters."""
        path = path.rstrip("/") or "/"
        for route in self.routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        return None
