"""The run directory's fine-tuning state: ``job.json``.

``job.json`` is what makes fine-tuning idempotent and resumable. It records, as soon as each
thing happens:

* every uploaded file: its id and the sha256 and size of the bytes that were uploaded (a rerun
  with the same file skips the upload);
* a multipart upload in progress (upload id and finished part ids), so an interrupted upload
  of a large file continues where it stopped;
* the job request's fingerprint (a digest of the files and every setting that decides what is
  trained), the job id and its last known status (a rerun re-attaches to that job instead of
  paying for a second one).

It never holds an API key. Writes are atomic (a temporary file renamed over the old one), so
a crash leaves either the old or the new state, never half of one.

The re-attach rules every backend shares live here too: :func:`fingerprint_of` digests what
decides a job, :func:`file_digest` the bytes of its files, and :func:`check_reattach` decides,
from the job a run directory records, whether a rerun re-attaches to it, starts afresh, or is
refused because that job was made from other inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from vqaft.errors import ConfigError

__all__ = [
    "STATE_FILE",
    "STATE_VERSION",
    "EstimateRecord",
    "JobState",
    "PendingUpload",
    "PreviousJob",
    "UploadedFile",
    "check_reattach",
    "file_digest",
    "fingerprint_of",
    "load_state",
    "reattaches",
    "save_state",
]

STATE_FILE = "job.json"
STATE_VERSION = 1
_READ_CHUNK = 4 * 1024 * 1024


class UploadedFile(BaseModel):
    """A local file uploaded for fine-tuning, identified by the digest of its bytes."""

    role: str
    path: str
    filename: str
    sha256: str
    bytes: int
    file_id: str
    method: Literal["files", "uploads"]
    uploaded_at: float


class PendingUpload(BaseModel):
    """A multipart (Uploads API) upload that has started but not completed."""

    upload_id: str
    sha256: str
    bytes: int
    part_size: int
    part_ids: list[str] = Field(default_factory=list)
    started_at: float


class EstimateRecord(BaseModel):
    """The cost estimate made before the job was created."""

    model: str
    epochs: int
    examples: int
    trained_tokens: int
    cost_usd: float
    max_cost_usd: float | None = None


class PreviousJob(BaseModel):
    """A job this run directory held before ``new_job`` replaced it."""

    job_id: str
    status: str | None = None
    fingerprint: str | None = None
    replaced_at: float


class JobState(BaseModel):
    """The content of ``job.json``."""

    version: int = STATE_VERSION
    backend: str = "openai"
    files: dict[str, UploadedFile] = Field(default_factory=dict)
    pending_uploads: dict[str, PendingUpload] = Field(default_factory=dict)
    fingerprint: str | None = None
    request: dict[str, Any] | None = Field(
        default=None, description="the job-create request that was (or is being) sent"
    )
    creating_since: float | None = Field(
        default=None, description="set just before the create request; cleared once the id is saved"
    )
    estimate: EstimateRecord | None = None
    job_id: str | None = None
    status: str | None = None
    fine_tuned_model: str | None = None
    error: dict[str, Any] | None = None
    result_file: str | None = None
    updated_at: float | None = None
    previous_jobs: list[PreviousJob] = Field(default_factory=list)


def load_state(directory: Path) -> JobState:
    """Read ``directory/job.json``; a fresh state if there is none.

    Raises:
        ConfigError: the file exists but is not a valid state (it is never overwritten
            silently: it may hold the id of a job that is being paid for).
    """
    path = directory / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return JobState()
    except OSError as exc:
        raise ConfigError(f"cannot read the state file: {exc.strerror}", file=str(path)) from exc
    try:
        state = JobState.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ConfigError(
            f"the fine-tuning state file is damaged ({type(exc).__name__})",
            file=str(path),
            hint="repair it, or move it away to start afresh (check first that the job it "
            "names is not running: `vqaft jobs list`)",
        ) from exc
    if state.version > STATE_VERSION:
        raise ConfigError(
            f"the state file was written by a newer vqaft (format {state.version})",
            file=str(path),
            hint="upgrade vqaft",
        )
    return state


def save_state(directory: Path, state: JobState) -> Path:
    """Write ``directory/job.json`` atomically; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    state.updated_at = time.time()
    path = directory / STATE_FILE
    data = json.dumps(state.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".job.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# -- fingerprints and re-attaching ----------------------------------------------------------


def file_digest(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and size of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def fingerprint_of(payload: Mapping[str, Any], *, separators: tuple[str, str] = (",", ":")) -> str:
    """The sha256 (hex) of ``payload`` as JSON with sorted keys: a job's fingerprint.

    ``separators`` are JSON's; a backend keeps the ones its recorded fingerprints were made
    with (changing them would stop reruns from re-attaching).

    >>> fingerprint_of({"b": 1, "a": None}) == fingerprint_of({"a": None, "b": 1})
    True
    >>> fingerprint_of({"a": 1}) == fingerprint_of({"a": 1}, separators=(", ", ": "))
    False
    """
    text = json.dumps(payload, sort_keys=True, separators=separators)
    return hashlib.sha256(text.encode()).hexdigest()


def reattaches(
    job_id: str | None, recorded: str | None, fingerprint: str, *, new_job: bool
) -> bool:
    """Whether a rerun re-attaches to the recorded job ``job_id``: there is one, it was made
    from the same inputs (``recorded`` is ``fingerprint``), and ``new_job`` is not set.

    >>> reattaches("job-1", "abc", "abc", new_job=False)
    True
    >>> reattaches("job-1", "abc", "abc", new_job=True)
    False
    >>> reattaches("job-1", "old", "abc", new_job=False)
    False
    """
    return bool(job_id) and not new_job and recorded == fingerprint


def check_reattach(
    job_id: str | None,
    status: str | None,
    recorded: str | None,
    fingerprint: str,
    *,
    new_job: bool,
    run_dir: Path | None,
    hint: str,
) -> bool:
    """Whether a rerun re-attaches to the run directory's job, refusing other inputs.

    Args:
        job_id, status: the job the run directory records (``job_id`` None: none).
        recorded: the fingerprint of the inputs it was made from.
        fingerprint: the fingerprint of this run's inputs.
        new_job: start another job whatever the run directory holds.
        run_dir: the run directory (named in the error).
        hint: what the error suggests (the backend's options differ).

    Returns:
        True to re-attach (same inputs); False when no job is recorded or ``new_job`` asks
        for another one.

    Raises:
        ConfigError: the run directory holds a job for other files or settings and
            ``new_job`` is not set.

    >>> check_reattach(None, None, None, "abc", new_job=False, run_dir=None, hint="")
    False
    >>> check_reattach("job-1", "running", "old", "abc", new_job=False, run_dir=None,
    ...                hint="use another run directory")
    Traceback (most recent call last):
    vqaft.errors.ConfigError: this run directory already holds job job-1 (status running) for ...
    """
    if not job_id or new_job:
        return False
    if reattaches(job_id, recorded, fingerprint, new_job=new_job):
        return True
    raise ConfigError(
        f"this run directory already holds job {job_id} (status {status or 'unknown'}) for "
        "other files or settings",
        file=str(run_dir / STATE_FILE) if run_dir is not None else None,
        hint=hint,
    )
