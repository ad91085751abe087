"""Offline estimate of how many o200k tokens (gpt-4o's tokenizer) a text costs.

vqaft never downloads a tokenizer, so by default text tokens are *estimated*, not counted:

1. The text is pre-split the way GPT tokenisers pre-split it (o200k's regular expression,
   rewritten for Python's :mod:`re`, upper case approximated by A-Z): words with their leading
   space or
   punctuation mark, numbers in groups of at most three digits, runs of punctuation, runs of
   whitespace. A token never crosses these boundaries, so each piece is estimated alone.
2. Each piece is priced by a small formula fitted on ~230,000 o200k tokens of English prose,
   Python documentation and OCR-VQA book titles, authors and genres: a common lower-case word
   with its leading space is one token; longer, capitalised and upper-case words cost a
   fraction of a token more per letter; a number group is one token; punctuation runs cost
   about 0.4 token per character beyond the second; whitespace runs are one token.
   Letters outside ASCII are priced per character (CJK about one token each, other scripts
   about one token per two and a half letters) — these are rough and not calibrated.
3. The fractional costs are summed and rounded once per text.

Expected error, measured against the real o200k encoder on held-out text (the figures are
for totals over many texts of each kind):

* English prose (Python documentation, a tutorial): within 1 %;
* book titles +1 %, OCR-VQA questions +3 %, genre names +9 %, author names -15 % (rare proper
  names split into more tokens than their length suggests);
* vqaft's default system prompt: 219 estimated for 207 real tokens (+6 %); a whole
  OCR-VQA-style training file: text tokens about 5 % high, all tokens (images are exact)
  about 2 % high - on the safe side for a cost estimate;
* a single short text (a title, a question): typically off by one token.

Text in non-Latin scripts, code and base64 can be off by much more.

When ``tiktoken`` is importable *and* already holds the o200k encoding in its local cache,
:func:`default_counter` uses it and the counts are exact; nothing is ever downloaded.

>>> approx_text_tokens("Who wrote this book?")
5
>>> approx_counter.exact
False
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "REPLY_PRIMING_TOKENS",
    "TOKENS_PER_MESSAGE",
    "TOKENS_PER_NAME",
    "TextTokenCounter",
    "approx_counter",
    "approx_text_tokens",
    "default_counter",
    "message_overhead",
    "pre_split",
]

# Chat formatting overhead, as in OpenAI's published counting recipe for chat models:
# every message costs 3 tokens plus its role, a ``name`` field costs one more, and every
# conversation is primed with 3 more tokens.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3

# o200k's pre-split pattern, with Unicode classes approximated for ``re``:
# letters = [^\W\d_]; upper case approximated by ASCII A-Z.
_PREFIX = r"(?:[^\r\n\w]|_)?"
_CONTRACTION = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
_UPPER = r"[A-Z]"
_LOWER = r"[^\W\dA-Z_]"
_PRE_SPLIT = re.compile(
    "|".join(
        [
            _PREFIX + _UPPER + "*" + _LOWER + "+" + _CONTRACTION,
            _PREFIX + _UPPER + "+" + _LOWER + "*" + _CONTRACTION,
            r"\d{1,3}",
            r" ?(?:[^\s\w]|_)+[\r\n/]*",
            r"\s*[\r\n]+",
            r"\s+(?!\S)",
            r"\s+",
        ]
    )
)
_SAME_CHAR_RUN = re.compile(r"(.)\1*", re.DOTALL)
_WORD = re.compile(r"((?:[^\r\n\w]|_)?)([^\W\d_]+)('[A-Za-z]{1,2})?\Z")

# (base, per extra letter, free letters) by (prefix kind, case); fitted, see module docstring.
_WORD_COST: Mapping[tuple[str, str], tuple[float, float, int]] = {
    ("space", "lower"): (1.0, 0.14, 10),
    ("space", "cap"): (1.0, 0.06, 2),
    ("space", "upper"): (1.0, 0.28, 2),
    ("none", "lower"): (1.0, 0.08, 4),
    ("none", "cap"): (1.0, 0.10, 2),
    ("none", "upper"): (1.2, 0.34, 2),
    ("other", "lower"): (1.0, 0.10, 2),
    ("other", "cap"): (1.2, 0.16, 1),
    ("other", "upper"): (1.5, 0.24, 2),
}
_PUNCT_PER_CHAR = 0.4
_CONTRACTION_COST = 0.75
_CJK_PER_CHAR = 1.0
_OTHER_SCRIPT_PER_CHAR = 0.4
_LATIN_EXTENDED_EXTRA = 0.3


def pre_split(text: str) -> list[str]:
    """Split ``text`` into the pieces a GPT tokeniser encodes separately.

    >>> pre_split("Who wrote 'Dune' in 1965?")
    ['Who', ' wrote', " '", 'Dune', "'", ' in', ' ', '196', '5', '?']
    """
    return _PRE_SPLIT.findall(text)


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x3040 <= cp <= 0x30FF  # kana
        or 0x3400 <= cp <= 0x9FFF  # CJK ideographs
        or 0xAC00 <= cp <= 0xD7AF  # hangul
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x2FA1F
    )


def _word_cost(prefix: str, letters: str) -> float:
    if letters.isascii():
        kind = "none" if not prefix else ("space" if prefix == " " else "other")
        if letters.islower():
            case = "lower"
        elif letters.isupper() and len(letters) > 1:
            case = "upper"
        else:
            case = "cap"
        base, per_letter, free = _WORD_COST[(kind, case)]
        return base + per_letter * max(0, len(letters) - free)
    cost = 0.0 if prefix in ("", " ") else 1.0
    ascii_run = 0
    for ch in letters:
        if ch.isascii():
            ascii_run += 1
        elif ord(ch) < 0x0250:  # Latin with diacritics: priced like ASCII, a little more
            ascii_run += 1
            cost += _LATIN_EXTENDED_EXTRA
        elif _is_cjk(ch):
            cost += _CJK_PER_CHAR
        else:
            cost += _OTHER_SCRIPT_PER_CHAR
    if ascii_run:
        cost += 1.0 + 0.1 * max(0, ascii_run - 4)
    return max(cost, 1.0)


def _piece_cost(piece: str) -> float:
    match = _WORD.match(piece)
    if match is not None:
        # a contraction adds about 0.75 token
        return _word_cost(match.group(1), match.group(2)) + (
            _CONTRACTION_COST if match.group(3) else 0.0
        )
    if piece.isspace():
        return 1.0
    if piece.isdigit():
        return 1.0
    # o200k has single tokens for long runs of one character ("-----", "====="): count a run
    # of n equal characters as 1 + (n - 1) / 8 characters.
    body = piece.strip(" \r\n")
    length = sum(1.0 + (len(run.group(0)) - 1) / 8 for run in _SAME_CHAR_RUN.finditer(body))
    return 1.0 + _PUNCT_PER_CHAR * max(0.0, length - 2)


_CACHED_TEXT_LENGTH = 2048


def approx_text_tokens(text: str) -> int:
    """Estimate the number of o200k tokens in ``text`` without a tokenizer (see module doc).

    Deterministic and dependency-free; the empty string costs 0. Short texts are cached, so
    a system prompt repeated on every line is priced once.

    >>> approx_text_tokens("")
    0
    >>> approx_text_tokens("What is the genre of this book?")
    8
    """
    if len(text) <= _CACHED_TEXT_LENGTH:
        return _approx_cached(text)
    return _approx(text)


@lru_cache(maxsize=4096)
def _approx_cached(text: str) -> int:
    return _approx(text)


def _approx(text: str) -> int:
    if not text:
        return 0
    return max(1, round(sum(_piece_cost(p) for p in _PRE_SPLIT.findall(text))))


@dataclass(frozen=True)
class TextTokenCounter:
    """A named way of counting text tokens.

    Attributes:
        name: what it is, for reports (``"vqaft-approx-o200k"`` or ``"tiktoken o200k_base"``).
        exact: True when it is the real tokenizer, False for the estimate.
        count: the function ``str -> int``.
        description: one sentence on how the count is made, for reports.
    """

    name: str
    exact: bool
    count: Callable[[str], int]
    description: str


approx_counter = TextTokenCounter(
    name="vqaft-approx-o200k",
    exact=False,
    count=approx_text_tokens,
    description=(
        "text tokens are estimated offline (o200k pre-split rules plus a per-piece cost "
        "fitted on English text: within a few percent on a file of English prompts, more on "
        "other scripts or code); image tokens are exact from the image sizes"
    ),
)

_O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


def _tiktoken_cache_file() -> Path:
    # Mirrors tiktoken's cache location rules, so we only ever read what is already there.
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = Path(os.environ["TIKTOKEN_CACHE_DIR"])
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = Path(os.environ["DATA_GYM_CACHE_DIR"])
    else:
        cache_dir = Path(tempfile.gettempdir()) / "data-gym-cache"
    return cache_dir / hashlib.sha1(_O200K_URL.encode(), usedforsecurity=False).hexdigest()


@lru_cache(maxsize=1)
def _cached_tiktoken() -> TextTokenCounter | None:
    cache_file = _tiktoken_cache_file()
    if not cache_file.is_file():
        return None
    try:
        import tiktoken  # type: ignore[import-not-found, unused-ignore]

        encoding: Any = tiktoken.get_encoding("o200k_base")
    except Exception:  # any failure means "not available": fall back to the estimate
        return None

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return TextTokenCounter(
        name="tiktoken o200k_base",
        exact=True,
        count=count,
        description="text tokens counted exactly with tiktoken's cached o200k_base encoding; "
        "image tokens are exact from the image sizes",
    )


def default_counter() -> TextTokenCounter:
    """The exact tiktoken counter when its o200k encoding is already cached, else the estimate.

    Never triggers a download: the cache file is looked for first.
    """
    return _cached_tiktoken() or approx_counter


def message_overhead(role: str, *, has_name: bool = False) -> int:
    """Formatting tokens one chat message costs besides its content (role included).

    >>> message_overhead("user")
    4
    """
    return TOKENS_PER_MESSAGE + approx_text_tokens(role) + (TOKENS_PER_NAME if has_name else 0)
