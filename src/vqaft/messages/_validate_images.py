"""Check the image URLs of chat-format records without decoding pixels.

:class:`ImageInspector` looks at one ``image_url`` at a time: the ``data:`` URL's syntax, its
base64 payload, the image header (format, mode, size: Pillow reads the header lazily and never
decodes pixels here) and the rules OpenAI sets for fine-tuning images. Results are cached by a
hash of the URL, so an image repeated on many lines (OCR-VQA asks ~5 questions per cover) is
decoded and checked once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image, UnidentifiedImageError

__all__ = [
    "MAX_IMAGE_BYTES",
    "SUPPORTED_FORMATS",
    "SUPPORTED_MODES",
    "ImageInfo",
    "ImageInspector",
    "Problem",
    "Severity",
]

Severity = Literal["error", "warning", "info"]

MAX_IMAGE_BYTES = 10_000_000
"""OpenAI's per-image limit for fine-tuning (10 MB, read as 10,000,000 bytes to be safe)."""

SUPPORTED_FORMATS: dict[str, tuple[str, ...]] = {
    "JPEG": ("image/jpeg", "image/jpg"),
    "PNG": ("image/png",),
    "WEBP": ("image/webp",),
}
"""Pillow format name -> the MIME types a data URL may declare for it."""

SUPPORTED_MODES = frozenset({"RGB", "RGBA"})

_DATA_URL = re.compile(r"data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),", re.ASCII)
_ENCODE_HINT = "re-encode the image as RGB JPEG or PNG (vqaft.messages.images.encode_image does)"


@dataclass(frozen=True)
class Problem:
    """One broken rule, before it is tied to a line (see :class:`vqaft.messages.Finding`)."""

    severity: Severity
    code: str
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class ImageInfo:
    """What is known about one image URL.

    Attributes:
        kind: ``"data"`` (a data URL), ``"remote"`` (http/https, not fetched) or ``"invalid"``.
        key: BLAKE2b hash of the image bytes (of the URL text for a remote image); ``None``
            when the URL could not be decoded. Equal keys mean the same image.
        n_bytes: size of the decoded image in bytes.
        width, height: pixel size read from the header.
        format: Pillow's format name (``"JPEG"``, ``"PNG"``...).
        mode: Pillow's mode (``"RGB"``, ``"CMYK"``...).
        problems: the rules this image breaks.
    """

    kind: Literal["data", "remote", "invalid"]
    key: bytes | None = None
    n_bytes: int | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    problems: tuple[Problem, ...] = ()

    @property
    def size(self) -> tuple[int, int] | None:
        """``(width, height)`` when the header was read."""
        if self.width is None or self.height is None:
            return None
        return self.width, self.height


@dataclass
class ImageInspector:
    """Checks image URLs, caching each result by a hash of the URL.

    >>> inspector = ImageInspector()
    >>> inspector.inspect("https://example.com/cover.jpg").kind
    'remote'
    """

    max_image_bytes: int = MAX_IMAGE_BYTES
    hits: int = 0
    misses: int = 0
    _cache: dict[bytes, ImageInfo] = field(default_factory=dict, repr=False)

    def inspect(self, url: str) -> ImageInfo:
        """Check one ``image_url.url`` value (cached)."""
        return self.inspect_keyed(url)[1]

    def inspect_keyed(self, url: str) -> tuple[bytes, ImageInfo]:
        """Like :meth:`inspect`, also returning a hash of the URL text."""
        url_key = _hash(url.encode("utf-8", "surrogatepass"))
        if url.startswith(("http://", "https://")):
            return url_key, ImageInfo(kind="remote", key=url_key)
        cached = self._cache.get(url_key)
        if cached is not None:
            self.hits += 1
            return url_key, cached
        self.misses += 1
        info = self._inspect(url)
        self._cache[url_key] = info
        return url_key, info

    def __len__(self) -> int:
        return len(self._cache)

    def _inspect(self, url: str) -> ImageInfo:
        if not url.startswith("data:"):
            shown = url[:40] + ("..." if len(url) > 40 else "")
            return _invalid(
                "invalid_image_url",
                f"image URL {shown!r} is neither a data: URL nor an http(s) URL",
                "embed the image as data:image/jpeg;base64,... or give a public https URL",
            )
        match = _DATA_URL.match(url)
        if match is None:
            return _invalid(
                "malformed_data_url",
                "malformed data URL: expected 'data:image/<type>;base64,<payload>'",
                "prefix the base64 payload with e.g. 'data:image/jpeg;base64,'",
            )
        mime = match.group("mime").strip().lower()
        params = [p.strip().lower() for p in match.group("params").split(";") if p.strip()]
        if "base64" not in params:
            return _invalid(
                "malformed_data_url",
                f"data URL ({mime or 'no MIME type'}) is not base64-encoded: "
                "';base64' is missing before the comma",
                "OpenAI accepts only base64 data URLs: 'data:image/jpeg;base64,<payload>'",
            )
        if not mime.startswith("image/"):
            return _invalid(
                "malformed_data_url",
                f"data URL declares MIME type {mime or '(none)'!r}, not an image type",
                "use data:image/jpeg, data:image/png or data:image/webp",
            )
        payload = url[match.end() :]
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            return _invalid(
                "invalid_base64",
                f"data URL payload is not valid base64 ({exc})",
                "encode with base64.b64encode and do not wrap or escape the payload",
            )
        if not data:
            return _invalid("invalid_base64", "data URL payload is empty", _ENCODE_HINT)
        return _inspect_bytes(data, mime, self.max_image_bytes)


def _hash(data: bytes) -> bytes:
    # BLAKE2b: collision-safe and ~3x faster than SHA-256 on CPUs without SHA extensions.
    return hashlib.blake2b(data, digest_size=20).digest()


def _invalid(code: str, message: str, hint: str) -> ImageInfo:
    return ImageInfo(kind="invalid", problems=(Problem("error", code, message, hint),))


def _inspect_bytes(data: bytes, mime: str, max_bytes: int) -> ImageInfo:
    key = _hash(data)
    problems: list[Problem] = []
    if len(data) > max_bytes:
        problems.append(
            Problem(
                "error",
                "image_too_large",
                f"image is {len(data) / 1e6:.1f} MB; OpenAI accepts at most "
                f"{max_bytes / 1e6:g} MB per image",
                "resize it or re-encode it as JPEG with a lower quality",
            )
        )
    try:
        with warnings.catch_warnings():
            # only the header is read here: a large size is not a decoding risk
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, mode = image.format, image.mode
                width, height = image.size
    except Image.DecompressionBombError as exc:
        problems.append(
            Problem(
                "error",
                "image_unreadable",
                f"image has too many pixels to be safe to decode ({exc})",
                "resize it below 2048 px on the long side before embedding it",
            )
        )
        return ImageInfo(kind="data", key=key, n_bytes=len(data), problems=tuple(problems))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        problems.append(
            Problem(
                "error",
                "image_unreadable",
                f"data URL payload is not a readable image ({type(exc).__name__}: {exc})",
                _ENCODE_HINT,
            )
        )
        return ImageInfo(kind="data", key=key, n_bytes=len(data), problems=tuple(problems))
    fmt = fmt or "unknown"
    if fmt not in SUPPORTED_FORMATS:
        problems.append(
            Problem(
                "error",
                "unsupported_image_format",
                f"image is {fmt}; OpenAI fine-tuning accepts only JPEG, PNG and WEBP",
                _ENCODE_HINT,
            )
        )
    elif mime not in SUPPORTED_FORMATS[fmt]:
        problems.append(
            Problem(
                "error",
                "mime_mismatch",
                f"data URL declares {mime} but the bytes are a {fmt} image",
                f"use the prefix data:{SUPPORTED_FORMATS[fmt][0]};base64,",
            )
        )
    if fmt in SUPPORTED_FORMATS and mode not in SUPPORTED_MODES:
        problems.append(
            Problem(
                "error",
                "unsupported_image_mode",
                f"image mode is {mode}; OpenAI requires RGB or RGBA images",
                "convert it with Pillow's Image.convert('RGB') (vqaft's encoder does this)",
            )
        )
    return ImageInfo(
        kind="data",
        key=key,
        n_bytes=len(data),
        width=width,
        height=height,
        format=fmt,
        mode=mode,
        problems=tuple(problems),
    )
