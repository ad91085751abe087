"""The run index: one page in the report folder that links every file of the run.

``report/index.md`` and ``report/index.html`` list the headline numbers, each stage with its
status and time, and every artefact of the run folder grouped by stage, with links relative to
the report folder (so the folder can be moved or zipped as a whole).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vqaft.pipeline.headline import Headline
from vqaft.pipeline.manifest import RunLayout

__all__ = ["INDEX_HTML", "INDEX_MD", "write_index"]

INDEX_MD = "index.md"
INDEX_HTML = "index.html"

_ORDER = ("run", "prepare", "validate", "finetune", "predict", "evaluate", "report")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} GB"


def _seconds(info: Mapping[str, Any]) -> str:
    """How long the stage took when it last ran (this run or an earlier one)."""
    seconds = info.get("stage_seconds", info.get("seconds"))
    return "" if seconds is None else f"{float(seconds):.1f}"


def write_index(
    layout: RunLayout,
    *,
    title: str,
    description: str | None,
    headline: Headline | None,
    stages: Mapping[str, Mapping[str, Any]],
    extra: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write ``report/index.md`` and ``report/index.html``; return their paths.

    Args:
        layout: the run folder.
        title: the experiment's name.
        description: its description.
        headline: the headline numbers, if any.
        stages: stage -> ``{"status": ..., "stage_seconds": ..., "finished_at": ...}``.
        extra: run-relative paths to list although they are written after the index
            (``run.json``, the report stage's manifest).
    """
    listing = layout.artefacts()
    known = {item["path"] for item in listing}
    for path in (*extra, "report/" + INDEX_MD, "report/" + INDEX_HTML):
        if path not in known:
            stage = "report" if path.startswith("report/") else "run"
            listing.append({"path": path, "bytes": None, "stage": stage})
            known.add(path)
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in sorted(listing, key=lambda i: str(i["path"])):
        groups.setdefault(str(item["stage"]), []).append(item)
    order = [s for s in _ORDER if s in groups] + [s for s in groups if s not in _ORDER]

    md = [f"# {title}", ""]
    if description:
        md += [description, ""]
    md += ["Main report: [report.html](report.html) ([Markdown](report.md))", ""]
    if headline is not None:
        md += ["## Headline", "", "```", headline.format_text(), "```", ""]
    md += ["## Stages", "", "| stage | this run | took (s) | finished |", "|---|---|---|---|"]
    for name, info in stages.items():
        md.append(
            f"| {name} | {info.get('status', '')} | {_seconds(info)} | "
            f"{info.get('finished_at') or ''} |"
        )
    md += ["", "## Files", ""]
    for stage in order:
        md += [f"### {stage}", ""]
        for item in groups[stage]:
            size = "" if item["bytes"] is None else f" ({_size(int(item['bytes']))})"
            md.append(f"- [{item['path']}](../{item['path']}){size}")
        md.append("")
    report = layout.report
    report.mkdir(parents=True, exist_ok=True)
    md_path = report / INDEX_MD
    md_path.write_text("\n".join(md), encoding="utf-8")

    esc = html.escape
    body = [f"<h1>{esc(title)}</h1>"]
    if description:
        body.append(f"<p>{esc(description)}</p>")
    body.append(
        '<p>Main report: <a href="report.html">report.html</a> '
        '(<a href="report.md">Markdown</a>)</p>'
    )
    if headline is not None:
        body.append(f"<h2>Headline</h2><pre>{esc(headline.format_text())}</pre>")
    body.append(
        "<h2>Stages</h2><table><tr><th>stage</th><th>this run</th><th>took (s)</th>"
        "<th>finished</th></tr>"
    )
    for name, info in stages.items():
        body.append(
            f"<tr><td>{esc(name)}</td><td>{esc(str(info.get('status', '')))}</td>"
            f"<td>{_seconds(info)}</td><td>{esc(str(info.get('finished_at') or ''))}</td></tr>"
        )
    body.append("</table><h2>Files</h2>")
    for stage in order:
        body.append(f"<h3>{esc(stage)}</h3><ul>")
        for item in groups[stage]:
            size = "" if item["bytes"] is None else f" ({_size(int(item['bytes']))})"
            href = esc("../" + str(item["path"]), quote=True)
            body.append(f'<li><a href="{href}">{esc(str(item["path"]))}</a>{size}</li>')
        body.append("</ul>")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}: run index</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}"
        "</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    html_path = report / INDEX_HTML
    html_path.write_text(page, encoding="utf-8")
    return md_path, html_path
