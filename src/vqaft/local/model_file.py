"""The fine-tuned local model's file: versioned JSON, validated by pydantic, no pickle.

A model file holds everything :class:`~vqaft.local.model.LocalModel` needs and nothing that
executes: weights as lists of numbers, word lists, thresholds, and what it was trained on::

    {"format": "vqaft-local-model", "version": 1, "id": "local/ft-3f2a9c01b7de",
     "spacing": {...}, "roles": {"title": {...}, ...}, "genre": {...}, ...}

The id is ``local/ft-`` plus the first 12 hex digits of the SHA-256 of the learned content
(everything but ``id`` and ``training``), so the same training data gives the same id and any
change to the weights gives another. :func:`load_params` checks the format, the version, the
feature names (a file from another vqaft version whose features differ is refused) and that
the id matches the content.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vqaft.errors import ConfigError
from vqaft.local.features import LINE_FEATURES, SPACE_FEATURES, VISUAL_FEATURES, tokens

__all__ = [
    "BASE_ID",
    "FORMAT",
    "FORMAT_VERSION",
    "ROLES",
    "CasingParams",
    "GenreParams",
    "LineRoleParams",
    "ModelParams",
    "SpacingParams",
    "TitleParams",
    "TrainingInfo",
    "YesNoParams",
    "content_id",
    "load_params",
    "save_params",
]

FORMAT: Literal["vqaft-local-model"] = "vqaft-local-model"
FORMAT_VERSION = 1
BASE_ID = "local/base"
"""The id of the zero-shot model."""

_SMALL_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "but",
        "by",
        "for",
        "from",
        "in",
        "into",
        "nor",
        "of",
        "on",
        "or",
        "per",
        "the",
        "to",
        "vs",
        "via",
        "with",
    ]
)


def _round(values: Sequence[float]) -> list[float]:
    return [float(f"{v:.6g}") for v in values]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SpacingParams(_Frozen):
    """The learned spacing rule (weights over :data:`~vqaft.local.features.SPACE_FEATURES`)."""

    feature_names: list[str] = Field(default_factory=lambda: list(SPACE_FEATURES))
    weights: list[float]
    bias: float

    @model_validator(mode="after")
    def _check(self) -> SpacingParams:
        if self.feature_names != list(SPACE_FEATURES) or len(self.weights) != len(SPACE_FEATURES):
            raise ValueError("spacing features differ from this vqaft version's")
        return self


ROLES: tuple[str, ...] = ("other", "title", "subtitle", "series", "author")
"""What a cover line can be, for the line classifier."""


class LineRoleParams(_Frozen):
    """A multinomial logistic line classifier over standardised :data:`LINE_FEATURES`:
    each line is one of :data:`ROLES`."""

    classes: list[str] = Field(default_factory=lambda: list(ROLES))
    feature_names: list[str] = Field(default_factory=lambda: list(LINE_FEATURES))
    weights: list[list[float]]
    bias: list[float]
    mean: list[float]
    scale: list[float]
    prior: list[float] = Field(default_factory=lambda: [1.0 / len(ROLES)] * len(ROLES))
    start: list[float] = Field(default_factory=lambda: [0.0] * len(ROLES))
    transitions: list[list[float]] = Field(
        default_factory=lambda: [[0.0] * len(ROLES) for _ in ROLES]
    )
    sequence: bool = False

    @model_validator(mode="after")
    def _check(self) -> LineRoleParams:
        n = len(LINE_FEATURES)
        if self.classes != list(ROLES):
            raise ValueError(f"line roles must be {', '.join(ROLES)}")
        if self.feature_names != list(LINE_FEATURES):
            raise ValueError("line features differ from this vqaft version's")
        shapes_ok = (
            len(self.weights) == len(ROLES)
            and all(len(row) == n for row in self.weights)
            and len(self.bias) == len(ROLES)
            and len(self.mean) == len(self.scale) == n
            and len(self.prior) == len(self.start) == len(ROLES)
            and len(self.transitions) == len(ROLES)
            and all(len(row) == len(ROLES) for row in self.transitions)
        )
        if not shapes_ok:
            raise ValueError(f"the line classifier needs {len(ROLES)} x {n} weights")
        return self

    def decode(self, probabilities: np.ndarray[Any, Any]) -> list[int]:
        """Each line's role: the most probable one, or with ``sequence`` the most likely role
        sequence for the lines in reading order (Viterbi).

        In a sequence each line's evidence is its classifier probability over the role's
        prior; ``start`` and ``transitions`` (log probabilities learned from the training
        covers) say which roles follow which, so a title stays one run of lines.
        """
        n = len(probabilities)
        if n == 0:
            return []
        if not self.sequence:
            return [int(k) for k in probabilities.argmax(axis=1)]
        evidence = np.log(np.clip(probabilities, 1e-12, 1.0)) - np.log(np.asarray(self.prior))
        moves = np.asarray(self.transitions)
        score = np.asarray(self.start) + evidence[0]
        back = np.zeros((n, len(ROLES)), dtype=np.int64)
        for i in range(1, n):
            options = score[:, None] + moves
            back[i] = options.argmax(axis=0)
            score = options.max(axis=0) + evidence[i]
        path = [int(score.argmax())]
        for i in range(n - 1, 0, -1):
            path.append(int(back[i][path[-1]]))
        return path[::-1]

    def probabilities(self, features: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """A row of role probabilities (columns in :data:`ROLES` order) per line."""
        if not len(features):
            return np.zeros((0, len(ROLES)))
        x = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        z = x @ np.asarray(self.weights).T + np.asarray(self.bias)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        result: np.ndarray[Any, Any] = e / e.sum(axis=1, keepdims=True)
        return result


class TitleParams(_Frozen):
    """How the title is put together from the lines the classifier picks."""

    use_subtitle: bool = True
    use_series: bool = True
    subtitle_separator: str = ": "


class CasingParams(_Frozen):
    """How upper-case OCR text is given the answers' capitalisation.

    ``forms`` maps a lower-case word to the spelling the training answers use most (``"of"``,
    ``"DK"``, ``"McGraw-Hill"``); other words of an all-capitals line are capitalised, and
    small words (articles, conjunctions, short prepositions) are lower-cased unless first.
    """

    enabled: bool = True
    forms: dict[str, str] = Field(default_factory=dict)

    def apply(self, text: str) -> str:
        """``text`` re-cased when it is in capitals, else unchanged.

        >>> CasingParams(forms={"dk": "DK"}).apply("THE ART OF DK")
        'The Art of DK'
        >>> CasingParams().apply("EDWARD SHALTS M.D.")
        'Edward Shalts M.D.'
        """
        letters = [c for c in text if c.isalpha()]
        if not self.enabled or len(letters) < 2 or not all(c.isupper() for c in letters):
            return text
        out: list[str] = []
        for position, word in enumerate(text.split()):
            key = word.lower()
            core = key.strip(".,:;!?()'\"")
            if core in self.forms:
                out.append(key.replace(core, self.forms[core], 1))
            elif position > 0 and core in _SMALL_WORDS:
                out.append(key)
            else:
                out.append(_capitalise(key))
        return " ".join(out)


_INITIALS = re.compile(r"^(?:[a-z]\.)+[a-z]?\.?,?$")


def _capitalise(word: str) -> str:
    if _INITIALS.match(word):  # "m.d." -> "M.D."
        return word.upper()
    parts = word.split("-")
    return "-".join(p[:1].upper() + p[1:] for p in parts)


class GenreParams(_Frozen):
    """A multinomial logistic regression over words, colours and the base model's evidence.

    ``logit[c] = bias[c] + token_weights[c] · words + visual_weights[c] · colours
    + keyword_weight · keyword_hits[c] + base_weight · [base model picks c]``
    """

    classes: list[str]
    vocabulary: list[str]
    token_weights: list[list[float]]
    visual_names: list[str] = Field(default_factory=lambda: list(VISUAL_FEATURES))
    visual_weights: list[list[float]]
    visual_mean: list[float]
    visual_scale: list[float]
    keyword_weight: float
    base_weight: float = 0.0
    bias: list[float]

    @model_validator(mode="after")
    def _check(self) -> GenreParams:
        c, v, d = len(self.classes), len(self.vocabulary), len(VISUAL_FEATURES)
        if self.visual_names != list(VISUAL_FEATURES):
            raise ValueError("visual features differ from this vqaft version's")
        shapes_ok = (
            len(self.token_weights) == c
            and all(len(row) == v for row in self.token_weights)
            and len(self.visual_weights) == c
            and all(len(row) == d for row in self.visual_weights)
            and len(self.visual_mean) == len(self.visual_scale) == d
            and len(self.bias) == c
        )
        if not shapes_ok:
            raise ValueError("genre weights do not match the classes and vocabulary")
        return self

    def probabilities(
        self,
        texts: Sequence[str],
        visual: np.ndarray[Any, Any],
        keyword_hits: Mapping[str, float],
        base_pick: str | None = None,
    ) -> dict[str, float]:
        """Probability of each class for a cover (``base_pick``: the base model's genre)."""
        index = {word: i for i, word in enumerate(self.vocabulary)}
        bag = np.zeros(len(self.vocabulary))
        for word in {w for text in texts for w in tokens(text)}:
            if word in index:
                bag[index[word]] = 1.0
        colours = (visual - np.asarray(self.visual_mean)) / np.asarray(self.visual_scale)
        hits = np.array([keyword_hits.get(c, 0.0) for c in self.classes])
        logits = (
            np.asarray(self.bias)
            + np.asarray(self.token_weights) @ bag
            + np.asarray(self.visual_weights) @ colours
            + self.keyword_weight * hits
            + self.base_weight * np.array([float(c == base_pick) for c in self.classes])
        )
        logits -= logits.max()
        probs = np.exp(logits)
        probs /= probs.sum()
        return dict(zip(self.classes, probs.tolist(), strict=True))


class YesNoParams(_Frozen):
    """Yes/no questions: the category each question's subject names, and when to say Yes.

    ``categories`` maps a question's subject (``"kids"``, ``"travel"``, lower case) to the
    category the training answers tie it to; subjects not in it fall back to the names and
    aliases :func:`~vqaft.datasets.ocr_vqa_questions.classify_question` knows.
    """

    threshold: float = 0.5
    categories: dict[str, str] = Field(default_factory=dict)


class TrainingInfo(BaseModel):
    """What the model was trained on and how it did (not part of the id)."""

    model_config = ConfigDict(extra="allow")

    train_file: str | None = None
    train_sha256: str | None = None
    validation_file: str | None = None
    validation_sha256: str | None = None
    examples: int = 0
    images: int = 0
    skipped: list[dict[str, Any]] = Field(default_factory=list)
    seconds: float = 0.0
    train_accuracy: dict[str, float] = Field(default_factory=dict)
    validation_accuracy: dict[str, float] = Field(default_factory=dict)
    base_validation_accuracy: dict[str, float] = Field(default_factory=dict)


class ModelParams(_Frozen):
    """Everything a fine-tuned local model learned (the model file's content)."""

    format: Literal["vqaft-local-model"] = FORMAT
    version: int = FORMAT_VERSION
    id: str = ""
    spacing: SpacingParams
    corrections: dict[str, str] = Field(
        default_factory=dict,
        description="character in context -> the character it stands for (features.correct)",
    )
    roles: LineRoleParams
    title: TitleParams = Field(default_factory=TitleParams)
    author_block: bool = True
    casing: CasingParams = Field(default_factory=CasingParams)
    genre: GenreParams
    yes_no: YesNoParams = Field(default_factory=YesNoParams)
    training: TrainingInfo = Field(default_factory=TrainingInfo)

    def with_id(self) -> ModelParams:
        """A copy whose ``id`` is :func:`content_id` of the content."""
        return self.model_copy(update={"id": content_id(self)})


def content_id(params: ModelParams) -> str:
    """``local/ft-`` + 12 hex digits of the SHA-256 of everything learned (not the id and
    not the training record)."""
    payload = params.model_dump(mode="json", exclude={"id", "training"})
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "local/ft-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def rounded(params: ModelParams) -> ModelParams:
    """``params`` with every weight rounded to 6 significant digits (what files store)."""
    data = params.model_dump(mode="python")
    data["spacing"]["weights"] = _round(data["spacing"]["weights"])
    roles = data["roles"]
    for key in ("weights", "transitions"):
        roles[key] = [_round(row) for row in roles[key]]
    for key in ("bias", "mean", "scale", "prior", "start"):
        roles[key] = _round(roles[key])
    genre = data["genre"]
    genre["token_weights"] = [_round(row) for row in genre["token_weights"]]
    genre["visual_weights"] = [_round(row) for row in genre["visual_weights"]]
    for key in ("visual_mean", "visual_scale", "bias"):
        genre[key] = _round(genre[key])
    return ModelParams.model_validate(data)


def save_params(params: ModelParams, path: str | os.PathLike[str]) -> Path:
    """Write ``params`` as JSON (atomically: temporary file, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(params.model_dump_json(indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def load_params(path: str | os.PathLike[str]) -> ModelParams:
    """Read and check a model file.

    Raises:
        ConfigError: missing file, invalid JSON, another format or a newer version, weights
            that do not fit this vqaft version's features, or an id that does not match the
            content (an edited file).
    """
    source = Path(path)
    hint = "fit a model with vqaft's local backend (LocalModel.fit) and pass its .json file"
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("no such local model file", file=str(source), hint=hint) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the model file: {exc}", file=str(source)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError("not a vqaft local model file", file=str(source), hint=hint)
    version = data.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ConfigError(
            f"model file version {version!r} is newer than this vqaft reads ({FORMAT_VERSION})",
            file=str(source),
            hint="upgrade vqaft, or fit the model again with this version",
        )
    try:
        params = ModelParams.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"invalid model file at {where or 'top level'}: {first['msg']}",
            file=str(source),
            hint="fit the model again with this vqaft version",
        ) from None
    expected = content_id(params)
    if params.id != expected:
        raise ConfigError(
            f"the model file's id {params.id!r} does not match its content ({expected})",
            file=str(source),
            hint="the file was edited or damaged; fit the model again",
        )
    return params
