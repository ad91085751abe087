"""Turn examples into OpenAI chat-format records (``{"messages": [...]}``).

One record per question: a system message, optional few-shot question/answer pairs (each with
its own image), the user's question with the image, and, for training and validation files,
the assistant's answer.

>>> from vqaft.types import Example, ImageRef
>>> ex = Example(id="b1:0", image=ImageRef(url="https://example.com/b1.jpg"),
...              question="Who wrote this book?", answers=("Jane Doe",), image_id="b1")
>>> record = MessageBuilder().build(ex, "https://example.com/b1.jpg", include_answer=True)
>>> [m["role"] for m in record["messages"]]
['system', 'user', 'assistant']
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from vqaft.datasets.ocr_vqa_questions import CATEGORIES
from vqaft.errors import ConfigError
from vqaft.messages.images import ImagePolicy
from vqaft.messages.images import image_url as _ref_url
from vqaft.messages.vision_tokens import Detail
from vqaft.types import Example

__all__ = ["BOOK_CATEGORIES", "DEFAULT_SYSTEM_PROMPT", "MessageBuilder"]

BOOK_CATEGORIES: tuple[str, ...] = tuple(sorted(CATEGORIES))
"""The 32 OCR-VQA genre answers in alphabetical order, as the default system prompt lists them."""

DEFAULT_SYSTEM_PROMPT = (
    "You are shown the cover of a book and asked one question about it. "
    "Reply with the answer alone: no explanation, no full sentence, no quotation marks.\n"
    "- Title or author: copy it as printed on the cover.\n"
    "- Genre or type of book: reply with exactly one of these category names: "
    + "; ".join(BOOK_CATEGORIES)
    + ".\n"
    "- Yes/no questions: reply Yes or No."
)
"""vqaft's default system prompt for book-cover question answering (answer only, exact forms)."""

_DETAILS = ("low", "high", "auto")
_URL_PREFIXES = ("data:image/", "http://", "https://")


class MessageBuilder:
    """Builds one chat-format record per example.

    Args:
        system_prompt: the system message; ``None`` or ``""`` leaves it out.
        few_shot: worked examples from the *train* split, shown before every question as
            user/assistant pairs with their images. Their images are encoded once per policy.
        detail: the ``detail`` of every image part: ``"auto"``, ``"low"`` or ``"high"``.
        question_template: how the question is worded in the user message; must contain
            ``{question}`` and no other field.

    Example ids never appear in the prompt text: they travel in the ``.ids.jsonl`` side file
    written next to each JSONL file.

    >>> MessageBuilder(question_template="Question: {question}").config()["question_template"]
    'Question: {question}'
    """

    def __init__(
        self,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        *,
        few_shot: Sequence[Example] = (),
        detail: Detail = "auto",
        question_template: str = "{question}",
    ) -> None:
        if detail not in _DETAILS:
            raise ConfigError(
                f"unknown image detail {detail!r}", hint="use 'auto', 'low' or 'high'"
            )
        _check_template(question_template)
        for shot in few_shot:
            if shot.split != "train":
                raise ConfigError(
                    f"few-shot example comes from split {shot.split!r}, not 'train'",
                    example_id=shot.id,
                    hint="pick few-shot examples from the train split only, so that no "
                    "validation or test image leaks into the prompts",
                )
        self.system_prompt = system_prompt or None
        self.few_shot: tuple[Example, ...] = tuple(few_shot)
        self.detail: Detail = detail
        self.question_template = question_template
        self._few_shot_urls: dict[ImagePolicy, tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return (
            f"MessageBuilder(few_shot={len(self.few_shot)}, detail={self.detail!r}, "
            f"question_template={self.question_template!r})"
        )

    def config(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (recorded in run manifests)."""
        return {
            "system_prompt": self.system_prompt,
            "few_shot": [shot.id for shot in self.few_shot],
            "detail": self.detail,
            "question_template": self.question_template,
        }

    def question_text(self, example: Example) -> str:
        """The user message's text for ``example``."""
        return self.question_template.format(question=example.question)

    def few_shot_urls(self, policy: ImagePolicy | None = None) -> tuple[str, ...]:
        """Image URLs of the few-shot examples under ``policy``, encoded on first use only."""
        policy = policy or ImagePolicy()
        urls = self._few_shot_urls.get(policy)
        if urls is None:
            urls = tuple(_ref_url(shot.image, policy, self.detail) for shot in self.few_shot)
            self._few_shot_urls[policy] = urls
        return urls

    def build(
        self,
        example: Example,
        image_url: str,
        *,
        include_answer: bool,
        policy: ImagePolicy | None = None,
    ) -> dict[str, Any]:
        """The chat record for ``example`` whose image is at ``image_url``.

        Args:
            example: the question (and, with ``include_answer``, its first answer).
            image_url: a ``data:image/...`` URL or an ``http(s)`` URL.
            include_answer: add the assistant's answer (training and validation files);
                leave it out for test files, whose answers the model must produce.
            policy: how few-shot images are encoded (default :class:`ImagePolicy`).

        Raises:
            ConfigError: ``image_url`` is neither a data URL nor an http(s) URL.
        """
        if not image_url.startswith(_URL_PREFIXES):
            raise ConfigError(
                f"image URL must be a data:image/ URL or an http(s) URL, got {image_url[:40]!r}",
                example_id=example.id,
                hint="encode local images with vqaft.messages.images.image_url",
            )
        return self.build_with_urls(
            example, image_url, self.few_shot_urls(policy), include_answer=include_answer
        )

    def build_with_urls(
        self,
        example: Example,
        image_url: str,
        few_shot_urls: Sequence[str],
        *,
        include_answer: bool,
    ) -> dict[str, Any]:
        """Like :meth:`build` with the few-shot image URLs given (one per few-shot example).

        The URLs are not checked: this is the fast path the JSONL writer uses.
        """
        if len(few_shot_urls) != len(self.few_shot):
            raise ConfigError(
                f"{len(few_shot_urls)} few-shot image URLs for {len(self.few_shot)} examples"
            )
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        for shot, url in zip(self.few_shot, few_shot_urls, strict=True):
            messages.append(self._user(shot, url))
            messages.append({"role": "assistant", "content": shot.answer})
        messages.append(self._user(example, image_url))
        if include_answer:
            messages.append({"role": "assistant", "content": example.answer})
        return {"messages": messages}

    def _user(self, example: Example, url: str) -> dict[str, Any]:
        return {
            "role": "user",
            "content": [
                {"type": "text", "text": self.question_text(example)},
                {"type": "image_url", "image_url": {"url": url, "detail": self.detail}},
            ],
        }


def _check_template(template: str) -> None:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(
            f"question template {template!r} is malformed: {exc}",
            hint="write literal braces as {{ and }}",
        ) from exc
    if fields != {"question"}:
        raise ConfigError(
            f"question template {template!r} uses fields {sorted(fields)}; "
            "it must use {question} and nothing else",
            hint="e.g. 'Question: {question}'",
        )
