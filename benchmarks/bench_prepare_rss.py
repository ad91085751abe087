"""Benchmark: peak memory of ``write_split`` while writing 50,000 QA pairs.

The writer must stream: memory should not grow with the number of examples. This script runs
the write in a child process (so that nothing else inflates the numbers) and reports:

* the child's peak RSS from ``resource.getrusage(RUSAGE_SELF)`` (exact, read in the child);
* the children's peak from ``resource.getrusage(RUSAGE_CHILDREN)`` as seen by this parent;
* any helper process's peak RSS (the kernel's ``VmHWM`` high-water mark, read from ``/proc``
  while it lives) and the peak of the whole tree's summed RSS, sampled every 50 ms with psutil
  (a dev extra). Encoding runs on threads inside the writing process, so normally the tree is
  that one process.

Covers come from a pool of 64 generated ~300x470 JPEGs, each made unique (so every image is
really encoded) by a JPEG comment segment holding its number.

Usage::

    .venv/bin/python benchmarks/bench_prepare_rss.py                  # 50,000 QA pairs
    .venv/bin/python benchmarks/bench_prepare_rss.py --pairs 5000 --policy auto
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vqaft.messages._encode_pool import resolve_workers
from vqaft.messages.builder import MessageBuilder
from vqaft.messages.images import ImagePolicy
from vqaft.messages.writer import write_split
from vqaft.types import Example, ImageRef

LIMIT_MB = 400
_KB_PER_MB = 1024  # ru_maxrss and VmHWM are in KiB on Linux


def unique_jpeg(base: bytes, number: int) -> bytes:
    """``base`` with a JPEG comment (COM) segment naming ``number`` right after the SOI marker."""
    payload = f"vqaft benchmark image {number}".encode()
    return base[:2] + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + base[2:]


def stream_examples(n_pairs: int, seed: int = 0) -> Iterator[Example]:
    """OCR-VQA-shaped examples, generated lazily: 4-6 questions per unique cover."""
    from bench_prepare import make_cover  # the same covers as bench_prepare.py

    rng = np.random.default_rng(seed)
    bases = [make_cover(i, rng) for i in range(64)]
    written, index = 0, 0
    while written < n_pairs:
        data, title, author, genre = bases[index % len(bases)]
        image = ImageRef(data=unique_jpeg(data, index))
        qa = [
            ("What is the title of this book?", title),
            ("Who wrote this book?", author),
            ("What type of book is this?", genre),
            (f"Is this book related to {genre}?", "Yes"),
            ("Is this a kids book?", "No"),
            ("Is this book related to Law?", "No"),
        ]
        count = min(int(rng.choice([4, 5, 6], p=[0.4, 0.4, 0.2])), n_pairs - written)
        for k, (question, answer) in enumerate(qa[:count]):
            yield Example(
                id=f"{index:010d}:{k}",
                image=image,
                question=question,
                answers=(answer,),
                image_id=f"{index:010d}",
                split="train",
            )
        written += count
        index += 1


class TreeSampler(threading.Thread):
    """Samples the RSS of this process and all its descendants, and each one's VmHWM."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.stop = threading.Event()
        self.peak_tree_rss = 0
        self.worker_hwm_kb: dict[int, int] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            total = 0
            try:
                processes = [self.process, *self.process.children(recursive=True)]
            except Exception:  # a process vanished while listing
                continue
            for proc in processes:
                try:
                    total += proc.memory_info().rss
                    if proc.pid != self.process.pid:
                        self.worker_hwm_kb[proc.pid] = max(
                            self.worker_hwm_kb.get(proc.pid, 0), _vm_hwm_kb(proc.pid)
                        )
                except Exception:  # exited between listing and reading
                    continue
            self.peak_tree_rss = max(self.peak_tree_rss, total)
            self.stop.wait(self.interval)


def _vm_hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def child(args: argparse.Namespace) -> int:
    policy = ImagePolicy.cookbook() if args.policy == "cookbook" else ImagePolicy()
    sampler = TreeSampler()
    sampler.start()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        manifest = write_split(
            stream_examples(args.pairs),
            Path(tmp) / "train.jsonl",
            builder=MessageBuilder(),
            policy=policy,
            include_answer=True,
            workers=args.workers,
        )
        seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    report: dict[str, Any] = {
        "examples": manifest.examples,
        "images": manifest.images,
        "images_encoded": manifest.images_encoded,
        "file_mb": manifest.byte_size / 1e6,
        "seconds": seconds,
        "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _KB_PER_MB,
        "worker_hwm_mb": sorted(kb / _KB_PER_MB for kb in sampler.worker_hwm_kb.values()),
        "peak_tree_rss_mb": sampler.peak_tree_rss / 2**20,
    }
    print("REPORT " + json.dumps(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=50_000, help="QA pairs to write (50000)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes")
    parser.add_argument(
        "--policy", choices=["cookbook", "auto"], default="cookbook", help="image policy"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for the file (tmp)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"workers: {resolve_workers(args.workers)}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    command = [sys.executable, __file__, "--child", *(argv if argv is not None else sys.argv[1:])]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(result.stdout, result.stderr, sep="\n")
        return result.returncode
    line = next(x for x in result.stdout.splitlines() if x.startswith("REPORT "))
    report = json.loads(line.removeprefix("REPORT "))
    children_maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / _KB_PER_MB
    workers = report["worker_hwm_mb"]
    print(
        f"wrote {report['examples']} QA pairs from {report['images']} images "
        f"({report['images_encoded']} encodes, {report['file_mb']:.0f} MB, policy {args.policy}) "
        f"in {report['seconds']:.1f} s"
    )
    print(f"writer process peak RSS (getrusage SELF, in child): {report['self_maxrss_mb']:.0f} MB")
    print(f"largest child peak RSS (getrusage CHILDREN, parent): {children_maxrss:.0f} MB")
    helpers = ", ".join(f"{mb:.0f} MB" for mb in workers) or "none (threads only)"
    print("helper processes' peak RSS (VmHWM): " + helpers)
    total = report["self_maxrss_mb"] + sum(workers)
    print(f"sum of per-process peaks (upper bound): {total:.0f} MB")
    print(f"peak of the summed tree RSS (sampled every 50 ms): {report['peak_tree_rss_mb']:.0f} MB")
    print(f"target < {LIMIT_MB} MB: {'met' if total < LIMIT_MB else 'NOT met'}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
