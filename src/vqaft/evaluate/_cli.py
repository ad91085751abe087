"""The ``evaluate``, ``compare`` and ``report`` subcommands of the ``vqaft`` command line.

:func:`add_commands` adds them to the main parser's subparsers; each handler is a thin layer
over :class:`~vqaft.evaluate.suite.EvaluationSuite` and :func:`~vqaft.report.write_report`,
returns an exit code, and raises :class:`~vqaft.errors.VqaftError` for bad input (the main
command prints it as one line).

::

    vqaft evaluate ft.jsonl base.jsonl --gold data/test.ids.jsonl \\
        --evaluators exact,lenient,fuzzy:threshold=90,anls --out runs/x/report
    vqaft compare ft=ft.jsonl gpt-4o=base.jsonl --out runs/x/compare
    vqaft report runs/x/report
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vqaft.evaluate.suite import EvaluationSuite
    from vqaft.evaluate.suite_result import SuiteResult
    from vqaft.report.metrics_json import MetricsDocument

__all__ = ["add_commands"]

EXIT_OK = 0


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gold",
        type=Path,
        metavar="FILE",
        help="gold answers: the <split>.ids.jsonl written by vqaft prepare, or any JSONL with "
        "example_id and answers (default: each line's actual_answer)",
    )
    parser.add_argument(
        "--evaluators",
        metavar="SPECS",
        help="comma-separated evaluator specs, e.g. exact,lenient,fuzzy:threshold=90,anls "
        "(default: the suite's, else exact,lenient,normalized,fuzzy,anls)",
    )
    parser.add_argument("--suite", type=Path, metavar="FILE", help="suite file (.toml or .json)")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write metrics.json, report.md, report.html and suite_result.json into DIR",
    )
    parser.add_argument("--json", action="store_true", help="print metrics.json to stdout")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first bad line instead of listing and skipping it",
    )
    parser.add_argument("--no-charts", action="store_true", help="write reports without charts")


def add_commands(subparsers: Any) -> None:
    """Add ``evaluate``, ``compare`` and ``report`` to ``subparsers`` (from ``add_subparsers``)."""
    e = subparsers.add_parser(
        "evaluate",
        help="score predictions files and report per question type, with intervals",
        description="Score one or more predictions JSONL files with a suite of evaluators; with "
        "two or more, compare every pair on their shared example ids.",
    )
    e.add_argument(
        "predictions",
        nargs="+",
        metavar="PREDICTIONS.jsonl",
        help="predictions files; NAME=PATH names the model (default: the file's stem)",
    )
    _common_options(e)
    e.set_defaults(handler=_cmd_evaluate)

    c = subparsers.add_parser(
        "compare",
        help="compare two models' predictions on the same examples",
        description="Paired comparison of A against B (differences are A - B): McNemar for "
        "pass/fail metrics, a permutation test for continuous ones.",
    )
    c.add_argument("a", metavar="A.jsonl", help="model A's predictions (NAME=PATH to name it)")
    c.add_argument("b", metavar="B.jsonl", help="model B's predictions (NAME=PATH to name it)")
    _common_options(c)
    c.set_defaults(handler=_cmd_compare)

    r = subparsers.add_parser(
        "report",
        help="re-render a report from a run folder, suite_result.json or metrics.json",
        description="Write report.md and report.html (and metrics.json) from the results of an "
        "earlier vqaft evaluate --out.",
    )
    r.add_argument("source", type=Path, metavar="RUN_DIR_OR_METRICS_JSON")
    r.add_argument("--out", type=Path, metavar="DIR", help="default: next to the source file")
    r.add_argument("--no-charts", action="store_true", help="write reports without charts")
    r.add_argument("--max-rows", type=int, default=50, metavar="N", help="rows per item table")
    r.set_defaults(handler=_cmd_report)


def _named(arguments: list[str]) -> dict[str, Path]:
    from vqaft.errors import ConfigError

    named: dict[str, Path] = {}
    for argument in arguments:
        name, sep, rest = argument.partition("=")
        if sep and name and rest and not Path(argument).exists():
            path = Path(rest)
        else:
            name, path = Path(argument).stem, Path(argument)
        base, n = name, 2
        while name in named:
            name, n = f"{base}-{n}", n + 1
        if not path.is_file():
            raise ConfigError(
                "no such predictions file",
                file=str(path),
                hint="check the path (NAME=PATH names it)",
            )
        named[name] = path
    return named


def _suite(args: argparse.Namespace) -> EvaluationSuite:
    from vqaft.evaluate.suite import EvaluationSuite

    overrides: dict[str, Any] = {}
    if args.evaluators:
        overrides["evaluators"] = args.evaluators
    if args.strict:
        overrides["on_error"] = "raise"
    if args.suite is not None:
        return EvaluationSuite.from_file(args.suite, **overrides)
    return EvaluationSuite(**overrides)


def _print_summary(document: MetricsDocument) -> None:
    from vqaft.report.content import metric_cell

    gold = document.gold.file if document.gold.source == "file" else "each line's actual_answer"
    print(f"suite {document.suite.name!r}: {', '.join(document.evaluators)}; gold: {gold}")
    width = max((len(label) for label in document.evaluators), default=0)
    for name, model in document.models.items():
        print(
            f"\n{name} ({model.source or 'in memory'}): {model.n_items} items, "
            f"{model.n_failed} failed, {model.n_skipped} skipped, {model.n_missing} missing"
        )
        for label in document.evaluators:
            print(f"  {label:<{width}}  {metric_cell(model.overall.metrics.get(label))}")
    for comparison in document.comparisons:
        print(f"\n{comparison.a} vs {comparison.b} ({comparison.n_common} shared examples):")
        for paired in comparison.groups.get("All", {}).values():
            print(f"  - {paired.statement}")


def _finish(result: SuiteResult, args: argparse.Namespace) -> int:
    from vqaft.report import build_metrics, write_report

    document = build_metrics(result)
    if args.json:
        print(document.model_dump_json(indent=2))
    else:
        _print_summary(document)
    if args.out is not None:
        files = write_report(result, args.out, charts=not args.no_charts)
        stream = sys.stderr if args.json else sys.stdout
        print(f"\nreport: {files.html}", file=stream)
        if files.charts_unavailable:
            print(f"(no charts: {files.charts_unavailable})", file=stream)
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    suite = _suite(args)
    result = suite.run(_named(args.predictions), gold=args.gold)
    return _finish(result, args)


def _cmd_compare(args: argparse.Namespace) -> int:
    from vqaft.errors import ConfigError

    named = _named([args.a, args.b])
    if len(set(named.values())) < 2:
        raise ConfigError("compare needs two different predictions files")
    result = _suite(args).run(named, gold=args.gold)
    return _finish(result, args)


def _cmd_report(args: argparse.Namespace) -> int:
    from vqaft.report import load_report_source, write_report
    from vqaft.report.writer import locate_report_source

    located = locate_report_source(args.source)
    source = load_report_source(located)
    out = args.out if args.out is not None else located.parent
    files = write_report(source, out, charts=not args.no_charts, max_rows=args.max_rows)
    for path in files.written():
        print(path)
    if files.charts_unavailable:
        print(f"(no charts: {files.charts_unavailable})")
    return EXIT_OK
