"""Core value types that flow between vqaft's stages.

``Example`` is what a :class:`~vqaft.datasets.DatasetAdapter` yields: one question about one
image with its gold answer(s). ``ImageRef`` says where the image's bytes are (in memory, on
disk, at an http(s) URL, or inside a ``data:`` URL) without decoding them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vqaft.errors import ImageError

__all__ = ["Example", "ImageRef"]


class ImageRef(BaseModel):
    """A reference to one image: exactly one of ``data``, ``path`` or ``url`` is set.

    ``url`` may be an ``http(s)://`` URL (passed through to the API as is) or a ``data:`` URL
    with base64 content (decoded on demand).

    >>> ImageRef(path="cover.jpg").kind
    'path'
    """

    model_config = ConfigDict(frozen=True)

    data: bytes | None = Field(default=None, repr=False)
    path: str | None = None
    url: str | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageRef:
        count = sum(v is not None for v in (self.data, self.path, self.url))
        if count != 1:
            raise ValueError("an ImageRef needs exactly one of data, path or url")
        return self

    @property
    def kind(self) -> str:
        """``"bytes"``, ``"path"``, ``"data_url"`` or ``"url"``."""
        if self.data is not None:
            return "bytes"
        if self.path is not None:
            return "path"
        if self.url is not None and self.url.startswith("data:"):
            return "data_url"
        return "url"

    @property
    def is_remote(self) -> bool:
        """True for an http(s) URL, whose bytes vqaft does not fetch."""
        return self.kind == "url"

    def load_bytes(self) -> bytes:
        """Return the encoded image bytes (file content, decoded data URL, or raw bytes).

        Raises:
            ImageError: the file is missing, the data URL is malformed, or the reference is a
                remote URL (vqaft never downloads images; pass it through instead).
        """
        if self.data is not None:
            return self.data
        if self.path is not None:
            try:
                return Path(self.path).read_bytes()
            except OSError as exc:
                raise ImageError(
                    f"cannot read image file: {exc.strerror or exc}",
                    file=self.path,
                    hint="check the path (relative paths are resolved against the dataset file)",
                ) from exc
        url = self.url or ""
        if url.startswith("data:"):
            return decode_data_url(url)
        raise ImageError(
            "remote image URLs are passed through, not downloaded",
            hint="use the URL as is in the chat message, or download the image first",
        )

    def content_hash(self) -> str:
        """SHA-256 of the image bytes (for a remote URL: of the URL text)."""
        if self.is_remote:
            return hashlib.sha256((self.url or "").encode()).hexdigest()
        return hashlib.sha256(self.load_bytes()).hexdigest()


def decode_data_url(url: str) -> bytes:
    """Decode a ``data:<mime>;base64,<payload>`` URL into bytes.

    Raises:
        ImageError: the URL is not a base64 data URL or its payload is not valid base64.
    """
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise ImageError(
            "malformed data URL: expected 'data:<mime>;base64,<payload>'",
            hint="encode the image as base64 and prefix it with e.g. 'data:image/jpeg;base64,'",
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"data URL payload is not valid base64: {exc}") from exc


class Example(BaseModel):
    """One question about one image, with its gold answer(s).

    Attributes:
        id: stable id, ``"<image_id>:<k>"`` for the k-th question of an image.
        image: where the image is.
        question: the question text.
        answers: one or more gold answers; the first is the training target.
        image_id: id of the image (shared by all questions about it).
        split: the split the example came from, if known.
        metadata: free-form extra fields (title, genre, source row, ...), JSON-serialisable.

    >>> ex = Example(id="b1:0", image=ImageRef(path="b1.jpg"), question="Who wrote this book?",
    ...              answers=("Jane Doe",), image_id="b1")
    >>> ex.answer
    'Jane Doe'
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    image: ImageRef
    question: str = Field(min_length=1)
    answers: tuple[str, ...] = Field(min_length=1)
    image_id: str = Field(min_length=1)
    split: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def answer(self) -> str:
        """The first gold answer (the training target)."""
        return self.answers[0]
