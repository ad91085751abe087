"""Reports of evaluation runs: ``metrics.json``, ``report.md`` and a self-contained ``report.html``.

>>> from vqaft.evaluate import EvaluationSuite
>>> from vqaft.report import write_report
>>> result = EvaluationSuite().run({"ft": "ft.jsonl", "base": "base.jsonl"})  # doctest: +SKIP
>>> write_report(result, "runs/x/report").html  # doctest: +SKIP
PosixPath('runs/x/report/report.html')

Modules: :mod:`~vqaft.report.metrics_json` (the versioned schema), :mod:`~vqaft.report.markdown`,
:mod:`~vqaft.report.html`, :mod:`~vqaft.report.charts` (matplotlib, optional),
:mod:`~vqaft.report.disagreements`, :mod:`~vqaft.report.label_issues`,
:mod:`~vqaft.report.statements` (plain-language sentences), :mod:`~vqaft.report.writer`.
"""

from __future__ import annotations

from vqaft.report.charts import DISABLE_ENV, Chart, ChartSet, render_charts
from vqaft.report.content import ReportContent
from vqaft.report.disagreements import Disagreement, find_disagreements
from vqaft.report.html import render_html
from vqaft.report.label_issues import LabelIssue, find_label_issues
from vqaft.report.markdown import render_markdown
from vqaft.report.metrics_json import (
    SCHEMA_VERSION,
    MetricsDocument,
    build_metrics,
    read_metrics,
    write_metrics,
)
from vqaft.report.statements import comparison_statement
from vqaft.report.writer import ReportFiles, load_report_source, write_report

__all__ = [
    "DISABLE_ENV",
    "SCHEMA_VERSION",
    "Chart",
    "ChartSet",
    "Disagreement",
    "LabelIssue",
    "MetricsDocument",
    "ReportContent",
    "ReportFiles",
    "build_metrics",
    "comparison_statement",
    "find_disagreements",
    "find_label_issues",
    "load_report_source",
    "read_metrics",
    "render_charts",
    "render_html",
    "render_markdown",
    "write_metrics",
    "write_report",
]
