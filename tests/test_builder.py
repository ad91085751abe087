"""The chat-record builder (vqaft.messages.builder)."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from vqaft.errors import ConfigError
from vqaft.messages.builder import BOOK_CATEGORIES, DEFAULT_SYSTEM_PROMPT, MessageBuilder
from vqaft.messages.images import ImagePolicy
from vqaft.types import Example, ImageRef


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (30, 45)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def example(
    image_id: str = "0001", k: int = 0, *, split: str | None = "train", url: str | None = None
) -> Example:
    image = ImageRef(url=url) if url else ImageRef(data=jpeg((k * 40 % 255, 90, 20)))
    return Example(
        id=f"{image_id}:{k}",
        image=image,
        question="Who wrote this book?",
        answers=("Ada Lovelace", "A. Lovelace"),
        image_id=image_id,
        split=split,
    )


DATA_URL = "data:image/jpeg;base64," + base64.b64encode(jpeg((1, 2, 3))).decode()


def test_train_record_structure() -> None:
    record = MessageBuilder().build(example(), DATA_URL, include_answer=True)

    assert list(record) == ["messages"]
    system, user, assistant = record["messages"]
    assert system == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}
    assert user["role"] == "user"
    assert user["content"] == [
        {"type": "text", "text": "Who wrote this book?"},
        {"type": "image_url", "image_url": {"url": DATA_URL, "detail": "auto"}},
    ]
    assert assistant == {"role": "assistant", "content": "Ada Lovelace"}  # the first answer


def test_test_record_has_no_answer() -> None:
    record = MessageBuilder().build(example(split="test"), DATA_URL, include_answer=False)
    assert [m["role"] for m in record["messages"]] == ["system", "user"]
    assert "Ada Lovelace" not in json.dumps(record)


def test_records_are_json_serialisable_and_never_contain_example_ids() -> None:
    ex = Example(
        id="secret-image-7731:3",
        image=ImageRef(url="https://example.com/c.jpg"),
        question="What is the title of this book?",
        answers=("Dune",),
        image_id="secret-image-7731",
        split="test",
    )
    text = json.dumps(MessageBuilder().build(ex, "https://example.com/c.jpg", include_answer=True))
    assert "secret-image-7731" not in text


def test_detail_and_template_and_no_system_prompt() -> None:
    builder = MessageBuilder(None, detail="low", question_template="Question: {question}")
    record = builder.build(example(), DATA_URL, include_answer=True)
    user = record["messages"][0]
    assert user["role"] == "user"
    assert user["content"][0]["text"] == "Question: Who wrote this book?"
    assert user["content"][1]["image_url"]["detail"] == "low"


def test_few_shot_pairs_come_first_with_their_images() -> None:
    shots = [example("shot-a", 0), example("shot-b", 1)]
    builder = MessageBuilder(few_shot=shots)

    record = builder.build(example("0009", 2), DATA_URL, include_answer=True)

    roles = [m["role"] for m in record["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    shot_urls = [m["content"][1]["image_url"]["url"] for m in record["messages"][1:5:2]]
    for url, shot in zip(shot_urls, shots, strict=True):
        assert url.startswith("data:image/jpeg;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == shot.image.load_bytes()  # passthrough
    assert record["messages"][-2]["content"][1]["image_url"]["url"] == DATA_URL


def test_few_shot_images_are_encoded_once_per_policy() -> None:
    builder = MessageBuilder(few_shot=[example("shot-a")])
    first = builder.few_shot_urls(ImagePolicy.cookbook())
    assert builder.few_shot_urls(ImagePolicy.cookbook()) is first
    png = builder.few_shot_urls(ImagePolicy(format="png"))
    assert png[0].startswith("data:image/png;base64,")
    assert builder.config()["few_shot"] == ["shot-a:0"]


@pytest.mark.parametrize("split", ["validation", "test", None])
def test_few_shot_from_other_splits_is_rejected(split: str | None) -> None:
    with pytest.raises(ConfigError, match="not 'train'") as info:
        MessageBuilder(few_shot=[example("x", 0), example("leak", 1, split=split)])
    assert info.value.example_id == "leak:1"
    assert info.value.hint


def test_http_urls_pass_through() -> None:
    url = "https://images.example.com/covers/0001.jpg"
    shot = example("shot", 0, url="http://images.example.com/covers/shot.jpg")
    builder = MessageBuilder(few_shot=[shot])

    record = builder.build(example(url=url), url, include_answer=True)

    urls = [
        part["image_url"]["url"]
        for message in record["messages"]
        if message["role"] == "user"
        for part in message["content"]
        if part["type"] == "image_url"
    ]
    assert urls == ["http://images.example.com/covers/shot.jpg", url]


def test_build_rejects_other_url_schemes() -> None:
    with pytest.raises(ConfigError, match="data:image/ URL or an http"):
        MessageBuilder().build(example(), "file:///tmp/cover.jpg", include_answer=True)


@pytest.mark.parametrize("template", ["{q}", "{question} ({id})", "{question", "{}", "plain"])
def test_bad_question_templates(template: str) -> None:
    with pytest.raises(ConfigError, match="question template"):
        MessageBuilder(question_template=template)


def test_unknown_detail() -> None:
    with pytest.raises(ConfigError, match="detail"):
        MessageBuilder(detail="ultra")  # type: ignore[arg-type]


def test_default_prompt_covers_the_answer_forms() -> None:
    assert "Yes or No" in DEFAULT_SYSTEM_PROMPT
    assert len(BOOK_CATEGORIES) == 32
    assert all(category in DEFAULT_SYSTEM_PROMPT for category in BOOK_CATEGORIES)
    assert "as printed" in DEFAULT_SYSTEM_PROMPT


def test_config_is_json_ready() -> None:
    config = MessageBuilder(detail="high").config()
    assert json.loads(json.dumps(config)) == {
        "system_prompt": DEFAULT_SYSTEM_PROMPT,
        "few_shot": [],
        "detail": "high",
        "question_template": "{question}",
    }
