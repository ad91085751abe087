"""Charts for reports, drawn with matplotlib (the ``[plot]`` extra) into PNG bytes.

matplotlib is imported lazily, only here, and drawn through its Agg canvas directly (no
``pyplot``, so the global backend of a notebook is left alone). Without matplotlib
:func:`render_charts` returns no charts and says why; reports then keep their tables.

Set ``VQAFT_NO_MATPLOTLIB=1`` to make the import fail on purpose -- exactly as if matplotlib
were not installed (used by the tests, and handy to get table-only reports quickly).

>>> charts = render_charts(None, enabled=False)
>>> charts.charts, charts.unavailable
((), 'charts were turned off')
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vqaft.report.metrics_json import MetricsDocument, group_names, headline
from vqaft.report.statements import kind_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DISABLE_ENV",
    "Chart",
    "ChartSet",
    "accuracy_chart",
    "matplotlib_unavailable",
    "ratings_chart",
    "render_charts",
]

DISABLE_ENV = "VQAFT_NO_MATPLOTLIB"
"""When set to anything but ``""`` or ``"0"``, importing matplotlib for charts fails."""

_RATING_COLOURS = ("#1a9850", "#91cf60", "#fdae61", "#d73027")
_UNJUDGED_COLOUR = "#bdbdbd"


@dataclass(frozen=True)
class Chart:
    """One chart: a file-friendly name, a title, alt text and the PNG bytes."""

    name: str
    title: str
    alt: str
    png: bytes


@dataclass(frozen=True)
class ChartSet:
    """The charts of a report, or why there are none (``unavailable``)."""

    charts: tuple[Chart, ...]
    unavailable: str | None = None


def _import_matplotlib() -> tuple[type[Figure], Any]:
    """Import what drawing needs; raises ImportError when matplotlib is missing or disabled."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        raise ImportError(f"matplotlib import disabled by {DISABLE_ENV}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return Figure, FigureCanvasAgg


def matplotlib_unavailable() -> str | None:
    """Why charts cannot be drawn (``None`` when matplotlib is usable)."""
    try:
        _import_matplotlib()
    except ImportError as exc:
        return f"matplotlib is not available ({exc}); install it with pip install 'vqaft[plot]'"
    return None


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _chart_groups(document: MetricsDocument) -> tuple[str | None, list[str]]:
    for grouping in ("question_type", "openness"):
        names = group_names(document, grouping)
        if names:
            return grouping, names
    return None, []


def accuracy_chart(document: MetricsDocument) -> Chart | None:
    """Bar chart: each metric by group (All and question types), one bar per model, with
    interval error bars. ``None`` when no metric has a scored item.

    Raises:
        ImportError: matplotlib is missing or disabled.
    """
    figure_class, canvas_class = _import_matplotlib()
    labels = [
        label
        for label, info in document.evaluators.items()
        if info.kind != "rating"
        and any(
            m.overall.metrics.get(label) and m.overall.metrics[label].n
            for m in document.models.values()
        )
    ]
    if not labels:
        return None
    grouping, groups = _chart_groups(document)
    columns = ["All", *groups]
    models = list(document.models)
    figure = figure_class(figsize=(max(6.0, 1.3 * len(columns) + 2), 2.6 * len(labels) + 0.9))
    canvas_class(figure)
    axes_list = figure.subplots(len(labels), 1, squeeze=False)[:, 0]
    width = 0.8 / max(1, len(models))
    for axes, label in zip(axes_list, labels, strict=True):
        info = document.evaluators[label]
        for m_index, model_name in enumerate(models):
            model = document.models[model_name]
            values: list[float] = []
            lower: list[float] = []
            upper: list[float] = []
            for column in columns:
                entry = (
                    model.overall
                    if column == "All"
                    else model.groups.get(grouping or "", {}).get(column)
                )
                metric = None if entry is None else entry.metrics.get(label)
                value, interval = (None, None) if metric is None else headline(metric)
                v = float("nan") if value is None else 100 * value
                values.append(v)
                lower.append(0.0 if interval is None or value is None else v - 100 * interval.low)
                upper.append(0.0 if interval is None or value is None else 100 * interval.high - v)
            positions = [c + (m_index - (len(models) - 1) / 2) * width for c in range(len(columns))]
            axes.bar(positions, values, width, yerr=[lower, upper], capsize=3, label=model_name)
        axes.set_xticks(range(len(columns)), columns)
        axes.set_ylim(0, 105)
        axes.set_ylabel("%")
        axes.set_title(
            f"{label}  ({info.name}@{info.version}, {kind_text(info.kind)})",
            fontsize=10,
            loc="left",
        )
        axes.grid(axis="y", alpha=0.3)
    handles, names = axes_list[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="upper center", ncol=min(len(models), 6), fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.45 / figure.get_figheight()))
    return Chart(
        name="accuracy_by_question_type",
        title="Scores by question type (error bars: confidence intervals)",
        alt="Bar chart of each metric by question type for each model, with confidence intervals",
        png=_png(figure),
    )


def _rating_colours(n: int) -> Sequence[str]:
    """Green (best) to red (worst), spread over ``n`` ratings."""
    last = len(_RATING_COLOURS) - 1
    if n <= 1:
        return _RATING_COLOURS[:1]
    return [_RATING_COLOURS[round(i * last / (n - 1))] for i in range(n)]


def ratings_chart(document: MetricsDocument, label: str) -> Chart | None:
    """Stacked horizontal bars: the share of each rating (and of unjudged items) per model.

    Raises:
        ImportError: matplotlib is missing or disabled.
    """
    figure_class, canvas_class = _import_matplotlib()
    rows = [
        (name, model.ratings[label]["All"])
        for name, model in document.models.items()
        if label in model.ratings and "All" in model.ratings[label]
    ]
    if not rows:
        return None
    ratings = rows[0][1].ratings
    colours = _rating_colours(len(ratings))
    figure = figure_class(figsize=(8.0, 0.6 * len(rows) + 1.6))
    canvas_class(figure)
    axes = figure.subplots()
    for y, (_, entry) in enumerate(rows):
        total = entry.n_judged + entry.unjudged
        left = 0.0
        segments = [*((r, entry.counts.get(r, 0)) for r in ratings), ("unjudged", entry.unjudged)]
        for index, (rating, count) in enumerate(segments):
            share = 100 * count / total if total else 0.0
            colour = colours[index] if index < len(ratings) else _UNJUDGED_COLOUR
            axes.barh(y, share, left=left, color=colour, label=rating if y == 0 else None)
            left += share
    axes.set_yticks(range(len(rows)), [name for name, _ in rows])
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of items")
    axes.invert_yaxis()
    axes.set_title(f"{label}: rating distribution", fontsize=10, loc="left")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=len(ratings) + 1, fontsize=8)
    figure.tight_layout()
    return Chart(
        name=f"ratings_{''.join(c if c.isalnum() else '_' for c in label)}",
        title=f"{label}: rating distribution",
        alt=f"Stacked bars of the share of each {label} rating per model",
        png=_png(figure),
    )


def render_charts(document: MetricsDocument | None, *, enabled: bool = True) -> ChartSet:
    """Every chart of a report, or an empty set saying why there are none.

    Args:
        document: the metrics to draw.
        enabled: ``False`` skips drawing (the report says charts were turned off).
    """
    if not enabled or document is None:
        return ChartSet(charts=(), unavailable="charts were turned off")
    reason = matplotlib_unavailable()
    if reason is not None:
        return ChartSet(charts=(), unavailable=reason)
    charts: list[Chart] = []
    accuracy = accuracy_chart(document)
    if accuracy is not None:
        charts.append(accuracy)
    for label, info in document.evaluators.items():
        if info.kind == "rating":
            chart = ratings_chart(document, label)
            if chart is not None:
                charts.append(chart)
    return ChartSet(charts=tuple(charts))
