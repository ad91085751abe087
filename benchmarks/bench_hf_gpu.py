"""The open-model path on a GPU: LoRA training with the ``trl`` fine-tuner and batched
prediction with the ``hf`` predictor, in bf16, with throughput in samples per second.

Side by side in one run (timings on a shared machine are noisy; compare within a run):

* training: bf16 vs fp32 (on a GPU); samples/s of each and their ratio;
* prediction: the ``hf`` predictor batched (``--batch-size``) vs one request at a time;
  samples/s of each and their ratio.

Without a GPU it says so and measures the CPU in fp32 only (the figures then describe this
machine's CPU, not a GPU). Everything is offline: by default the tiny random Qwen2-VL of
``vqaft.hf.tiny`` (``--model PATH`` takes a local model folder instead, e.g. a downloaded
Qwen2.5-VL; ``--processor-class`` when the Auto classes cannot load it).

    python benchmarks/bench_hf_gpu.py                     # tiny model, 64 examples
    python benchmarks/bench_hf_gpu.py --examples 256 --image-size 224 --model /models/qwen2.5-vl-3b
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _train(
    model: str, processor_class: str | None, data: Path, run_dir: Path, precision: str, args: Any
) -> dict[str, Any]:
    from vqaft.finetune import FineTuneConfig, Hyperparameters
    from vqaft.hf.trl_finetuner import TRLFineTuner

    tiny = args.model is None
    tuner = TRLFineTuner(
        run_dir,
        processor_class=processor_class,
        precision=precision,
        learning_rate=1e-2 if tiny else 2e-4,
        lora_r=8 if tiny else 16,
        lora_alpha=16 if tiny else 32,
        target_modules=(
            ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
            if tiny
            else "all-linear"
        ),
        modules_to_save=["lm_head"] if tiny else None,
        torch_threads=None if args.cuda else 1,
        eval_steps=0.5,
    )
    started = time.perf_counter()
    result = tuner.fine_tune(
        data / "train.jsonl",
        data / "validation.jsonl",
        config=FineTuneConfig(
            model=model,
            suffix="bench",
            hyperparameters=Hyperparameters(n_epochs=args.epochs, batch_size=args.batch_size),
        ),
    )
    seconds = time.perf_counter() - started
    from vqaft.hf.metadata import read_adapter_metadata

    meta = read_adapter_metadata(result.job.fine_tuned_model or "")
    losses = (
        [v for v in result.metrics.column("train_loss") if v is not None] if result.metrics else []
    )
    return {
        "precision": precision,
        "wall_s": round(seconds, 2),
        "train_samples_per_second": (
            meta.metrics.get("train_samples_per_second") if meta else None
        ),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "adapter": result.job.fine_tuned_model,
    }


def _predict(adapter: str, test: Path, batch_size: int, args: Any) -> dict[str, Any]:
    from vqaft.hf.hf_predictor import HFPredictor
    from vqaft.predict import predict_file

    predictor = HFPredictor(
        adapter,
        batch_size=batch_size,
        max_new_tokens=args.max_new_tokens,
        torch_threads=None if args.cuda else 1,
    )
    out = test.parent / f"predictions-b{batch_size}.jsonl"
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    summary = predict_file(test, predictor, out=out, concurrency=max(2 * batch_size, 2))
    seconds = time.perf_counter() - started
    predictor.close()
    return {
        "batch_size": batch_size,
        "answered": summary.answered,
        "wall_s": round(seconds, 2),
        "samples_per_second": round(summary.answered / seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a local model folder (default: the tiny random VLM)")
    parser.add_argument("--processor-class", help="module:Class for --model's processor")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch is not installed: pip install 'vqaft[hf]'", file=sys.stderr)
        return 2
    from vqaft.hf.tiny import TINY_PROCESSOR_CLASS, build_tiny_vlm
    from vqaft.hf.tiny_data import ANSWERS, write_tiny_split

    args.cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if args.cuda else "cpu"
    if args.cuda:
        print(f"GPU: {device} (torch {torch.__version__})")
    else:
        print("no GPU available: measuring the CPU in fp32 only (not GPU figures)")
    with tempfile.TemporaryDirectory(prefix="vqaft-bench-hf-") as tmp:
        root = Path(tmp)
        if args.model is None:
            model = str(build_tiny_vlm(root / "tiny", corpus=ANSWERS))
            processor_class: str | None = TINY_PROCESSOR_CLASS
        else:
            model, processor_class = args.model, args.processor_class
        data = root / "data"
        write_tiny_split(data, "train", args.examples, image_size=args.image_size)
        write_tiny_split(data, "validation", max(4, args.examples // 8), image_size=args.image_size)
        test = write_tiny_split(
            data, "test", args.examples, answers=False, image_size=args.image_size
        )
        precisions = ["bf16", "fp32"] if args.cuda else ["fp32"]
        training = [
            _train(model, processor_class, data, root / f"run-{p}", p, args) for p in precisions
        ]
        adapter = str(training[0]["adapter"])
        prediction = [_predict(adapter, test, b, args) for b in (args.batch_size, 1)]
    figures: dict[str, Any] = {
        "device": device,
        "model": args.model or "tiny random Qwen2-VL",
        "examples": args.examples,
        "image_size": args.image_size,
        "training": training,
        "prediction": prediction,
    }
    print(f"\ntraining ({args.examples} examples x {args.epochs} epochs, batch {args.batch_size}):")
    for row in training:
        print(
            f"  {row['precision']:>5}: {row['train_samples_per_second']} samples/s "
            f"(wall {row['wall_s']} s incl. loading), loss {row['first_loss']:.3f} -> "
            f"{row['last_loss']:.3f}"
        )
    if len(training) == 2 and training[1]["train_samples_per_second"]:
        ratio = training[0]["train_samples_per_second"] / training[1]["train_samples_per_second"]
        figures["bf16_over_fp32"] = round(ratio, 2)
        print(f"  bf16 / fp32 throughput: {ratio:.2f}x")
    print("prediction (hf predictor, adapter applied):")
    for row in prediction:
        print(f"  batch {row['batch_size']:>3}: {row['samples_per_second']} samples/s")
    ratio = prediction[0]["samples_per_second"] / max(prediction[1]["samples_per_second"], 1e-9)
    figures["batched_over_single"] = round(ratio, 2)
    print(f"  batched / one at a time: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
