"""ms-swift's standard messages format: ``<image>`` placeholders + an ``images`` path list.

One JSON object per line, as ms-swift's custom-dataset documentation describes it::

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": "Who wrote this book?<image>"},
                  {"role": "assistant", "content": "Jane Doe"}],
     "images": ["/abs/out/images/9f2c....jpg"]}

Each ``<image>`` in the text is the next path of ``images``. Train with
``swift sft --dataset out/train.jsonl --val_dataset out/validation.jsonl ...``. Test records
(no answer) end with the user's message, which ``swift infer`` accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vqaft.export.base import plain_messages
from vqaft.hf.data import ChatExample

__all__ = ["MsSwiftExporter"]


class MsSwiftExporter:
    """Rows for ms-swift (``swift sft --dataset FILE``)."""

    name = "ms-swift"
    description = "ms-swift: messages with <image> placeholders + images path list"

    def row(self, example: ChatExample, images: list[str]) -> dict[str, Any]:
        """``{"messages": [...string content...], "images": [...]}``."""
        return {"messages": plain_messages(example), "images": images}

    def finish(self, out_dir: Path, data_file: Path, records: int) -> list[Path]:
        """No side files."""
        return []
