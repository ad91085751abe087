"""The ``run`` and ``demo`` subcommands of the ``vqaft`` command line.

:func:`add_commands` adds them to the main parser's subparsers; each handler is a thin layer
over :func:`~vqaft.pipeline.run_experiment` / :func:`~vqaft.pipeline.run_demo`. Progress goes
to standard error; the summary (where the report is, the headline numbers) to standard output.

::

    vqaft run examples/ocr-vqa-gpt4o.toml --run-dir runs/covers
    vqaft run examples/ocr-vqa-gpt4o.toml --from predict --set predict.models.base.concurrency=8
    vqaft demo
    vqaft demo --images-train 40 --images-validation 10 --images-test 20
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vqaft.pipeline.manifest import STAGES

__all__ = ["add_commands", "main"]

EXIT_OK = 0
EXIT_ERROR = 2


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_commands(subparsers: Any) -> None:
    """Add ``run`` and ``demo`` to ``subparsers`` (from ``add_subparsers``)."""
    r = subparsers.add_parser(
        "run",
        help="run an experiment file end to end: prepare, validate, finetune, predict, "
        "evaluate, report (resumable)",
        description="Run every stage of EXPERIMENT.toml in one run folder. A stage whose inputs "
        "are unchanged since its last complete run is skipped; an interrupted stage resumes "
        "(the fine-tune re-attaches to its job, predictions skip what is answered), so "
        "running the same command again after a crash or Ctrl-C finishes the run without "
        "paying twice. See docs/experiments.md.",
    )
    r.add_argument("experiment", type=Path, metavar="EXPERIMENT.toml")
    r.add_argument(
        "--run-dir", type=Path, metavar="DIR", help="the run folder (default: runs/<name>)"
    )
    r.add_argument(
        "--from",
        dest="from_stage",
        choices=STAGES,
        metavar="STAGE",
        help="rerun this stage and every later one even if unchanged: " + ", ".join(STAGES),
    )
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the file, repeatable (e.g. --set finetune.suffix=covers, "
        "--set predict.models.base.args.base_url=http://localhost:8000/v1)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bars or log lines")
    r.set_defaults(handler=_cmd_run)

    d = subparsers.add_parser(
        "demo",
        help="the bundled offline experiment: synthetic covers, local model base vs "
        "fine-tuned, full report",
        description="Generate synthetic book covers, fine-tune the local OCR model, compare it "
        "with the base model on every evaluator that needs no network, and write the report. "
        "Runs offline; rerunning skips what is done. The LLM judge joins when an endpoint is "
        "given (--judge-base-url or VQAFT_JUDGE_BASE_URL).",
    )
    d.add_argument(
        "--run-dir",
        type=Path,
        default=Path("runs/demo"),
        metavar="DIR",
        help="the run folder (default: runs/demo)",
    )
    for split, n in (("train", 150), ("validation", 50), ("test", 100)):
        d.add_argument(
            f"--images-{split}",
            type=_count,
            default=n,
            metavar="N",
            help=f"synthetic images in the {split} split (default {n})",
        )
    d.add_argument(
        "--judge-base-url",
        metavar="URL",
        help="OpenAI-compatible endpoint for the LLM judge (default: $VQAFT_JUDGE_BASE_URL; "
        "unset: no judge)",
    )
    d.add_argument(
        "--judge-model", metavar="MODEL", help="judge model (default: $VQAFT_JUDGE_MODEL or gpt-4o)"
    )
    d.add_argument(
        "--judge-api-key-env",
        metavar="VAR",
        help="environment variable with the judge's API key (default OPENAI_API_KEY)",
    )
    d.add_argument(
        "--from",
        dest="from_stage",
        choices=STAGES,
        metavar="STAGE",
        help="rerun this stage and every later one",
    )
    d.add_argument("--no-progress", action="store_true", help="no progress bars or log lines")
    d.set_defaults(handler=_cmd_demo)


@contextmanager
def _progress_logging(enabled: bool) -> Iterator[None]:
    """Show vqaft's INFO log lines (fine-tuning status, events) on stderr while running."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("vqaft")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S"))
    previous = logger.level
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _cmd_run(args: argparse.Namespace) -> int:
    from vqaft.pipeline.experiment import load_experiment
    from vqaft.pipeline.runner import run_experiment

    experiment = load_experiment(args.experiment, args.overrides)
    run_dir = args.run_dir if args.run_dir is not None else Path("runs") / experiment.name
    with _progress_logging(not args.no_progress):
        result = run_experiment(
            experiment,
            run_dir,
            args.from_stage,
            source=args.experiment,
            progress=not args.no_progress,
            echo=None if not args.no_progress else (lambda _text: None),
            overrides=args.overrides,
        )
    print(result.summary())
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from vqaft.pipeline.demo import run_demo

    images = {
        "train": args.images_train,
        "validation": args.images_validation,
        "test": args.images_test,
    }
    with _progress_logging(not args.no_progress):
        result = run_demo(
            args.run_dir,
            images=images,
            judge_base_url=args.judge_base_url,
            judge_model=args.judge_model,
            judge_api_key_env=args.judge_api_key_env,
            from_stage=args.from_stage,
            progress=not args.no_progress,
            echo=None if not args.no_progress else (lambda _text: None),
        )
    print(f"demo finished in {result.seconds:.0f} s")
    if result.report is not None:
        print(f"report: {result.report}")
    if result.index is not None:
        print(f"every file of the run: {result.index}")
    if result.headline is not None:
        print(result.headline.format_text())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """A parser with only ``run`` and ``demo`` (``python -m vqaft.pipeline``)."""
    parser = argparse.ArgumentParser(prog="vqaft", description="vqaft experiments")
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``run`` or ``demo`` with ``argv``; errors are one line on stderr, exit status 2."""
    from vqaft.errors import VqaftError

    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except VqaftError as error:
        print(f"vqaft {args.command}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(
            f"vqaft {args.command}: interrupted (run the same command again to resume)",
            file=sys.stderr,
        )
        return 130
    return code
