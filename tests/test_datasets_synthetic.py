"""Tests for the synthetic-covers generator and the OCR-VQA question tables."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from vqaft.datasets.base import DatasetAdapter, load_adapter, sample_rows
from vqaft.datasets.ocr_vqa_questions import (
    ALIAS_TO_CATEGORY,
    ALIASES,
    BOOK30_CATEGORIES,
    CATEGORIES,
    CATEGORY_TO_ALIAS,
    FORM_SHARES,
    NO,
    VAL1000_QUESTION_COUNTS,
    YES,
    QuestionForm,
    alias_question,
    classify_question,
    related_question,
    yes_no_answer,
)
from vqaft.datasets.ocr_vqa_schema import OCR_VQA_SCHEMA
from vqaft.datasets.synthetic import SyntheticCover, SyntheticCoversAdapter
from vqaft.datasets.synthetic_catalogue import (
    Book,
    build_catalogue,
    load_catalogue,
    parse_title,
    read_catalogue,
)
from vqaft.datasets.synthetic_questions import make_questions
from vqaft.datasets.synthetic_random import StableRandom, derive_seed
from vqaft.datasets.synthetic_render import LAYOUTS, render_cover
from vqaft.errors import ConfigError, DatasetError
from vqaft.types import Example

DATA = Path(__file__).resolve().parents[1] / "src" / "vqaft" / "datasets" / "data"
SAMPLE_IMAGES = 320


def _key(example: Example) -> tuple[object, ...]:
    return (
        example.id,
        example.question,
        example.answers,
        example.image_id,
        example.split,
        example.image.load_bytes(),
        json.dumps(example.metadata, sort_keys=True),
    )


@pytest.fixture(scope="module")
def covers() -> list[SyntheticCover]:
    """A few hundred generated covers, shared by the distribution tests."""
    adapter = SyntheticCoversAdapter(seed=11, images={"train": SAMPLE_IMAGES})
    return [adapter.cover("train", row) for row in range(SAMPLE_IMAGES)]


# -- the question tables --------------------------------------------------------------------


def test_categories_are_the_32_amazon_strings() -> None:
    assert len(CATEGORIES) == len(set(CATEGORIES)) == 32
    assert set(CATEGORIES) - set(BOOK30_CATEGORIES) == {"Gay & Lesbian", "Education & Teaching"}


def test_alias_table_matches_the_real_questions() -> None:
    real = {q for q, _ in VAL1000_QUESTION_COUNTS}
    assert len(ALIASES) == 28
    assert {a.question for a in ALIASES} <= real
    assert set(ALIAS_TO_CATEGORY.values()) <= set(CATEGORIES)
    assert len(CATEGORY_TO_ALIAS) == 28  # one alias per category at most
    assert ALIAS_TO_CATEGORY["christianity"] == "Christian Books & Bibles"
    assert alias_question("Arts & Photography") == "Is this an art related book?"
    assert alias_question("Crafts, Hobbies & Home") == "Is this a crafts or hobbies related book?"
    assert alias_question("Test Preparation") == "Is this an exam preparation book?"
    with pytest.raises(KeyError):
        alias_question("Science & Math")


def test_every_related_question_in_the_real_table_names_a_category() -> None:
    related = [q for q, _ in VAL1000_QUESTION_COUNTS if q.startswith("Is this book related")]
    assert {related_question(c) for c in CATEGORIES} == set(related)


@pytest.mark.parametrize(
    ("question", "form", "category"),
    [
        ("What is the title of this book?", QuestionForm.TITLE, None),
        ("Who wrote this book?", QuestionForm.AUTHOR, None),
        ("Who is the author of this book?", QuestionForm.AUTHOR, None),
        ("What is the genre of this book?", QuestionForm.GENRE, None),
        ("What type of book is this?", QuestionForm.GENRE, None),
        ("Is this book related to Law?", QuestionForm.YES_NO_RELATED, "Law"),
        (
            "is this book related to  children’s books",
            QuestionForm.YES_NO_RELATED,
            "Children's Books",
        ),
        ("Is this christianity book?", QuestionForm.YES_NO_ALIAS, "Christian Books & Bibles"),
        ("Is this an art related book?", QuestionForm.YES_NO_ALIAS, "Arts & Photography"),
        ("IS THIS A SCI-FI BOOK?", QuestionForm.YES_NO_ALIAS, "Science Fiction & Fantasy"),
        ("Is this a dinosaur book?", QuestionForm.YES_NO_ALIAS, None),
        ("Is this book related to Dinosaurs?", QuestionForm.YES_NO_RELATED, None),
        ("What is the edition of this book?", QuestionForm.OTHER, None),
        ("What colour is the cover?", QuestionForm.OTHER, None),
    ],
)
def test_classify_question(question: str, form: QuestionForm, category: str | None) -> None:
    info = classify_question(question)
    assert info.form is form
    assert info.category == category


def test_classify_unknown_alias_keeps_the_words() -> None:
    info = classify_question("Is this a dinosaur book?")
    assert info.alias == "dinosaur"
    assert not QuestionForm.TITLE.is_yes_no
    assert info.form.is_yes_no


def test_every_real_question_classifies() -> None:
    for question, _ in VAL1000_QUESTION_COUNTS:
        info = classify_question(question)
        if "edition" in question:
            assert info.form is QuestionForm.OTHER
        else:
            assert info.form is not QuestionForm.OTHER, question
        assert (info.category in CATEGORIES) == info.form.is_yes_no, question


def test_form_shares_match_the_published_counts(shared_dir: Path) -> None:
    table = json.loads(
        (shared_dir / "data" / "ocr-vqa" / "question-templates-val1000.json").read_text()
    )
    counted = [(t["question"], t["count"]) for t in table["templates"]]
    assert counted == list(VAL1000_QUESTION_COUNTS)
    assert sum(c for _, c in counted) == table["total_questions"]
    assert FORM_SHARES[QuestionForm.TITLE] == pytest.approx(0.208, abs=1e-3)
    assert FORM_SHARES[QuestionForm.YES_NO_ALIAS] == pytest.approx(0.181, abs=1e-3)


def test_yes_no_answer() -> None:
    assert yes_no_answer("Is this a recipe book?", "Cookbooks, Food & Wine") == YES
    assert yes_no_answer("Is this book related to Law?", "Travel") == NO
    with pytest.raises(ValueError, match="not a yes/no"):
        yes_no_answer("Who wrote this book?", "Law")
    with pytest.raises(ValueError, match="no known category"):
        yes_no_answer("Is this a dinosaur book?", "Law")


# -- the catalogue --------------------------------------------------------------------------


def test_shipped_catalogue_is_clean() -> None:
    books = load_catalogue()
    assert len(books) > 5000
    assert len({b.title for b in books}) == len(books)
    assert {b.genre for b in books} == set(BOOK30_CATEGORIES)
    assert not any("\ufffd" in b.title + b.author for b in books)
    assert sum(1 for b in books if not b.author.strip()) > 100  # authorless books exist


def test_catalogue_rebuilds_byte_identically(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "catalogue.csv.gz"
    build = build_catalogue(shared_dir / "data" / "ocr-vqa" / "book30-listing-test.csv", out)
    assert out.read_bytes() == (DATA / "catalogue.csv.gz").read_bytes()
    assert len(build.dropped_invalid_utf8) == 19
    assert build.kept + build.dropped == 5700
    assert read_catalogue(out) == load_catalogue()


def test_read_catalogue_rejects_unknown_genre(tmp_path: Path) -> None:
    path = tmp_path / "books.csv"
    path.write_text("title,author,genre\nA Book,Someone,Cooking\n")
    with pytest.raises(DatasetError, match="not one of the 32") as info:
        read_catalogue(path)
    assert info.value.line == 2
    gz = tmp_path / "books.csv.gz"
    gz.write_bytes(gzip.compress(b"title,author,genre\nA Book,,Law\n"))
    assert read_catalogue(gz) == (Book("A Book", "", "Law"),)


@pytest.mark.parametrize(
    ("title", "main", "subtitle", "series"),
    [
        ("A Wrinkle in Time (Time Quintet)", "A Wrinkle in Time", "", ("Time Quintet",)),
        (
            "HTML & XHTML: The Definitive Guide (6th Edition)",
            "HTML & XHTML",
            "The Definitive Guide",
            ("6th Edition",),
        ),
        ("Barron's GRE, 21st Edition", "Barron's GRE, 21st Edition", "", ()),
        ("Reincarnation: How: Why", "Reincarnation", "How: Why", ()),
        ("(Only Parentheses)", "Only Parentheses", "", ()),
    ],
)
def test_parse_title(title: str, main: str, subtitle: str, series: tuple[str, ...]) -> None:
    parts = parse_title(title)
    assert (parts.main, parts.subtitle, parts.series) == (main, subtitle, series)


# -- determinism ----------------------------------------------------------------------------


def test_same_seed_gives_identical_examples_and_bytes() -> None:
    sizes = {"train": 4, "test": 3}
    first = SyntheticCoversAdapter(seed=3, images=sizes)
    second = SyntheticCoversAdapter(seed=3, images=sizes)
    for split in sizes:
        a = [_key(e) for e in first.examples(split)]
        b = [_key(e) for e in second.examples(split)]
        assert a == b
        assert len(a) >= 2 * sizes[split]


def test_different_seed_gives_different_data() -> None:
    a = SyntheticCoversAdapter(seed=1, images={"test": 3})
    b = SyntheticCoversAdapter(seed=2, images={"test": 3})
    covers_a = [a.cover("test", r) for r in range(3)]
    covers_b = [b.cover("test", r) for r in range(3)]
    assert all(x.jpeg != y.jpeg for x, y in zip(covers_a, covers_b, strict=True))
    assert [c.book for c in covers_a] != [c.book for c in covers_b]


def test_output_does_not_depend_on_the_process(tmp_path: Path) -> None:
    """Another interpreter with another hash seed renders the very same bytes."""
    script = (
        "import hashlib\n"
        "from vqaft.datasets.synthetic import SyntheticCoversAdapter\n"
        "a = SyntheticCoversAdapter(seed=5, images={'validation': 3})\n"
        "for r in range(3):\n"
        "    c = a.cover('validation', r)\n"
        "    print(hashlib.sha256(c.jpeg).hexdigest(), c.image_id, len(c.questions))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    adapter = SyntheticCoversAdapter(seed=5, images={"validation": 3})
    here = []
    for r in range(3):
        c = adapter.cover("validation", r)
        here.append(f"{hashlib.sha256(c.jpeg).hexdigest()} {c.image_id} {len(c.questions)}")
    assert done.stdout.split("\n")[:3] == here


def test_stable_random_is_pinned() -> None:
    """The draws behind every choice are fixed forever (only ``random()`` is used)."""
    assert derive_seed("vqaft", 0) == derive_seed("vqaft", 0) != derive_seed("vqaft", 1)
    rng = StableRandom(2024)
    assert [rng.integer(0, 9) for _ in range(8)] == [
        int(x * 10) for x in _python_random_floats(2024, 8)
    ]


def _python_random_floats(seed: int, n: int) -> list[float]:
    import random

    generator = random.Random(seed)
    return [generator.random() for _ in range(n)]


def test_questions_are_pinned_for_a_known_row() -> None:
    """Books and questions depend only on version-stable draws: a golden value."""
    adapter = SyntheticCoversAdapter(seed=0, images={"train": 150, "validation": 50, "test": 100})
    cover = adapter.cover("test", 0)
    assert cover.book == Book(
        "The Slums of Aspen: Immigrants vs. the Environment in America's Eden (Nation of Nations)",
        "Lisa  Sun-Hee Park",
        "Business & Money",
    )
    assert cover.questions[0].question == "Who is the author of this book?"
    assert cover.questions[0].answer == "Lisa  Sun-Hee Park"
    assert (cover.width, cover.height, cover.layout) == (317, 500, "band-top")


# -- lazy rows, sampling, protocol ------------------------------------------------------------


def test_lazy_row_access_equals_the_full_pass() -> None:
    adapter = SyntheticCoversAdapter(seed=9, images={"train": 8, "test": 2})
    full = list(adapter.examples("train"))
    by_image: dict[str, list[Example]] = {}
    for example in full:
        by_image.setdefault(example.image_id, []).append(example)
    sixth = list(by_image.values())[5]
    alone = list(
        SyntheticCoversAdapter(seed=9, images={"train": 8, "test": 2}).examples("train", rows=[5])
    )
    assert [_key(e) for e in alone] == [_key(e) for e in sixth]
    order = [e.image_id for e in adapter.examples("train", rows=[3, 1])]
    assert order[0].endswith("000003")
    assert order[-1].endswith("000001")


def test_examples_are_grouped_by_image_with_stable_ids() -> None:
    adapter = SyntheticCoversAdapter(seed=4, images={"test": 3})
    for example in adapter.examples("test"):
        image_id, k = example.id.rsplit(":", 1)
        assert image_id == example.image_id
        assert example.metadata["row"] == int(image_id[-6:])
        assert example.metadata["ocr_tokens"]
        assert int(k) >= 0


def test_sample_follows_the_cookbook_rule() -> None:
    adapter = SyntheticCoversAdapter(seed=2, images={"test": 12})
    picked = sample_rows(12, 3, seed=42)
    sampled = [e.image_id for e in adapter.sample("test", 3, seed=42)]
    assert list(dict.fromkeys(sampled)) == [f"synthetic-2-test-{r:06d}" for r in picked]


def test_registered_and_satisfies_the_protocol() -> None:
    adapter = load_adapter("synthetic-covers", seed=1, images={"test": 1})
    assert isinstance(adapter, SyntheticCoversAdapter)
    assert isinstance(adapter, DatasetAdapter)
    assert adapter.splits() == ["test"]
    assert SyntheticCoversAdapter().splits() == ["train", "validation", "test"]
    assert SyntheticCoversAdapter().num_images("validation") == 50


def test_bad_arguments_raise_clear_errors() -> None:
    adapter = SyntheticCoversAdapter(seed=0, images={"train": 2})
    with pytest.raises(DatasetError, match="unknown split 'tset'"):
        adapter.num_images("tset")
    with pytest.raises(ConfigError, match="out of range"):
        list(adapter.examples("train", rows=[2]))
    with pytest.raises(ConfigError, match="on_error"):
        adapter.examples("train", on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="non-negative"):
        SyntheticCoversAdapter(images={"train": -1})
    with pytest.raises(ConfigError, match="not an OCR-VQA category"):
        SyntheticCoversAdapter(books=[Book("A", "B", "Cooking")])
    with pytest.raises(ConfigError, match="repeats the title"):
        SyntheticCoversAdapter(books=[Book("A", "B", "Law"), Book("A", "C", "Travel")])


# -- splits ---------------------------------------------------------------------------------


def test_no_book_in_two_splits() -> None:
    sizes = {"train": 3000, "validation": 1500, "test": 1500}  # more images than books
    adapter = SyntheticCoversAdapter(seed=6, images=sizes)
    titles = {s: {adapter.book(s, r).title for r in range(n)} for s, n in sizes.items()}
    assert not titles["train"] & titles["validation"]
    assert not titles["train"] & titles["test"]
    assert not titles["validation"] & titles["test"]
    small = SyntheticCoversAdapter(seed=6)  # default sizes: every image a different book
    books = [small.book(s, r) for s in small.splits() for r in range(small.num_images(s))]
    assert len(set(books)) == len(books) == 300


def test_custom_books_are_used() -> None:
    books = [Book(f"Title {i}", f"Author {i}", CATEGORIES[i % 30]) for i in range(10)]
    adapter = SyntheticCoversAdapter(seed=0, images={"a": 2, "b": 2}, books=books)
    drawn = {adapter.book(s, r) for s in ("a", "b") for r in range(2)}
    assert drawn <= set(books)


# -- questions and answers ------------------------------------------------------------------


def test_question_form_shares_match_ocr_vqa(covers: list[SyntheticCover]) -> None:
    forms = Counter(classify_question(q.question).form for c in covers for q in c.questions)
    total = sum(forms.values())
    for form in (
        QuestionForm.TITLE,
        QuestionForm.AUTHOR,
        QuestionForm.GENRE,
        QuestionForm.YES_NO_RELATED,
        QuestionForm.YES_NO_ALIAS,
    ):
        assert forms[form] / total == pytest.approx(FORM_SHARES[form], abs=0.03), form
    assert forms[QuestionForm.OTHER] == 0
    per_image = [len(c.questions) for c in covers]
    assert min(per_image) >= 2
    assert max(per_image) <= 7
    assert np.mean(per_image) == pytest.approx(4.8, abs=0.25)


def test_generated_forms_agree_with_the_classifier(covers: list[SyntheticCover]) -> None:
    for cover in covers:
        for q in cover.questions:
            info = classify_question(q.question)
            assert info.form is q.form
            assert info.category == q.category


def test_answer_formats(covers: list[SyntheticCover]) -> None:
    answers: Counter[str] = Counter()
    for cover in covers:
        for q in cover.questions:
            if q.form is QuestionForm.TITLE:
                assert q.answer == cover.book.title
            elif q.form is QuestionForm.AUTHOR:
                assert q.answer == cover.book.author
            elif q.form is QuestionForm.GENRE:
                assert q.answer == cover.book.genre
                assert q.answer in CATEGORIES
            else:
                assert q.answer in (YES, NO)
                assert q.answer == yes_no_answer(q.question, cover.book.genre)
                answers[q.answer] += 1
    assert 0.4 < answers[YES] / (answers[YES] + answers[NO]) < 0.6


def test_author_questions_only_when_there_is_an_author(covers: list[SyntheticCover]) -> None:
    authorless = [c for c in covers if not c.book.author.strip()]
    assert authorless  # ~7% of the catalogue
    for cover in covers:
        n_author = sum(q.form is QuestionForm.AUTHOR for q in cover.questions)
        assert n_author == (0 if cover in authorless else 1)
    book = Book("Untitled Calendar 2016", "", "Calendars")
    for seed in range(50):
        forms = [q.form for q in make_questions(book, StableRandom(seed))]
        assert QuestionForm.AUTHOR not in forms
        assert forms[:2] == [QuestionForm.TITLE, QuestionForm.GENRE]


def test_categories_without_alias_use_the_related_form() -> None:
    book = Book("Calculus", "A. Author", "Science & Math")
    for seed in range(100):
        for q in make_questions(book, StableRandom(seed)):
            if q.answer == YES:
                assert q.question == "Is this book related to Science & Math?"


# -- covers ---------------------------------------------------------------------------------


def test_covers_vary(covers: list[SyntheticCover]) -> None:
    layouts = Counter(c.layout for c in covers)
    assert set(layouts) == set(LAYOUTS)
    sizes = {(c.width, c.height) for c in covers}
    assert len(sizes) > 60
    assert all(250 <= c.width <= 500 and 330 <= c.height <= 500 for c in covers)
    assert sum(c.height > c.width for c in covers) / len(covers) > 0.8
    first = Image.open(io.BytesIO(covers[0].jpeg))
    assert first.format == "JPEG"
    assert first.size == (covers[0].width, covers[0].height)


def test_ocr_tokens_record_the_title_and_author(covers: list[SyntheticCover]) -> None:
    title_seen = author_seen = with_author = 0
    for cover in covers:
        tokens = [t.lower() for t in cover.ocr_tokens]
        assert [i["word"] for i in cover.ocr_info] == list(cover.ocr_tokens)
        main = parse_title(cover.book.title).main.split()
        title_seen += main[0].lower() in tokens
        if cover.book.author.strip():
            with_author += 1
            author_seen += cover.book.author.split()[-1].lower() in tokens
        for info in cover.ocr_info:
            box = info["bounding_box"]
            assert 0.0 <= box["top_left_x"] <= 1.0
            assert 0.0 <= box["top_left_y"] <= 1.0
            assert 0.0 < box["width"] <= 1.0
            assert 0.0 < box["height"] <= 1.0
    assert title_seen / len(covers) > 0.98
    assert author_seen / with_author > 0.95


def test_ocr_boxes_sit_on_ink() -> None:
    """Each recorded word box contains drawn glyphs (pixels unlike the box's border)."""
    books = load_catalogue()
    inked = checked = 0
    for seed in range(12):
        rng = StableRandom.from_key("ink", seed)
        rendered = render_cover(rng.choice(books), rng)
        pixels = np.asarray(rendered.image.convert("L"), dtype=np.int16)
        for word in rendered.words:
            x0, y0 = int(word.left), int(word.top)
            x1, y1 = int(word.left + word.width + 1), int(word.top + word.height + 1)
            crop = pixels[y0:y1, x0:x1]
            if crop.size == 0:
                continue
            checked += 1
            inked += int(crop.max() - crop.min() > 40)
    assert checked > 100
    assert inked / checked > 0.95


# -- parquet --------------------------------------------------------------------------------


def test_write_parquet_layout_and_schema(tmp_path: Path) -> None:
    adapter = SyntheticCoversAdapter(seed=8, images={"train": 5, "test": 2})
    paths = adapter.write_parquet(tmp_path, rows_per_group=2)
    assert paths == {
        "train": tmp_path / "data" / "train-00000-of-00001.parquet",
        "test": tmp_path / "data" / "test-00000-of-00001.parquet",
    }
    file = pq.ParquetFile(paths["train"])
    assert file.schema_arrow.remove_metadata().equals(OCR_VQA_SCHEMA)
    assert file.metadata.num_rows == 5
    assert file.metadata.num_row_groups == 3  # streamed: 2 + 2 + 1
    table = pq.read_table(paths["test"])
    rows = table.to_pylist()
    for row, r in zip(rows, range(2), strict=True):
        cover = adapter.cover("test", r)
        assert row == cover.to_row()
        assert row["questions"] == [q.question for q in cover.questions]
        assert row["set_name"] == "test"
        assert row["image_url"].startswith("synthetic://")
    assert not list((tmp_path / "data").glob(".*partial"))


def test_write_parquet_only_some_splits(tmp_path: Path) -> None:
    adapter = SyntheticCoversAdapter(seed=8, images={"train": 1, "test": 1})
    assert list(adapter.write_parquet(tmp_path, splits=["test"])) == ["test"]
    assert not (tmp_path / "data" / "train-00000-of-00001.parquet").exists()
    with pytest.raises(DatasetError, match="unknown split"):
        adapter.write_parquet(tmp_path, splits=["dev"])


def test_parquet_round_trips_through_the_ocr_vqa_adapter(tmp_path: Path) -> None:
    ocr_vqa = pytest.importorskip("vqaft.datasets.ocr_vqa")
    sizes = {"train": 4, "validation": 2, "test": 3}
    ours = SyntheticCoversAdapter(seed=12, images=sizes)
    ours.write_parquet(tmp_path, rows_per_group=2)
    theirs = ocr_vqa.OcrVqaAdapter(tmp_path)
    assert theirs.splits() == list(sizes)
    for split, n in sizes.items():
        assert theirs.num_images(split) == n
        mine = list(ours.examples(split))
        read = list(theirs.examples(split))
        assert [e.id for e in read] == [e.id for e in mine]
        for a, b in zip(mine, read, strict=True):
            assert (a.question, a.answers, a.image_id, a.split) == (
                b.question,
                b.answers,
                b.image_id,
                b.split,
            )
            assert a.image.load_bytes() == b.image.load_bytes()
            assert {k: a.metadata[k] for k in b.metadata} == b.metadata


def test_parquet_loads_with_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    adapter = SyntheticCoversAdapter(seed=13, images={"test": 3})
    path = adapter.write_parquet(tmp_path)["test"]
    ds = datasets.load_dataset(
        "parquet", data_files={"test": str(path)}, cache_dir=str(tmp_path / "cache")
    )["test"]
    assert ds.num_rows == 3
    assert isinstance(ds.features["image"], datasets.Image)
    assert set(ds.column_names) == set(OCR_VQA_SCHEMA.names)
    row = ds[1]
    cover = adapter.cover("test", 1)
    assert row["image"].size == (cover.width, cover.height)
    assert row["answers"] == [q.answer for q in cover.questions]
    assert row["ocr_info"] == list(cover.ocr_info)
