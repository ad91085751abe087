"""The LLM judge's prompt, request payload and reply schema (versioned).

The judge sees several items per request. Each item carries a local ``index`` (1, 2, ...),
the question, whether the question is open or closed (decided in code, by the question
classifier), the acceptable gold answers and the model's answer. The reply is a JSON object
``{"ratings": [{"index": 1, "rating": "Mostly Similar"}, ...]}`` that must list every index
exactly once, constrained by a strict JSON schema generated from :class:`JudgeReply`.

Change :data:`PROMPT_VERSION` whenever the instructions, the payload or the schema change: it
is part of every cache key and of the evaluator's settings, so old ratings are never mixed
with new ones.

>>> payload = build_user_message([JudgeItem(index=1, question="Who wrote this book?",
...     type="open", gold=["Cookshack"], answer="Cookshack, Inc.")])
>>> payload.startswith('{"items":[{"index":1')
True
>>> check_reply('{"ratings": [{"index": 1, "rating": "Very Similar"}]}', [1]).ratings
{1: 'Very Similar'}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vqaft.errors import ConfigError

__all__ = [
    "DEFAULT_PROMPT",
    "DEFAULT_SCORES",
    "PROMPT_VERSION",
    "RATINGS",
    "JudgeItem",
    "JudgePrompt",
    "JudgeRating",
    "JudgeReply",
    "Rating",
    "ReplyCheck",
    "build_messages",
    "build_user_message",
    "check_reply",
    "response_format",
]

Rating = Literal["Very Similar", "Mostly Similar", "Somewhat Similar", "Incorrect"]
"""One of the judge's four ratings."""

RATINGS: tuple[Rating, ...] = get_args(Rating)
"""The ratings, best first."""

DEFAULT_SCORES: Mapping[Rating, float] = {
    "Very Similar": 1.0,
    "Mostly Similar": 0.75,
    "Somewhat Similar": 0.5,
    "Incorrect": 0.0,
}
"""The default score of each rating (an item passes at 0.75 and above by default)."""

PROMPT_VERSION = "vqaft-judge-1"
"""The version of :data:`DEFAULT_PROMPT`, the payload layout and the reply schema."""

_INSTRUCTIONS = """\
You grade answers to visual questions about book covers. A model looked at a cover and \
answered a question; you compare its answer with the reference answer(s) written by people. \
You do not see the cover: grade the text only, and do not use your own knowledge of the book.

The user message is a JSON object {"items": [...]}. Every item has:
- "index": its number in this message;
- "question": the question asked (may be null);
- "type": "closed" for a yes/no question, "open" for any other question (this is given; \
do not change it);
- "gold": one or more acceptable reference answers (grade against the closest one);
- "answer": the model's answer.

Give every item exactly one of these ratings:
- "Very Similar": the same answer. Differences in letter case, punctuation, spacing, \
articles, accents, abbreviations ("&" for "and", "Vol." for "Volume"), a company suffix \
("Inc.", "Ltd") or an obvious spelling variant do not matter.
- "Mostly Similar": the same book, person or category, with a minor part missing or added: \
a subtitle, a series name in brackets, an edition, a middle name or initial, a co-author.
- "Somewhat Similar": related but not the same: only part of a long title, only a surname, \
a neighbouring or broader category, or the right answer buried in extra wrong detail.
- "Incorrect": a different book, person or category; a contradiction; an empty answer, a \
refusal or an unrelated text. For a closed question, an answer with the opposite yes/no \
meaning, or with no yes/no meaning, is Incorrect.

Grade each item on its own; the items are unrelated. Reply with a JSON object \
{"ratings": [{"index": <index>, "rating": "<rating>"}, ...]} that lists every index of the \
message exactly once and nothing else.

Examples of single items and their ratings:
- gold ["The Hobbit"], answer "Hobbit" -> Very Similar
- gold ["Steck-Vaughn Core Skills: Reading Comprehension, Grade 4"], answer "Core Skills \
Reading Comprehension" -> Mostly Similar
- gold ["J. K. Rowling"], answer "Rowling" -> Somewhat Similar
- gold ["Science Fiction & Fantasy"], answer "Literature & Fiction" -> Somewhat Similar
- gold ["Cookbooks, Food & Wine"], answer "Travel" -> Incorrect
"""


@dataclass(frozen=True)
class JudgePrompt:
    """A judge prompt: the system instructions and the version that names them.

    The version goes into every cache key; give a custom prompt its own version.

    >>> JudgePrompt(instructions="Grade the items.", version="my-prompt-1").version
    'my-prompt-1'
    """

    instructions: str
    version: str

    def __post_init__(self) -> None:
        if not self.instructions.strip() or not self.version.strip():
            raise ConfigError(
                "a judge prompt needs non-empty instructions and a version",
                hint="e.g. JudgePrompt(instructions=..., version='my-prompt-1')",
            )


DEFAULT_PROMPT = JudgePrompt(instructions=_INSTRUCTIONS, version=PROMPT_VERSION)
"""vqaft's own judge prompt."""


class JudgeItem(BaseModel):
    """One item as the judge sees it (an element of the request's ``items``)."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=1, description="The item's number within this request.")
    question: str | None = Field(description="The question asked, if known.")
    type: Literal["open", "closed"] = Field(description="Closed: a yes/no question.")
    gold: list[str] = Field(min_length=1, description="Acceptable reference answers.")
    answer: str = Field(description="The model's answer.")


class JudgeRating(BaseModel):
    """One element of the judge's reply."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="The index of the item being rated.")
    rating: Rating = Field(description="The rating of that item.")


class JudgeReply(BaseModel):
    """The judge's reply: one rating per item of the request (the structured-output schema)."""

    model_config = ConfigDict(extra="forbid")

    ratings: list[JudgeRating] = Field(description="One entry per item, every index once.")


def response_format() -> dict[str, Any]:
    """The ``response_format`` of a judge request: a strict JSON schema from :class:`JudgeReply`.

    >>> response_format()["json_schema"]["schema"]["required"]
    ['ratings']
    """
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "judge_reply",
            "strict": True,
            "schema": JudgeReply.model_json_schema(),
        },
    }


def build_user_message(items: Iterable[JudgeItem]) -> str:
    """The user message of a judge request: compact JSON ``{"items": [...]}``."""
    payload = {"items": [item.model_dump() for item in items]}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def build_messages(prompt: JudgePrompt, items: Iterable[JudgeItem]) -> list[dict[str, str]]:
    """The chat messages of a judge request: the instructions, then the items."""
    return [
        {"role": "system", "content": prompt.instructions},
        {"role": "user", "content": build_user_message(items)},
    ]


@dataclass
class ReplyCheck:
    """What a judge reply yielded: valid ratings by index, and what was wrong with the rest.

    Attributes:
        ratings: index -> rating, for indices rated exactly once with a known rating.
        problems: one line per problem (invalid JSON, a missing, repeated or unknown index,
            an unknown rating); empty when the reply was complete and valid.
    """

    ratings: dict[int, Rating] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def reason(self) -> str:
        """The problems in one line (for the record of an unjudged item)."""
        shown = "; ".join(self.problems[:3])
        more = len(self.problems) - 3
        return shown + (f"; and {more} more" if more > 0 else "")


_BY_FOLDED: dict[str, Rating] = {" ".join(r.lower().split()): r for r in RATINGS}


def _rating(value: object) -> Rating | None:
    if not isinstance(value, str):
        return None
    return _BY_FOLDED.get(" ".join(value.lower().split()))


def check_reply(content: str | None, indices: Iterable[int]) -> ReplyCheck:
    """Validate a judge reply against the indices that were sent.

    Every expected index must come back exactly once with a known rating (letter case and
    spacing of the rating are forgiven). What is valid is kept even when other entries are
    not, so a retry only needs the rest.

    >>> check = check_reply('{"ratings": [{"index": 1, "rating": "Great"}]}', [1, 2])
    >>> check.ratings, check.problems
    ({}, ["index 1: unknown rating 'Great'", 'index 2: missing'])
    """
    expected = list(indices)
    check = ReplyCheck()
    if content is None or not content.strip():
        check.problems.append("empty reply")
        return check
    try:
        reply = JudgeReply.model_validate_json(content)
    except ValidationError:
        entries = _salvage(content, check)
        if entries is None:
            return check
    else:
        entries = [(r.index, r.rating) for r in reply.ratings]
    wanted = set(expected)
    counts = Counter(i for i, _ in entries if isinstance(i, int) and not isinstance(i, bool))
    for index, value in entries:
        if not isinstance(index, int) or isinstance(index, bool):
            check.problems.append(f"an entry has index {index!r}, not an integer")
        elif index not in wanted:
            check.problems.append(f"index {index}: not in the request")
        elif counts[index] > 1:
            continue  # reported once below
        elif (rating := _rating(value)) is None:
            check.problems.append(f"index {index}: unknown rating {value!r}")
        else:
            check.ratings[index] = rating
    for index in expected:
        if counts[index] > 1:
            check.problems.append(f"index {index}: rated {counts[index]} times")
        elif counts[index] == 0:
            check.problems.append(f"index {index}: missing")
    return check


def _salvage(content: str, check: ReplyCheck) -> list[tuple[object, object]] | None:
    """The (index, rating) entries of a reply that fails the schema, or None if unusable."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        check.problems.append(f"reply is not valid JSON ({exc.msg} at char {exc.pos})")
        return None
    ratings = data.get("ratings") if isinstance(data, dict) else None
    if not isinstance(ratings, list):
        check.problems.append('reply has no "ratings" list')
        return None
    entries: list[tuple[object, object]] = []
    for entry in ratings:
        if isinstance(entry, dict):
            entries.append((entry.get("index"), entry.get("rating")))
        else:
            check.problems.append(f"a ratings entry is {type(entry).__name__}, not an object")
    return entries
