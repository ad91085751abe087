"""The book list behind the synthetic covers: real titles, authors and genres.

The package ships ``data/catalogue.csv.gz`` (columns ``title, author, genre``), derived from
the BookCover30 test listing of uchidalab/book-dataset (Apache-2.0; see ``data/NOTICE.md``).
:func:`build_catalogue` is the exact recipe that produced it, so it can be rebuilt and checked.

>>> books = load_catalogue()
>>> books[0].genre in CATEGORIES
True
>>> parse_title("A Wrinkle in Time: A Novel (Time Quintet)")
TitleParts(main='A Wrinkle in Time', subtitle='A Novel', series=('Time Quintet',))
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from vqaft.datasets.ocr_vqa_questions import CATEGORIES
from vqaft.errors import DatasetError

__all__ = [
    "CATALOGUE_COLUMNS",
    "Book",
    "CatalogueBuild",
    "TitleParts",
    "build_catalogue",
    "load_catalogue",
    "parse_title",
    "read_catalogue",
]

CATALOGUE_COLUMNS = ("title", "author", "genre")
_RESOURCE = "catalogue.csv.gz"
_LISTING_COLUMNS = 7  # ASIN, filename, image URL, title, author, category id, category


@dataclass(frozen=True)
class Book:
    """One catalogue entry. ``author`` is ``""`` when the listing names none."""

    title: str
    author: str
    genre: str


@dataclass(frozen=True)
class TitleParts:
    """A catalogue title cut into what a cover prints in different places.

    Attributes:
        main: the title proper (text before the first ``": "``).
        subtitle: text after the first ``": "``, parentheses removed (``""`` if none).
        series: parenthesised tags, e.g. ``("Time Quintet",)`` or ``("2nd Edition",)``.
    """

    main: str
    subtitle: str
    series: tuple[str, ...]


@dataclass(frozen=True)
class CatalogueBuild:
    """What :func:`build_catalogue` kept and dropped (every dropped row is listed)."""

    kept: int
    dropped_invalid_utf8: list[int] = field(default_factory=list)
    dropped_duplicate_title: list[int] = field(default_factory=list)
    dropped_empty_title: list[int] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        """Number of listing rows left out."""
        return (
            len(self.dropped_invalid_utf8)
            + len(self.dropped_duplicate_title)
            + len(self.dropped_empty_title)
        )


_PAREN_RE = re.compile(r"\(([^()]*)\)")


def parse_title(title: str) -> TitleParts:
    """Split a catalogue title into main title, subtitle and parenthesised series tags.

    >>> parse_title("Barron's GRE, 21st Edition")
    TitleParts(main="Barron's GRE, 21st Edition", subtitle='', series=())
    """
    series = tuple(s.strip() for s in _PAREN_RE.findall(title) if s.strip())
    bare = " ".join(_PAREN_RE.sub(" ", title).split())
    main, sep, subtitle = bare.partition(": ")
    if not sep:
        main, subtitle = bare.rstrip(":"), ""
    main = main.strip()
    if not main:  # a title that is all parentheses
        main, series = " ".join(series), ()
    return TitleParts(main=main, subtitle=subtitle.strip(), series=series)


def read_catalogue(path: str | Path) -> tuple[Book, ...]:
    """Read a catalogue file (gzip-compressed or plain CSV with a ``title,author,genre`` header).

    Raises:
        DatasetError: the header is wrong, a row has the wrong number of fields, a title is
            empty, or a genre is not one of the 32 OCR-VQA categories.
    """
    path = Path(path)
    raw = path.read_bytes()
    return _parse_catalogue(raw, str(path))


@lru_cache(maxsize=1)
def load_catalogue() -> tuple[Book, ...]:
    """The catalogue shipped with vqaft (about 5,700 books, 30 genres), loaded once.

    >>> len(load_catalogue()) > 5000
    True
    """
    resource = resources.files("vqaft.datasets").joinpath("data").joinpath(_RESOURCE)
    return _parse_catalogue(resource.read_bytes(), f"vqaft/datasets/data/{_RESOURCE}")


def _parse_catalogue(raw: bytes, name: str) -> tuple[Book, ...]:
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))
    header = next(reader, None)
    if header is None or tuple(header) != CATALOGUE_COLUMNS:
        raise DatasetError(
            f"catalogue header is {header!r}, expected {list(CATALOGUE_COLUMNS)!r}",
            file=name,
            line=1,
            hint="write the catalogue with build_catalogue() or a title,author,genre header",
        )
    books: list[Book] = []
    known = set(CATEGORIES)
    for line, fields in enumerate(reader, start=2):
        if len(fields) != len(CATALOGUE_COLUMNS):
            raise DatasetError(
                f"expected 3 fields, found {len(fields)}", file=name, line=line, hint="fix the row"
            )
        title, author, genre = fields
        if not title.strip():
            raise DatasetError("empty title", file=name, line=line, hint="drop the row")
        if genre not in known:
            raise DatasetError(
                f"genre {genre!r} is not one of the 32 OCR-VQA categories",
                file=name,
                line=line,
                hint="use an exact Amazon category string from ocr_vqa_questions.CATEGORIES",
            )
        books.append(Book(title=title, author=author, genre=genre))
    return tuple(books)


def build_catalogue(listing_csv: str | Path, out_path: str | Path) -> CatalogueBuild:
    """Derive the shipped catalogue from a BookCover30 listing CSV.

    The recipe: decode as UTF-8 with ``errors="replace"`` and drop rows holding a replacement
    character (bytes that were not valid UTF-8), drop rows with an empty title, keep the
    first row of each repeated title (so a title can never land in two splits), keep title
    and author byte-exact (authors may be empty), and write ``title,author,genre`` as
    gzip-compressed CSV with a fixed timestamp so the output is byte-reproducible.

    Raises:
        DatasetError: a row does not have the listing's 7 fields or has an unknown category.
    """
    listing = Path(listing_csv)
    text = listing.read_bytes().decode("utf-8", errors="replace")
    invalid: list[int] = []
    empty: list[int] = []
    duplicate: list[int] = []
    seen: set[str] = set()
    kept: list[tuple[str, str, str]] = []
    known = set(CATEGORIES)
    for line, fields in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if len(fields) != _LISTING_COLUMNS:
            raise DatasetError(
                f"expected {_LISTING_COLUMNS} fields, found {len(fields)}",
                file=str(listing),
                line=line,
                hint="pass a BookCover30 listing CSV (ASIN, filename, URL, title, author, id, "
                "category)",
            )
        title, author, genre = fields[3], fields[4], fields[6]
        if any("\ufffd" in f for f in fields):
            invalid.append(line)
        elif not title.strip():
            empty.append(line)
        elif title in seen:
            duplicate.append(line)
        else:
            if genre not in known:
                raise DatasetError(
                    f"unknown category {genre!r}", file=str(listing), line=line, hint="fix the row"
                )
            seen.add(title)
            kept.append((title, author, genre))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CATALOGUE_COLUMNS)
    writer.writerows(kept)
    payload = gzip.compress(buffer.getvalue().encode("utf-8"), compresslevel=9, mtime=0)
    Path(out_path).write_bytes(payload)
    return CatalogueBuild(
        kept=len(kept),
        dropped_invalid_utf8=invalid,
        dropped_duplicate_title=duplicate,
        dropped_empty_title=empty,
    )
