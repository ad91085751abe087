"""vqaft.hf.data: OpenAI-format records -> prompt/completion messages, images, datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vqaft.errors import DatasetError, ImageError
from vqaft.hf.data import convert_messages, read_chat_jsonl, training_dataset
from vqaft.hf.metadata import (
    AdapterMetadata,
    describe_file,
    read_adapter_metadata,
    write_adapter_metadata,
)
from vqaft.hf.tiny_data import ANSWERS, SYSTEM, image_data_url, write_tiny_split


def _user(*parts: dict[str, object]) -> dict[str, object]:
    return {"role": "user", "content": list(parts)}


def _image(url: str) -> dict[str, object]:
    return {"type": "image_url", "image_url": {"url": url, "detail": "low"}}


def test_answer_becomes_the_completion_and_images_placeholders() -> None:
    url = image_data_url("red")
    example = convert_messages(
        [
            {"role": "developer", "content": "be brief"},
            _user({"type": "text", "text": "Who?"}, _image(url)),
            {"role": "assistant", "content": [{"type": "text", "text": "Jane Doe"}]},
        ]
    )
    assert example.prompt == [
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": [{"type": "text", "text": "Who?"}, {"type": "image"}]},
    ]
    assert example.answer == "Jane Doe"
    [image] = example.pil_images()
    assert image.mode == "RGB"
    assert image.size == (32, 32)


def test_few_shot_pairs_stay_in_the_prompt() -> None:
    example = convert_messages(
        [
            _user(_image(image_data_url("red"))),
            {"role": "assistant", "content": "Jane Doe"},
            _user(_image(image_data_url("blue"))),
            {"role": "assistant", "content": "Mary Major"},
        ]
    )
    assert [m["role"] for m in example.prompt] == ["user", "assistant", "user"]
    assert example.answer == "Mary Major"
    assert len(example.images) == 2


def test_test_records_have_no_completion_unless_required() -> None:
    messages = [_user({"type": "text", "text": "Who?"})]
    assert convert_messages(messages).completion is None
    with pytest.raises(DatasetError, match="not the assistant's answer"):
        convert_messages(messages, require_answer=True, line=3, example_id="b:0")


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([], "non-empty list"),
        ([{"role": "tool", "content": "x"}], "role 'tool'"),
        ([_user({"type": "audio"})], "unsupported type 'audio'"),
        ([_user({"type": "image"})], "placeholder without image data"),
        ([_user(_image("https://example.com/x.jpg"))], "remote image URLs"),
        ([_user(_image("data:image/png;base64,@@@"))], "not valid base64"),
        ([{"role": "assistant", "content": "x"}], "no question"),
    ],
)
def test_malformed_messages_raise_with_location(messages: list[object], message: str) -> None:
    with pytest.raises(DatasetError, match=message) as caught:
        convert_messages(messages, line=7, example_id="b1:0", file="t.jsonl")
    assert (caught.value.line, caught.value.example_id, caught.value.file) == (7, "b1:0", "t.jsonl")


def test_reading_a_file_names_lines_and_example_ids(tmp_path: Path) -> None:
    path = write_tiny_split(tmp_path, "train", 3)
    examples = list(read_chat_jsonl(path))
    assert [e.line for e in examples] == [1, 2, 3]
    assert [e.example_id for e in examples] == ["red0:0", "green1:0", "blue2:0"]
    assert [e.answer for e in examples] == list(ANSWERS[:3])
    with open(path, "a") as handle:
        handle.write("{not json\n")
    with pytest.raises(DatasetError, match="not valid JSON") as caught:
        list(read_chat_jsonl(path))
    assert caught.value.line == 4


def test_training_dataset_is_trl_prompt_completion(tmp_path: Path) -> None:
    ds = training_dataset(write_tiny_split(tmp_path, "train", 5))
    assert ds.column_names == ["prompt", "completion", "images"]
    assert len(ds) == 5
    row = ds[1]
    assert row["prompt"][0]["content"][0]["text"] == SYSTEM
    assert [p["type"] for p in row["prompt"][1]["content"]] == ["text", "image"]
    assert row["completion"] == [
        {"role": "assistant", "content": [{"type": "text", "text": ANSWERS[1]}]}
    ]
    assert row["images"][0].size == (32, 32)


def test_training_dataset_checks_images_before_training(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    bad = "data:image/png;base64,aGVsbG8="  # base64 of "hello": not an image
    record = {"messages": [_user(_image(bad)), {"role": "assistant", "content": "x"}]}
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(ImageError) as caught:
        training_dataset(path)
    assert caught.value.line == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DatasetError, match="no examples"):
        training_dataset(empty)


def test_adapter_metadata_round_trip(tmp_path: Path) -> None:
    source = write_tiny_split(tmp_path, "train", 2)
    data = describe_file(source, examples=2)
    meta = AdapterMetadata(base_model="org/model", adapter_name="covers", train=data)
    write_adapter_metadata(tmp_path / "adapter", meta)
    loaded = read_adapter_metadata(tmp_path / "adapter")
    assert loaded is not None
    assert loaded.train.sha256 == data.sha256
    assert len(data.sha256) == 64
    assert loaded.libraries["vqaft"] is not None
    assert read_adapter_metadata(tmp_path) is None
