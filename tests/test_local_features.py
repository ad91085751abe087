"""Fast unit tests of the local backend's features, rules and small linear models."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

from test_local_helpers import jpeg, line
from vqaft.datasets.ocr_vqa_questions import CATEGORIES
from vqaft.local.base_rules import (
    DEFAULT_GENRE,
    GENRE_KEYWORDS,
    GENRE_NAMES,
    base_author,
    base_genre,
    base_title,
    strip_by,
)
from vqaft.local.features import (
    BASE_SPACING,
    LINE_FEATURES,
    SPACE_FEATURES,
    VISUAL_FEATURES,
    SpacingModel,
    layout,
    line_features,
    normal_key,
    space_features,
    tokens,
    visual_features,
)
from vqaft.local.learner import _space_labels, split_title
from vqaft.local.linear import Standardizer, fit_logistic, fit_softmax
from vqaft.local.model_file import CasingParams
from vqaft.local.ocr import CoverOcr, OcrLine


@pytest.mark.parametrize(
    "module",
    [
        "vqaft.local.features",
        "vqaft.local.base_rules",
        "vqaft.local.linear",
        "vqaft.local.learner",
        "vqaft.local.model_file",
        "vqaft.local.records",
    ],
)
def test_doctests(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


# -- spacing -----------------------------------------------------------------------------------


def test_base_spacing_puts_back_wide_gaps_only() -> None:
    ocr_line = line("The Guerrilla Guide", 0, 0, 40)
    assert ocr_line.text == "TheGuerrillaGuide"
    assert BASE_SPACING.apply(ocr_line) == "The Guerrilla Guide"


def test_uniform_letter_spacing_is_not_split() -> None:
    # Tracked capitals: every gap the same and fairly wide -> no space anywhere.
    box = ((0.0, 0.0), (200.0, 0.0), (200.0, 40.0), (0.0, 40.0))
    tracked = OcrLine("INHUMAN", 0.99, box, gaps=(0.22,) * 6)
    assert BASE_SPACING.apply(tracked) == "INHUMAN"


def test_spacing_keeps_recognised_spaces_and_handles_missing_gaps() -> None:
    box = ((0.0, 0.0), (100.0, 0.0), (100.0, 20.0), (0.0, 20.0))
    assert BASE_SPACING.apply(OcrLine("by  Ann", 0.9, box)) == "by Ann"
    never = SpacingModel(weights=(0.0,) * len(SPACE_FEATURES), bias=-1.0)
    assert never.apply(line("Old Map", 0, 0, 30)) == "OldMap"


def test_space_features_mark_case_changes_and_punctuation() -> None:
    box = ((0.0, 0.0), (100.0, 0.0), (100.0, 20.0), (0.0, 20.0))
    rows = space_features(OcrLine("aB,c", 0.9, box, gaps=(0.1, 0.0, 0.2)))
    names = list(SPACE_FEATURES)
    assert rows.shape == (3, len(SPACE_FEATURES))
    assert rows[0, names.index("lower_then_upper")] == 1.0
    assert rows[1, names.index("before_punctuation")] == 1.0
    assert rows[2, names.index("after_punctuation")] == 1.0


def test_space_labels_align_ocr_text_with_the_answer() -> None:
    assert _space_labels("TheGuerrilla", "The Guerrilla Guide") == [0, 0, 1] + [0] * 8
    assert _space_labels("Guide to", "The Guerrilla Guide to Rules") == [0, 0, 0, 0, None, None, 0]
    assert _space_labels("Elsewhere", "The Guerrilla Guide") is None


# -- layout and line features -----------------------------------------------------------------


def _cover(*lines: OcrLine) -> CoverOcr:
    return CoverOcr(width=300, height=480, lines=lines)


def test_line_features_describe_size_position_and_by_lines() -> None:
    cover = _cover(
        line("Big Title", 20, 40, 40),
        line("subtitle here", 20, 100, 16),
        line("by Ann Lee", 20, 400, 18),
    )
    lines = layout(cover)
    assert [ln.text for ln in lines] == ["Big Title", "subtitle here", "by Ann Lee"]
    rows = line_features(lines, cover.width, cover.height)
    names = list(LINE_FEATURES)
    assert rows.shape == (3, len(LINE_FEATURES))
    assert rows[0, names.index("height_vs_tallest")] == 1.0
    assert rows[1, names.index("height_vs_tallest")] == pytest.approx(0.4)
    assert rows[2, names.index("starts_with_by")] == 1.0
    assert rows[0, names.index("starts_with_by")] == 0.0
    assert rows[2, names.index("top")] > rows[0, names.index("top")]
    assert line_features([], 10, 10).shape == (0, len(LINE_FEATURES))


def test_tokens_and_keys() -> None:
    assert tokens("The Joy of COOKING: 500 Recipes") == ["the", "joy", "cooking", "recipe"]
    assert normal_key("Robert's Rules, 2nd ed.") == "robertsrules2nded"


def test_visual_features_see_the_colour() -> None:
    red = visual_features(jpeg((220, 30, 30), 1))
    blue = visual_features(jpeg((30, 30, 220), 1))
    assert red.shape == (len(VISUAL_FEATURES),)
    assert np.isfinite(red).all()
    hue = list(VISUAL_FEATURES).index("border_hue_cos")
    assert red[hue] > 0.5 > blue[hue]


# -- base rules -------------------------------------------------------------------------------


def test_base_title_is_the_tallest_block() -> None:
    cover = _cover(
        line("SERIES NAME", 20, 10, 12),
        line("The Old", 20, 40, 40),
        line("Map", 20, 86, 38),
        line("a subtitle", 20, 140, 15),
        line("by Ann Lee", 20, 400, 18),
    )
    assert base_title(layout(cover)) == "The Old Map"
    assert base_title([]) == ""


def test_base_author_prefers_by_then_name_like_lines() -> None:
    with_by = layout(_cover(line("Title", 0, 0, 40), line("by Ann Lee", 0, 300, 18)))
    assert base_author(with_by) == "Ann Lee"
    named = layout(
        _cover(
            line("Title", 0, 0, 40), line("Ann B. Lee", 0, 300, 18), line("HARBOR PRESS", 0, 400, 9)
        )
    )
    assert base_author(named) == "Ann B. Lee"
    assert strip_by("byRobert Dean") == "Robert Dean"
    assert strip_by("Byron Katie") == "Byron Katie"


def test_base_genre_uses_the_keyword_table() -> None:
    assert set(GENRE_KEYWORDS) == set(CATEGORIES)
    assert base_genre(["Vegan Baking", "Recipes for every day"]) == "Cookbooks, Food & Wine"
    assert base_genre(["Zzz"]) == DEFAULT_GENRE


def test_base_model_names_genres_in_its_own_words() -> None:
    """local/base picks a category by keywords but answers with a plain genre word (it has no
    knowledge of OCR-VQA's category strings); yes/no answers still compare categories."""
    from vqaft.local.model import CoverView, LocalModel

    assert set(GENRE_NAMES) == set(CATEGORIES)
    assert len(set(GENRE_NAMES.values())) == len(CATEGORIES)
    cover = _cover(line("Vegan Baking", 20, 40, 40), line("Recipes for every day", 20, 120, 16))
    view = CoverView.build(cover, jpeg((200, 120, 40), 1), BASE_SPACING)
    base = LocalModel.base()
    assert base.answer_view("What is the genre of this book?", view) == "Cooking"
    assert base.answer_view("Is this a recipe book?", view) == "Yes"
    assert base.answer_view("Is this book related to Travel?", view) == "No"


# -- answers' formats ---------------------------------------------------------------------------


def test_split_title() -> None:
    parts = split_title("Dune: A Novel (Dune Chronicles) (Book 1)")
    assert (parts.main, parts.subtitle, parts.series) == (
        "Dune",
        "A Novel",
        ("Dune Chronicles", "Book 1"),
    )
    assert split_title("Plain").subtitle == ""


def test_casing_reproduces_the_answers_capitalisation() -> None:
    casing = CasingParams(forms={"dk": "DK", "mcewan": "McEwan"})
    assert casing.apply("THE ART OF DK") == "The Art of DK"
    assert casing.apply("IAN MCEWAN") == "Ian McEwan"
    assert casing.apply("EDWARD SHALTS M.D.") == "Edward Shalts M.D."
    assert casing.apply("Mixed Case stays") == "Mixed Case stays"
    assert CasingParams(enabled=False).apply("LOUD") == "LOUD"


# -- linear models ----------------------------------------------------------------------------


def test_fit_logistic_separates_and_respects_a_starting_model() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] > 0).astype(int)
    scaler = Standardizer.fit(x)
    w, b = fit_logistic(scaler(x), y, l2=0.01)
    assert w[0] > 2 * abs(w[1])
    assert ((scaler(x) @ w + b > 0) == (y == 1)).mean() > 0.95
    # A very strong penalty keeps the weights at the starting point.
    start = (np.array([0.0, 3.0]), 0.5)
    w_stiff, _ = fit_logistic(scaler(x), y, l2=1e6, start=start)
    assert np.allclose(w_stiff, start[0], atol=1e-3)
    w_one, b_one = fit_logistic(x, np.ones(200), l2=1.0)
    assert b_one > 0
    assert not w_one.any()


def test_fit_softmax_learns_classes_and_shared_evidence() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=300)
    x = np.eye(3)[labels] + rng.normal(scale=0.3, size=(300, 3))
    fit = fit_softmax(x, labels, 3, l2=0.001)
    assert (fit.probabilities(x).argmax(axis=1) == labels).mean() > 0.9
    # Evidence that names the class: its shared weight grows above the start of 1.
    evidence = np.eye(3)[labels]
    with_extra = fit_softmax(np.zeros((300, 0)), labels, 3, extra=(evidence,))
    assert with_extra.shared[0] > 1.0
    weighted = fit_softmax(x, labels, 3, sample_weight=np.where(labels == 0, 0.0, 1.0))
    assert weighted.probabilities(x)[:, 0].mean() < 0.2
