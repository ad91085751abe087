"""Test files and a fake model for the prediction tests.

``write_test_files`` writes a ``test.jsonl`` / ``test.ids.jsonl`` pair in the layout
``vqaft prepare`` writes (one chat record per line with a small PNG data URL, no assistant
answer; the side file with ``line``, ``example_id``, ``question``, ``answers``...). Question
``k`` asks "Q<k>: ..." and ``answer_for`` is the fake model's answer "A<k>", so a test can check
that every answer landed on the right example.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from vqaft.testing import ChatRequest, RequestRecord

# A 1x1 PNG, as the writer would embed an image.
PNG_DATA_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
SYSTEM = "Answer the question about the book cover in a few words."
_QUESTION = re.compile(r"\bQ(\d+):")


def example_id(k: int) -> str:
    return f"img{k // 3}:{k % 3}"


def write_test_files(folder: Path, n: int, *, name: str = "test") -> Path:
    """Write ``<name>.jsonl`` and ``<name>.ids.jsonl`` with ``n`` examples; return the former."""
    folder.mkdir(parents=True, exist_ok=True)
    test = folder / f"{name}.jsonl"
    with (
        open(test, "w", encoding="utf-8") as records,
        open(folder / f"{name}.ids.jsonl", "w", encoding="utf-8") as ids,
    ):
        for k in range(n):
            question = f"Q{k}: who wrote this book?"
            record = {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": question},
                            {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
                        ],
                    },
                ]
            }
            records.write(json.dumps(record) + "\n")
            side = {
                "line": k + 1,
                "example_id": example_id(k),
                "image_id": f"img{k // 3}",
                "question": question,
                "answers": [f"A{k}", f"a{k}"],
                "image_sha256": "0" * 64,
            }
            ids.write(json.dumps(side) + "\n")
    return test


def question_number(text: str) -> int:
    match = _QUESTION.search(text)
    if match is None:
        raise ValueError(f"no question number in {text!r}")
    return int(match.group(1))


def answer_for(request: ChatRequest) -> str:
    """The fake model: question k gets "A<k>"."""
    return f"A{question_number(request.last_user_text)}"


def answer_of(record: RequestRecord) -> int | None:
    """The question number a logged chat request asked (from its body)."""
    body: Any = record.body
    if not isinstance(body, dict):
        return None
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            for part in message.get("content", []):
                if part.get("type") == "text":
                    return question_number(part["text"])
    return None


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def successes_per_question(records: list[RequestRecord]) -> Counter[int]:
    """How many 200 answers each question got, from the server's request log."""
    counts: Counter[int] = Counter()
    for record in records:
        if record.endpoint == "chat.completions" and record.status == 200:
            number = answer_of(record)
            if number is not None:
                counts[number] += 1
    return counts


class Gate:
    """A responder wrapper that blocks answers after the first ``allow`` until released."""

    def __init__(self, allow: int) -> None:
        self.allow = allow
        self.count = 0
        self.lock = threading.Lock()
        self.released = threading.Event()

    def __call__(self, request: ChatRequest) -> str:
        with self.lock:
            self.count += 1
            mine = self.count
        if mine > self.allow:
            self.released.wait(10)
        return answer_for(request)
