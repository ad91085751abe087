"""Shared helpers for the fine-tuning tests: training files and a recording progress."""

from __future__ import annotations

from pathlib import Path

from bad_files_corpus import good_records, write_jsonl
from vqaft.finetune import FineTuneJob, JobEvent, JobStatus

SECRET = "sk-test-Zq8vN3xR5tW1yK7mP2cL9dF4"  # a made-up key the tests hunt for


def training_files(directory: Path, n_train: int = 12, n_val: int = 3) -> tuple[Path, Path]:
    """A valid training file (``n_train`` image examples) and a validation file."""
    train = write_jsonl(directory / "train.jsonl", good_records(n_train))
    val = write_jsonl(directory / "validation.jsonl", good_records(n_val))
    return train, val


class Recorder:
    """A FineTuneProgress that remembers everything it is told."""

    def __init__(self) -> None:
        self.statuses: list[tuple[str, JobStatus | None]] = []
        self.events: list[JobEvent] = []
        self.uploads: list[tuple[str, int, int]] = []
        self.messages: list[str] = []

    def status(self, job: FineTuneJob, previous: JobStatus | None) -> None:
        self.statuses.append((job.status.value, previous))

    def event(self, event: JobEvent) -> None:
        self.events.append(event)

    def upload(self, role: str, sent: int, total: int) -> None:
        self.uploads.append((role, sent, total))

    def message(self, text: str) -> None:
        self.messages.append(text)

    @property
    def status_values(self) -> list[str]:
        return [s for s, _ in self.statuses]
