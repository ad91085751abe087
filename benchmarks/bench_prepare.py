"""Benchmark: building a training JSONL at the cookbook's image settings, ours vs the seed's way.

Both sides turn the same OCR-VQA-shaped rows (one book cover + its questions and answers per
row) into the same chat-format training file, with every image re-encoded as JPEG quality 100
at full size (``ImagePolicy.cookbook()``):

* **ours**: ``vqaft.messages.writer.write_split`` - one encode per image (on a thread pool
  when ``workers > 1``), image URLs spliced into the output as bytes, the output written on a
  background thread, and its content digest (each image hashed once) recorded.
* **seed**: the cookbook notebook's approach, re-implemented here: a pandas DataFrame of rows,
  images opened with Pillow, ``explode`` into one row per QA pair, then - for every QA row -
  convert + re-encode the image as JPEG q=100, base64 it, build the message dict, collect the
  dicts in a list and ``json.dump`` them line by line. One process.

The two files are compared byte for byte (both sides build identical records), so the speed-up
is for the very same output. Covers are generated once, up front, and not timed. The sides
run alternately (``--repeat`` times each) and medians are compared; before each timed run the
previous output is deleted and the disk cache flushed (``os.sync``), so no run pays for
writing back another's file.

Each run also prints its *steal*: the share of CPU time the hypervisor gave to other guests
(from ``/proc/stat``). On a shared VM the second vCPU is often taken away exactly while both
are busy, which slows ours (two threads) and not the seed (one); the summary adds the ratio
over the runs where ours had at most 10% steal, beside the ratio over all runs.

Usage::

    .venv/bin/python benchmarks/bench_prepare.py                # 2,000 images, ~9,600 QA pairs
    .venv/bin/python benchmarks/bench_prepare.py --images 300   # a quick run
    .venv/bin/python benchmarks/bench_prepare.py --skip-seed    # ours only
    .venv/bin/python benchmarks/bench_prepare.py --also-workers 1   # also in-process encoding
    .venv/bin/python benchmarks/bench_prepare.py --repeat 5         # more alternating runs
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vqaft.messages._encode_pool import resolve_workers
from vqaft.messages.builder import DEFAULT_SYSTEM_PROMPT, MessageBuilder
from vqaft.messages.images import ImagePolicy
from vqaft.messages.writer import write_split
from vqaft.types import Example, ImageRef

GENRES = ("Cookbooks, Food & Wine", "History", "Travel", "Romance", "Law", "Self-Help")
WORDS = ("Garden", "Secret", "River", "Complete", "Guide", "Night", "Modern", "Cooking", "Atlas")
NAMES = ("Maria Lopez", "John Smith", "Aiko Tanaka", "Peter Novak", "Grace Obi", "Lena Berg")


def make_cover(index: int, rng: np.random.Generator) -> tuple[bytes, str, str, str]:
    """One ~300x470 JPEG book cover (gradient, blocks, title and author text, a little grain).

    Returns the JPEG bytes, the title, the author and the genre.
    """
    width, height = int(rng.integers(280, 321)), int(rng.integers(440, 501))
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    pixels = top[None, None, :] * (1 - ramp) + bottom[None, None, :] * ramp
    pixels = np.broadcast_to(pixels, (height, width, 3)) + rng.normal(0, 6, (height, width, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 5))):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        x1, y1 = x0 + int(rng.integers(30, width - x0 + 1)), y0 + int(rng.integers(30, 160))
        draw.rectangle((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    title = " ".join(str(rng.choice(WORDS)) for _ in range(int(rng.integers(2, 4))))
    author = str(rng.choice(NAMES))
    big, small = ImageFont.load_default(size=30), ImageFont.load_default(size=18)
    for line, word in enumerate(title.split()):
        draw.text((18, 40 + 38 * line), word, font=big, fill=(255, 255, 255))
    draw.text((18, height - 60), author, font=small, fill=(10, 10, 10))
    draw.text((18, height - 30), f"No. {index}", font=small, fill=(10, 10, 10))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue(), title, author, str(rng.choice(GENRES))


def make_rows(n_images: int, seed: int = 0) -> list[dict[str, Any]]:
    """OCR-VQA-shaped rows: image{bytes}, image_id, questions, answers (4-6 QA, mean 4.8)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(n_images):
        data, title, author, genre = make_cover(index, rng)
        qa = [
            ("What is the title of this book?", title),
            ("Who wrote this book?", author),
            ("What type of book is this?", genre),
            (f"Is this book related to {genre}?", "Yes"),
            ("Is this a kids book?", "No"),
            ("Is this book related to Law?", "Yes" if genre == "Law" else "No"),
        ]
        count = int(rng.choice([4, 5, 6], p=[0.4, 0.4, 0.2]))
        rows.append(
            {
                "image": {"bytes": data, "path": None},
                "image_id": f"{index:010d}",
                "questions": [q for q, _ in qa[:count]],
                "answers": [a for _, a in qa[:count]],
            }
        )
    return rows


def examples_from_rows(rows: list[dict[str, Any]]) -> Iterator[Example]:
    """What an adapter yields for these rows: one Example per QA pair, grouped by image."""
    for row in rows:
        image = ImageRef(data=row["image"]["bytes"])
        for k, (question, answer) in enumerate(zip(row["questions"], row["answers"], strict=True)):
            yield Example(
                id=f"{row['image_id']}:{k}",
                image=image,
                question=question,
                answers=(answer,),
                image_id=row["image_id"],
                split="train",
            )


CPU: dict[str, float] = {}
"""CPU seconds (all threads of this process) of the last run of each side."""


def cpu_counters() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(value) for value in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    steal = fields[7] if len(fields) > 7 else 0
    return steal, sum(fields[:8])


def steal_since(before: tuple[int, int] | None) -> float | None:
    """The share (%) of CPU time the hypervisor gave to other guests since ``before``: on a
    shared VM, how much of the two vCPUs a run did not get. None where unknown."""
    after = cpu_counters()
    if before is None or after is None or after[1] == before[1]:
        return None
    return 100 * (after[0] - before[0]) / (after[1] - before[1])


def steal_text(steal: float | None) -> str:
    return "" if steal is None else f" steal {steal:2.0f}%"


STEAL_LIMIT = 10.0
"""Runs of ours with more steal than this (%) did not get two cores' worth of CPU."""


def run_ours(rows: list[dict[str, Any]], path: Path, workers: int | None) -> float:
    started, cpu = time.perf_counter(), time.process_time()
    write_split(
        examples_from_rows(rows),
        path,
        builder=MessageBuilder(),
        policy=ImagePolicy.cookbook(),
        include_answer=True,
        workers=workers,
    )
    CPU["ours"] = time.process_time() - cpu
    return time.perf_counter() - started


def run_seed(rows: list[dict[str, Any]], path: Path) -> float:
    """The cookbook's way, in our own words (see the module docstring)."""
    import pandas as pd

    started, cpu = time.perf_counter(), time.process_time()
    frame = pd.DataFrame(rows)
    frame["image"] = frame["image"].apply(lambda cell: Image.open(io.BytesIO(cell["bytes"])))
    frame = frame.explode(["questions", "answers"])
    frame = frame.rename(columns={"questions": "question", "answers": "answer"})

    def to_base64_jpeg(image: Image.Image, quality: int = 100) -> str:
        if image.mode != "RGB":
            image = image.convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        return base64.b64encode(buffer.getvalue()).decode("utf-8")

    records = []
    for _, row in frame.iterrows():
        url = "data:image/jpeg;base64," + to_base64_jpeg(row["image"])
        records.append(
            {
                "messages": [
                    {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": row["question"]},
                            {"type": "image_url", "image_url": {"url": url, "detail": "auto"}},
                        ],
                    },
                    {"role": "assistant", "content": row["answer"]},
                ]
            }
        )
    with open(path, "w") as handle:
        for record in records:
            json.dump(record, handle)
            handle.write("\n")
    CPU["seed"] = time.process_time() - cpu
    return time.perf_counter() - started


def settle(*remove: Path) -> None:
    """Before a timed run (not timed): delete the output it will replace, then flush every
    dirty page to disk. Each side writes ~0.9 GB; without this, the kernel writes the previous
    run's file back while the next run is being timed, and whichever side runs next pays."""
    for path in remove:
        path.unlink(missing_ok=True)
    os.sync()
    time.sleep(1.0)


def same_file(a: Path, b: Path, chunk: int = 1 << 22) -> bool:
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            block_a, block_b = fa.read(chunk), fb.read(chunk)
            if block_a != block_b:
                return False
            if not block_a:
                return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="number of covers (2000)")
    parser.add_argument(
        "--workers", type=int, default=None, help="our encoding threads (default: one per CPU)"
    )
    parser.add_argument("--skip-seed", action="store_true", help="time ours only")
    parser.add_argument(
        "--also-workers",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="also time ours with N encoding threads (repeatable)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs of each side, alternating ours and seed (3); medians are compared",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for the files (tmp)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the covers")
    args = parser.parse_args(argv)

    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"ours uses workers={resolve_workers(args.workers)} encoding threads (1 = inline)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    started = time.perf_counter()
    rows = make_rows(args.images, args.seed)
    n_pairs = sum(len(row["questions"]) for row in rows)
    mean_kb = sum(len(row["image"]["bytes"]) for row in rows) / len(rows) / 1e3
    print(
        f"generated {len(rows)} covers ({mean_kb:.0f} kB JPEG on average), {n_pairs} QA pairs "
        f"in {time.perf_counter() - started:.1f} s (not timed below)"
    )

    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        ours_path, seed_path = Path(tmp) / "ours.jsonl", Path(tmp) / "seed.jsonl"
        ours_runs: list[float] = []
        seed_runs: list[float] = []
        cpu_runs: list[tuple[float, float]] = []
        ours_steal: list[float | None] = []
        for run in range(1, max(1, args.repeat) + 1):
            settle(ours_path, seed_path)
            counters = cpu_counters()
            ours_runs.append(run_ours(rows, ours_path, args.workers))
            ours_steal.append(steal_since(counters))
            size_mb = ours_path.stat().st_size / 1e6
            line = (
                f"run {run}: ours {ours_runs[-1]:6.2f} s ({n_pairs / ours_runs[-1]:5.0f} QA/s"
                f"{steal_text(ours_steal[-1])})"
            )
            if not args.skip_seed:
                settle(seed_path)
                counters = cpu_counters()
                seed_runs.append(run_seed(rows, seed_path))
                cpu_runs.append((CPU["ours"], CPU["seed"]))
                line += (
                    f"   seed {seed_runs[-1]:6.2f} s ({n_pairs / seed_runs[-1]:4.0f} QA/s"
                    f"{steal_text(steal_since(counters))})   "
                    f"ratio {seed_runs[-1] / ours_runs[-1]:.1f}x"
                )
            print(line, flush=True)
        ours = statistics.median(ours_runs)
        print(f"ours : median {ours:6.2f} s of {len(ours_runs)} ({size_mb:.0f} MB written)")
        others = {}
        for workers in args.also_workers:
            other = Path(tmp) / f"workers{workers}.jsonl"
            settle()
            others[workers] = run_ours(rows, other, workers)
            other.unlink()
            print(f"ours, workers={workers}: {others[workers]:7.2f} s (one run)")
        if args.skip_seed:
            return 0
        seed = statistics.median(seed_runs)
        ratios = [b / a for a, b in zip(ours_runs, seed_runs, strict=True)]
        print(f"seed : median {seed:6.2f} s of {len(seed_runs)}")
        print(
            f"ratio of medians: {seed / ours:.1f}x faster "
            f"(per run: {', '.join(f'{r:.1f}x' for r in ratios)})"
        )
        calm = [
            (a, b)
            for a, b, steal in zip(ours_runs, seed_runs, ours_steal, strict=True)
            if steal is not None and steal <= STEAL_LIMIT
        ]
        if calm:
            calm_ratio = statistics.median(b for _, b in calm) / statistics.median(
                a for a, _ in calm
            )
            print(
                f"runs where ours had <= {STEAL_LIMIT:.0f}% steal: {len(calm)} of "
                f"{len(ours_runs)}, ratio of their medians {calm_ratio:.1f}x"
            )
        cpu_ours = statistics.median(c[0] for c in cpu_runs)
        cpu_seed = statistics.median(c[1] for c in cpu_runs)
        print(
            f"CPU seconds (all threads, medians): ours {cpu_ours:.2f}, seed {cpu_seed:.2f}, "
            f"ratio {cpu_seed / cpu_ours:.1f}x"
        )
        for workers, seconds in others.items():
            print(f"ratio, ours with workers={workers}: {seed / seconds:.1f}x faster")
        print(f"identical output files: {same_file(ours_path, seed_path)}")
        print(
            "(ours also writes the ids side file and computes the content digest for its "
            "manifest; the seed does neither)"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
