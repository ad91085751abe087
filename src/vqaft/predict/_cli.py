"""The ``predict`` subcommand of the ``vqaft`` command line.

:func:`add_commands` adds it to the main parser's subparsers; the handler is a thin layer over
:func:`~vqaft.predict.predict_file` and :func:`~vqaft.predict.predict_batch`, returns an exit
code (0: every example answered; 1: some failed or are missing), and raises
:class:`~vqaft.errors.VqaftError` for bad input (the main command prints it as one line).

::

    vqaft predict runs/x/data/test.jsonl --model gpt-4o --temperature 0 --concurrency 32
    vqaft predict runs/x/data/test.jsonl --model gpt-4o --retry-failed
    vqaft predict runs/x/data/test.jsonl --model ft:gpt-4o-2024-08-06:acme::abc --batch
    vqaft predict runs/x/data/test.jsonl --model qwen2.5-vl --base-url http://localhost:8000/v1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vqaft._cli_args import key_value

if TYPE_CHECKING:
    from vqaft.predict.chat_format import RequestOptions
    from vqaft.predict.connection import OpenAIConnection
    from vqaft.predict.runner import PredictionSummary

__all__ = ["add_commands"]

EXIT_OK = 0
EXIT_INCOMPLETE = 1


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_commands(subparsers: Any) -> None:
    """Add ``predict`` to ``subparsers`` (from ``add_subparsers``)."""
    p = subparsers.add_parser(
        "predict",
        help="answer a test file's questions with a model (resumable; online or Batch API)",
        description="Send every example of TEST.jsonl (written by vqaft prepare, with its "
        ".ids.jsonl side file) to a chat model and append the answers to a predictions JSONL "
        "file. Rerunning skips what is already answered; --retry-failed asks failed examples "
        "again. The API key is read from the environment (--api-key-env), never from the "
        "command line.",
    )
    p.add_argument("test_file", type=Path, metavar="TEST.jsonl")
    p.add_argument("--model", required=True, help="model name (Azure: the deployment name)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="predictions file (default: predictions/<model>.jsonl in the run folder)",
    )
    p.add_argument(
        "--predictor",
        default="openai",
        metavar="NAME",
        help="registered predictor backend (default: openai)",
    )
    p.add_argument(
        "--predictor-arg",
        "-P",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="argument for a non-openai predictor backend, repeatable",
    )

    endpoint = p.add_argument_group("endpoint")
    endpoint.add_argument(
        "--base-url",
        metavar="URL",
        help="an OpenAI-compatible server, e.g. http://localhost:8000/v1",
    )
    endpoint.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable holding the API key (default OPENAI_API_KEY, or "
        "AZURE_OPENAI_API_KEY with --azure-endpoint)",
    )
    endpoint.add_argument("--azure-endpoint", metavar="URL", help="an Azure OpenAI resource")
    endpoint.add_argument("--api-version", help="Azure OpenAI API version")
    endpoint.add_argument("--organization", help="OpenAI organisation id")
    endpoint.add_argument("--project", help="OpenAI project id")
    endpoint.add_argument(
        "--timeout", type=float, default=120.0, metavar="S", help="seconds per request"
    )
    endpoint.add_argument(
        "--transport",
        choices=["auto", "httpx", "aiohttp"],
        default="auto",
        help="HTTP transport under the openai SDK (auto: aiohttp when installed with "
        "pip install 'openai[aiohttp]', which costs less CPU per request)",
    )

    request = p.add_argument_group("request options")
    request.add_argument("--temperature", type=float)
    request.add_argument("--top-p", type=float)
    request.add_argument("--max-tokens", type=_positive_int, metavar="N")
    request.add_argument(
        "--max-completion-tokens",
        type=_positive_int,
        metavar="N",
        help="the newer length limit OpenAI's reasoning models require",
    )
    request.add_argument("--seed", type=int)
    request.add_argument("--stop", action="append", metavar="TEXT", help="stop sequence")
    request.add_argument(
        "--option",
        "-O",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="another request-body field (JSON value), repeatable, e.g. -O top_k=20",
    )

    run = p.add_argument_group("run")
    run.add_argument(
        "--concurrency", type=_positive_int, default=16, metavar="N", help="requests in flight"
    )
    run.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=8,
        metavar="N",
        help="requests per example at most (retries on 429, 5xx, timeouts, dropped connections)",
    )
    run.add_argument(
        "--retry-failed", action="store_true", help="ask the examples that failed before again"
    )
    run.add_argument(
        "--batch", action="store_true", help="use the Batch API (half price, answers within 24 h)"
    )
    run.add_argument(
        "--no-wait",
        action="store_true",
        help="with --batch: submit, collect finished batches and return; rerun to collect",
    )
    run.add_argument(
        "--poll-interval",
        type=float,
        default=30.0,
        metavar="S",
        help="with --batch: seconds between status checks",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(handler=_cmd_predict)


def _options(args: argparse.Namespace) -> RequestOptions:
    from vqaft.errors import ConfigError
    from vqaft.predict.chat_format import RequestOptions

    try:
        return RequestOptions(
            temperature=args.temperature,
            top_p=args.top_p,
            max_tokens=args.max_tokens,
            max_completion_tokens=args.max_completion_tokens,
            seed=args.seed,
            stop=args.stop,
            extra=dict(args.option),
        )
    except ValueError as exc:
        raise ConfigError(f"invalid request options: {exc}") from None


def _connection(args: argparse.Namespace) -> OpenAIConnection:
    from vqaft.predict.connection import OpenAIConnection

    return OpenAIConnection(
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        azure_endpoint=args.azure_endpoint,
        api_version=args.api_version,
        organization=args.organization,
        project=args.project,
        timeout=args.timeout,
    )


def _cmd_predict(args: argparse.Namespace) -> int:
    from vqaft.errors import ConfigError
    from vqaft.predict.base import create_predictor
    from vqaft.predict.batch import predict_batch
    from vqaft.predict.openai_backend import OpenAIPredictor
    from vqaft.predict.retry import RetryPolicy
    from vqaft.predict.runner import predict_file

    options = _options(args)
    retry = RetryPolicy(max_attempts=args.max_attempts)
    progress = not args.no_progress
    if args.predictor != "openai" and (args.batch or args.base_url or args.azure_endpoint):
        raise ConfigError(
            "--batch, --base-url and --azure-endpoint belong to the openai predictor",
            hint="pass a plugin's settings with -P KEY=VALUE",
        )
    if args.batch:
        summary = predict_batch(
            args.test_file,
            args.model,
            out=args.out,
            connection=_connection(args),
            options=options,
            retry_failed=args.retry_failed,
            wait=not args.no_wait,
            poll_interval=args.poll_interval,
            retry_policy=RetryPolicy(max_attempts=min(args.max_attempts, 5)),
            progress=progress,
        )
    else:
        if args.predictor == "openai":
            if args.predictor_arg:
                raise ConfigError("-P/--predictor-arg is for non-openai predictors")
            predictor: Any = OpenAIPredictor(
                args.model,
                connection=_connection(args),
                options=options,
                retry=retry,
                transport=args.transport,
            )
        else:
            predictor = create_predictor(
                args.predictor, model=args.model, **dict(args.predictor_arg)
            )
        summary = predict_file(
            args.test_file,
            predictor,
            out=args.out,
            concurrency=args.concurrency,
            retry_failed=args.retry_failed,
            progress=progress,
        )
    _report(summary, as_json=args.json)
    # Examples still in running batches (--no-wait) are not a failure: rerun to collect them.
    missing = summary.missing if not summary.pending_batches else 0
    return EXIT_OK if summary.failed_total == 0 and missing == 0 else EXIT_INCOMPLETE


def _report(summary: PredictionSummary, *, as_json: bool) -> None:
    if as_json:
        data = summary.model_dump(mode="json")
        data["complete"] = summary.complete
        print(json.dumps(data, indent=2))
    else:
        print(summary.format_text())
    sys.stdout.flush()
