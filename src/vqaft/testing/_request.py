"""What the fake server knows about one request, as handed to fault rules and latency callables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RequestInfo"]


@dataclass(frozen=True)
class RequestInfo:
    """One request as seen by ``when=`` predicates of fault rules and by latency callables.

    Attributes:
        seq: 1-based number of the HTTP request since the server started (or the log was reset).
        endpoint: the endpoint name, e.g. ``"chat.completions"`` (see ``ENDPOINTS``);
            ``"batch_line"`` for one request line of a batch being processed.
        method: the HTTP method (``"POST"`` for batch lines).
        path: the path below ``/v1``, e.g. ``"/files/file-abc/content"``.
        query: query parameters (last value wins).
        body: the parsed JSON body; for multipart requests the form fields plus
            ``{"filename", "bytes", "content_type"}`` summaries of the files; ``None`` if empty.
        custom_id: the ``custom_id`` of a batch line, else ``None``.

    The API key is not part of it: the server records only whether a key was sent.
    """

    seq: int
    endpoint: str
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    custom_id: str | None = None
