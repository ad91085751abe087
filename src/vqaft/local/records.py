"""Read the chat-format records every backend gets: the question, the image and the answer.

A record is ``{"messages": [system, (few-shot user/assistant pairs), user, (assistant)]}``;
the last user message holds the question text and the image (a ``data:image/...;base64,``
URL), and a training or validation record ends with the assistant's answer. Nothing else is
read: the local backend learns from exactly what a hosted fine-tune would be sent.

>>> record = {"messages": [
...     {"role": "user", "content": [{"type": "text", "text": "Who wrote this book?"},
...         {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}]},
...     {"role": "assistant", "content": "Jane Doe"}]}
>>> item = parse_record(record)
>>> item.question, item.answer, item.image[:4]
('Who wrote this book?', 'Jane Doe', b'\\x89PNG')
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vqaft.datasets.base import SkippedItem
from vqaft.errors import DatasetError

__all__ = ["ChatItem", "ReadResult", "decode_data_url", "parse_record", "read_chat_file"]


@dataclass(frozen=True)
class ChatItem:
    """One record reduced to what the local model uses.

    Attributes:
        question: the text of the last user message.
        image: the bytes of the last user message's image.
        answer: the final assistant message, or ``None`` (a test record).
        line: 1-based line in its file (0 when not read from a file).
    """

    question: str
    image: bytes = field(repr=False)
    answer: str | None = None
    line: int = 0


@dataclass
class ReadResult:
    """The items of a file and the lines that could not be used (never dropped silently)."""

    items: list[ChatItem]
    skipped: list[SkippedItem]
    path: str


def decode_data_url(url: str) -> bytes:
    """The bytes of a ``data:<mime>;base64,<payload>`` URL.

    Raises:
        ValueError: not a base64 data URL (http(s) URLs cannot be read offline).
    """
    if not url.startswith("data:"):
        raise ValueError(
            f"the image is not embedded (URL starts {url[:30]!r}); the local backend reads "
            "only data: URLs"
        )
    header, sep, payload = url.partition(",")
    if not sep or ";base64" not in header:
        raise ValueError("malformed data URL: expected 'data:image/<type>;base64,<payload>'")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the data URL's base64 payload is invalid: {exc}") from None


def _text_and_image(content: Any) -> tuple[str, str | None]:
    if isinstance(content, str):
        return content, None
    if not isinstance(content, Sequence):
        raise ValueError("a user message's content must be text or a list of parts")
    texts: list[str] = []
    url: str | None = None
    for part in content:
        if not isinstance(part, Mapping):
            raise ValueError("every content part must be a JSON object")
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            value = image.get("url") if isinstance(image, Mapping) else image
            if isinstance(value, str):
                url = value
    return " ".join(t.strip() for t in texts if t.strip()), url


def parse_record(record: Mapping[str, Any], *, line: int = 0) -> ChatItem:
    """Reduce a chat record to its question, image and (if present) answer.

    Raises:
        ValueError: the record has no user message with text and an embedded image, or the
            final assistant message is not text.
    """
    messages = record.get("messages")
    if not isinstance(messages, Sequence) or not messages:
        raise ValueError("the record has no 'messages' list")
    answer: str | None = None
    last = messages[-1]
    if isinstance(last, Mapping) and last.get("role") == "assistant":
        content = last.get("content")
        if not isinstance(content, str):
            raise ValueError("the final assistant message must be text")
        answer = content
    users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    if not users:
        raise ValueError("the record has no user message")
    question, url = _text_and_image(users[-1].get("content"))
    if not question:
        raise ValueError("the last user message has no question text")
    if url is None:
        raise ValueError("the last user message has no image")
    return ChatItem(question=question, image=decode_data_url(url), answer=answer, line=line)


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line) of a file, blank lines included."""
    with open(path, "rb") as handle:
        yield from enumerate(handle, start=1)


def read_chat_file(path: str | os.PathLike[str], *, need_answers: bool = False) -> ReadResult:
    """Read every record of a chat-format JSONL file.

    A line that cannot be used (invalid JSON, no image, a remote image URL, no answer when
    ``need_answers``) is listed in :attr:`ReadResult.skipped` with the reason.

    Raises:
        DatasetError: the file does not exist.
    """
    source = Path(path)
    if not source.is_file():
        raise DatasetError("no such file", file=str(source), hint="check the path")
    items: list[ChatItem] = []
    skipped: list[SkippedItem] = []
    for number, raw in iter_lines(source):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            item = parse_record(data, line=number)
            if need_answers and item.answer is None:
                raise ValueError("the record has no assistant answer to learn from")
        except (ValueError, UnicodeDecodeError) as exc:
            skipped.append(SkippedItem(reason=str(exc), file=str(source), line=number))
            continue
        items.append(item)
    return ReadResult(items=items, skipped=skipped, path=str(source))
