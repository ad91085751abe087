"""Keeping API keys out of messages: one redaction for every backend.

>>> redact("401: Incorrect API key provided: sk-proj-abcd****wxyz.")
'401: Incorrect API key provided: ***.'
>>> redact("token abc12345 refused", "abc12345")
'token *** refused'
"""

from __future__ import annotations

import re

__all__ = ["KEY_LIKE", "redact"]

KEY_LIKE = re.compile(r"\b(?:sk|sess|rk)-[A-Za-z0-9_\-*]{6,}")
"""Text shaped like an API key; OpenAI echoes a masked key ("sk-abc1*****wxyz") in 401
messages, so masked ones match too."""


def redact(text: str, secret: str | None = None, *, min_secret_length: int = 1) -> str:
    """``text`` with ``secret`` and anything shaped like an API key replaced by ``***``.

    ``secret`` is only replaced when it has at least ``min_secret_length`` characters (a
    short placeholder such as ``"EMPTY"`` for a local server is no secret, and replacing it
    would garble ordinary words).

    >>> redact("key EMPTY rejected", "EMPTY", min_secret_length=8)
    'key EMPTY rejected'
    """
    if secret and len(secret) >= min_secret_length:
        text = text.replace(secret, "***")
    return KEY_LIKE.sub("***", text)
