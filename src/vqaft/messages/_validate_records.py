"""Check one parsed chat-format record against OpenAI's fine-tuning rules and count its tokens.

Shared by :func:`vqaft.messages.validate.validate` (which reports the problems) and
:func:`vqaft.messages.estimate.estimate` (which uses the token counts).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vqaft.messages._validate_images import ImageInfo, ImageInspector, Problem, Severity
from vqaft.messages.text_tokens import REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE, TOKENS_PER_NAME
from vqaft.messages.vision_tokens import BASE_TOKENS, TILE_TOKENS, Detail, tile_count

__all__ = [
    "MAX_IMAGES_PER_EXAMPLE",
    "MAX_REMOTE_TILES",
    "ROLES",
    "ImageUse",
    "RecordCheck",
    "check_record",
]

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MAX_IMAGES_PER_EXAMPLE = 10
MAX_REMOTE_TILES = 8
"""Most 512-px tiles a high-detail image can cost (768 x 2048 after scaling): remote images,
whose size is unknown offline, are counted at this bound."""

_DETAILS = ("low", "high", "auto")
_TOP_KEYS = frozenset({"messages", "tools", "functions", "parallel_tool_calls"})
_MESSAGE_KEYS: Mapping[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset(
        {"role", "content", "name", "weight", "tool_calls", "function_call", "refusal"}
    ),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
_IMAGE_URL_KEYS = frozenset({"url", "detail"})
_STRUCTURE_HINT = (
    'each line must be {"messages": [{"role": ..., "content": ...}, ...]} (OpenAI chat format)'
)


@dataclass(frozen=True)
class ImageUse:
    """One image part of a record: the image and the detail it is sent at."""

    info: ImageInfo
    detail: Detail
    where: str
    url_key: bytes


@dataclass
class RecordCheck:
    """The outcome of checking one record.

    Attributes:
        problems: rules broken, each message prefixed by where in the record it is.
        images: the image parts, in order.
        text_tokens: text tokens including the chat formatting overhead.
        usable: the record has a readable ``messages`` list, so token counts mean something.
        ends_with_assistant: the last message is an assistant message.
        has_answer: at least one assistant message with content (or a tool call) that is
            trained on (``weight`` not 0).
        message_digests: a fingerprint of each message (see :meth:`prompt_and_answer_keys`).
        extras_digest: a fingerprint of the top-level keys other than ``messages``.
        asked: ``(start, stop)`` slice of :attr:`images` in the last user message: the images
            the example asks about (earlier user messages hold few-shot images).
    """

    problems: list[Problem] = field(default_factory=list)
    images: list[ImageUse] = field(default_factory=list)
    text_tokens: int = 0
    usable: bool = False
    ends_with_assistant: bool = False
    has_answer: bool = False
    message_digests: list[bytes] = field(default_factory=list)
    extras_digest: bytes = b""
    asked: tuple[int, int] = (0, 0)

    @property
    def asked_images(self) -> list[ImageUse]:
        """Images of the last user message: what the example is about (not few-shot images)."""
        return self.images[self.asked[0] : self.asked[1]]

    def prompt_and_answer_keys(self) -> tuple[bytes, bytes]:
        """Fingerprints of the record without its final answer, and of that answer.

        Two records with equal fingerprints hold the same messages (images compared by a
        hash of their URL), so equal prompt keys mean the same question on the same image.
        """
        digests = self.message_digests
        prompt = digests[:-1] if self.ends_with_assistant else digests
        answer = digests[-1] if self.ends_with_assistant and digests else b""
        key = hashlib.blake2b(self.extras_digest + b"".join(prompt), digest_size=16).digest()
        return key, answer

    def image_tokens(self, base: int = BASE_TOKENS, tile: int = TILE_TOKENS) -> tuple[int, int]:
        """``(tokens, remote_images)``: image tokens at ``base + tile * tiles`` per image.

        ``detail="auto"`` is billed as high. A remote image (size unknown offline) at high
        detail is counted at the largest possible tile count, :data:`MAX_REMOTE_TILES`.
        Images whose header could not be read count nothing.
        """
        total = 0
        remote = 0
        for use in self.images:
            if use.detail == "low":
                if use.info.kind != "invalid":
                    total += base
                remote += use.info.kind == "remote"
                continue
            size = use.info.size
            if size is not None:
                total += base + tile * tile_count(*size)
            elif use.info.kind == "remote":
                total += base + tile * MAX_REMOTE_TILES
                remote += 1
        return total, remote

    def add(
        self, code: str, message: str, hint: str | None = None, *, severity: Severity = "error"
    ) -> None:
        """Record a problem."""
        self.problems.append(Problem(severity, code, message, hint))


def check_record(
    record: object, inspector: ImageInspector, count_tokens: Callable[[str], int]
) -> RecordCheck:
    """Check one parsed JSONL record; never raises on bad input (problems are collected)."""
    check = RecordCheck()
    if not isinstance(record, dict):
        check.add(
            "not_object",
            f"line is a JSON {_json_type(record)}, not an object",
            _STRUCTURE_HINT,
        )
        return check
    for key in record:
        if key not in _TOP_KEYS:
            check.add(
                "unexpected_key",
                f"unexpected top-level key {key!r}",
                "keep only 'messages' (and 'tools'); put ids and metadata in the .ids.jsonl "
                "side file",
                severity="warning",
            )
    if "messages" not in record:
        check.add("missing_messages", "record has no 'messages' key", _STRUCTURE_HINT)
        return check
    messages = record["messages"]
    if not isinstance(messages, list):
        check.add(
            "missing_messages",
            f"'messages' is a JSON {_json_type(messages)}, not a list",
            _STRUCTURE_HINT,
        )
        return check
    if not messages:
        check.add("missing_messages", "'messages' is an empty list", _STRUCTURE_HINT)
        return check
    check.usable = True
    extras = {k: v for k, v in record.items() if k != "messages"}
    if extras:
        check.extras_digest = _digest(extras)
    tokens = REPLY_PRIMING_TOKENS
    for extra in ("tools", "functions"):
        if extra in record:
            if isinstance(record[extra], list):
                tokens += count_tokens(json.dumps(record[extra], ensure_ascii=False))
            else:
                check.add("invalid_tools", f"'{extra}' must be a list of definitions")
    last_role: str | None = None
    for index, message in enumerate(messages):
        first_image = len(check.images)
        tokens += _check_message(check, message, f"messages[{index}]", inspector, count_tokens)
        check.message_digests.append(_message_digest(message, check.images[first_image:]))
        last_role = message.get("role") if isinstance(message, dict) else None
        if last_role == "user":
            check.asked = (first_image, len(check.images))
    check.text_tokens = tokens
    check.ends_with_assistant = last_role == "assistant"
    if len(check.images) > MAX_IMAGES_PER_EXAMPLE:
        check.add(
            "too_many_images",
            f"example has {len(check.images)} images; OpenAI allows at most "
            f"{MAX_IMAGES_PER_EXAMPLE} per example",
            "split the example or drop few-shot images",
        )
    return check


def _check_message(
    check: RecordCheck,
    message: object,
    where: str,
    inspector: ImageInspector,
    count_tokens: Callable[[str], int],
) -> int:
    if not isinstance(message, dict):
        check.add("invalid_message", f"{where} is a JSON {_json_type(message)}, not an object")
        return 0
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        shown = "missing" if role is None else repr(role)
        check.add(
            "invalid_role",
            f"{where}.role is {shown}; expected one of {', '.join(ROLES)}",
            "fix the role name (roles are lower case)",
        )
        return 0
    tokens = TOKENS_PER_MESSAGE + count_tokens(role)
    for key in message:
        if key not in _MESSAGE_KEYS[role]:
            check.add(
                "unexpected_key",
                f"{where} ({role}) has unexpected key {key!r}",
                "remove it: OpenAI rejects or ignores keys outside the chat format",
                severity="warning",
            )
    name = message.get("name")
    if name is not None:
        if isinstance(name, str):
            tokens += TOKENS_PER_NAME + count_tokens(name)
        else:
            check.add("invalid_message", f"{where}.name must be a string")
    tokens += _check_content(check, message, role, where, inspector, count_tokens)
    if role == "assistant":
        tokens += _check_assistant_extras(check, message, where, count_tokens)
    elif role == "tool" and not isinstance(message.get("tool_call_id"), str):
        check.add("invalid_message", f"{where} (tool) needs a string 'tool_call_id'")
    elif role == "function" and not isinstance(name, str):
        check.add("invalid_message", f"{where} (function) needs a string 'name'")
    return tokens


def _check_assistant_extras(
    check: RecordCheck, message: dict[str, Any], where: str, count_tokens: Callable[[str], int]
) -> int:
    tokens = 0
    weight = message.get("weight", 1)
    if weight not in (0, 1) or isinstance(weight, bool):
        check.add("invalid_weight", f"{where}.weight is {weight!r}; it must be 0 or 1")
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        check.add("invalid_message", f"{where}.tool_calls must be a list")
        calls = None
    call = message.get("function_call")
    if call is not None and not isinstance(call, dict):
        check.add("invalid_message", f"{where}.function_call must be an object")
        call = None
    for extra in (calls, call):
        if extra:
            tokens += count_tokens(json.dumps(extra, ensure_ascii=False))
    content = message.get("content")
    has_text = (isinstance(content, str) and content.strip() != "") or (
        isinstance(content, list) and len(content) > 0
    )
    if weight != 0 and (has_text or calls or call):
        check.has_answer = True
    return tokens


def _check_content(
    check: RecordCheck,
    message: dict[str, Any],
    role: str,
    where: str,
    inspector: ImageInspector,
    count_tokens: Callable[[str], int],
) -> int:
    if "content" not in message or message["content"] is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return 0
        check.add(
            "missing_content",
            f"{where} ({role}) has no content",
            "give the message a string content or a list of content parts",
        )
        return 0
    content = message["content"]
    if isinstance(content, str):
        if not content.strip():
            if role in ("system", "developer"):
                check.add(
                    "empty_system_prompt",
                    f"{where} ({role}) has an empty prompt",
                    "write a system prompt or drop the message",
                    severity="warning",
                )
            else:
                check.add(
                    "empty_content",
                    f"{where} ({role}) content is empty",
                    "drop the message or give it text",
                    severity="warning",
                )
        return count_tokens(content)
    if not isinstance(content, list):
        check.add(
            "invalid_content",
            f"{where}.content is a JSON {_json_type(content)}; expected a string or a list of "
            "content parts",
            'e.g. [{"type": "text", "text": "..."}, {"type": "image_url", ...}]',
        )
        return 0
    if not content:
        check.add("invalid_content", f"{where}.content is an empty list")
        return 0
    tokens = 0
    for index, part in enumerate(content):
        tokens += _check_part(
            check, part, role, f"{where}.content[{index}]", inspector, count_tokens
        )
    return tokens


def _check_part(
    check: RecordCheck,
    part: object,
    role: str,
    where: str,
    inspector: ImageInspector,
    count_tokens: Callable[[str], int],
) -> int:
    if not isinstance(part, dict):
        check.add(
            "invalid_content_part",
            f"{where} is a JSON {_json_type(part)}, not a content part object",
            'use {"type": "text", "text": "..."} or {"type": "image_url", "image_url": {...}}',
        )
        return 0
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            check.add(
                "invalid_content_part",
                f"{where} is a text part without a string 'text'",
                '{"type": "text", "text": "..."}',
            )
            return 0
        _check_part_keys(check, part, {"type", "text"}, where)
        return count_tokens(text)
    if kind == "image_url":
        _check_image_part(check, part, role, where, inspector)
        return 0
    shown = "missing" if kind is None else repr(kind)
    check.add(
        "invalid_content_part",
        f"{where} has type {shown}; vision fine-tuning files take 'text' and 'image_url' parts",
        'use {"type": "text", ...} or {"type": "image_url", ...}',
    )
    return 0


def _check_part_keys(
    check: RecordCheck, part: Mapping[str, Any], allowed: set[str], where: str
) -> None:
    for key in part:
        if key not in allowed:
            check.add(
                "unexpected_key",
                f"{where} has unexpected key {key!r}",
                "remove it",
                severity="warning",
            )


def _check_image_part(
    check: RecordCheck,
    part: Mapping[str, Any],
    role: str,
    where: str,
    inspector: ImageInspector,
) -> None:
    _check_part_keys(check, part, {"type", "image_url"}, where)
    image_url = part.get("image_url")
    if not isinstance(image_url, dict) or not isinstance(image_url.get("url"), str):
        check.add(
            "invalid_content_part",
            f"{where} is an image part without an 'image_url' object holding a string 'url'",
            '{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,...", '
            '"detail": "high"}}',
        )
        return
    for key in image_url:
        if key not in _IMAGE_URL_KEYS:
            check.add(
                "unexpected_key",
                f"{where}.image_url has unexpected key {key!r}",
                "image_url takes 'url' and 'detail' only",
                severity="warning",
            )
    detail = image_url.get("detail", "auto")
    if detail not in _DETAILS:
        check.add(
            "invalid_detail",
            f"{where}.image_url.detail is {detail!r}; expected 'low', 'high' or 'auto'",
            "use 'low' (85 tokens per image) or 'high'",
        )
        detail = "auto"
    if role == "assistant":
        check.add(
            "image_in_assistant",
            f"{where}: assistant messages cannot contain images",
            "move the image to the user message before it",
        )
    elif role != "user":
        check.add(
            "image_not_in_user",
            f"{where}: images are only allowed in user messages, not in {role} messages",
            "move the image to a user message",
        )
    url_key, info = inspector.inspect_keyed(image_url["url"])
    for problem in info.problems:
        check.problems.append(
            Problem(problem.severity, problem.code, f"{where}: {problem.message}", problem.hint)
        )
    check.images.append(ImageUse(info=info, detail=detail, where=where, url_key=url_key))


def _digest(value: object) -> bytes:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _message_digest(message: object, images: Sequence[ImageUse]) -> bytes:
    """Fingerprint of one message, with each image URL replaced by the hash of its text."""
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return _digest(message)
    by_place = {use.where: use for use in images}
    canon = {k: v for k, v in message.items() if k != "content"}
    prefix = images[0].where.split(".content[")[0] if images else ""
    content: list[object] = []
    for index, part in enumerate(message["content"]):
        use = by_place.get(f"{prefix}.content[{index}]") if prefix else None
        if use is not None:
            content.append(["image", use.url_key.hex(), use.detail])
        else:
            content.append(part)
    canon["content"] = content
    return _digest(canon)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Sequence):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__
