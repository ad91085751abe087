"""``python -m vqaft.hf.train``: LoRA-train an open VLM on vqaft's chat JSONL files.

The command line of the ``trl`` fine-tuner, for training outside an experiment and for
training on several GPUs or machines, where ``accelerate launch`` starts one process per GPU::

    python -m vqaft.hf.train runs/x/data/train.jsonl --validation runs/x/data/validation.jsonl \\
        --model Qwen/Qwen2.5-VL-3B-Instruct --run-dir runs/x/finetune --epochs 2 --suffix covers

    accelerate launch --config_file examples/accelerate-config.yaml -m vqaft.hf.train \\
        runs/x/data/train.jsonl --model Qwen/Qwen2.5-VL-7B-Instruct --run-dir runs/x/finetune

Progress goes to stderr; the result (``--json``: the ``FineTuneResult``) to stdout. Only the
main process writes the run directory and prints the result. Exit status: 0 trained (or
re-attached to the finished job), 2 an error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vqaft._cli_args import key_value
from vqaft.errors import VqaftError

__all__ = ["build_parser", "main"]


def _modules(text: str) -> str | list[str]:
    """``q_proj,v_proj`` -> a list; anything else (a regex, ``all-linear``) as it is."""
    if "," in text:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m vqaft.hf.train``."""
    p = argparse.ArgumentParser(
        prog="python -m vqaft.hf.train",
        description="LoRA fine-tuning of an open vision-language model with TRL on vqaft's "
        "chat-format JSONL files. Writes the adapter, its metadata and the loss per step to "
        "the run directory. Run it again with the same files and settings to re-attach "
        "instead of training twice.",
    )
    p.add_argument("train", type=Path, metavar="TRAIN.jsonl")
    p.add_argument("--validation", type=Path, metavar="VAL.jsonl")
    p.add_argument("--model", required=True, help="base model: hub id or folder")
    p.add_argument("--run-dir", type=Path, metavar="DIR", help="default: finetune/ next to TRAIN")
    p.add_argument("--epochs", type=int, help="default 3")
    p.add_argument("--batch-size", type=int, help="per device, default 4")
    p.add_argument("--lr-multiplier", type=float, help="scales --learning-rate")
    p.add_argument("--seed", type=int, help="default 42")
    p.add_argument("--suffix", help="the adapter's name (the LoRA module name for vLLM)")
    p.add_argument("--metadata", action="append", type=key_value, default=[], metavar="K=V")
    p.add_argument("--new-job", action="store_true", help="replace a job trained on other data")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    t = p.add_argument_group("training (TRLSettings)")
    t.add_argument("--learning-rate", type=float)
    t.add_argument("--lora-r", type=int)
    t.add_argument("--lora-alpha", type=int)
    t.add_argument("--lora-dropout", type=float)
    t.add_argument(
        "--target-modules", type=_modules, help="comma-separated names, a regex or all-linear"
    )
    t.add_argument("--modules-to-save", type=_modules)
    t.add_argument("--grad-accum", dest="gradient_accumulation_steps", type=int)
    t.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"])
    t.add_argument("--quantization", choices=["none", "4bit", "8bit"])
    t.add_argument("--max-steps", type=int)
    t.add_argument("--max-length", type=int)
    t.add_argument("--gradient-checkpointing", action="store_true", default=None)
    t.add_argument("--save-steps", type=float, help="write resumable checkpoints")
    t.add_argument("--torch-threads", type=int)
    t.add_argument("--processor-class", metavar="MODULE:CLASS")
    t.add_argument("--model-class", metavar="MODULE:CLASS")
    t.add_argument(
        "--option",
        "-O",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="any other TRLSettings key (JSON value), e.g. -O eval_steps=50 "
        '-O \'trainer_args={"optim": "adamw_torch"}\'',
    )
    return p


_SETTING_FLAGS = (
    "learning_rate",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "modules_to_save",
    "gradient_accumulation_steps",
    "precision",
    "quantization",
    "max_steps",
    "max_length",
    "gradient_checkpointing",
    "save_steps",
    "torch_threads",
    "processor_class",
    "model_class",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status."""
    from vqaft.finetune._cli import CliProgress
    from vqaft.finetune.base import FineTuneConfig, Hyperparameters, LoggingProgress

    args = build_parser().parse_args(argv)
    main_process = int(os.environ.get("RANK", "0")) == 0
    settings: dict[str, Any] = {
        name: getattr(args, name) for name in _SETTING_FLAGS if getattr(args, name) is not None
    }
    settings.update(dict(args.option))
    try:
        from vqaft.hf.trl_finetuner import TRLFineTuner

        hyper: dict[str, Any] = {}
        if args.epochs is not None:
            hyper["n_epochs"] = args.epochs
        if args.batch_size is not None:
            hyper["batch_size"] = args.batch_size
        if args.lr_multiplier is not None:
            hyper["learning_rate_multiplier"] = args.lr_multiplier
        config = FineTuneConfig(
            model=args.model,
            hyperparameters=Hyperparameters(**hyper),
            suffix=args.suffix,
            seed=args.seed,
            metadata=dict(args.metadata) or None,
        )
        quiet = args.no_progress or not main_process
        progress = LoggingProgress() if quiet else CliProgress(bars=True)
        tuner = TRLFineTuner(args.run_dir, progress=progress, **settings)
        result = tuner.fine_tune(args.train, args.validation, config=config, new_job=args.new_job)
    except VqaftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # pydantic: a bad hyperparameter
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if main_process:
        if args.json:
            print(result.model_dump_json(indent=2))
        else:
            print(result.summary())
            print(f"run directory: {result.run_dir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
