"""Decode, normalise, resize and encode images for chat-format messages.

OpenAI accepts JPEG, PNG, WEBP (and non-animated GIF) images in RGB or RGBA. Datasets hold
everything else too: palette PNGs, grayscale and 16-bit scans, CMYK JPEGs, phone photos whose
pixels are stored sideways with an EXIF orientation tag. :func:`encode_image` turns any of
them into something the API takes, following an :class:`ImagePolicy`:

* ``format="auto"`` (the default) keeps the source bytes untouched when they are already fine
  (JPEG/PNG/WEBP, RGB/RGBA, upright, single frame, no resize needed) and otherwise re-encodes as
  JPEG, or as PNG when the image has an alpha channel;
* ``format="jpeg" | "png" | "webp"`` always re-encodes in that format. The cookbook's
  settings are ``ImagePolicy.cookbook()``, i.e. ``ImagePolicy(format="jpeg", quality=100)``,
  which gives byte-for-byte the JPEG the cookbook's own encoder produces.

>>> policy = ImagePolicy(resize="tile")
>>> encoded = encode_image(open("cover.jpg", "rb").read(), policy)  # doctest: +SKIP
>>> encoded.data_url[:23]  # doctest: +SKIP
'data:image/jpeg;base64,'
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pybase64
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vqaft.errors import ImageError
from vqaft.messages._image_save import save_to_bytes
from vqaft.messages.vision_tokens import Detail, billed_size
from vqaft.types import ImageRef

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "EncodedImage",
    "ImageFormat",
    "ImagePolicy",
    "ResizeMode",
    "encode_image",
    "ensure_rgb",
    "image_url",
    "target_size",
]

ImageFormat = Literal["auto", "jpeg", "png", "webp"]
"""Output format: ``"auto"`` keeps good source bytes, the others always re-encode."""

ResizeMode = Literal["none", "max_side", "tile"]
"""``"none"``: full size; ``"max_side"``: fit in ``max_side``; ``"tile"``: the size gpt-4o bills."""

DEFAULT_MAX_PIXELS = 50_000_000
"""Default decompression-bomb guard: images with more pixels are refused (about 7,000 x 7,000)."""

_LOW_DETAIL_SIDE = 512
_PASSTHROUGH_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_PIL_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}

# Modes that become RGB, and those that become RGBA, by a plain Pillow conversion.
_TO_RGB = {"RGB", "RGBX", "1", "L", "CMYK", "YCbCr", "LAB", "HSV"}
_TO_RGBA = {"RGBA", "RGBa", "LA", "PA"}
# Modes holding more than 8 bits per pixel: scaled to 8 bits first (see ensure_rgb).
_WIDE_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}


class ImagePolicy(BaseModel):
    """How images are encoded into training and test files.

    Attributes:
        format: ``"auto"`` keeps the source bytes when they are already a JPEG/PNG/WEBP in
            RGB/RGBA, upright and the right size, and otherwise re-encodes (JPEG, or PNG when
            there is alpha); ``"jpeg"``, ``"png"`` or ``"webp"`` always re-encode.
        quality: JPEG/WEBP quality, 1 (smallest) to 100 (best).
        resize: ``"none"`` keeps the full size; ``"max_side"`` fits the image within
            ``max_side`` x ``max_side``; ``"tile"`` shrinks it to the size gpt-4o processes
            anyway (fit 2048, short side 768 for detail high/auto; fit 512 for detail low),
            which saves upload bytes and changes nothing the model sees. Never enlarges.
        max_side: the bound for ``resize="max_side"``.
        max_pixels: images with more pixels than this are refused (decompression bombs).
            Pillow refuses anything above ``2 * PIL.Image.MAX_IMAGE_PIXELS`` on its own.

    >>> ImagePolicy.cookbook()
    ImagePolicy(format='jpeg', quality=100, resize='none', max_side=None, max_pixels=50000000)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: ImageFormat = "auto"
    quality: int = Field(default=95, ge=1, le=100)
    resize: ResizeMode = "none"
    max_side: int | None = Field(default=None, ge=1)
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1)

    @model_validator(mode="after")
    def _max_side_goes_with_resize(self) -> ImagePolicy:
        if self.resize == "max_side" and self.max_side is None:
            raise ValueError('resize="max_side" needs max_side (e.g. max_side=1024)')
        if self.resize != "max_side" and self.max_side is not None:
            raise ValueError('max_side is only used with resize="max_side"')
        return self

    @classmethod
    def cookbook(cls) -> ImagePolicy:
        """The cookbook's settings: every image re-encoded as JPEG at quality 100, full size."""
        return cls(format="jpeg", quality=100)


class EncodedImage(BaseModel):
    """One image, ready for a chat message.

    Attributes:
        mime: ``image/jpeg``, ``image/png`` or ``image/webp``.
        data: the base64 payload (no ``data:`` prefix).
        width: width of the encoded image, in pixels.
        height: height of the encoded image, in pixels.
        byte_size: size of the encoded image file (before base64).
        sha256: SHA-256 of the *source* bytes (stable whatever the policy).
        reencoded: False when the source bytes were kept untouched.
    """

    model_config = ConfigDict(frozen=True)

    mime: str
    data: str = Field(repr=False)
    width: int
    height: int
    byte_size: int
    sha256: str
    reencoded: bool

    @property
    def data_url(self) -> str:
        """``data:<mime>;base64,<payload>``, the form the chat API takes."""
        return f"data:{self.mime};base64,{self.data}"


@dataclass(frozen=True)
class _Encoded:
    """What :func:`_encode` returns: plain values (the finished data URL as bytes)."""

    url: bytes
    mime: str
    width: int
    height: int
    byte_size: int
    sha256: str
    reencoded: bool
    url_digest: bytes = b""  # filled by the writer's encode job (see writer.content_digest)


def target_size(
    width: int, height: int, policy: ImagePolicy, detail: Detail = "auto"
) -> tuple[int, int]:
    """The size an upright ``width`` x ``height`` image is encoded at under ``policy``.

    >>> target_size(2048, 4096, ImagePolicy(resize="tile"), "high")
    (768, 1536)
    >>> target_size(2048, 4096, ImagePolicy(resize="tile"), "low")
    (256, 512)
    >>> target_size(300, 470, ImagePolicy(resize="max_side", max_side=1000))
    (300, 470)
    """
    if policy.resize == "none":
        return width, height
    if policy.resize == "tile":
        if detail == "low":
            return _fit(width, height, _LOW_DETAIL_SIDE)
        return billed_size(width, height)
    side = policy.max_side if policy.max_side is not None else max(width, height)
    return _fit(width, height, side)


def _fit(width: int, height: int, side: int) -> tuple[int, int]:
    """Scale down (never up) so that both sides are at most ``side``."""
    longest = max(width, height)
    if longest <= side:
        return width, height
    scale = side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def ensure_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` in mode RGB, or RGBA when it carries transparency.

    * ``1``, ``L``, ``CMYK``, ``YCbCr``, ``RGBX``, ``HSV`` -> RGB, and ``LAB`` -> RGB through
      Pillow's colour management; ``LA``, ``La``, ``PA``, ``RGBa`` -> RGBA;
    * ``P`` -> RGBA when the palette has a transparent entry, else RGB;
    * ``I;16*`` (16-bit) are scaled to 8 bits (``v / 257``); ``I`` (32-bit integers) and ``F``
      (floats) are kept as is when already within 0..255, scaled from 0..65535 (``I``) or
      0..1 (``F``) when they fit that range, and otherwise stretched from their min..max;
      all become RGB.

    Raises:
        ImageError: the mode is none of those (e.g. ``BGR;24`` from an older Pillow), so a
            faithful conversion is not known.

    >>> ensure_rgb(Image.new("LA", (4, 4))).mode
    'RGBA'
    """
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode in _TO_RGB:
        return image.convert("RGB")
    if mode in _TO_RGBA:
        return image.convert("RGBA")
    if mode == "La":  # premultiplied alpha: Pillow only converts it to LA
        return image.convert("LA").convert("RGBA")
    if mode == "P":
        has_alpha = "transparency" in image.info or (
            image.palette is not None and image.palette.mode == "RGBA"
        )
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode in _WIDE_MODES:
        return Image.fromarray(_to_uint8(np.asarray(image), mode)).convert("RGB")
    raise ImageError(
        f"unsupported image mode {mode!r}",
        hint="convert the image to RGB yourself before using it",
    )


def _to_uint8(values: np.ndarray[Any, Any], mode: str) -> np.ndarray[Any, Any]:
    """Map a 16-bit, 32-bit or float grayscale array to 0..255 (see :func:`ensure_rgb`)."""
    data = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if mode.startswith("I;16"):
        scaled = data / 257.0
    else:
        low = float(data.min()) if data.size else 0.0
        high = float(data.max()) if data.size else 0.0
        if low >= 0.0 and high <= 255.0 and not (mode == "F" and high <= 1.0):
            scaled = data
        elif low >= 0.0 and mode == "F" and high <= 1.0:
            scaled = data * 255.0
        elif low >= 0.0 and mode == "I" and high <= 65535.0:
            scaled = data / 257.0
        elif high > low:
            scaled = (data - low) * (255.0 / (high - low))
        else:
            scaled = np.zeros_like(data)
    result: np.ndarray[Any, Any] = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return result


def encode_image(
    data: bytes, policy: ImagePolicy | None = None, detail: Detail = "auto"
) -> EncodedImage:
    """Decode ``data``, normalise it and encode it for a chat message, following ``policy``.

    EXIF orientation is applied (the pixels are turned upright and the tag dropped), modes are
    converted as :func:`ensure_rgb` says, and the image is resized per ``policy.resize``
    (``detail`` matters only for ``resize="tile"``).

    Raises:
        ImageError: empty, corrupt or truncated bytes; more than ``policy.max_pixels``
            pixels; an unsupported mode.

    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("P", (30, 20)).save(buf, "PNG")
    >>> encoded = encode_image(buf.getvalue())
    >>> (encoded.mime, encoded.width, encoded.height, encoded.reencoded)
    ('image/jpeg', 30, 20, True)
    """
    result = _encode(data, policy or ImagePolicy(), detail)
    return EncodedImage(
        mime=result.mime,
        data=result.url[len(f"data:{result.mime};base64,") :].decode("ascii"),
        width=result.width,
        height=result.height,
        byte_size=result.byte_size,
        sha256=result.sha256,
        reencoded=result.reencoded,
    )


def image_url(ref: ImageRef, policy: ImagePolicy | None = None, detail: Detail = "auto") -> str:
    """The URL to put in a chat message for ``ref``.

    An ``http(s)`` URL passes through untouched (vqaft never downloads images); anything else
    is loaded and encoded with :func:`encode_image` into a ``data:`` URL.

    >>> image_url(ImageRef(url="https://example.com/cover.jpg"))
    'https://example.com/cover.jpg'
    """
    if ref.is_remote:
        return ref.url or ""
    return encode_image(ref.load_bytes(), policy, detail).data_url


def _encode(
    data: bytes, policy: ImagePolicy, detail: Detail, digest: str | None = None
) -> _Encoded:
    """The work behind :func:`encode_image`; returns the full data URL as ASCII bytes.

    ``digest`` is the SHA-256 of ``data`` when the caller has already computed it.
    """
    if not data:
        raise ImageError(
            "image data is empty (0 bytes)",
            hint="check that the dataset row or file actually holds the image",
        )
    if digest is None:
        digest = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings():
        # vqaft applies its own, explicit pixel limit below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = _open(data, policy)
        try:
            return _encode_opened(image, data, digest, policy, detail)
        finally:
            image.close()


def _open(data: bytes, policy: ImagePolicy) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"Pillow refused the image as a possible decompression bomb: {exc}",
            hint="if the image is genuine, raise PIL.Image.MAX_IMAGE_PIXELS and "
            "ImagePolicy.max_pixels, or shrink the image first",
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"not an image format Pillow recognises ({len(data)} bytes, starting {data[:12]!r})",
            hint="the bytes are not an image, or the file is corrupt",
        ) from exc
    except Exception as exc:
        raise ImageError(
            f"cannot read image header ({len(data)} bytes): {exc}",
            hint="the file is truncated or corrupt; re-download or drop it",
        ) from exc
    width, height = image.size
    if width * height > policy.max_pixels:
        image.close()
        raise ImageError(
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{policy.max_pixels:,} (possible decompression bomb)",
            hint="raise ImagePolicy.max_pixels if the image is genuine",
        )
    return image


def _encode_opened(
    image: Image.Image, data: bytes, digest: str, policy: ImagePolicy, detail: Detail
) -> _Encoded:
    width, height = image.size
    try:
        orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a malformed EXIF block: treat the image as upright
        orientation = 1
    swapped = orientation in _SWAPPING_ORIENTATIONS
    upright = (height, width) if swapped else (width, height)
    size = target_size(*upright, policy, detail)
    frames = int(getattr(image, "n_frames", 1))

    if (
        policy.format == "auto"
        and image.format in _PASSTHROUGH_FORMATS
        and image.mode in ("RGB", "RGBA")
        and orientation == 1
        and size == upright
        and frames == 1
    ):
        _load(image)  # verify the bytes decode completely before vouching for them
        mime = _PASSTHROUGH_FORMATS[image.format]
        return _Encoded(
            url=_data_url(mime, data),
            mime=mime,
            width=width,
            height=height,
            byte_size=len(data),
            sha256=digest,
            reencoded=False,
        )

    if image.format == "JPEG" and size != upright:
        # Let libjpeg decode at a reduced scale (never below the target size): much faster.
        image.draft(None, (size[1], size[0]) if swapped else size)
    _load(image)
    pixels: Image.Image = image
    if orientation != 1:
        pixels = ImageOps.exif_transpose(pixels)
    pixels = ensure_rgb(pixels)
    if pixels.size != size:
        pixels = pixels.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)

    fmt = policy.format
    if fmt == "auto":
        fmt = "png" if pixels.mode == "RGBA" else "jpeg"
    if fmt == "jpeg" and pixels.mode == "RGBA":
        background = Image.new("RGB", pixels.size, (255, 255, 255))
        background.paste(pixels, mask=pixels.getchannel("A"))
        pixels = background
    options: dict[str, Any] = {}
    if fmt in ("jpeg", "webp"):
        options["quality"] = policy.quality
    encoded = save_to_bytes(pixels, _PIL_FORMAT[fmt], **options)
    return _Encoded(
        url=_data_url(_MIME[fmt], encoded),
        mime=_MIME[fmt],
        width=pixels.width,
        height=pixels.height,
        byte_size=len(encoded),
        sha256=digest,
        reencoded=True,
    )


def _load(image: Image.Image) -> None:
    try:
        image.load()
    except Image.DecompressionBombError as exc:  # pragma: no cover - caught at open
        raise ImageError(str(exc), hint="raise ImagePolicy.max_pixels") from exc
    except Exception as exc:
        raise ImageError(
            f"cannot decode {image.format or 'image'} data: {exc}",
            hint="the file is truncated or corrupt; re-download or drop it",
        ) from exc


def _data_url(mime: str, payload: bytes) -> bytes:
    # pybase64: the same bytes as base64.b64encode, 10-30x faster (SIMD). It matters here:
    # this runs once per image on the encoding threads, under the GIL.
    return b"data:" + mime.encode("ascii") + b";base64," + pybase64.b64encode(payload)
