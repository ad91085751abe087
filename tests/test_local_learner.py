"""Fitting, saving and loading the local model, on covers whose OCR readings are known.

The readings sit in a real OcrService cache (see test_local_helpers), so nothing here needs
rapidocr and every test runs in well under a second or two.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from test_local_helpers import GENRE_WORDS, line, make_cover, seed_cache, write_chat
from vqaft.errors import ConfigError, DatasetError
from vqaft.local import LocalModel, OcrService, fit_local_model
from vqaft.local.base_rules import GENRE_NAMES
from vqaft.local.model_file import FORMAT_VERSION, content_id, load_params


@pytest.fixture
def fitted(tmp_path: Path):  # type: ignore[no-untyped-def]
    covers = [make_cover(i) for i in range(36)]
    train = write_chat(tmp_path / "train.jsonl", covers[:24])
    valid = write_chat(tmp_path / "validation.jsonl", covers[24:])
    ocr = OcrService(tmp_path / "cache", workers=1)
    seed_cache(ocr, covers)
    result = fit_local_model(train, valid, out=tmp_path / "model.json", ocr=ocr)
    return result, covers, ocr, tmp_path


def test_fit_learns_title_author_and_genre_from_the_answers(fitted) -> None:  # type: ignore[no-untyped-def]
    result, covers, ocr, _ = fitted
    model = result.model
    assert model.id.startswith("local/ft-")
    assert len(model.id) == len("local/ft-") + 12
    held_out = covers[24:]
    for cover in held_out:
        assert model.answer("What is the title of this book?", cover.image, ocr) == cover.title
        assert model.answer("Who wrote this book?", cover.image, ocr) == cover.author
        assert model.answer("What type of book is this?", cover.image, ocr) == cover.genre
    # The base model reads the tallest block only and keeps the "by"-less author.
    base = LocalModel.base()
    base_titles = [base.answer("What is the title of this book?", c.image, ocr) for c in held_out]
    assert sum(t == c.title for t, c in zip(base_titles, held_out, strict=True)) == 0
    report = result.report
    assert report.images == 24
    assert report.examples == 24 * 5
    assert report.validation_accuracy["all"] == 1.0
    assert report.base_validation_accuracy["all"] < report.validation_accuracy["all"]
    assert report.skipped == []


def test_yes_no_answers_follow_the_learned_genre(fitted) -> None:  # type: ignore[no-untyped-def]
    result, covers, ocr, _ = fitted
    model = result.model
    cover = covers[30]
    others = [g for g in GENRE_WORDS if g != cover.genre]
    assert model.answer(f"Is this book related to {cover.genre}?", cover.image, ocr) == "Yes"
    assert model.answer(f"Is this book related to {others[0]}?", cover.image, ocr) == "No"
    assert model.answer("Is this book related to Calendars?", cover.image, ocr) == "No"
    params = model.params
    assert params is not None
    assert params.yes_no.categories[cover.genre.lower()] == cover.genre
    assert 0 < params.yes_no.threshold < 1


def test_model_file_round_trip_is_json_and_checked(fitted) -> None:  # type: ignore[no-untyped-def]
    result, covers, ocr, tmp_path = fitted
    path = result.path
    assert path == tmp_path / "model.json"
    raw = path.read_bytes()
    assert not raw.startswith(b"\x80")  # not a pickle
    data = json.loads(raw)
    assert data["format"] == "vqaft-local-model"
    assert data["version"] == FORMAT_VERSION
    assert data["id"] == result.model.id
    assert data["training"]["images"] == 24
    loaded = LocalModel.load(path)
    assert loaded.id == result.model.id
    assert loaded.params == result.model.params
    for cover in covers[24:]:
        for question, _ in cover.qa("History"):
            assert loaded.answer(question, cover.image, ocr) == result.model.answer(
                question, cover.image, ocr
            )
    # The id is a hash of the learned content: stable, and not changed by the training record.
    params = load_params(path)
    assert content_id(params) == params.id
    assert (
        content_id(params.model_copy(update={"training": params.training.model_copy()}))
        == params.id
    )


def test_an_edited_or_foreign_model_file_is_refused(fitted) -> None:  # type: ignore[no-untyped-def]
    result, _, _, tmp_path = fitted
    data = json.loads(result.path.read_text())
    data["genre"]["keyword_weight"] += 1.0
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="does not match its content"):
        LocalModel.load(edited)
    newer = dict(data, version=FORMAT_VERSION + 1)
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    with pytest.raises(ConfigError, match="newer"):
        LocalModel.load(tmp_path / "newer.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ConfigError, match="not a vqaft local model file"):
        LocalModel.load(tmp_path / "other.json")
    broken = dict(json.loads(result.path.read_text()))
    broken["roles"] = dict(broken["roles"], weights=[[0.0]])
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(ConfigError, match="roles"):
        LocalModel.load(tmp_path / "broken.json")
    with pytest.raises(ConfigError, match="no such local model file"):
        LocalModel.load(tmp_path / "missing.json")


def test_same_training_data_gives_the_same_model_id(tmp_path: Path) -> None:
    covers = [make_cover(i) for i in range(15)]
    train = write_chat(tmp_path / "train.jsonl", covers)
    ocr = OcrService(False, workers=1)
    seed_cache(ocr, covers)
    first = fit_local_model(train, ocr=ocr)
    second = fit_local_model(train, ocr=ocr)
    assert first.model.id == second.model.id
    assert first.path is None
    assert first.report.validation_accuracy == {}


def test_unusable_records_are_counted_not_dropped(tmp_path: Path) -> None:
    covers = [make_cover(i) for i in range(12)]
    train = write_chat(tmp_path / "train.jsonl", covers)
    with open(train, "a", encoding="utf-8") as handle:
        handle.write("not json\n")
        handle.write(json.dumps({"messages": [{"role": "user", "content": "no image"}]}) + "\n")
    ocr = OcrService(False, workers=1)
    seed_cache(ocr, covers)
    result = fit_local_model(train, ocr=ocr)
    assert len(result.report.skipped) == 2
    assert {s["line"] for s in result.report.skipped} == {61, 62}
    assert result.report.examples == 60


def test_a_file_without_usable_records_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "train.jsonl"
    empty.write_text("\n")
    with pytest.raises(DatasetError, match="no usable training record"):
        fit_local_model(empty, ocr=OcrService(False, workers=1))
    with pytest.raises(DatasetError, match="no such file"):
        fit_local_model(tmp_path / "missing.jsonl", ocr=OcrService(False, workers=1))


def test_base_model_answers_in_the_answer_formats(tmp_path: Path) -> None:
    cover = make_cover(3)
    ocr = OcrService(False, workers=1)
    seed_cache(ocr, [cover])
    base = LocalModel.base()
    assert base.id == "local/base"
    assert base.answer("Who wrote this book?", cover.image, ocr) == cover.author
    # the base names genres in its own words; the fine-tuned model learns the category strings
    assert base.answer("What is the genre of this book?", cover.image, ocr) in set(
        GENRE_NAMES.values()
    )
    for question in ("Is this a kids book?", "Is this book related to History?", "Is it?"):
        assert base.answer(question, cover.image, ocr) in ("Yes", "No")
    with pytest.raises(ConfigError, match="no model file"):
        base.save(tmp_path / "base.json")


def test_record_order_does_not_change_the_model(tmp_path: Path) -> None:
    covers = [make_cover(i) for i in range(15)]
    ocr = OcrService(False, workers=1)
    seed_cache(ocr, covers)
    forward = fit_local_model(write_chat(tmp_path / "a.jsonl", covers), ocr=ocr)
    backward = fit_local_model(write_chat(tmp_path / "b.jsonl", covers[::-1]), ocr=ocr)
    assert forward.model.id == backward.model.id


def test_ocr_confusions_are_learned_from_the_answers(tmp_path: Path) -> None:
    covers = [make_cover(i) for i in range(12)]
    misread = []
    for cover in covers:
        author = "Ian " + cover.author.split()[1]
        lines = list(cover.reading.lines)
        lines[3] = line(f"by lan {cover.author.split()[1]}", 20, 400, 18)  # "I" read as "l"
        reading = replace(cover.reading, lines=tuple(lines))
        misread.append(replace(cover, reading=reading, author=author))
    ocr = OcrService(False, workers=1)
    seed_cache(ocr, misread)
    model = fit_local_model(write_chat(tmp_path / "train.jsonl", misread), ocr=ocr).model
    assert model.params is not None
    assert model.params.corrections.get("^la") == "I"
    assert model.answer("Who wrote this book?", misread[0].image, ocr) == misread[0].author
    assert LocalModel.base().answer("Who wrote this book?", misread[0].image, ocr).startswith("lan")
