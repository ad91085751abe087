"""OpenAI-style error answers raised inside the fake server's endpoint handlers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ApiError", "error_body", "not_found"]


def error_body(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error body: ``{"error": {message, type, param, code}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class ApiError(Exception):
    """An error answer (status + OpenAI error body) raised by an endpoint handler.

    The SDK maps the status to its exception classes (400 ``BadRequestError``, 404
    ``NotFoundError``, ...), so handlers only choose the status and the body fields.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The OpenAI error body of this error."""
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def not_found(kind: str, object_id: str, *, param: str | None = "id") -> ApiError:
    """A 404 for an unknown object id, worded like OpenAI's ("No such File object: file-x")."""
    return ApiError(404, f"No such {kind}: {object_id}", param=param)
