"""Chat-completion request options, request bodies and answers, in OpenAI's wire format.

Both the online predictor and Batch API mode send the same body -- ``{"model", "messages",
...options}`` -- and read the same answer, so both live here.

>>> options = RequestOptions(temperature=0, max_tokens=50, seed=7)
>>> sorted(build_body("gpt-4o", [{"role": "user", "content": "hi"}], options))
['max_tokens', 'messages', 'model', 'seed', 'temperature']
>>> parse_completion({"choices": [{"message": {"content": " Paris "},
...                                "finish_reason": "stop"}]}).text
'Paris'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vqaft.errors import ConfigError
from vqaft.predict.base import Completion

__all__ = ["MalformedResponse", "RequestOptions", "build_body", "parse_completion"]


class RequestOptions(BaseModel):
    """Sampling and length options sent with every chat request (``None``: not sent).

    Attributes:
        temperature: sampling temperature (0 for the most repeatable answers).
        top_p: nucleus sampling.
        max_tokens: answer length limit; the older name, which local servers (vLLM, Ollama,
            LM Studio) and gpt-4o understand.
        max_completion_tokens: the newer name OpenAI's reasoning models require.
        seed: best-effort determinism.
        stop: stop sequences.
        presence_penalty, frequency_penalty: repetition penalties.
        extra: more body fields, sent as they are (e.g. ``{"store": True, "metadata": {...}}``
            for OpenAI, ``{"top_k": 20}`` for vLLM).

    >>> RequestOptions(temperature=0).to_body()
    {'temperature': 0.0}
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    extra: dict[str, Any] = Field(default_factory=dict)

    def to_body(self) -> dict[str, Any]:
        """The options as request-body fields (unset ones left out).

        Raises:
            ConfigError: ``extra`` tries to set ``model`` or ``messages``, or streaming.
        """
        body = self.model_dump(exclude_none=True, exclude={"extra"})
        clash = {"model", "messages", "stream"} & set(self.extra)
        if clash:
            raise ConfigError(
                f"request option(s) {', '.join(sorted(clash))} cannot be set through 'extra'",
                hint="the model and messages come from the predictor and the test file; "
                "streaming is not supported",
            )
        body.update(self.extra)
        return body


def build_body(
    model: str, messages: Sequence[Mapping[str, Any]], options: RequestOptions | None = None
) -> dict[str, Any]:
    """The chat-completion request body for ``messages``."""
    body: dict[str, Any] = {"model": model, "messages": list(messages)}
    if options is not None:
        body.update(options.to_body())
    return body


class MalformedResponse(ValueError):
    """The server answered 200 with something that is not a chat completion."""


def parse_completion(data: Any, *, latency: float | None = None, attempts: int = 1) -> Completion:
    """Read the first choice of a chat-completion body (a parsed JSON object).

    Raises:
        MalformedResponse: ``data`` has no usable first choice.
    """
    if not isinstance(data, Mapping):
        raise MalformedResponse(f"expected a JSON object, got {type(data).__name__}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise MalformedResponse("the response has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise MalformedResponse("the first choice has no message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise MalformedResponse(f"message content is {type(content).__name__}, not text")
    refusal = message.get("refusal")
    finish = choice.get("finish_reason")
    usage = data.get("usage")
    return Completion(
        text=(content or "").strip(),
        finish_reason=finish if isinstance(finish, str) else None,
        usage=dict(usage) if isinstance(usage, Mapping) else None,
        latency=latency,
        attempts=attempts,
        refusal=refusal if isinstance(refusal, str) and refusal else None,
    )
