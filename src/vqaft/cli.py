"""The ``vqaft`` command line: a thin layer over the public API.

Every command maps to one library call; errors from vqaft (:class:`~vqaft.errors.VqaftError`)
are printed as one readable line with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from vqaft import __version__
from vqaft._cli_args import key_value
from vqaft.datasets.base import DatasetAdapter, few_shot_examples
from vqaft.errors import ConfigError, VqaftError
from vqaft.types import Example

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def _read_text_arg(value: str) -> str:
    """``@path`` reads the text from a file; anything else is the text itself."""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vqaft`` command (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="vqaft",
        description="Fine-tune vision-language models on VQA data and measure whether it helped.",
    )
    parser.add_argument("--version", action="version", version=f"vqaft {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "prepare",
        help="turn a dataset into train/validation/test chat JSONL files",
        description="Sample a dataset by image, build chat records with base64 images and write "
        "train.jsonl, validation.jsonl, test.jsonl and manifest.json into --out.",
    )
    p.add_argument("--dataset", default="synthetic-covers", help="registered adapter name")
    p.add_argument(
        "--dataset-arg",
        "-D",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="adapter argument, repeatable (e.g. -D source=howard-hou/OCR-VQA)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/prepared"), help="output folder")
    for split, n in (("train", 150), ("validation", 50), ("test", 100)):
        p.add_argument(
            f"--{split}",
            type=int,
            default=n,
            metavar="N",
            help=f"images to sample for {split} (default {n}; -1 = all, 0 = skip the split)",
        )
    p.add_argument("--seed", type=int, default=42, help="sampling seed (default 42)")
    p.add_argument("--system-prompt", type=_read_text_arg, help="text, or @file")
    p.add_argument(
        "--few-shot",
        type=int,
        default=0,
        metavar="N",
        help="prepend N training examples (with their images) to every record",
    )
    p.add_argument("--detail", choices=["low", "high", "auto"], default="auto")
    p.add_argument(
        "--image-format",
        choices=["auto", "jpeg", "png", "webp"],
        default="auto",
        help="auto keeps usable source bytes untouched",
    )
    p.add_argument("--quality", type=int, default=95, help="JPEG/WEBP quality when re-encoding")
    p.add_argument("--resize", choices=["none", "max_side", "tile"], default="none")
    p.add_argument("--max-side", type=int, default=None)
    p.add_argument("--workers", type=int, default=None, help="encoding processes (default: cores)")
    p.add_argument(
        "--on-error",
        choices=["raise", "skip"],
        default="raise",
        help="stop at the first bad row or image, or skip and list it in the manifest",
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--no-check", action="store_true", help="skip validating the files and estimating the cost"
    )
    p.set_defaults(handler=_cmd_prepare)

    v = sub.add_parser(
        "validate",
        help="check JSONL files against OpenAI's vision fine-tuning rules",
        description="Exit status 1 when any file has errors.",
    )
    v.add_argument("files", nargs="+", type=Path)
    v.add_argument(
        "--purpose",
        choices=["train", "validation", "test"],
        default=None,
        help="default: inferred from each file",
    )
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(handler=_cmd_validate)

    e = sub.add_parser("estimate", help="estimate training tokens and cost of a training file")
    e.add_argument("file", type=Path)
    e.add_argument("--epochs", default="3", help="number of epochs, or 'auto' (default 3)")
    e.add_argument("--model", default="gpt-4o-2024-08-06")
    e.add_argument(
        "--price",
        type=float,
        default=None,
        metavar="USD_PER_1M",
        help="override the training price per 1M tokens",
    )
    e.add_argument("--json", action="store_true", help="machine-readable output")
    e.set_defaults(handler=_cmd_estimate)

    from vqaft.evaluate._cli import add_commands as add_eval_commands

    add_eval_commands(sub)

    from vqaft.finetune._cli import add_commands as add_finetune_commands

    add_finetune_commands(sub)

    from vqaft.predict._cli import add_commands as add_predict_commands

    add_predict_commands(sub)

    from vqaft.pipeline._cli import add_commands as add_pipeline_commands

    add_pipeline_commands(sub)

    from vqaft.export._cli import add_commands as add_export_commands

    add_export_commands(sub)

    pl = sub.add_parser("plugins", help="list the registered components of every kind")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(handler=_cmd_plugins)
    return parser


def _cmd_prepare(args: argparse.Namespace) -> int:
    from vqaft.datasets.base import load_adapter
    from vqaft.messages.builder import DEFAULT_SYSTEM_PROMPT, MessageBuilder
    from vqaft.messages.estimate import estimate
    from vqaft.messages.images import ImagePolicy
    from vqaft.messages.validate import validate_many
    from vqaft.messages.writer import prepare

    dataset_args = dict(args.dataset_arg)
    adapter = load_adapter(args.dataset, **dataset_args)
    splits: dict[str, tuple[int | None, int]] = {}
    for split in ("train", "validation", "test"):
        n = getattr(args, split)
        if n != 0:
            splits[split] = (None if n < 0 else n, args.seed)
    builder = MessageBuilder(
        args.system_prompt or DEFAULT_SYSTEM_PROMPT,
        few_shot=_few_shot_examples(adapter, splits, args.few_shot, args.seed),
        detail=args.detail,
    )
    policy = ImagePolicy(
        format=args.image_format, quality=args.quality, resize=args.resize, max_side=args.max_side
    )
    manifest = prepare(
        adapter,
        args.out,
        splits=splits,
        builder=builder,
        policy=policy,
        workers=args.workers,
        on_error=args.on_error,
        progress=not args.no_progress,
        dataset_info={"name": args.dataset, "args": dataset_args},
    )
    print(manifest.summary())
    if args.no_check:
        return EXIT_OK
    files = [args.out / split.file for split in manifest.splits.values()]
    reports = validate_many(files)
    for report in reports:
        print(report.summary())
    if "train" in manifest.splits:
        print(estimate(args.out / manifest.splits["train"].file).format_text())
    return EXIT_FINDINGS if reports.has_errors else EXIT_OK


def _few_shot_examples(
    adapter: DatasetAdapter, splits: dict[str, tuple[int | None, int]], k: int, seed: int
) -> list[Example]:
    """One QA pair from each of ``k`` training images that the training sample does not use.

    The same shuffle that picks the training images continues past them, so few-shot images
    never repeat a training image and the choice is reproducible.
    """
    if k <= 0:
        return []
    n_train = splits.get("train", (0, seed))[0]
    if n_train is None:
        raise ConfigError(
            "--few-shot needs images outside the training sample, but --train -1 takes them all",
            hint="sample fewer training images, or drop --few-shot",
        )
    return few_shot_examples(adapter, k, n_train=n_train, seed=seed)


def _cmd_validate(args: argparse.Namespace) -> int:
    from vqaft.messages.validate import validate_many

    reports = validate_many(args.files, purpose=args.purpose)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        for report in reports:
            print(report.format_text())
    return EXIT_FINDINGS if any(r.has_errors for r in reports) else EXIT_OK


def _cmd_estimate(args: argparse.Namespace) -> int:
    from vqaft.messages.estimate import estimate

    epochs: int | str = args.epochs if args.epochs == "auto" else int(args.epochs)
    result = estimate(args.file, epochs=epochs, model=args.model, price_per_million=args.price)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.format_text())
    return EXIT_OK


def _cmd_plugins(args: argparse.Namespace) -> int:
    from vqaft.datasets.base import dataset_adapters
    from vqaft.evaluate.base import evaluators
    from vqaft.finetune.base import finetuners
    from vqaft.predict.base import predictors

    listing = {
        "datasets": dataset_adapters.names(),
        "evaluators": evaluators.names(),
        "finetuners": finetuners.names(),
        "predictors": predictors.names(),
    }
    if args.json:
        print(json.dumps(listing, indent=2))
    else:
        for kind, names in listing.items():
            print(f"{kind}: {', '.join(names) or '(none)'}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vqaft`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except VqaftError as error:
        print(f"vqaft {args.command}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"vqaft {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `vqaft validate ... | head`
        sys.stderr.close()
        return EXIT_OK
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
