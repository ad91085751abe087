"""OCR-VQA-style questions and answers for one catalogue book.

Each image gets, like OCR-VQA: an author question (unless the book has no author), the title
question, a genre question, and usually two yes/no questions (0-4; mean 1.87), half of them
about the book's own category (answer ``"Yes"``) and half about another one (``"No"``). With
the catalogue's ~7% authorless books this gives 2-7 questions per image, 4.8 on average, and
the per-form shares of OCR-VQA ``validation[:1000]`` (see
:data:`~vqaft.datasets.ocr_vqa_questions.FORM_SHARES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vqaft.datasets.ocr_vqa_questions import (
    AUTHOR_QUESTIONS,
    CATEGORIES,
    CATEGORY_TO_ALIAS,
    GENRE_QUESTIONS,
    NO,
    TITLE_QUESTION,
    YES,
    QuestionForm,
    related_question,
)
from vqaft.datasets.synthetic_catalogue import Book
from vqaft.datasets.synthetic_random import StableRandom

__all__ = [
    "RELATED_FORM_PROBABILITY",
    "YES_NO_COUNT_WEIGHTS",
    "SyntheticQuestion",
    "make_questions",
]

YES_NO_COUNT_WEIGHTS: tuple[float, ...] = (0.02, 0.13, 0.82, 0.02, 0.01)
"""Probability of 0, 1, 2, 3 or 4 yes/no questions on one image (mean 1.87, as in OCR-VQA)."""

RELATED_FORM_PROBABILITY = 0.47
"""Chance that a yes/no question about a category with an alias uses the "related to" form.

Four categories have no alias form, so their questions are always "related to"; 0.47 makes
the overall split 53.6% related / 46.4% alias, as in OCR-VQA (1,003 vs 868)."""

_AUTHOR_WEIGHTS = (479.0, 452.0)  # validation[:1000] counts of the two author forms
_GENRE_WEIGHTS = (503.0, 495.0)  # ... and of the two genre forms


@dataclass(frozen=True)
class SyntheticQuestion:
    """One generated question with its gold answer, form and (for yes/no) category."""

    question: str
    answer: str
    form: QuestionForm
    category: str | None = None


def _yes_no(category: str, answer: str, rng: StableRandom) -> SyntheticQuestion:
    alias = CATEGORY_TO_ALIAS.get(category)
    if alias is None or rng.chance(RELATED_FORM_PROBABILITY):
        return SyntheticQuestion(
            related_question(category), answer, QuestionForm.YES_NO_RELATED, category
        )
    return SyntheticQuestion(alias.question, answer, QuestionForm.YES_NO_ALIAS, category)


def make_questions(
    book: Book, rng: StableRandom, categories: Sequence[str] = CATEGORIES
) -> list[SyntheticQuestion]:
    """The questions about ``book``'s cover, in OCR-VQA's order (author, title, genre, yes/no).

    ``categories`` is the pool the "No" questions draw other categories from.

    >>> book = Book("Steel Design", "William T. Segui", "Engineering & Transportation")
    >>> qs = make_questions(book, StableRandom(3))
    >>> [q.form.value for q in qs][:3], qs[1].answer
    (['author', 'title', 'genre'], 'Steel Design')
    """
    out: list[SyntheticQuestion] = []
    if book.author.strip():
        question = rng.weighted(AUTHOR_QUESTIONS, _AUTHOR_WEIGHTS)
        out.append(SyntheticQuestion(question, book.author, QuestionForm.AUTHOR))
    out.append(SyntheticQuestion(TITLE_QUESTION, book.title, QuestionForm.TITLE))
    question = rng.weighted(GENRE_QUESTIONS, _GENRE_WEIGHTS)
    out.append(SyntheticQuestion(question, book.genre, QuestionForm.GENRE))

    count = rng.weighted(range(len(YES_NO_COUNT_WEIGHTS)), YES_NO_COUNT_WEIGHTS)
    n_yes = count // 2 + (1 if count % 2 and rng.chance(0.5) else 0)
    yes: list[SyntheticQuestion] = []
    if n_yes >= 2 and book.genre in CATEGORY_TO_ALIAS:  # both forms of the own category
        yes = [
            SyntheticQuestion(
                related_question(book.genre), YES, QuestionForm.YES_NO_RELATED, book.genre
            ),
            SyntheticQuestion(
                CATEGORY_TO_ALIAS[book.genre].question, YES, QuestionForm.YES_NO_ALIAS, book.genre
            ),
        ]
    elif n_yes >= 1:
        yes = [_yes_no(book.genre, YES, rng)]
    others = [c for c in categories if c != book.genre]
    no = [_yes_no(c, NO, rng) for c in rng.sample(others, min(count - len(yes), len(others)))]
    yes_no = yes + no
    rng.shuffle(yes_no)
    return out + yes_no
