"""The ``synthetic-covers`` adapter: OCR-VQA-like book covers generated offline.

Every image is a rendered cover of a real catalogue book (title, author and genre from the
BookCover30 listing shipped with vqaft), asked OCR-VQA's questions at OCR-VQA's shares, with
answers in OCR-VQA's exact formats. Nothing is downloaded; generation is deterministic and
lazy: the cover of ``(seed, split, row)`` depends on nothing else (besides the split sizes,
which fix how the catalogue is partitioned), so any row can be regenerated alone.

>>> adapter = SyntheticCoversAdapter(seed=0, images={"train": 3, "test": 2})
>>> adapter.splits(), adapter.num_images("train")
(['train', 'test'], 3)
>>> first = next(adapter.examples("test", rows=[1]))
>>> first.id
'synthetic-0-test-000001:0'

Same seed, same bytes: two adapters built with equal arguments yield identical examples and
images on any machine running the same Pillow version (Pillow bundles the FreeType and
libjpeg that draw and encode the covers; only fonts shipped with vqaft are used).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vqaft.datasets.base import OnError, SamplingMixin, SkippedItem, register_dataset
from vqaft.datasets.ocr_vqa_questions import CATEGORIES
from vqaft.datasets.synthetic_catalogue import Book, load_catalogue
from vqaft.datasets.synthetic_questions import SyntheticQuestion, make_questions
from vqaft.datasets.synthetic_random import StableRandom
from vqaft.datasets.synthetic_render import encode_cover, render_cover
from vqaft.errors import ConfigError, DatasetError
from vqaft.types import Example, ImageRef

__all__ = ["DEFAULT_IMAGES", "SyntheticCover", "SyntheticCoversAdapter"]

DEFAULT_IMAGES: Mapping[str, int] = {"train": 150, "validation": 50, "test": 100}
"""Images per split by default: the cookbook's sample sizes."""

_KEY = "vqaft-synthetic-covers/v1"


@dataclass(frozen=True)
class SyntheticCover:
    """One generated image row: the cover, its book, its questions and the words drawn on it.

    Attributes:
        split, row: where the row sits.
        image_id: ``"synthetic-<seed>-<split>-<row:06d>"``.
        image_url: ``"synthetic://covers/<seed>/<split>/<row>"`` (not fetchable; an origin tag).
        book: the catalogue entry drawn.
        jpeg: the encoded image.
        width, height: image size in pixels.
        layout: the layout id used (see :data:`~vqaft.datasets.synthetic_render.LAYOUTS`).
        questions: the questions with answers, forms and categories.
        ocr_tokens: the words drawn, in reading order.
        ocr_info: the same words with boxes normalised to 0..1 (OCR-VQA's ``ocr_info``).
    """

    split: str
    row: int
    image_id: str
    image_url: str
    book: Book
    jpeg: bytes
    width: int
    height: int
    layout: str
    questions: tuple[SyntheticQuestion, ...]
    ocr_tokens: tuple[str, ...]
    ocr_info: tuple[dict[str, Any], ...]

    def metadata(self) -> dict[str, Any]:
        """The metadata every example of this image carries (OCR-VQA column names)."""
        return {
            "title": self.book.title,
            "authorName": self.book.author,
            "genre": self.book.genre,
            "set_name": self.split,
            "image_width": self.width,
            "image_height": self.height,
            "image_url": self.image_url,
            "row": self.row,
            "layout": self.layout,
            "ocr_tokens": list(self.ocr_tokens),
            "ocr_info": [_copy_info(i) for i in self.ocr_info],
        }

    def examples(self) -> list[Example]:
        """One :class:`~vqaft.types.Example` per question, ids ``"<image_id>:<k>"``."""
        image = ImageRef(data=self.jpeg)
        shared = self.metadata()
        return [
            Example(
                id=f"{self.image_id}:{k}",
                image=image,
                question=q.question,
                answers=(q.answer,),
                image_id=self.image_id,
                split=self.split,
                metadata={**shared, "question_form": q.form.value, "category": q.category},
            )
            for k, q in enumerate(self.questions)
        ]

    def to_row(self) -> dict[str, Any]:
        """The row in the Hugging Face OCR-VQA layout (``ocr_vqa_schema.OCR_VQA_SCHEMA``)."""
        return {
            "image": {"bytes": self.jpeg, "path": None},
            "image_id": self.image_id,
            "questions": [q.question for q in self.questions],
            "answers": [q.answer for q in self.questions],
            "ocr_tokens": list(self.ocr_tokens),
            "ocr_info": [_copy_info(i) for i in self.ocr_info],
            "title": self.book.title,
            "authorName": self.book.author,
            "genre": self.book.genre,
            "image_width": self.width,
            "image_height": self.height,
            "image_url": self.image_url,
            "set_name": self.split,
        }


def _copy_info(info: Mapping[str, Any]) -> dict[str, Any]:
    return {"word": info["word"], "bounding_box": dict(info["bounding_box"])}


@register_dataset("synthetic-covers")
class SyntheticCoversAdapter(SamplingMixin):
    """Synthetic OCR-VQA: rendered covers of real catalogue books, generated on demand.

    Args:
        seed: fixes every image, question and answer.
        images: number of images per split (``{"train": 150, "validation": 50, "test": 100}``
            by default); the split names are free.
        books: the catalogue to draw from (default: the shipped ~5,700-book listing). Genres
            must be OCR-VQA category strings.

    The catalogue is shuffled with ``seed`` and cut into one part per split in proportion to
    the split sizes, so no book appears in two splits. While the total number of images does
    not exceed the catalogue, every image shows a different book; beyond that, books repeat
    within their own split (with a different cover and questions).

    Rendering takes a few milliseconds per cover; nothing is cached, so memory stays flat.
    """

    def __init__(
        self,
        seed: int = 0,
        images: Mapping[str, int] | None = None,
        *,
        books: Sequence[Book] | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed must be an integer, got {seed!r}")
        sizes = dict(DEFAULT_IMAGES if images is None else images)
        if not sizes:
            raise ConfigError("images names no split", hint='e.g. images={"train": 150}')
        for name, count in sizes.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(f"split names must be non-empty strings, got {name!r}")
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ConfigError(
                    f"images[{name!r}] must be a non-negative integer, got {count!r}",
                    hint="give the number of images wanted in that split",
                )
        catalogue = load_catalogue() if books is None else tuple(books)
        _check_books(catalogue)
        if sum(1 for n in sizes.values() if n) > len(catalogue):
            raise ConfigError(
                f"{len(catalogue)} books cannot fill {len(sizes)} disjoint splits",
                hint="pass more books or fewer splits",
            )
        self.seed = seed
        self.images: Mapping[str, int] = sizes
        self._books = catalogue
        self._partition: dict[str, list[int]] | None = None

    def __repr__(self) -> str:
        return f"SyntheticCoversAdapter(seed={self.seed!r}, images={dict(self.images)!r})"

    # -- DatasetAdapter ----------------------------------------------------------------------

    def splits(self) -> list[str]:
        """The split names, in the order given."""
        return list(self.images)

    def num_images(self, split: str) -> int:
        """Number of images in ``split``.

        Raises:
            DatasetError: unknown split.
        """
        self._check_split(split)
        return self.images[split]

    def examples(
        self,
        split: str,
        rows: Sequence[int] | None = None,
        *,
        on_error: OnError = "raise",
        skipped: list[SkippedItem] | None = None,
    ) -> Iterator[Example]:
        """Yield the examples of ``split`` (of image rows ``rows`` only, in that order).

        Only the requested rows are rendered. Generated rows are always valid, so nothing is
        ever skipped; ``on_error`` and ``skipped`` are accepted for the protocol.

        Raises:
            DatasetError: unknown split.
            ConfigError: a row index out of range or not an integer, or a bad ``on_error``.
        """
        if on_error not in ("raise", "skip"):
            raise ConfigError(
                f"on_error must be 'raise' or 'skip', got {on_error!r}",
                hint="use on_error='skip' to record bad rows and carry on",
            )
        indices = self._check_rows(split, rows)
        return self._generate(split, indices)

    # -- generation --------------------------------------------------------------------------

    def book(self, split: str, row: int) -> Book:
        """The catalogue book drawn on image ``row`` of ``split``."""
        self._check_rows(split, [row])
        return self._book(split, row)

    def cover(self, split: str, row: int) -> SyntheticCover:
        """Generate image ``row`` of ``split`` with everything known about it.

        >>> cover = SyntheticCoversAdapter(seed=1, images={"test": 1}).cover("test", 0)
        >>> cover.questions[-1].answer in ("Yes", "No", cover.book.genre)
        True
        """
        self._check_rows(split, [row])
        return self._cover(split, row)

    def _generate(self, split: str, rows: Sequence[int]) -> Iterator[Example]:
        for row in rows:
            yield from self._cover(split, row).examples()

    def _book(self, split: str, row: int) -> Book:
        chunk = self._split_books()[split]
        return self._books[chunk[row % len(chunk)]]

    def _cover(self, split: str, row: int) -> SyntheticCover:
        book = self._book(split, row)
        questions = make_questions(book, StableRandom.from_key(_KEY, self.seed, split, row, "qa"))
        rng = StableRandom.from_key(_KEY, self.seed, split, row, "cover")
        rendered = render_cover(book, rng)
        jpeg = encode_cover(rendered.image, rng)
        width, height = rendered.image.size
        return SyntheticCover(
            split=split,
            row=row,
            image_id=f"synthetic-{self.seed}-{split}-{row:06d}",
            image_url=f"synthetic://covers/{self.seed}/{split}/{row}",
            book=book,
            jpeg=jpeg,
            width=width,
            height=height,
            layout=rendered.layout,
            questions=tuple(questions),
            ocr_tokens=tuple(rendered.ocr_tokens()),
            ocr_info=tuple(rendered.ocr_info()),
        )

    def _split_books(self) -> dict[str, list[int]]:
        """Catalogue indices of each split's books: a seeded shuffle cut in proportion."""
        if self._partition is not None:
            return self._partition
        order = list(range(len(self._books)))
        StableRandom.from_key(_KEY, self.seed, "partition").shuffle(order)
        n_books = len(order)
        total = sum(self.images.values())
        sizes = {
            name: 0 if count == 0 else max(1, n_books * count // total)
            for name, count in self.images.items()
        }
        while sum(sizes.values()) > n_books:  # only when minimum-one parts overflow
            largest = max(sizes, key=lambda name: sizes[name])
            sizes[largest] -= 1
        partition: dict[str, list[int]] = {}
        start = 0
        for name, size in sizes.items():
            partition[name] = order[start : start + size]
            start += size
        self._partition = partition
        return partition

    # -- checks ------------------------------------------------------------------------------

    def _check_split(self, split: str) -> None:
        if split not in self.images:
            raise DatasetError(
                f"unknown split {split!r}",
                hint="available splits: " + ", ".join(self.images),
            )

    def _check_rows(self, split: str, rows: Sequence[int] | None) -> list[int]:
        self._check_split(split)
        count = self.images[split]
        if rows is None:
            return list(range(count))
        checked: list[int] = []
        for row in rows:
            if isinstance(row, bool) or not isinstance(row, int):
                raise ConfigError(f"row indices must be integers, got {row!r}")
            if not 0 <= row < count:
                raise ConfigError(
                    f"row {row} is out of range for split {split!r} ({count} rows)",
                    row=row,
                    hint=f"use row indices from 0 to {count - 1}"
                    if count
                    else "the split is empty",
                )
            checked.append(row)
        return checked

    # -- export ------------------------------------------------------------------------------

    def write_parquet(
        self,
        out_dir: str | os.PathLike[str],
        splits: Sequence[str] | None = None,
        *,
        rows_per_group: int = 64,
        progress: bool = False,
    ) -> dict[str, Path]:
        """Write the dataset in the Hugging Face OCR-VQA layout; returns the file per split.

        Files are ``out_dir/data/<split>-00000-of-00001.parquet`` with the schema
        :data:`~vqaft.datasets.ocr_vqa_schema.OCR_VQA_SCHEMA` (plus ``datasets`` feature
        metadata, so ``image`` loads as an Image). Rows are rendered and written one row group
        at a time, so memory stays flat; each file appears only once complete. The result
        reads back with the ``ocr-vqa`` adapter or ``datasets.load_dataset("parquet", ...)``.

        >>> adapter = SyntheticCoversAdapter(images={"test": 2})
        >>> adapter.write_parquet("out")["test"].name  # doctest: +SKIP
        'test-00000-of-00001.parquet'
        """
        from vqaft.datasets.synthetic_parquet import write_covers_parquet

        names = self.splits() if splits is None else list(splits)
        for name in names:
            self._check_split(name)
        if rows_per_group < 1:
            raise ConfigError(f"rows_per_group must be >= 1, got {rows_per_group}")
        return {
            name: write_covers_parquet(
                (self._cover(name, row) for row in range(self.images[name])),
                Path(out_dir) / "data" / f"{name}-00000-of-00001.parquet",
                rows_per_group=rows_per_group,
                total=self.images[name],
                progress_label=f"synthetic-covers {name}" if progress else None,
            )
            for name in names
        }


def _check_books(books: Sequence[Book]) -> None:
    if not books:
        raise ConfigError("the book catalogue is empty", hint="pass at least one Book")
    known = set(CATEGORIES)
    seen: set[str] = set()
    for index, book in enumerate(books):
        if not isinstance(book, Book):
            raise ConfigError(f"books[{index}] is {type(book).__name__}, not a Book")
        if not book.title.strip():
            raise ConfigError(f"books[{index}] has an empty title", row=index)
        if book.genre not in known:
            raise ConfigError(
                f"books[{index}] has genre {book.genre!r}, not an OCR-VQA category",
                row=index,
                hint="use one of vqaft.datasets.ocr_vqa_questions.CATEGORIES",
            )
        if book.title in seen:
            raise ConfigError(
                f"books[{index}] repeats the title {book.title!r}",
                row=index,
                hint="remove duplicates so a title cannot land in two splits",
            )
        seen.add(book.title)
