"""Tiny chat-format data files a tiny model can learn in a few steps (no torch needed).

:func:`write_tiny_split` writes ``<name>.jsonl`` + ``<name>.ids.jsonl`` in the layout
``vqaft prepare`` writes: one record per line, a system prompt, the question with a 32x32 PNG
as a data URL, and (for training files) the answer. Each colour has its own answer, so a
model that learns anything learns to look at the image. Used by the tests, the GPU benchmark
and dry runs of the open-model path.

>>> path = write_tiny_split("tmp/data", "train", 16)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

from PIL import Image

__all__ = ["ANSWERS", "COLOURS", "QUESTION", "SYSTEM", "image_data_url", "write_tiny_split"]

COLOURS = ("red", "green", "blue", "yellow")
ANSWERS = ("Jane Doe", "John Smith", "Mary Major", "Travel")
QUESTION = "Who wrote this book?"
SYSTEM = "Answer the question about the book cover in a few words."


def image_data_url(colour: str, size: int = 32) -> str:
    """A ``size`` x ``size`` PNG of one colour, as a base64 data URL."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def write_tiny_split(
    folder: str | os.PathLike[str],
    name: str,
    n: int,
    *,
    answers: bool = True,
    image_size: int = 32,
) -> Path:
    """Write ``<folder>/<name>.jsonl`` (and its ``.ids.jsonl``) with ``n`` records.

    Record ``k`` shows colour ``COLOURS[k % 4]``; its answer is ``ANSWERS[k % 4]`` (included
    when ``answers``; always listed in the side file).
    """
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    urls = [image_data_url(c, image_size) for c in COLOURS]
    path = target / f"{name}.jsonl"
    with (
        open(path, "w", encoding="utf-8") as records,
        open(target / f"{name}.ids.jsonl", "w", encoding="utf-8") as ids,
    ):
        for k in range(n):
            messages: list[dict[str, object]] = [
                {"role": "system", "content": SYSTEM},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": QUESTION},
                        {"type": "image_url", "image_url": {"url": urls[k % 4], "detail": "auto"}},
                    ],
                },
            ]
            if answers:
                messages.append({"role": "assistant", "content": ANSWERS[k % 4]})
            records.write(json.dumps({"messages": messages}) + "\n")
            side = {
                "line": k + 1,
                "example_id": f"{COLOURS[k % 4]}{k}:0",
                "image_id": f"{COLOURS[k % 4]}{k}",
                "question": QUESTION,
                "answers": [ANSWERS[k % 4]],
            }
            ids.write(json.dumps(side) + "\n")
    return path
