"""Drawing synthetic book covers, recording every word drawn and where.

:func:`render_cover` turns a :class:`~vqaft.datasets.synthetic_catalogue.Book` and a
:class:`~vqaft.datasets.synthetic_random.StableRandom` into a cover image plus the words on it
with their pixel boxes. Covers vary in size (Amazon-like, mostly portrait), layout (see
:data:`LAYOUTS`), colours (solid, gradients; text contrast checked), fonts (DejaVu faces
shipped with vqaft, so no system font is ever used), title casing, subtitles, series tags,
author lines, decorations and a made-up publisher mark. :func:`encode_cover` adds occasional
noise, blur and strong JPEG compression.

Only the shipped fonts and Pillow's BASIC text layout are used, so the same seed gives the
same pixels wherever the same Pillow version (which bundles FreeType and libjpeg) runs.

>>> from vqaft.datasets.synthetic_catalogue import Book
>>> cover = render_cover(Book("Steel Design", "William T. Segui", "Engineering & Transportation"),
...                      StableRandom(1))
>>> "Segui" in cover.ocr_tokens()
True
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from vqaft.datasets.synthetic_catalogue import Book, parse_title
from vqaft.datasets.synthetic_draw import (
    BODY_FACE_WEIGHTS,
    BODY_FACES,
    FONT_FILES,
    TITLE_FACE_WEIGHTS,
    TITLE_FACES,
    Canvas,
    CoverText,
    DrawnWord,
    Style,
    get_font,
    make_palette,
    paint_background,
)
from vqaft.datasets.synthetic_layouts import LAYOUT_WEIGHTS, LAYOUTS
from vqaft.datasets.synthetic_random import StableRandom

__all__ = [
    "FONT_FILES",
    "LAYOUTS",
    "DrawnWord",
    "RenderedCover",
    "cover_size",
    "encode_cover",
    "get_font",
    "render_cover",
]


@dataclass
class RenderedCover:
    """A drawn cover: the image, the words on it in reading order, and the layout used."""

    image: Image.Image
    words: list[DrawnWord]
    layout: str

    def ocr_tokens(self) -> list[str]:
        """The drawn words in reading order (like OCR-VQA's ``ocr_tokens``)."""
        return [w.word for w in self.words]

    def ocr_info(self) -> list[dict[str, Any]]:
        """Words with boxes normalised to 0..1, shaped like OCR-VQA's ``ocr_info``.

        Coordinates are rounded to float32 so they survive a Parquet round trip unchanged.
        """
        width, height = self.image.size
        out: list[dict[str, Any]] = []
        for w in self.words:
            left = min(max(w.left, 0.0), width)
            top = min(max(w.top, 0.0), height)
            right = min(max(w.left + w.width, 0.0), width)
            bottom = min(max(w.top + w.height, 0.0), height)
            out.append(
                {
                    "word": w.word,
                    "bounding_box": {
                        "width": _f32((right - left) / width),
                        "height": _f32((bottom - top) / height),
                        "top_left_x": _f32(left / width),
                        "top_left_y": _f32(top / height),
                    },
                }
            )
        return out


def _f32(value: float) -> float:
    return float(np.float32(value))


_PUBLISHER_FIRST = (
    "Harbor", "Lantern", "Northgate", "Bluebird", "Meridian", "Oakleaf", "Summit", "Riverside",
    "Beacon", "Crescent", "Foxglove", "Granite", "Kestrel", "Larkspur", "Quill", "Thistle",
    "Willow", "Cobalt", "Juniper", "Orchard",
)  # fmt: skip
_PUBLISHER_SECOND = ("Press", "Books", "Publishing", "House", "Editions")


def cover_size(rng: StableRandom) -> tuple[int, int]:
    """An Amazon-catalogue-like (width, height): 250-500 x 330-500, mostly portrait."""
    kind = rng.weighted(("portrait", "tall", "square"), (0.72, 0.18, 0.10))
    height = 500 if rng.chance(0.45) else rng.integer(330, 500)
    if kind == "square":
        width = round(height * rng.uniform(0.92, 1.08))
    else:
        ratio = rng.uniform(1.3, 1.55) if kind == "portrait" else rng.uniform(1.55, 1.75)
        width = round(height / ratio)
    return max(250, min(500, width)), height


def render_cover(book: Book, rng: StableRandom) -> RenderedCover:
    """Draw a cover for ``book``; every random choice comes from ``rng``."""
    width, height = cover_size(rng)
    palette = make_palette(rng, book.genre)
    layout_id = rng.weighted(tuple(LAYOUTS), LAYOUT_WEIGHTS)
    style = Style(
        rng=rng,
        palette=palette,
        title_face=rng.weighted(TITLE_FACES, TITLE_FACE_WEIGHTS),
        body_face=rng.weighted(BODY_FACES, BODY_FACE_WEIGHTS),
        upper_title=rng.chance(0.25),
        upper_author=rng.chance(0.35),
        by_prefix=rng.chance(0.3),
        show_subtitle=rng.chance(0.8),
        show_series=rng.chance(0.75),
        shadow=rng.chance(0.15),
        publisher=(
            f"{rng.choice(_PUBLISHER_FIRST)} {rng.choice(_PUBLISHER_SECOND)}"
            if rng.chance(0.5)
            else None
        ),
    )
    canvas = Canvas(width, height, palette.bg)
    paint_background(canvas, style)
    text = CoverText(parts=parse_title(book.title), author=book.author)
    LAYOUTS[layout_id](canvas, text, style)
    ranked = sorted(range(len(canvas.words)), key=canvas.order.__getitem__)
    words = [canvas.words[i] for i in ranked]
    return RenderedCover(image=canvas.image, words=words, layout=layout_id)


def encode_cover(image: Image.Image, rng: StableRandom) -> bytes:
    """JPEG bytes of ``image``, sometimes with sensor-like noise, slight blur or low quality."""
    if rng.chance(0.2):
        amplitude = rng.integer(4, 14)
        width, height = image.size
        raw = np.random.PCG64(rng.integer(0, 2**32 - 1)).random_raw(width * height // 8 + 1)
        noise = raw.view(np.uint8)[: width * height].astype(np.int16).reshape(height, width)
        noise = (noise - 128) * amplitude // 128
        pixels = np.asarray(image, dtype=np.int16) + noise[:, :, None]
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    if rng.chance(0.08):
        image = image.filter(ImageFilter.BoxBlur(rng.uniform(0.4, 0.9)))
    quality = rng.integer(30, 60) if rng.chance(0.15) else rng.integer(80, 95)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=False, progressive=False)
    return buffer.getvalue()
