"""Record serialisation for the JSONL writer (vqaft.messages._record_lines).

The template path (stock builder layout) must write exactly the bytes of the generic path
(``json.dumps`` of what the builder returns), whatever the question and answer text hold.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from vqaft.messages._record_lines import RecordLines
from vqaft.messages._record_writer import RecordWriter
from vqaft.messages.builder import MessageBuilder
from vqaft.messages.images import ImagePolicy
from vqaft.messages.writer import content_digest, write_split
from vqaft.types import Example, ImageRef

TRICKY = (
    "What is the title of this book?",
    'Is "Law & Order" a \\legal\\ book?',
    "Line one\nline two\ttabbed\r",
    "Café crème – naïve? 日本語の本 ☃ 𝄞",
    "Control \x01\x1f and \u2028 separators \u2029, </script>",
    "{question} and {{braces}} and %s and vqaft-0123456789abcdef-main",
)


def cover(n: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 36), (40 * n % 256, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


def examples(split: str = "train") -> list[Example]:
    out = []
    for n in range(3):
        image = ImageRef(data=cover(n))
        for k, question in enumerate(TRICKY):
            out.append(
                Example(
                    id=f"img{n}:{k}",
                    image=image,
                    question=question,
                    answers=(TRICKY[-1 - k], "other"),
                    image_id=f"img{n}",
                    split=split,
                )
            )
    return out


class SameLayout(MessageBuilder):
    """The stock layout, but ``_user`` is overridden: the writer must take the generic path."""

    def _user(self, example: Example, url: str) -> dict[str, Any]:
        return super()._user(example, url)


BUILDERS = {
    "default": {},
    "no-system": {"system_prompt": None},
    "template": {"question_template": 'Q ("{question}") then again: {question}'},
    "detail-low": {"detail": "low", "system_prompt": 'Say "yes" \\ or\nno ☃'},
    "few-shot": {"few_shot": examples()[:2]},
}


def write(builder: MessageBuilder, path: Path, include_answer: bool) -> bytes:
    write_split(
        examples(),
        path,
        builder=builder,
        policy=ImagePolicy(),
        include_answer=include_answer,
        workers=1,
    )
    return path.read_bytes()


@pytest.mark.parametrize("include_answer", [True, False])
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_template_path_writes_the_generic_bytes(
    tmp_path: Path, name: str, include_answer: bool
) -> None:
    settings = BUILDERS[name]
    fast = write(MessageBuilder(**settings), tmp_path / "fast.jsonl", include_answer)
    slow = write(SameLayout(**settings), tmp_path / "slow.jsonl", include_answer)
    assert fast == slow
    assert content_digest(tmp_path / "fast.jsonl") == content_digest(tmp_path / "slow.jsonl")

    # And both are what the builder says, line by line.
    builder = MessageBuilder(**settings)
    lines = fast.decode().split("\n")[:-1]
    assert len(lines) == len(examples())
    for line, example in zip(lines, examples(), strict=True):
        record = json.loads(line)
        user = [m for m in record["messages"] if m["role"] == "user"][-1]
        url = user["content"][1]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        expected = builder.build(example, url, include_answer=include_answer)
        assert record == expected
        assert line == json.dumps(expected, ensure_ascii=False)


def sink(builder: MessageBuilder, include_answer: bool = True) -> RecordLines:
    with RecordWriter(io.BytesIO()) as records:
        return RecordLines(records, io.BytesIO(), builder, [], include_answer=include_answer)


def test_stock_layout_uses_the_template() -> None:
    assert sink(MessageBuilder()).uses_template
    assert sink(MessageBuilder(system_prompt=None), include_answer=False).uses_template
    assert sink(MessageBuilder(question_template="Q: {question}")).uses_template


def test_overridden_layout_takes_the_generic_path() -> None:
    class Shouting(MessageBuilder):
        def question_text(self, example: Example) -> str:
            return example.question.upper()

    assert not sink(SameLayout()).uses_template
    assert not sink(Shouting()).uses_template


def test_a_builder_that_fails_the_check_takes_the_generic_path(tmp_path: Path) -> None:
    """A builder whose output changes from call to call cannot be templated: the probe check
    catches it and every record is serialised on its own."""

    class Counting(MessageBuilder):
        calls = 0

        @property  # type: ignore[override]
        def system_prompt(self) -> str:
            Counting.calls += 1
            return f"call {Counting.calls}"

        @system_prompt.setter
        def system_prompt(self, value: str | None) -> None:
            pass

    assert not sink(Counting()).uses_template
    text = write(Counting(), tmp_path / "counting.jsonl", include_answer=True).decode()
    prompts = [json.loads(line)["messages"][0]["content"] for line in text.split("\n")[:-1]]
    assert len(set(prompts)) == len(prompts)


def test_ids_lines_match_json_dumps(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    write(MessageBuilder(), path, include_answer=True)
    lines = (tmp_path / "train.ids.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
    for number, (line, example) in enumerate(zip(lines, examples(), strict=True), start=1):
        side = json.loads(line)
        assert line == json.dumps(side, ensure_ascii=False)
        assert side["line"] == number
        assert side["example_id"] == example.id
        assert side["question"] == example.question
        assert side["answers"] == list(example.answers)
