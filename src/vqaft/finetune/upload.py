"""Uploading training files: the Files API up to 512 MB, the Uploads API in parts above.

:func:`ensure_uploaded` uploads one local file for fine-tuning unless the run's state shows
that the very same bytes (same sha256 and size) were already uploaded and the file is still
there. Small files go in one ``files.create`` request; larger ones through the Uploads API
(``uploads.create``, one ``uploads.parts.create`` per 64 MB part, ``uploads.complete`` with
the parts in order and the MD5 of the whole). Each finished part is recorded in the state at
once, so an interrupted upload continues from the next part (an Upload lives for an hour; an
expired one is started afresh).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import openai

from vqaft.errors import ConfigError, FineTuneJobError
from vqaft.finetune._api import api_errors
from vqaft.finetune.base import FineTuneProgress
from vqaft.finetune.state import JobState, PendingUpload, UploadedFile, file_digest

__all__ = [
    "FILES_API_LIMIT",
    "JSONL_MIME",
    "PART_SIZE",
    "UPLOAD_LIFETIME_S",
    "ensure_uploaded",
    "file_digest",
]

_MiB = 1024 * 1024
FILES_API_LIMIT = 512 * _MiB
"""Largest file sent in one ``files.create`` request (OpenAI's limit)."""
PART_SIZE = 64 * _MiB
"""Size of an Uploads API part (OpenAI's maximum)."""
UPLOAD_LIFETIME_S = 3600.0
"""An Upload expires an hour after it is created."""
JSONL_MIME = "text/jsonl"


def check_training_file(path: Path, role: str) -> None:
    """Raise :class:`~vqaft.errors.ConfigError` unless ``path`` is an existing ``.jsonl``."""
    if not path.is_file():
        raise ConfigError(f"{role} file not found", file=str(path), hint="check the path")
    if path.suffix.lower() != ".jsonl":
        raise ConfigError(
            f"a fine-tuning {role} file must be named *.jsonl",
            file=str(path),
            hint="OpenAI rejects other extensions; rename it",
        )


def _still_there(client: openai.OpenAI, known: UploadedFile, secret: str | None) -> bool:
    try:
        remote = client.files.retrieve(known.file_id)
    except openai.NotFoundError:
        return False
    except openai.APIStatusError as exc:
        if exc.status_code in (400, 404, 410):
            return False
        with api_errors(f"cannot check uploaded file {known.file_id}", secret=secret):
            raise
    return remote.bytes == known.bytes and getattr(remote, "status", None) not in (
        "error",
        "deleted",
    )


def ensure_uploaded(
    client: openai.OpenAI,
    path: Path,
    role: str,
    state: JobState,
    *,
    save: Callable[[], None],
    progress: FineTuneProgress,
    secret: str | None = None,
    files_api_limit: int = FILES_API_LIMIT,
    part_size: int = PART_SIZE,
    digest: tuple[str, int] | None = None,
) -> UploadedFile:
    """Upload ``path`` for fine-tuning as ``role`` ("train" or "validation"), once.

    Args:
        client: the OpenAI client.
        path: a ``.jsonl`` file.
        role: the key under which ``state.files`` records it.
        state: the run's state; updated in place, and ``save()`` is called after each
            recorded step (an upload, a part).
        files_api_limit: files up to this size use ``files.create``; larger ones the
            Uploads API.
        part_size: bytes per Uploads API part (tests pass a small value).
        digest: the file's (sha256, size) if already computed.

    Returns:
        the :class:`~vqaft.finetune.state.UploadedFile` (new, or the recorded one when the
        same bytes are already uploaded).

    Raises:
        ConfigError: the file is missing, not ``.jsonl``, or changed while uploading.
        FineTuneJobError: the API refused the upload.
    """
    check_training_file(path, role)
    if part_size <= 0 or files_api_limit <= 0:
        raise ConfigError("part_size and files_api_limit must be positive")
    sha, size = digest if digest is not None else file_digest(path)
    known = state.files.get(role)
    if known is not None and known.sha256 == sha and known.bytes == size:
        if _still_there(client, known, secret):
            progress.message(
                f"{role} file {path.name} already uploaded as {known.file_id} (same sha256); "
                "not uploading again"
            )
            progress.upload(role, size, size)
            return known
        progress.message(f"{role} file {known.file_id} is gone from the service; uploading again")
    if size <= files_api_limit:
        file_id = _upload_whole(client, path, sha, size, role, progress, secret)
        method: Literal["files", "uploads"] = "files"
    else:
        file_id = _upload_in_parts(
            client, path, sha, size, role, state, save, progress, secret, part_size
        )
        method = "uploads"
    record = UploadedFile(
        role=role,
        path=str(path),
        filename=path.name,
        sha256=sha,
        bytes=size,
        file_id=file_id,
        method=method,
        uploaded_at=time.time(),
    )
    state.files[role] = record
    state.pending_uploads.pop(role, None)
    save()
    return record


def _changed(path: Path) -> ConfigError:
    return ConfigError(
        "the file changed while it was being uploaded",
        file=str(path),
        hint="let whatever writes it finish, then run again",
    )


def _upload_whole(
    client: openai.OpenAI,
    path: Path,
    sha: str,
    size: int,
    role: str,
    progress: FineTuneProgress,
    secret: str | None,
) -> str:
    # Read the bytes once: the digest recorded is that of exactly what is sent, and the SDK
    # can resend bytes on a retry (a half-read file handle would go out truncated).
    data = path.read_bytes()
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
        raise _changed(path)
    progress.upload(role, 0, size)
    with api_errors(f"cannot upload {role} file {path.name}", secret=secret):
        uploaded = client.files.create(
            file=(path.name, data, "application/jsonl"), purpose="fine-tune"
        )
    progress.upload(role, size, size)
    return str(uploaded.id)


def _new_upload(
    client: openai.OpenAI, path: Path, sha: str, size: int, part_size: int, secret: str | None
) -> PendingUpload:
    with api_errors(f"cannot start a multipart upload of {path.name}", secret=secret):
        upload = client.uploads.create(
            bytes=size, filename=path.name, mime_type=JSONL_MIME, purpose="fine-tune"
        )
    return PendingUpload(
        upload_id=str(upload.id),
        sha256=sha,
        bytes=size,
        part_size=part_size,
        started_at=time.time(),
    )


def _upload_in_parts(
    client: openai.OpenAI,
    path: Path,
    sha: str,
    size: int,
    role: str,
    state: JobState,
    save: Callable[[], None],
    progress: FineTuneProgress,
    secret: str | None,
    part_size: int,
) -> str:
    pending = state.pending_uploads.get(role)
    resumable = (
        pending is not None
        and pending.sha256 == sha
        and pending.bytes == size
        and pending.part_size == part_size
        and time.time() - pending.started_at < UPLOAD_LIFETIME_S - 60
    )
    if pending is not None and resumable:
        progress.message(
            f"continuing the upload of {path.name} ({len(pending.part_ids)} parts already sent)"
        )
        try:
            return _send_parts(client, path, sha, size, role, pending, save, progress, secret)
        except _UploadGone:
            progress.message(f"upload {pending.upload_id} expired; starting it again")
    pending = _new_upload(client, path, sha, size, part_size, secret)
    state.pending_uploads[role] = pending
    save()
    try:
        return _send_parts(client, path, sha, size, role, pending, save, progress, secret)
    except _UploadGone as gone:
        raise FineTuneJobError(
            f"upload {pending.upload_id} of {path.name} was refused: {gone}",
            code="upload_failed",
            hint="run again to start a fresh upload",
        ) from None


class _UploadGone(Exception):
    """The Upload no longer accepts parts (expired or cancelled)."""


def _send_parts(
    client: openai.OpenAI,
    path: Path,
    sha: str,
    size: int,
    role: str,
    pending: PendingUpload,
    save: Callable[[], None],
    progress: FineTuneProgress,
    secret: str | None,
) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    check = hashlib.sha256()
    sent = 0
    index = 0
    progress.upload(role, 0, size)
    with path.open("rb") as handle:
        while chunk := handle.read(pending.part_size):
            md5.update(chunk)
            check.update(chunk)
            sent += len(chunk)
            if index >= len(pending.part_ids):
                part = _send_part(client, pending, chunk, index, secret)
                pending.part_ids.append(str(part.id))
                save()
            index += 1
            progress.upload(role, sent, size)
    if sent != size or check.hexdigest() != sha:
        raise _changed(path)
    try:
        done = client.uploads.complete(
            pending.upload_id, part_ids=list(pending.part_ids), md5=md5.hexdigest()
        )
    except (openai.NotFoundError, openai.BadRequestError) as exc:
        raise _UploadGone(exc.message) from None
    except openai.OpenAIError as exc:
        with api_errors(f"cannot complete the upload of {path.name}", secret=secret):
            raise exc from None
    file = getattr(done, "file", None)
    if file is None or not getattr(file, "id", None):
        raise FineTuneJobError(
            f"upload {pending.upload_id} completed without a file (status {done.status})",
            code="upload_failed",
            hint="run again to start a fresh upload",
        )
    return str(file.id)


def _send_part(
    client: openai.OpenAI, pending: PendingUpload, chunk: bytes, index: int, secret: str | None
) -> Any:
    try:
        return client.uploads.parts.create(pending.upload_id, data=chunk)
    except (openai.NotFoundError, openai.BadRequestError) as exc:
        raise _UploadGone(exc.message) from None
    except openai.OpenAIError as exc:
        with api_errors(f"cannot upload part {index + 1}", secret=secret):
            raise exc from None
