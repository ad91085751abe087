"""The predictions store and the test-file reader: crash repair, latest-wins, locking, order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers_predict import example_id, read_lines, write_test_files
from vqaft.errors import DatasetError, PredictionError, PredictionsFileError
from vqaft.evaluate.predictions import load_predictions
from vqaft.predict import PredictionStore, RequestFailed, read_test_ids
from vqaft.predict.testfile import default_output_path, iter_requests, model_slug


def _answer(i: str, text: str = "x") -> dict[str, object]:
    return {"example_id": i, "predicted_answer": text, "actual_answer": ["x"], "error": None}


def _failure(i: str) -> dict[str, object]:
    return {
        "example_id": i,
        "predicted_answer": None,
        "actual_answer": ["x"],
        "error": {"type": "server_error"},
    }


def test_appends_survive_reopen_and_the_latest_line_wins(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with PredictionStore.open(path) as store:
        store.append(_answer("a", "first"))
        store.append(_failure("b"))
    with PredictionStore.open(path) as store:
        assert store.answered() == {"a"}
        assert store.failed() == {"b"}
        store.append(_answer("b", "second try"))
        assert store.answered() == {"a", "b"}
    with PredictionStore.open(path) as store:
        assert store.superseded == 1
        assert store.get("b") == _answer("b", "second try")
        assert store.needs_compaction(["a", "b"])
        assert store.compact(["b", "a"]) is True
        store.append(_answer("c"))  # appends still work after the file was replaced
    assert [r["example_id"] for r in read_lines(path)] == ["b", "a", "c"]
    loaded = load_predictions(path)
    assert [r.predicted_answer for r in loaded] == ["second try", "first", "x"]


def test_compact_leaves_an_ordered_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with PredictionStore.open(path) as store:
        store.append(_answer("a"))
        store.append(_answer("b"))
        before = path.stat().st_ino
        assert store.compact(["a", "b"]) is False
    assert path.stat().st_ino == before


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    good = json.dumps(_answer("a")) + "\n"
    torn = json.dumps(_answer("b"))[:25]
    path.write_text(good + torn, encoding="utf-8")
    with PredictionStore.open(path) as store:
        assert store.repaired_bytes == len(torn)
        assert "b" not in store
        assert "a" in store
        store.append(_answer("b"))
    assert [r["example_id"] for r in read_lines(path)] == ["a", "b"]


def test_a_complete_last_record_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_answer("a")) + "\n" + json.dumps(_answer("b")), encoding="utf-8")
    with PredictionStore.open(path) as store:
        assert store.repaired_bytes == 0
        assert store.answered() == {"a", "b"}
        store.append(_answer("c"))
    assert [r["example_id"] for r in read_lines(path)] == ["a", "b", "c"]


def test_garbage_in_the_middle_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    lines = [json.dumps(_answer("a")), "{not json", json.dumps(_answer("c"))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PredictionsFileError) as info:
        PredictionStore.open(path)
    assert info.value.line == 2
    assert path.read_text(encoding="utf-8").count("\n") == 3  # nothing was cut


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with PredictionStore.open(path), pytest.raises(PredictionError, match="another process"):
        PredictionStore.open(path)
    with PredictionStore.open(path) as store:  # released on close
        assert len(store) == 0


def test_a_record_needs_an_example_id(tmp_path: Path) -> None:
    with PredictionStore.open(tmp_path / "p.jsonl") as store:
        with pytest.raises(PredictionsFileError):
            store.append({"predicted_answer": "x"})
        assert len(store) == 0


# -- the test file ---------------------------------------------------------------------------


def test_reads_ids_and_gold_from_the_side_file(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 5)
    refs = read_test_ids(test)
    assert [r.example_id for r in refs] == [example_id(k) for k in range(5)]
    assert refs[2].answers == ("A2", "a2")
    assert refs[2].line == 3
    wanted = {example_id(1), example_id(3)}
    got = [(ref.example_id, request) for ref, request in iter_requests(test, refs, wanted)]
    assert [i for i, _ in got] == [example_id(1), example_id(3)]
    request = got[0][1]
    assert not isinstance(request, RequestFailed)
    assert request.gold == ("A1", "a1")
    assert request.messages[-1]["role"] == "user"


def test_a_trailing_assistant_answer_is_never_sent(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 1)
    record = json.loads(test.read_text())
    record["messages"].append({"role": "assistant", "content": "A0"})
    test.write_text(json.dumps(record) + "\n")
    ((_, request),) = iter_requests(test, read_test_ids(test))
    assert not isinstance(request, RequestFailed)
    assert [m["role"] for m in request.messages] == ["system", "user"]


def test_an_unreadable_record_becomes_a_failure_not_a_crash(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 3)
    lines = test.read_text().splitlines()
    lines[1] = '{"messages": "oops"}'
    test.write_text("\n".join(lines) + "\n")
    results = [request for _, request in iter_requests(test, read_test_ids(test))]
    assert isinstance(results[1], RequestFailed)
    assert results[1].kind == "invalid_input"
    assert not isinstance(results[0], RequestFailed)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("drop_side_line", "2 examples"),
        ("duplicate_id", "repeats"),
        ("bad_json", "invalid JSON"),
        ("wrong_line", "'line'"),
    ],
)
def test_side_file_problems_are_named(tmp_path: Path, damage: str, message: str) -> None:
    test = write_test_files(tmp_path, 3)
    side = tmp_path / "test.ids.jsonl"
    lines = side.read_text().splitlines()
    if damage == "drop_side_line":
        lines = lines[:2]
    elif damage == "duplicate_id":
        row = json.loads(lines[2])
        row["example_id"] = example_id(0)
        lines[2] = json.dumps(row)
    elif damage == "bad_json":
        lines[1] = "{"
    else:
        row = json.loads(lines[1])
        row["line"] = 7
        lines[1] = json.dumps(row)
    side.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=message):
        read_test_ids(test)


def test_a_missing_side_file_says_how_to_make_one(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 2)
    (tmp_path / "test.ids.jsonl").unlink()
    with pytest.raises(DatasetError, match="side file") as info:
        read_test_ids(test)
    assert info.value.hint is not None
    assert "vqaft prepare" in info.value.hint


def test_default_output_path_and_slug() -> None:
    assert default_output_path("runs/a/data/test.jsonl", "ft:gpt-4o:x::y") == Path(
        "runs/a/predictions/ft-gpt-4o-x-y.jsonl"
    )
    assert default_output_path("elsewhere/test.jsonl", "gpt-4o") == Path(
        "elsewhere/predictions/gpt-4o.jsonl"
    )
    assert model_slug("///") == "model"
