"""gpt-4o's published rule for how many tokens an input image costs.

* ``detail="low"``: a flat 85 tokens, whatever the size.
* ``detail="high"`` (and ``"auto"``, which vqaft bills as high to stay on the safe side):
  scale the image to fit within 2048 x 2048 (never enlarging), then scale it so the short side
  is 768 px (never enlarging), then count 512-px tiles: ``85 + 170 * tiles``.

Worked examples from OpenAI's documentation, which the tests check:

>>> image_tokens(1024, 1024, "high")
765
>>> image_tokens(2048, 4096, "high")
1105
>>> image_tokens(4096, 8192, "low")
85
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = ["BASE_TOKENS", "TILE_TOKENS", "Detail", "billed_size", "image_tokens", "tile_count"]

Detail = Literal["low", "high", "auto"]

BASE_TOKENS = 85
TILE_TOKENS = 170
_MAX_SIDE = 2048
_SHORT_SIDE = 768
_TILE = 512


def billed_size(width: int, height: int) -> tuple[int, int]:
    """The size gpt-4o processes a high-detail image at (fit 2048, then short side 768).

    Sending an image larger than this only costs upload bytes: the model sees this size anyway,
    which is why vqaft's ``resize="tile"`` policy resizes to it.

    >>> billed_size(2048, 4096)
    (768, 1536)
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    w, h = float(width), float(height)
    if max(w, h) > _MAX_SIDE:
        scale = _MAX_SIDE / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > _SHORT_SIDE:
        scale = _SHORT_SIDE / min(w, h)
        w, h = w * scale, h * scale
    return max(1, round(w)), max(1, round(h))


def tile_count(width: int, height: int) -> int:
    """Number of 512-px tiles of a high-detail image after :func:`billed_size`."""
    w, h = billed_size(width, height)
    return math.ceil(w / _TILE) * math.ceil(h / _TILE)


def image_tokens(width: int, height: int, detail: Detail = "high") -> int:
    """Input tokens gpt-4o bills for one image of ``width`` x ``height`` at ``detail``."""
    if detail == "low":
        return BASE_TOKENS
    return BASE_TOKENS + TILE_TOKENS * tile_count(width, height)
