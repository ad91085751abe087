"""Serialise chat records and ids-file lines for the JSONL writer.

A record is written as a sequence of byte chunks: the JSON text around the image URLs, and the
URLs themselves, spliced in as they came from the encoder (an image's base64 URL is most of a
record's bytes and is shared by every question about that image, so it is never copied or
scanned by ``json.dumps``). Beside the chunks goes the record's *fingerprint*: the same bytes
with each data URL replaced by its digest (see :func:`vqaft.messages.writer.content_digest`).

Two ways to get the chunks, with byte-identical results:

* **generic**: ask the builder for the record with placeholder URLs, ``json.dumps`` it and split
  it at the placeholders. Works for any :class:`MessageBuilder` subclass.
* **template**: for a builder whose record layout is the stock one (``build_with_urls`` and
  ``_user`` not overridden), serialise one probe record up front, with placeholders for the
  question and the answer as well, and per example only JSON-escape the question and the
  answer into the gaps. The template is checked against the generic path on a probe full of
  characters that JSON escapes (quotes, backslashes, control and non-ASCII characters); if
  they differ the generic path is used.

The template path matters because the writer's main thread does this for every question and
holds the GIL while it does, which the encoding threads also need.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import IO

from vqaft.messages._record_writer import RecordWriter
from vqaft.messages.builder import MessageBuilder
from vqaft.types import Example, ImageRef

__all__ = ["RecordLines", "json_string_body", "url_digest"]

_MAIN = "main"
_QUESTION = "question"
_ANSWER = "answer"

# One part of a record: literal JSON text, a slot name above, or a few-shot image's index.
_Part = bytes | str | int

_IDS_ENCODER = json.JSONEncoder(ensure_ascii=False)
_PROBE_TEXT = 'He said "é\\n"\t\u2028\x01 </script> ☃ 𝄞'


def url_digest(url: bytes) -> bytes:
    """What stands for an image URL in the content digest: a data URL's BLAKE2b-256 (hex),
    else the URL itself (http(s) URLs are short).

    BLAKE2b rather than SHA-256 because data URLs are most of a file's bytes and BLAKE2b hashes
    them about twice as fast on CPUs without SHA instructions; it is as collision-resistant.
    """
    if url.startswith(b"data:"):
        return hashlib.blake2b(url, digest_size=32).hexdigest().encode()
    return url


def json_string_body(text: str) -> bytes:
    """``text`` as it appears between the quotes of a JSON string (UTF-8)."""
    return encode_basestring(text)[1:-1].encode()


class RecordLines:
    """Turns groups of examples (one image each) into JSONL records and ids-file lines.

    Args:
        records: receives each record's chunks and fingerprint.
        ids: the ids side file (binary, buffered).
        builder: builds the records.
        few_shot: the few-shot images' URLs, as JSON string bodies.
        include_answer: whether records end with the assistant's answer.
    """

    def __init__(
        self,
        records: RecordWriter,
        ids: IO[bytes],
        builder: MessageBuilder,
        few_shot: Sequence[bytes],
        *,
        include_answer: bool,
    ) -> None:
        self.records = records
        self.ids = ids
        self.builder = builder
        self.include_answer = include_answer
        self.lines = 0
        self._few_shot = list(few_shot)
        self._few_shot_digests = [url_digest(url) for url in few_shot]
        # Placeholders no dataset text will contain: a fresh random token per writer.
        token = secrets.token_hex(8)
        self._slot_text = {name: f"vqaft-{token}-{name}" for name in (_MAIN, _QUESTION, _ANSWER)}
        self._few_shot_slots = [f"vqaft-{token}-{i}" for i in range(len(few_shot))]
        self._split = re.compile(f"vqaft-{token}-({_MAIN}|{_QUESTION}|{_ANSWER}|[0-9]+)")
        self._template = self._make_template()

    @property
    def uses_template(self) -> bool:
        """Whether records are filled into a pre-serialised template (the fast path)."""
        return self._template is not None

    def write_group(
        self, examples: Sequence[Example], url: bytes, url_digest: bytes, image_sha256: str
    ) -> None:
        """Queue one record per example (all showing the image at ``url``) and write their
        ids lines."""
        chunks: list[bytes] = []
        fingerprint: list[bytes] = []
        template = self._template
        for example in examples:
            if template is None:
                parts: Sequence[_Part] = self._serialise(example, question_slots=False)
                self._append(parts, url, url_digest, b"", b"", chunks, fingerprint)
            else:
                question = json_string_body(example.question)
                answer = json_string_body(example.answer) if self.include_answer else b""
                self._append(template, url, url_digest, question, answer, chunks, fingerprint)
            self.lines += 1
            side = {
                "line": self.lines,
                "example_id": example.id,
                "image_id": example.image_id,
                "question": example.question,
                "answers": list(example.answers),
                "image_sha256": image_sha256,
            }
            self.ids.write(_IDS_ENCODER.encode(side).encode() + b"\n")
        self.records.put(chunks, [b"".join(fingerprint)])

    def _append(
        self,
        parts: Sequence[_Part],
        url: bytes,
        url_digest: bytes,
        question: bytes,
        answer: bytes,
        chunks: list[bytes],
        fingerprint: list[bytes],
    ) -> None:
        """Render one record's ``parts``; small pieces are joined, image URLs kept whole."""
        small: list[bytes] = []
        for part in parts:
            if isinstance(part, bytes):
                small.append(part)
            elif part == _QUESTION:
                small.append(question)
            elif part == _ANSWER:
                small.append(answer)
            else:
                big, digest = (
                    (url, url_digest)
                    if part == _MAIN
                    else (self._few_shot[int(part)], self._few_shot_digests[int(part)])
                )
                text = b"".join(small)
                chunks.append(text)
                chunks.append(big)
                fingerprint.append(text)
                fingerprint.append(digest)
                small = []
        small.append(b"\n")
        text = b"".join(small)
        chunks.append(text)
        fingerprint.append(text)

    def _serialise(self, example: Example, question_slots: bool) -> list[_Part]:
        record = self.builder.build_with_urls(
            example,
            self._slot_text[_MAIN],
            self._few_shot_slots,
            include_answer=self.include_answer,
        )
        pieces = self._split.split(json.dumps(record, ensure_ascii=False))
        parts: list[_Part] = []
        for index, piece in enumerate(pieces):
            if index % 2 == 0:
                parts.append(piece.encode())
            elif piece in (_QUESTION, _ANSWER) and not question_slots:
                # The text of a real example happened to contain a placeholder: keep it.
                parts.append(self._slot_text[piece].encode())
            else:
                parts.append(piece if piece in self._slot_text else int(piece))
        return parts

    def _make_template(self) -> list[_Part] | None:
        cls = type(self.builder)
        if (
            cls.build_with_urls is not MessageBuilder.build_with_urls
            or cls._user is not MessageBuilder._user
            or cls.question_text is not MessageBuilder.question_text
        ):
            return None
        probe = _probe(self._slot_text[_QUESTION], self._slot_text[_ANSWER])
        template = self._serialise(probe, question_slots=True)
        check = _probe(_PROBE_TEXT, _PROBE_TEXT[::-1])
        url, digest = b"data:image/png;base64,AAAA", b"digest"
        fast: tuple[list[bytes], list[bytes]] = ([], [])
        slow: tuple[list[bytes], list[bytes]] = ([], [])
        answer = json_string_body(check.answer) if self.include_answer else b""
        self._append(template, url, digest, json_string_body(check.question), answer, *fast)
        self._append(self._serialise(check, question_slots=False), url, digest, b"", b"", *slow)
        return template if fast == slow else None


def _probe(question: str, answer: str) -> Example:
    return Example(
        id="probe:0",
        image=ImageRef(url="https://probe.invalid/cover.jpg"),
        question=question,
        answers=(answer,),
        image_id="probe",
    )
