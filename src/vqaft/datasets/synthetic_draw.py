"""Drawing primitives for synthetic covers: shipped fonts, colours, text fitting, decorations.

The building blocks :mod:`vqaft.datasets.synthetic_layouts` composes into cover layouts. Only
fonts shipped in ``vqaft/datasets/data/fonts`` are used, always with Pillow's BASIC text layout
(never Raqm), so text is drawn the same way on every machine.

>>> plan = plan_text("Steel Design", "serif-bold", 200, 100, max_size=40, min_size=10, max_lines=3)
>>> plan is not None and plan.font.size <= 40
True
"""

from __future__ import annotations

import colorsys
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from vqaft.datasets.synthetic_catalogue import TitleParts
from vqaft.datasets.synthetic_random import StableRandom

__all__ = [
    "BLACK",
    "BODY_FACES",
    "BODY_FACE_WEIGHTS",
    "FONT_FILES",
    "FONT_SIZES",
    "RGB",
    "TITLE_FACES",
    "TITLE_FACE_WEIGHTS",
    "WHITE",
    "Box",
    "Canvas",
    "CoverText",
    "DrawnWord",
    "Palette",
    "Style",
    "TextPlan",
    "cased",
    "contrast_ratio",
    "draw_frame",
    "draw_rule",
    "draw_shapes",
    "get_font",
    "gradient",
    "luminance",
    "make_palette",
    "mix",
    "paint_background",
    "pick_text_colour",
    "plan_text",
    "text_width",
]

RGB = tuple[int, int, int]

FONT_FILES: Mapping[str, str] = MappingProxyType(
    {
        "sans": "DejaVuSans.ttf",
        "sans-bold": "DejaVuSans-Bold.ttf",
        "serif": "DejaVuSerif.ttf",
        "serif-bold": "DejaVuSerif-Bold.ttf",
        "condensed-bold": "DejaVuSansCondensed-Bold.ttf",
    }
)
"""Font faces shipped in ``vqaft/datasets/data/fonts`` (DejaVu, see LICENSE-DejaVu.txt)."""

TITLE_FACES = ("sans-bold", "serif-bold", "condensed-bold", "serif", "sans")
TITLE_FACE_WEIGHTS = (3.0, 3.0, 3.0, 1.5, 1.0)
BODY_FACES = ("sans", "serif", "sans-bold", "serif-bold", "condensed-bold")
BODY_FACE_WEIGHTS = (3.0, 3.0, 1.5, 1.0, 1.0)
FONT_SIZES = (*range(8, 16), *range(16, 32, 2), 33, 36, 40, 44, 48, 54, 60)
"""Font sizes (pixels) that text fitting tries, from the largest allowed one down."""
WHITE: RGB = (250, 250, 248)
BLACK: RGB = (20, 20, 24)


@lru_cache(maxsize=8)
def _font_data(face: str) -> bytes:
    return (
        resources.files("vqaft.datasets")
        .joinpath("data")
        .joinpath("fonts")
        .joinpath(FONT_FILES[face])
        .read_bytes()
    )


@lru_cache(maxsize=2048)
def get_font(face: str, size: int) -> ImageFont.FreeTypeFont:
    """A shipped font face at ``size`` pixels, with Pillow's BASIC (portable) text layout.

    >>> get_font("serif-bold", 20).getname()
    ('DejaVu Serif', 'Bold')
    """
    return ImageFont.truetype(
        io.BytesIO(_font_data(face)), size, layout_engine=ImageFont.Layout.BASIC
    )


@lru_cache(maxsize=65536)
def text_width(font: ImageFont.FreeTypeFont, text: str) -> float:
    """Advance width of ``text`` (cached: wrapping measures the same words at many sizes)."""
    return font.getlength(text)


@dataclass(frozen=True)
class DrawnWord:
    """One word drawn on a cover, with its pixel box (left, top, width, height)."""

    word: str
    left: float
    top: float
    width: float
    height: float


# -- colours ------------------------------------------------------------------------------


def hls(h: float, lightness: float, s: float) -> RGB:
    """An RGB colour from hue, lightness and saturation (each clamped to 0..1)."""
    r, g, b = colorsys.hls_to_rgb(h % 1.0, min(max(lightness, 0.0), 1.0), min(max(s, 0.0), 1.0))
    return (round(r * 255), round(g * 255), round(b * 255))


def luminance(c: RGB) -> float:
    """WCAG relative luminance of an sRGB colour (0 black to 1 white)."""

    def channel(v: int) -> float:
        x = v / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2])


def contrast_ratio(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """The colour ``t`` of the way from ``a`` to ``b``."""
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


# (hue range, lightness range, saturation range) nudging some genres' palettes
GENRE_PALETTES: Mapping[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]]
GENRE_PALETTES = MappingProxyType(
    {
        "Children's Books": ((0.0, 1.0), (0.55, 0.75), (0.7, 1.0)),
        "Romance": ((0.9, 1.02), (0.45, 0.8), (0.4, 0.8)),
        "Mystery, Thriller & Suspense": ((0.55, 0.75), (0.05, 0.25), (0.1, 0.5)),
        "Science Fiction & Fantasy": ((0.6, 0.8), (0.08, 0.35), (0.4, 0.9)),
        "Christian Books & Bibles": ((0.08, 0.15), (0.2, 0.85), (0.3, 0.7)),
        "Travel": ((0.45, 0.6), (0.35, 0.7), (0.4, 0.8)),
        "Cookbooks, Food & Wine": ((0.0, 0.12), (0.4, 0.7), (0.5, 0.9)),
        "Medical Books": ((0.5, 0.65), (0.85, 0.97), (0.2, 0.6)),
        "Computers & Technology": ((0.52, 0.7), (0.2, 0.95), (0.3, 0.8)),
        "Test Preparation": ((0.0, 1.0), (0.45, 0.6), (0.6, 0.95)),
        "Calendars": ((0.0, 1.0), (0.3, 0.7), (0.2, 0.7)),
    }
)


@dataclass(frozen=True)
class Palette:
    """The colours of one cover: background(s), accent, and text readable on each."""

    bg: RGB
    bg2: RGB
    accent: RGB
    text: RGB
    accent_text: RGB  # readable on the accent colour


def pick_text_colour(backgrounds: Sequence[RGB], rng: StableRandom, minimum: float) -> RGB:
    """A text colour with contrast >= ``minimum`` on every background (else the best of
    white and black)."""
    hue = rng.random()
    candidates: list[RGB] = [
        WHITE,
        BLACK,
        (245, 236, 210),
        (22, 34, 64),
        (232, 190, 72),
        (140, 22, 30),
        hls(hue, 0.9, 0.6),
        hls(hue, 0.15, 0.7),
    ]
    good = [c for c in candidates if min(contrast_ratio(c, b) for b in backgrounds) >= minimum]
    if good:
        return rng.choice(good)
    return max((WHITE, BLACK), key=lambda c: min(contrast_ratio(c, b) for b in backgrounds))


def make_palette(rng: StableRandom, genre: str) -> Palette:
    """A random palette, nudged towards genre-typical colours for some genres.

    Text has a WCAG contrast of at least 4.5 against the background 93% of the time (at
    least 2.0 otherwise: real covers are not always easy to read).
    """
    nudged = GENRE_PALETTES.get(genre)
    if nudged is not None and rng.chance(0.6):
        (h0, h1), (l0, l1), (s0, s1) = nudged
        h, lightness, s = rng.uniform(h0, h1), rng.uniform(l0, l1), rng.uniform(s0, s1)
    else:
        h = rng.random()
        lightness = rng.weighted((0.12, 0.3, 0.5, 0.7, 0.9), (1.5, 2.0, 2.0, 2.0, 2.5))
        lightness += rng.uniform(-0.08, 0.08)
        s = rng.uniform(0.0, 1.0) if rng.chance(0.8) else rng.uniform(0.0, 0.15)
    bg = hls(h, lightness, s)
    bg2 = hls(h + rng.uniform(-0.08, 0.08), lightness + rng.uniform(-0.25, 0.25), s)
    accent_hue = h + rng.weighted((0.5, 0.08, 0.33), (2.0, 1.0, 1.0))
    accent_light = 0.25 if lightness > 0.5 else 0.7
    accent = hls(accent_hue, accent_light + rng.uniform(-0.12, 0.12), rng.uniform(0.4, 0.95))
    minimum = 4.5 if rng.chance(0.93) else 2.0  # mostly readable, sometimes poor contrast
    text = pick_text_colour((bg, bg2), rng, minimum)
    accent_text = pick_text_colour((accent,), rng, 4.5)
    return Palette(bg=bg, bg2=bg2, accent=accent, text=text, accent_text=accent_text)


# -- text ---------------------------------------------------------------------------------


@dataclass
class TextPlan:
    """Where a text block's words go: the font, the wrapped lines, and the block height."""

    font: ImageFont.FreeTypeFont
    lines: list[list[str]]
    line_height: float
    height: float


def wrap_words(words: Sequence[str], font: ImageFont.FreeTypeFont, width: float) -> list[list[str]]:
    """Greedy wrap of ``words`` into lines no wider than ``width`` (long words stay whole)."""
    space = text_width(font, " ")
    lines: list[list[str]] = []
    current: list[str] = []
    current_width = 0.0
    for word in words:
        word_width = text_width(font, word)
        if current and current_width + space + word_width > width:
            lines.append(current)
            current, current_width = [word], word_width
        else:
            current_width = word_width if not current else current_width + space + word_width
            current.append(word)
    if current:
        lines.append(current)
    return lines


def plan_text(
    text: str,
    face: str,
    width: float,
    height: float,
    max_size: int,
    min_size: int,
    max_lines: int,
    spacing: float = 1.12,
) -> TextPlan | None:
    """The largest font size at which ``text`` fits ``width`` x ``height`` in ``max_lines``.

    At the smallest size, lines that do not fit are cut off (a cover shows what it can).
    """
    words = text.split()
    if not words or width <= 4 or height <= 4:
        return None
    sizes = [s for s in FONT_SIZES if min_size <= s <= max_size] or [min_size]
    for size in reversed(sizes):
        font = get_font(face, size)
        ascent, descent = font.getmetrics()
        line_height = (ascent + descent) * spacing
        if ascent + descent > height:
            continue
        lines = wrap_words(words, font, width)
        space = text_width(font, " ")
        too_wide = any(
            sum(text_width(font, w) for w in line) + space * (len(line) - 1) > width
            for line in lines
        )
        block = (len(lines) - 1) * line_height + ascent + descent
        if len(lines) <= max_lines and block <= height and not too_wide:
            return TextPlan(font, lines, line_height, block)
    font = get_font(face, sizes[0])
    ascent, descent = font.getmetrics()
    line_height = (ascent + descent) * spacing
    fit = min(max_lines, int((height - ascent - descent) // line_height) + 1)
    lines = wrap_words(words, font, width)[: max(fit, 0)]
    if not lines:
        return None
    return TextPlan(font, lines, line_height, (len(lines) - 1) * line_height + ascent + descent)


class Canvas:
    """A cover being drawn, and the words drawn on it so far with their boxes."""

    def __init__(self, width: int, height: int, background: RGB) -> None:
        self.width = width
        self.height = height
        self.image = Image.new("RGB", (width, height), background)
        self.draw = ImageDraw.Draw(self.image)
        self.words: list[DrawnWord] = []
        self.order: list[tuple[float, float]] = []  # (line top, x) of each word

    def paste_background(self, image: Image.Image) -> None:
        """Replace the whole canvas with ``image`` (same size)."""
        self.image.paste(image)

    def draw_plan(
        self,
        plan: TextPlan,
        left: float,
        right: float,
        top: float,
        align: str,
        fill: RGB,
        shadow: RGB | None = None,
    ) -> float:
        """Draw a planned block; returns its bottom edge."""
        font = plan.font
        space = text_width(font, " ")
        y = top
        for line in plan.lines:
            widths = [text_width(font, w) for w in line]
            line_width = sum(widths) + space * (len(line) - 1)
            if align == "left":
                x = left
            elif align == "right":
                x = right - line_width
            else:
                x = left + (right - left - line_width) / 2
            for word, word_width in zip(line, widths, strict=True):
                if shadow is not None:
                    self.draw.text((x + 1.5, y + 1.5), word, font=font, fill=shadow)
                self.draw.text((x, y), word, font=font, fill=fill)
                box = font.getbbox(word)
                self.words.append(
                    DrawnWord(word, x + box[0], y + box[1], box[2] - box[0], box[3] - box[1])
                )
                self.order.append((y, x))
                x += word_width + space
            y += plan.line_height
        return top + plan.height


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass
class Style:
    """The random choices shared by every element of one cover."""

    rng: StableRandom
    palette: Palette
    title_face: str
    body_face: str
    upper_title: bool
    upper_author: bool
    by_prefix: bool
    show_subtitle: bool
    show_series: bool
    shadow: bool
    publisher: str | None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CoverText:
    """The text a cover can show: title parts and author."""

    parts: TitleParts
    author: str


def cased(text: str, upper: bool) -> str:
    """``text`` in capitals when ``upper``."""
    return text.upper() if upper else text


# -- decorations --------------------------------------------------------------------------


def gradient(width: int, height: int, a: RGB, b: RGB, kind: str) -> Image.Image:
    """A ``"vertical"``, ``"horizontal"``, ``"diagonal"`` or ``"radial"`` gradient from a to b."""
    if kind == "radial":
        mask = Image.radial_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    else:
        mask = Image.linear_gradient("L")
        if kind == "horizontal":
            mask = mask.transpose(Image.Transpose.ROTATE_90)
        elif kind == "diagonal":
            mask = mask.rotate(45, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=128)
        mask = mask.resize((width, height), Image.Resampling.BILINEAR)
    return Image.composite(
        Image.new("RGB", (width, height), b), Image.new("RGB", (width, height), a), mask
    )


def paint_background(c: Canvas, s: Style) -> None:
    """Fill the canvas with a solid colour or a linear/radial gradient of the palette."""
    kind = s.rng.weighted(
        ("solid", "vertical", "horizontal", "diagonal", "radial"), (4.0, 2.0, 1.0, 1.0, 0.8)
    )
    s.extras["background"] = kind
    if kind != "solid":
        c.paste_background(gradient(c.width, c.height, s.palette.bg, s.palette.bg2, kind))


def draw_shapes(c: Canvas, s: Style, box: Box, count: int, *, faint: bool = False) -> None:
    """Abstract "cover art" clipped to ``box``; ``faint`` keeps it close to the background."""
    x_min, y_min = max(0, int(box.left)), max(0, int(box.top))
    x_max, y_max = min(c.width, int(box.right + 0.999)), min(c.height, int(box.bottom + 0.999))
    if x_max - x_min < 4 or y_max - y_min < 4:
        return
    region = c.image.crop((x_min, y_min, x_max, y_max))
    draw = ImageDraw.Draw(region)
    w, h = float(x_max - x_min), float(y_max - y_min)
    rng = s.rng
    p = s.palette
    colours = [p.accent, p.bg2, mix(p.accent, p.bg, 0.5), mix(p.text, p.bg, 0.7)]
    if faint:
        colours = [mix(p.bg, colour, 0.18) for colour in colours]
    for _ in range(count):
        kind = rng.choice(("circle", "rect", "triangle", "stripes", "rings", "hills", "dots"))
        colour = rng.choice(colours)
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.08, 0.35) * min(w, h)
        if kind == "circle":
            draw.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=colour)
        elif kind == "rect":
            draw.rectangle((x0 - r, y0 - r * 0.75, x0 + r, y0 + r * 0.75), fill=colour)
        elif kind == "triangle":
            draw.polygon([(x0, y0 - r), (x0 - r, y0 + r), (x0 + r, y0 + r)], fill=colour)
        elif kind == "stripes":
            step = max(6.0, r / 2)
            x = -h * 0.3
            while x < w:
                draw.line([(x, 0), (x + h * 0.3, h)], fill=colour, width=2)
                x += step
        elif kind == "rings":
            for k in range(1, 5):
                rr = r * k / 4
                draw.ellipse((x0 - rr, y0 - rr, x0 + rr, y0 + rr), outline=colour, width=2)
        elif kind == "hills":
            steps = 6
            points = [(0.0, h)]
            points += [(w * k / steps, h - rng.uniform(0.15, 0.6) * h) for k in range(steps + 1)]
            points.append((w, h))
            draw.polygon(points, fill=colour)
        else:
            step = max(8.0, r / 2.5)
            y = step / 2
            while y < h:
                x = step / 2
                while x < w:
                    draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=colour)
                    x += step
                y += step
    c.image.paste(region, (x_min, y_min))


def draw_rule(c: Canvas, s: Style, x0: float, x1: float, y: float) -> None:
    """A horizontal rule (sometimes doubled) in the text colour."""
    width = s.rng.integer(1, 3)
    c.draw.line([(x0, y), (x1, y)], fill=s.palette.text, width=width)
    if s.rng.chance(0.3):
        c.draw.line([(x0, y + width + 3), (x1, y + width + 3)], fill=s.palette.text, width=1)


def draw_frame(c: Canvas, s: Style, inset: float, colour: RGB | None = None) -> None:
    """A rectangular frame ``inset`` pixels inside the edges (sometimes doubled)."""
    colour = s.palette.text if colour is None else colour
    width = s.rng.integer(1, 4)
    c.draw.rectangle((inset, inset, c.width - inset, c.height - inset), outline=colour, width=width)
    if s.rng.chance(0.4):
        d = inset + width + 4
        c.draw.rectangle((d, d, c.width - d, c.height - d), outline=colour, width=1)
