"""What a report shows, gathered once for the Markdown and HTML renderers.

:class:`ReportContent` holds the metrics document and, when the full suite result is at hand,
the item-level findings (disagreements, likely label problems). A report rendered from a bare
``metrics.json`` has the numbers but not those tables, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from vqaft.evaluate.suite_result import SuiteResult
from vqaft.report.disagreements import Disagreement, find_disagreements
from vqaft.report.label_issues import LabelIssue, find_label_issues
from vqaft.report.metrics_json import MetricEntry, MetricsDocument, build_metrics, headline
from vqaft.report.statements import format_interval, format_percent

__all__ = ["ReportContent", "method_names", "metric_cell"]


@dataclass(frozen=True)
class ReportContent:
    """Everything a report renders.

    Attributes:
        metrics: the numbers.
        disagreements: examples the models disagree on (``None``: item results unavailable).
        label_issues: likely label problems (``None``: item results unavailable).
        max_rows: rows shown per item table (the rest is counted).
    """

    metrics: MetricsDocument
    disagreements: tuple[Disagreement, ...] | None = None
    label_issues: tuple[LabelIssue, ...] | None = None
    max_rows: int = 50

    @classmethod
    def build(
        cls,
        source: SuiteResult | MetricsDocument,
        *,
        max_rows: int = 50,
        near_miss_threshold: float = 85.0,
    ) -> ReportContent:
        """Gather a report's content from a suite result (everything) or metrics (numbers)."""
        if isinstance(source, MetricsDocument):
            return cls(metrics=source, max_rows=max_rows)
        return cls(
            metrics=build_metrics(source),
            disagreements=tuple(find_disagreements(source)) if source.suite.evaluators else (),
            label_issues=tuple(find_label_issues(source, near_miss_threshold=near_miss_threshold)),
            max_rows=max_rows,
        )


def metric_cell(entry: MetricEntry | None) -> str:
    """``"73.4% (63.6–80.7%, n=100)"``; ``"–"`` when nothing was scored.

    The headline is the pass rate when the metric has verdicts, else the mean; a metric with
    both (fuzzy) also shows its mean score.
    """
    if entry is None:
        return "–"
    value, interval = headline(entry)
    if value is None:
        return f"– (n={entry.n})"
    text = format_percent(value)
    if interval is not None:
        text += f" ({format_interval(interval.low, interval.high)}, n={entry.n})"
    else:
        text += f" (n={entry.n})"
    if entry.pass_rate is not None and entry.mean is not None and entry.mean != entry.pass_rate:
        text += f"; mean score {format_percent(entry.mean)}"
    if entry.n_errors:
        text += f", {entry.n_errors} errors"
    return text


def method_names(document: MetricsDocument) -> list[str]:
    """The interval methods used in a document, in a stable order."""
    methods: set[str] = set()
    for model in document.models.values():
        for group in [model.overall, *(g for gs in model.groups.values() for g in gs.values())]:
            for metric in group.metrics.values():
                for interval in (metric.interval, metric.pass_interval):
                    if interval is not None:
                        methods.add(interval.method)
    for comparison in document.comparisons:
        for per_label in comparison.groups.values():
            for paired in per_label.values():
                methods.add(paired.interval.method)
    return sorted(methods)
