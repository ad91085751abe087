"""axolotl's multimodal ``chat_template`` format, plus a config snippet.

Rows (``<out>/<stem>.jsonl``): OpenAI-like messages whose content is always a list of parts,
images as ``{"type": "image", "path": ...}``, as axolotl's multimodal documentation
describes::

    {"messages": [{"role": "system", "content": [{"type": "text", "text": "..."}]},
                  {"role": "user", "content": [{"type": "text", "text": "Who wrote it?"},
                                               {"type": "image", "path": "/out/images/9f.jpg"}]},
                  {"role": "assistant", "content": [{"type": "text", "text": "Jane Doe"}]}]}

``<out>/<stem>.axolotl.yaml`` holds the matching config lines (the multimodal settings axolotl
requires and the ``datasets`` entry) to paste into an axolotl config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vqaft.hf.data import ChatExample

__all__ = ["AxolotlExporter"]


class AxolotlExporter:
    """Rows and a config snippet for axolotl."""

    name = "axolotl"
    description = "axolotl: chat_template messages with {'type': 'image', 'path': ...} parts"

    def row(self, example: ChatExample, images: list[str]) -> dict[str, Any]:
        """``{"messages": [...]}`` with image paths inside the content."""
        paths = iter(images)
        messages = []
        for message in [*example.prompt, *(example.completion or [])]:
            content = [
                {"type": "image", "path": next(paths)}
                if part["type"] == "image"
                else {"type": "text", "text": part["text"]}
                for part in message["content"]
            ]
            messages.append({"role": message["role"], "content": content})
        return {"messages": messages}

    def finish(self, out_dir: Path, data_file: Path, records: int) -> list[Path]:
        """Write ``<stem>.axolotl.yaml``."""
        snippet = out_dir / f"{data_file.stem}.axolotl.yaml"
        path = json.dumps(str(data_file.resolve()))  # a JSON string is a valid YAML scalar
        text = (
            f"# axolotl settings for {data_file.name} (written by vqaft export)\n"
            "processor_type: AutoProcessor\n"
            "skip_prepare_dataset: true\n"
            "remove_unused_columns: false\n"
            "sample_packing: false\n"
            "datasets:\n"
            f"  - path: {path}\n"
            "    ds_type: json\n"
            "    type: chat_template\n"
            "    field_messages: messages\n"
        )
        temporary = snippet.with_name(f".{snippet.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, snippet)
        return [snippet]
