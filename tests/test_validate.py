"""Tests of vqaft.messages.validate: a corpus of bad files, each caught with the right finding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bad_files_corpus import (
    BAD_LINE,
    CASES,
    N_GOOD,
    SYSTEM,
    BadCase,
    cover_url,
    data_url,
    example_id,
    good_records,
    image_bytes,
    record,
    user,
    write_case,
    write_jsonl,
    write_leaky_splits,
)
from vqaft.errors import ConfigError, TrainingFileError
from vqaft.messages._validate_images import ImageInspector
from vqaft.messages.validate import (
    FINDING_CODES,
    FileStats,
    MultiValidationReport,
    ValidationReport,
    _Collector,
    _file_level,
    validate,
    validate_many,
)


def _only(report: ValidationReport, code: str) -> list:
    return [f for f in report.findings if f.code == code]


def test_good_file_passes_with_no_findings(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", good_records())
    report = validate(path)
    assert report.ok
    assert report.findings == []
    assert report.count("error") == report.count("warning") == report.count("info") == 0
    assert report.purpose == "train"
    assert report.purpose_source == "file name"
    assert report.ids_file == str(tmp_path / "train.ids.jsonl")
    stats = report.stats
    assert (stats.lines, stats.examples, stats.examples_with_answer) == (N_GOOD, N_GOOD, N_GOOD)
    assert (stats.images, stats.unique_images, stats.examples_with_images) == (12, 12, 12)
    # one low-detail image (85) plus a short text conversation
    assert 85 + 20 < stats.max_example_tokens < 85 + 60


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_file_is_caught_with_code_line_and_example_id(case: BadCase, tmp_path: Path) -> None:
    path = write_case(case, tmp_path / case.name)
    report = validate(path)
    hits = _only(report, case.code)
    assert hits, f"expected a {case.code} finding, got {sorted(report.codes())}"
    finding = hits[0]
    assert finding.severity == case.severity
    assert finding.line == case.line
    assert case.message in finding.message
    assert finding.file == str(path)
    assert finding.hint
    if case.line is not None:
        assert finding.example_id == example_id(case.line - 1)
    if case.severity == "error":
        assert not report.ok
        # the bad line breaks one rule only: no cascade of unrelated errors
        assert {f.code for f in report.errors} == {case.code}
    else:
        assert report.ok
    assert case.code in FINDING_CODES


def test_findings_have_no_example_id_without_side_file(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "bad_role")
    path = write_case(case, tmp_path)
    (tmp_path / "train.ids.jsonl").unlink()
    report = validate(path)
    (finding,) = _only(report, "invalid_role")
    assert finding.line == BAD_LINE
    assert finding.example_id is None
    assert report.ids_file is None


def test_explicit_ids_file_and_opt_out(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "bad_role")
    path = write_case(case, tmp_path)
    moved = tmp_path / "elsewhere.jsonl"
    (tmp_path / "train.ids.jsonl").rename(moved)
    assert _only(validate(path, ids_file=moved), "invalid_role")[0].example_id == "img4:0"
    write_jsonl(path, case.make())  # side file back in place
    assert _only(validate(path, ids_file=False), "invalid_role")[0].example_id is None
    with pytest.raises(ConfigError, match="ids side file not found"):
        validate(path, ids_file=tmp_path / "missing.ids.jsonl")


def test_side_file_out_of_order_still_maps_ids(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "bad_role")
    path = write_case(case, tmp_path)
    side = tmp_path / "train.ids.jsonl"
    rows = side.read_text().splitlines()
    side.write_text("\n".join(reversed(rows)) + "\n")
    report = validate(path)
    assert _only(report, "invalid_role")[0].example_id == "img4:0"
    (note,) = _only(report, "ids_file_mismatch")
    assert "not in line order" in note.message


def test_side_file_with_fewer_and_extra_entries_is_reported(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", good_records())
    side = tmp_path / "train.ids.jsonl"
    rows = side.read_text().splitlines()
    side.write_text("\n".join(rows[:10]) + "\n")
    messages = [f.message for f in _only(validate(path), "ids_file_mismatch")]
    assert any("2 lines have no entry" in m for m in messages)
    side.write_text("\n".join([*rows, json.dumps({"line": 40, "example_id": "x"})]) + "\n")
    messages = [f.message for f in _only(validate(path), "ids_file_mismatch")]
    assert any("1 entries for lines the file does not have" in m for m in messages)


def test_test_purpose_inferred_from_content(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", good_records(answers=False))
    report = validate(path)
    assert report.purpose == "test"
    assert report.purpose_source == "content"
    assert report.ok
    assert report.findings == []


def test_train_file_without_answers_lists_capped_errors(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", good_records(answers=False))
    report = validate(path, purpose="train", max_findings_per_code=5)
    assert report.purpose_source == "argument"
    assert report.count("error") == N_GOOD
    assert len(_only(report, "missing_assistant")) == 5
    assert report.suppressed == {"missing_assistant": N_GOOD - 5}
    assert [f.line for f in report.errors] == [1, 2, 3, 4, 5]
    assert "7 more [missing_assistant]" in report.format_text()


def test_content_inference_keeps_deferred_errors_for_mixed_file(tmp_path: Path) -> None:
    records = good_records()
    records[7] = record(7, answer=None)
    path = write_jsonl(tmp_path / "data.jsonl", records)
    report = validate(path)
    assert (report.purpose, report.purpose_source) == ("train", "content")
    (finding,) = report.errors
    assert (finding.code, finding.line, finding.example_id) == ("missing_assistant", 8, "img7:0")


def test_test_file_with_answers_is_warned(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "test.jsonl", good_records())
    report = validate(path)
    assert report.purpose == "test"
    assert report.ok
    assert len(_only(report, "test_has_answer")) == N_GOOD
    # a test file needs no minimum size
    assert "too_few_examples" not in report.codes()


def test_last_message_must_be_the_answer(tmp_path: Path) -> None:
    records = good_records()
    rec = record(3)
    rec["messages"].append(user("And its title?", cover_url(3)))
    records[3] = rec
    report = validate(write_jsonl(tmp_path / "train.jsonl", records))
    (finding,) = report.errors
    assert (finding.code, finding.line) == ("last_not_assistant", 4)


def test_validation_file_rules(tmp_path: Path) -> None:
    records = good_records(4)
    records[1] = record(1, answer=None)
    report = validate(write_jsonl(tmp_path / "val.jsonl", records))
    assert report.purpose == "validation"
    # the 10-example minimum is for training files; the answer rule holds for validation too
    assert {f.code for f in report.errors} == {"missing_assistant"}


def test_leakage_against_other_split(tmp_path: Path) -> None:
    train, test = write_leaky_splits(tmp_path)
    report = validate(test, against=[train])
    (finding,) = report.warnings
    assert finding.code == "image_leakage"
    assert (finding.line, finding.example_id) == (3, "img2:0")
    assert "train.jsonl line 7 (example img6:0)" in finding.message
    assert report.ok


def test_validate_many_checks_splits_together(tmp_path: Path) -> None:
    train, test = write_leaky_splits(tmp_path)
    multi = validate_many({"train": train, "test": test})
    assert isinstance(multi, MultiValidationReport)
    assert len(multi) == 2
    train_report, test_report = multi
    assert train_report.findings == []
    (finding,) = test_report.findings
    assert (finding.code, finding.line, finding.example_id) == ("image_leakage", 3, "img2:0")
    assert "train.jsonl line 7" in finding.message
    assert multi.ok
    assert not multi.has_errors
    data = json.loads(json.dumps(multi.to_dict()))
    assert data["reports"][1]["findings"][0]["code"] == "image_leakage"
    assert "image_leakage" in multi.format_text()


def test_same_prompt_in_two_splits_is_example_leakage(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", good_records())
    tests = [record(100 + i, answer=None) for i in range(4)]
    tests[1] = record(5, answer=None)  # the same question on the same cover as train line 6
    test = write_jsonl(tmp_path / "test.jsonl", tests)
    for report in (validate(test, against=[train]), validate_many([train, test])[1]):
        codes = {(f.code, f.line) for f in report.findings}
        assert codes == {("image_leakage", 2), ("example_leakage", 2)}


def test_few_shot_images_shared_by_every_split_are_not_leakage(tmp_path: Path) -> None:
    shot = [user("Who wrote this book?", cover_url(900)), {"role": "assistant", "content": "X"}]

    def with_shot(rec: dict[str, Any]) -> dict[str, Any]:
        system, *rest = rec["messages"]
        return {"messages": [system, *shot, *rest]}

    train = write_jsonl(tmp_path / "train.jsonl", [with_shot(r) for r in good_records()])
    tests = [with_shot(record(100 + i, answer=None)) for i in range(4)]
    tests[2] = with_shot(record(3, answer=None, url=cover_url(4)))  # asks about a train image
    test = write_jsonl(tmp_path / "test.jsonl", tests)
    for report in (validate(test, against=[train]), validate_many([train, test])[1]):
        assert [(f.code, f.line) for f in report.findings] == [("image_leakage", 3)]
        assert report.stats.unique_images == 5  # four asked-about covers + the few-shot one


def test_validate_many_with_one_purpose_for_all(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", good_records(answers=False))
    multi = validate_many([a], purpose="train")
    assert multi[0].purpose == "train"
    assert multi.has_errors
    with pytest.raises(ConfigError):
        validate_many({"train": a}, purpose="test")


def test_conflicting_answers_are_warned(tmp_path: Path) -> None:
    records = good_records()
    records[9] = record(2, answer="John Roe")
    report = validate(write_jsonl(tmp_path / "train.jsonl", records))
    (finding,) = report.findings
    assert (finding.code, finding.line, finding.example_id) == ("conflicting_answer", 10, "img9:0")
    assert "line 3" in finding.message


def test_empty_system_prompt_and_unexpected_keys_are_warnings(tmp_path: Path) -> None:
    records = good_records()
    records[0]["messages"][0]["content"] = "  "
    records[1]["id"] = "b1"
    report = validate(write_jsonl(tmp_path / "train.jsonl", records))
    assert report.ok
    assert {(f.code, f.line) for f in report.findings} == {
        ("empty_system_prompt", 1),
        ("unexpected_key", 2),
    }


def test_image_outside_user_message(tmp_path: Path) -> None:
    records = good_records()
    records[2]["messages"][0]["content"] = [
        {"type": "text", "text": SYSTEM},
        {"type": "image_url", "image_url": {"url": cover_url(50)}},
    ]
    report = validate(write_jsonl(tmp_path / "train.jsonl", records))
    (finding,) = report.errors
    assert (finding.code, finding.line) == ("image_not_in_user", 3)


def test_detail_and_weight_values(tmp_path: Path) -> None:
    records = good_records()
    records[0]["messages"][1]["content"][1]["image_url"]["detail"] = "medium"
    records[1]["messages"][2]["weight"] = 2
    records[2]["messages"][2]["weight"] = 0
    report = validate(write_jsonl(tmp_path / "train.jsonl", records))
    assert {(f.code, f.line) for f in report.errors} == {
        ("invalid_detail", 1),
        ("invalid_weight", 2),
        ("missing_assistant", 3),  # weight 0: nothing to train on in that example
    }


def test_accepted_image_kinds(tmp_path: Path) -> None:
    urls = [
        data_url(image_bytes(fmt="PNG"), "image/png"),
        data_url(image_bytes(mode="RGBA", color=(1, 2, 3, 100), fmt="PNG"), "image/png"),
        data_url(image_bytes(fmt="WEBP"), "image/webp"),
        data_url(image_bytes(), "image/jpg"),
    ]
    records = good_records()
    for i, url in enumerate(urls):
        records[i] = record(i, url=url)
    assert validate(write_jsonl(tmp_path / "train.jsonl", records)).findings == []


def test_remote_images_are_noted_not_checked(tmp_path: Path) -> None:
    records = good_records()
    records[3] = record(3, url="https://example.com/cover.jpg")
    records[6] = record(6, url="http://example.com/other.jpg")
    report = validate(write_jsonl(tmp_path / "train.jsonl", records))
    assert report.ok
    (finding,) = report.findings
    assert (finding.severity, finding.code, finding.line) == ("info", "remote_images", 4)
    assert "2 images" in finding.message
    assert report.stats.remote_images == 2


def test_non_data_non_http_url_is_an_error(tmp_path: Path) -> None:
    records = good_records()
    records[3] = record(3, url="file:///tmp/cover.jpg")
    (finding,) = validate(write_jsonl(tmp_path / "train.jsonl", records)).errors
    assert (finding.code, finding.line) == ("invalid_image_url", 4)


def test_repeated_image_is_inspected_once(tmp_path: Path) -> None:
    inspector = ImageInspector()
    url = cover_url(1)
    first = inspector.inspect(url)
    second = inspector.inspect(url)
    assert first is second
    assert (inspector.misses, inspector.hits, len(inspector)) == (1, 1, 1)
    assert first.size == (48, 64)
    assert (first.format, first.mode) == ("JPEG", "RGB")
    # the same bytes under the same URL in many records: one distinct image
    records = [record(i, url=url) for i in range(N_GOOD)]
    report = validate(write_jsonl(tmp_path / "train.jsonl", records))
    assert (report.stats.images, report.stats.unique_images) == (N_GOOD, 1)


def test_file_level_limits() -> None:
    collector = _Collector(file="train.jsonl", cap=10, purpose="train")
    stats = FileStats(bytes=600 * 1024**2, examples=50_001, examples_with_images=50_001)
    _file_level(collector, stats, "train", None)
    codes = {(f.code, f.severity) for f in collector.findings}
    assert codes == {("uploads_api", "info"), ("too_many_image_examples", "error")}
    collector = _Collector(file="train.jsonl", cap=10, purpose="train")
    _file_level(collector, FileStats(bytes=9 * 1024**3, examples=20), "train", None)
    assert [f.code for f in collector.findings] == ["file_too_large"]
    collector = _Collector(file="test.jsonl", cap=10, purpose="test")
    _file_level(collector, FileStats(examples=60_000, examples_with_images=60_000), "test", None)
    assert collector.findings == []


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"")
    report = validate(path)
    assert [f.code for f in report.errors] == ["empty_file"]


def test_raise_for_errors_carries_line_and_example_id(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "gif_image")
    report = validate(write_case(case, tmp_path))
    with pytest.raises(TrainingFileError) as info:
        report.raise_for_errors()
    error = info.value
    assert (error.line, error.example_id) == (BAD_LINE, "img4:0")
    assert "GIF" in str(error)
    good_dir = tmp_path / "good"
    good_dir.mkdir()
    validate(write_jsonl(good_dir / "train.jsonl", good_records())).raise_for_errors()


def test_report_renders_as_json_and_text(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "mime_mismatch")
    report = validate(write_case(case, tmp_path))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert data["findings"][0] == {
        "severity": "error",
        "code": "mime_mismatch",
        "message": report.findings[0].message,
        "file": str(tmp_path / "train.jsonl"),
        "line": BAD_LINE,
        "example_id": "img4:0",
        "hint": "use the prefix data:image/png;base64,",
    }
    assert data["stats"]["examples"] == N_GOOD
    text = report.format_text()
    assert "FAILED" in text.splitlines()[0]
    assert "line 5 [img4:0]" in text
    assert "[mime_mismatch]" in text
    assert "line 5, example img4:0: error [mime_mismatch]" in str(report.findings[0])


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        validate(tmp_path / "nope.jsonl")
    path = write_jsonl(tmp_path / "train.jsonl", good_records())
    with pytest.raises(ConfigError, match="unknown purpose"):
        validate(path, purpose="training")  # type: ignore[arg-type]


def test_real_covers(shared_dir: Path, tmp_path: Path) -> None:
    covers = sorted((shared_dir / "data" / "real-covers").glob("*.jpg"))
    assert covers
    records = []
    for i in range(N_GOOD):
        url = data_url(covers[i % len(covers)].read_bytes())
        records.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    user(f"What is the title of book {i}?", url, detail="high"),
                    {"role": "assistant", "content": "Vermont Beautiful"},
                ]
            }
        )
    report = validate(write_jsonl(tmp_path / "train.jsonl", records))
    assert report.ok, report.format_text()
    assert report.stats.unique_images == len(covers)


def test_tool_call_conversation_shape(tmp_path: Path) -> None:
    records = good_records()
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"isbn": "0060750715"}'},
    }
    records[0]["messages"][2:] = [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "George Balanchine"},
        {"role": "assistant", "content": "Robert Gottlieb"},
    ]
    records[0]["tools"] = [{"type": "function", "function": {"name": "lookup"}}]
    records[1]["messages"].insert(2, {"role": "tool", "content": "no id"})
    records[2]["messages"].insert(2, {"role": "function", "content": "no name"})
    report = validate(write_jsonl(tmp_path / "train.jsonl", records))
    assert [(f.code, f.line) for f in report.findings] == [
        ("invalid_message", 2),
        ("invalid_message", 3),
    ]
    assert "tool_call_id" in report.findings[0].message
    assert "'name'" in report.findings[1].message
