"""Files and Uploads endpoints of the fake server."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vqaft.testing._api_error import ApiError, not_found
from vqaft.testing._parse import ParsedBody
from vqaft.testing._store import Store, paginate

__all__ = ["FILE_PURPOSES", "FileService", "StoredFile"]

#: Purposes a client may upload with (the server itself also makes ``fine-tune-results``
#: and ``batch_output`` files).
FILE_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
_JSONL_PURPOSES = frozenset({"batch", "fine-tune"})


@dataclass
class StoredFile:
    """A file held in memory by the fake server."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int
    expires_at: int | None = None

    def to_api(self) -> dict[str, Any]:
        """The OpenAI ``file`` object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class _Upload:
    id: str
    filename: str
    purpose: str
    size: int
    mime_type: str
    created_at: int
    expires_at: int
    status: str = "pending"
    parts: dict[str, bytes] = field(default_factory=dict)
    file: StoredFile | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "upload",
            "bytes": self.size,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "expires_at": self.expires_at,
            "file": None if self.file is None else self.file.to_api(),
        }


def _require_str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(
            400,
            f"Missing required parameter: '{name}'.",
            param=name,
            code="missing_required_parameter",
        )
    return value


class FileService:
    """Files (``/files``) and Uploads (``/uploads``), held in memory."""

    def __init__(self, store: Store, *, file_size_limit: int, part_size_limit: int) -> None:
        self._store = store
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, _Upload] = {}
        self.file_size_limit = file_size_limit
        self.part_size_limit = part_size_limit

    # -- used by other services -----------------------------------------------------------

    def add(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        """Store a new file and return it."""
        with self._store.lock:
            stored = StoredFile(
                id=self._store.ids.alnum("file-", 22),
                filename=filename,
                purpose=purpose,
                content=content,
                created_at=self._store.now(),
            )
            self._files[stored.id] = stored
            return stored

    def get(self, file_id: str, *, param: str = "file_id") -> StoredFile:
        """The stored file, or a 404."""
        with self._store.lock:
            stored = self._files.get(file_id)
        if stored is None:
            raise not_found("File object", file_id, param=param)
        return stored

    def find(self, file_id: str) -> StoredFile | None:
        """The stored file, or ``None``."""
        with self._store.lock:
            return self._files.get(file_id)

    def clear(self) -> None:
        """Forget every file and upload."""
        with self._store.lock:
            self._files.clear()
            self._uploads.clear()

    # -- /files ---------------------------------------------------------------------------

    def _check_new_file(self, filename: str, purpose: str, size: int) -> None:
        if purpose not in FILE_PURPOSES:
            raise ApiError(
                400,
                f"'{purpose}' is not one of {sorted(FILE_PURPOSES)} - 'purpose'",
                param="purpose",
            )
        if size > self.file_size_limit:
            raise ApiError(
                400,
                f"File is too large: {size} bytes; the limit is {self.file_size_limit} bytes. "
                "Use the Uploads API for larger files.",
                param="file",
            )
        if purpose in _JSONL_PURPOSES and not filename.endswith(".jsonl"):
            raise ApiError(
                400,
                f"Invalid file format for purpose '{purpose}': {filename!r}. Must be .jsonl",
                param="file",
            )

    def create(self, parsed: ParsedBody) -> dict[str, Any]:
        """``POST /files`` (multipart: ``file``, ``purpose``)."""
        if parsed.kind != "multipart":
            raise ApiError(400, "Expected a multipart/form-data request with 'file' and 'purpose'.")
        upload = parsed.files.get("file")
        if upload is None:
            raise ApiError(
                400,
                "Missing required parameter: 'file'.",
                param="file",
                code="missing_required_parameter",
            )
        purpose = _require_str(parsed.form, "purpose")
        filename = upload.filename or "upload"
        self._check_new_file(filename, purpose, len(upload.data))
        return self.add(filename, purpose, upload.data).to_api()

    def retrieve(self, file_id: str) -> dict[str, Any]:
        """``GET /files/{id}``."""
        return self.get(file_id).to_api()

    def list(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /files`` with ``purpose``, ``order``, ``after``, ``limit``."""
        with self._store.lock:
            files = list(self._files.values())
        purpose = query.get("purpose")
        if purpose:
            files = [f for f in files if f.purpose == purpose]
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ApiError(400, f"Invalid 'order': {order!r}; use 'asc' or 'desc'.", param="order")
        if order == "desc":
            files.reverse()
        return paginate(
            [f.to_api() for f in files],
            query,
            default_limit=10000,
            max_limit=10000,
            first_last_ids=True,
        )

    def delete(self, file_id: str) -> dict[str, Any]:
        """``DELETE /files/{id}``."""
        with self._store.lock:
            if self._files.pop(file_id, None) is None:
                raise not_found("File object", file_id, param="file_id")
        return {"id": file_id, "object": "file", "deleted": True}

    def content(self, file_id: str) -> bytes:
        """``GET /files/{id}/content``: the stored bytes."""
        return self.get(file_id).content

    # -- /uploads -------------------------------------------------------------------------

    def _upload(self, upload_id: str) -> _Upload:
        with self._store.lock:
            upload = self._uploads.get(upload_id)
        if upload is None:
            raise not_found("Upload", upload_id, param="upload_id")
        return upload

    def create_upload(self, body: Any) -> dict[str, Any]:
        """``POST /uploads`` (``bytes``, ``filename``, ``mime_type``, ``purpose``)."""
        if not isinstance(body, Mapping):
            raise ApiError(400, "Expected a JSON object body.")
        filename = _require_str(body, "filename")
        purpose = _require_str(body, "purpose")
        _require_str(body, "mime_type")
        size = body.get("bytes")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ApiError(400, "Missing or invalid parameter: 'bytes'.", param="bytes")
        if purpose not in FILE_PURPOSES:
            raise ApiError(400, f"'{purpose}' is not a valid purpose.", param="purpose")
        with self._store.lock:
            now = self._store.now()
            upload = _Upload(
                id=self._store.ids.alnum("upload_", 24),
                filename=filename,
                purpose=purpose,
                size=size,
                mime_type=str(body["mime_type"]),
                created_at=now,
                expires_at=now + 3600,
            )
            self._uploads[upload.id] = upload
            return upload.to_api()

    def add_part(self, upload_id: str, parsed: ParsedBody) -> dict[str, Any]:
        """``POST /uploads/{id}/parts`` (multipart ``data``)."""
        upload = self._upload(upload_id)
        part = parsed.files.get("data")
        data = part.data if part is not None else parsed.form.get("data", "").encode()
        if part is None and "data" not in parsed.form:
            raise ApiError(
                400,
                "Missing required parameter: 'data'.",
                param="data",
                code="missing_required_parameter",
            )
        if len(data) > self.part_size_limit:
            raise ApiError(
                400,
                f"Part is too large: {len(data)} bytes; the limit is {self.part_size_limit}.",
                param="data",
            )
        with self._store.lock:
            if upload.status != "pending":
                raise ApiError(
                    400, f"Upload {upload_id} is {upload.status}; it takes no more parts."
                )
            part_id = self._store.ids.alnum("part_", 24)
            upload.parts[part_id] = data
            return {
                "id": part_id,
                "object": "upload.part",
                "created_at": self._store.now(),
                "upload_id": upload_id,
            }

    def complete_upload(self, upload_id: str, body: Any) -> dict[str, Any]:
        """``POST /uploads/{id}/complete`` (``part_ids`` in order, optional ``md5``)."""
        upload = self._upload(upload_id)
        if not isinstance(body, Mapping) or not isinstance(body.get("part_ids"), list):
            raise ApiError(
                400,
                "Missing required parameter: 'part_ids'.",
                param="part_ids",
                code="missing_required_parameter",
            )
        part_ids = [str(p) for p in body["part_ids"]]
        with self._store.lock:
            if upload.status != "pending":
                raise ApiError(400, f"Upload {upload_id} is already {upload.status}.")
            unknown = [p for p in part_ids if p not in upload.parts]
            if unknown:
                raise ApiError(
                    400, f"Unknown part ids for upload {upload_id}: {unknown}.", param="part_ids"
                )
            content = b"".join(upload.parts[p] for p in part_ids)
            if len(content) != upload.size:
                raise ApiError(
                    400,
                    f"The upload was created for {upload.size} bytes but its parts hold "
                    f"{len(content)} bytes.",
                    param="part_ids",
                )
            md5 = body.get("md5")
            if md5 and hashlib.md5(content, usedforsecurity=False).hexdigest() != md5:
                raise ApiError(
                    400, "The md5 checksum does not match the uploaded bytes.", param="md5"
                )
            self._check_new_file(upload.filename, upload.purpose, 0)
            upload.file = self.add(upload.filename, upload.purpose, content)
            upload.status = "completed"
            return upload.to_api()

    def cancel_upload(self, upload_id: str) -> dict[str, Any]:
        """``POST /uploads/{id}/cancel``."""
        upload = self._upload(upload_id)
        with self._store.lock:
            if upload.status != "pending":
                raise ApiError(400, f"Upload {upload_id} is already {upload.status}.")
            upload.status = "cancelled"
            upload.parts.clear()
            return upload.to_api()
