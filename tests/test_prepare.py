"""Streaming JSONL writing and ``prepare`` (vqaft.messages.writer)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

import vqaft
from vqaft.datasets.base import DatasetAdapter, OnError, SamplingMixin, SkippedItem, sample_rows
from vqaft.errors import ConfigError, DatasetError, ImageError
from vqaft.messages import writer
from vqaft.messages.builder import MessageBuilder
from vqaft.messages.images import ImagePolicy
from vqaft.messages.writer import PrepareManifest, content_digest, ids_path, prepare, write_split
from vqaft.types import Example, ImageRef

QUESTIONS = (
    ("What is the title of this book?", "Tiny Book {n}"),
    ("Who wrote this book?", "Author {n}"),
    ("Is this a kids book?", "No"),
)


def cover_bytes(n: int, fmt: str = "JPEG") -> bytes:
    """A small, distinct cover: a coloured background with a title line."""
    image = Image.new("RGB", (48, 72), ((37 * n) % 256, (91 * n) % 256, (53 * n) % 256))
    ImageDraw.Draw(image).text((4, 30), f"B{n}", fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def image_part(record: dict[str, Any]) -> dict[str, Any]:
    user = [m for m in record["messages"] if m["role"] == "user"][-1]
    part: dict[str, Any] = user["content"][1]
    return part


def image_bytes(record: dict[str, Any]) -> bytes:
    return base64.b64decode(image_part(record)["image_url"]["url"].split(",", 1)[1])


class TinyAdapter(SamplingMixin):
    """A DatasetAdapter over Pillow-generated covers: ``sizes[split]`` images, 1-3 questions each.

    Rows listed in ``bad_rows`` are malformed (reported or skipped like a real adapter would);
    images listed in ``corrupt_images`` hold bytes that are not an image.
    """

    def __init__(
        self,
        sizes: dict[str, int] | None = None,
        *,
        bad_rows: Sequence[tuple[str, int]] = (),
        corrupt_images: Sequence[str] = (),
    ) -> None:
        self.sizes = sizes or {"train": 12, "validation": 6, "test": 8}
        self.bad_rows = set(bad_rows)
        self.corrupt_images = set(corrupt_images)

    def splits(self) -> list[str]:
        return list(self.sizes)

    def num_images(self, split: str) -> int:
        return self.sizes[split]

    def examples(
        self,
        split: str,
        rows: Sequence[int] | None = None,
        *,
        on_error: OnError = "raise",
        skipped: list[SkippedItem] | None = None,
    ) -> Iterator[Example]:
        offset = {"train": 0, "validation": 1000, "test": 2000}.get(split, 3000)
        for row in range(self.sizes[split]) if rows is None else rows:
            n = offset + row
            image_id = f"{split}-{row:03d}"
            if (split, row) in self.bad_rows:
                error = DatasetError("questions and answers differ in length", row=row)
                if on_error == "raise":
                    raise error
                if skipped is not None:
                    skipped.append(SkippedItem(reason=error.message, split=split, row=row))
                continue
            data = b"\x00broken" if image_id in self.corrupt_images else cover_bytes(n)
            image = ImageRef(data=data)
            for k in range(1 + row % 3):
                question, answer = QUESTIONS[k]
                yield Example(
                    id=f"{image_id}:{k}",
                    image=image,
                    question=question,
                    answers=(answer.format(n=n),),
                    image_id=image_id,
                    split=split,
                )


def test_tiny_adapter_satisfies_the_protocol() -> None:
    adapter = TinyAdapter()
    assert isinstance(adapter, DatasetAdapter)
    sampled = {ex.image_id for ex in adapter.sample("train", 4, 42)}
    assert sampled == {f"train-{row:03d}" for row in sample_rows(12, 4, 42)}


# ---- write_split ------------------------------------------------------------------------------


def test_records_and_ids_follow_input_order(tmp_path: Path) -> None:
    examples = list(TinyAdapter().examples("train"))
    out = tmp_path / "train.jsonl"

    manifest = write_split(
        iter(examples), out, builder=MessageBuilder(), include_answer=True, workers=1
    )

    records = read_jsonl(out)
    ids = read_jsonl(ids_path(out))
    assert len(records) == len(ids) == len(examples) == manifest.examples == 24
    for line, (record, side, ex) in enumerate(zip(records, ids, examples, strict=True), 1):
        assert side == {
            "line": line,
            "example_id": ex.id,
            "image_id": ex.image_id,
            "question": ex.question,
            "answers": list(ex.answers),
            "image_sha256": hashlib.sha256(ex.image.load_bytes()).hexdigest(),
        }
        assert record["messages"][-2]["content"][0]["text"] == ex.question
        assert record["messages"][-1] == {"role": "assistant", "content": ex.answer}
        assert image_bytes(record) == ex.image.load_bytes()  # default policy keeps the JPEG
        assert ex.id not in json.dumps(record)
    assert manifest.file == "train.jsonl"
    assert manifest.ids_file == "train.ids.jsonl"
    assert manifest.images == 12
    assert manifest.content_sha256 == content_digest(out)
    assert manifest.byte_size == out.stat().st_size


def test_test_files_have_no_answers(tmp_path: Path) -> None:
    out = tmp_path / "test.jsonl"
    write_split(
        TinyAdapter().examples("test"),
        out,
        builder=MessageBuilder(),
        include_answer=False,
        workers=1,
    )
    records = read_jsonl(out)
    assert records
    assert all(r["messages"][-1]["role"] == "user" for r in records)
    assert read_jsonl(ids_path(out))[0]["answers"] == ["Tiny Book 2000"]  # gold travels aside


def test_each_image_is_encoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real_job = writer.encode_job

    def counting_job(data: bytes, policy: ImagePolicy, detail: Any, digest: Any = None) -> Any:
        calls.append(data)
        return real_job(data, policy, detail, digest)

    monkeypatch.setattr(writer, "encode_job", counting_job)
    a, b = ImageRef(data=cover_bytes(1)), ImageRef(data=cover_bytes(2))
    # A's questions, B's, then A again (a repeat that is not consecutive), then a copy of B's
    # bytes in a new ImageRef object: 2 distinct images, 4 runs.
    refs = [a, a, a, b, b, a, ImageRef(data=cover_bytes(2))]
    examples = [
        Example(id=f"e{i}", image=ref, question="q?", answers=("x",), image_id=f"img{i // 3}")
        for i, ref in enumerate(refs)
    ]

    manifest = write_split(
        examples,
        tmp_path / "t.jsonl",
        builder=MessageBuilder(),
        policy=ImagePolicy.cookbook(),
        include_answer=True,
        workers=1,
    )

    assert sorted(calls) == sorted([cover_bytes(1), cover_bytes(2)])
    assert manifest.images_encoded == 2
    assert manifest.examples == 7
    records = read_jsonl(tmp_path / "t.jsonl")
    assert image_bytes(records[0]) == image_bytes(records[5])
    assert image_bytes(records[3]) == image_bytes(records[6]) != image_bytes(records[0])


def test_worker_pool_writes_the_same_file(tmp_path: Path) -> None:
    adapter = TinyAdapter({"train": 30})
    policy = ImagePolicy(format="png")  # re-encode everything, so the workers do real work
    single = write_split(
        adapter.examples("train"),
        tmp_path / "one.jsonl",
        builder=MessageBuilder(),
        policy=policy,
        include_answer=True,
        workers=1,
    )
    pooled = write_split(
        adapter.examples("train"),
        tmp_path / "two.jsonl",
        builder=MessageBuilder(),
        policy=policy,
        include_answer=True,
        workers=2,
    )
    assert pooled.content_sha256 == single.content_sha256
    assert pooled.images_encoded == single.images_encoded == 30
    assert (tmp_path / "one.ids.jsonl").read_bytes() == (tmp_path / "two.ids.jsonl").read_bytes()


def test_durable_write_gives_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    adapter = TinyAdapter({"train": 8})
    plain = write_split(
        adapter.examples("train"),
        tmp_path / "plain.jsonl",
        builder=MessageBuilder(),
        include_answer=True,
        workers=1,
    )
    assert synced == []  # by default the OS page cache does the writing back
    durable = write_split(
        adapter.examples("train"),
        tmp_path / "durable.jsonl",
        builder=MessageBuilder(),
        include_answer=True,
        workers=1,
        durable=True,
    )
    assert len(synced) == 2  # the JSONL file and its ids side file, before their renames
    assert durable.content_sha256 == plain.content_sha256
    assert (tmp_path / "durable.jsonl").read_bytes() == (tmp_path / "plain.jsonl").read_bytes()


def test_remote_and_path_images(tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    cover.write_bytes(cover_bytes(5, "PNG"))
    url = 'https://example.com/covers/a "quoted" name.jpg'
    examples = [
        Example(id="r:0", image=ImageRef(url=url), question="q?", answers=("a",), image_id="r"),
        Example(
            id="p:0", image=ImageRef(path=str(cover)), question="q?", answers=("b",), image_id="p"
        ),
    ]
    out = tmp_path / "mixed.jsonl"

    manifest = write_split(examples, out, builder=MessageBuilder(), include_answer=True, workers=1)

    records = read_jsonl(out)
    assert image_part(records[0])["image_url"]["url"] == url
    assert image_bytes(records[1]) == cover.read_bytes()
    ids = read_jsonl(ids_path(out))
    assert ids[0]["image_sha256"] == hashlib.sha256(url.encode()).hexdigest()
    assert ids[1]["image_sha256"] == hashlib.sha256(cover.read_bytes()).hexdigest()
    assert manifest.images_encoded == 1


def test_few_shot_images_are_in_every_record(tmp_path: Path) -> None:
    shot = next(TinyAdapter().examples("train", [5]))
    builder = MessageBuilder(few_shot=[shot])
    out = tmp_path / "fs.jsonl"
    write_split(
        TinyAdapter().examples("validation"),
        out,
        builder=builder,
        policy=ImagePolicy.cookbook(),
        include_answer=True,
        workers=1,
    )
    records = read_jsonl(out)
    shot_urls = {r["messages"][1]["content"][1]["image_url"]["url"] for r in records}
    assert shot_urls == set(builder.few_shot_urls(ImagePolicy.cookbook()))
    assert all(r["messages"][2] == {"role": "assistant", "content": shot.answer} for r in records)


def test_bad_image_raises_with_its_example_id(tmp_path: Path) -> None:
    adapter = TinyAdapter({"train": 5}, corrupt_images=["train-002"])
    with pytest.raises(ImageError, match="train-002") as info:
        write_split(
            adapter.examples("train"),
            tmp_path / "train.jsonl",
            builder=MessageBuilder(),
            include_answer=True,
            workers=1,
        )
    assert info.value.example_id == "train-002:0"
    assert info.value.hint
    assert not (tmp_path / "train.jsonl").exists()


def test_bad_image_is_skipped_and_recorded(tmp_path: Path) -> None:
    adapter = TinyAdapter({"train": 6}, corrupt_images=["train-002", "train-004"])
    skipped: list[SkippedItem] = []

    manifest = write_split(
        adapter.examples("train"),
        tmp_path / "train.jsonl",
        builder=MessageBuilder(),
        include_answer=True,
        workers=1,
        on_error="skip",
        skipped=skipped,
        split="train",
    )

    expected = ["train-002:0", "train-002:1", "train-002:2", "train-004:0", "train-004:1"]
    assert [item.example_id for item in skipped] == expected
    assert manifest.skipped == skipped
    assert all("not an image" in item.reason and item.split == "train" for item in skipped)
    assert manifest.examples == 12 - len(expected)
    assert manifest.images == 4
    written = [row["example_id"] for row in read_jsonl(tmp_path / "train.ids.jsonl")]
    assert not set(written) & set(expected)


def test_unreadable_path_is_skipped(tmp_path: Path) -> None:
    missing = Example(
        id="m:0",
        image=ImageRef(path=str(tmp_path / "nope.jpg")),
        question="q?",
        answers=("a",),
        image_id="m",
    )
    skipped: list[SkippedItem] = []
    manifest = write_split(
        [missing],
        tmp_path / "x.jsonl",
        builder=MessageBuilder(),
        include_answer=True,
        workers=1,
        on_error="skip",
        skipped=skipped,
    )
    assert manifest.examples == 0
    assert [s.example_id for s in skipped] == ["m:0"]
    assert skipped[0].file == str(tmp_path / "nope.jpg")
    assert "cannot read image file" in skipped[0].reason


def test_other_url_schemes_are_refused(tmp_path: Path) -> None:
    ex = Example(
        id="f:0",
        image=ImageRef(url="ftp://example.com/a.jpg"),
        question="q?",
        answers=("a",),
        image_id="f",
    )
    with pytest.raises(ImageError, match="neither http") as info:
        write_split(
            [ex], tmp_path / "x.jsonl", builder=MessageBuilder(), include_answer=True, workers=1
        )
    assert info.value.example_id == "f:0"


def _failing_stream(examples: Iterator[Example], after: int) -> Iterator[Example]:
    for i, example in enumerate(examples):
        if i == after:
            raise RuntimeError("interrupted")
        yield example


def test_interrupted_write_leaves_the_previous_file(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    adapter = TinyAdapter({"train": 8})
    first = write_split(
        adapter.examples("train"), out, builder=MessageBuilder(), include_answer=True, workers=1
    )
    before, before_ids = out.read_bytes(), ids_path(out).read_bytes()

    with pytest.raises(RuntimeError, match="interrupted"):
        write_split(
            _failing_stream(adapter.examples("train"), after=10),
            out,
            builder=MessageBuilder(question_template="Q: {question}"),
            include_answer=True,
            workers=1,
        )

    assert out.read_bytes() == before
    assert ids_path(out).read_bytes() == before_ids
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.ids.jsonl", "train.jsonl"]
    assert content_digest(out) == first.content_sha256


def test_interrupted_first_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        write_split(
            _failing_stream(TinyAdapter().examples("train"), after=3),
            tmp_path / "train.jsonl",
            builder=MessageBuilder(),
            include_answer=True,
            workers=1,
        )
    assert list(tmp_path.iterdir()) == []


def test_rerun_rewrites(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    adapter = TinyAdapter({"train": 4})
    write_split(
        adapter.examples("train"), out, builder=MessageBuilder(), include_answer=True, workers=1
    )
    second = write_split(
        adapter.examples("train"),
        out,
        builder=MessageBuilder(question_template="Q: {question}"),
        include_answer=True,
        workers=1,
    )
    assert read_jsonl(out)[0]["messages"][1]["content"][0]["text"].startswith("Q: ")
    assert second.content_sha256 == content_digest(out)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="workers"):
        write_split(
            [], tmp_path / "a.jsonl", builder=MessageBuilder(), include_answer=True, workers=0
        )
    with pytest.raises(ConfigError, match="on_error"):
        write_split(
            [],
            tmp_path / "a.jsonl",
            builder=MessageBuilder(),
            include_answer=True,
            workers=1,
            on_error="ignore",
        )  # type: ignore[arg-type]


# ---- prepare ----------------------------------------------------------------------------------


def test_prepare_writes_splits_and_manifest(tmp_path: Path) -> None:
    adapter = TinyAdapter()
    policy = ImagePolicy.cookbook()
    builder = MessageBuilder(detail="high")

    manifest = prepare(
        adapter,
        tmp_path / "data",
        splits={"train": (5, 42), "validation": (3, 7), "test": (None, 0)},
        builder=builder,
        policy=policy,
        workers=1,
        progress=False,
    )

    data = tmp_path / "data"
    assert sorted(p.name for p in data.iterdir()) == [
        "manifest.json",
        "test.ids.jsonl",
        "test.jsonl",
        "train.ids.jsonl",
        "train.jsonl",
        "validation.ids.jsonl",
        "validation.jsonl",
    ]
    assert PrepareManifest.read(data / "manifest.json") == manifest
    raw = json.loads((data / "manifest.json").read_text())
    assert raw["vqaft_version"] == vqaft.__version__
    assert raw["policy"] == {
        "format": "jpeg",
        "quality": 100,
        "resize": "none",
        "max_side": None,
        "max_pixels": 50_000_000,
    }
    assert raw["builder"] == builder.config()
    assert raw["dataset"]["adapter"].endswith(".TinyAdapter")
    for name, (n_images, seed) in {"train": (5, 42), "validation": (3, 7)}.items():
        split = manifest.splits[name]
        rows = sample_rows(adapter.num_images(name), n_images, seed)
        expected = [ex.id for ex in adapter.examples(name, rows)]
        assert [r["example_id"] for r in read_jsonl(data / f"{name}.ids.jsonl")] == expected
        assert (split.images, split.examples) == (n_images, len(expected))
        assert (split.requested_images, split.seed) == (n_images, seed)
        assert split.include_answer
        assert split.content_sha256 == content_digest(data / split.file)
        assert split.byte_size == (data / split.file).stat().st_size
        assert split.skipped == []
    test = manifest.splits["test"]
    assert (test.images, test.examples, test.include_answer) == (8, 15, False)
    assert (test.requested_images, test.seed) == (None, None)
    assert all(r["messages"][-1]["role"] == "user" for r in read_jsonl(data / "test.jsonl"))
    assert all(r["messages"][-1]["role"] == "assistant" for r in read_jsonl(data / "train.jsonl"))
    assert "train: " in manifest.summary()


def test_prepare_default_sample_is_the_cookbooks(tmp_path: Path) -> None:
    adapter = TinyAdapter({"train": 160, "validation": 60, "test": 110})
    manifest = prepare(adapter, tmp_path, workers=1, progress=False)
    counts = {name: split.images for name, split in manifest.splits.items()}
    assert counts == {"train": 150, "validation": 50, "test": 100}
    assert manifest.policy == ImagePolicy()


def test_prepare_lists_skipped_rows_and_images(tmp_path: Path) -> None:
    adapter = TinyAdapter(
        {"train": 6, "test": 4}, bad_rows=[("train", 1)], corrupt_images=["train-004"]
    )
    manifest = prepare(
        adapter,
        tmp_path,
        splits={"train": (None, 0), "test": (None, 0)},
        workers=1,
        on_error="skip",
        progress=False,
    )
    skipped = manifest.splits["train"].skipped
    assert [(s.row, s.example_id) for s in skipped] == [
        (1, None),
        (None, "train-004:0"),
        (None, "train-004:1"),
    ]
    assert manifest.splits["train"].images == 4
    assert manifest.splits["test"].skipped == []
    assert PrepareManifest.read(tmp_path / "manifest.json").splits["train"].skipped == skipped


def test_prepare_raises_on_bad_rows_by_default(tmp_path: Path) -> None:
    prepare(
        TinyAdapter({"train": 3}), tmp_path, splits={"train": (None, 0)}, workers=1, progress=False
    )
    assert (tmp_path / "manifest.json").exists()
    adapter = TinyAdapter({"train": 3}, bad_rows=[("train", 2)])

    with pytest.raises(DatasetError, match="differ in length"):
        prepare(adapter, tmp_path, splits={"train": (None, 0)}, workers=1, progress=False)

    # The old train.jsonl is kept (atomic write) but no stale manifest vouches for the folder.
    assert not (tmp_path / "manifest.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.ids.jsonl", "train.jsonl"]


def test_prepare_rejects_unknown_splits(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'dev'") as info:
        prepare(TinyAdapter(), tmp_path, splits={"dev": (1, 0)}, workers=1, progress=False)
    assert "train" in (info.value.hint or "")


def test_manifest_read_errors(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read prepare manifest"):
        PrepareManifest.read(tmp_path / "manifest.json")


def test_content_digest_stands_each_data_url_by_its_hash(tmp_path: Path) -> None:
    url = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    record = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": 'say "url": "data:x" please'},
                    {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
                ],
            }
        ]
    }
    line = json.dumps(record) + "\n"
    path = tmp_path / "one.jsonl"
    path.write_text(line + line)

    url_hash = hashlib.blake2b(url.encode(), digest_size=32).hexdigest()
    expected = hashlib.sha256((line.replace(url, url_hash) * 2).encode()).hexdigest()
    assert content_digest(path) == expected

    # Any change to an image's bytes changes the digest.
    changed = line.replace(url, url[:-4] + "AAAA")
    path.write_text(line + changed)
    assert content_digest(path) != expected
