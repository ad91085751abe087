"""LLaMA-Factory's ShareGPT format with images, plus its ``dataset_info.json`` entry.

Rows (``<out>/<stem>.jsonl``, one JSON object per line)::

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": "Who wrote this book?<image>"},
                  {"role": "assistant", "content": "Jane Doe"}],
     "images": ["/abs/out/images/9f2c....jpg"]}

and ``<out>/dataset_info.json`` gains (or updates) the entry ``vqaft_<stem>``::

    "vqaft_train": {"file_name": "train.jsonl", "formatting": "sharegpt",
                    "columns": {"messages": "messages", "images": "images"},
                    "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                             "assistant_tag": "assistant", "system_tag": "system"}}

Train with ``dataset_dir: <out>`` and ``dataset: vqaft_train`` (``eval_dataset:
vqaft_validation``). LLaMA-Factory pairs user and assistant turns, so a test record (no answer)
gets an empty assistant turn; its gold answers stay in vqaft's ``test.ids.jsonl``. Entries of
other datasets already in ``dataset_info.json`` are kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vqaft.errors import ConfigError
from vqaft.export.base import plain_messages
from vqaft.hf.data import ChatExample

__all__ = ["DATASET_INFO", "LlamaFactoryExporter", "dataset_entry"]

DATASET_INFO = "dataset_info.json"


def dataset_entry(data_file: str) -> dict[str, Any]:
    """The ``dataset_info.json`` entry describing an exported file."""
    return {
        "file_name": data_file,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    }


class LlamaFactoryExporter:
    """Rows and a ``dataset_info.json`` entry for LLaMA-Factory."""

    name = "llama-factory"
    description = "LLaMA-Factory: sharegpt messages with <image> + images, dataset_info.json"

    def row(self, example: ChatExample, images: list[str]) -> dict[str, Any]:
        """``{"messages": [...string content...], "images": [...]}``."""
        messages = plain_messages(example)
        if messages[-1]["role"] != "assistant":
            messages.append({"role": "assistant", "content": ""})
        return {"messages": messages, "images": images}

    def finish(self, out_dir: Path, data_file: Path, records: int) -> list[Path]:
        """Add ``vqaft_<stem>`` to ``dataset_info.json`` (keeping the other entries).

        Raises:
            ConfigError: an existing ``dataset_info.json`` is not a JSON object.
        """
        info_path = out_dir / DATASET_INFO
        info: dict[str, Any] = {}
        if info_path.is_file():
            try:
                loaded = json.loads(info_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"unreadable {DATASET_INFO}: {exc}",
                    file=str(info_path),
                    hint="fix or delete it",
                ) from None
            if not isinstance(loaded, dict):
                raise ConfigError(
                    f"{DATASET_INFO} is not a JSON object", file=str(info_path), hint="fix it"
                )
            info = loaded
        info[f"vqaft_{data_file.stem}"] = dataset_entry(data_file.name)
        temporary = info_path.with_name(f".{info_path.name}.tmp")
        temporary.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, info_path)
        return [info_path]
