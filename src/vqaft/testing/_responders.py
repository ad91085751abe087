"""Chat responders: what the fake model answers, and how an answer becomes a chat completion."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from vqaft.testing._faults import Fault
from vqaft.testing._schema_example import example_from_schema

__all__ = [
    "ChatRequest",
    "Reply",
    "Responder",
    "ResponderResult",
    "build_completion",
    "default_responder",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
]


def estimate_text_tokens(text: str) -> int:
    """A rough token count (4 characters a token); the fake's usage numbers are estimates."""
    return math.ceil(len(text) / 4)


def _image_tokens(part: Mapping[str, Any]) -> int:
    detail = (
        (part.get("image_url") or {}).get("detail", "auto") if isinstance(part, Mapping) else ""
    )
    return 85 if detail == "low" else 765


def estimate_prompt_tokens(messages: Any) -> int:
    """Rough prompt tokens: 4 per message, text at 4 characters a token, 85 per low-detail
    image and 765 per other image (a 1024x1024 gpt-4o tile count)."""
    total = 3
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, Mapping):
            continue
        total += 4
        content = message.get("content")
        if isinstance(content, str):
            total += estimate_text_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, Mapping):
                    continue
                if part.get("type") == "image_url":
                    total += _image_tokens(part)
                elif isinstance(part.get("text"), str):
                    total += estimate_text_tokens(part["text"])
    return total


@dataclass(frozen=True)
class ChatRequest:
    """A parsed chat-completions request, as handed to a responder.

    Attributes:
        body: the whole JSON request body (images included, not shortened).
        seq: the HTTP request's sequence number in the request log (for a batch line: the
            number of the ``batches.retrieve`` call that processed the batch).
        custom_id: the batch line's ``custom_id``; ``None`` for direct HTTP requests.
    """

    body: Mapping[str, Any]
    seq: int = 0
    custom_id: str | None = None

    @property
    def model(self) -> str:
        """The requested model id."""
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[Any]:
        """The request's messages."""
        messages = self.body.get("messages")
        return list(messages) if isinstance(messages, list) else []

    @property
    def response_format(self) -> Mapping[str, Any] | None:
        """The ``response_format`` object, if any."""
        value = self.body.get("response_format")
        return value if isinstance(value, Mapping) else None

    @property
    def json_schema(self) -> Mapping[str, Any] | None:
        """The JSON schema of a ``json_schema`` response format (what ``parse`` sends), if any."""
        fmt = self.response_format
        if fmt is None or fmt.get("type") != "json_schema":
            return None
        schema = (fmt.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, Mapping) else None

    @property
    def texts(self) -> list[str]:
        """Every text of every message, in order (string contents and ``text`` parts)."""
        out: list[str] = []
        for message in self.messages:
            content = message.get("content") if isinstance(message, Mapping) else None
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.extend(
                    p["text"]
                    for p in content
                    if isinstance(p, Mapping) and isinstance(p.get("text"), str)
                )
        return out

    @property
    def last_user_text(self) -> str:
        """The text parts of the last user message, joined by newlines ("" if none)."""
        for message in reversed(self.messages):
            if isinstance(message, Mapping) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return "\n".join(
                        p["text"]
                        for p in content
                        if isinstance(p, Mapping) and isinstance(p.get("text"), str)
                    )
        return ""

    @property
    def image_urls(self) -> list[str]:
        """The URLs (often ``data:`` URLs) of every image part, in order."""
        urls: list[str] = []
        for message in self.messages:
            content = message.get("content") if isinstance(message, Mapping) else None
            if isinstance(content, list):
                for part in content:
                    if isinstance(part, Mapping) and part.get("type") == "image_url":
                        url = (part.get("image_url") or {}).get("url")
                        if isinstance(url, str):
                            urls.append(url)
        return urls


@dataclass(frozen=True)
class Reply:
    """A responder answer with full control over the choice.

    Attributes:
        content: the message content (a string; use JSON text for structured output).
        refusal: a refusal message (then ``content`` is usually ``None``).
        finish_reason: ``"stop"``, ``"length"``, ``"content_filter"``, ...
        prompt_tokens: override the estimated prompt tokens.
        completion_tokens: override the estimated completion tokens.
    """

    content: str | None = None
    refusal: str | None = None
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


#: What a responder may return: a string (the answer), a ``Reply``, a dict / list / pydantic
#: model (JSON-serialised as the content, for structured output), a dict with a ``"choices"``
#: key (a complete chat-completion body, sent as given after filling missing fields), or a
#: ``Fault`` (the request fails that way).
ResponderResult = str | Reply | Fault | BaseModel | Mapping[str, Any] | list[Any]

#: A function from the parsed request to an answer. It is called from server threads,
#: possibly concurrently, so it must be thread-safe.
Responder = Callable[[ChatRequest], ResponderResult]


def _digest(request: ChatRequest) -> str:
    canonical = json.dumps([request.model, request.messages], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def default_responder(request: ChatRequest) -> ResponderResult:
    """The default fake model: deterministic, and schema-valid for structured output.

    A ``json_schema`` request gets the smallest value fitting the schema (see
    ``example_from_schema``), a ``json_object`` request ``{"answer": "fake answer <hash>"}``,
    anything else the text ``"fake answer <hash>"``, where ``<hash>`` is derived from the
    model and messages (same request, same answer).
    """
    text = f"fake answer {_digest(request)}"
    schema = request.json_schema
    if schema is not None:
        value = example_from_schema(schema)
        return value if isinstance(value, (dict, list)) else json.dumps(value)
    fmt = request.response_format
    if fmt is not None and fmt.get("type") == "json_object":
        return {"answer": text}
    return text


def _as_reply(result: object) -> Reply:
    if isinstance(result, Reply):
        return result
    if isinstance(result, str):
        return Reply(content=result)
    if isinstance(result, BaseModel):
        return Reply(content=result.model_dump_json())
    if isinstance(result, (Mapping, list)):
        return Reply(content=json.dumps(result, ensure_ascii=False))
    raise TypeError(
        f"a responder returned {type(result).__name__}; return str, Reply, dict, list, "
        "a pydantic model or a Fault"
    )


def build_completion(
    request: ChatRequest, result: object, *, completion_id: str, created: int
) -> dict[str, Any] | Fault:
    """Turn a responder's result into a chat-completion body (or pass a ``Fault`` through)."""
    if isinstance(result, Fault):
        return result
    if isinstance(result, Mapping) and "choices" in result:
        full = dict(result)
        full.setdefault("id", completion_id)
        full.setdefault("object", "chat.completion")
        full.setdefault("created", created)
        full.setdefault("model", request.model)
        return full
    reply = _as_reply(result)
    prompt = (
        reply.prompt_tokens
        if reply.prompt_tokens is not None
        else estimate_prompt_tokens(request.messages)
    )
    answer_text = (reply.content or "") + (reply.refusal or "")
    completion = (
        reply.completion_tokens
        if reply.completion_tokens is not None
        else max(1, estimate_text_tokens(answer_text))
    )
    n = request.body.get("n", 1)
    count = n if isinstance(n, int) and 1 <= n <= 128 else 1
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.content,
        "refusal": reply.refusal,
        "annotations": [],
    }
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": [
            {
                "index": i,
                "message": dict(message),
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
            for i in range(count)
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion * count,
            "total_tokens": prompt + completion * count,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }
