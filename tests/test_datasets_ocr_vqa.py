"""The ocr-vqa adapter: sources, explode, cookbook-parity sampling, laziness, bad input."""

from __future__ import annotations

import gc
import io
import json
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pytest
from PIL import Image

from helpers_datasets import (
    noise_png,
    ocr_vqa_row,
    ocr_vqa_rows,
    write_hf_layout,
    write_parquet,
)
from vqaft.datasets.base import DatasetAdapter, SkippedItem, dataset_adapters, load_adapter
from vqaft.datasets.ocr_vqa import OcrVqaAdapter
from vqaft.errors import ConfigError, DatasetError

SEEDS = (0, 1, 42, 2024)


@pytest.fixture(scope="module")
def rows() -> dict[str, list[dict[str, Any]]]:
    return {
        "train": ocr_vqa_rows("tr", 60, first_seed=0),
        "validation": ocr_vqa_rows("va", 12, first_seed=100),
        "test": ocr_vqa_rows("te", 20, first_seed=200),
    }


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory: pytest.TempPathFactory, rows: dict[str, list[dict[str, Any]]]) -> Path:
    """Hub layout: train in 3 shards of unequal size, row groups of 8 rows."""
    train = rows["train"]
    return write_hf_layout(
        tmp_path_factory.mktemp("ocr-vqa"),
        {
            "train": [train[:25], train[25:40], train[40:]],
            "validation": [rows["validation"]],
            "test": [rows["test"][:10], rows["test"][10:]],
        },
        row_group_size=8,
    )


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-cache")


@pytest.fixture(scope="module")
def reference(hf_dir: Path, cache_dir: Path) -> Any:
    """What the cookbook does: ``datasets.load_dataset`` on the same data."""
    return datasets.load_dataset(str(hf_dir), cache_dir=str(cache_dir))


def image_ids(examples: Any) -> list[str]:
    return list(dict.fromkeys(e.image_id for e in examples))


# -- reading ---------------------------------------------------------------------------------


def test_splits_and_counts_match_datasets(hf_dir: Path, reference: Any) -> None:
    adapter = OcrVqaAdapter(hf_dir)
    assert isinstance(adapter, DatasetAdapter)
    assert adapter.splits() == ["train", "validation", "test"]
    for split in adapter.splits():
        assert adapter.num_images(split) == reference[split].num_rows


def test_explodes_every_pair_in_row_order(
    hf_dir: Path, rows: dict[str, list[dict[str, Any]]], reference: Any
) -> None:
    examples = list(OcrVqaAdapter(hf_dir).examples("train"))
    source = rows["train"]
    assert len(examples) == sum(len(r["questions"]) for r in source)
    assert image_ids(examples) == reference["train"]["image_id"]
    expected = [
        (f"{r['image_id']}:{k}", q, a, r["image"]["bytes"])
        for r in source
        for k, (q, a) in enumerate(zip(r["questions"], r["answers"], strict=True))
    ]
    got = [(e.id, e.question, e.answers, e.image.data) for e in examples]
    assert got == [(i, q, (a,), b) for i, q, a, b in expected]
    assert {e.split for e in examples} == {"train"}


def test_metadata_is_json_ready(hf_dir: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    example = next(OcrVqaAdapter(hf_dir).examples("test", rows=[13]))
    row = rows["test"][13]
    assert example.metadata == {
        "title": row["title"],
        "authorName": row["authorName"],
        "genre": row["genre"],
        "set_name": "train",
        "image_width": 8,
        "image_height": 6,
        "image_url": row["image_url"],
        "row": 13,
    }
    assert json.loads(json.dumps(example.metadata)) == example.metadata


def test_rows_are_yielded_in_the_order_asked(hf_dir: Path, rows: dict[str, Any]) -> None:
    adapter = OcrVqaAdapter(hf_dir)
    wanted = [59, 0, 33, 24, 25, 33]
    got = image_ids(adapter.examples("train", rows=wanted))
    assert got == list(dict.fromkeys(rows["train"][i]["image_id"] for i in wanted))
    # a repeated row is yielded again (the caller asked for it twice)
    assert len(list(adapter.examples("train", rows=[5, 5]))) == 2 * len(
        rows["train"][5]["questions"]
    )


# -- cookbook parity ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("engine", ["auto", "datasets"])
def test_sample_selects_what_shuffle_select_selects(
    hf_dir: Path, cache_dir: Path, reference: Any, seed: int, engine: str
) -> None:
    adapter = OcrVqaAdapter(hf_dir, engine=engine, cache_dir=cache_dir)  # type: ignore[arg-type]
    for split, n in (("train", 17), ("validation", 12), ("test", 5)):
        chosen = reference[split].shuffle(seed=seed).select(range(n))
        examples = list(adapter.sample(split, n, seed))
        assert image_ids(examples) == chosen["image_id"]
        assert len(examples) == sum(len(q) for q in chosen["questions"])
        assert [e.question for e in examples] == [q for qs in chosen["questions"] for q in qs]
        assert [e.answer for e in examples] == [a for ans in chosen["answers"] for a in ans]


def test_no_image_lands_in_two_splits(hf_dir: Path) -> None:
    adapter = OcrVqaAdapter(hf_dir)
    seen: dict[str, str] = {}
    for split, n in (("train", 40), ("validation", 10), ("test", 15)):
        examples = list(adapter.sample(split, n, seed=42))
        ids = [e.image_id for e in examples]
        # all questions of an image come out together
        assert len(image_ids(examples)) == sum(
            1 for a, b in zip([None, *ids[:-1]], ids, strict=True) if a != b
        )
        for image_id in ids:
            assert seen.setdefault(image_id, split) == split
    assert len(seen) == 65


def test_hub_code_path_reads_through_load_dataset(hf_dir: Path, cache_dir: Path) -> None:
    """engine="datasets" is the code a hub id takes; load_dataset accepts a local folder."""
    via_datasets = OcrVqaAdapter(str(hf_dir), engine="datasets", cache_dir=cache_dir)
    via_pyarrow = OcrVqaAdapter(hf_dir)
    for split in ("train", "test"):
        got = [(e.id, e.image.data, e.metadata) for e in via_datasets.examples(split)]
        want = [(e.id, e.image.data, e.metadata) for e in via_pyarrow.examples(split)]
        assert got == want


def test_revision_is_refused_for_local_data(hf_dir: Path) -> None:
    with pytest.raises(ConfigError, match="revision"):
        OcrVqaAdapter(hf_dir, revision="main").splits()


def test_pyarrow_engine_refuses_hub_ids() -> None:
    with pytest.raises(ConfigError, match="hub id"):
        OcrVqaAdapter("howard-hou/OCR-VQA", engine="pyarrow").splits()


def test_explicit_data_files_keep_their_order(hf_dir: Path, rows: dict[str, Any]) -> None:
    shards = sorted((hf_dir / "data").glob("train-*.parquet"))
    adapter = OcrVqaAdapter(
        data_files={
            "train": [str(shards[2]), str(shards[0])],
            "test": str(hf_dir / "data" / "test-*.parquet"),
        },
        source=None,
    )
    expected = [r["image_id"] for r in rows["train"][40:] + rows["train"][:25]]
    assert image_ids(adapter.examples("train")) == expected
    relative = OcrVqaAdapter(hf_dir, data_files={"test": "data/test-*.parquet"})
    assert relative.splits() == ["test"]
    assert image_ids(relative.examples("test")) == [r["image_id"] for r in rows["test"]]


def test_single_parquet_file_is_split_train(hf_dir: Path, rows: dict[str, Any]) -> None:
    shard = hf_dir / "data" / "validation-00000-of-00001.parquet"
    adapter = OcrVqaAdapter(shard)
    assert adapter.splits() == ["train"]
    assert image_ids(adapter.examples("train")) == [r["image_id"] for r in rows["validation"]]


def test_save_to_disk_and_arrow_files(
    hf_dir: Path, reference: Any, tmp_path: Path, rows: dict[str, Any]
) -> None:
    saved = tmp_path / "saved"
    reference.save_to_disk(str(saved))
    adapter = OcrVqaAdapter(saved)
    assert adapter.splits() == ["train", "validation", "test"]
    want = [(e.id, e.image.data) for e in OcrVqaAdapter(hf_dir).sample("train", 9, seed=3)]
    assert [(e.id, e.image.data) for e in adapter.sample("train", 9, seed=3)] == want

    # datasets' own Arrow files (IPC stream format) and an IPC *file*-format copy
    stream_files = sorted(str(p) for p in (saved / "test").glob("*.arrow"))
    table = pa.Table.from_pylist(rows["validation"])
    file_format = tmp_path / "validation.arrow"
    with pa.OSFile(str(file_format), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    arrow = OcrVqaAdapter(None, data_files={"test": stream_files, "validation": str(file_format)})
    assert image_ids(arrow.examples("test")) == [r["image_id"] for r in rows["test"]]
    chosen = reference["validation"].shuffle(seed=1).select(range(4))["image_id"]
    assert image_ids(arrow.sample("validation", 4, seed=1)) == chosen


def test_real_covers_round_trip(shared_dir: Path, tmp_path: Path) -> None:
    """Real OCR-VQA-style covers (shared data) come back byte for byte, QA pairs in order."""
    covers = shared_dir / "data" / "real-covers"
    entries = json.loads((covers / "real_covers_qa.json").read_text())
    for entry in entries:  # one cover has only researcher-transcribed answers
        entry["qa"] = entry.get("qa") or entry["qa_unofficial"]
    rows = [
        ocr_vqa_row(
            Path(entry["file"]).stem,
            i,
            len(entry["qa"]),
            image={"bytes": (covers / entry["file"]).read_bytes(), "path": None},
            questions=[q for q, _ in entry["qa"]],
            answers=[a for _, a in entry["qa"]],
            image_width=entry["size"][0],
            image_height=entry["size"][1],
        )
        for i, entry in enumerate(entries)
    ]
    write_hf_layout(tmp_path, {"test": [rows]})
    examples = list(OcrVqaAdapter(tmp_path).examples("test"))
    assert len(examples) == sum(len(entry["qa"]) for entry in entries)
    for entry in entries:
        mine = [e for e in examples if e.image_id == Path(entry["file"]).stem]
        assert [(e.question, e.answer) for e in mine] == [tuple(pair) for pair in entry["qa"]]
        with Image.open(io.BytesIO(mine[0].image.load_bytes())) as image:
            assert list(image.size) == entry["size"]
        assert mine[0].metadata["image_width"] == entry["size"][0]


def test_registered_under_ocr_vqa(hf_dir: Path) -> None:
    assert dataset_adapters.get("ocr-vqa") is OcrVqaAdapter
    adapter = load_adapter("ocr-vqa", source=hf_dir)
    assert adapter.num_images("validation") == 12


# -- laziness ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heavy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 rows, row groups of 5, incompressible ~28 KB images and ~30 KB of OCR tokens a row."""
    rows = [
        ocr_vqa_row(
            f"h{i:03d}",
            i,
            3,
            image={"bytes": noise_png(i), "path": None},
            ocr_tokens=[f"token{i}-{j:05d}" for j in range(2500)],
        )
        for i in range(80)
    ]
    return write_parquet(tmp_path_factory.mktemp("heavy") / "train.parquet", rows, row_group_size=5)


def test_random_access_reads_only_the_row_groups_it_needs(heavy_file: Path) -> None:
    adapter = OcrVqaAdapter(heavy_file, cache_row_groups=2)
    source: Any = adapter._prepare("train").source  # the parquet reader behind the split
    assert adapter.num_images("train") == 80
    assert source.row_groups_read == 0  # counting rows reads the footer only

    gc.collect()
    before = pa.total_allocated_bytes()
    examples = list(adapter.examples("train", rows=[23]))
    assert [e.image_id for e in examples] == ["h023"] * 3
    assert source.row_groups_read == 1
    list(adapter.examples("train", rows=[21, 24, 22]))  # same row group: served from cache
    assert source.row_groups_read == 1

    list(adapter.sample("train", 80, seed=0))  # every row, in random order
    assert source.row_groups_read <= 80
    # Arrow memory held: a couple of projected row groups (5 images each, no OCR columns;
    # ~140 KB apiece), never the file (3.5 MB on disk, ~5.6 MB decoded)
    assert pa.total_allocated_bytes() - before < 1_200_000
    assert heavy_file.stat().st_size > 3_000_000


# -- bad input --------------------------------------------------------------------------------


def bad_split(tmp_path: Path, bad_row: dict[str, Any], *, at: int = 3) -> Path:
    rows = ocr_vqa_rows("ok", 6, first_seed=500)
    rows[at] = bad_row
    return write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", rows)


def raises(path: Path, *, split: str = "train") -> DatasetError:
    with pytest.raises(DatasetError) as info:
        list(OcrVqaAdapter(path.parent.parent).examples(split))
    return info.value


def test_questions_and_answers_of_different_length(tmp_path: Path) -> None:
    row = ocr_vqa_row("bad1", 1, 3)
    row["answers"] = row["answers"][:2]
    path = bad_split(tmp_path, row)
    error = raises(path)
    text = str(error)
    assert error.row == 3
    assert error.file == str(path)
    for part in ("split 'train'", "image_id 'bad1'", "differ in length (3 vs 2)", "row 3"):
        assert part in text
    assert error.hint
    assert "on_error='skip'" in error.hint


@pytest.mark.parametrize(
    ("field", "value", "k", "expected"),
    [
        ("questions", [None, "Who wrote this book?"], 0, "question 0 is missing"),
        ("questions", ["Who wrote this book?", ""], 1, "question 1 is empty"),
        ("questions", ["Who?", "   "], 1, "question 1 is empty"),
        ("answers", ["Jane", None], 1, "answer 1 is missing"),
        ("answers", ["", "Jane"], 0, "answer 0 is empty"),
    ],
)
def test_empty_or_null_text(
    tmp_path: Path, field: str, value: list[Any], k: int, expected: str
) -> None:
    row = ocr_vqa_row("bad2", 2, 2, **{field: value})
    error = raises(bad_split(tmp_path, row))
    assert expected in str(error)
    assert error.example_id == f"bad2:{k}"
    assert error.row == 3
    assert error.hint
    assert "non-empty strings" in error.hint


def test_non_string_questions_and_answers(tmp_path: Path) -> None:
    rows = ocr_vqa_rows("n", 3)
    for row in rows:  # numbers: pyarrow infers a numeric list column
        row["answers"] = [1999 + i for i in range(len(row["answers"]))]
    path = write_parquet(tmp_path / "a" / "data" / "train-0.parquet", rows, schema=None)
    error = raises(path)
    assert "answer 0 is not a string (int 1999)" in str(error)
    assert error.row == 0
    assert error.example_id == "n0000:0"

    rows = ocr_vqa_rows("m", 2)
    for row in rows:
        row["questions"] = [float(i) for i in range(len(row["questions"]))]
    error = raises(write_parquet(tmp_path / "q" / "data" / "train-0.parquet", rows, schema=None))
    assert "question 0 is not a string (float 0.0)" in str(error)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (None, "image ('image') is missing (null)"),
        ({"bytes": None, "path": None}, "both bytes and path are null"),
        ({"bytes": b"", "path": None}, "is empty (zero bytes)"),
    ],
)
def test_missing_image(tmp_path: Path, image: Any, expected: str) -> None:
    error = raises(bad_split(tmp_path, ocr_vqa_row("bad3", 3, 2, image=image)))
    assert expected in str(error)
    assert "image_id 'bad3'" in str(error)
    assert error.row == 3
    assert error.hint
    assert "image" in error.hint


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"questions": None}, "question ('questions') is missing"),
        ({"answers": None}, "answers ('answers') are missing"),
        ({"questions": [], "answers": []}, "has no questions"),
        ({"image_id": None}, "image id ('image_id') is missing"),
    ],
)
def test_null_row_fields(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    row = ocr_vqa_row("bad4", 4, 2)
    row.update(change)
    error = raises(bad_split(tmp_path, row))
    assert expected in str(error)
    assert error.row == 3


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    rows = [
        {"image": r["image"], "image_id": r["image_id"], "title": r["title"]}
        for r in ocr_vqa_rows("c", 2)
    ]
    path = write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", rows, schema=None)
    with pytest.raises(DatasetError) as info:
        OcrVqaAdapter(tmp_path).examples("train")
    text = str(info.value)
    assert "missing required column(s) 'questions', 'answers'" in text
    assert "columns present: image, image_id, title" in text
    assert info.value.file == str(path)
    assert info.value.hint
    assert "'hf' or 'parquet' adapter" in info.value.hint


def test_a_shard_without_a_column_is_named(tmp_path: Path) -> None:
    rows = ocr_vqa_rows("s", 4)
    write_parquet(tmp_path / "data" / "train-00000-of-00002.parquet", rows[:2])
    second = [{k: v for k, v in r.items() if k != "answers"} for r in rows[2:]]
    path = write_parquet(tmp_path / "data" / "train-00001-of-00002.parquet", second, schema=None)
    with pytest.raises(DatasetError, match="'answers'") as info:
        OcrVqaAdapter(tmp_path).num_images("train")
    assert info.value.file == str(path)


def test_unknown_split_lists_the_available_ones(hf_dir: Path) -> None:
    with pytest.raises(DatasetError) as info:
        OcrVqaAdapter(hf_dir).examples("val")
    assert "unknown split 'val'" in str(info.value)
    assert info.value.hint == "did you mean 'validation'? available splits: train, validation, test"


def test_bad_arguments(hf_dir: Path) -> None:
    adapter = OcrVqaAdapter(hf_dir)
    with pytest.raises(ConfigError, match="out of range"):
        adapter.examples("test", rows=[20])
    with pytest.raises(ConfigError, match="on_error"):
        adapter.examples("test", on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="only 20"):
        adapter.sample("test", 21, seed=0)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found") as info:
        OcrVqaAdapter(tmp_path / "nope").splits()
    assert info.value.file == str(tmp_path / "nope")
    broken = tmp_path / "broken" / "data" / "train-00000-of-00001.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DatasetError, match="cannot read parquet") as info:
        OcrVqaAdapter(tmp_path / "broken").num_images("train")
    assert info.value.file == str(broken)


def test_image_given_as_a_path_is_resolved_against_the_file(tmp_path: Path) -> None:
    row = ocr_vqa_row("p1", 1, 2, image={"bytes": None, "path": "covers/p1.jpg"})
    path = write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", [row])
    example = next(OcrVqaAdapter(tmp_path).examples("train"))
    assert example.image.path == str(path.parent / "covers" / "p1.jpg")


# -- skipping ----------------------------------------------------------------------------------


def test_skip_records_bad_rows_and_pairs_and_keeps_the_rest(tmp_path: Path) -> None:
    rows = ocr_vqa_rows("k", 8, first_seed=900)
    rows[1]["answers"] = rows[1]["answers"][:-1]  # whole row: lengths differ
    rows[4]["image"] = None  # whole row: no image
    rows[6]["questions"][1] = ""  # one pair only
    path = write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", rows)
    skipped: list[SkippedItem] = []
    examples = list(OcrVqaAdapter(tmp_path).examples("train", on_error="skip", skipped=skipped))

    assert [(s.row, s.example_id) for s in skipped] == [(1, None), (4, None), (6, "k0906:1")]
    assert all(s.split == "train" and s.file == str(path) for s in skipped)
    assert "differ in length" in skipped[0].reason
    assert "image" in skipped[1].reason
    good = [r for i, r in enumerate(rows) if i not in (1, 4)]
    assert len(examples) == sum(len(r["questions"]) for r in good) - 1
    assert "k0906:1" not in {e.id for e in examples}
    assert {"k0906:0", "k0906:2"} <= {e.id for e in examples}  # ids of the others are kept

    # the same through sample(): the skipped rows are counted again
    again: list[SkippedItem] = []
    sampled = list(
        OcrVqaAdapter(tmp_path).sample("train", 8, seed=0, on_error="skip", skipped=again)
    )
    assert len(again) == 3
    assert len(sampled) == len(examples)


def test_skip_without_a_list_logs_each_problem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    row = ocr_vqa_row("w1", 1, 2)
    row["answers"] = ["only one"]
    bad_split(tmp_path, row, at=0)
    with caplog.at_level("WARNING", logger="vqaft.datasets"):
        examples = list(OcrVqaAdapter(tmp_path).examples("train", on_error="skip"))
    assert len(examples) == sum(
        len(r["questions"]) for r in ocr_vqa_rows("ok", 6, first_seed=500)[1:]
    )
    assert any(
        "w1" in r.getMessage() and "differ in length" in r.getMessage() for r in caplog.records
    )
