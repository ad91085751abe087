"""Loading predictions JSONL: the cookbook's files as they are, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vqaft.errors import PredictionsFileError
from vqaft.evaluate import PredictionRecord, PredictionSet, load_predictions


def _write(path: Path, lines: list[Any]) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


# Lines exactly as the cookbook writes them (integer ids, no question).
SEED_LINES = [
    {"example_id": 6, "predicted_answer": "A Wrinkle in Time",
     "actual_answer": "A Wrinkle in Time (Time Quintet)"},
    {"example_id": 10, "predicted_answer": "DK Travel", "actual_answer": "DK Publishing"},
    {"example_id": 14, "predicted_answer": "**Answer:**\n\nNo. \n\n**Reasoning:** travel guide.",
     "actual_answer": "No"},
]  # fmt: skip


def test_seed_result_file_loads_as_is(tmp_path: Path) -> None:
    predictions = load_predictions(_write(tmp_path / "ft.jsonl", SEED_LINES))
    assert len(predictions) == 3
    first = predictions.records[0]
    assert first.example_id == "6"
    assert first.gold == ("A Wrinkle in Time (Time Quintet)",)
    assert first.question is None
    assert first.line == 1
    assert predictions.source == str(tmp_path / "ft.jsonl")
    assert predictions.skipped == ()


def test_optional_fields_and_multiple_golds(tmp_path: Path) -> None:
    line = {
        "example_id": "b1:0",
        "predicted_answer": "Yes",
        "actual_answer": ["Yes", "yes"],
        "question": "Is this a kids book?",
        "model": "ft:gpt-4o",
        "usage": {"prompt_tokens": 812, "completion_tokens": 1},
        "latency": 0.42,
        "request_id": "abc",
    }
    record = load_predictions(_write(tmp_path / "p.jsonl", ["", line, "   "])).records[0]
    assert record.gold == ("Yes", "yes")
    assert record.model == "ft:gpt-4o"
    assert record.usage == {"prompt_tokens": 812, "completion_tokens": 1}
    assert record.latency == 0.42
    assert record.extra == {"request_id": "abc"}
    assert record.line == 2  # blank lines are not records but still count as lines


def test_failed_prediction_is_loaded_not_scored(tmp_path: Path) -> None:
    lines = [
        {"example_id": 1, "predicted_answer": None, "actual_answer": "No",
         "error": "RateLimitError: 429"},
        {"example_id": 2, "actual_answer": "Yes", "error": {"type": "timeout"}},
        {"example_id": 3, "predicted_answer": "Yes", "actual_answer": "Yes"},
    ]  # fmt: skip
    predictions = load_predictions(_write(tmp_path / "p.jsonl", lines))
    assert [r.example_id for r in predictions.failed] == ["1", "2"]
    assert predictions.records[1].predicted_answer is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"example_id": 1, "predicted_answer": "x"', "invalid JSON"),
        ('[1, 2, 3]', "expected a JSON object, got array"),
        ('{"example_id": 1, "predicted_answer": NaN, "actual_answer": "x"}', "NaN"),
        ({"predicted_answer": "x", "actual_answer": "x"}, "missing field 'example_id'"),
        ({"example_id": 1, "actual_answer": "x"}, "missing field 'predicted_answer'"),
        ({"example_id": 1, "predicted_answer": None, "actual_answer": "x"}, "no error is recorded"),
        ({"example_id": 1, "predicted_answer": 42, "actual_answer": "x"},
         "predicted_answer must be a string, got number"),
        ({"example_id": 1, "predicted_answer": "x", "actual_answer": 7},
         "actual_answer must be a string or a list of strings, got number"),
        ({"example_id": 1, "predicted_answer": "x", "actual_answer": ["a", None]},
         "actual_answer.1 must be a string, got null"),
        ({"example_id": 1, "predicted_answer": "x", "actual_answer": []}, "empty list"),
        ({"example_id": True, "predicted_answer": "x", "actual_answer": "x"}, "boolean"),
        ({"example_id": 1.5, "predicted_answer": "x", "actual_answer": "x"}, "got number"),
        ({"example_id": " ", "predicted_answer": "x", "actual_answer": "x"}, "must not be empty"),
        ({"example_id": 1, "predicted_answer": "x", "actual_answer": "x", "latency": -1},
         "latency"),
        ({"example_id": 1, "predicted_answer": "x"}, "missing field 'actual_answer'"),
    ],
)  # fmt: skip
def test_bad_line_names_file_and_line(tmp_path: Path, line: Any, message: str) -> None:
    good = {"example_id": 0, "predicted_answer": "ok", "actual_answer": "ok"}
    path = _write(tmp_path / "bad.jsonl", [good, line])
    with pytest.raises(PredictionsFileError) as caught:
        load_predictions(path)
    error = caught.value
    assert message in str(error)
    assert error.file == str(path)
    assert error.line == 2
    assert f"{path}, line 2" in str(error)
    assert error.hint


def test_error_names_the_example_id(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.jsonl", [{"example_id": "b7:2", "predicted_answer": 3,
                                          "actual_answer": "x"}])  # fmt: skip
    with pytest.raises(PredictionsFileError, match="example b7:2") as caught:
        load_predictions(path)
    assert caught.value.example_id == "b7:2"


def test_duplicate_ids(tmp_path: Path) -> None:
    lines = [
        {"example_id": 5, "predicted_answer": "a", "actual_answer": "a"},
        {"example_id": 6, "predicted_answer": "b", "actual_answer": "b"},
        {"example_id": "5", "predicted_answer": "c", "actual_answer": "c"},  # same id as text
    ]
    path = _write(tmp_path / "dup.jsonl", lines)
    with pytest.raises(PredictionsFileError, match="appears again \\(first on line 1\\)") as caught:
        load_predictions(path)
    assert caught.value.line == 3
    kept = load_predictions(path, on_error="skip")
    assert [r.predicted_answer for r in kept.records] == ["a", "b"]
    assert [(s.line, s.example_id) for s in kept.skipped] == [(3, "5")]


def test_skip_mode_lists_every_bad_line(tmp_path: Path) -> None:
    lines = [
        {"example_id": 1, "predicted_answer": "a", "actual_answer": "a"},
        "not json",
        {"example_id": 2, "predicted_answer": None, "actual_answer": "b"},
        {"example_id": 3, "predicted_answer": "c", "actual_answer": "c"},
    ]
    result = load_predictions(_write(tmp_path / "p.jsonl", lines), on_error="skip")
    assert [r.example_id for r in result.records] == ["1", "3"]
    assert [s.line for s in result.skipped] == [2, 3]
    assert "invalid JSON" in result.skipped[0].reason
    assert result.skipped[1].example_id == "2"


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    good = json.dumps({"example_id": 1, "predicted_answer": "a", "actual_answer": "a"})
    path.write_bytes(good.encode() + b'\n{"example_id": 2, "predicted_answer": "caf\xe9"}\n')
    with pytest.raises(PredictionsFileError, match="line 2: not valid UTF-8"):
        load_predictions(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PredictionsFileError, match="cannot read predictions"):
        load_predictions(tmp_path / "nope.jsonl")


def test_gold_may_come_later(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.jsonl", [{"example_id": 1, "predicted_answer": "a"}])
    predictions = load_predictions(path, require_gold=False)
    assert predictions.records[0].actual_answer is None
    with pytest.raises(PredictionsFileError, match="no gold answer"):
        _ = predictions.records[0].gold


def test_prediction_set_from_records() -> None:
    made = PredictionSet.from_records(
        [
            {"example_id": 1, "predicted_answer": "a", "actual_answer": "a", "model": "m1"},
            PredictionRecord(example_id="2", predicted_answer="b", actual_answer=("b",)),
        ]
    )
    assert [r.example_id for r in made] == ["1", "2"]
    assert made.models == ("m1",)
    assert set(made.by_id()) == {"1", "2"}
    with pytest.raises(PredictionsFileError, match="appears twice"):
        PredictionSet.from_records(
            [
                {"example_id": 1, "predicted_answer": "a", "actual_answer": "a"},
                {"example_id": "1", "predicted_answer": "b", "actual_answer": "b"},
            ]
        )
