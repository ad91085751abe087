"""Batch API mode end to end against FakeOpenAI: split, upload, create, poll, join, re-attach."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from helpers_predict import answer_for, example_id, question_number, read_lines, write_test_files
from vqaft.errors import ConfigError, PredictionError
from vqaft.evaluate.predictions import load_predictions
from vqaft.predict import (
    BatchLimits,
    OpenAIConnection,
    OpenAIPredictor,
    predict_batch,
    predict_file,
)
from vqaft.predict.batch import BatchState, batch_state_path
from vqaft.testing import ChatRequest, FakeOpenAI, Fault


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(responder=answer_for) as server:
        yield server


def _connection(fake: FakeOpenAI) -> OpenAIConnection:
    return OpenAIConnection(base_url=fake.base_url, api_key="sk-batch-test-key")


def _run(fake: FakeOpenAI, test: Path, out: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    kwargs.setdefault("poll_interval", 0)
    return predict_batch(test, "gpt-4o", out=out, connection=_connection(fake), **kwargs)  # type: ignore[arg-type]


def test_batch_end_to_end_split_by_request_count(tmp_path: Path, fake: FakeOpenAI) -> None:
    n = 10
    test = write_test_files(tmp_path, n)
    out = tmp_path / "p.jsonl"
    summary = _run(fake, test, out, limits=BatchLimits(max_requests=4))

    assert summary.mode == "batch"
    assert summary.complete
    assert (summary.answered, summary.sent, summary.requests) == (n, n, n)
    assert len(summary.batches) == 3
    assert not summary.pending_batches
    loaded = load_predictions(out)
    assert [r.example_id for r in loaded] == [example_id(k) for k in range(n)]
    assert all(r.predicted_answer == f"A{k}" for k, r in enumerate(loaded))  # joined by id
    assert all(r.extra["batch_id"] in summary.batches and r.latency is None for r in loaded)
    assert loaded.records[0].usage is not None

    uploads = fake.log.records("files.create")
    assert [u.body["purpose"] for u in uploads] == ["batch"] * 3  # type: ignore[index]
    state = BatchState.load(batch_state_path(out))
    assert state is not None
    assert [p.requests for p in state.parts] == [4, 4, 2]
    assert all(p.joined and p.status == "completed" and p.input_path is None for p in state.parts)
    assert not list(tmp_path.glob("p.batch-*.jsonl"))  # local input files removed once uploaded
    for part in state.parts:  # each uploaded file holds exactly its part's lines
        lines = fake.file_content(part.input_file_id or "").decode().splitlines()
        assert [json.loads(x)["custom_id"] for x in lines] == part.custom_ids
        first = json.loads(lines[0])
        assert first["url"] == "/v1/chat/completions"
        assert first["body"]["model"] == "gpt-4o"

    fake.reset_log()
    again = _run(fake, test, out)
    assert fake.log.count("batches.create") == 0
    assert fake.log.count("files.create") == 0
    assert again.sent == 0
    assert again.skipped == n


def test_batches_are_split_by_size(tmp_path: Path, fake: FakeOpenAI) -> None:
    test = write_test_files(tmp_path, 7)
    out = tmp_path / "p.jsonl"
    line_size = 600  # a request line here is 400-600 bytes: two fit in a part, three do not
    summary = _run(fake, test, out, limits=BatchLimits(max_bytes=2 * line_size))
    state = BatchState.load(batch_state_path(out))
    assert state is not None
    assert [p.requests for p in state.parts] == [2, 2, 2, 1]
    assert all(p.bytes <= 2 * line_size for p in state.parts)
    assert summary.complete


def test_a_rerun_re_attaches_instead_of_creating_new_batches(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    test = write_test_files(tmp_path, 6)
    out = tmp_path / "p.jsonl"
    first = _run(fake, test, out, wait=False)
    assert first.pending_batches
    assert first.missing == 6
    assert first.answered == 0
    assert fake.log.count("batches.create") == 1
    second = _run(fake, test, out, wait=False)  # still running: nothing new is sent
    assert fake.log.count("batches.create") == 1
    assert second.sent == 0
    third = _run(fake, test, out)
    assert fake.log.count("batches.create") == 1
    assert third.answered == 6
    assert third.complete
    assert third.batches == first.batches


def _interrupted_create(tmp_path: Path, fake: FakeOpenAI) -> tuple[Path, Path, str]:
    """A batch created on the server whose id the state file lost, as when killed between
    creating it and saving its id. Returns the test file, the predictions file, the id."""
    test = write_test_files(tmp_path, 4)
    out = tmp_path / "p.jsonl"
    _run(fake, test, out, wait=False)
    state_path = batch_state_path(out)
    state = json.loads(state_path.read_text())
    batch_id = state["parts"][0]["batch_id"]
    assert isinstance(state["parts"][0]["input_file_created_at"], int)
    state["parts"][0]["batch_id"] = None
    state["parts"][0]["status"] = "uploaded"
    state_path.write_text(json.dumps(state))
    return test, out, batch_id


def test_an_interrupted_create_is_found_again_by_its_input_file(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    test, out, batch_id = _interrupted_create(tmp_path, fake)
    summary = _run(fake, test, out)
    # Before creating a batch vqaft looks for one made from the same input file: once in
    # each run, and the second run finds it.
    assert fake.log.count("batches.create") == 1
    assert fake.log.count("batches.list") == 2
    assert summary.batches == (batch_id,)
    assert summary.complete


def _other_batches(fake: FakeOpenAI, count: int) -> None:
    """``count`` batches made by someone else on the same account (one shared input file)."""
    client = openai.OpenAI(base_url=fake.base_url, api_key="sk-other-key", max_retries=0)
    line = {
        "custom_id": "other-0",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    }
    upload = client.files.create(file=("other.jsonl", json.dumps(line).encode()), purpose="batch")
    for _ in range(count):
        client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )


def test_an_interrupted_create_is_found_beyond_the_first_page_of_batches(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    test, out, batch_id = _interrupted_create(tmp_path, fake)
    _other_batches(fake, 150)  # 150 newer batches push ours to the second page
    fake.reset_log()
    summary = _run(fake, test, out)
    assert fake.log.count("batches.create") == 0
    assert fake.log.count("batches.list") == 2
    assert summary.batches == (batch_id,)
    assert summary.complete


def test_the_search_stops_at_batches_older_than_the_input_file(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    _other_batches(fake, 250)
    time.sleep(1.1)  # created_at has one-second resolution
    fake.reset_log()
    test = write_test_files(tmp_path, 4)
    out = tmp_path / "p.jsonl"
    summary = _run(fake, test, out)
    # No batch of ours exists yet; the first page already holds batches older than our
    # input file, so the search ends there instead of reading all three pages.
    assert fake.log.count("batches.list") == 1
    assert fake.log.count("batches.create") == 1
    assert summary.complete


def test_failed_lines_become_failures_and_retry_failed_sends_only_them(tmp_path: Path) -> None:
    broken = {2, 5}

    def responder(request: ChatRequest) -> str | Fault:
        if question_number(request.last_user_text) in broken:
            return Fault.bad_request("Invalid image.", code="invalid_image")
        return answer_for(request)

    test = write_test_files(tmp_path, 8)
    out = tmp_path / "p.jsonl"
    with FakeOpenAI(responder=responder) as fake:
        first = _run(fake, test, out)
        assert (first.answered, first.failed, first.failed_total) == (6, 2, 2)
        error = load_predictions(out).by_id()[example_id(2)].error
        assert isinstance(error, dict)
        assert (error["type"], error["status"], error["code"]) == (
            "bad_request",
            400,
            "invalid_image",
        )
        assert _run(fake, test, out).sent == 0  # failures stay failures without --retry-failed
        broken.clear()
        again = _run(fake, test, out, retry_failed=True)
        last = BatchState.load(batch_state_path(out))
    assert again.sent == 2
    assert again.answered == 2
    assert again.complete
    assert last is not None
    assert sorted(last.parts[-1].custom_ids) == [example_id(2), example_id(5)]
    assert [r["example_id"] for r in read_lines(out)] == [example_id(k) for k in range(8)]


def test_an_expired_batch_leaves_clear_failures(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 3)
    out = tmp_path / "p.jsonl"
    with FakeOpenAI(
        responder=answer_for, batch_script=["validating", "in_progress", "expired"]
    ) as fake:
        summary = _run(fake, test, out)
    assert summary.failed == 3
    assert not summary.complete
    error = load_predictions(out).by_id()[example_id(0)].error
    assert isinstance(error, dict)
    assert error["type"] == "batch_expired"
    assert "expired" in error["message"]


def test_online_and_batch_share_one_store(tmp_path: Path, fake: FakeOpenAI) -> None:
    test = write_test_files(tmp_path, 6)
    out = tmp_path / "p.jsonl"
    lines_before = 3
    predict_file(test, OpenAIPredictor("gpt-4o", connection=_connection(fake)), out=out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:lines_before]))  # three answered online, three missing
    summary = _run(fake, test, out)
    state = BatchState.load(batch_state_path(out))
    assert state is not None
    assert state.parts[0].requests == 6 - lines_before
    assert summary.complete
    assert summary.skipped == lines_before


def test_authentication_errors_stop_batch_mode(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 2)
    with FakeOpenAI(responder=answer_for, api_key="sk-the-right-one-0000") as fake:
        with pytest.raises(PredictionError, match="authentication"):
            _run(fake, test, tmp_path / "p.jsonl")
        assert fake.log.count("files.create") == 1


def test_an_injected_sync_client_and_a_model_mismatch(tmp_path: Path, fake: FakeOpenAI) -> None:
    test = write_test_files(tmp_path, 2)
    out = tmp_path / "p.jsonl"
    client: openai.OpenAI = fake.client()
    summary = predict_batch(test, "gpt-4o", out=out, client=client, poll_interval=0)
    assert summary.complete
    with pytest.raises(ConfigError, match="another model"):
        predict_batch(test, "gpt-4o-mini", out=out, client=client, poll_interval=0)
