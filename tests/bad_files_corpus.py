"""A generated corpus of chat-format JSONL files, good and bad, for the validator's tests.

Every file is written on demand into a temporary folder with Pillow-made images and
``json.dumps`` (nothing here depends on vqaft's own writer), with its ``.ids.jsonl`` side file.
Each bad case breaks exactly one rule on one known line, so a test can check that the
validator names the right code, line and example id.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

N_GOOD = 12
BAD_LINE = 5
SYSTEM = "Answer the question about the book cover with the answer alone."


def image_bytes(
    size: tuple[int, int] = (48, 64),
    color: tuple[int, ...] | int = (200, 30, 30),
    mode: str = "RGB",
    fmt: str = "JPEG",
) -> bytes:
    """Encode a solid-colour image (Pillow) in ``fmt``."""
    image = Image.new(mode, size, color)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def data_url(data: bytes, mime: str = "image/jpeg") -> str:
    """A base64 data URL of ``data`` declared as ``mime``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def cover_url(i: int) -> str:
    """A distinct small RGB JPEG cover for example ``i``."""
    return data_url(image_bytes(color=(20 * i % 256, 255 - 15 * i % 256, 90)))


def user(question: str, *urls: str, detail: str = "low") -> dict[str, Any]:
    """A user message with a question and images."""
    content: list[dict[str, Any]] = [{"type": "text", "text": question}]
    content += [{"type": "image_url", "image_url": {"url": u, "detail": detail}} for u in urls]
    return {"role": "user", "content": content}


def record(i: int, *, answer: str | None = "Jane Doe", url: str | None = None) -> dict[str, Any]:
    """The good training record ``i`` (``answer=None``: a test record)."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        user(f"Who wrote book number {i}?", url or cover_url(i)),
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": f"{answer} {i}"})
    return {"messages": messages}


def example_id(i: int) -> str:
    """Example id of record ``i`` in the side file."""
    return f"img{i}:0"


def write_jsonl(path: Path, lines: Sequence[bytes | str | dict[str, Any]]) -> Path:
    """Write ``lines`` (records are dumped, text encoded) plus the ``.ids.jsonl`` side file."""
    with path.open("wb") as f:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            if isinstance(line, str):
                line = line.encode("utf-8")
            f.write(line + b"\n")
    ids = path.with_name(path.stem + ".ids.jsonl")
    with ids.open("w", encoding="utf-8") as f:
        for n in range(1, len(lines) + 1):
            f.write(
                json.dumps({"line": n, "example_id": example_id(n - 1), "image_id": f"img{n - 1}"})
            )
            f.write("\n")
    return path


def good_records(n: int = N_GOOD, *, answers: bool = True) -> list[dict[str, Any]]:
    """``n`` valid records with distinct images."""
    return [record(i, answer="Jane Doe" if answers else None) for i in range(n)]


def with_bad_line(bad: bytes | str | dict[str, Any], *, line: int = BAD_LINE) -> list[Any]:
    """The good records with ``line`` (1-based) replaced by ``bad``."""
    lines: list[Any] = list(good_records())
    lines[line - 1] = bad
    return lines


def _with_user_content(content: Any) -> dict[str, Any]:
    rec = record(BAD_LINE - 1)
    rec["messages"][1]["content"] = content
    return rec


def _with_image(url: str) -> dict[str, Any]:
    return record(BAD_LINE - 1, url=url)


def _big_png() -> bytes:
    # Random pixels do not compress: a 1,900 x 1,900 RGB PNG is ~10.8 MB.
    noise = os.urandom(1900 * 1900 * 3)
    image = Image.frombytes("RGB", (1900, 1900), noise)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=0)
    return out.getvalue()


@dataclass(frozen=True)
class BadCase:
    """One bad file: how to make its lines, and what the validator must say."""

    name: str
    code: str
    make: Callable[[], list[Any]]
    message: str
    """A fragment the finding's message must contain."""
    line: int | None = BAD_LINE
    severity: str = "error"
    file_name: str = "train.jsonl"


def _assistant_with_image() -> dict[str, Any]:
    rec = record(BAD_LINE - 1)
    rec["messages"][2]["content"] = [
        {"type": "text", "text": "Jane"},
        {"type": "image_url", "image_url": {"url": cover_url(99)}},
    ]
    return rec


def _no_answer() -> dict[str, Any]:
    return record(BAD_LINE - 1, answer=None)


def _duplicate() -> list[Any]:
    lines: list[Any] = list(good_records())
    lines[BAD_LINE - 1] = lines[1]
    return lines


def _long_text() -> dict[str, Any]:
    # ~70,000 one-token words: above the 65,536-token limit whatever the counter
    return _with_user_content([{"type": "text", "text": " book" * 70_000}])


CASES: tuple[BadCase, ...] = (
    BadCase(
        "invalid_json",
        "invalid_json",
        lambda: with_bad_line('{"messages": [{"role": "user", "content": "hi"}'),
        "not valid JSON",
    ),
    BadCase(
        "non_utf8",
        "invalid_utf8",
        lambda: with_bad_line(b'{"messages": [{"role": "user", "content": "caf\xe9"}]}'),
        "not valid UTF-8",
    ),
    BadCase("not_object", "not_object", lambda: with_bad_line("[1, 2, 3]"), "not an object"),
    BadCase(
        "no_messages",
        "missing_messages",
        lambda: with_bad_line({"conversation": []}),
        "no 'messages'",
    ),
    BadCase(
        "bad_role",
        "invalid_role",
        lambda: with_bad_line(
            {"messages": [{"role": "bot", "content": "hi"}, {"role": "assistant", "content": "x"}]}
        ),
        "messages[0].role is 'bot'",
    ),
    BadCase(
        "bad_content_part",
        "invalid_content_part",
        lambda: with_bad_line(_with_user_content([{"type": "text", "txt": "Who wrote it?"}])),
        "messages[1].content[0] is a text part without a string 'text'",
    ),
    BadCase(
        "unknown_part_type",
        "invalid_content_part",
        lambda: with_bad_line(_with_user_content([{"type": "input_audio", "input_audio": {}}])),
        "type 'input_audio'",
    ),
    BadCase(
        "image_in_assistant",
        "image_in_assistant",
        lambda: with_bad_line(_assistant_with_image()),
        "assistant messages cannot contain images",
    ),
    BadCase(
        "eleven_images",
        "too_many_images",
        lambda: with_bad_line(
            _with_user_content(
                [{"type": "text", "text": "Which is the odd one?"}]
                + [{"type": "image_url", "image_url": {"url": cover_url(j)}} for j in range(11)]
            )
        ),
        "11 images",
    ),
    BadCase(
        "image_over_10mb",
        "image_too_large",
        lambda: with_bad_line(_with_image(data_url(_big_png(), "image/png"))),
        "at most 10 MB",
    ),
    BadCase(
        "gif_image",
        "unsupported_image_format",
        lambda: with_bad_line(_with_image(data_url(image_bytes(fmt="GIF"), "image/gif"))),
        "image is GIF",
    ),
    BadCase(
        "cmyk_image",
        "unsupported_image_mode",
        lambda: with_bad_line(
            _with_image(data_url(image_bytes(mode="CMYK", color=(0, 80, 80, 10))))
        ),
        "image mode is CMYK",
    ),
    BadCase(
        "grayscale_image",
        "unsupported_image_mode",
        lambda: with_bad_line(
            _with_image(data_url(image_bytes(mode="L", color=128, fmt="PNG"), "image/png"))
        ),
        "image mode is L",
    ),
    BadCase(
        "data_url_without_base64",
        "malformed_data_url",
        lambda: with_bad_line(_with_image("data:image/jpeg,abcd")),
        "';base64' is missing",
    ),
    BadCase(
        "data_url_without_comma",
        "malformed_data_url",
        lambda: with_bad_line(_with_image("data:image/jpeg;base64")),
        "malformed data URL",
    ),
    BadCase(
        "bad_base64",
        "invalid_base64",
        lambda: with_bad_line(_with_image("data:image/jpeg;base64,/9j/4AAQ!!!notbase64")),
        "not valid base64",
    ),
    BadCase(
        "mime_mismatch",
        "mime_mismatch",
        lambda: with_bad_line(_with_image(data_url(image_bytes(fmt="PNG"), "image/jpeg"))),
        "declares image/jpeg but the bytes are a PNG image",
    ),
    BadCase(
        "missing_assistant",
        "missing_assistant",
        lambda: with_bad_line(_no_answer()),
        "no assistant answer",
    ),
    BadCase(
        "too_few_examples",
        "too_few_examples",
        lambda: list(good_records(5)),
        "5 training examples",
        line=None,
    ),
    BadCase(
        "too_many_tokens",
        "too_many_tokens",
        lambda: with_bad_line(_long_text()),
        "the limit is 65,536",
    ),
    BadCase(
        "duplicate_lines",
        "duplicate_example",
        _duplicate,
        "identical to line 2 (example img1:0)",
        severity="warning",
    ),
    BadCase(
        "blank_line",
        "blank_line",
        lambda: with_bad_line(""),
        "empty line",
    ),
)


def write_case(case: BadCase, directory: Path) -> Path:
    """Write ``case`` into ``directory`` (a folder of its own) and return the data file."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_jsonl(directory / case.file_name, case.make())


def write_leaky_splits(directory: Path) -> tuple[Path, Path]:
    """A train file and a test file where test line 3 reuses the cover of train line 7."""
    directory.mkdir(parents=True, exist_ok=True)
    train = write_jsonl(directory / "train.jsonl", good_records())
    tests = [record(100 + i, answer=None) for i in range(6)]
    tests[2] = record(102, answer=None, url=cover_url(6))
    test = write_jsonl(directory / "test.jsonl", tests)
    return train, test
