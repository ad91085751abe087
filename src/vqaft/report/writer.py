"""Write a report folder: ``metrics.json``, ``report.md``, ``report.html`` and the full result.

>>> from vqaft.evaluate import EvaluationSuite, PredictionSet
>>> import tempfile
>>> preds = PredictionSet.from_records(
...     [{"example_id": 1, "predicted_answer": "Yes", "actual_answer": "Yes"}])
>>> files = write_report(EvaluationSuite("exact").run({"m": preds}), tempfile.mkdtemp(),
...                      charts=False)
>>> sorted(p.name for p in files.written())
['metrics.json', 'report.html', 'report.md', 'suite_result.json']
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vqaft.errors import ConfigError
from vqaft.evaluate.suite_result import SuiteResult
from vqaft.report.charts import render_charts
from vqaft.report.content import ReportContent
from vqaft.report.html import render_html
from vqaft.report.markdown import render_markdown
from vqaft.report.metrics_json import METRICS_FILE, MetricsDocument, read_metrics, write_metrics

__all__ = [
    "CHARTS_DIR",
    "HTML_FILE",
    "MARKDOWN_FILE",
    "RESULT_FILE",
    "ReportFiles",
    "load_report_source",
    "locate_report_source",
    "write_report",
]

RESULT_FILE = "suite_result.json"
MARKDOWN_FILE = "report.md"
HTML_FILE = "report.html"
CHARTS_DIR = "charts"
_SEARCH = (".", "report", "scores")


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote.

    Attributes:
        out_dir: the report folder.
        metrics, markdown, html: the three report files.
        result: the full suite result (``None`` when rendered from metrics alone).
        charts: the chart PNG files (linked from report.md; report.html embeds them).
        charts_unavailable: why there are no charts, if there are none.
    """

    out_dir: Path
    metrics: Path
    markdown: Path
    html: Path
    result: Path | None
    charts: tuple[Path, ...]
    charts_unavailable: str | None

    def written(self) -> list[Path]:
        """Every file written (charts excluded)."""
        files = [self.metrics, self.markdown, self.html]
        return files + ([self.result] if self.result is not None else [])


def write_report(
    result: SuiteResult | MetricsDocument,
    out_dir: str | Path,
    *,
    charts: bool = True,
    max_rows: int = 50,
    near_miss_threshold: float = 85.0,
    save_result: bool = True,
) -> ReportFiles:
    """Write the report of a suite run (or of a ``metrics.json``) into ``out_dir``.

    Args:
        result: a :class:`~vqaft.evaluate.suite_result.SuiteResult` (everything) or a
            :class:`~vqaft.report.metrics_json.MetricsDocument` (numbers only: no
            disagreement or label-problem tables).
        out_dir: the folder (created if missing).
        charts: draw charts when matplotlib is available; ``False`` never draws.
        max_rows: rows shown per item table (the rest is counted).
        near_miss_threshold: fuzzy similarity (0-100) for "near miss" label problems.
        save_result: also write ``suite_result.json`` (what ``vqaft report`` re-renders from).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    content = ReportContent.build(
        result, max_rows=max_rows, near_miss_threshold=near_miss_threshold
    )
    metrics = write_metrics(content.metrics, out / METRICS_FILE)
    saved = None
    if save_result and isinstance(result, SuiteResult):
        saved = result.save(out / RESULT_FILE)
    chart_set = render_charts(content.metrics, enabled=charts)
    chart_paths: list[Path] = []
    chart_files: dict[str, str] = {}
    if chart_set.charts:
        (out / CHARTS_DIR).mkdir(exist_ok=True)
        for chart in chart_set.charts:
            path = out / CHARTS_DIR / f"{chart.name}.png"
            path.write_bytes(chart.png)
            chart_paths.append(path)
            chart_files[chart.name] = f"{CHARTS_DIR}/{path.name}"
    markdown = out / MARKDOWN_FILE
    markdown.write_text(render_markdown(content, chart_set, chart_files), encoding="utf-8")
    html = out / HTML_FILE
    html.write_text(render_html(content, chart_set), encoding="utf-8")
    return ReportFiles(
        out_dir=out,
        metrics=metrics,
        markdown=markdown,
        html=html,
        result=saved,
        charts=tuple(chart_paths),
        charts_unavailable=chart_set.unavailable,
    )


def locate_report_source(path: str | Path) -> Path:
    """The file a report is rendered from: ``path`` itself, or in a run folder its
    ``suite_result.json`` (preferred) or ``metrics.json`` -- in the folder, its ``report/`` or
    its ``scores/`` subfolder.

    Raises:
        ConfigError: nothing usable at ``path``.
    """
    source = Path(path)
    if source.is_dir():
        for name in (RESULT_FILE, METRICS_FILE):
            for sub in _SEARCH:
                candidate = source / sub / name
                if candidate.is_file():
                    return candidate
        raise ConfigError(
            f"no {RESULT_FILE} or {METRICS_FILE} found",
            file=str(source),
            hint="run vqaft evaluate --out DIR first, then vqaft report DIR",
        )
    if not source.is_file():
        raise ConfigError("no such file or folder", file=str(source), hint="check the path")
    return source


def load_report_source(path: str | Path) -> SuiteResult | MetricsDocument:
    """Read what a report is rendered from (see :func:`locate_report_source`).

    Raises:
        ConfigError: nothing usable at ``path``, or the file is neither a ``metrics.json`` nor
            a ``suite_result.json``.
    """
    source = locate_report_source(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read report input: {exc}", file=str(source)) from None
    if isinstance(data, dict) and "schema_version" in data:
        return read_metrics(source)
    if isinstance(data, dict) and "suite" in data and "models" in data:
        return SuiteResult.load(source)
    raise ConfigError(
        "not a vqaft metrics.json or suite_result.json",
        file=str(source),
        hint="pass a file written by vqaft evaluate --out, or its folder",
    )
