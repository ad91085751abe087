"""The generic adapters: hf (any datasets dataset), parquet and jsonl."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import datasets
import pytest

from helpers_datasets import image_bytes, ocr_vqa_rows, write_hf_layout, write_jsonl, write_parquet
from vqaft.datasets.base import DatasetAdapter, SkippedItem, dataset_adapters, sample_rows
from vqaft.datasets.generic import HFDatasetAdapter, JsonlAdapter, ParquetAdapter
from vqaft.datasets.ocr_vqa import OcrVqaAdapter
from vqaft.errors import ConfigError, DatasetError


def flat_rows(prefix: str, count: int, *, start: int = 0) -> list[dict[str, Any]]:
    """One question per row, custom column names, several gold answers."""
    return [
        {
            "prompt": f"What colour is picture {start + i}?",
            "label": [f"colour {start + i}", f"hue {start + i}"],
            "picture": {"bytes": image_bytes(start + i), "path": None},
            "qid": f"{prefix}-q{start + i}",
            "source": f"s{i % 3}",
        }
        for i in range(count)
    ]


FLAT_COLUMNS = {"question": "prompt", "answer": "label", "image": "picture"}


@pytest.fixture(scope="module")
def flat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    train = flat_rows("tr", 30)
    return write_hf_layout(
        tmp_path_factory.mktemp("flat"),
        {"train": [train[:11], train[11:]], "test": [flat_rows("te", 9, start=100)]},
        schema=None,
        row_group_size=4,
    )


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-cache")


# -- hf ----------------------------------------------------------------------------------------


def test_hf_one_question_per_row(flat_dir: Path) -> None:
    adapter = HFDatasetAdapter(flat_dir, columns=FLAT_COLUMNS, metadata_columns=["source"])
    assert isinstance(adapter, DatasetAdapter)
    assert adapter.splits() == ["train", "test"]
    examples = list(adapter.examples("train"))
    assert len(examples) == adapter.num_images("train") == 30
    first, last = examples[0], examples[-1]
    assert first.id == "train-0:0"  # default image_id: "<split>-<row>"
    assert first.image_id == "train-0"
    assert first.question == "What colour is picture 0?"
    assert first.answers == ("colour 0", "hue 0")
    assert first.image.data == image_bytes(0)
    assert first.metadata == {"source": "s0", "row": 0}
    assert last.id == "train-29:0"
    assert last.metadata["row"] == 29


def test_hf_id_and_image_id_columns(flat_dir: Path) -> None:
    adapter = HFDatasetAdapter(
        flat_dir, columns={**FLAT_COLUMNS, "id": "qid", "image_id": "source"}
    )
    example = next(adapter.examples("test", rows=[4]))
    assert example.id == "te-q104"
    assert example.image_id == "s1"


def test_ids_for_question_lists(tmp_path: Path) -> None:
    rows = [
        {"questions": ["a?", "b?"], "answers": ["1", "2"], "image": "x.png", "id": ["p", "q"]},
        {"questions": ["c?", "d?"], "answers": ["3", "4"], "image": "x.png", "id": "row1"},
        {"questions": ["e?", "f?"], "answers": ["5", "6"], "image": "x.png", "id": ["only"]},
    ]
    path = write_jsonl(tmp_path / "ids.jsonl", rows)
    skipped: list[SkippedItem] = []
    examples = JsonlAdapter(path).examples("train", on_error="skip", skipped=skipped)
    assert [e.id for e in examples] == ["p", "q", "row1:0", "row1:1"]
    assert len(skipped) == 1
    assert "ids ('id') and questions differ in length (1 vs 2)" in skipped[0].reason
    assert skipped[0].line == 3


def test_hf_explodes_question_lists_like_ocr_vqa(tmp_path: Path) -> None:
    rows = ocr_vqa_rows("x", 7)
    write_hf_layout(tmp_path, {"train": [rows]})
    generic = [(e.id, e.question, e.answers) for e in HFDatasetAdapter(tmp_path).examples("train")]
    ocr = [(e.id, e.question, e.answers) for e in OcrVqaAdapter(tmp_path).examples("train")]
    assert generic == ocr
    assert len(generic) == sum(len(r["questions"]) for r in rows)


def test_hf_through_load_dataset_matches_pyarrow(flat_dir: Path, cache_dir: Path) -> None:
    via_datasets = HFDatasetAdapter(
        flat_dir, columns=FLAT_COLUMNS, engine="datasets", cache_dir=cache_dir
    )
    via_pyarrow = HFDatasetAdapter(flat_dir, columns=FLAT_COLUMNS)
    got = [(e.id, e.answers, e.image.data) for e in via_datasets.sample("train", 12, seed=7)]
    want = [(e.id, e.answers, e.image.data) for e in via_pyarrow.sample("train", 12, seed=7)]
    assert got == want


def test_hf_save_to_disk_dataset_with_image_feature(tmp_path: Path) -> None:
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            "answer": datasets.Value("string"),
        }
    )
    data = {
        "image": [{"bytes": image_bytes(i, "JPEG"), "path": None} for i in range(5)],
        "question": [f"q{i}?" for i in range(5)],
        "answer": [f"a{i}" for i in range(5)],
    }
    datasets.Dataset.from_dict(data, features=features).save_to_disk(str(tmp_path / "saved"))
    adapter = HFDatasetAdapter(tmp_path / "saved")
    assert adapter.splits() == ["train"]
    examples = list(adapter.examples("train", rows=[3, 1]))
    assert [e.question for e in examples] == ["q3?", "q1?"]
    assert examples[0].image.data == image_bytes(3, "JPEG")


def test_hf_other_formats_go_through_datasets(tmp_path: Path, cache_dir: Path) -> None:
    image = tmp_path / "cover.png"
    image.write_bytes(image_bytes(5))
    for split in ("train", "test"):
        write_jsonl(
            tmp_path / "data" / f"{split}.jsonl",
            [{"question": f"{split} {i}?", "answer": "yes", "image": str(image)} for i in range(3)],
        )
    adapter = HFDatasetAdapter(tmp_path, cache_dir=cache_dir)
    assert adapter.splits() == ["train", "test"]
    example = next(adapter.examples("test", rows=[2]))
    assert example.question == "test 2?"
    assert example.image.path == str(image)
    with pytest.raises(ConfigError, match="parquet and Arrow"):
        HFDatasetAdapter(tmp_path, engine="pyarrow").splits()


def test_hf_split_selection(flat_dir: Path) -> None:
    adapter = HFDatasetAdapter(flat_dir, columns=FLAT_COLUMNS, splits=["test"])
    assert adapter.splits() == ["test"]
    with pytest.raises(DatasetError, match="unknown split 'train'"):
        adapter.num_images("train")
    with pytest.raises(DatasetError) as info:
        HFDatasetAdapter(flat_dir, columns=FLAT_COLUMNS, splits=["tset"]).splits()
    assert info.value.hint == "did you mean 'test'? available splits: train, test"


def test_hf_missing_columns_name_the_roles(flat_dir: Path) -> None:
    with pytest.raises(DatasetError) as info:
        HFDatasetAdapter(flat_dir).num_images("train")
    text = str(info.value)
    assert "missing required column(s) 'question' or 'questions', 'answer' or 'answers'" in text
    assert "columns present: prompt, label, picture, qid, source" in text
    assert info.value.file == str(flat_dir / "data" / "train-00000-of-00002.parquet")
    assert info.value.hint
    assert "columns=" in info.value.hint
    with pytest.raises(DatasetError, match="'nope'"):
        HFDatasetAdapter(flat_dir, columns={**FLAT_COLUMNS, "id": "nope"}).examples("test")


def test_role_mapping_is_checked() -> None:
    with pytest.raises(ConfigError, match="unknown column role 'questions'"):
        HFDatasetAdapter("x/y", columns={"questions": "q"})
    with pytest.raises(ConfigError, match="cannot be switched off"):
        ParquetAdapter({}, columns={"image": None})
    with pytest.raises(ConfigError, match="clash"):
        HFDatasetAdapter("x/y", metadata_columns=["row"])


# -- parquet -----------------------------------------------------------------------------------


def test_parquet_sample_matches_datasets(flat_dir: Path, cache_dir: Path) -> None:
    files = {"train": str(flat_dir / "data" / "train-*.parquet")}
    adapter = ParquetAdapter(files, columns={**FLAT_COLUMNS, "id": "qid"})
    reference = datasets.load_dataset("parquet", data_files=files, cache_dir=str(cache_dir))
    for seed in (0, 3, 42):
        chosen = reference["train"].shuffle(seed=seed).select(range(10))
        assert [e.id for e in adapter.sample("train", 10, seed)] == chosen["qid"]


def test_hf_explicit_files_through_datasets(flat_dir: Path, cache_dir: Path) -> None:
    files = {"test": str(flat_dir / "data" / "test-*.parquet")}
    via_datasets = HFDatasetAdapter(
        None, data_files=files, columns=FLAT_COLUMNS, engine="datasets", cache_dir=cache_dir
    )
    via_pyarrow = ParquetAdapter(files, columns=FLAT_COLUMNS)
    got = [(e.id, e.answers, e.image.data) for e in via_datasets.examples("test")]
    assert got == [(e.id, e.answers, e.image.data) for e in via_pyarrow.examples("test")]
    assert len(got) == 9


def test_parquet_file_lists_keep_their_order(flat_dir: Path) -> None:
    shards = sorted((flat_dir / "data").glob("train-*.parquet"))
    adapter = ParquetAdapter([shards[1], shards[0]], columns=FLAT_COLUMNS)
    assert adapter.splits() == ["train"]
    questions = [e.question for e in adapter.examples("train")]
    assert questions[0] == "What colour is picture 11?"
    assert questions[-1] == "What colour is picture 10?"


def test_parquet_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="data file not found") as info:
        ParquetAdapter({"train": tmp_path / "missing.parquet"})
    assert info.value.file == str(tmp_path / "missing.parquet")
    with pytest.raises(DatasetError, match="pattern matches no file"):
        ParquetAdapter({"train": str(tmp_path / "*.parquet")})


def test_parquet_metadata_and_image_strings(tmp_path: Path) -> None:
    png = image_bytes(9)
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    rows = [
        {"q": "a?", "a": "x", "img": "covers/a.png", "n": 3, "when": dt.date(2024, 5, 1)},
        {"q": "b?", "a": "y", "img": "https://example.com/b.jpg", "n": 4, "when": None},
        {"q": "c?", "a": "z", "img": data_url, "n": 5, "when": None},
        {"q": "d?", "a": "w", "img": base64.b64encode(png).decode(), "n": 6, "when": None},
    ]
    path = write_parquet(tmp_path / "t.parquet", rows, schema=None)
    adapter = ParquetAdapter(
        {"test": path},
        columns={"question": "q", "answer": "a", "image": "img", "image_id": "n"},
        metadata_columns=["when"],
    )
    a, b, c, d = adapter.examples("test")
    assert a.image.path == str(tmp_path / "covers" / "a.png")
    assert a.metadata == {"when": "2024-05-01", "row": 0}
    assert a.id == "3:0"
    assert b.image.url == "https://example.com/b.jpg"
    assert b.image.is_remote
    assert c.image.url == data_url
    assert c.image.load_bytes() == png
    assert d.image.data == png


def test_parquet_binary_metadata_is_refused(tmp_path: Path) -> None:
    rows = [{"question": "q?", "answer": "a", "image": image_bytes(1), "blob": b"\x00\x01"}]
    path = write_parquet(tmp_path / "t.parquet", rows, schema=None)
    adapter = ParquetAdapter({"train": path}, metadata_columns=["blob"])
    with pytest.raises(DatasetError, match="metadata column 'blob' holds binary data"):
        list(adapter.examples("train"))


def test_generic_adapters_are_registered() -> None:
    assert dataset_adapters.get("hf") is HFDatasetAdapter
    assert dataset_adapters.get("parquet") is ParquetAdapter
    assert dataset_adapters.get("jsonl") is JsonlAdapter


# -- jsonl -------------------------------------------------------------------------------------


def test_jsonl_image_forms_and_fields(tmp_path: Path) -> None:
    png, jpeg = image_bytes(1), image_bytes(2, "JPEG")
    path = write_jsonl(
        tmp_path / "sub" / "test.jsonl",
        [
            {"question": "Who wrote this book?", "answer": "Jane", "image": "img/1.png"},
            "",
            {
                "question": ["Q1?", "Q2?"],
                "answers": ["A1", ["A2", "a2"]],
                "image": "https://example.com/c.jpg",
                "image_id": 77,
            },
            {"question": "raw?", "answer": "b64", "image": base64.b64encode(jpeg).decode()},
            {
                "question": "url?",
                "answer": "yes",
                "image": "data:image/png;base64," + base64.b64encode(png).decode(),
                "id": "custom",
            },
            {"question": "abs?", "answer": "no", "image": str(tmp_path / "abs.png"), "extra": 1},
        ],
    )
    adapter = JsonlAdapter({"test": path}, metadata_fields=["extra"])
    assert adapter.num_images("test") == 5  # the blank line is not a row
    examples = list(adapter.examples("test"))
    assert [e.id for e in examples] == [
        "test-0:0",
        "77:0",
        "77:1",
        "test-2:0",
        "custom",
        "test-4:0",
    ]
    assert examples[0].image.path == str(tmp_path / "sub" / "img" / "1.png")
    assert examples[0].metadata == {"extra": None, "row": 0, "line": 1}
    assert examples[1].image.url == "https://example.com/c.jpg"
    assert examples[2].answers == ("A2", "a2")
    assert examples[2].metadata["line"] == 3
    assert examples[3].image.data == jpeg
    assert examples[4].image.load_bytes() == png
    assert examples[5].image.path == str(tmp_path / "abs.png")
    assert examples[5].metadata == {"extra": 1, "row": 4, "line": 6}


def test_jsonl_random_access_and_sample(tmp_path: Path) -> None:
    first = write_jsonl(
        tmp_path / "a.jsonl",
        [{"question": f"q{i}", "answer": "a", "image": "x.png"} for i in range(7)],
    )
    second = write_jsonl(
        tmp_path / "b.jsonl",
        [
            "",
            *[
                json.dumps({"question": f"q{i}", "answer": "a", "image": "x.png"})
                for i in range(7, 12)
            ],
        ],
    )
    adapter = JsonlAdapter({"train": [first, second]})
    assert adapter.num_images("train") == 12
    picked = list(adapter.examples("train", rows=[9, 2, 11, 0]))
    assert [e.question for e in picked] == ["q9", "q2", "q11", "q0"]
    assert [e.metadata["line"] for e in picked] == [4, 3, 6, 1]
    sampled = [e.question for e in adapter.sample("train", 5, seed=42)]
    assert sampled == [f"q{i}" for i in sample_rows(12, 5, seed=42)]


def test_jsonl_byte_order_mark_and_custom_fields(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"p": "q?", "r": "a", "i": "x.png"}).encode())
    adapter = JsonlAdapter(path, fields={"question": "p", "answer": "r", "image": "i"})
    assert next(adapter.examples("train")).question == "q?"


GOOD = {"question": "q?", "answer": "a", "image": "x.png"}


@pytest.mark.parametrize(
    ("bad_line", "expected", "hint"),
    [
        (b'{"question": "q?", "answer": ', "invalid JSON: Expecting value", "one JSON object"),
        (
            b'{"question": "caf\xe9?", "answer": "a", "image": "x"}',
            "not valid UTF-8 (byte 0xe9",
            "UTF-8",
        ),
        (b"[1, 2]", "expected a JSON object, got list", "one JSON object"),
        (
            b'{"question": "q?", "img": "x.png"}',
            "missing field(s) 'answer' or 'answers', 'image' (fields present: question, img)",
            "fields=",
        ),
        (b'{"question": 5, "answer": "a", "image": "x.png"}', "must be a string or a list", "text"),
        (
            b'{"question": "q?", "answer": null, "image": "x.png"}',
            "answer ('answer') is missing",
            "skip",
        ),
        (
            b'{"question": "q?", "answer": 3, "image": "x.png"}',
            "answer 0 is not a string (int 3)",
            "skip",
        ),
        (b'{"question": "q?", "answer": "a", "image": 12}', "unsupported type int", "image"),
        (
            b'{"question": "q?", "answer": "a", "image": "x", "image_id": 1.5}',
            "string or an integer",
            "skip",
        ),
    ],
)
def test_jsonl_bad_lines_name_file_and_line(
    tmp_path: Path, bad_line: bytes, expected: str, hint: str
) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [GOOD, "", bad_line, GOOD])
    adapter = JsonlAdapter({"test": path})
    with pytest.raises(DatasetError) as info:
        list(adapter.examples("test"))
    error = info.value
    assert expected in str(error)
    assert error.file == str(path)
    assert error.line == 3
    assert error.row == 1
    assert f"{path}, line 3" in str(error)
    assert error.hint
    assert hint in error.hint


def test_jsonl_skip_counts_bad_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            GOOD,
            b"not json",
            GOOD,
            b"\xff\xfe",
            {"question": ["a?", 3], "answers": ["x", "y"], "image": "i.png"},
            GOOD,
        ],
    )
    skipped: list[SkippedItem] = []
    examples = list(JsonlAdapter({"test": path}).examples("test", on_error="skip", skipped=skipped))
    assert [(s.line, s.row, s.example_id) for s in skipped] == [
        (2, 1, None),
        (4, 3, None),
        (5, 4, "test-4:1"),
    ]
    assert all(s.file == str(path) and s.split == "test" for s in skipped)
    assert [e.id for e in examples] == ["test-0:0", "test-2:0", "test-4:0", "test-5:0"]
