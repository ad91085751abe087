"""The question forms of OCR-VQA, their real shares, and the category/alias tables.

OCR-VQA (Mishra et al., ICDAR 2019) asks a handful of fixed questions about each book cover:

=====================  =====================================================  ==========
form                   question text                                          answer
=====================  =====================================================  ==========
``title``              "What is the title of this book?"                      the title
``author``             "Who wrote this book?" / "Who is the author of ..."    the author
``genre``              "What is the genre of this book?" / "What type of..."  a category
``yes_no_related``     "Is this book related to {Category}?"                  Yes / No
``yes_no_alias``       "Is this a {alias} book?" (and irregular variants)     Yes / No
=====================  =====================================================  ==========

Genre answers are one of the 32 Amazon category strings in :data:`CATEGORIES`; yes/no
answers are exactly ``"Yes"`` or ``"No"``.

The shares in :data:`VAL1000_QUESTION_COUNTS` were counted over ``howard-hou/OCR-VQA``
``validation[:1000]`` (4,798 questions on 1,000 images). The alias -> category mapping in
:data:`ALIASES` is **inferred** by the vqaft developers from the alias words; OCR-VQA does not
publish it.

>>> classify_question("Is this christianity book?").category
'Christian Books & Bibles'
>>> classify_question("What type of book is this?").form
<QuestionForm.GENRE: 'genre'>
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

__all__ = [
    "ALIASES",
    "ALIAS_TO_CATEGORY",
    "AUTHOR_QUESTIONS",
    "BOOK30_CATEGORIES",
    "CATEGORIES",
    "CATEGORY_TO_ALIAS",
    "FORM_SHARES",
    "GENRE_QUESTIONS",
    "NO",
    "QUESTIONS_PER_IMAGE_MEAN",
    "RELATED_TEMPLATE",
    "TITLE_QUESTION",
    "VAL1000_QUESTION_COUNTS",
    "YES",
    "Alias",
    "QuestionForm",
    "QuestionInfo",
    "alias_question",
    "classify_question",
    "related_question",
    "yes_no_answer",
]

YES = "Yes"
"""The exact positive answer of OCR-VQA's yes/no questions."""
NO = "No"
"""The exact negative answer of OCR-VQA's yes/no questions."""

BOOK30_CATEGORIES: tuple[str, ...] = (
    "Arts & Photography",
    "Biographies & Memoirs",
    "Business & Money",
    "Calendars",
    "Children's Books",
    "Comics & Graphic Novels",
    "Computers & Technology",
    "Cookbooks, Food & Wine",
    "Crafts, Hobbies & Home",
    "Christian Books & Bibles",
    "Engineering & Transportation",
    "Health, Fitness & Dieting",
    "History",
    "Humor & Entertainment",
    "Law",
    "Literature & Fiction",
    "Medical Books",
    "Mystery, Thriller & Suspense",
    "Parenting & Relationships",
    "Politics & Social Sciences",
    "Reference",
    "Religion & Spirituality",
    "Romance",
    "Science & Math",
    "Science Fiction & Fantasy",
    "Self-Help",
    "Sports & Outdoors",
    "Teen & Young Adult",
    "Test Preparation",
    "Travel",
)
"""The 30 categories of the BookCover30 listing (uchidalab/book-dataset), in class-id order."""

CATEGORIES: tuple[str, ...] = (*BOOK30_CATEGORIES, "Gay & Lesbian", "Education & Teaching")
"""The 32 Amazon category strings OCR-VQA uses as genre answers (book30 + 2)."""

TITLE_QUESTION = "What is the title of this book?"
AUTHOR_QUESTIONS: tuple[str, ...] = ("Who wrote this book?", "Who is the author of this book?")
GENRE_QUESTIONS: tuple[str, ...] = ("What is the genre of this book?", "What type of book is this?")
RELATED_TEMPLATE = "Is this book related to {category}?"
"""The yes/no form that names the category string itself."""


class QuestionForm(str, Enum):
    """Which of OCR-VQA's question forms a question is."""

    TITLE = "title"
    AUTHOR = "author"
    GENRE = "genre"
    YES_NO_RELATED = "yes_no_related"
    YES_NO_ALIAS = "yes_no_alias"
    OTHER = "other"

    @property
    def is_yes_no(self) -> bool:
        """True for the two yes/no forms."""
        return self in (QuestionForm.YES_NO_RELATED, QuestionForm.YES_NO_ALIAS)


@dataclass(frozen=True)
class Alias:
    """One ``"Is this a {alias} book?"`` question and the category it stands for.

    Attributes:
        alias: the words between the article and ``book`` (``"art related"``).
        category: one of :data:`CATEGORIES` (inferred mapping, see the module docstring).
        question: the exact question text, irregular articles included.
    """

    alias: str
    category: str
    question: str


ALIASES: tuple[Alias, ...] = (
    Alias("kids", "Children's Books", "Is this a kids book?"),
    Alias("fitness", "Health, Fitness & Dieting", "Is this a fitness book?"),
    Alias("pharmaceutical", "Medical Books", "Is this a pharmaceutical book?"),
    Alias("judicial", "Law", "Is this a judicial book?"),
    Alias("christianity", "Christian Books & Bibles", "Is this christianity book?"),
    Alias("journey related", "Travel", "Is this a journey related book?"),
    Alias("youngster related", "Teen & Young Adult", "Is this a youngster related book?"),
    Alias("historical", "History", "Is this a historical book?"),
    Alias("games related", "Sports & Outdoors", "Is this a games related book?"),
    Alias("financial", "Business & Money", "Is this a financial book?"),
    Alias(
        "crafts or hobbies related",
        "Crafts, Hobbies & Home",
        "Is this a crafts or hobbies related book?",
    ),
    Alias("romantic", "Romance", "Is this a romantic book?"),
    Alias("religious", "Religion & Spirituality", "Is this a religious book?"),
    Alias("digital technology", "Computers & Technology", "Is this a digital technology book?"),
    Alias("comedy", "Humor & Entertainment", "Is this a comedy book?"),
    Alias("recipe", "Cookbooks, Food & Wine", "Is this a recipe book?"),
    Alias("art related", "Arts & Photography", "Is this an art related book?"),
    Alias("reference", "Reference", "Is this a reference book?"),
    Alias("life story", "Biographies & Memoirs", "Is this a life story book?"),
    Alias("sci-fi", "Science Fiction & Fantasy", "Is this a sci-fi book?"),
    Alias("exam preparation", "Test Preparation", "Is this an exam preparation book?"),
    Alias("sociopolitical", "Politics & Social Sciences", "Is this a sociopolitical book?"),
    Alias(
        "transportation engineering",
        "Engineering & Transportation",
        "Is this a transportation engineering book?",
    ),
    Alias("child-care", "Parenting & Relationships", "Is this a child-care book?"),
    Alias("motivational", "Self-Help", "Is this a motivational book?"),
    Alias("comics", "Comics & Graphic Novels", "Is this a comics book?"),
    Alias("pedagogy", "Education & Teaching", "Is this a pedagogy book?"),
    Alias("homosexuality", "Gay & Lesbian", "Is this a homosexuality book?"),
)
"""The 28 alias questions seen in OCR-VQA. Science & Math, Literature & Fiction, Mystery,
Thriller & Suspense and Calendars have no alias form (only ``"Is this book related to ...?"``).
The alias -> category mapping is inferred, not official."""

ALIAS_TO_CATEGORY: Mapping[str, str] = MappingProxyType({a.alias: a.category for a in ALIASES})
"""``{"kids": "Children's Books", ...}`` (inferred mapping)."""

CATEGORY_TO_ALIAS: Mapping[str, Alias] = MappingProxyType({a.category: a for a in ALIASES})
"""The alias question of each category that has one."""

VAL1000_QUESTION_COUNTS: tuple[tuple[str, int], ...] = (
    ("What is the title of this book?", 998),
    ("What is the genre of this book?", 503),
    ("What type of book is this?", 495),
    ("Who wrote this book?", 479),
    ("Who is the author of this book?", 452),
    ("Is this a kids book?", 59),
    ("Is this book related to Science & Math?", 57),
    ("Is this a fitness book?", 51),
    ("Is this a pharmaceutical book?", 50),
    ("Is this book related to Literature & Fiction?", 49),
    ("Is this book related to Teen & Young Adult?", 46),
    ("Is this book related to Humor & Entertainment?", 46),
    ("Is this book related to History?", 46),
    ("Is this book related to Travel?", 45),
    ("Is this book related to Medical Books?", 44),
    ("Is this a judicial book?", 44),
    ("Is this book related to Christian Books & Bibles?", 43),
    ("Is this book related to Computers & Technology?", 42),
    ("Is this christianity book?", 41),
    ("Is this book related to Health, Fitness & Dieting?", 41),
    ("Is this book related to Children's Books?", 41),
    ("Is this book related to Business & Money?", 40),
    ("Is this a journey related book?", 38),
    ("Is this a youngster related book?", 36),
    ("Is this a historical book?", 36),
    ("Is this a games related book?", 35),
    ("Is this book related to Cookbooks, Food & Wine?", 34),
    ("Is this a financial book?", 34),
    ("Is this book related to Crafts, Hobbies & Home?", 33),
    ("Is this a romantic book?", 33),
    ("Is this a religious book?", 33),
    ("Is this a digital technology book?", 33),
    ("Is this a comedy book?", 32),
    ("Is this book related to Engineering & Transportation?", 31),
    ("Is this a recipe book?", 31),
    ("Is this a crafts or hobbies related book?", 30),
    ("Is this book related to Religion & Spirituality?", 29),
    ("Is this an art related book?", 29),
    ("Is this a reference book?", 29),
    ("Is this a life story book?", 28),
    ("Is this book related to Sports & Outdoors?", 27),
    ("Is this book related to Law?", 27),
    ("Is this book related to Mystery, Thriller & Suspense?", 26),
    ("Is this a sci-fi book?", 25),
    ("Is this book related to Test Preparation?", 24),
    ("Is this book related to Science Fiction & Fantasy?", 24),
    ("Is this book related to Biographies & Memoirs?", 24),
    ("Is this an exam preparation book?", 23),
    ("Is this book related to Self-Help?", 22),
    ("Is this a sociopolitical book?", 22),
    ("Is this book related to Romance?", 21),
    ("Is this book related to Arts & Photography?", 21),
    ("Is this a transportation engineering book?", 21),
    ("Is this a child-care book?", 21),
    ("Is this book related to Reference?", 20),
    ("Is this book related to Politics & Social Sciences?", 20),
    ("Is this book related to Calendars?", 20),
    ("Is this book related to Parenting & Relationships?", 17),
    ("Is this a motivational book?", 17),
    ("Is this a comics book?", 17),
    ("Is this book related to Education & Teaching?", 15),
    ("Is this book related to Comics & Graphic Novels?", 15),
    ("Is this book related to Gay & Lesbian?", 13),
    ("Is this a pedagogy book?", 10),
    ("Is this a homosexuality book?", 9),
    ("What is the edition of this book?", 1),
)
"""Every distinct question in OCR-VQA ``validation[:1000]`` with its count (4,798 in all).

Counted from pranavc28/temperature-ocr-vqa ``final_results.json`` at commit
505ae7ee0310110d0a9dc48d333426480d1e4c83 (a run over ``howard-hou/OCR-VQA``
``validation[:1000]``)."""

QUESTIONS_PER_IMAGE_MEAN = sum(count for _, count in VAL1000_QUESTION_COUNTS) / 1000
"""Mean number of questions per image in ``validation[:1000]`` (4.798)."""


@dataclass(frozen=True)
class QuestionInfo:
    """What :func:`classify_question` found out about a question.

    Attributes:
        form: the question form.
        category: for yes/no forms, the canonical category the question asks about; ``None``
            for other forms and for a yes/no question naming an unknown category or alias.
        alias: for the alias form, the alias words (``"kids"``), known or not.
        subject: for yes/no forms, the words naming the category as written in the question.
    """

    form: QuestionForm
    category: str | None = None
    alias: str | None = None
    subject: str | None = None


def related_question(category: str) -> str:
    """The ``"Is this book related to {category}?"`` question for ``category``.

    >>> related_question("Travel")
    'Is this book related to Travel?'
    """
    return RELATED_TEMPLATE.format(category=category)


def alias_question(category: str) -> str:
    """The alias-form question for ``category``.

    Raises:
        KeyError: the category has no alias form (see :data:`CATEGORY_TO_ALIAS`).

    >>> alias_question("Arts & Photography")
    'Is this an art related book?'
    """
    try:
        return CATEGORY_TO_ALIAS[category].question
    except KeyError:
        raise KeyError(f"category {category!r} has no alias question in OCR-VQA") from None


def _normalise(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = " ".join(text.split()).lower()
    return text.rstrip("?").rstrip() + "?"


_FIXED: dict[str, QuestionInfo] = {
    _normalise(TITLE_QUESTION): QuestionInfo(QuestionForm.TITLE),
    **{_normalise(q): QuestionInfo(QuestionForm.AUTHOR) for q in AUTHOR_QUESTIONS},
    **{_normalise(q): QuestionInfo(QuestionForm.GENRE) for q in GENRE_QUESTIONS},
    **{
        _normalise(a.question): QuestionInfo(
            QuestionForm.YES_NO_ALIAS, category=a.category, alias=a.alias, subject=a.alias
        )
        for a in ALIASES
    },
}
_CATEGORY_BY_LOWER = {c.lower(): c for c in CATEGORIES}
_ALIAS_BY_LOWER = {a.alias.lower(): a for a in ALIASES}
_RELATED_RE = re.compile(r"^is this book related to (?P<subject>.+)\?$")
_ALIAS_RE = re.compile(r"^is this (?:(?:a|an) )?(?P<subject>.+?) book\?$")


def classify_question(question: str) -> QuestionInfo:
    """Say which OCR-VQA form ``question`` has and, for yes/no forms, which category it names.

    Matching ignores case, repeated whitespace, curly apostrophes and a missing ``?``.
    Anything that is not one of the forms (e.g. ``"What is the edition of this book?"``) is
    :attr:`QuestionForm.OTHER`.

    >>> classify_question("Is this book related to Travel?")
    QuestionInfo(form=<QuestionForm.YES_NO_RELATED: 'yes_no_related'>, category='Travel', \
alias=None, subject='Travel')
    >>> classify_question("Is this a kids book?").category
    "Children's Books"
    >>> classify_question("Who painted this?").form
    <QuestionForm.OTHER: 'other'>
    """
    key = _normalise(question)
    fixed = _FIXED.get(key)
    if fixed is not None:
        return fixed
    match = _RELATED_RE.match(key)
    if match is not None:
        start = match.start("subject")
        subject = " ".join(question.split())[start : start + len(match["subject"])]
        return QuestionInfo(
            QuestionForm.YES_NO_RELATED,
            category=_CATEGORY_BY_LOWER.get(match["subject"]),
            subject=subject,
        )
    match = _ALIAS_RE.match(key)
    if match is not None:
        known = _ALIAS_BY_LOWER.get(match["subject"])
        return QuestionInfo(
            QuestionForm.YES_NO_ALIAS,
            category=None if known is None else known.category,
            alias=match["subject"] if known is None else known.alias,
            subject=match["subject"],
        )
    return QuestionInfo(QuestionForm.OTHER)


def yes_no_answer(question: str, genre: str) -> str:
    """The gold answer (``"Yes"``/``"No"``) to a yes/no question about a book of ``genre``.

    Raises:
        ValueError: ``question`` is not a yes/no form, or names an unknown category.

    >>> yes_no_answer("Is this a recipe book?", "Cookbooks, Food & Wine")
    'Yes'
    """
    info = classify_question(question)
    if not info.form.is_yes_no:
        raise ValueError(f"not a yes/no question: {question!r}")
    if info.category is None:
        raise ValueError(f"the question names no known category: {question!r}")
    return YES if info.category == genre else NO


def _form_shares() -> Mapping[QuestionForm, float]:
    totals = dict.fromkeys(QuestionForm, 0)
    for question, count in VAL1000_QUESTION_COUNTS:
        totals[classify_question(question).form] += count
    grand = sum(totals.values())
    return MappingProxyType({form: n / grand for form, n in totals.items()})


FORM_SHARES: Mapping[QuestionForm, float] = _form_shares()
"""Share of each :class:`QuestionForm` among OCR-VQA ``validation[:1000]`` questions
(title 0.208, author 0.194, genre 0.208, yes_no_related 0.209, yes_no_alias 0.181, other 0.0002)."""
