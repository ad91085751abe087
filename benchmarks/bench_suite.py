"""Benchmark: ``EvaluationSuite.run`` on two large prediction sets, before and after.

Three sides run the same suite (exact + lenient + fuzzy + anls, grouped by question type) on
the same two synthetic prediction sets, alternating, ``--repeats`` times each:

* **previous code** -- the vqaft source of ``--baseline-rev`` (default: the commit before the
  normal approximation arrived), unpacked with ``git archive`` into a temporary folder and run
  in a subprocess on the same data: bootstrap and permutation test everywhere, and per-item
  Python loops to gather each group's scores. Only ``suite.run`` is timed there too.
* **bootstrap everywhere** -- this code with ``normal_min_n=0``: the same resampling as
  before (the output checks that its numbers equal the previous code's), with the new
  array-based grouping.
* **default** -- this code as it ships: groups of at least ``normal_min_n`` items (2,000) get
  the normal (central limit) interval and the normal approximation of the sign-flip test;
  smaller groups still resample.

The data imitate an OCR-VQA prediction set (the text generator of ``bench_metrics.py``):
40% yes/no, 20% genres, 20% titles, 20% authors, so a suite reports four question-type
groups besides "All". Model B answers the same examples, right more often than model A on
some of them. The output also reports how far the default's intervals and p-values are from
the resampled ones (they should agree to about 1e-3).

Run: ``nice -n 10 python benchmarks/bench_suite.py [--items 30000] [--repeats 3]
[--baseline-rev REV | --no-previous]``
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_metrics import _FIRST, _typo, make_pairs  # noqa: E402 - a sibling script

from vqaft.datasets.ocr_vqa_questions import CATEGORIES  # noqa: E402
from vqaft.evaluate import EvaluationSuite, PredictionSet  # noqa: E402
from vqaft.evaluate.suite_result import SuiteResult  # noqa: E402

EVALUATORS = ("exact", "lenient", "fuzzy", "anls")

_GENRES = frozenset(CATEGORIES)
_FIRST_NAMES = frozenset(_FIRST)


def _question(gold: str) -> str:
    """An OCR-VQA question that fits the gold answer's kind."""
    if gold in ("Yes", "No"):
        return "Is this a kids book?"
    if gold in _GENRES:
        return "What type of book is this?"
    if gold.split()[0] in _FIRST_NAMES:
        return "Who wrote this book?"
    return "What is the title of this book?"


def make_sets(n: int, seed: int = 0) -> tuple[PredictionSet, PredictionSet]:
    """Two prediction sets (models A and B) over the same ``n`` OCR-VQA-like examples."""
    predictions_a, golds = make_pairs(n, seed)
    rng = np.random.default_rng(seed + 1)
    predictions_b = list(predictions_a)
    fate = rng.random(n)
    for i in np.flatnonzero(fate < 0.12):  # B gets these right
        predictions_b[i] = golds[i]
    for i in np.flatnonzero((fate >= 0.12) & (fate < 0.18)):  # B mistypes these
        predictions_b[i] = _typo(golds[i], rng)
    questions = [_question(g) for g in golds]

    def build(predictions: list[str], model: str) -> PredictionSet:
        return PredictionSet.from_records(
            (
                {
                    "example_id": i,
                    "predicted_answer": p,
                    "actual_answer": g,
                    "question": q,
                    "model": model,
                }
                for i, (p, g, q) in enumerate(zip(predictions, golds, questions, strict=True))
            ),
            source=f"{model}.jsonl",
        )

    return build(predictions_a, "model-a"), build(predictions_b, "model-b")


def _suite(normal_min_n: int | None) -> EvaluationSuite:
    options: dict[str, Any] = {"group_by": ["question_type"]}
    if normal_min_n is not None:
        options["normal_min_n"] = normal_min_n
    return EvaluationSuite(EVALUATORS, **options)


def _run(sets: dict[str, PredictionSet], normal_min_n: int | None) -> tuple[float, SuiteResult]:
    suite = _suite(normal_min_n)
    start = time.perf_counter()
    result = suite.run(sets)
    return time.perf_counter() - start, result


def _numbers(result: SuiteResult) -> str:
    """The result as JSON without its time stamp and the new setting (to compare runs)."""
    data = json.loads(result.model_dump_json())
    data.pop("created_at")
    data["suite"].pop("normal_min_n", None)
    return json.dumps(data, sort_keys=True)


def _worker(args: argparse.Namespace) -> None:
    """Run the suite once with whatever vqaft is importable; print the seconds, save numbers."""
    set_a, set_b = make_sets(args.items, args.seed)
    has_setting = "normal_min_n" in inspect.signature(EvaluationSuite).parameters
    seconds, result = _run({"model-a": set_a, "model-b": set_b}, 0 if has_setting else None)
    Path(args.worker).write_text(_numbers(result), encoding="utf-8")
    print(json.dumps({"seconds": seconds}))


def _unpack(rev: str, folder: Path) -> Path:
    """The ``src`` folder of ``rev``, unpacked from git into ``folder``."""
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", "--format=tar", rev, "src"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, filter="data")
        else:  # a Python without extraction filters; the archive is git's own
            tar.extractall(folder)
    return folder / "src"


def _default_baseline() -> str:
    """The parent of the commit that brought the normal approximation (HEAD before it)."""
    introduced = subprocess.run(
        [
            *("git", "-C", str(HERE.parent), "log", "--reverse", "--format=%H"),
            *("-S", "NORMAL_MIN_N", "--", "src/vqaft/evaluate/statistics.py"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return f"{introduced[0]}^" if introduced else "HEAD"


def _run_previous(source: Path, args: argparse.Namespace, out: Path) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(source))
    done = subprocess.run(
        [
            *(sys.executable, str(Path(__file__).resolve()), "--worker", str(out)),
            *("--items", str(args.items), "--seed", str(args.seed)),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
    return seconds, out.read_text(encoding="utf-8")


def _largest_gaps(old: SuiteResult, new: SuiteResult) -> tuple[float, float, set[str]]:
    """The largest gaps between the two runs' interval ends and p-values, and new methods."""
    ends = 0.0
    methods: set[str] = set()
    for name, model in new.models.items():
        for group, summaries in ((g, r.summaries) for g, r in model.evaluation.groups.items()):
            for label, summary in summaries.items():
                before = old.models[name].evaluation.groups[group].summaries[label].interval
                if summary.interval is None or before is None:
                    continue
                methods.add(summary.interval.method)
                ends = max(
                    ends,
                    abs(summary.interval.low - before.low),
                    abs(summary.interval.high - before.high),
                )
    p_values = 0.0
    for before_pair, pair in zip(old.comparisons, new.comparisons, strict=True):
        for group, per_label in pair.result.comparisons.items():
            for label, comparison in per_label.items():
                resampled = before_pair.result.comparisons[group][label]
                methods.add(comparison.interval.method)
                methods.add(comparison.test)
                ends = max(
                    ends,
                    abs(comparison.interval.low - resampled.interval.low),
                    abs(comparison.interval.high - resampled.interval.high),
                )
                p_values = max(p_values, abs(comparison.p_value - resampled.p_value))
    return ends, p_values, methods


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=30_000, help="examples per model")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-rev", help="git revision of the previous code")
    parser.add_argument("--no-previous", action="store_true", help="skip the previous code")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    start = time.perf_counter()
    set_a, set_b = make_sets(args.items, args.seed)
    sets = {"model-a": set_a, "model-b": set_b}
    print(f"built 2 x {args.items:,} predictions in {time.perf_counter() - start:.1f} s")

    sides = {
        "previous": "previous code (bootstrap everywhere)",
        "bootstrap": "this code, normal_min_n=0",
        "default": "this code, default (normal_min_n=2000)",
    }
    times: dict[str, list[float]] = {side: [] for side in sides}
    results: dict[str, SuiteResult] = {}
    previous_numbers = ""
    with tempfile.TemporaryDirectory() as scratch:
        source: Path | None = None
        if not args.no_previous:
            rev = args.baseline_rev or _default_baseline()
            source = _unpack(rev, Path(scratch))
            print(f"previous code: {rev} (unpacked from git)")
        for _ in range(args.repeats):  # alternate the sides so load changes hit all alike
            if source is not None:
                seconds, previous_numbers = _run_previous(source, args, Path(scratch) / "r.json")
                times["previous"].append(seconds)
            for side, threshold in (("bootstrap", 0), ("default", 2000)):
                seconds, results[side] = _run(sets, threshold)
                times[side].append(seconds)
    groups = results["default"].models["model-a"].evaluation.groups
    print("groups: " + ", ".join(f"{g} ({r.n_items:,})" for g, r in groups.items()))
    for side, label in sides.items():
        if times[side]:
            runs = ", ".join(f"{t:.2f}" for t in times[side])
            print(f"{label:<42} median {statistics.median(times[side]):6.2f} s  ({runs})")
    default = statistics.median(times["default"])
    for side in ("previous", "bootstrap"):
        if times[side]:
            ratio = statistics.median(times[side]) / default
            print(f"speed-up of the default over {sides[side]}: {ratio:.1f}x")
    if previous_numbers:
        same = previous_numbers == _numbers(results["bootstrap"])
        print(
            "numbers of normal_min_n=0 vs the previous code: "
            + ("identical" if same else "DIFFERENT")
        )
    ends, p_values, methods = _largest_gaps(results["bootstrap"], results["default"])
    print(
        f"largest gap default vs resampled: interval ends {ends:.2e}, p-values {p_values:.2e}; "
        f"methods and tests used by default: {', '.join(sorted(methods))}"
    )


if __name__ == "__main__":
    main()
