"""Online prediction against FakeOpenAI over real HTTP with the real ``openai`` SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers_predict import (
    answer_for,
    example_id,
    question_number,
    read_lines,
    successes_per_question,
    write_test_files,
)
from vqaft.errors import ConfigError, PredictionError
from vqaft.evaluate.predictions import load_predictions
from vqaft.predict import OpenAIPredictor, RetryPolicy, apredict_file, predict_file
from vqaft.testing import ChatRequest, FakeOpenAI, Fault, Reply

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.02)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(responder=answer_for) as server:
        yield server


def _predictor(fake: FakeOpenAI, model: str = "gpt-4o", **kwargs: object) -> OpenAIPredictor:
    kwargs.setdefault("retry", FAST)
    return OpenAIPredictor(model, base_url=fake.base_url, api_key="sk-test-key", **kwargs)  # type: ignore[arg-type]


def test_predicts_every_example_into_the_evaluation_format(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    test = write_test_files(tmp_path / "data", 12)
    predictor = _predictor(fake, temperature=0, max_tokens=20, seed=7, options={"top_p": 0.5})
    summary = predict_file(test, predictor, concurrency=4)

    assert summary.out == str(tmp_path / "predictions" / "gpt-4o.jsonl")
    assert (summary.answered, summary.failed, summary.skipped, summary.requests) == (12, 0, 0, 12)
    assert summary.complete
    assert summary.prompt_tokens > 0
    loaded = load_predictions(summary.out)  # the evaluation's own loader accepts the file
    assert [r.example_id for r in loaded] == [example_id(k) for k in range(12)]
    for k, record in enumerate(loaded):
        assert record.predicted_answer == f"A{k}"  # each answer on its own example
        assert record.actual_answer == (f"A{k}", f"a{k}")
        assert record.question == f"Q{k}: who wrote this book?"
        assert record.model == "gpt-4o"
        assert record.error is None
        assert record.usage is not None
        assert record.usage["completion_tokens"] >= 1
        assert record.latency is not None
        assert record.latency >= 0
        assert record.extra["finish_reason"] == "stop"
        assert record.extra["attempts"] == 1
    body = fake.log.records("chat.completions")[0].body
    assert isinstance(body, dict)
    assert (body["temperature"], body["max_tokens"], body["seed"], body["top_p"]) == (0, 20, 7, 0.5)
    assert body["messages"][-1]["content"][1]["type"] == "image_url"


def test_a_second_run_over_the_same_store_sends_nothing(tmp_path: Path, fake: FakeOpenAI) -> None:
    test = write_test_files(tmp_path, 6)
    out = tmp_path / "p.jsonl"
    predict_file(test, _predictor(fake), out=out)
    fake.reset_log()
    again = predict_file(test, _predictor(fake), out=out)
    assert fake.log.count("chat.completions") == 0
    assert (again.skipped, again.sent, again.answered_total) == (6, 0, 6)


def test_twenty_percent_mixed_failures_end_answered_exactly_once(tmp_path: Path) -> None:
    n = 60
    test = write_test_files(tmp_path, n)
    with FakeOpenAI(responder=answer_for, latency=0.005) as fake:
        # Every 5th request fails, by turns a 429 + Retry-After, a 500 and a dropped connection.
        numbers = range(1, 400)
        fake.faults.add(Fault.rate_limit(retry_after=0.02), "chat.completions", on=numbers[4::15])
        fake.faults.add(Fault.server_error(), "chat.completions", on=numbers[9::15])
        fake.faults.add(Fault.drop(), "chat.completions", on=numbers[14::15])
        summary = predict_file(test, _predictor(fake), out=tmp_path / "p.jsonl", concurrency=8)
        counters = fake.log.counters()
        per_question = successes_per_question(fake.log.records())

    assert counters.by_fault.get("429", 0) > 0
    assert counters.by_fault.get("500", 0) > 0
    assert counters.by_fault.get("drop", 0) > 0
    assert sum(counters.by_fault.values()) == counters.total // 5  # 20% of all requests
    assert summary.answered == n
    assert summary.failed == 0
    assert summary.requests == counters.total  # retries counted
    assert per_question == {k: 1 for k in range(n)}  # answered exactly once at the server
    lines = read_lines(tmp_path / "p.jsonl")
    assert sorted(r["example_id"] for r in lines) == sorted(example_id(k) for k in range(n))
    assert all(r["predicted_answer"] == f"A{question_number(r['question'])}" for r in lines)
    assert sum(r["attempts"] for r in lines) == counters.total


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 1)
    with FakeOpenAI(responder=answer_for) as fake:
        fake.faults.add(Fault.rate_limit(retry_after=0.4), "chat.completions", on=[1])
        fake.faults.add(
            Fault.rate_limit(retry_after=60, retry_after_ms=250), "chat.completions", on=[2]
        )
        predict_file(test, _predictor(fake), out=tmp_path / "p.jsonl")
        first, second, third = fake.log.records("chat.completions")
    assert (first.status, second.status, third.status) == (429, 429, 200)
    assert second.timestamp - first.timestamp >= 0.4  # Retry-After: 0.4
    assert third.timestamp - second.timestamp >= 0.25  # retry-after-ms wins over Retry-After
    assert third.timestamp - second.timestamp < 30


def test_the_retry_budget_is_bounded_and_the_failure_recorded(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 3)
    with FakeOpenAI(responder=answer_for) as fake:
        fake.faults.add(
            Fault.overloaded(), "chat.completions", when=lambda r: "Q1:" in json.dumps(r.body)
        )
        retry = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)
        summary = predict_file(test, _predictor(fake, retry=retry), out=tmp_path / "p.jsonl")
        per_fault = fake.log.counters().by_fault
    assert per_fault == {"503": 3}
    assert (summary.answered, summary.failed) == (2, 1)
    loaded = load_predictions(tmp_path / "p.jsonl")
    failed = loaded.by_id()[example_id(1)]
    assert failed.predicted_answer is None
    assert isinstance(failed.error, dict)
    assert failed.error["type"] == "server_error"
    assert failed.error["status"] == 503
    assert failed.error["attempts"] == 3
    assert "3 attempts" in failed.error["message"]


def test_a_bad_request_is_not_retried_and_does_not_stop_the_run(tmp_path: Path) -> None:
    def responder(request: ChatRequest) -> str | Fault:
        if question_number(request.last_user_text) == 2:
            return Fault.bad_request("Invalid image.", param="messages", code="invalid_image")
        return answer_for(request)

    test = write_test_files(tmp_path, 5)
    with FakeOpenAI(responder=responder) as fake:
        summary = predict_file(test, _predictor(fake), out=tmp_path / "p.jsonl")
        assert fake.log.count("chat.completions", 400) == 1
    assert (summary.answered, summary.failed) == (4, 1)
    error = load_predictions(tmp_path / "p.jsonl").by_id()[example_id(2)].error
    assert isinstance(error, dict)
    assert (error["type"], error["code"], error["attempts"]) == ("bad_request", "invalid_image", 1)


def test_malformed_bodies_and_timeouts_are_retried(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 2)
    with FakeOpenAI(responder=answer_for) as fake:
        fake.faults.add(Fault.malformed(), "chat.completions", on=[1])
        fake.faults.add(Fault.timeout(hold=5), "chat.completions", on=[2])
        summary = predict_file(
            test, _predictor(fake, timeout=0.3), out=tmp_path / "p.jsonl", concurrency=1
        )
        statuses = [r.status for r in fake.log.records("chat.completions")]
    assert summary.answered == 2
    assert summary.requests == 4
    assert statuses.count(200) == 3
    assert None in statuses


def test_insufficient_quota_stops_the_run_at_once(tmp_path: Path) -> None:
    n = 40
    test = write_test_files(tmp_path, n)
    out = tmp_path / "p.jsonl"
    with FakeOpenAI(responder=answer_for, latency=0.02) as fake:
        fake.faults.add(Fault.insufficient_quota(), "chat.completions", on=[5])
        with pytest.raises(PredictionError, match="insufficient quota") as info:
            predict_file(test, _predictor(fake), out=out, concurrency=4)
        sent = fake.log.count("chat.completions")
        assert fake.log.count("chat.completions", 429) == 1  # never retried
        assert sent <= 5 + 4  # those in flight when it came back, no more
        assert info.value.hint is not None
        assert "credit" in info.value.hint
        kept = read_lines(out)
        assert kept
        assert all(r["error"] is None for r in kept)
        fake.faults.clear()
        summary = predict_file(test, _predictor(fake), out=out, concurrency=4)
    assert summary.sent == summary.requests == n - len(kept)  # only the rest
    assert summary.answered_total == n


def test_a_wrong_key_stops_the_run_at_once_without_showing_it(tmp_path: Path) -> None:
    wrong = "sk-wrong-0123456789abcdef"
    test = write_test_files(tmp_path, 30)
    with FakeOpenAI(responder=answer_for, api_key="sk-the-right-key-000000") as fake:
        predictor = OpenAIPredictor("gpt-4o", base_url=fake.base_url, api_key=wrong, retry=FAST)
        with pytest.raises(PredictionError, match="authentication") as info:
            predict_file(test, predictor, out=tmp_path / "p.jsonl", concurrency=3)
        assert fake.log.count("chat.completions") <= 3
    text = f"{info.value} {info.value.hint} {info.value.to_dict()} {predictor!r}"
    assert wrong not in text
    assert "sk-the-right" not in text
    assert info.value.hint is not None
    assert "OPENAI_API_KEY" in info.value.hint


def test_an_unknown_model_stops_the_run(tmp_path: Path, fake: FakeOpenAI) -> None:
    test = write_test_files(tmp_path, 5)
    with pytest.raises(PredictionError, match="not found") as info:
        predict_file(test, _predictor(fake, model="ft:gpt-4o:nobody::x"), out=tmp_path / "p")
    assert info.value.hint is not None
    assert "model name" in info.value.hint


def test_a_very_long_retry_after_stops_the_run(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 3)
    with FakeOpenAI(responder=answer_for) as fake:
        fake.faults.add(Fault.rate_limit(retry_after=3600), "chat.completions")
        with pytest.raises(PredictionError, match="3600 s") as info:
            predict_file(test, _predictor(fake), out=tmp_path / "p.jsonl", concurrency=1)
        assert fake.log.count("chat.completions") == 1
    assert info.value.hint is not None
    assert "rerun" in info.value.hint


def test_resume_after_a_partial_run_with_a_torn_last_line(tmp_path: Path, fake: FakeOpenAI) -> None:
    n = 20
    test = write_test_files(tmp_path, n)
    out = tmp_path / "p.jsonl"
    predict_file(test, _predictor(fake), out=out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:8]) + lines[8][:40])  # 8 answers, then a torn write
    fake.reset_log()
    summary = predict_file(test, _predictor(fake), out=out)
    asked = sorted(successes_per_question(fake.log.records()))
    assert asked == list(range(8, n))  # only the rest, the torn one included
    assert summary.repaired_bytes == 40
    assert summary.skipped == 8
    loaded = load_predictions(out)
    assert [r.example_id for r in loaded] == [example_id(k) for k in range(n)]


def test_retry_failed_asks_only_the_failed_examples_again(tmp_path: Path) -> None:
    broken = {3, 7}

    def responder(request: ChatRequest) -> str | Fault:
        if question_number(request.last_user_text) in broken:
            return Fault.bad_request("Invalid image.")
        return answer_for(request)

    n = 10
    test = write_test_files(tmp_path, n)
    out = tmp_path / "p.jsonl"
    with FakeOpenAI(responder=responder) as fake:
        first = predict_file(test, _predictor(fake), out=out)
        assert (first.answered, first.failed, first.failed_total) == (8, 2, 2)
        fake.reset_log()
        plain = predict_file(test, _predictor(fake), out=out)
        assert fake.log.count("chat.completions") == 0
        assert plain.failed_total == 2
        broken.clear()
        again = predict_file(test, _predictor(fake), out=out, retry_failed=True)
        asked = sorted(successes_per_question(fake.log.records()))
    assert asked == [3, 7]
    assert (again.answered, again.skipped, again.failed_total) == (2, 8, 0)
    assert again.complete
    lines = read_lines(out)
    assert [r["example_id"] for r in lines] == [example_id(k) for k in range(n)]  # compacted
    assert load_predictions(out).by_id()[example_id(7)].predicted_answer == "A7"


def test_refusals_and_length_limits_are_answers(tmp_path: Path) -> None:
    def responder(request: ChatRequest) -> Reply | str:
        k = question_number(request.last_user_text)
        if k == 0:
            return Reply(content=None, refusal="I can't help with that.")
        if k == 1:
            return Reply(content="  A very long  ", finish_reason="length")
        return answer_for(request)

    test = write_test_files(tmp_path, 3)
    with FakeOpenAI(responder=responder) as fake:
        predict_file(test, _predictor(fake), out=tmp_path / "p.jsonl")
    by_id = load_predictions(tmp_path / "p.jsonl").by_id()
    assert by_id[example_id(0)].predicted_answer == ""
    assert by_id[example_id(0)].extra["refusal"] == "I can't help with that."
    assert by_id[example_id(1)].predicted_answer == "A very long"
    assert by_id[example_id(1)].extra["finish_reason"] == "length"


def test_a_store_of_another_model_is_refused(tmp_path: Path, fake: FakeOpenAI) -> None:
    test = write_test_files(tmp_path, 2)
    out = tmp_path / "p.jsonl"
    predict_file(test, _predictor(fake), out=out)
    with pytest.raises(ConfigError, match="another model"):
        predict_file(test, _predictor(fake, model="gpt-4o-mini"), out=out)
    other = write_test_files(tmp_path / "other", 3, name="other")
    (tmp_path / "other" / "other.ids.jsonl").write_text(
        "\n".join(json.dumps({"example_id": f"z{k}", "answers": ["x"]}) for k in range(3)) + "\n"
    )
    with pytest.raises(ConfigError, match="does not have"):
        predict_file(other, _predictor(fake), out=out)


def test_an_injected_async_client_is_used_and_left_open(tmp_path: Path, fake: FakeOpenAI) -> None:
    test = write_test_files(tmp_path, 4)

    async def main() -> int:
        async with fake.async_client(max_retries=5) as client:
            predictor = OpenAIPredictor("gpt-4o", client=client, retry=FAST)
            await apredict_file(test, predictor, out=tmp_path / "p.jsonl")
            await apredict_file(test, predictor, out=tmp_path / "p.jsonl", retry_failed=True)
            assert not client.is_closed()
            assert "client=<injected>" in repr(predictor)
            return fake.log.count("chat.completions")

    assert asyncio.run(main()) == 4


def test_the_sync_wrapper_works_inside_a_running_event_loop(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    test = write_test_files(tmp_path, 3)

    async def notebook_cell() -> int:
        return predict_file(test, _predictor(fake), out=tmp_path / "p.jsonl").answered

    assert asyncio.run(notebook_cell()) == 3


def test_many_requests_spread_over_several_connection_pools(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    test = write_test_files(tmp_path, 40)
    fake.latency = 0.05
    predictor = _predictor(fake, connections_per_pool=4)

    async def main() -> int:
        await apredict_file(test, predictor, out=tmp_path / "p.jsonl", concurrency=16)
        pools = len(predictor._pools)
        await predictor.aclose()
        return pools

    assert asyncio.run(main()) >= 3
    assert fake.log.counters().max_in_flight <= 16
