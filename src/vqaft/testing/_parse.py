"""Request body parsing for the fake server: JSON and ``multipart/form-data``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from vqaft.testing._api_error import ApiError

__all__ = ["ParsedBody", "UploadedFile", "parse_body", "parse_multipart"]


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes

    def summary(self) -> dict[str, Any]:
        """What the request log keeps of it: never the bytes themselves."""
        return {
            "filename": self.filename,
            "bytes": len(self.data),
            "content_type": self.content_type,
        }


@dataclass
class ParsedBody:
    """A parsed request body: ``json`` for JSON requests, ``form`` + ``files`` for multipart."""

    kind: str  # "empty" | "json" | "multipart" | "other"
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    def summary(self) -> Any:
        """A JSON-ready view for the request log and ``RequestInfo.body``."""
        if self.kind == "json":
            return self.json
        if self.kind == "multipart":
            out: dict[str, Any] = dict(self.form)
            out.update({name: part.summary() for name, part in self.files.items()})
            return out
        return None


def _header_params(name: str, value: str) -> Message:
    message = Message()
    message[name] = value
    return message


def parse_multipart(raw: bytes, boundary: str) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Split a ``multipart/form-data`` body into text fields and file parts (bytes kept exact)."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + raw).split(delimiter)
    if len(chunks) < 2:
        raise ApiError(400, "Could not parse the multipart body: boundary not found.")
    form: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ApiError(400, "Could not parse the multipart body: a part has no header end.")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        disposition = _header_params("content-disposition", headers.get("content-disposition", ""))
        name = disposition.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ApiError(400, "Could not parse the multipart body: a part has no name.")
        filename = disposition.get_filename()
        if filename is None:
            form[name] = data.decode("utf-8", "replace")
        else:
            files[name] = UploadedFile(name, filename, headers.get("content-type"), data)
    if not closed:
        raise ApiError(400, "Could not parse the multipart body: it is truncated.")
    return form, files


def parse_body(content_type: str | None, raw: bytes) -> ParsedBody:
    """Parse a request body by its ``Content-Type``; raise a 400 ``ApiError`` if it is broken."""
    if not raw:
        return ParsedBody(kind="empty")
    header = _header_params("content-type", content_type or "application/octet-stream")
    media = header.get_content_type()
    if media == "multipart/form-data":
        boundary = header.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            raise ApiError(400, "multipart/form-data request without a boundary.")
        form, files = parse_multipart(raw, boundary)
        return ParsedBody(kind="multipart", form=form, files=files)
    if media == "application/json" or media.endswith("+json"):
        try:
            return ParsedBody(kind="json", json=json.loads(raw))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
            ) from None
    return ParsedBody(kind="other")
