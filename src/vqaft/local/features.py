"""Features the local models compute from an OCR reading and the image.

* :class:`SpacingModel` puts back the spaces the recogniser ran together, from the measured
  gaps between characters and the characters around them (:data:`SPACE_FEATURES`).
* :func:`layout` turns a :class:`~vqaft.local.ocr.CoverOcr` into :class:`LayoutLine` objects
  (spaced text, size, position, casing) and :func:`line_features` describes each line by the
  numbers in :data:`LINE_FEATURES`, which the title/author line scorers weigh.
* :func:`visual_features` summarises the cover's colours (:data:`VISUAL_FEATURES`);
  :func:`tokens` gives the words of the OCR text; both feed the genre classifier.

Everything here is deterministic and cheap (no OCR): the OCR reading is cached, features are
recomputed from it.
"""

from __future__ import annotations

import colorsys
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

import numpy as np
from PIL import Image

from vqaft.local.ocr import CoverOcr, OcrLine

__all__ = [
    "LINE_FEATURES",
    "SPACE_FEATURES",
    "VISUAL_FEATURES",
    "LayoutLine",
    "SpacingModel",
    "char_context",
    "correct",
    "layout",
    "line_features",
    "normal_key",
    "space_features",
    "tokens",
    "visual_features",
]

_PUNCT_AFTER = frozenset(",.:;!?")
_NO_SPACE_BEFORE = frozenset(",.:;!?')]")
_JOINERS = frozenset("'-/(’")

SPACE_FEATURES: tuple[str, ...] = (
    "gap",
    "gap_over_median",
    "gap_minus_median",
    "lower_then_upper",
    "after_punctuation",
    "before_punctuation",
    "letter_digit_change",
    "both_upper",
    "joiner",
    "thin_line",
)
"""What :class:`SpacingModel` looks at between two characters of a line."""


def space_features(line: OcrLine) -> np.ndarray[Any, np.dtype[np.float64]]:
    """One row of :data:`SPACE_FEATURES` per pair of neighbouring characters of ``line``.

    Pairs next to an existing space get a row too (the model's answer is ignored there).
    Lines without gap measurements get rows with gap features set to 0.
    """
    text = line.text
    n = max(0, len(text) - 1)
    rows = np.zeros((n, len(SPACE_FEATURES)), dtype=np.float64)
    if n == 0:
        return rows
    gaps = list(line.gaps) if len(line.gaps) == n else [0.0] * n
    inner = [g for g, a, b in zip(gaps, text, text[1:], strict=False) if a != " " and b != " "]
    mid = median(inner) if inner else 0.0
    thin = 1.0 if line.thickness < 18 else 0.0
    for i in range(n):
        a, b, gap = text[i], text[i + 1], gaps[i]
        rows[i] = (
            gap,
            min(gap / (mid + 0.03), 10.0),
            gap - mid,
            float(a.islower() and b.isupper()),
            float(a in _PUNCT_AFTER and b.isalnum()),
            float(b in _NO_SPACE_BEFORE),
            float((a.isalpha() and b.isdigit()) or (a.isdigit() and b.isalpha())),
            float(a.isupper() and b.isupper()),
            float(a in _JOINERS or b in _JOINERS),
            thin,
        )
    return rows


@dataclass(frozen=True)
class SpacingModel:
    """A logistic rule: insert a space between two characters when the score is positive.

    ``weights`` align with :data:`SPACE_FEATURES`. :data:`BASE_SPACING` is the zero-shot
    rule (a wide gap, wide for this line); fine-tuning learns the weights from the training
    answers.

    >>> BASE_SPACING.apply(OcrLine("ab", 1.0, ((0, 0), (9, 0), (9, 9), (0, 9)), (0.5,)))
    'a b'
    """

    weights: tuple[float, ...]
    bias: float

    def scores(self, line: OcrLine) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The score of a space after each character but the last."""
        features = space_features(line)
        if not len(features):
            return np.zeros(0)
        result: np.ndarray[Any, np.dtype[np.float64]] = (
            features @ np.asarray(self.weights) + self.bias
        )
        return result

    def apply(self, line: OcrLine) -> str:
        """``line.text`` with spaces inserted where the model says so."""
        text = line.text
        if len(line.gaps) != len(text) - 1 or len(text) < 2:
            return " ".join(text.split())
        decide = self.scores(line) > 0
        out: list[str] = []
        for i, char in enumerate(text):
            out.append(char)
            if i < len(text) - 1 and char != " " and text[i + 1] != " " and decide[i]:
                out.append(" ")
        return " ".join("".join(out).split())


BASE_SPACING = SpacingModel(
    weights=(25.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    bias=-9.0,
)
"""The zero-shot spacing rule: a gap of about a quarter of the line height, at least twice
the line's usual gap between letters."""


@dataclass(frozen=True)
class LayoutLine:
    """One OCR line placed on the cover, with the text spaced.

    Attributes:
        index: position in reading order (top to bottom).
        text: the spaced text.
        line: the OCR line.
    """

    index: int
    text: str
    line: OcrLine

    @property
    def words(self) -> list[str]:
        """The words of :attr:`text`."""
        return self.text.split()


def char_context(text: str, index: int) -> str:
    """The key of a character in its context: the classes of its neighbours around it.

    Classes: ``^`` edge, space or punctuation; ``a`` lower-case; ``A`` upper-case; ``9``
    digit. ``char_context("lan", 0) == "^la"``: an "l" opening a word, before a lower-case
    letter.
    """

    def kind(i: int) -> str:
        if i < 0 or i >= len(text):
            return "^"
        c = text[i]
        if c.isdigit():
            return "9"
        if c.isalpha():
            return "A" if c.isupper() else "a"
        return "^"

    return f"{kind(index - 1)}{text[index]}{kind(index + 1)}"


def correct(text: str, corrections: Mapping[str, str]) -> str:
    """``text`` with learned character corrections applied (see :func:`char_context`).

    >>> correct("lan B0xed", {"^la": "I", "A0a": "o"})
    'Ian Boxed'
    """
    if not corrections:
        return text
    chars = list(text)
    for i in range(len(text)):
        replacement = corrections.get(char_context(text, i))
        if replacement is not None:
            chars[i] = replacement
    return "".join(chars)


def layout(
    cover: CoverOcr,
    spacing: SpacingModel = BASE_SPACING,
    corrections: Mapping[str, str] | None = None,
) -> list[LayoutLine]:
    """The cover's lines in reading order, their text spaced by ``spacing`` and corrected by
    ``corrections`` (see :func:`correct`)."""
    lines = sorted(cover.lines, key=lambda line: (line.ys[0], line.xs[0]))
    out: list[LayoutLine] = []
    for line in lines:
        text = correct(spacing.apply(line).strip(), corrections or {})
        if text:
            out.append(LayoutLine(index=len(out), text=text, line=line))
    return out


_NAME_WORD = re.compile(r"^(?:[A-Z][a-zA-Z'’\-]+|[A-Z]\.(?:[A-Z]\.)*|[A-Z]{2,4})[,.]?$")
_INITIAL = re.compile(r"(?:^|\s)[A-Z]\.")
_PUBLISHER = re.compile(r"\b(press|books|publishing|publishers|house|editions|media)\b", re.I)
_EDITION = re.compile(r"\b(edition|volume|vol|series|book\s+\d|part\s+\d|\d+(st|nd|rd|th))\b", re.I)
_BY = re.compile(r"^(?:by|By|BY)(?:\s|(?=[A-Z]))")

LINE_FEATURES: tuple[str, ...] = (
    "height_vs_tallest",
    "height_rank_inverse",
    "height_vs_median",
    "top",
    "bottom",
    "centre_x",
    "width",
    "order",
    "is_first",
    "is_last",
    "upper_share",
    "all_upper",
    "words",
    "chars",
    "starts_with_by",
    "digit_share",
    "score",
    "name_like",
    "has_initial",
    "publisher_word",
    "short_caps",
    "edition_word",
    "height_vs_previous",
    "height_vs_next",
    "gap_above",
    "gap_below",
    "in_tallest_block",
    "above_tallest_block",
    "below_tallest_block",
    "block_size",
    "vertical",
    "similar_to_previous",
    "similar_to_next",
)
"""What the title/author line scorers know about each line."""


def _blocks(heights: Sequence[float], tops: Sequence[float], bottoms: Sequence[float]) -> list[int]:
    """Block id per line: consecutive lines of similar height, close together."""
    ids: list[int] = []
    block = 0
    for i, h in enumerate(heights):
        if i > 0:
            prev = heights[i - 1]
            similar = min(h, prev) / max(h, prev) > 0.8
            close = tops[i] - bottoms[i - 1] < 1.2 * max(h, prev)
            if not (similar and close):
                block += 1
        ids.append(block)
    return ids


def line_features(
    lines: Sequence[LayoutLine], width: int, height: int
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A row of :data:`LINE_FEATURES` per line (lines in reading order)."""
    n = len(lines)
    rows = np.zeros((n, len(LINE_FEATURES)), dtype=np.float64)
    if n == 0:
        return rows
    heights = [ln.line.thickness for ln in lines]
    tops = [ln.line.ys[0] for ln in lines]
    bottoms = [ln.line.ys[1] for ln in lines]
    tallest = max(heights)
    mid = median(heights)
    order = sorted(range(n), key=lambda i: -heights[i])
    rank = {line: r for r, line in enumerate(order)}
    blocks = _blocks(heights, tops, bottoms)
    top_block = blocks[order[0]]
    block_sizes = {b: blocks.count(b) for b in set(blocks)}
    w, h = max(1, width), max(1, height)
    for i, ln in enumerate(lines):
        text = ln.text
        letters = [c for c in text if c.isalpha()]
        upper = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
        words = text.split()
        x0, x1 = ln.line.xs
        name_like = 2 <= len(words) <= 5 and all(_NAME_WORD.match(word) for word in words)
        prev_h = heights[i - 1] if i > 0 else heights[i]
        next_h = heights[i + 1] if i < n - 1 else heights[i]
        gap_above = (tops[i] - bottoms[i - 1]) / heights[i] if i > 0 else 5.0
        gap_below = (tops[i + 1] - bottoms[i]) / heights[i] if i < n - 1 else 5.0
        rows[i] = (
            heights[i] / tallest,
            1.0 / (1 + rank[i]),
            min(heights[i] / max(mid, 1.0), 4.0),
            tops[i] / h,
            bottoms[i] / h,
            (x0 + x1) / 2 / w,
            (x1 - x0) / w,
            i / max(1, n - 1),
            float(i == 0),
            float(i == n - 1),
            upper,
            float(upper > 0.9 and len(letters) >= 2),
            min(len(words), 8) / 8,
            min(len(text), 40) / 40,
            float(bool(_BY.match(text))),
            sum(c.isdigit() for c in text) / max(1, len(text)),
            ln.line.score,
            float(name_like),
            float(bool(_INITIAL.search(text))),
            float(bool(_PUBLISHER.search(text))),
            float(len(letters) <= 3 and upper > 0.9),
            float(bool(_EDITION.search(text))),
            min(heights[i] / prev_h, 4.0),
            min(heights[i] / next_h, 4.0),
            min(max(gap_above, -1.0), 5.0),
            min(max(gap_below, -1.0), 5.0),
            float(blocks[i] == top_block),
            float(blocks[i] < top_block),
            float(blocks[i] > top_block),
            min(block_sizes[blocks[i]], 6) / 6,
            float(ln.line.vertical),
            float(i > 0 and blocks[i - 1] == blocks[i]),
            float(i < n - 1 and blocks[i + 1] == blocks[i]),
        )
    return rows


_WORD = re.compile(r"[a-z][a-z'’]+")


def tokens(text: str) -> list[str]:
    """Lower-case words of ``text`` (letters only, 3+ characters, a plural ``s`` dropped).

    >>> tokens("The Joy of COOKING: 500 Recipes")
    ['the', 'joy', 'cooking', 'recipe']
    """
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        word = word.strip("'’")
        if len(word) < 3:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


def normal_key(text: str) -> str:
    """Lower-case letters and digits only: how OCR text and answers are compared.

    >>> normal_key("Robert's Rules, 2nd ed.")
    'robertsrules2nded'
    """
    return "".join(c for c in text.lower() if c.isalnum())


VISUAL_FEATURES: tuple[str, ...] = (
    *(f"border_hue_{k}" for k in ("cos", "sin")),
    "border_lightness",
    "border_saturation",
    "lightness_mean",
    "lightness_std",
    "saturation_mean",
    "colourful_share",
    "dark_share",
    "light_share",
    *(f"hue_{i:02d}" for i in range(12)),
    "aspect",
)
"""The colour summary :func:`visual_features` returns."""


def _hls(rgb: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[np.ndarray[Any, Any], ...]:
    """Hue, lightness and saturation (0..1, as :func:`colorsys.rgb_to_hls`) of every pixel."""
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    light = (high + low) / 2
    spread = high - low
    safe = np.where(spread == 0, 1.0, spread)
    sat = np.where(
        spread == 0,
        0.0,
        np.where(
            light <= 0.5,
            spread / np.maximum(high + low, 1e-12),
            spread / np.maximum(2.0 - high - low, 1e-12),
        ),
    )
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rc, gc, bc = (high - r) / safe, (high - g) / safe, (high - b) / safe
    hue = np.where(r == high, bc - gc, np.where(g == high, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = np.where(spread == 0, 0.0, (hue / 6.0) % 1.0)
    return hue, light, sat


def visual_features(image: bytes) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Colour features of a cover (see :data:`VISUAL_FEATURES`), from a 64 px thumbnail.

    Raises:
        OSError: the bytes are not an image.
    """
    with Image.open(io.BytesIO(image)) as opened:
        aspect = opened.height / max(1, opened.width)
        thumb = opened.convert("RGB").resize((48, 64), Image.Resampling.BILINEAR)
    rgb = np.asarray(thumb, dtype=np.float64) / 255.0
    hue, light, sat = _hls(rgb)
    border = np.concatenate(
        [
            rgb[:3].reshape(-1, 3),
            rgb[-3:].reshape(-1, 3),
            rgb[:, :3].reshape(-1, 3),
            rgb[:, -3:].reshape(-1, 3),
        ]
    )
    b_h, b_l, b_s = colorsys.rgb_to_hls(*np.median(border, axis=0))
    colourful = (sat > 0.3) & (light > 0.15) & (light < 0.85)
    weights = (sat * colourful).ravel()
    hist, _ = np.histogram(hue.ravel(), bins=12, range=(0.0, 1.0), weights=weights)
    hist = hist / max(1.0, float(weights.sum()))
    angle = 2 * np.pi * b_h
    return np.array(
        [
            np.cos(angle) * b_s,
            np.sin(angle) * b_s,
            b_l,
            b_s,
            float(light.mean()),
            float(light.std()),
            float(sat.mean()),
            float(colourful.mean()),
            float((light < 0.2).mean()),
            float((light > 0.8).mean()),
            *hist.tolist(),
            aspect,
        ],
        dtype=np.float64,
    )
