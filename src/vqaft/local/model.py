"""The local models: ``local/base`` (zero-shot rules) and ``local/ft-<hash>`` (fine-tuned).

Both answer an OCR-VQA-style question about a cover from its OCR reading::

    model = LocalModel.base()                       # or LocalModel.load("model.json")
    with OcrService() as ocr:
        answer = model.predict(record, ocr)         # a chat record, as in test.jsonl
        answer = model.answer("Who wrote this book?", image_bytes, ocr)

The question's form decides the path
(:func:`~vqaft.datasets.ocr_vqa_questions.classify_question`): title and author questions
pick OCR lines, genre questions classify the cover, yes/no questions compare the genre with
the category the question names (other yes/no questions get "No"), and any other question
gets the title. A fine-tuned model uses
what :mod:`vqaft.local.learner` learned (its :class:`~vqaft.local.model_file.ModelParams`);
the base model uses :mod:`vqaft.local.base_rules`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vqaft.datasets.ocr_vqa_questions import CATEGORIES, NO, YES, QuestionForm, classify_question
from vqaft.evaluate.question_types import YES_NO, ocr_vqa_question_type
from vqaft.local.base_rules import (
    GENRE_NAMES,
    base_author,
    base_genre,
    base_title,
    genre_scores,
    strip_by,
)
from vqaft.local.features import (
    BASE_SPACING,
    LayoutLine,
    SpacingModel,
    layout,
    line_features,
    visual_features,
)
from vqaft.local.model_file import BASE_ID, ROLES, ModelParams, load_params, save_params
from vqaft.local.ocr import CoverOcr, OcrService, image_digest
from vqaft.local.records import parse_record

__all__ = ["BASE_ID", "VIEW_CACHE_SIZE", "CoverView", "LocalModel"]

VIEW_CACHE_SIZE = 64
"""Laid-out covers a model keeps for further questions about the same image."""


@dataclass
class CoverView:
    """A cover as a model sees it: the OCR reading, the spaced lines, the colour features."""

    cover: CoverOcr
    lines: list[LayoutLine]
    visual: np.ndarray[Any, np.dtype[np.float64]]

    @classmethod
    def build(
        cls,
        cover: CoverOcr,
        image: bytes,
        spacing: SpacingModel,
        corrections: Mapping[str, str] | None = None,
    ) -> CoverView:
        """Lay out ``cover`` (``spacing``, ``corrections``); measure the colours of ``image``."""
        return cls(
            cover=cover, lines=layout(cover, spacing, corrections), visual=visual_features(image)
        )

    @property
    def texts(self) -> list[str]:
        """The spaced line texts, top to bottom."""
        return [ln.text for ln in self.lines]


class LocalModel:
    """A local cover-question model; :meth:`base` or :meth:`load` one.

    Attributes:
        id: ``"local/base"`` or ``"local/ft-<12 hex digits>"`` (a hash of the model file's
            learned content).
        params: the learned parameters (``None`` for the base model).
        path: the model file it was loaded from or saved to, if any.
    """

    def __init__(self, params: ModelParams | None = None, path: Path | None = None) -> None:
        self.params = params
        self.path = path
        self.id = BASE_ID if params is None else params.id
        self._views: OrderedDict[str, CoverView] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalModel({self.id!r})"

    @classmethod
    def base(cls) -> LocalModel:
        """The zero-shot model ``local/base``."""
        return cls()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LocalModel:
        """Load a fine-tuned model file (see :mod:`vqaft.local.model_file`).

        Raises:
            ConfigError: the file is missing, not a local model file, or of a newer version.
        """
        return cls(load_params(path), Path(path))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model file (JSON) atomically; returns its path.

        Raises:
            ConfigError: the base model has no file to save.
        """
        if self.params is None:
            from vqaft.errors import ConfigError

            raise ConfigError("local/base is built in and has no model file to save")
        self.path = save_params(self.params, path)
        return self.path

    # -- answering -------------------------------------------------------------------------

    @property
    def spacing(self) -> SpacingModel:
        """How this model puts spaces back into OCR lines."""
        if self.params is None:
            return BASE_SPACING
        return SpacingModel(tuple(self.params.spacing.weights), self.params.spacing.bias)

    def view(self, cover: CoverOcr, image: bytes) -> CoverView:
        """The cover as this model sees it."""
        corrections = None if self.params is None else self.params.corrections
        return CoverView.build(cover, image, self.spacing, corrections)

    def predict(self, record: Mapping[str, Any], ocr: OcrService) -> str:
        """Answer a chat record (its last user message's question about its image).

        Raises:
            ValueError: the record has no question or no embedded image.
            ImageError: the image cannot be decoded.
        """
        item = parse_record(record)
        return self.answer(item.question, item.image, ocr)

    def answer(self, question: str, image: bytes, ocr: OcrService) -> str:
        """Answer ``question`` about the cover in ``image`` (bytes).

        The laid-out cover is kept for the next questions about the same image (the last
        :data:`VIEW_CACHE_SIZE` images).
        """
        cover = ocr.read(image)
        key = cover.digest or image_digest(image)
        with self._lock:
            view = self._views.get(key)
            if view is not None:
                self._views.move_to_end(key)
        if view is None:
            view = self.view(cover, image)
            with self._lock:
                self._views[key] = view
                while len(self._views) > VIEW_CACHE_SIZE:
                    self._views.popitem(last=False)
        return self.answer_view(question, view)

    def answer_view(self, question: str, view: CoverView) -> str:
        """Answer ``question`` about an already laid-out cover."""
        info = classify_question(question)
        if info.form is QuestionForm.AUTHOR:
            return self.author(view)
        if info.form is QuestionForm.GENRE:
            return self.genre(view)
        if info.form.is_yes_no:
            category = self.question_category(question)
            if category is None:
                return NO
            return YES if self.says_yes(view, category) else NO
        if ocr_vqa_question_type(question) == YES_NO:  # "Is it ...?" about nothing known
            return NO
        return self.title(view)

    # -- the parts ---------------------------------------------------------------------------

    def line_roles(self, view: CoverView) -> tuple[list[str], np.ndarray[Any, Any]]:
        """Each line's most likely role and the role probabilities (rows: lines, columns:
        :data:`~vqaft.local.model_file.ROLES`)."""
        if self.params is None:
            raise ValueError("local/base has no learned line classifier")
        features = line_features(view.lines, view.cover.width, view.cover.height)
        probs = self.params.roles.probabilities(features)
        return [ROLES[k] for k in self.params.roles.decode(probs)], probs

    def title(self, view: CoverView) -> str:
        """The book's title as this model reads it."""
        if self.params is None or not view.lines:
            return base_title(view.lines)
        roles, probs = self.line_roles(view)
        main = [i for i, role in enumerate(roles) if role == "title"]
        if not main:
            main = [int(probs[:, ROLES.index("title")].argmax())]
        sub = [i for i, role in enumerate(roles) if role == "subtitle"]
        series = [i for i, role in enumerate(roles) if role == "series"]
        casing = self.params.casing
        text = casing.apply(_join(view.lines, main))
        if sub and self.params.title.use_subtitle:
            text += self.params.title.subtitle_separator + casing.apply(_join(view.lines, sub))
        if series and self.params.title.use_series:
            text += f" ({casing.apply(_join(view.lines, series))})"
        return text

    def author(self, view: CoverView) -> str:
        """The book's author as this model reads it."""
        if self.params is None or not view.lines:
            return base_author(view.lines)
        roles, probs = self.line_roles(view)
        column = probs[:, ROLES.index("author")]
        chosen = [i for i, role in enumerate(roles) if role == "author"]
        anchor = int(column.argmax())
        if not chosen:
            chosen = [anchor]
        elif self.params.author_block:
            chosen = _contiguous(chosen, max(chosen, key=lambda i: column[i]))
        return self.params.casing.apply(strip_by(_join(view.lines, chosen)))

    def genre_probabilities(self, view: CoverView) -> dict[str, float]:
        """Probability of each category (the base model: 1 for its keyword pick)."""
        if self.params is None:
            pick = base_genre(view.texts)
            return {c: float(c == pick) for c in CATEGORIES}
        hits = genre_scores(view.texts)
        return self.params.genre.probabilities(
            view.texts, view.visual, hits, base_genre(view.texts)
        )

    def genre(self, view: CoverView) -> str:
        """The genre answer: the most likely category, as the fine-tuned model learned to
        spell it from the training answers; the base model says it in its own words
        (:data:`~vqaft.local.base_rules.GENRE_NAMES`)."""
        probs = self.genre_probabilities(view)
        best = max(probs, key=lambda c: probs[c])
        return GENRE_NAMES[best] if self.params is None else best

    def question_category(self, question: str) -> str | None:
        """The category a yes/no question asks about (``None`` if unknown)."""
        info = classify_question(question)
        if self.params is not None:
            learned = self.params.yes_no.categories.get((info.subject or "").lower())
            if learned is not None:
                return learned
        return info.category

    def says_yes(self, view: CoverView, category: str) -> bool:
        """Whether the cover is of ``category``, as far as a yes/no answer goes."""
        probs = self.genre_probabilities(view)
        if self.params is None:
            return probs.get(category, 0.0) >= 0.5
        return probs.get(category, 0.0) >= self.params.yes_no.threshold


def _contiguous(chosen: Sequence[int], anchor: int) -> list[int]:
    """The run of consecutive indices in ``chosen`` around ``anchor`` (in ``chosen``)."""
    picked = set(chosen)
    lo = hi = anchor
    while lo - 1 in picked:
        lo -= 1
    while hi + 1 in picked:
        hi += 1
    return list(range(lo, hi + 1))


def _join(lines: Sequence[LayoutLine], indices: Sequence[int]) -> str:
    return " ".join(lines[i].text for i in sorted(indices)).strip()
