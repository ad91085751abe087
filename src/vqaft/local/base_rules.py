"""The zero-shot rules of ``local/base``: what a cover's OCR lines say without any training.

* **Title**: the block of the tallest lines (neighbouring lines of similar height), joined;
  when a line in upper case is as tall, it is part of it.
* **Author**: a line opening with "by" (without the "by"), else the lowest name-like line
  (two to five capitalised words or initials) that is not a publisher's mark.
* **Genre**: :data:`GENRE_KEYWORDS`, a keyword table per category; the category with the most
  keyword hits in the OCR text wins (:data:`DEFAULT_GENRE` when nothing matches). The base
  model *names* it in its own plain words (:data:`GENRE_NAMES`: "Cooking", "Mystery"), the way
  a zero-shot model that has never seen the dataset's category list would; fine-tuning learns
  the exact category strings from the training answers.
* **Yes/no**: the category the question names (its name, or its alias word, via
  :func:`vqaft.datasets.ocr_vqa_questions.classify_question`); "Yes" when the predicted genre
  is that category.

>>> genre_scores(["Vegan Baking", "Recipes for every day"])["Cookbooks, Food & Wine"] > 0
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from vqaft.datasets.ocr_vqa_questions import CATEGORIES
from vqaft.local.features import LayoutLine, tokens

__all__ = [
    "DEFAULT_GENRE",
    "GENRE_KEYWORDS",
    "GENRE_NAMES",
    "base_author",
    "base_genre",
    "base_title",
    "genre_scores",
    "strip_by",
]

DEFAULT_GENRE = "Literature & Fiction"
"""The base model's genre when no keyword matches."""

_KEYWORDS: dict[str, tuple[str, ...]] = {
    "Arts & Photography": (
        "art", "artist", "painting", "photography", "photograph", "drawing", "design",
        "architecture", "sculpture", "museum", "gallery", "music", "film", "watercolor",
        "portrait", "illustration",
    ),
    "Biographies & Memoirs": (
        "life", "memoir", "biography", "story", "autobiography", "letter", "diary", "journey",
        "remembering", "legacy", "lives",
    ),
    "Business & Money": (
        "business", "money", "management", "marketing", "finance", "financial", "investing",
        "investment", "economic", "economics", "leadership", "sales", "accounting", "wealth",
        "entrepreneur", "strategy", "trading", "career",
    ),
    "Calendars": ("calendar", "wall", "month", "daily", "planner", "year", "desk"),
    "Children's Books": (
        "kid", "children", "little", "bear", "bunny", "puppy", "baby", "abc", "princess",
        "picture", "adventure", "dinosaur",
    ),
    "Christian Books & Bibles": (
        "bible", "christ", "jesus", "god", "christian", "gospel", "church", "faith", "prayer",
        "scripture", "lord", "testament", "psalm",
    ),
    "Comics & Graphic Novels": (
        "comic", "graphic", "manga", "volume", "batman", "superman", "marvel", "avenger",
        "x-men", "spider", "vol",
    ),
    "Computers & Technology": (
        "computer", "programming", "software", "java", "python", "data", "network", "web",
        "linux", "windows", "excel", "digital", "algorithm", "code", "database", "security",
    ),
    "Cookbooks, Food & Wine": (
        "cook", "cooking", "cookbook", "recipe", "food", "kitchen", "baking", "wine", "bake",
        "cake", "vegan", "meal", "dinner", "grill", "bread", "chef", "cuisine",
    ),
    "Crafts, Hobbies & Home": (
        "craft", "knit", "knitting", "quilt", "sewing", "garden", "gardening", "home", "pattern",
        "crochet", "woodworking", "decorating", "hobby", "collector",
    ),
    "Education & Teaching": (
        "teaching", "teacher", "education", "classroom", "learning", "school", "student",
        "curriculum", "literacy",
    ),
    "Engineering & Transportation": (
        "engineering", "engine", "car", "aircraft", "railway", "structural", "mechanical",
        "electrical", "transportation", "automotive", "design", "steel", "concrete",
    ),
    "Gay & Lesbian": ("gay", "lesbian", "queer", "lgbt", "transgender", "pride", "coming"),
    "Health, Fitness & Dieting": (
        "health", "diet", "fitness", "weight", "healthy", "yoga", "nutrition", "body",
        "healing", "exercise", "workout", "wellness", "cure", "heal",
    ),
    "History": (
        "history", "war", "empire", "ancient", "civil", "century", "revolution", "battle",
        "historical", "world", "army", "medieval",
    ),
    "Humor & Entertainment": (
        "humor", "funny", "joke", "comedy", "movie", "game", "puzzle", "coloring", "trivia",
        "television", "star", "fun",
    ),
    "Law": (
        "law", "legal", "court", "constitution", "justice", "lawyer", "rights", "criminal",
        "trust", "estate", "contract", "evidence",
    ),
    "Literature & Fiction": (
        "novel", "poem", "poetry", "fiction", "stories", "tale", "classic", "shakespeare",
        "literature", "collected",
    ),
    "Medical Books": (
        "medical", "medicine", "clinical", "nursing", "surgery", "anatomy", "disease",
        "patient", "pharmacology", "therapy", "healthcare", "diagnosis",
    ),
    "Mystery, Thriller & Suspense": (
        "murder", "mystery", "death", "killer", "thriller", "dead", "crime", "detective",
        "secret", "case", "blood",
    ),
    "Parenting & Relationships": (
        "parenting", "parent", "marriage", "love", "family", "child", "mom", "father",
        "relationship", "toddler", "pregnancy", "dad",
    ),
    "Politics & Social Sciences": (
        "politics", "political", "social", "society", "america", "government", "policy",
        "democracy", "philosophy", "culture", "sociology", "power",
    ),
    "Reference": (
        "dictionary", "guide", "handbook", "encyclopedia", "reference", "english", "language",
        "grammar", "atlas", "manual", "writing",
    ),
    "Religion & Spirituality": (
        "spiritual", "buddha", "buddhism", "soul", "meditation", "religion", "spirit", "zen",
        "islam", "tarot", "sacred", "mind",
    ),
    "Romance": (
        "love", "bride", "heart", "romance", "kiss", "wedding", "duke", "desire", "cowboy",
        "billionaire", "passion",
    ),
    "Science & Math": (
        "science", "math", "mathematics", "physics", "chemistry", "biology", "calculus",
        "theory", "scientific", "evolution", "algebra", "statistics", "universe",
    ),
    "Science Fiction & Fantasy": (
        "star", "dragon", "fantasy", "magic", "wars", "galaxy", "space", "sword", "chronicles",
        "trek", "alien", "witch",
    ),
    "Self-Help": (
        "self", "happiness", "success", "habit", "mindset", "happy", "change", "confidence",
        "power", "life", "stress", "anxiety",
    ),
    "Sports & Outdoors": (
        "sport", "football", "baseball", "basketball", "golf", "fishing", "hiking", "soccer",
        "hunting", "running", "climbing", "training", "team",
    ),
    "Teen & Young Adult": ("teen", "girl", "boy", "high", "vampire", "academy", "young"),
    "Test Preparation": (
        "test", "exam", "practice", "prep", "review", "sat", "gre", "gmat", "toefl", "mcat",
        "certification", "questions", "study",
    ),
    "Travel": (
        "travel", "guide", "map", "city", "trip", "italy", "france", "london", "paris", "tour",
        "island", "walking", "journey",
    ),
}  # fmt: skip


GENRE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "Arts & Photography": "Art",
        "Biographies & Memoirs": "Biography",
        "Business & Money": "Business",
        "Calendars": "Calendar",
        "Children's Books": "Children's book",
        "Comics & Graphic Novels": "Comics",
        "Computers & Technology": "Computers",
        "Cookbooks, Food & Wine": "Cooking",
        "Crafts, Hobbies & Home": "Crafts",
        "Christian Books & Bibles": "Christian",
        "Engineering & Transportation": "Engineering",
        "Health, Fitness & Dieting": "Health",
        "History": "History",
        "Humor & Entertainment": "Humor",
        "Law": "Law",
        "Literature & Fiction": "Fiction",
        "Medical Books": "Medicine",
        "Mystery, Thriller & Suspense": "Mystery",
        "Parenting & Relationships": "Parenting",
        "Politics & Social Sciences": "Politics",
        "Reference": "Reference",
        "Religion & Spirituality": "Religion",
        "Romance": "Romance",
        "Science & Math": "Science",
        "Science Fiction & Fantasy": "Science fiction",
        "Self-Help": "Self-help",
        "Sports & Outdoors": "Sports",
        "Teen & Young Adult": "Young adult",
        "Test Preparation": "Test preparation",
        "Travel": "Travel",
        "Gay & Lesbian": "LGBT",
        "Education & Teaching": "Education",
    }
)
"""How ``local/base`` names each category in a genre answer: a plain genre word, not the
dataset's category string (a zero-shot model does not know OCR-VQA's label list). Where the
category is a single word ("History", "Travel") the name is the category itself."""

if set(GENRE_NAMES) != set(CATEGORIES):  # pragma: no cover - a guard on the table itself
    raise RuntimeError("GENRE_NAMES must cover exactly the 32 OCR-VQA categories")


def _stem(word: str) -> str:
    return tokens(word)[0] if tokens(word) else word


GENRE_KEYWORDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {category: frozenset(_stem(w) for w in words) for category, words in _KEYWORDS.items()}
)
"""Keywords per category (in :func:`~vqaft.local.features.tokens` form); every one of the 32
OCR-VQA categories has an entry."""

if set(GENRE_KEYWORDS) != set(CATEGORIES):  # pragma: no cover - a guard on the table itself
    raise RuntimeError("GENRE_KEYWORDS must cover exactly the 32 OCR-VQA categories")


def genre_scores(texts: Sequence[str]) -> dict[str, float]:
    """Keyword hits per category over the words of ``texts`` (each word counted once)."""
    words = {w for text in texts for w in tokens(text)}
    return {c: float(len(words & keys)) for c, keys in GENRE_KEYWORDS.items()}


def base_genre(texts: Sequence[str]) -> str:
    """The category with the most keyword hits (ties: the first in :data:`CATEGORIES`)."""
    scores = genre_scores(texts)
    best = max(CATEGORIES, key=lambda c: scores[c])
    return best if scores[best] > 0 else DEFAULT_GENRE


_BY = re.compile(r"^\s*(?:by|By|BY)(?:\s+|(?=[A-Z]))")
_NAME_WORD = re.compile(r"^(?:[A-Z][a-zA-Z'’\-]+|[A-Z]\.(?:[A-Z]\.)*|[A-Z]{2,4})[,.]?$")
_PUBLISHER = re.compile(r"\b(press|books|publishing|publishers|house|editions|media)\b", re.I)


def strip_by(text: str) -> str:
    """``text`` without a leading "by".

    >>> strip_by("by Mark L. Dean"), strip_by("byRobert Dean"), strip_by("Byron Katie")
    ('Mark L. Dean', 'Robert Dean', 'Byron Katie')
    """
    return _BY.sub("", text, count=1).strip()


def _name_like(text: str) -> bool:
    words = text.split()
    return 2 <= len(words) <= 5 and all(_NAME_WORD.match(w) for w in words)


def base_title(lines: Sequence[LayoutLine]) -> str:
    """The tallest block of lines, joined with spaces ("" when there are no lines)."""
    if not lines:
        return ""
    heights = [ln.line.thickness for ln in lines]
    tallest = max(range(len(lines)), key=lambda i: heights[i])
    chosen = {tallest}
    for step in (-1, 1):
        i = tallest + step
        while 0 <= i < len(lines) and heights[i] >= 0.75 * heights[tallest]:
            if _BY.match(lines[i].text):
                break
            chosen.add(i)
            i += step
    return " ".join(lines[i].text for i in sorted(chosen))


def base_author(lines: Sequence[LayoutLine]) -> str:
    """A "by ..." line, else the lowest name-like line, else the last line ("" if none)."""
    for ln in lines:
        if _BY.match(ln.text) and len(strip_by(ln.text)) > 1:
            return strip_by(ln.text)
    for ln in reversed(lines):
        if _name_like(ln.text) and not _PUBLISHER.search(ln.text):
            return ln.text
    candidates = [ln for ln in lines if not _PUBLISHER.search(ln.text) and len(ln.text) > 3]
    return candidates[-1].text if candidates else ""
