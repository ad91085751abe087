"""Question types: which kind of question each item is, and whether it is open or closed.

Scores are reported per question type, and the LLM judge needs to know whether a question is
closed (yes/no) or open; both are decided here, in code, never by a model.

The default is the OCR-VQA classifier, built on the question-form table in
:mod:`vqaft.datasets.ocr_vqa_questions`:

=========  ===========================================================================  ======
type       questions                                                                    closed
=========  ===========================================================================  ======
Title      "What is the title of this book?"                                            no
Author     "Who wrote this book?", "Who is the author of this book?"                    no
Genre      "What is the genre of this book?", "What type of book is this?"              no
Yes/No     "Is this book related to X?", "Is this a/an X book?", "Is this X book?", and   yes
           any other question opening with an auxiliary verb (is, does, can, ...)
Other      anything else ("What is the edition of this book?")                          no
=========  ===========================================================================  ======

A prediction without its question text (the cookbook's result files) is typed from its gold
answers: ``Yes/No`` when every gold answer is yes or no, else ``Unknown`` (open).

Bring your own rule as a mapping from question text to type, or as a function:

>>> classify = question_classifier({"How many pages?": "Count"})
>>> classify("how many pages"), classify("Who wrote this book?")
('Count', 'Other')
>>> classify = question_classifier(lambda q: "Yes/No" if q.startswith("Is") else "Open")
>>> classify.is_closed(classify("Is it red?"))
True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

from vqaft.datasets.ocr_vqa_questions import QuestionForm, classify_question
from vqaft.errors import ConfigError

__all__ = [
    "AUTHOR",
    "GENRE",
    "OCR_VQA_TYPES",
    "OTHER",
    "TITLE",
    "UNKNOWN",
    "YES_NO",
    "QuestionClassifier",
    "ocr_vqa_question_type",
    "question_classifier",
]

TITLE = "Title"
AUTHOR = "Author"
GENRE = "Genre"
YES_NO = "Yes/No"
OTHER = "Other"
UNKNOWN = "Unknown"
"""The type of an item whose question text is missing and whose gold is not yes/no."""

OCR_VQA_TYPES: tuple[str, ...] = (TITLE, AUTHOR, GENRE, YES_NO, OTHER)
"""The OCR-VQA default's types, in report order."""

_FORM_TO_TYPE: dict[QuestionForm, str] = {
    QuestionForm.TITLE: TITLE,
    QuestionForm.AUTHOR: AUTHOR,
    QuestionForm.GENRE: GENRE,
    QuestionForm.YES_NO_RELATED: YES_NO,
    QuestionForm.YES_NO_ALIAS: YES_NO,
    QuestionForm.OTHER: OTHER,
}
_AUXILIARY = re.compile(
    r"^(?:is|are|was|were|am|does|do|did|can|could|has|have|had|will|would|should|shall|may"
    r"|might|must)\b",
    re.IGNORECASE,
)
_YES_NO_ANSWERS = frozenset({"yes", "no"})


def ocr_vqa_question_type(question: str) -> str:
    """The OCR-VQA type of one question text (see the module docstring).

    >>> ocr_vqa_question_type("Is this an art related book?")
    'Yes/No'
    >>> ocr_vqa_question_type("What type of book is this?")
    'Genre'
    """
    question_type = _FORM_TO_TYPE[classify_question(question).form]
    if question_type == OTHER and _AUXILIARY.match(question.strip()):
        return YES_NO
    return question_type


def _key(question: str) -> str:
    return " ".join(question.replace("\u2019", "'").split()).lower().rstrip("?").rstrip()


class QuestionClassifier:
    """Types questions with a rule and says which types are closed.

    Args:
        rule: question text -> type name.
        closed: the closed (yes/no-like) types; every other type is open.
        name: what the classifier is called in reports.

    Calling the classifier with ``question=None`` types the item from its gold answers (see
    the module docstring). Results are cached per distinct question text.
    """

    def __init__(
        self,
        rule: Callable[[str], str],
        *,
        closed: Iterable[str] = (YES_NO,),
        name: str = "custom",
    ) -> None:
        self.rule = rule
        self.closed = frozenset(closed)
        self.name = name
        self._cache: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"QuestionClassifier(name={self.name!r}, closed={sorted(self.closed)!r})"

    def __call__(self, question: str | None, gold: Sequence[str] = ()) -> str:
        """The type of a question (``gold`` is used only when ``question`` is ``None``).

        Raises:
            ConfigError: the rule returned something other than a non-empty string.
        """
        if question is None:
            if gold and all(g.strip().lower() in _YES_NO_ANSWERS for g in gold):
                return YES_NO
            return UNKNOWN
        cached = self._cache.get(question)
        if cached is not None:
            return cached
        question_type = self.rule(question)
        if not isinstance(question_type, str) or not question_type:
            raise ConfigError(
                f"question classifier {self.name!r} returned {question_type!r} for {question!r}",
                hint="a question classifier must return a non-empty type name",
            )
        self._cache[question] = question_type
        return question_type

    def is_closed(self, question_type: str) -> bool:
        """Whether questions of this type are closed (answered yes/no)."""
        return question_type in self.closed

    def openness(self, question_type: str) -> Literal["open", "closed"]:
        """``"closed"`` or ``"open"`` for a type."""
        return "closed" if self.is_closed(question_type) else "open"


def question_classifier(
    spec: QuestionClassifier | Mapping[str, str] | Callable[[str], str] | None = None,
    *,
    closed: Iterable[str] | None = None,
) -> QuestionClassifier:
    """Build a classifier: the OCR-VQA default, or from a mapping, function or classifier.

    Args:
        spec: ``None`` for the OCR-VQA default; a mapping ``{question text: type}`` (matched
            ignoring case, repeated spaces and a trailing ``?``; other questions are
            ``Other``); a function ``question -> type``; or a ready classifier.
        closed: the closed types (default ``{"Yes/No"}``, or the classifier's own).

    >>> question_classifier()("Is this christianity book?")
    'Yes/No'
    """
    if isinstance(spec, QuestionClassifier):
        if closed is None:
            return spec
        return QuestionClassifier(spec.rule, closed=closed, name=spec.name)
    closed_types = (YES_NO,) if closed is None else tuple(closed)
    if spec is None:
        return QuestionClassifier(ocr_vqa_question_type, closed=closed_types, name="ocr-vqa")
    if isinstance(spec, Mapping):
        table = {_key(str(q)): str(t) for q, t in spec.items()}

        def from_mapping(question: str) -> str:
            return table.get(_key(question), OTHER)

        return QuestionClassifier(from_mapping, closed=closed_types, name="mapping")
    if callable(spec):
        name = getattr(spec, "__name__", type(spec).__name__)
        return QuestionClassifier(spec, closed=closed_types, name=str(name))
    raise ConfigError(
        f"cannot build a question classifier from {type(spec).__name__}",
        hint="pass None, a mapping {question: type}, a function, or a QuestionClassifier",
    )
