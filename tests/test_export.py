"""vqaft export: each format's rows checked against that format's documented schema.

The schemas below are transcriptions of each project's documentation (TRL's vision datasets,
LLaMA-Factory's data/README ShareGPT format with images and its dataset_info.json entry,
ms-swift's custom-dataset "messages" format, axolotl's multimodal chat_template format) as
pydantic models that forbid unknown keys; on top of the shapes, the rules the documents state
in prose are asserted: one <image> / image part per listed image, images that exist and
open, roles in order.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Literal

import pytest
from PIL import Image
from pydantic import BaseModel, ConfigDict

from vqaft.errors import ConfigError, DatasetError
from vqaft.export import EXPORTERS, export_file
from vqaft.export._cli import add_commands
from vqaft.hf.tiny_data import ANSWERS, QUESTION, SYSTEM, image_data_url, write_tiny_split

# -- the documented schemas ---------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ImagePlaceholder(_Strict):  # TRL: {"type": "image"}, filled from the images column
    type: Literal["image"]


class AxolotlImage(_Strict):  # axolotl: image given by path (or url / base64)
    type: Literal["image"]
    path: str


class TRLMessage(_Strict):
    role: Literal["system", "user", "assistant"]
    content: list[TextPart | ImagePlaceholder]


class TRLRow(_Strict):
    messages: list[TRLMessage]
    images: list[str]


class PlainMessage(_Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class PlaceholderRow(_Strict):  # LLaMA-Factory sharegpt with images; ms-swift messages
    messages: list[PlainMessage]
    images: list[str]


class AxolotlMessage(_Strict):
    role: Literal["system", "user", "assistant"]
    content: list[TextPart | AxolotlImage]


class AxolotlRow(_Strict):
    messages: list[AxolotlMessage]


class LlamaFactoryTags(_Strict):
    role_tag: str
    content_tag: str
    user_tag: str
    assistant_tag: str
    system_tag: str


class LlamaFactoryEntry(_Strict):
    file_name: str
    formatting: Literal["sharegpt"]
    columns: dict[Literal["messages", "images", "system", "tools", "videos"], str]
    tags: LlamaFactoryTags


# -- helpers -------------------------------------------------------------------------------


def _rows(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text("utf-8").splitlines()]


def _opens(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    write_tiny_split(folder, "train", 8)
    write_tiny_split(folder, "test", 4, answers=False)
    return folder


def test_every_format_is_listed() -> None:
    assert set(EXPORTERS) == {"trl", "llama-factory", "ms-swift", "axolotl"}


def test_trl_rows_match_trl_vision_format(data: Path, tmp_path: Path) -> None:
    result = export_file(data / "train.jsonl", "trl", tmp_path / "out")
    rows = [TRLRow.model_validate(r) for r in _rows(result.data_file)]
    assert len(rows) == 8 == result.records == result.answered
    for k, row in enumerate(rows):
        placeholders = sum(isinstance(p, ImagePlaceholder) for m in row.messages for p in m.content)
        assert placeholders == len(row.images) == 1
        assert [m.role for m in row.messages] == ["system", "user", "assistant"]
        answer = row.messages[-1].content[0]
        assert isinstance(answer, TextPart)
        assert answer.text == ANSWERS[k % 4]
        assert _opens(row.images[0]) == (32, 32)
    assert result.images == 8
    assert result.images_written == 4


def test_trl_rows_load_with_datasets_and_trl(data: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    data_utils = pytest.importorskip("trl.data_utils", reason="trl is not installed")
    result = export_file(data / "train.jsonl", "trl", tmp_path / "out")
    ds = datasets.load_dataset("json", data_files=result.data_file, split="train")
    ds = ds.cast_column("images", datasets.Sequence(datasets.Image()))
    row = ds[0]
    filled = data_utils.prepare_multimodal_messages(row["messages"], images=row["images"])
    images = [p["image"] for m in filled for p in m["content"] if p["type"] == "image"]
    assert len(images) == 1
    assert images[0].size == (32, 32)


@pytest.mark.parametrize("fmt", ["llama-factory", "ms-swift"])
def test_placeholder_formats_have_one_image_token_per_image(
    fmt: str, data: Path, tmp_path: Path
) -> None:
    result = export_file(data / "train.jsonl", fmt, tmp_path / "out")
    for row in (PlaceholderRow.model_validate(r) for r in _rows(result.data_file)):
        text = "".join(m.content for m in row.messages)
        assert text.count("<image>") == len(row.images) == 1
        assert row.messages[0] == PlainMessage(role="system", content=SYSTEM)
        assert row.messages[1].content == f"{QUESTION}<image>"
        assert row.messages[-1].role == "assistant"
        assert row.messages[-1].content in ANSWERS
        assert Path(row.images[0]).is_absolute()
        assert _opens(row.images[0]) == (32, 32)


def test_llama_factory_registers_each_file_in_dataset_info(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "mine.json"}}))
    export_file(data / "train.jsonl", "llama-factory", out)
    result = export_file(data / "test.jsonl", "llama-factory", out)
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["mine"] == {"file_name": "mine.json"}  # other entries are kept
    for name in ("train", "test"):
        entry = LlamaFactoryEntry.model_validate(info[f"vqaft_{name}"])
        assert (out / entry.file_name).is_file()
        assert entry.columns == {"messages": "messages", "images": "images"}
    # LLaMA-Factory pairs turns: a test record gets an empty assistant turn
    rows = [PlaceholderRow.model_validate(r) for r in _rows(result.data_file)]
    assert all(r.messages[-1] == PlainMessage(role="assistant", content="") for r in rows)
    assert result.answered == 0
    assert result.records == 4


def test_ms_swift_test_rows_end_with_the_question(data: Path, tmp_path: Path) -> None:
    result = export_file(data / "test.jsonl", "ms-swift", tmp_path / "out")
    rows = [PlaceholderRow.model_validate(r) for r in _rows(result.data_file)]
    assert [m.role for m in rows[0].messages] == ["system", "user"]


def test_axolotl_rows_and_config_snippet(data: Path, tmp_path: Path) -> None:
    result = export_file(data / "train.jsonl", "axolotl", tmp_path / "out")
    for row in (AxolotlRow.model_validate(r) for r in _rows(result.data_file)):
        images = [p for m in row.messages for p in m.content if isinstance(p, AxolotlImage)]
        assert len(images) == 1
        assert _opens(images[0].path) == (32, 32)
    snippet = Path(result.side_files[0]).read_text()
    for line in (
        "processor_type: AutoProcessor",
        "skip_prepare_dataset: true",
        "remove_unused_columns: false",
        "sample_packing: false",
        "    type: chat_template",
        "    ds_type: json",
    ):
        assert line in snippet.splitlines()
    assert json.dumps(str(Path(result.data_file).resolve())) in snippet


def test_relative_paths_resolve_from_the_output_folder(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = export_file(data / "train.jsonl", "ms-swift", out, relative_paths=True)
    path = _rows(result.data_file)[0]["images"][0]
    assert not Path(path).is_absolute()
    assert _opens(str(out / path)) == (32, 32)


def test_few_shot_records_keep_every_image_in_order(tmp_path: Path) -> None:
    shot, question = image_data_url("red"), image_data_url("blue", 16)
    record = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": shot}}]},
            {"role": "assistant", "content": "Jane Doe"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Who?"},
                    {"type": "image_url", "image_url": {"url": question}},
                ],
            },
            {"role": "assistant", "content": "Mary Major"},
        ]
    }
    source = tmp_path / "shots.jsonl"
    source.write_text(json.dumps(record) + "\n")
    result = export_file(source, "llama-factory", tmp_path / "out")
    row = PlaceholderRow.model_validate(_rows(result.data_file)[0])
    assert [m.content for m in row.messages[1:]] == [
        "<image>",
        "Jane Doe",
        "Who?<image>",
        "Mary Major",
    ]
    assert [_opens(p) for p in row.images] == [(32, 32), (16, 16)]


def test_bad_records_are_reported_with_file_line_and_example(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    write_tiny_split(folder, "train", 3)
    lines = (folder / "train.jsonl").read_text().splitlines()
    broken = json.loads(lines[1])
    broken["messages"][1]["content"][1]["image_url"]["url"] = "https://example.com/a.jpg"
    (folder / "train.jsonl").write_text("\n".join([lines[0], json.dumps(broken), lines[2]]) + "\n")
    with pytest.raises(DatasetError) as caught:
        export_file(folder / "train.jsonl", "trl", tmp_path / "out")
    assert caught.value.line == 2
    assert caught.value.example_id == "green1:0"
    assert "remote image URLs" in caught.value.message
    assert not (tmp_path / "out" / "train.jsonl").exists()  # no half-written file


def test_image_token_inside_text_is_refused_for_placeholder_formats(tmp_path: Path) -> None:
    source = tmp_path / "t.jsonl"
    record = {"messages": [{"role": "user", "content": "what is <image>?"}]}
    source.write_text(json.dumps(record) + "\n")
    with pytest.raises(DatasetError, match="<image>") as caught:
        export_file(source, "ms-swift", tmp_path / "out")
    assert caught.value.line == 1
    assert caught.value.file == str(source)
    assert export_file(source, "trl", tmp_path / "out2").records == 1  # no placeholder there


def test_unknown_format_and_overwriting_the_source(data: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'ms-swift'"):
        export_file(data / "train.jsonl", "ms_swift", data / "x")
    with pytest.raises(ConfigError, match="overwrite its source"):
        export_file(data / "train.jsonl", "trl", data)


def test_cli_exports_several_files(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    out = tmp_path / "out"
    args = parser.parse_args(
        [
            "export",
            str(data / "train.jsonl"),
            str(data / "test.jsonl"),
            "--format",
            "llama-factory",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert args.handler(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [p["records"] for p in printed] == [8, 4]
    assert set(json.loads((out / "dataset_info.json").read_text())) == {
        "vqaft_train",
        "vqaft_test",
    }
