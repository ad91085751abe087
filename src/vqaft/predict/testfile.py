"""Read a test file written by ``vqaft prepare``: chat records plus the ids side file.

``test.jsonl`` holds one chat record per line (no assistant answer); ``test.ids.jsonl`` holds,
line for line, which example each record is: ``{"line", "example_id", "image_id", "question",
"answers", "image_sha256"}``. The side file is small and read whole; the records (with their
base64 images) are streamed, and only the lines still to be answered are parsed.

>>> refs = read_test_ids("runs/demo/data/test.jsonl")  # doctest: +SKIP
>>> refs[0].example_id, refs[0].answers  # doctest: +SKIP
('0439023521:0', ('Mockingjay',))
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vqaft.errors import DatasetError
from vqaft.messages.writer import ids_path
from vqaft.predict.base import PredictionRequest, RequestFailed

__all__ = ["ExampleRef", "default_output_path", "iter_requests", "model_slug", "read_test_ids"]


@dataclass(frozen=True)
class ExampleRef:
    """One line of a test file's ids side file.

    Attributes:
        line: 1-based line of the record in the test file.
        example_id: the example's id.
        question: the question text, if recorded.
        answers: the gold answers (``None`` if the side file has none).
    """

    line: int
    example_id: str
    question: str | None
    answers: tuple[str, ...] | None


def _count_lines(path: Path) -> int:
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _bad_ids(message: str, side: Path, line: int | None = None) -> DatasetError:
    return DatasetError(
        message,
        file=str(side),
        line=line,
        hint="rewrite the test files with vqaft prepare (the side file must list the test "
        "file's examples line by line)",
    )


def _answers(value: Any, side: Path, number: int) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(a, str) for a in value):
        return tuple(value) or None
    raise _bad_ids("'answers' must be a list of strings", side, number)


def read_test_ids(test_path: str | os.PathLike[str]) -> list[ExampleRef]:
    """The examples of a test file, from its side file ``<stem>.ids.jsonl``, in order.

    Raises:
        DatasetError: a file is missing, a side-file line is malformed, an id repeats, or the
            two files have different numbers of lines.
    """
    test = Path(test_path)
    side = ids_path(test)
    if not test.is_file():
        raise DatasetError("no such test file", file=str(test), hint="check the path")
    if not side.is_file():
        raise DatasetError(
            f"the test file has no ids side file ({side.name})",
            file=str(test),
            hint="write test files with vqaft prepare, which puts example ids and gold answers "
            "in <stem>.ids.jsonl next to the records",
        )
    refs: list[ExampleRef] = []
    seen: dict[str, int] = {}
    with open(side, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                raise _bad_ids("blank line", side, number)
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise _bad_ids(f"invalid JSON: {exc}", side, number) from None
            if not isinstance(data, dict):
                raise _bad_ids("expected a JSON object", side, number)
            example_id = data.get("example_id")
            if isinstance(example_id, int) and not isinstance(example_id, bool):
                example_id = str(example_id)
            if not isinstance(example_id, str) or not example_id:
                raise _bad_ids("missing or empty 'example_id'", side, number)
            line = data.get("line", number)
            if line != number:
                raise _bad_ids(f"'line' is {line!r} on line {number}", side, number)
            if example_id in seen:
                raise _bad_ids(
                    f"example id {example_id!r} repeats (first on line {seen[example_id]})",
                    side,
                    number,
                )
            seen[example_id] = number
            question = data.get("question")
            refs.append(
                ExampleRef(
                    line=number,
                    example_id=example_id,
                    question=question if isinstance(question, str) else None,
                    answers=_answers(data.get("answers"), side, number),
                )
            )
    records = _count_lines(test)
    if records != len(refs):
        raise DatasetError(
            f"the test file has {records} lines but its side file {side.name} lists "
            f"{len(refs)} examples",
            file=str(test),
            hint="the two files must come from the same vqaft prepare run",
        )
    return refs


def _messages(raw: bytes) -> list[dict[str, Any]]:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ValueError("the record has no 'messages' list")
    if not all(isinstance(m, dict) for m in messages):
        raise ValueError("every message must be a JSON object")
    # A record that ends with the answer (a training file) must not send it to the model.
    while messages and messages[-1].get("role") == "assistant":
        messages.pop()
    if not messages:
        raise ValueError("the record has only assistant messages")
    return messages


def iter_requests(
    test_path: str | os.PathLike[str],
    refs: Sequence[ExampleRef],
    wanted: Container[str] | None = None,
) -> Iterator[tuple[ExampleRef, PredictionRequest | RequestFailed]]:
    """Stream the requests for the examples in ``wanted`` (all if ``None``), in file order.

    A record that cannot be read yields a :class:`RequestFailed` (kind ``invalid_input``)
    instead of a request, so the run records it and goes on.
    """
    with open(test_path, "rb") as handle:
        for ref, raw in zip(refs, handle, strict=False):  # counts checked by read_test_ids
            if wanted is not None and ref.example_id not in wanted:
                continue
            try:
                messages = _messages(raw)
            except ValueError as exc:
                yield (
                    ref,
                    RequestFailed(
                        f"test file line {ref.line}: {exc}",
                        kind="invalid_input",
                        attempts=0,
                        example_id=ref.example_id,
                    ),
                )
                continue
            request = PredictionRequest(
                example_id=ref.example_id,
                messages=messages,
                gold=ref.answers,
                question=ref.question,
                line=ref.line,
            )
            yield ref, request


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def model_slug(model: str) -> str:
    """A file-name-safe form of a model name.

    >>> model_slug("ft:gpt-4o-2024-08-06:acme::AbC123")
    'ft-gpt-4o-2024-08-06-acme-AbC123'
    """
    slug = _UNSAFE.sub("-", model).strip("-.")
    slug = re.sub(r"-{2,}", "-", slug)
    return slug or "model"


def default_output_path(test_path: str | os.PathLike[str], model: str) -> Path:
    """``predictions/<model>.jsonl`` in the run folder of ``test_path``.

    The run folder is the test file's parent's parent when the test file sits in a ``data``
    folder (``runs/x/data/test.jsonl`` -> ``runs/x/predictions/gpt-4o.jsonl``), else its
    parent.

    >>> default_output_path("runs/x/data/test.jsonl", "gpt-4o").as_posix()
    'runs/x/predictions/gpt-4o.jsonl'
    """
    test = Path(test_path)
    run_dir = test.parent.parent if test.parent.name == "data" else test.parent
    return run_dir / "predictions" / f"{model_slug(model)}.jsonl"
