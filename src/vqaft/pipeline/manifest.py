"""Per-stage manifests, the run folder's layout, and the hashes that decide what reruns.

Each stage of a run leaves ``stages/<stage>.json``: the hash of its inputs (the stage's
config section and the digests of the upstream files it reads), the files it wrote with
their SHA-256, a few stage-specific details, and its timings. A stage whose recorded input
hash matches, whose status is ``complete`` and whose files are still intact is skipped.

The manifest is written (atomically) with status ``running`` before a stage starts and
``complete`` or ``failed`` when it ends, so a killed run leaves ``running`` behind and the
next run does the stage again (resuming where the stage itself can).

>>> stable_hash({"b": 1, "a": [1, 2]}) == stable_hash({"a": [1, 2], "b": 1})
True
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vqaft.errors import ConfigError

__all__ = [
    "RUN_FILE",
    "STAGES",
    "RunLayout",
    "StageManifest",
    "file_sha256",
    "now_iso",
    "stable_hash",
    "write_json_atomic",
]

STAGES: tuple[str, ...] = ("prepare", "validate", "finetune", "predict", "evaluate", "report")
"""The stages of a run, in order."""

RUN_FILE = "run.json"
"""The run summary at the top of the run folder."""

StageStatus = Literal["running", "complete", "failed"]


def now_iso() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def stable_hash(value: Any) -> str:
    """SHA-256 of ``value`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON under a temporary name, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class StageManifest(BaseModel):
    """What one stage did, in ``stages/<stage>.json``.

    Attributes:
        stage: the stage name.
        status: ``running`` (started, or killed), ``complete`` or ``failed``.
        input_hash: SHA-256 over ``inputs``.
        inputs: named input digests (config sections, upstream file digests).
        outputs: files the stage wrote (relative to the run folder) -> SHA-256.
        details: stage-specific facts (counts, the fine-tuned model id, headline numbers).
        started_at, finished_at: ISO 8601 UTC times.
        seconds: wall time of the stage.
        error: the error that stopped it (``VqaftError.to_dict()``), for a failed stage.
        vqaft_version: the version that ran it.
    """

    model_config = ConfigDict(frozen=True)

    stage: str
    status: StageStatus
    input_hash: str
    inputs: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    started_at: str
    finished_at: str | None = None
    seconds: float | None = None
    error: dict[str, Any] | None = None
    vqaft_version: str

    def intact(self, root: Path) -> bool:
        """Whether every output still exists with the recorded SHA-256."""
        for relative, digest in self.outputs.items():
            path = root / relative
            if not path.is_file() or file_sha256(path) != digest:
                return False
        return True


@dataclass(frozen=True)
class RunLayout:
    """Where everything of a run lives.

    ::

        <root>/experiment.json          the validated experiment (keys as in the file)
        <root>/run.json                 stages, timings, headline numbers, every artefact
        <root>/stages/<stage>.json      per-stage manifest
        <root>/data/                    <split>.jsonl, <split>.ids.jsonl, manifest.json,
                                        validation.json, estimate.json
        <root>/finetune/                job.json, events.jsonl, result.json, metrics.csv, ...
        <root>/predictions/<model>.jsonl
        <root>/evaluation/              suite_result.json, judge_cache.jsonl
        <root>/report/                  report.html, report.md, metrics.json, charts/, index.md
    """

    root: Path

    @property
    def experiment(self) -> Path:
        """The validated experiment, as JSON."""
        return self.root / "experiment.json"

    @property
    def run_file(self) -> Path:
        """``run.json``."""
        return self.root / RUN_FILE

    @property
    def stages(self) -> Path:
        """The folder of the stage manifests."""
        return self.root / "stages"

    @property
    def data(self) -> Path:
        """The prepared data folder."""
        return self.root / "data"

    @property
    def finetune(self) -> Path:
        """The fine-tuning backend's run folder."""
        return self.root / "finetune"

    @property
    def predictions(self) -> Path:
        """The predictions folder."""
        return self.root / "predictions"

    @property
    def evaluation(self) -> Path:
        """The evaluation folder."""
        return self.root / "evaluation"

    @property
    def report(self) -> Path:
        """The report folder."""
        return self.root / "report"

    def manifest_path(self, stage: str) -> Path:
        """``stages/<stage>.json``."""
        return self.stages / f"{stage}.json"

    def split_file(self, split: str) -> Path:
        """``data/<split>.jsonl``."""
        return self.data / f"{split}.jsonl"

    def predictions_file(self, name: str) -> Path:
        """``predictions/<name>.jsonl``."""
        return self.predictions / f"{name}.jsonl"

    def relative(self, path: Path) -> str:
        """``path`` relative to the run folder, with forward slashes."""
        return path.resolve().relative_to(self.root.resolve()).as_posix()

    def read_manifest(self, stage: str) -> StageManifest | None:
        """The stage's manifest, or ``None`` when there is none.

        Raises:
            ConfigError: the file exists but is not a stage manifest.
        """
        path = self.manifest_path(stage)
        if not path.is_file():
            return None
        try:
            return StageManifest.model_validate_json(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read the {stage} stage manifest: {str(exc).splitlines()[0]}",
                file=str(path),
                hint="delete it to run the stage again",
            ) from None

    def write_manifest(self, manifest: StageManifest) -> Path:
        """Write ``stages/<stage>.json`` atomically."""
        return write_json_atomic(
            self.manifest_path(manifest.stage), manifest.model_dump(mode="json")
        )

    def digests(self, paths: Iterable[Path]) -> dict[str, str]:
        """``{relative path: sha256}`` of existing files (folders are walked)."""
        result: dict[str, str] = {}
        for path in paths:
            if path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file())
            elif path.is_file():
                files = [path]
            else:
                continue
            for file in files:
                if not file.name.startswith("."):
                    result[self.relative(file)] = file_sha256(file)
        return result

    def artefacts(self) -> list[dict[str, Any]]:
        """Every file of the run (hidden temporary files excluded), sorted, with its size."""
        listing: list[dict[str, Any]] = []
        if not self.root.is_dir():
            return listing
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or any(
                p.startswith(".") for p in path.relative_to(self.root).parts
            ):
                continue
            relative = self.relative(path)
            listing.append(
                {"path": relative, "bytes": path.stat().st_size, "stage": _stage_of(relative)}
            )
        return listing


_FOLDER_STAGE: Mapping[str, str] = {
    "data": "prepare",
    "finetune": "finetune",
    "predictions": "predict",
    "evaluation": "evaluate",
    "report": "report",
    "stages": "run",
}
_VALIDATE_FILES = frozenset({"data/validation.json", "data/estimate.json"})


def _stage_of(relative: str) -> str:
    if relative in _VALIDATE_FILES:
        return "validate"
    head = relative.split("/", 1)[0]
    return _FOLDER_STAGE.get(head, "run")
