"""Builders shared by the local-backend tests: covers with known OCR readings, chat files.

A fake "reading" is a real :class:`~vqaft.local.ocr.CoverOcr` put into a real
:class:`~vqaft.local.ocr.OcrService` cache, keyed by the image's digest: the service then
answers from its cache exactly as it does after a first OCR, so learner, model and backend
code run for real without rapidocr.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from vqaft.local.ocr import CoverOcr, OcrLine, OcrService, image_digest, rapidocr_available

needs_rapidocr = pytest.mark.skipif(
    not rapidocr_available(),
    reason="rapidocr-onnxruntime is not installed (pip install 'vqaft[local]')",
)

GENRE_WORDS = {
    "Cookbooks, Food & Wine": ("Baking", "Recipes", "Kitchen", "Cooking"),
    "History": ("History", "Empire", "War", "Ancient"),
    "Travel": ("Travel", "Map", "Journey", "Guide"),
}
GENRE_COLOURS = {
    "Cookbooks, Food & Wine": (200, 60, 40),
    "History": (90, 70, 40),
    "Travel": (40, 160, 200),
}
NAMES = ("Anna Berg", "Carl Dunn", "Eva Ford", "Gus Hale", "Ida Jones", "Kai Lund", "Mia Roe")
NOUNS = ("River", "Winter", "Garden", "Stone", "Harbor", "Mountain", "Lantern", "Meadow")


def line(text: str, x: float, y: float, height: float, *, gap: float = 0.05) -> OcrLine:
    """An OCR line whose spaces were run together, with wide gaps where they were.

    ``"The Old|Map"``-style input is not needed: every space of ``text`` is removed and
    recorded as a gap of 0.4 of the line height; other neighbours get ``gap``.
    """
    words = text.split(" ")
    joined = "".join(words)
    gaps: list[float] = []
    for index, word in enumerate(words):
        gaps.extend([gap] * (len(word) - 1))
        if index < len(words) - 1:
            gaps.append(0.4)
    width = 0.55 * height * len(joined)
    box = ((x, y), (x + width, y), (x + width, y + height), (x, y + height))
    return OcrLine(text=joined, score=0.98, box=box, gaps=tuple(gaps))


def jpeg(colour: tuple[int, int, int], seed: int, size: tuple[int, int] = (60, 90)) -> bytes:
    """A small, unique JPEG of one colour (``seed`` changes one pixel so digests differ)."""
    image = Image.new("RGB", size, colour)
    image.putpixel((seed % size[0], (seed // size[0]) % size[1]), (seed % 256, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@dataclass
class FakeCover:
    """A cover with its reading and its questions."""

    image: bytes
    reading: CoverOcr
    title: str
    author: str
    genre: str

    def qa(self, other_genre: str) -> list[tuple[str, str]]:
        """OCR-VQA's questions about this cover, with answers."""
        return [
            ("Who wrote this book?", self.author),
            ("What is the title of this book?", self.title),
            ("What is the genre of this book?", self.genre),
            (f"Is this book related to {self.genre}?", "Yes"),
            (f"Is this book related to {other_genre}?", "No"),
        ]


def make_cover(index: int) -> FakeCover:
    """Cover ``index``: a two-line title (a genre word in it), a subtitle, "by" + author."""
    genres = sorted(GENRE_WORDS)
    genre = genres[index % len(genres)]
    word = GENRE_WORDS[genre][(index // 3) % 4]
    noun = NOUNS[index % len(NOUNS)]
    main = f"The {noun} {word}"
    subtitle = f"Notes from {NOUNS[(index + 3) % len(NOUNS)]}"
    author = NAMES[index % len(NAMES)]
    title = f"{main}: {subtitle}"
    lines = (
        line(f"The {noun}", 20, 40, 36),
        line(word, 20, 84, 36),
        line(subtitle, 20, 140, 16),
        line(f"by {author}", 20, 400, 18),
        line("HARBOR PRESS", 60, 460, 10),
    )
    image = jpeg(GENRE_COLOURS[genre], index)
    reading = CoverOcr(width=300, height=480, lines=lines, digest=image_digest(image))
    return FakeCover(image=image, reading=reading, title=title, author=author, genre=genre)


def seed_cache(ocr: OcrService, covers: Sequence[FakeCover]) -> None:
    """Put the covers' readings into ``ocr``'s cache."""
    for cover in covers:
        ocr.cache.put(image_digest(cover.image), cover.reading)


def record(question: str, image: bytes, answer: str | None) -> dict[str, object]:
    """A chat record as ``vqaft prepare`` writes it."""
    url = "data:image/jpeg;base64," + base64.b64encode(image).decode()
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "Answer about the cover."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": question},
                {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
            ],
        },
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return {"messages": messages}


def write_chat(
    path: Path, covers: Sequence[FakeCover], *, answers: bool = True, ids: bool = False
) -> Path:
    """Write the covers' questions as a chat JSONL (and, with ``ids``, its side file)."""
    genres = sorted(GENRE_WORDS)
    side: list[str] = []
    with open(path, "w", encoding="utf-8") as handle:
        for index, cover in enumerate(covers):
            other = next(g for g in genres if g != cover.genre)
            for k, (question, answer) in enumerate(cover.qa(other)):
                item = record(question, cover.image, answer if answers else None)
                handle.write(json.dumps(item) + "\n")
                side.append(
                    json.dumps(
                        {
                            "line": len(side) + 1,
                            "example_id": f"cover-{index}:{k}",
                            "question": question,
                            "answers": [answer],
                        }
                    )
                )
    if ids:
        path.with_name(path.stem + ".ids.jsonl").write_text("\n".join(side) + "\n")
    return path
