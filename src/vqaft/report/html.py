"""``report.html``: one self-contained page (inline CSS, charts as base64 PNG data URIs).

Every piece of user text (questions, answers, model names, file names, settings) goes through
:func:`html.escape`; the page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
from html import escape

from vqaft.report.charts import ChartSet
from vqaft.report.content import ReportContent
from vqaft.report.sections import Section, Table, build_sections

__all__ = ["render_html"]

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem;
  border-bottom: 1px solid #ddd; } h3 { font-size: 1.05rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } tr:nth-child(even) td { background: #fafafa; }
.caption { font-weight: 600; margin: .8rem 0 .2rem; } .note { color: #666; font-style: italic; }
.unavailable { background: #fff6e0; border: 1px solid #f0d58c; padding: .5rem .8rem; }
img { max-width: 100%; height: auto; display: block; margin: .5rem 0 1rem; }
li { margin: .25rem 0; }
"""


def _table(table: Table) -> str:
    if not table.rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    html = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if table.note:
        html += f'<p class="note">{escape(table.note)}</p>'
    return html


def _charts(charts: ChartSet) -> str:
    if charts.unavailable is not None:
        return (
            f'<p class="unavailable">Charts are unavailable: {escape(charts.unavailable)}. '
            "The tables hold every number.</p>"
        )
    parts = []
    for chart in charts.charts:
        data = base64.b64encode(chart.png).decode("ascii")
        parts.append(
            f'<p class="caption">{escape(chart.title)}</p>'
            f'<img alt="{escape(chart.alt)}" src="data:image/png;base64,{data}">'
        )
    return "".join(parts) or "<p>No charts for this run.</p>"


def _section(section: Section, charts: ChartSet) -> str:
    level = min(max(section.level, 1), 6)
    parts = [f'<h{level} id="{escape(section.anchor)}">{escape(section.title)}</h{level}>']
    parts.extend(f"<p>{escape(p)}</p>" for p in section.paragraphs)
    if section.bullets:
        parts.append("<ul>" + "".join(f"<li>{escape(b)}</li>" for b in section.bullets) + "</ul>")
    if section.anchor == "charts":
        parts.append(_charts(charts))
    for caption, table in section.tables:
        if caption:
            parts.append(f'<p class="caption">{escape(caption)}</p>')
        parts.append(_table(table))
    return "\n".join(parts)


def render_html(content: ReportContent, charts: ChartSet | None = None) -> str:
    """The HTML report as one string (see the module docstring)."""
    chart_set = charts or ChartSet(charts=(), unavailable="charts were turned off")
    sections = build_sections(content)
    title = escape(sections[0].title if sections else "vqaft evaluation report")
    body = "\n".join(_section(s, chart_set) for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
