"""TRL's vision dataset format: ``messages`` with ``{"type": "image"}`` placeholders + ``images``.

One JSON object per line::

    {"messages": [{"role": "system", "content": [{"type": "text", "text": "..."}]},
                  {"role": "user", "content": [{"type": "text", "text": "Who wrote this book?"},
                                               {"type": "image"}]},
                  {"role": "assistant", "content": [{"type": "text", "text": "Jane Doe"}]}],
     "images": ["/abs/out/images/9f2c....jpg"]}

Content is always a list of parts (the structured form TRL's ``prepare_multimodal_messages``
fills in); the n-th ``{"type": "image"}`` is the n-th path of ``images``. Load it with::

    from datasets import Image, List, load_dataset
    ds = load_dataset("json", data_files="out/train.jsonl", split="train")
    ds = ds.cast_column("images", List(Image()))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vqaft.hf.data import ChatExample

__all__ = ["TRLExporter"]


class TRLExporter:
    """Rows for TRL's SFTTrainer (conversational language modeling with images)."""

    name = "trl"
    description = "TRL / Hugging Face: messages with {'type': 'image'} parts + images column"

    def row(self, example: ChatExample, images: list[str]) -> dict[str, Any]:
        """``{"messages": [...], "images": [...]}``."""
        return {"messages": [*example.prompt, *(example.completion or [])], "images": images}

    def finish(self, out_dir: Path, data_file: Path, records: int) -> list[Path]:
        """No side files."""
        return []
