"""Image decoding, mode conversion, orientation, resizing and encoding (vqaft.messages.images)."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from vqaft.errors import ImageError
from vqaft.messages.images import (
    EncodedImage,
    ImagePolicy,
    encode_image,
    ensure_rgb,
    image_url,
    target_size,
)
from vqaft.types import ImageRef

PNG = ImagePolicy(format="png")  # lossless output: pixel values can be checked exactly


def save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def decode(encoded: EncodedImage) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(encoded.data)))
    image.load()
    return image


def cover(width: int = 60, height: int = 90) -> Image.Image:
    """A small picture with some structure (two colour blocks and a gradient stripe)."""
    image = Image.new("RGB", (width, height), (200, 40, 40))
    image.paste((30, 60, 200), (0, height // 2, width, height))
    stripe = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (5, 1))
    image.paste(Image.fromarray(np.stack([stripe] * 3, axis=-1)), (0, 0))
    return image


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` but holds no pixel data (a bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


# ---- modes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "fmt", "value", "expected_mode", "expected_pixel"),
    [
        ("1", "PNG", 1, "RGB", (255, 255, 255)),
        ("L", "PNG", 100, "RGB", (100, 100, 100)),
        ("LA", "PNG", (100, 128), "RGBA", (100, 100, 100, 128)),
        ("P", "PNG", 0, "RGB", (0, 0, 0)),
        ("CMYK", "TIFF", (0, 0, 0, 0), "RGB", (255, 255, 255)),
        ("I;16", "PNG", 40000, "RGB", (156, 156, 156)),  # 40000 / 257
        ("I", "TIFF", 60000, "RGB", (233, 233, 233)),  # within 0..65535: / 257
        ("F", "TIFF", 0.5, "RGB", (128, 128, 128)),  # within 0..1: * 255
    ],
)
def test_modes_become_rgb_or_rgba(
    mode: str, fmt: str, value: object, expected_mode: str, expected_pixel: tuple[int, ...]
) -> None:
    source = save(Image.new(mode, (8, 6), value), fmt)  # type: ignore[arg-type]
    assert Image.open(io.BytesIO(source)).mode == mode  # the file really holds that mode

    encoded = encode_image(source, PNG)

    image = decode(encoded)
    assert image.mode == expected_mode
    assert image.size == (8, 6)
    assert image.getpixel((3, 3)) == expected_pixel
    assert encoded.reencoded


def test_palette_with_transparency_keeps_alpha() -> None:
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    source = save(palette, "PNG", transparency=1)

    encoded = encode_image(source)  # auto: alpha -> PNG

    assert encoded.mime == "image/png"
    image = decode(encoded)
    assert image.mode == "RGBA"
    assert image.getpixel((0, 0)) == (255, 0, 0, 0)


def test_cmyk_jpeg_becomes_rgb_jpeg() -> None:
    source = save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)

    encoded = encode_image(source)

    assert encoded.mime == "image/jpeg"
    assert encoded.reencoded
    assert decode(encoded).mode == "RGB"


@pytest.mark.parametrize(("mode", "expected"), [("PA", "RGBA"), ("La", "RGBA"), ("RGBX", "RGB")])
def test_ensure_rgb_on_in_memory_modes(mode: str, expected: str) -> None:
    # PA cannot be written to a file by Pillow, so it is checked on an in-memory image.
    assert ensure_rgb(Image.new(mode, (4, 4))).mode == expected


def test_wide_integer_image_outside_16_bits_is_stretched() -> None:
    values = np.array([[0, 100_000], [50_000, 100_000]], dtype=np.int32)
    image = ensure_rgb(Image.fromarray(values, mode="I"))
    assert image.getpixel((0, 0)) == (0, 0, 0)
    assert image.getpixel((1, 0)) == (255, 255, 255)
    assert image.getpixel((0, 1)) == (128, 128, 128)


def test_lab_and_hsv_convert_to_rgb() -> None:
    lab = encode_image(save(Image.new("LAB", (4, 4), (100, 128, 128)), "TIFF"), PNG)
    assert decode(lab).mode == "RGB"
    r, g, b = decode(lab).getpixel((1, 1))  # type: ignore[misc]
    assert r == g == b  # neutral a*/b* gives a grey
    assert ensure_rgb(Image.new("HSV", (1, 1), (0, 255, 255))).getpixel((0, 0)) == (255, 0, 0)


class _OlderPillowImage:
    """Stands in for an image in a mode only older Pillow versions produce (e.g. BGR;24)."""

    mode = "BGR;24"
    info: dict[str, object] = {}  # noqa: RUF012
    palette = None


def test_unknown_mode_is_an_image_error() -> None:
    with pytest.raises(ImageError, match="unsupported image mode 'BGR;24'") as info:
        ensure_rgb(_OlderPillowImage())  # type: ignore[arg-type]
    assert info.value.hint


# ---- orientation ------------------------------------------------------------------------------


def test_exif_orientation_is_applied() -> None:
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    source = save(stored, "JPEG", exif=exif, quality=95)

    encoded = encode_image(source, PNG)

    image = decode(encoded)
    assert (encoded.width, encoded.height) == image.size == (20, 40)
    red, blue = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert (red[0] > 200, red[2] < 50) == (True, True)  # type: ignore[index]
    assert (blue[2] > 200, blue[0] < 50) == (True, True)  # type: ignore[index]
    assert image.getexif().get(0x0112) is None


def test_exif_orientation_rules_out_passthrough() -> None:
    exif = Image.Exif()
    exif[0x0112] = 3
    source = save(cover(), "JPEG", exif=exif)
    assert encode_image(source).reencoded
    assert not encode_image(save(cover(), "JPEG")).reencoded


# ---- bad input --------------------------------------------------------------------------------


def test_empty_bytes() -> None:
    with pytest.raises(ImageError, match="empty") as info:
        encode_image(b"")
    assert info.value.hint


def test_garbage_bytes() -> None:
    with pytest.raises(ImageError, match="not an image format"):
        encode_image(b"this is not an image at all")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(fmt: str) -> None:
    source = save(cover(200, 300), fmt)
    with pytest.raises(ImageError) as info:
        encode_image(source[: len(source) // 2])
    assert "truncated" in (info.value.hint or "")


def test_truncated_file_is_caught_even_in_passthrough() -> None:
    source = save(cover(200, 300), "JPEG")
    with pytest.raises(ImageError):
        encode_image(source[: len(source) // 2], ImagePolicy(format="auto"))


def test_pixel_limit_guards_against_bombs() -> None:
    with pytest.raises(ImageError, match="decompression bomb"):
        encode_image(save(cover(20, 20), "PNG"), ImagePolicy(max_pixels=399))
    assert encode_image(save(cover(20, 20), "PNG"), ImagePolicy(max_pixels=400)).width == 20


@pytest.mark.parametrize("side", [9_000, 100_000])
def test_bomb_header_is_refused_before_decoding(side: int) -> None:
    # 81 Mpx (over vqaft's default limit) and 10 Gpx (over Pillow's own limit).
    with pytest.raises(ImageError, match="decompression bomb"):
        encode_image(png_header_only(side, side))


# ---- resizing ---------------------------------------------------------------------------------


def test_tile_resizes_to_the_billed_size() -> None:
    source = save(Image.new("RGB", (2048, 4096), (10, 120, 30)), "JPEG", quality=80)

    high = encode_image(source, ImagePolicy(resize="tile"), "high")
    auto = encode_image(source, ImagePolicy(resize="tile"), "auto")
    low = encode_image(source, ImagePolicy(resize="tile"), "low")

    assert (high.width, high.height) == decode(high).size == (768, 1536)
    assert (auto.width, auto.height) == (768, 1536)
    assert (low.width, low.height) == decode(low).size == (256, 512)


def test_max_side_and_none() -> None:
    source = save(cover(300, 470), "JPEG")
    small = encode_image(source, ImagePolicy(resize="max_side", max_side=100))
    assert (small.width, small.height) == decode(small).size == (64, 100)
    full = encode_image(source, ImagePolicy(resize="none", format="png"))
    assert decode(full).size == (300, 470)


def test_resize_never_enlarges_and_keeps_passthrough() -> None:
    source = save(cover(300, 470), "JPEG")
    encoded = encode_image(source, ImagePolicy(resize="tile"))
    assert not encoded.reencoded
    assert (encoded.width, encoded.height) == (300, 470)
    assert target_size(300, 470, ImagePolicy(resize="max_side", max_side=1000)) == (300, 470)


def test_resize_of_sideways_jpeg_uses_upright_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    source = save(Image.new("RGB", (4096, 2048)), "JPEG", exif=exif)
    encoded = encode_image(source, ImagePolicy(resize="tile"), "high")
    assert (encoded.width, encoded.height) == decode(encoded).size == (768, 1536)


# ---- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "fmt", "mime"),
    [("RGB", "JPEG", "image/jpeg"), ("RGBA", "PNG", "image/png"), ("RGB", "WEBP", "image/webp")],
)
def test_auto_passthrough_keeps_bytes(mode: str, fmt: str, mime: str) -> None:
    source = save(cover().convert(mode), fmt)

    encoded = encode_image(source)

    assert not encoded.reencoded
    assert base64.b64decode(encoded.data) == source
    assert encoded.mime == mime
    assert encoded.byte_size == len(source)
    assert encoded.sha256 == hashlib.sha256(source).hexdigest()
    assert encoded.data_url == f"data:{mime};base64,{encoded.data}"


def test_auto_reencodes_formats_openai_may_refuse() -> None:
    for fmt in ("BMP", "TIFF", "GIF"):
        encoded = encode_image(save(cover(), fmt))
        assert encoded.reencoded
        assert encoded.mime == "image/jpeg"


def test_animated_webp_is_flattened() -> None:
    frames = [cover(), cover().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:])
    encoded = encode_image(buffer.getvalue())
    assert encoded.reencoded
    assert getattr(decode(encoded), "n_frames", 1) == 1


def test_cookbook_policy_matches_a_plain_pillow_reencode() -> None:
    source = save(cover(300, 470), "JPEG", quality=90)
    reference = io.BytesIO()
    Image.open(io.BytesIO(source)).convert("RGB").save(reference, format="JPEG", quality=100)

    encoded = encode_image(source, ImagePolicy.cookbook())

    assert encoded.reencoded
    assert base64.b64decode(encoded.data) == reference.getvalue()
    assert encoded.sha256 == hashlib.sha256(source).hexdigest()  # of the source, not the output


def test_explicit_formats_always_reencode() -> None:
    source = save(cover(), "JPEG")
    for fmt, mime in (("jpeg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp")):
        encoded = encode_image(source, ImagePolicy(format=fmt))  # type: ignore[arg-type]
        assert encoded.reencoded
        assert encoded.mime == mime
        assert decode(encoded).format == fmt.upper()


def test_jpeg_output_puts_transparency_on_white() -> None:
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    encoded = encode_image(save(image, "PNG"), ImagePolicy(format="jpeg"))
    pixel = decode(encoded).getpixel((4, 4))
    assert min(pixel) > 250  # type: ignore[arg-type]


def test_quality_changes_jpeg_size() -> None:
    source = save(cover(300, 470), "PNG")
    low = encode_image(source, ImagePolicy(format="jpeg", quality=10))
    high = encode_image(source, ImagePolicy(format="jpeg", quality=100))
    assert low.byte_size < high.byte_size


# ---- policy and refs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quality": 0},
        {"quality": 101},
        {"resize": "max_side"},
        {"max_side": 100},
        {"format": "gif"},
        {"max_pixels": 0},
        {"colour": "red"},
    ],
)
def test_policy_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ImagePolicy(**kwargs)  # type: ignore[arg-type]


def test_cookbook_policy() -> None:
    assert ImagePolicy.cookbook() == ImagePolicy(format="jpeg", quality=100, resize="none")


def test_image_url_passes_http_through_and_encodes_the_rest() -> None:
    assert image_url(ImageRef(url="https://example.com/a.jpg")) == "https://example.com/a.jpg"
    source = save(cover(), "JPEG")
    assert image_url(ImageRef(data=source)) == "data:image/jpeg;base64," + base64.b64encode(
        source
    ).decode("ascii")
    png_url = image_url(ImageRef(data=source), PNG)
    assert png_url.startswith("data:image/png;base64,")
