"""Tests of vqaft.messages.estimate and the offline text-token estimate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bad_files_corpus import data_url, image_bytes, write_jsonl
from vqaft.errors import ConfigError
from vqaft.messages import text_tokens
from vqaft.messages.estimate import (
    MODEL_PRICES,
    CostEstimate,
    auto_epochs,
    estimate,
    model_price,
)
from vqaft.messages.text_tokens import (
    approx_counter,
    approx_text_tokens,
    default_counter,
    message_overhead,
    pre_split,
)

SYSTEM = "Answer briefly."  # o200k: "Answer", " briefly", "." = 3 tokens
QUESTION = "Who wrote this book?"  # "Who", " wrote", " this", " book", "?" = 5 tokens
ANSWER = "Jane Doe"  # "Jane", " Doe" = 2 tokens


def _record(*parts: dict[str, Any], answer: str | None = ANSWER) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": [{"type": "text", "text": QUESTION}, *parts]},
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return {"messages": messages}


def _image(size: tuple[int, int], detail: str) -> dict[str, Any]:
    url = data_url(image_bytes(size=size, fmt="PNG"), "image/png")
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


def test_hand_computed_totals_epochs_and_price(tmp_path: Path) -> None:
    # the pieces, as o200k counts them (and the estimate agrees on these)
    assert approx_text_tokens(SYSTEM) == 3
    assert approx_text_tokens(QUESTION) == 5
    assert approx_text_tokens(ANSWER) == 2
    assert [message_overhead(r) for r in ("system", "user", "assistant")] == [4, 4, 4]
    # per example: 3 priming + system (4 + 3) + user (4 + 5) + assistant (4 + 2) = 25 text
    # tokens, plus one low-detail image = 85
    low = _image((300, 400), "low")
    path = write_jsonl(tmp_path / "train.jsonl", [_record(low) for _ in range(10)])
    est = estimate(path, epochs=3, token_counter=approx_counter)
    assert est.examples == 10
    assert est.text_tokens == 10 * 25
    assert est.image_tokens == 10 * 85
    assert est.images == 10
    assert est.tokens_per_epoch == 10 * 110
    assert est.trained_tokens == 3 * 1100
    assert est.price_per_million == 25.0
    assert est.price_source == "table"
    assert est.cost_usd == pytest.approx(3300 * 25 / 1_000_000)
    assert (est.per_example.min, est.per_example.max) == (110, 110)
    assert est.text_tokens_exact is False
    assert any("estimate" in note for note in est.notes)


def test_documented_image_token_examples(tmp_path: Path) -> None:
    # OpenAI's worked examples: 1024x1024 high = 765; 2048x4096 high = 1105; low = 85
    parts = [
        _image((1024, 1024), "high"),
        _image((2048, 4096), "high"),
        _image((4096, 2048), "low"),
    ]
    path = write_jsonl(tmp_path / "train.jsonl", [_record(p) for p in parts])
    est = estimate(path, token_counter=approx_counter)
    assert est.image_tokens == 765 + 1105 + 85
    totals = sorted([25 + 765, 25 + 1105, 25 + 85])
    assert (est.per_example.min, est.per_example.max) == (totals[0], totals[-1])
    assert est.per_example.max_line == 2
    # "auto" is billed as high
    auto = write_jsonl(tmp_path / "auto.jsonl", [_record(_image((1024, 1024), "auto"))])
    assert estimate(auto).image_tokens == 765


def test_per_example_distribution(tmp_path: Path) -> None:
    # 10 examples with 0..9 low-detail images: 25 + 85 * k tokens each
    low = _image((64, 64), "low")
    records = [_record(*([low] * (k % 10)), answer=f"{ANSWER}") for k in range(10)]
    path = write_jsonl(tmp_path / "train.jsonl", records)
    est = estimate(path, token_counter=approx_counter)
    values = sorted(25 + 85 * k for k in range(10))
    d = est.per_example
    assert (d.min, d.max) == (values[0], values[-1])
    assert d.median == (values[4] + values[5]) / 2
    assert d.p90 == values[8]  # nearest rank: ceil(0.9 * 10) = 9th value
    assert d.p95 == values[9]
    assert d.mean == pytest.approx(sum(values) / 10, abs=0.05)


def test_epochs_auto(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [_record() for _ in range(10)])
    est = estimate(path, epochs="auto", token_counter=approx_counter)
    assert est.epochs_requested == "auto"
    assert est.epochs == 10  # 10 examples: enough epochs to see ~100 examples
    assert est.trained_tokens == 10 * est.tokens_per_epoch
    assert any("OpenAI picks the epoch count" in note for note in est.notes)
    assert "(auto)" in est.format_text()


def test_auto_epochs_rule() -> None:
    assert auto_epochs(1) == 25
    assert auto_epochs(10) == 10
    assert auto_epochs(30) == 3  # 100 // 30
    assert auto_epochs(150) == 3
    assert auto_epochs(8_333) == 3
    assert auto_epochs(10_000) == 2
    assert auto_epochs(100_000) == 1


@pytest.mark.parametrize("epochs", [0, 51, "three", True, 2.5])
def test_bad_epochs(tmp_path: Path, epochs: Any) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [_record()])
    with pytest.raises(ConfigError, match="epochs"):
        estimate(path, epochs=epochs)


def test_unknown_model_lists_known_ones(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [_record()])
    with pytest.raises(ConfigError) as info:
        estimate(path, model="gpt-5-vision")
    assert "gpt-5-vision" in str(info.value)
    assert info.value.hint is not None
    for known in MODEL_PRICES:
        assert known in info.value.hint
    with pytest.raises(ConfigError):
        model_price("nope")


def test_price_override(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [_record(_image((64, 64), "low"))] * 4)
    est = estimate(path, epochs=1, price_per_million=100.0, token_counter=approx_counter)
    assert est.price_source == "argument"
    assert est.cost_usd == pytest.approx(4 * 110 * 100 / 1e6)
    other = estimate(path, epochs=1, model="my-model", price_per_million=10.0)
    assert other.image_tokens == 4 * 85
    assert any("not in the price table" in note for note in other.notes)
    with pytest.raises(ConfigError, match="positive"):
        estimate(path, price_per_million=-1.0)


def test_mini_model_uses_its_own_image_rule(tmp_path: Path) -> None:
    parts = [_image((1024, 1024), "high"), _image((64, 64), "low")]
    path = write_jsonl(tmp_path / "train.jsonl", [_record(p) for p in parts])
    est = estimate(path, epochs=1, model="gpt-4o-mini-2024-07-18", token_counter=approx_counter)
    assert est.price_per_million == 3.0
    assert est.image_tokens == (2833 + 5667 * 4) + 2833
    assert est.cost_usd == pytest.approx(est.trained_tokens * 3.0 / 1e6)


def test_remote_images_counted_at_the_maximum(tmp_path: Path) -> None:
    remote = {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}
    remote_low = {
        "type": "image_url",
        "image_url": {"url": "https://example.com/b.jpg", "detail": "low"},
    }
    path = write_jsonl(tmp_path / "train.jsonl", [_record(remote), _record(remote_low)])
    est = estimate(path)
    assert est.image_tokens == 1445 + 85
    assert est.remote_images == 2
    assert any("1,445" in note for note in est.notes)


def test_unusable_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    lines: list[Any] = [_record(), "{not json", "[1, 2]", _record(), b"\xff\xfe"]
    path = write_jsonl(tmp_path / "train.jsonl", lines)
    est = estimate(path, token_counter=approx_counter)
    assert est.examples == 2
    assert est.skipped_lines == 3
    assert est.skipped_first_lines == [2, 3, 5]
    assert "3 unusable lines" in est.format_text()


def test_result_renders_as_json_and_text(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [_record(_image((64, 64), "low"))] * 10)
    est = estimate(path, token_counter=approx_counter)
    assert isinstance(est, CostEstimate)
    data = json.loads(json.dumps(est.to_dict()))
    assert data["trained_tokens"] == 3300
    assert data["per_example"]["median"] == 110
    text = est.format_text()
    assert "$0.08" in text
    assert "3,300" in text
    assert "~" in text
    assert "estimate" in text


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        estimate(tmp_path / "nope.jsonl")


# ----------------------------------------------------------------------------------------------
# the text-token estimate

# Exact o200k_base counts (from the real tokenizer) of OCR-VQA-like texts: questions, prompts,
# titles and authors from the book30 listing, genres.
O200K_COUNTS: list[tuple[str, int]] = [
    ("Who wrote this book?", 5),
    ("What is the title of this book?", 8),
    ("What is the genre of this book?", 8),
    ("What type of book is this?", 7),
    ("Is this book related to Cookbooks, Food & Wine?", 12),
    ("Is this a sci-fi book?", 7),
    ("Is this an art related book?", 7),
    ("Yes", 1),
    ("No", 1),
    ("Who is the author of this book?", 8),
    (
        "You are shown the cover of a book and asked one question about it. Reply with the "
        "answer alone: no explanation, no full sentence, no quotation marks.",
        32,
    ),
    (
        "Read the question carefully, look at the title, the author's name and any other "
        "printed text on the cover, then answer in as few words as possible.",
        31,
    ),
    (
        "If the answer is not printed on the cover, give your best guess from the design and "
        "the genre of the book rather than refusing.",
        27,
    ),
    ("Answer the question about the book cover with the answer alone.", 12),
    ("- Title or author: copy it as printed.\n- Yes/no questions: reply Yes or No.", 20),
    ("Trade Winds On the Niger: The Saga of the Royal Niger Company 1830-1971", 19),
    ("Geoff Baker", 3),
    ("Frozen Little Golden Book (Disney Frozen)", 8),
    ("RH Disney", 2),
    (
        "The Ultimate Guide to Dorothy Dunnett's The Game of Kings: An illustrated, encyclopedic "
        "resource of  translations and historical, literary, ... in the order in which they "
        "appear in the book",
        38,
    ),
    ("Laura Caine Ramsey", 4),
    ("Adoption Healing... a path to recovery Articles, etc.", 12),
    ("Joe Soll", 2),
    ("Harvey Ward", 3),
    ("The Complete Insider's Guide to Romania: Christian Missionary Edition: 2011", 16),
    ("Mugabe: Power, Plunder, and the Struggle for Zimbabwe's Future", 17),
    ("Martin Meredith", 2),
    ("The Great A&P and the Struggle for Small Business in America", 13),
    ("Marc Levinson", 3),
    ("The Kid Stays in the Picture: A Notorious Life", 12),
    ("The Seven Seas Calendar 2012: The Sailor's Calendar", 13),
    ("Re-Imaging Election: Divine Election as Representing God to Others & Others to God", 17),
    ("Suzanne McDonald", 4),
    ("American Aircraft Development of WWII", 5),
    ("Science Fiction & Fantasy", 4),
    ("Mystery, Thriller & Suspense", 7),
    ("Children's Books", 3),
    ("Health, Fitness & Dieting", 6),
]


def test_text_estimate_is_close_to_o200k() -> None:
    exact = sum(n for _, n in O200K_COUNTS)
    approx = sum(approx_text_tokens(text) for text, _ in O200K_COUNTS)
    assert abs(approx - exact) / exact < 0.05  # documented: a few percent on a whole file
    for text, n in O200K_COUNTS:
        assert abs(approx_text_tokens(text) - n) <= max(2, 0.3 * n), text


def test_pre_split_follows_gpt_rules() -> None:
    assert pre_split("Who wrote 'Dune' in 1965?") == [
        "Who",
        " wrote",
        " '",
        "Dune",
        "'",
        " in",
        " ",
        "196",
        "5",
        "?",
    ]
    text = "It's 12,345 tokens!\n\n  Done."
    assert "".join(pre_split(text)) == text
    assert "'s" in pre_split(text)[0]


def test_text_estimate_edge_cases() -> None:
    assert approx_text_tokens("") == 0
    assert approx_text_tokens(" ") == 1
    assert approx_text_tokens("-" * 64) < 16  # long runs of one character are cheap
    assert approx_text_tokens("日本語の本") >= 3  # CJK: about a token per character
    long = " word" * 10_000  # beyond the cache length: same per-piece rule
    assert approx_text_tokens(long) == 10_000


def test_default_counter_never_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty cache
    text_tokens._cached_tiktoken.cache_clear()
    try:
        counter = default_counter()
        assert counter is approx_counter
        assert counter.exact is False
        assert not any(tmp_path.iterdir())
    finally:
        text_tokens._cached_tiktoken.cache_clear()
