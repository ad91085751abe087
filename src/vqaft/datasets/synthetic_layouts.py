"""The cover layouts of the synthetic-covers generator.

Each layout places the title group (series tag, title, subtitle), the author line, a
publisher mark and decorations on a :class:`~vqaft.datasets.synthetic_draw.Canvas`; colours,
fonts, casing, sizes and ornaments vary further through the
:class:`~vqaft.datasets.synthetic_draw.Style` drawn for each cover.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from vqaft.datasets.synthetic_draw import (
    BLACK,
    RGB,
    WHITE,
    Box,
    Canvas,
    CoverText,
    Palette,
    Style,
    cased,
    draw_frame,
    draw_rule,
    draw_shapes,
    luminance,
    mix,
    pick_text_colour,
    plan_text,
)

__all__ = [
    "LAYOUTS",
    "LAYOUT_WEIGHTS",
    "Layout",
    "author_line",
    "footer",
    "publisher_mark",
    "series_band",
    "title_group",
]

Layout = Callable[[Canvas, CoverText, Style], None]
"""A layout draws one cover's text and decorations onto a canvas."""


def title_group(
    c: Canvas,
    t: CoverText,
    s: Style,
    box: Box,
    *,
    align: str = "centre",
    valign: str = "top",
    colour: RGB | None = None,
    series_inline: bool = True,
) -> float:
    """Series tag (small caps), title and subtitle stacked in ``box``; returns the bottom."""
    fill = s.palette.text if colour is None else colour
    gap = max(4.0, box.height * 0.04)
    w = box.width
    series_plan = None
    if series_inline and s.show_series and t.parts.series:
        series_plan = plan_text(
            t.parts.series[0].upper(), s.body_face, w, box.height * 0.14, 14, 8, 2
        )
    subtitle_plan = None
    reserve = 0.0
    if s.show_subtitle and t.parts.subtitle:
        reserve = box.height * 0.3
    used_series = 0.0 if series_plan is None else series_plan.height + gap
    max_title = max(14, min(60, round(c.width * s.rng.uniform(0.09, 0.15))))
    title_plan = plan_text(
        cased(t.parts.main, s.upper_title),
        s.title_face,
        w,
        box.height - used_series - reserve,
        max_title,
        11,
        s.rng.integer(3, 6),
    )
    if title_plan is None:
        return box.top
    if reserve:
        sub_size = max(9, min(round(title_plan.font.size * 0.5), 24))
        subtitle_plan = plan_text(
            t.parts.subtitle, s.body_face, w * 0.95, reserve - gap, sub_size, 8, 3
        )
    total = used_series + title_plan.height
    if subtitle_plan is not None:
        total += gap + subtitle_plan.height
    if valign == "centre":
        y = box.top + max(0.0, (box.height - total) / 2)
    elif valign == "bottom":
        y = box.bottom - total
    else:
        y = box.top
    shadow = BLACK if s.shadow and luminance(fill) > 0.5 else None
    if series_plan is not None:
        y = c.draw_plan(series_plan, box.left, box.right, y, align, fill) + gap
    y = c.draw_plan(title_plan, box.left, box.right, y, align, fill, shadow)
    if subtitle_plan is not None:
        y = c.draw_plan(subtitle_plan, box.left, box.right, y + gap, align, fill)
    return y


def author_line(
    c: Canvas,
    t: CoverText,
    s: Style,
    box: Box,
    *,
    align: str = "centre",
    valign: str = "centre",
    colour: RGB | None = None,
    size_frac: float = 0.055,
) -> float:
    """The author line ("by X" or the plain name) in ``box``; returns its bottom edge."""
    if not t.author.strip():
        return box.top
    text = cased(t.author, s.upper_author)
    if s.by_prefix:
        text = "by " + text
    size = max(10, min(30, round(c.width * size_frac)))
    plan = plan_text(text, s.body_face, box.width, box.height, size, 8, 2)
    if plan is None:
        return box.top
    if valign == "centre":
        y = box.top + (box.height - plan.height) / 2
    elif valign == "bottom":
        y = box.bottom - plan.height
    else:
        y = box.top
    return c.draw_plan(
        plan, box.left, box.right, y, align, s.palette.text if colour is None else colour
    )


def series_band(c: Canvas, t: CoverText, s: Style, top: float, height: float) -> None:
    """A full-width accent band with the series tag in it."""
    c.draw.rectangle((0, top, c.width, top + height), fill=s.palette.accent)
    if t.parts.series:
        plan = plan_text(
            t.parts.series[0].upper(), s.body_face, c.width * 0.86, height * 0.8, 16, 8, 1
        )
        if plan is not None:
            c.draw_plan(
                plan,
                c.width * 0.07,
                c.width * 0.93,
                top + (height - plan.height) / 2,
                "centre",
                s.palette.accent_text,
            )


def publisher_mark(c: Canvas, s: Style, box: Box, align: str = "right") -> None:
    """A made-up publisher mark (initials in a shape) and sometimes its name."""
    if s.publisher is None:
        return
    rng = s.rng
    name = s.publisher
    size = max(14.0, min(box.height, c.width * 0.09))
    initials = "".join(part[0] for part in name.split()[:2])
    if align == "right":
        x0 = box.right - size
    elif align == "left":
        x0 = box.left
    else:
        x0 = box.left + (box.width - size) / 2
    y0 = box.top + (box.height - size) / 2
    colour = s.palette.text
    inner = pick_text_colour((colour,), rng, 3.0)
    if rng.chance(0.5):
        c.draw.ellipse((x0, y0, x0 + size, y0 + size), fill=colour)
    else:
        c.draw.rectangle((x0, y0, x0 + size, y0 + size), fill=colour)
    plan = plan_text(initials, "sans-bold", size * 0.8, size * 0.7, round(size * 0.5), 6, 1)
    if plan is not None:
        c.draw_plan(plan, x0, x0 + size, y0 + (size - plan.height) / 2, "centre", inner)
    if rng.chance(0.5):
        name_width = box.width - size - 6
        plan = plan_text(name.upper(), "sans", name_width, size * 0.6, 11, 7, 1)
        if plan is not None:
            ny = y0 + (size - plan.height) / 2
            if align == "right":
                c.draw_plan(plan, box.left, x0 - 6, ny, "right", colour)
            elif align == "left":
                c.draw_plan(plan, x0 + size + 6, box.right, ny, "left", colour)


# -- layouts ------------------------------------------------------------------------------


def footer(c: Canvas, s: Style) -> float:
    """Draw the publisher footer when there is one; returns where the body must end."""
    if s.publisher is None:
        return c.height * 0.95
    box = Box(c.width * 0.06, c.height * 0.9, c.width * 0.94, c.height * 0.97)
    publisher_mark(c, s, box, align=s.rng.choice(("left", "right", "centre")))
    return c.height * 0.89


def _layout_classic(c: Canvas, t: CoverText, s: Style) -> None:
    w, h = c.width, c.height
    m = w * s.rng.uniform(0.07, 0.11)
    end = footer(c, s)
    if s.rng.chance(0.35):
        draw_frame(c, s, m * 0.45)
    bottom = title_group(c, t, s, Box(m, h * 0.08, w - m, h * 0.58), valign="top")
    if s.rng.chance(0.6):
        draw_rule(c, s, w * 0.3, w * 0.7, bottom + h * 0.04)
    author_line(c, t, s, Box(m, end - h * 0.14, w - m, end), valign="bottom")


def _layout_middle(c: Canvas, t: CoverText, s: Style) -> None:
    w, h = c.width, c.height
    m = w * s.rng.uniform(0.07, 0.1)
    end = footer(c, s)
    author_top = s.rng.chance(0.5)
    if author_top:
        author_line(c, t, s, Box(m, h * 0.06, w - m, h * 0.18))
    top_rule = h * 0.24
    draw_rule(c, s, m, w - m, top_rule)
    bottom = title_group(c, t, s, Box(m, top_rule + h * 0.03, w - m, h * 0.74), valign="centre")
    draw_rule(c, s, m, w - m, bottom + h * 0.03)
    if not author_top:
        author_line(c, t, s, Box(m, end - h * 0.12, w - m, end))


def _layout_art_top(c: Canvas, t: CoverText, s: Style) -> None:
    w, h = c.width, c.height
    m = w * s.rng.uniform(0.06, 0.1)
    split = h * s.rng.uniform(0.42, 0.55)
    c.draw.rectangle((0, 0, w, split), fill=s.palette.bg2)
    draw_shapes(c, s, Box(0, 0, w, split), s.rng.integer(3, 7))
    end = footer(c, s)
    align = s.rng.choice(("centre", "left"))
    bottom = title_group(c, t, s, Box(m, split + h * 0.04, w - m, end - h * 0.1), align=align)
    author_line(c, t, s, Box(m, max(bottom, end - h * 0.1), w - m, end), align=align)


def _layout_left(c: Canvas, t: CoverText, s: Style) -> None:
    w, h = c.width, c.height
    m = w * s.rng.uniform(0.1, 0.14)
    c.draw.rectangle(
        (m * 0.35, h * 0.08, m * 0.35 + s.rng.integer(3, 8), h * 0.6), fill=s.palette.accent
    )
    end = footer(c, s)
    title_group(c, t, s, Box(m, h * 0.08, w - m * 0.7, h * 0.62), align="left")
    if s.rng.chance(0.5):
        draw_shapes(c, s, Box(w * 0.55, h * 0.64, w * 0.95, end - h * 0.12), s.rng.integer(1, 3))
    author_line(c, t, s, Box(m, end - h * 0.12, w - m * 0.7, end), align="left", valign="bottom")


def _layout_band(position: str) -> Layout:
    def layout(c: Canvas, t: CoverText, s: Style) -> None:
        w, h = c.width, c.height
        m = w * 0.07
        band_h = h * s.rng.uniform(0.28, 0.4)
        end = footer(c, s)
        band_top = {"top": h * 0.07, "middle": (h - band_h) / 2, "bottom": end - band_h}[position]
        band_colour = s.palette.accent
        band_text = s.palette.accent_text
        if position != "top":
            art_top = h * 0.2 if position == "bottom" else 0.0  # the author sits above
            draw_shapes(c, s, Box(0, art_top, w, band_top - h * 0.02), s.rng.integer(1, 4))
        else:
            draw_shapes(c, s, Box(0, band_top + band_h, w, end - h * 0.12), s.rng.integer(1, 3))
        c.draw.rectangle((0, band_top, w, band_top + band_h), fill=band_colour)
        title_group(
            c,
            t,
            s,
            Box(m, band_top + band_h * 0.08, w - m, band_top + band_h * 0.92),
            valign="centre",
            colour=band_text,
        )
        if position == "bottom":
            author_line(c, t, s, Box(m, h * 0.06, w - m, h * 0.18))
        else:
            author_line(c, t, s, Box(m, end - h * 0.12, w - m, end))

    return layout


def _layout_boxed(c: Canvas, t: CoverText, s: Style) -> None:
    w, h = c.width, c.height
    if s.rng.chance(0.5):
        draw_shapes(c, s, Box(0, 0, w, h), s.rng.integer(2, 5), faint=True)
    panel = Box(w * 0.1, h * s.rng.uniform(0.12, 0.25), w * 0.9, h * s.rng.uniform(0.6, 0.72))
    panel_colour = WHITE if s.rng.chance(0.5) else s.palette.accent
    panel_text = pick_text_colour((panel_colour,), s.rng, 4.5)
    c.draw.rectangle(
        (panel.left, panel.top, panel.right, panel.bottom),
        fill=panel_colour,
        outline=panel_text if s.rng.chance(0.5) else None,
        width=2,
    )
    pad = w * 0.05
    inner = Box(panel.left + pad, panel.top + pad, panel.right - pad, panel.bottom - pad)
    title_group(c, t, s, inner, valign="centre", colour=panel_text)
    end = footer(c, s)
    author_line(c, t, s, Box(w * 0.08, panel.bottom + h * 0.03, w * 0.92, end))


def _layout_framed(c: Canvas, t: CoverText, s: Style) -> None:
    w, h = c.width, c.height
    inset = w * s.rng.uniform(0.04, 0.07)
    draw_frame(c, s, inset)
    m = inset + w * 0.06
    end = min(footer(c, s), h - inset - 6)
    bottom = title_group(c, t, s, Box(m, h * 0.12, w - m, h * 0.6), valign="centre")
    d = max(5.0, w * 0.025)
    cy = bottom + h * 0.05
    c.draw.polygon(
        [(w / 2, cy - d), (w / 2 + d, cy), (w / 2, cy + d), (w / 2 - d, cy)], fill=s.palette.text
    )
    author_line(c, t, s, Box(m, cy + d + h * 0.03, w - m, end - h * 0.02), valign="bottom")


def _layout_stripe(c: Canvas, t: CoverText, s: Style) -> None:
    w, h = c.width, c.height
    stripe = w * s.rng.uniform(0.22, 0.34)
    on_left = s.rng.chance(0.6)
    x0 = 0.0 if on_left else w - stripe
    c.draw.rectangle((x0, 0, x0 + stripe, h), fill=s.palette.accent)
    if s.rng.chance(0.5):
        draw_shapes(c, s, Box(x0, h * 0.1, x0 + stripe, h * 0.9), s.rng.integer(1, 3))
    left = (stripe if on_left else 0) + w * 0.06
    right = (w if on_left else w - stripe) - w * 0.05
    s.publisher = None  # no room for a footer next to the stripe
    title_group(c, t, s, Box(left, h * 0.1, right, h * 0.66), align="left")
    author_line(c, t, s, Box(left, h * 0.8, right, h * 0.93), align="left")


def _layout_author_top(c: Canvas, t: CoverText, s: Style) -> None:
    w, h = c.width, c.height
    m = w * 0.07
    end = footer(c, s)
    if t.author.strip():
        s.upper_author = True
        s.by_prefix = False
        author_line(
            c, t, s, Box(m, h * 0.05, w - m, h * 0.2), size_frac=0.085, colour=s.palette.text
        )
        draw_rule(c, s, w * 0.2, w * 0.8, h * 0.23)
    title_group(c, t, s, Box(m, h * 0.28, w - m, end - h * 0.02), valign="centre")


def _layout_textbook(c: Canvas, t: CoverText, s: Style) -> None:
    w, h = c.width, c.height
    c.draw.rectangle((0, 0, w, h), fill=mix(WHITE, s.palette.bg, 0.12))
    s.palette = Palette(
        bg=mix(WHITE, s.palette.bg, 0.12),
        bg2=s.palette.bg2,
        accent=s.palette.accent,
        text=pick_text_colour((mix(WHITE, s.palette.bg, 0.12),), s.rng, 4.5),
        accent_text=s.palette.accent_text,
    )
    header = h * s.rng.uniform(0.07, 0.11)
    series_band(c, t, s, 0, header)
    m = w * 0.08
    bottom = title_group(
        c, t, s, Box(m, header + h * 0.05, w - m, h * 0.5), align="left", series_inline=False
    )
    art = Box(m, max(bottom + h * 0.04, h * 0.52), w - m, h * 0.8)
    if art.height > 20:
        c.draw.rectangle((art.left, art.top, art.right, art.bottom), fill=s.palette.bg2)
        draw_shapes(c, s, art, s.rng.integer(2, 5))
    end = footer(c, s)
    author_line(c, t, s, Box(m, max(art.bottom, h * 0.8) + 4, w - m, end), align="left")


LAYOUTS: Mapping[str, Layout] = MappingProxyType(
    {
        "classic": _layout_classic,
        "middle": _layout_middle,
        "art-top": _layout_art_top,
        "left": _layout_left,
        "band-top": _layout_band("top"),
        "band-middle": _layout_band("middle"),
        "band-bottom": _layout_band("bottom"),
        "boxed": _layout_boxed,
        "framed": _layout_framed,
        "stripe": _layout_stripe,
        "author-top": _layout_author_top,
        "textbook": _layout_textbook,
    }
)
"""The cover layouts by id; each is further varied by colours, fonts and decorations."""
LAYOUT_WEIGHTS = (2.0, 1.5, 1.5, 1.2, 1.0, 1.0, 0.8, 1.0, 1.0, 0.8, 0.8, 1.2)
