"""Fine-tuning the local model: learn from a training JSONL file, report on a validation one.

Only what a hosted fine-tune would get is used -- the records' images (decoded from their
data URLs) and the assistant answers -- never dataset internals::

    result = fit_local_model("runs/x/data/train.jsonl", "runs/x/data/validation.jsonl",
                             out="runs/x/finetune/model.json", progress=True)
    print(result.model.id, result.report.validation_accuracy)

What is learned, each from the answers of the training records:

1. **Spacing**: where the recogniser ran words together, from OCR lines found verbatim (but
   for spaces) in a title or author answer (:class:`~vqaft.local.features.SpacingModel`),
   starting from the base rule. Then **character corrections**: characters the OCR confuses
   in a given context ("lan" for "Ian"), from lines that differ from an answer in a letter
   or two.
2. **Line roles**: a multinomial logistic classifier saying whether each line is the title,
   the subtitle, a series tag, the author or something else; a line's label is the part of
   the answers its text appears in (titles are split as ``Title: Subtitle (Series)``).
3. **Title assembly**: whether subtitles and series tags help, chosen by training accuracy;
   the capitalisation of upper-case text from the answers' spellings.
4. **Genre**: a multinomial logistic regression over the cover's words, its colours, the
   base model's keyword hits and the base model's pick, its L2 strength chosen by repeated
   cross-validation.
5. **Yes/no**: which category each question's subject stands for (the genre its "Yes"
   answers co-occur with), and the genre probability above which to answer "Yes" (chosen on
   out-of-fold probabilities, so the questions' own bias is learned honestly).

The covers are sorted by image digest first, so the records' order does not change the model.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from vqaft.datasets.ocr_vqa_questions import CATEGORIES, NO, YES, QuestionForm, classify_question
from vqaft.errors import DatasetError
from vqaft.evaluate.question_types import ocr_vqa_question_type
from vqaft.local.base_rules import base_genre, genre_scores, strip_by
from vqaft.local.features import (
    BASE_SPACING,
    LINE_FEATURES,
    VISUAL_FEATURES,
    SpacingModel,
    char_context,
    layout,
    line_features,
    normal_key,
    space_features,
    tokens,
)
from vqaft.local.linear import Standardizer, fit_logistic, fit_softmax
from vqaft.local.model import CoverView, LocalModel
from vqaft.local.model_file import (
    ROLES,
    CasingParams,
    GenreParams,
    LineRoleParams,
    ModelParams,
    SpacingParams,
    TitleParams,
    TrainingInfo,
    YesNoParams,
    rounded,
)
from vqaft.local.ocr import CoverOcr, OcrService, image_digest
from vqaft.local.records import ChatItem, read_chat_file
from vqaft.messages.writer import content_digest

__all__ = ["FitReport", "FitResult", "TitleParts", "fit_local_model", "score_items", "split_title"]

log = logging.getLogger("vqaft.local")

_FOLDS = 5
_CV_REPEATS = 3  # cross-validation repeats with shuffled folds: steadier choices on few covers
SPACING_L2 = (0.0003, 0.001, 0.003, 0.01)
_GENRE_L2 = (0.01, 0.03, 0.1, 0.3)
VISUAL_L2 = 1.0  # colours help little on their own: weigh them only when consistent


# -- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TitleParts:
    """A catalogue-style title split into what covers print in different places."""

    main: str
    subtitle: str
    series: tuple[str, ...]


_PARENS = re.compile(r"\(([^()]*)\)")


def split_title(title: str) -> TitleParts:
    """Split ``"Main: Subtitle (Series)"`` into its parts.

    >>> split_title("Dune: A Novel (Dune Chronicles) (Book 1)")
    TitleParts(main='Dune', subtitle='A Novel', series=('Dune Chronicles', 'Book 1'))
    """
    series = tuple(s.strip() for s in _PARENS.findall(title) if s.strip())
    bare = " ".join(_PARENS.sub(" ", title).split())
    main, sep, subtitle = bare.partition(": ")
    if not sep:
        main, subtitle = bare.rstrip(":"), ""
    return TitleParts(main=main.strip(), subtitle=subtitle.strip(), series=series)


@dataclass
class Cover:
    """One training image and the question/answer pairs asked about it."""

    digest: str
    image: bytes = field(repr=False)
    qa: list[tuple[str, str]] = field(default_factory=list)
    view: CoverView | None = None

    def answers(self, form: QuestionForm) -> list[str]:
        """The answers to questions of ``form``."""
        return [a for q, a in self.qa if classify_question(q).form is form]

    @property
    def genre(self) -> str | None:
        """The genre the answers give (from a genre question, else a "Yes" question)."""
        genres = self.answers(QuestionForm.GENRE)
        if genres:
            return genres[0].strip()
        for question, answer in self.qa:
            info = classify_question(question)
            if info.form.is_yes_no and answer.strip() == YES and info.category is not None:
                return info.category
        return None


def group_by_image(items: Sequence[ChatItem]) -> list[Cover]:
    """The images of ``items`` with their questions, in order of first appearance."""
    covers: dict[str, Cover] = {}
    for item in items:
        digest = image_digest(item.image)
        cover = covers.get(digest)
        if cover is None:
            cover = covers[digest] = Cover(digest=digest, image=item.image)
        cover.qa.append((item.question, item.answer or ""))
    return list(covers.values())


# -- 1. spacing ------------------------------------------------------------------------------


def _space_labels(text: str, gold: str) -> list[int | None] | None:
    """Per character boundary of ``text``: 1 if ``gold`` has a space there, 0 if not, None
    next to an existing space; ``None`` when ``text`` (spaces aside) is not in ``gold``."""
    chars = [c for c in text.lower() if c != " "]
    if len(chars) < 3:
        return None
    gold_chars: list[str] = []
    space_after: list[bool] = []
    for c in gold.lower():
        if c == " ":
            if space_after:
                space_after[-1] = True
            continue
        gold_chars.append(c)
        space_after.append(False)
    start = "".join(gold_chars).find("".join(chars))
    if start < 0:
        return None
    labels: list[int | None] = []
    k = 0  # index among non-space characters of text
    for i in range(len(text) - 1):
        a, b = text[i], text[i + 1]
        if a == " ":
            labels.append(None)
            continue
        labels.append(None if b == " " else int(space_after[start + k]))
        k += 1
    return labels


def learn_spacing(covers: Sequence[Cover]) -> SpacingParams:
    """Fit the spacing rule on OCR lines found in title or author answers."""
    rows: list[np.ndarray[Any, Any]] = []
    labels: list[int] = []
    for cover in covers:
        if cover.view is None:
            continue
        golds = cover.answers(QuestionForm.TITLE) + cover.answers(QuestionForm.AUTHOR)
        for line in cover.view.cover.lines:
            if len(line.gaps) != len(line.text) - 1:
                continue
            for gold in golds:
                found = _space_labels(line.text, gold)
                if found is None:
                    continue
                features = space_features(line)
                for i, label in enumerate(found):
                    if label is not None:
                        rows.append(features[i])
                        labels.append(label)
                break
    if len(set(labels)) < 2:
        return SpacingParams(weights=list(BASE_SPACING.weights), bias=BASE_SPACING.bias)
    x = np.vstack(rows)
    scaler = Standardizer.fit(x)
    # Start from the base rule and stay near it unless the answers say otherwise.
    base_w = np.asarray(BASE_SPACING.weights) * scaler.scale
    base_b = BASE_SPACING.bias + float(np.asarray(BASE_SPACING.weights) @ scaler.mean)
    y = np.array(labels)
    z = scaler(x)

    def errors(l2: float) -> int:
        wrong = 0
        for held in _folds(len(y), _FOLDS):
            keep = np.setdiff1d(np.arange(len(y)), held)
            w, b = fit_logistic(z[keep], y[keep], l2=l2, start=(base_w, base_b))
            wrong += int(((z[held] @ w + b > 0) != (y[held] == 1)).sum())
        return wrong

    l2 = min(SPACING_L2, key=errors)
    w, b = fit_logistic(z, y, l2=l2, start=(base_w, base_b))
    # Fold the standardisation into the weights: the rule runs on raw features.
    weights = w / scaler.scale
    bias = b - float((scaler.mean / scaler.scale) @ w)
    log.info("spacing: learned from %d character pairs (l2=%g)", len(labels), l2)
    return SpacingParams(weights=weights.tolist(), bias=bias)


# -- 1b. character corrections ------------------------------------------------------------------


def learn_corrections(covers: Sequence[Cover], min_count: int = 2) -> dict[str, str]:
    """Characters the OCR confuses, in context (``"^la" -> "I"``: "lan" is "Ian").

    Each laid-out line (without a leading "by") is aligned with the part of a title or
    author answer it matches best; lines that align character for character with at most
    two differences count. A substitution becomes a rule when it was seen at least
    ``min_count`` times in its context and more often than the character was right there.
    """
    changed: dict[str, Counter[str]] = defaultdict(Counter)
    kept: Counter[str] = Counter()
    for cover in covers:
        if cover.view is None:
            continue
        golds = cover.answers(QuestionForm.TITLE) + cover.answers(QuestionForm.AUTHOR)
        for ln in cover.view.lines:
            text = strip_by(ln.text)
            if len(text) < 4:
                continue
            replaced = _same_length_differences(text, golds)
            if replaced is None:
                continue
            for i, char in enumerate(text):
                if not char.isalnum():
                    continue
                key = char_context(text, i)
                if i in replaced:
                    changed[key][replaced[i]] += 1
                else:
                    kept[key] += 1
    rules: dict[str, str] = {}
    for key, counts in sorted(changed.items()):
        target, count = counts.most_common(1)[0]
        if count >= min_count and count > kept[key]:
            rules[key] = target
    log.info("corrections: %d rule(s) %s", len(rules), rules)
    return rules


def _same_length_differences(text: str, golds: Sequence[str]) -> dict[int, str] | None:
    """Where ``text`` differs from the best-matching same-length stretch of an answer
    (position -> the answer's character); ``None`` without a match of at most 2 differences."""
    low = text.lower()
    best: dict[int, str] | None = None
    for gold in golds:
        found = fuzz.partial_ratio_alignment(low, gold.lower())
        if found is None or found.score < 80:
            continue
        for start in range(found.dest_start - 2, found.dest_start + 3):
            window = gold[start : start + len(text)] if start >= 0 else ""
            if len(window) != len(text):
                continue
            diff = {i: window[i] for i in range(len(text)) if low[i] != window[i].lower()}
            if len(diff) <= 2 and (best is None or len(diff) < len(best)):
                best = diff
    return best


# -- 2. line roles ---------------------------------------------------------------------------


def _contains(line_key: str, part_key: str) -> bool:
    if not line_key or not part_key:
        return False
    if len(line_key) < 3:
        return line_key == part_key
    if line_key in part_key:
        return True
    return len(line_key) >= 5 and fuzz.partial_ratio(line_key, part_key) >= 88


def role_labels(cover: Cover) -> list[set[str]] | None:
    """Per laid-out line, the parts of the answers it belongs to (title, subtitle, series,
    author; an empty set: none); ``None`` when the cover has no title or author answer."""
    if cover.view is None:
        return None
    titles = cover.answers(QuestionForm.TITLE)
    authors = cover.answers(QuestionForm.AUTHOR)
    if not titles or not authors:
        return None
    parts = split_title(titles[0])
    keys = {
        "title": normal_key(parts.main),
        "subtitle": normal_key(parts.subtitle),
        "series": normal_key(" ".join(parts.series)),
        "author": normal_key(authors[0]),
    }
    out: list[set[str]] = []
    for ln in cover.view.lines:
        key = normal_key(ln.text)
        bare = key[2:] if key.startswith("by") else key
        out.append(
            {
                role
                for role, part in keys.items()
                if _contains(key, part) or (role == "author" and _contains(bare, part))
            }
        )
    return out


def learn_roles(covers: Sequence[Cover]) -> LineRoleParams:
    """Fit the line classifier on covers with both a title and an author answer (a line in
    two parts counts half for each)."""
    rows: list[np.ndarray[Any, Any]] = []
    labels: list[int] = []
    weights: list[float] = []
    k = len(ROLES)
    starts = np.ones(k)
    moves = np.ones((k, k))
    for cover in covers:
        found = role_labels(cover)
        if found is None or cover.view is None:
            continue
        x = line_features(cover.view.lines, cover.view.cover.width, cover.view.cover.height)
        sequence: list[int] = []
        for row, roles in zip(x, found, strict=True):
            names = sorted(roles) or ["other"]
            for name in names:
                rows.append(row)
                labels.append(ROLES.index(name))
                weights.append(1.0 / len(names))
            sequence.append(ROLES.index(names[0]))
        if sequence:
            starts[sequence[0]] += 1
            for a, b in itertools.pairwise(sequence):
                moves[a, b] += 1
    width = len(LINE_FEATURES)
    x = np.vstack(rows) if rows else np.zeros((0, width))
    scaler = Standardizer.fit(x)
    y = np.array(labels, dtype=np.int64)
    counts = np.bincount(y, minlength=len(ROLES)).astype(np.float64)
    prior = np.log((counts + 1.0) / (counts.sum() + len(ROLES)))
    fit = fit_softmax(
        scaler(x),
        y,
        len(ROLES),
        l2=0.01,
        prior=prior,
        sample_weight=np.array(weights),
        iterations=600,
    )
    log.info(
        "line classifier: %d lines (%s)",
        len(set(map(id, rows))),
        ", ".join(f"{r} {int(c)}" for r, c in zip(ROLES, counts, strict=True)),
    )
    return LineRoleParams(
        weights=fit.weights.tolist(),
        bias=fit.bias.tolist(),
        mean=scaler.mean.tolist(),
        scale=scaler.scale.tolist(),
        prior=((counts + 1.0) / (counts.sum() + k)).tolist(),
        start=np.log(starts / starts.sum()).tolist(),
        transitions=np.log(moves / moves.sum(axis=1, keepdims=True)).tolist(),
    )


# -- 3. capitalisation -------------------------------------------------------------------------


_WORD_CORE = re.compile(r"[A-Za-z][A-Za-z'’\-]*")


def learn_casing(covers: Sequence[Cover]) -> CasingParams:
    """The spelling the training titles and authors use most for each word, where it is not
    the plain capitalised form (``"of"``, ``"DK"``, ``"McGraw-Hill"``)."""
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for cover in covers:
        for text in cover.answers(QuestionForm.TITLE) + cover.answers(QuestionForm.AUTHOR):
            for position, word in enumerate(_WORD_CORE.findall(text)):
                if position == 0:
                    continue  # first words are capitalised whatever they are
                seen[word.lower()][word] += 1
    forms: dict[str, str] = {}
    for lower, counts in seen.items():
        form, _ = counts.most_common(1)[0]
        plain = "-".join(p[:1].upper() + p[1:] for p in lower.split("-"))
        if form != plain:
            forms[lower] = form
    return CasingParams(forms=dict(sorted(forms.items())))


# -- 4. genre --------------------------------------------------------------------------------


@dataclass
class GenreData:
    """The genre training matrix: one row per cover with a known genre."""

    classes: list[str]
    vocabulary: list[str]
    bags: np.ndarray[Any, Any]
    visual: np.ndarray[Any, Any]
    hits: np.ndarray[Any, Any]
    picks: np.ndarray[Any, Any]
    labels: np.ndarray[Any, Any]
    rows: list[int]  # cover index of each row


def genre_data(covers: Sequence[Cover], min_covers: int = 2) -> GenreData:
    """Words (in at least ``min_covers`` covers), colours and keyword hits of each cover."""
    known = [(i, c.genre) for i, c in enumerate(covers) if c.genre and c.view is not None]
    extra = sorted({g for _, g in known if g is not None and g not in CATEGORIES})
    classes = list(CATEGORIES) + extra
    words_per_cover: list[set[str]] = []
    counts: Counter[str] = Counter()
    for i, _ in known:
        view = covers[i].view
        words = {w for text in (view.texts if view else []) for w in tokens(text)}
        words_per_cover.append(words)
        counts.update(words)
    vocabulary = sorted(w for w, n in counts.items() if n >= min_covers)
    index = {w: k for k, w in enumerate(vocabulary)}
    bags = np.zeros((len(known), len(vocabulary)))
    for row, words in enumerate(words_per_cover):
        for w in words:
            if w in index:
                bags[row, index[w]] = 1.0
    visual = np.zeros((len(known), len(VISUAL_FEATURES)))
    hits = np.zeros((len(known), len(classes)))
    picks = np.zeros((len(known), len(classes)))
    for row, (i, _) in enumerate(known):
        view = covers[i].view
        if view is None:  # pragma: no cover - filtered above
            continue
        visual[row] = view.visual
        scores = genre_scores(view.texts)
        hits[row] = [scores.get(c, 0.0) for c in classes]
        picks[row, classes.index(base_genre(view.texts))] = 1.0
    labels = np.array([classes.index(g) for _, g in known if g is not None], dtype=np.int64)
    return GenreData(classes, vocabulary, bags, visual, hits, picks, labels, [i for i, _ in known])


def _fit_genre(data: GenreData, rows: np.ndarray[Any, Any], l2: float) -> GenreParams:
    scaler = Standardizer.fit(data.visual[rows])
    x = np.hstack([data.bags[rows], scaler(data.visual[rows])])
    counts = np.bincount(data.labels[rows], minlength=len(data.classes)).astype(np.float64)
    prior = np.log((counts + 1.0) / (counts.sum() + len(data.classes)))
    penalty = np.concatenate(
        [np.full(data.bags.shape[1], l2), np.full(data.visual.shape[1], VISUAL_L2)]
    )
    fit = fit_softmax(
        x,
        data.labels[rows],
        len(data.classes),
        l2=penalty,
        extra=(data.hits[rows], data.picks[rows]),
        prior=prior,
        iterations=200,
        learning_rate=0.1,
    )
    v = data.bags.shape[1]
    return GenreParams(
        classes=data.classes,
        vocabulary=data.vocabulary,
        token_weights=fit.weights[:, :v].tolist(),
        visual_weights=fit.weights[:, v:].tolist(),
        visual_mean=scaler.mean.tolist(),
        visual_scale=scaler.scale.tolist(),
        keyword_weight=float(fit.shared[0]),
        base_weight=float(fit.shared[1]),
        bias=fit.bias.tolist(),
    )


def _genre_probs(params: GenreParams, data: GenreData, rows: np.ndarray[Any, Any]) -> Any:
    # The vocabulary of ``params`` is data.vocabulary: score the stored bags directly.
    colours = (data.visual[rows] - np.asarray(params.visual_mean)) / np.asarray(params.visual_scale)
    logits = (
        np.asarray(params.bias)
        + data.bags[rows] @ np.asarray(params.token_weights).T
        + colours @ np.asarray(params.visual_weights).T
        + params.keyword_weight * data.hits[rows]
        + params.base_weight * data.picks[rows]
    )
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def _folds(n: int, k: int, repeat: int = 0) -> list[np.ndarray[Any, Any]]:
    """``k`` interleaved folds of ``range(n)``; ``repeat`` > 0 shuffles them (fixed seeds)."""
    order = np.arange(n)
    if repeat:
        order = np.random.default_rng(repeat).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)] if n >= k else [order]


def out_of_fold(data: GenreData, l2: float, repeat: int = 0) -> np.ndarray[Any, Any]:
    """Genre probabilities of every row from a model that did not see it (k-fold)."""
    n = len(data.labels)
    probs = np.zeros((n, len(data.classes)))
    folds = _folds(n, _FOLDS, repeat)
    if len(folds) == 1:
        everything = np.arange(n)
        probs[:] = _genre_probs(_fit_genre(data, everything, l2), data, everything)
        return probs
    for held in folds:
        train = np.setdiff1d(np.arange(n), held)
        probs[held] = _genre_probs(_fit_genre(data, train, l2), data, held)
    return probs


def learn_genre(covers: Sequence[Cover]) -> tuple[GenreParams, dict[int, np.ndarray[Any, Any]]]:
    """Fit the genre model (L2 strength by cross-validated accuracy, ties broken by
    log-loss) and return it with the out-of-fold probabilities of each training cover (by
    cover index)."""
    data = genre_data(covers)
    if len(data.labels) == 0:
        raise DatasetError(
            "no training image has a genre answer",
            hint="the local backend learns genres from 'What is the genre of this book?' "
            "(or yes/no) answers; include some in the training file",
        )
    best: tuple[float, float] = (-1.0, 0.0)
    best_l2, best_oof = _GENRE_L2[0], np.zeros(0)
    rows = np.arange(len(data.labels))
    for l2 in _GENRE_L2:
        runs = [out_of_fold(data, l2, repeat) for repeat in range(_CV_REPEATS)]
        acc = float(np.mean([(oof.argmax(axis=1) == data.labels).mean() for oof in runs]))
        loss = float(
            np.mean([-np.log(np.clip(oof[rows, data.labels], 1e-12, 1.0)).mean() for oof in runs])
        )
        log.info("genre: l2=%g cross-validated accuracy %.3f, log-loss %.3f", l2, acc, loss)
        if (round(acc, 6), -loss) > best:
            best, best_l2, best_oof = (round(acc, 6), -loss), l2, np.mean(runs, axis=0)
    params = _fit_genre(data, np.arange(len(data.labels)), best_l2)
    return params, {cover: best_oof[row] for row, cover in enumerate(data.rows)}


# -- 5. yes/no -------------------------------------------------------------------------------


def learn_yes_no(
    covers: Sequence[Cover], classes: Sequence[str], oof: Mapping[int, np.ndarray[Any, Any]]
) -> YesNoParams:
    """Subject -> category from the "Yes" answers; the Yes threshold from out-of-fold
    genre probabilities."""
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for cover in covers:
        genre = cover.genre
        if genre is None:
            continue
        for question, answer in cover.qa:
            info = classify_question(question)
            if info.form.is_yes_no and info.subject and answer.strip() == YES:
                votes[info.subject.lower()][genre] += 1
    categories = {s: counts.most_common(1)[0][0] for s, counts in sorted(votes.items())}

    def category_of(question: str) -> str | None:
        info = classify_question(question)
        return categories.get((info.subject or "").lower(), info.category)

    pairs: list[tuple[float, bool]] = []
    for index, cover in enumerate(covers):
        probs = oof.get(index)
        if probs is None:
            continue
        for question, answer in cover.qa:
            if not classify_question(question).form.is_yes_no:
                continue
            category = category_of(question)
            if category is None or category not in classes or answer.strip() not in (YES, NO):
                continue
            pairs.append((float(probs[list(classes).index(category)]), answer.strip() == YES))
    threshold = _best_threshold(pairs)
    log.info("yes/no: %d subjects mapped, threshold %.3f", len(categories), threshold)
    return YesNoParams(threshold=threshold, categories=categories)


_THRESHOLDS = np.geomspace(0.005, 0.8, 45)
_SMOOTHING = 3  # grid steps on each side averaged: prefer the middle of a plateau


def _best_threshold(pairs: Sequence[tuple[float, bool]]) -> float:
    """The probability threshold for "Yes" with the best accuracy, smoothed over
    neighbouring thresholds (a log grid) so a lucky edge of a plateau is not chosen."""
    if not pairs:
        return 0.5
    probs = np.array([p for p, _ in pairs])
    truth = np.array([yes for _, yes in pairs])
    accuracy = np.array([((probs >= t) == truth).mean() for t in _THRESHOLDS])
    kernel = np.ones(2 * _SMOOTHING + 1) / (2 * _SMOOTHING + 1)
    smoothed = np.convolve(np.pad(accuracy, _SMOOTHING, mode="edge"), kernel, mode="valid")
    return float(_THRESHOLDS[int(np.argmax(smoothed))])


# -- scoring ---------------------------------------------------------------------------------


def lenient(prediction: str, gold: str) -> bool:
    """The cookbook's lenient rule: equal ignoring case, or the gold inside the prediction."""
    p, g = prediction.strip().lower(), gold.strip().lower()
    return p == g or (bool(g) and g in p)


def score_items(
    answer: Callable[[str, CoverView], str],
    covers: Sequence[Cover],
) -> dict[str, float]:
    """Lenient accuracy of ``answer`` per question type and overall (``"all"``)."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for cover in covers:
        if cover.view is None:
            continue
        for question, gold in cover.qa:
            ok = lenient(answer(question, cover.view), gold)
            hits[ocr_vqa_question_type(question)].append(ok)
            hits["all"].append(ok)
    return {k: round(sum(v) / len(v), 4) for k, v in sorted(hits.items()) if v}


# -- title and author assembly ----------------------------------------------------------------


def tune_assembly(params: ModelParams, covers: Sequence[Cover]) -> ModelParams:
    """Choose title/author assembly settings by lenient accuracy on the training covers."""
    title_covers = [c for c in covers if c.answers(QuestionForm.TITLE) and c.view is not None]
    author_covers = [c for c in covers if c.answers(QuestionForm.AUTHOR) and c.view is not None]

    def title_acc(candidate: ModelParams) -> float:
        model = LocalModel(candidate)
        ok = [
            lenient(model.title(c.view), c.answers(QuestionForm.TITLE)[0])
            for c in title_covers
            if c.view is not None
        ]
        return sum(ok) / max(1, len(ok))

    def author_acc(candidate: ModelParams) -> float:
        model = LocalModel(candidate)
        ok = [
            lenient(model.author(c.view), c.answers(QuestionForm.AUTHOR)[0])
            for c in author_covers
            if c.view is not None
        ]
        return sum(ok) / max(1, len(ok))

    def both(candidate: ModelParams) -> float:
        return title_acc(candidate) + author_acc(candidate)

    best, best_acc = params, both(params)
    for sequence in (False, True):
        roles = params.roles.model_copy(update={"sequence": sequence})
        candidate = params.model_copy(update={"roles": roles})
        acc = both(candidate)
        if acc > best_acc + 1e-9:
            best, best_acc = candidate, acc
    best_acc = title_acc(best)
    for use_subtitle in (True, False):
        for use_series in (True, False):
            title = TitleParams(use_subtitle=use_subtitle, use_series=use_series)
            candidate = best.model_copy(update={"title": title})
            acc = title_acc(candidate)
            if acc > best_acc + 1e-9:
                best, best_acc = candidate, acc
    best_author = author_acc(best)
    for block in (True, False):
        candidate = best.model_copy(update={"author_block": block})
        acc = author_acc(candidate)
        if acc > best_author + 1e-9:
            best, best_author = candidate, acc
    log.info(
        "assembly: train title %.3f, author %.3f (line sequences: %s)",
        best_acc,
        best_author,
        best.roles.sequence,
    )
    return best


# -- the whole fit ---------------------------------------------------------------------------


class FitReport(TrainingInfo):
    """What :func:`fit_local_model` did: counts, timings, accuracies (see TrainingInfo)."""

    ocr_images: int = 0
    ocr_seconds_per_image: float = 0.0


@dataclass
class FitResult:
    """The fitted model, where it was saved, and the report."""

    model: LocalModel
    path: Path | None
    report: FitReport


def _read(path: str | os.PathLike[str] | None, role: str) -> tuple[list[ChatItem], list[Any]]:
    if path is None:
        return [], []
    result = read_chat_file(path, need_answers=True)
    if result.skipped:
        log.warning(
            "%s file %s: %d record(s) skipped (first: line %s: %s)",
            role,
            path,
            len(result.skipped),
            result.skipped[0].line,
            result.skipped[0].reason,
        )
    return result.items, result.skipped


def _views(
    covers: Sequence[Cover], ocr: OcrService, spacing: SpacingModel, progress: bool, desc: str
) -> None:
    readings: list[CoverOcr] = ocr.read_many(
        [c.image for c in covers], progress=progress, desc=desc
    )
    for cover, reading in zip(covers, readings, strict=True):
        cover.view = CoverView.build(reading, cover.image, spacing)


def _relayout(
    covers: Sequence[Cover], spacing: SpacingModel, corrections: Mapping[str, str] | None = None
) -> None:
    for cover in covers:
        if cover.view is not None:
            cover.view = CoverView(
                cover=cover.view.cover,
                lines=layout(cover.view.cover, spacing, corrections),
                visual=cover.view.visual,
            )


def _file_digest(path: str | os.PathLike[str] | None) -> str | None:
    """The file's content digest, as ``vqaft prepare`` records it in its manifest."""
    return None if path is None else content_digest(Path(path))


def fit_local_model(
    train: str | os.PathLike[str],
    validation: str | os.PathLike[str] | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    ocr: OcrService | None = None,
    progress: bool = False,
) -> FitResult:
    """Fit a local model on a chat-format training file (see the module docstring).

    Args:
        train: the training JSONL (records ending with the assistant's answer).
        validation: an optional validation JSONL; only scored, never learned from.
        out: where to write the model file (JSON); not written when ``None``.
        ocr: the OCR service to use (default: a new one with the default cache).
        progress: show progress bars.

    Raises:
        DatasetError: no usable training record, or no genre answer to learn from.
        ConfigError: rapidocr is not installed.
    """
    started = time.perf_counter()
    train_items, train_skipped = _read(train, "training")
    if not train_items:
        raise DatasetError(
            "no usable training record",
            file=str(train),
            hint="records need a user message with the question and a data: image URL, "
            "followed by the assistant's answer",
        )
    valid_items, valid_skipped = _read(validation, "validation")
    own = ocr is None
    service = OcrService() if ocr is None else ocr
    try:
        # Sorted by image digest: the model does not depend on the order of the records.
        train_covers = sorted(group_by_image(train_items), key=lambda c: c.digest)
        valid_covers = group_by_image(valid_items)
        _views(train_covers, service, BASE_SPACING, progress, "OCR train")
        if valid_covers:
            _views(valid_covers, service, BASE_SPACING, progress, "OCR validation")
        base_valid = score_items(LocalModel.base().answer_view, valid_covers)

        spacing = learn_spacing(train_covers)
        learned_spacing = SpacingModel(tuple(spacing.weights), spacing.bias)
        _relayout(train_covers, learned_spacing)
        corrections = learn_corrections(train_covers)
        _relayout(train_covers, learned_spacing, corrections)
        _relayout(valid_covers, learned_spacing, corrections)

        roles = learn_roles(train_covers)
        casing = learn_casing(train_covers)
        genre, oof = learn_genre(train_covers)
        yes_no = learn_yes_no(train_covers, genre.classes, oof)
        params = ModelParams(
            spacing=spacing,
            corrections=corrections,
            roles=roles,
            casing=casing,
            genre=genre,
            yes_no=yes_no,
        )
        params = tune_assembly(params, train_covers)
        params = rounded(params).with_id()
        model = LocalModel(params)
        train_acc = score_items(model.answer_view, train_covers)
        valid_acc = score_items(model.answer_view, valid_covers)
        stats = service.stats()
    finally:
        if own:
            service.close()
    report = FitReport(
        train_file=str(train),
        train_sha256=_file_digest(train),
        validation_file=None if validation is None else str(validation),
        validation_sha256=_file_digest(validation),
        examples=len(train_items),
        images=len(train_covers),
        skipped=[s.model_dump(mode="json") for s in [*train_skipped, *valid_skipped]],
        seconds=round(time.perf_counter() - started, 2),
        train_accuracy=train_acc,
        validation_accuracy=valid_acc,
        base_validation_accuracy=base_valid,
        ocr_images=int(stats["images_read"]),
        ocr_seconds_per_image=round(stats["seconds_per_image"], 3),
    )
    info = TrainingInfo.model_validate(
        report.model_dump(exclude={"ocr_images", "ocr_seconds_per_image"})
    )
    params = params.model_copy(update={"training": info})
    model = LocalModel(params)
    if valid_acc:
        log.info(
            "validation lenient accuracy: %s (base %s)",
            valid_acc.get("all"),
            base_valid.get("all"),
        )
    path = model.save(out) if out is not None else None
    return FitResult(model=model, path=path, report=report)
