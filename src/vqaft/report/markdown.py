"""``report.md``: the report as GitHub-flavoured Markdown.

Charts are linked as PNG files written next to the report (``charts/<name>.png``); when
charts are unavailable the Charts section says why. Table cells are escaped (``|``, ``<``,
``>``, ``&``, newlines), so user text cannot break the layout or inject HTML.
"""

from __future__ import annotations

from collections.abc import Mapping

from vqaft.report.charts import ChartSet
from vqaft.report.content import ReportContent
from vqaft.report.sections import Section, Table, build_sections

__all__ = ["render_markdown"]


def _cell(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table(table: Table) -> list[str]:
    lines = [
        "| " + " | ".join(_cell(h) for h in table.headers) + " |",
        "|" + "|".join("---" for _ in table.headers) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows)
    if not table.rows:
        lines = ["(none)"]
    if table.note:
        lines.extend(["", f"*{_text(table.note)}*"])
    return lines


def _charts(charts: ChartSet, files: Mapping[str, str]) -> list[str]:
    if charts.unavailable is not None:
        return [
            f"Charts are unavailable: {_text(charts.unavailable)}. The tables hold every number."
        ]
    lines = []
    for chart in charts.charts:
        if chart.name in files:
            lines.extend([f"![{_text(chart.alt)}]({files[chart.name]})", ""])
    return lines or ["No charts for this run."]


def _section(section: Section, charts: ChartSet, chart_files: Mapping[str, str]) -> list[str]:
    lines = ["#" * section.level + " " + _text(section.title), ""]
    for paragraph in section.paragraphs:
        lines.extend([_text(paragraph), ""])
    for bullet in section.bullets:
        lines.append(f"- {_text(bullet)}")
    if section.bullets:
        lines.append("")
    if section.anchor == "charts":
        lines.extend([*_charts(charts, chart_files), ""])
    for caption, table in section.tables:
        if caption:
            lines.extend([f"**{_text(caption)}**", ""])
        lines.extend([*_table(table), ""])
    return lines


def render_markdown(
    content: ReportContent,
    charts: ChartSet | None = None,
    chart_files: Mapping[str, str] | None = None,
) -> str:
    """The Markdown report.

    Args:
        content: what to show.
        charts: the drawn charts (or why there are none).
        chart_files: chart name -> relative path of its PNG file, for the image links.
    """
    chart_set = charts or ChartSet(charts=(), unavailable="charts were turned off")
    lines: list[str] = []
    for section in build_sections(content):
        lines.extend(_section(section, chart_set, chart_files or {}))
    return "\n".join(lines).rstrip() + "\n"
