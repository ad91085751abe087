"""The metadata file saved beside a LoRA adapter: what it was trained from, and how.

``vqaft_adapter.json`` sits in the adapter folder next to PEFT's ``adapter_config.json`` and
``adapter_model.safetensors``. It records the base model (and the classes that load it), the
SHA-256 of the training and validation files, every hyperparameter, the final losses, the
versions of vqaft and of the libraries that trained it, and the user's job metadata. The ``hf``
predictor reads it to find the base model of an adapter; people read it to know what an adapter
is.

>>> meta = AdapterMetadata(base_model="Qwen/Qwen2.5-VL-3B-Instruct", adapter_name="covers",
...                        train=DataFile(path="train.jsonl", sha256="0" * 64, bytes=10,
...                                       examples=1))
>>> meta.format
'vqaft-adapter/1'
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vqaft.errors import ConfigError
from vqaft.finetune.state import file_digest

__all__ = [
    "ADAPTER_CONFIG",
    "METADATA_FILE",
    "AdapterMetadata",
    "DataFile",
    "describe_file",
    "is_adapter_dir",
    "library_versions",
    "read_adapter_metadata",
    "write_adapter_metadata",
]

METADATA_FILE = "vqaft_adapter.json"
"""The metadata file's name inside the adapter folder."""

ADAPTER_CONFIG = "adapter_config.json"
"""PEFT's adapter configuration file (marks a folder as an adapter)."""

_LIBRARIES = ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "vqaft")


class DataFile(BaseModel):
    """A data file an adapter was trained or validated on.

    Attributes:
        path: the path as given when training.
        sha256: SHA-256 of the file's bytes.
        bytes: the file's size.
        examples: the records it holds.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    bytes: int
    examples: int | None = None


class AdapterMetadata(BaseModel):
    """Everything vqaft knows about an adapter (``vqaft_adapter.json``).

    Attributes:
        format: the file's format version.
        base_model: the base model id or folder the adapter applies to.
        adapter_name: the adapter's name (the job suffix; the LoRA module name to serve it
            under with vLLM).
        processor_class, model_class: ``"module:Class"`` used to load the base model's
            processor and model (``None``: transformers' Auto classes).
        job_id: the fine-tuning job that produced it.
        fingerprint: digest of the data and every setting that decided the training.
        created_at: when training finished (UTC, ISO 8601).
        train, validation: the data files.
        hyperparameters: the resolved training settings (epochs, batch size, learning rate,
            LoRA rank/alpha/dropout/target modules, precision, quantization, ...).
        metrics: final figures (``train_loss``, ``valid_loss``, ``steps``,
            ``train_runtime``, ``train_samples_per_second``, ...).
        libraries: versions of vqaft, torch, transformers, peft, trl, accelerate
            (``None`` when not installed).
        device: what trained it (``"cuda:NVIDIA H100 80GB HBM3 x1"``, ``"cpu"``).
        job_metadata: the string pairs given as the job's metadata.
    """

    model_config = ConfigDict(extra="allow")

    format: str = "vqaft-adapter/1"
    base_model: str
    adapter_name: str
    processor_class: str | None = None
    model_class: str | None = None
    job_id: str | None = None
    fingerprint: str | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    train: DataFile
    validation: DataFile | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float | int | None] = Field(default_factory=dict)
    libraries: dict[str, str | None] = Field(default_factory=lambda: library_versions())
    device: str | None = None
    job_metadata: dict[str, str] | None = None


def library_versions() -> dict[str, str | None]:
    """Installed versions of vqaft and the training libraries (``None``: not installed)."""
    versions: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe_file(path: str | os.PathLike[str], examples: int | None = None) -> DataFile:
    """SHA-256 and size of ``path`` as a :class:`DataFile`.

    Raises:
        ConfigError: the file cannot be read.
    """
    try:
        sha256, size = file_digest(Path(path))
    except OSError as exc:
        raise ConfigError(
            f"cannot read data file: {exc.strerror or exc}", file=str(path), hint="check the path"
        ) from None
    return DataFile(path=str(path), sha256=sha256, bytes=size, examples=examples)


def is_adapter_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder holding a PEFT adapter (``adapter_config.json``)."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def write_adapter_metadata(folder: str | os.PathLike[str], meta: AdapterMetadata) -> Path:
    """Write ``meta`` to ``folder/vqaft_adapter.json`` (atomically); return the path."""
    target = Path(folder) / METADATA_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(meta.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, target)
    return target


def read_adapter_metadata(folder: str | os.PathLike[str]) -> AdapterMetadata | None:
    """The metadata of the adapter in ``folder``; ``None`` when it has no metadata file.

    An adapter trained elsewhere (no ``vqaft_adapter.json``) has none; its base model is then
    read from ``adapter_config.json`` by the predictor.

    Raises:
        ConfigError: the file exists but is not valid metadata.
    """
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return None
    try:
        return AdapterMetadata.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise ConfigError(
            f"unreadable adapter metadata: {exc}",
            file=str(path),
            hint="restore the file, or delete it and pass the base model explicitly",
        ) from None
