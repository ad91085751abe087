"""A predictor killed with SIGKILL mid-run and restarted; the API key never leaks anywhere."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
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
from vqaft.errors import PredictionError
from vqaft.evaluate.predictions import load_predictions
from vqaft.predict import (
    BatchLimits,
    OpenAIConnection,
    OpenAIPredictor,
    RetryPolicy,
    predict_batch,
    predict_file,
)
from vqaft.predict._cli import add_commands
from vqaft.testing import ChatRequest, FakeOpenAI, Fault

FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)

_CHILD = """
import sys
from vqaft.predict import OpenAIPredictor, predict_file
test, base_url, out = sys.argv[1:4]
predictor = OpenAIPredictor("gpt-4o", base_url=base_url, api_key_env="VQAFT_KILL_TEST_KEY")
predict_file(test, predictor, out=out, concurrency=4, fsync_interval=0)
"""


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        if process.poll() is not None:
            raise AssertionError(f"the child exited early: {process.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.01)
    raise AssertionError("the child wrote too few answers in time")


def test_sigkill_mid_run_then_restart_answers_every_id_exactly_once(tmp_path: Path) -> None:
    n, concurrency = 150, 4
    test = write_test_files(tmp_path, n)
    out = tmp_path / "p.jsonl"
    key = "sk-kill-test-key-0123456789"
    env = {**os.environ, "VQAFT_KILL_TEST_KEY": key}
    with FakeOpenAI(responder=answer_for, latency=0.03, api_key=key) as fake:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(test), fake.base_url, str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for_lines(out, 20, child)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(timeout=30)
            assert child.stderr is not None
            child.stderr.close()
        assert child.returncode == -signal.SIGKILL
        killed_at = len(read_lines(out))  # complete lines only; a torn one would be repaired
        assert 20 <= killed_at < n
        time.sleep(0.2)  # let the server finish what was in flight when the child died
        summary = predict_file(
            test, OpenAIPredictor("gpt-4o", base_url=fake.base_url, api_key=key), out=out
        )
        per_question = successes_per_question(fake.log.records())

    assert summary.complete
    assert summary.skipped >= 20
    lines = read_lines(out)
    assert [r["example_id"] for r in lines] == [example_id(k) for k in range(n)]  # each once
    assert all(r["predicted_answer"] == f"A{question_number(r['question'])}" for r in lines)
    assert load_predictions(out).failed == ()
    # Answered twice at most: the requests in flight when the child died.
    assert set(per_question) == set(range(n))
    assert sum(count - 1 for count in per_question.values()) <= concurrency


def test_the_api_key_appears_in_no_file_log_output_or_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "sk-proj-SECRET0123456789abcdefXYZ"
    wrong = "sk-proj-WRONG0123456789abcdefXYZ"
    monkeypatch.setenv("VQAFT_SECRET_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)

    def responder(request: ChatRequest) -> str | Fault:
        k = question_number(request.last_user_text)
        if k == 1:
            return Fault.bad_request(f"Invalid image for key {secret}")  # a server echoing it
        return answer_for(request)

    test = write_test_files(tmp_path / "data", 6)
    texts: list[str] = []
    with FakeOpenAI(responder=responder, api_key=secret) as fake:
        fake.faults.add(Fault.server_error(), "chat.completions", on=[2])
        connection = OpenAIConnection(base_url=fake.base_url, api_key_env="VQAFT_SECRET_TEST_KEY")
        predictor = OpenAIPredictor("gpt-4o", connection=connection, retry=FAST)
        texts += [repr(predictor), repr(connection), json.dumps(predictor.describe())]
        online = predict_file(test, predictor, out=tmp_path / "runs" / "online.jsonl")
        assert online.failed == 1
        batch = predict_batch(
            test,
            "gpt-4o",
            out=tmp_path / "runs" / "batch.jsonl",
            connection=connection,
            poll_interval=0,
            limits=BatchLimits(max_requests=4),
        )
        assert batch.answered == 5
        assert batch.failed == 1
        parser = argparse.ArgumentParser()
        add_commands(parser.add_subparsers())
        args = parser.parse_args(
            [
                "predict", str(test), "--model", "gpt-4o", "--base-url", fake.base_url,
                "--api-key-env", "VQAFT_SECRET_TEST_KEY", "--out", str(tmp_path / "cli.jsonl"),
                "--json", "--no-progress",
            ]
        )  # fmt: skip
        assert args.handler(args) == 1  # one example failed
        monkeypatch.setenv("VQAFT_SECRET_TEST_KEY", wrong)
        with pytest.raises(PredictionError) as info:
            predict_file(
                test,
                OpenAIPredictor("gpt-4o", connection=connection, retry=FAST),
                out=tmp_path / "runs" / "wrong.jsonl",
            )
        texts += [str(info.value), repr(info.value.to_dict()), repr(info.value.__cause__)]

    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {
        "online.jsonl",
        "batch.jsonl",
        "batch.batches.json",
        "cli.jsonl",
        "wrong.jsonl",
    }
    for path in written:
        data = path.read_bytes()
        assert secret.encode() not in data, path
        assert wrong.encode() not in data, path
    for text in texts:
        assert secret not in text
        assert wrong not in text
    error = load_predictions(tmp_path / "runs" / "online.jsonl").by_id()[example_id(1)].error
    assert isinstance(error, dict)
    assert "***" in error["message"]
