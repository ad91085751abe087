"""Benchmark: 2,000 chat requests against FakeOpenAI with 200 ms of injected latency.

Ours: ``predict_file`` with ``OpenAIPredictor`` (asyncio, bounded concurrency, the resumable
store). Baseline: the seed notebook's loop -- one ``openai.OpenAI`` client, a
``ThreadPoolExecutor()`` with its default number of workers (``min(32, cpus + 4)``), one
``chat.completions.create`` per example, ``as_completed``, the results written at the end.

Both talk to the same FakeOpenAI server, which runs in a separate process (so that the
server's threads do not compete with the client for one interpreter lock), in the same run.
The order is ours, baseline, ours again (a fresh store), so that a load change on the shared
machine shows up as a difference between the two runs of ours. Then ours runs a third time
over the finished store, and the server counts the requests it received: it must be 0.

The test file imitates what ``vqaft prepare`` writes: a system prompt and a user message with
the question and a base64 image (random bytes, ``--image-kb`` of them; the fake server does
not decode images), one record per line, with the ``test.ids.jsonl`` side file.

Run: ``python benchmarks/bench_predict.py [--requests 2000] [--latency 0.2] [--concurrency 128]
[--transport auto|httpx|aiohttp] [--image-kb 4] [--skip-baseline]``
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import openai

from vqaft.evaluate.predictions import load_predictions
from vqaft.predict import OpenAIPredictor, predict_file
from vqaft.predict.connection import Transport

MODEL = "gpt-4o-2024-08-06"
KEY = "sk-bench-not-a-real-key"


# -- the server process -------------------------------------------------------------------------


def serve(latency: float) -> None:
    """Run FakeOpenAI until stdin closes; print the base URL, then answer 'count' lines."""
    from vqaft.testing import FakeOpenAI

    with FakeOpenAI(latency=latency, api_key=KEY) as fake:
        print(fake.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                counters = fake.log.counters()
                print(
                    json.dumps({"total": counters.total, "max_in_flight": counters.max_in_flight})
                )
                sys.stdout.flush()


class Server:
    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()

    def count(self) -> dict[str, int]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        counts: dict[str, int] = json.loads(self.process.stdout.readline())
        return counts

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


# -- the test file ------------------------------------------------------------------------------


def write_test_file(folder: Path, n: int, image_kb: float) -> Path:
    rng = random.Random(0)
    test = folder / "data" / "test.jsonl"
    test.parent.mkdir(parents=True)
    kinds = ("Who wrote this book?", "What is the title of this book?", "What is the genre?")
    with open(test, "w") as records, open(folder / "data" / "test.ids.jsonl", "w") as ids:
        for k in range(n):
            image = base64.b64encode(rng.randbytes(int(image_kb * 1024))).decode()
            question = f"{kinds[k % 3]} [{k}]"
            record = {
                "messages": [
                    {"role": "system", "content": "Answer questions about book covers briefly."},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": question},
                            {
                                "type": "image_url",
                                "image_url": {"url": f"data:image/jpeg;base64,{image}"},
                            },
                        ],
                    },
                ]
            }
            records.write(json.dumps(record) + "\n")
            side = {
                "line": k + 1,
                "example_id": f"b{k // 3}:{k % 3}",
                "image_id": f"b{k // 3}",
                "question": question,
                "answers": ["x"],
                "image_sha256": "0" * 64,
            }
            ids.write(json.dumps(side) + "\n")
    return test


# -- the two clients ----------------------------------------------------------------------------


def seed_loop(test: Path, base_url: str, out: Path) -> float:
    """The cookbook's loop, as written there (minus ``store=True``, which the fake refuses)."""
    client = openai.OpenAI(base_url=base_url, api_key=KEY)
    with open(test) as f:
        test_data = [json.loads(line) for line in f]

    def process_example(index: int, example: dict[str, Any]) -> dict[str, Any]:
        response = client.chat.completions.create(model=MODEL, messages=example["messages"])
        predicted = (response.choices[0].message.content or "").strip()
        return {"example_id": index, "predicted_answer": predicted, "actual_answer": "x"}

    started = time.perf_counter()
    results = []
    with ThreadPoolExecutor() as executor:
        futures = {executor.submit(process_example, i, ex): ex for i, ex in enumerate(test_data)}
        for future in as_completed(futures):
            results.append(future.result())
    with open(out, "w") as f:
        for result in results:
            json.dump(result, f)
            f.write("\n")
    seconds = time.perf_counter() - started
    client.close()
    if len(results) != len(test_data):
        raise SystemExit("the seed loop lost answers")
    return seconds


def ours(
    test: Path, base_url: str, out: Path, concurrency: int, transport: Transport
) -> tuple[float, float, int]:
    predictor = OpenAIPredictor(MODEL, base_url=base_url, api_key=KEY, transport=transport)
    cpu, started = time.process_time(), time.perf_counter()
    summary = predict_file(test, predictor, out=out, concurrency=concurrency)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return seconds, cpu, summary.answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--image-kb", type=float, default=4.0)
    parser.add_argument(
        "--transport",
        choices=["auto", "httpx", "aiohttp"],
        default="auto",
        help="ours: the SDK's HTTP transport (auto: aiohttp when installed)",
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return

    workers = min(32, (os.cpu_count() or 1) + 4)
    transport: Transport = args.transport
    if transport == "auto":
        transport = "aiohttp" if importlib.util.find_spec("aiohttp") else "httpx"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{platform.python_implementation()} {platform.python_version()}, openai "
        f"{openai.__version__}, {os.cpu_count()} CPUs, load average {load:.1f}; "
        f"{args.requests} requests, {args.latency * 1000:.0f} ms latency, "
        f"{args.image_kb:g} kB images; ours: concurrency {args.concurrency}, {transport}; seed: "
        f"ThreadPoolExecutor() = {workers} workers"
    )
    server = Server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            test = write_test_file(folder, args.requests, args.image_kb)
            ideal = args.requests * args.latency / args.concurrency
            runs = []
            before = server.count()["total"]
            s1, c1, n1 = ours(
                test, server.base_url, folder / "ours1.jsonl", args.concurrency, transport
            )
            sent = server.count()["total"] - before
            print(f"ours      : {s1:6.2f} s  {n1 / s1:6.1f} req/s  (client CPU {c1:.1f} s, "
                  f"{sent} requests, ideal {ideal:.2f} s)")  # fmt: skip
            runs.append(s1)
            if not args.skip_baseline:
                b = seed_loop(test, server.base_url, folder / "seed.jsonl")
                print(f"seed loop : {b:6.2f} s  {args.requests / b:6.1f} req/s  "
                      f"(ideal {args.requests * args.latency / workers:.2f} s)")  # fmt: skip
            s2, c2, n2 = ours(
                test, server.base_url, folder / "ours2.jsonl", args.concurrency, transport
            )
            print(f"ours again: {s2:6.2f} s  {n2 / s2:6.1f} req/s  (client CPU {c2:.1f} s)")
            runs.append(s2)
            before = server.count()["total"]
            s3, _, n3 = ours(
                test, server.base_url, folder / "ours2.jsonl", args.concurrency, transport
            )
            resent = server.count()["total"] - before
            print(f"rerun over the finished store: {resent} requests, {n3} answered, {s3:.2f} s")
            loaded = load_predictions(folder / "ours2.jsonl")
            if len(loaded) != args.requests or loaded.failed:
                raise SystemExit("ours lost or failed answers")
            if not args.skip_baseline:
                mean = sum(runs) / len(runs)
                print(f"speed-up: {b / s1:.1f}x and {b / s2:.1f}x (mean {b / mean:.1f}x)")
    finally:
        server.close()


if __name__ == "__main__":
    main()
