"""Benchmark: the offline demo path end to end with the local backend, on 2 cores.

Runs what ``vqaft demo`` will run, timing each stage:

1. prepare the synthetic covers at the cookbook's sizes (150 / 50 / 100 images, seed 42);
2. fine-tune the local model (OCR of the training and validation covers, then the fit);
3. predict the test file with ``local/base`` and with the fine-tuned model (OCR of the test
   covers happens once, for the first model; the second reads the cache);
4. score both with the lenient rule, per question type, with McNemar's exact test.

The OCR cache starts empty (a fresh temporary folder) unless ``--cache-dir`` is given, so the
default run measures a first run on a fresh machine. ``--compare-workers`` also times OCR of
the same covers with one worker and with all workers, side by side, and prints the ratio.

Usage::

    .venv/bin/python benchmarks/bench_local.py                    # cold cache, all cores
    .venv/bin/python benchmarks/bench_local.py --compare-workers 20
    .venv/bin/python benchmarks/bench_local.py --out runs/bench-local --cache-dir /tmp/ocr
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from vqaft.datasets.synthetic import SyntheticCoversAdapter
from vqaft.evaluate.predictions import load_predictions
from vqaft.evaluate.question_types import ocr_vqa_question_type
from vqaft.evaluate.statistics import paired_comparison
from vqaft.evaluate.strings import LenientMatch
from vqaft.local.backends import LocalFineTuner, LocalPredictor
from vqaft.local.ocr import OcrService, rapidocr_available
from vqaft.local.records import read_chat_file
from vqaft.messages.writer import prepare
from vqaft.predict import predict_file
from vqaft.predict.testfile import model_slug


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def compare_workers(test_file: Path, count: int) -> None:
    """Time OCR of ``count`` covers with 1 worker and with all cores (no disk cache)."""
    images = list({item.image: None for item in read_chat_file(test_file).items})[:count]
    results = {}
    for workers in (1, _cpus()):
        with OcrService(False, workers=workers) as ocr:
            ocr.read(images[0])  # load the models before timing
            started = time.perf_counter()
            ocr.read_many(images[1:])
            results[workers] = (time.perf_counter() - started) / max(1, len(images) - 1)
    one, many = results[1], results[_cpus()]
    print(
        f"OCR wall time per cover: 1 worker {one:.3f} s, {_cpus()} workers {many:.3f} s "
        f"(ratio {one / many:.2f}x)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="run folder (default: a temporary one)")
    parser.add_argument("--cache-dir", type=Path, help="OCR cache (default: fresh, empty)")
    parser.add_argument("--workers", type=int, default=None, help="OCR workers (default: cores)")
    parser.add_argument(
        "--compare-workers",
        type=int,
        default=0,
        metavar="N",
        help="also time OCR of N covers with 1 worker vs all cores",
    )
    args = parser.parse_args()
    if not rapidocr_available():
        print("rapidocr-onnxruntime is not installed: pip install 'vqaft[local]'")
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        run = args.out or Path(tmp) / "run"
        cache = args.cache_dir or Path(tmp) / "ocr-cache"
        models = run / "models"
        timings: dict[str, float] = {}
        started = time.perf_counter()
        prepare(SyntheticCoversAdapter(seed=0), run / "data", progress=False)
        timings["prepare"] = time.perf_counter() - started

        mark = time.perf_counter()
        tuner = LocalFineTuner(
            run / "finetune",
            models_dir=models,
            cache_dir=cache,
            workers=args.workers,
            progress=sys.stderr.isatty(),
        )
        result = tuner.fine_tune(run / "data" / "train.jsonl", run / "data" / "validation.jsonl")
        timings["fine-tune (OCR 200 covers + fit)"] = time.perf_counter() - mark
        model_id = result.job.fine_tuned_model or ""
        report = json.loads((run / "finetune" / "job.json").read_text())["request"]["report"]

        outputs = {}
        for model in ("local/base", model_id):
            mark = time.perf_counter()
            predictor = LocalPredictor(
                model, models_dir=models, cache_dir=cache, workers=args.workers
            )
            out = run / "predictions" / f"{model_slug(model)}.jsonl"
            predict_file(
                run / "data" / "test.jsonl", predictor, out=out, progress=sys.stderr.isatty()
            )
            timings[f"predict {model}"] = time.perf_counter() - mark
            outputs[model] = out
        timings["total"] = time.perf_counter() - started

        print(f"\nmachine: {_cpus()} cores; fine-tuned model {model_id}")
        print(f"OCR per cover (busy time of one worker): {report['ocr_seconds_per_image']:.3f} s")
        for name, seconds in timings.items():
            print(f"  {name:40s} {seconds:7.1f} s")

        scores = {}
        questions: list[str] = []
        for model, path in outputs.items():
            records = sorted(load_predictions(path).records, key=lambda r: r.example_id)
            questions = [r.question or "" for r in records]
            batch = LenientMatch().score_batch(
                [r.predicted_answer or "" for r in records],
                [list(r.actual_answer or ()) for r in records],
            )
            scores[model] = np.asarray(batch.values)
        types = [ocr_vqa_question_type(q) for q in questions]
        groups: dict[str, list[int]] = defaultdict(list)
        for index, name in enumerate(types):
            groups[name].append(index)
        groups["all"] = list(range(len(types)))
        base, tuned = scores["local/base"], scores[model_id]
        print(f"\nlenient accuracy   {'n':>4s}  {'base':>6s}  {'fine-tuned':>10s}  p (McNemar)")
        for name, rows in sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0])):
            comparison = paired_comparison(tuned[rows], base[rows], binary=True)
            print(
                f"  {name:16s} {len(rows):4d}  {base[rows].mean():6.3f}  {tuned[rows].mean():10.3f}"
                f"  {comparison.p_value:.2g}"
            )
        if args.compare_workers:
            compare_workers(run / "data" / "test.jsonl", args.compare_workers + 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
