"""vqaft's chat-format JSONL, turned into what open-model trainers and processors take.

A vqaft record is OpenAI's chat format: ``{"messages": [system, user, ..., assistant]}`` with
images as ``image_url`` parts holding base64 data URLs. Open VLM processors instead want
``{"type": "image"}`` placeholders in the messages and the images (PIL) beside them. This
module converts one into the other, without downloading anything:

* :func:`convert_messages` -- one record's messages -> a :class:`ChatExample`: the *prompt*
  (every message before the last assistant answer, images replaced by placeholders, content
  always a list of parts), the *completion* (the last assistant answer), the image bytes;
* :func:`read_chat_jsonl` -- the examples of a file, with file / line / example id in every
  error (ids come from the ``<stem>.ids.jsonl`` side file when there is one);
* :func:`training_dataset` -- a :class:`datasets.Dataset` in TRL's *conversational
  prompt-completion* format (columns ``prompt``, ``completion``, ``images``). TRL renders
  ``prompt`` with the generation prompt and ``prompt + completion`` with the model's own chat
  template and puts the loss on the completion only: the assistant's answer and its end-of-turn
  token, whatever the template (no ``{% generation %}`` markers needed);
* :func:`open_image` -- bytes -> an RGB PIL image, fully decoded.

Few-shot records (worked user/assistant pairs before the question) keep their pairs in the
prompt: only the final answer is trained on.

>>> messages = [
...     {"role": "system", "content": "Answer briefly."},
...     {"role": "user", "content": [
...         {"type": "text", "text": "Who wrote this book?"},
...         {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
...     {"role": "assistant", "content": "Jane Doe"}]
>>> example = convert_messages(messages)
>>> [part["type"] for part in example.prompt[1]["content"]]
['text', 'image']
>>> example.answer, len(example.images)
('Jane Doe', 1)
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from vqaft.errors import DatasetError, ImageError
from vqaft.messages.writer import ids_path
from vqaft.types import decode_data_url

if TYPE_CHECKING:
    import datasets

__all__ = [
    "ChatExample",
    "Message",
    "convert_messages",
    "open_image",
    "read_chat_jsonl",
    "training_dataset",
]

Message = dict[str, Any]
"""A chat message as processors take it: ``{"role": str, "content": [part, ...]}``."""

_ROLES = frozenset({"system", "developer", "user", "assistant"})


@dataclass(frozen=True)
class ChatExample:
    """One record, ready for a processor.

    Attributes:
        prompt: the messages before the answer; content is a list of ``{"type": "text",
            "text": ...}`` and ``{"type": "image"}`` parts (``developer`` becomes ``system``).
        completion: ``[{"role": "assistant", "content": [text part]}]``, or ``None`` for a
            test record without an answer.
        images: the encoded bytes of each image, in placeholder order.
        line: the 1-based line in the file (``None`` when not read from a file).
        example_id: the example id from the side file, if known.
    """

    prompt: list[Message]
    completion: list[Message] | None
    images: tuple[bytes, ...] = field(repr=False, default=())
    line: int | None = None
    example_id: str | None = None

    @property
    def answer(self) -> str | None:
        """The answer text (``None`` without an answer)."""
        if self.completion is None:
            return None
        return "".join(p["text"] for p in self.completion[0]["content"] if p["type"] == "text")

    def pil_images(self) -> list[Image.Image]:
        """The images, decoded (RGB).

        Raises:
            ImageError: an image cannot be decoded (with this example's line and id).
        """
        out = []
        for data in self.images:
            try:
                out.append(open_image(data))
            except ImageError as exc:
                raise ImageError(
                    exc.message, line=self.line, example_id=self.example_id, hint=exc.hint
                ) from exc
        return out


def open_image(data: bytes) -> Image.Image:
    """Decode image bytes into a fully loaded RGB PIL image.

    Raises:
        ImageError: the bytes are not an image Pillow can read, or the image is so large that
            Pillow refuses it as a possible decompression bomb.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                rgb: Image.Image = image.convert("RGB") if image.mode != "RGB" else image.copy()
                return rgb
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            f"image refused as a possible decompression bomb: {exc}",
            hint="resize the image (vqaft prepare's image_policy max_side does)",
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(
            f"cannot decode image: {exc}", hint="re-encode it as JPEG or PNG (vqaft prepare does)"
        ) from exc


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    return value


def _image_bytes(part: Mapping[str, Any]) -> bytes:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, Mapping) else spec
    if not isinstance(url, str):
        raise ValueError("an image_url part needs image_url.url (a string)")
    if not url.startswith("data:"):
        raise ValueError(
            "remote image URLs cannot be used here (nothing is downloaded): "
            f"{url[:60]!r}; embed the image as a base64 data URL (vqaft prepare does)"
        )
    try:
        return decode_data_url(url)
    except ImageError as exc:
        raise ValueError(exc.message) from exc


def _parts(content: Any, images: list[bytes], role: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise ValueError(f"{role} content must be a string or a list of parts")
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            parts.append({"type": "text", "text": _text(part.get("text"), "a text part's text")})
        elif kind in ("image_url", "image"):
            if role != "user":
                raise ValueError(f"images are only allowed in user messages, not in {role}")
            if kind == "image":
                raise ValueError(
                    "an {'type': 'image'} placeholder without image data; use image_url parts "
                    "with data URLs"
                )
            images.append(_image_bytes(part))
            parts.append({"type": "image"})
        else:
            raise ValueError(f"{role} content part {index} has unsupported type {kind!r}")
    return parts


def convert_messages(
    messages: Any,
    *,
    require_answer: bool = False,
    line: int | None = None,
    example_id: str | None = None,
    file: str | None = None,
) -> ChatExample:
    """Convert one record's OpenAI-format messages into a :class:`ChatExample`.

    A final assistant message becomes the completion; without one the record is a test
    record (``completion=None``).

    Raises:
        DatasetError: the messages are malformed, an image is not a base64 data URL, or
            ``require_answer`` is set and there is no final assistant answer.
    """

    def fail(message: str, hint: str) -> DatasetError:
        return DatasetError(message, file=file, line=line, example_id=example_id, hint=hint)

    if not isinstance(messages, list) or not messages:
        raise fail("'messages' must be a non-empty list", "write the file with vqaft prepare")
    images: list[bytes] = []
    converted: list[Message] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        if role not in _ROLES:
            raise fail(
                f"message {index} has role {role!r}",
                "use the roles system, developer, user and assistant",
            )
        try:
            parts = _parts(message.get("content"), images, str(role))
        except ValueError as exc:
            raise fail(f"message {index}: {exc}", "write the file with vqaft prepare") from None
        converted.append({"role": "system" if role == "developer" else role, "content": parts})
    completion: list[Message] | None = None
    if converted[-1]["role"] == "assistant":
        completion = [converted.pop()]
        if not converted:
            raise fail("the record has an answer but no question", "add the user message")
    elif require_answer:
        raise fail(
            f"the last message is {converted[-1]['role']!r}, not the assistant's answer",
            "training and validation records end with the assistant's answer",
        )
    return ChatExample(converted, completion, tuple(images), line, example_id)


def _side_ids(path: Path) -> dict[int, str]:
    side = ids_path(path)
    if not side.is_file():
        return {}
    ids: dict[int, str] = {}
    with open(side, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            try:
                entry = json.loads(text)
            except json.JSONDecodeError:
                continue  # the ids only label errors; vqaft validate checks the side file
            if isinstance(entry, dict) and isinstance(entry.get("example_id"), str):
                ids[int(entry.get("line") or number)] = entry["example_id"]
    return ids


def read_chat_jsonl(
    path: str | os.PathLike[str], *, require_answer: bool = True
) -> Iterator[ChatExample]:
    """The examples of a chat-format JSONL file, in file order (blank lines are skipped).

    Raises:
        DatasetError: the file is missing, a line is not JSON, has no ``messages``, or fails
            :func:`convert_messages` (the error names the file, line and example id).
    """
    source = Path(path)
    if not source.is_file():
        raise DatasetError("file not found", file=str(source), hint="check the path")
    ids = _side_ids(source)
    with open(source, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"not valid JSON: {exc.msg}",
                    file=str(source),
                    line=number,
                    example_id=ids.get(number),
                    hint="each line must be one JSON object (vqaft validate finds all problems)",
                ) from None
            messages = record.get("messages") if isinstance(record, dict) else None
            yield convert_messages(
                messages,
                require_answer=require_answer,
                line=number,
                example_id=ids.get(number),
                file=str(source),
            )


def _check_images(example: ChatExample, file: str) -> None:
    for data in example.images:
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        except Exception as exc:  # Pillow raises many types for corrupt data
            raise ImageError(
                f"cannot decode image: {exc}",
                file=file,
                line=example.line,
                example_id=example.example_id,
                hint="re-encode it as JPEG or PNG (vqaft prepare does)",
            ) from exc


def training_dataset(path: str | os.PathLike[str]) -> datasets.Dataset:
    """A training or validation file as TRL's conversational prompt-completion dataset.

    Columns: ``prompt`` and ``completion`` (lists of messages, content as lists of parts),
    ``images`` (a list of images, decoded to PIL when a row is read). Each image is checked
    here, so a bad one is reported with its line before any training starts. The encoded
    images are held in memory (an OCR-VQA training file of 150 covers: a few MB).

    Raises:
        DatasetError: see :func:`read_chat_jsonl`; also an empty file.
        ImageError: an image cannot be decoded.
    """
    from datasets import Dataset, Features, Image, Value

    part = {"type": Value("string"), "text": Value("string")}
    message = {"role": Value("string"), "content": [part]}
    features = Features({"prompt": [message], "completion": [message], "images": [Image()]})
    rows: dict[str, list[Any]] = {"prompt": [], "completion": [], "images": []}
    for example in read_chat_jsonl(path, require_answer=True):
        _check_images(example, str(path))
        rows["prompt"].append(_arrow_messages(example.prompt))
        rows["completion"].append(_arrow_messages(example.completion or []))
        rows["images"].append([{"bytes": data, "path": None} for data in example.images])
    if not rows["prompt"]:
        raise DatasetError("the file holds no examples", file=str(path), hint="check the file")
    return Dataset.from_dict(rows, features=features)


def _arrow_messages(messages: Sequence[Message]) -> list[Message]:
    # one struct type for every part: image parts get text=None
    return [
        {
            "role": m["role"],
            "content": [{"type": p["type"], "text": p.get("text")} for p in m["content"]],
        }
        for m in messages
    ]
