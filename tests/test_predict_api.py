"""The Predictor protocol, plugins, the registry, endpoints (OpenAI, Azure, local) and the CLI."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from helpers_predict import answer_for, example_id, read_lines, write_test_files
from vqaft.errors import ConfigError, PredictionError, UnknownComponentError
from vqaft.evaluate.predictions import load_predictions
from vqaft.predict import (
    BasePredictor,
    Completion,
    OpenAIConnection,
    OpenAIPredictor,
    PredictionRequest,
    Predictor,
    RequestFailed,
    RequestOptions,
    RetryPolicy,
    create_predictor,
    predict_file,
    predictors,
    register_predictor,
)
from vqaft.predict._cli import add_commands
from vqaft.predict.retry import retry_after_seconds
from vqaft.testing import ChatRequest, FakeOpenAI, Fault


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(responder=answer_for) as server:
        yield server


# -- protocol and plugins --------------------------------------------------------------------


class Shouting(BasePredictor):
    """A synchronous plugin: answers with the question in capitals."""

    def __init__(self, model: str = "shout-1", fail_on: str | None = None) -> None:
        self.model = model
        self.fail_on = fail_on

    def predict(self, request: PredictionRequest) -> Completion:
        if request.example_id == self.fail_on:
            raise RequestFailed("cannot read the cover", kind="unreadable")
        if request.example_id == "boom":
            raise PredictionError("the model server went away")
        return Completion(text=(request.question or "").upper(), usage={"prompt_tokens": 1})


def test_a_sync_plugin_runs_through_the_same_runner(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 4)
    predictor = Shouting(fail_on=example_id(2))
    assert isinstance(predictor, Predictor)
    summary = predict_file(test, predictor, out=tmp_path / "p.jsonl")
    assert (summary.answered, summary.failed, summary.prompt_tokens) == (3, 1, 3)
    by_id = load_predictions(tmp_path / "p.jsonl").by_id()
    assert by_id[example_id(0)].predicted_answer == "Q0: WHO WROTE THIS BOOK?"
    assert by_id[example_id(0)].model == "shout-1"
    error = by_id[example_id(2)].error
    assert isinstance(error, dict)
    assert error["type"] == "unreadable"


def test_a_plugin_bug_fails_one_example_and_a_prediction_error_stops_the_run(
    tmp_path: Path,
) -> None:
    class Buggy:
        model = "buggy"

        async def apredict(self, request: PredictionRequest) -> Completion:
            if request.example_id == example_id(1):
                raise KeyError("oops")
            if request.example_id == example_id(3):
                raise PredictionError("the model server went away")
            return Completion(text="x")

    test = write_test_files(tmp_path, 3)
    summary = predict_file(test, Buggy(), out=tmp_path / "p.jsonl")
    error = load_predictions(tmp_path / "p.jsonl").by_id()[example_id(1)].error
    assert summary.failed == 1
    assert isinstance(error, dict)
    assert error["type"] == "unexpected"
    assert "KeyError" in error["message"]
    more = write_test_files(tmp_path / "more", 5)
    with pytest.raises(PredictionError, match="went away"):
        predict_file(more, Buggy(), out=tmp_path / "more.jsonl", concurrency=1)
    assert len(read_lines(tmp_path / "more.jsonl")) == 3  # what came before is kept


def test_not_a_predictor_is_refused(tmp_path: Path) -> None:
    test = write_test_files(tmp_path, 1)
    with pytest.raises(ConfigError, match="not a predictor"):
        predict_file(test, object(), out=tmp_path / "p.jsonl")  # type: ignore[arg-type]


def test_the_registry_lists_openai_from_its_entry_point_and_takes_plugins() -> None:
    assert "openai" in predictors.names()
    assert predictors.get("openai") is OpenAIPredictor
    register_predictor("shouting", Shouting)
    try:
        predictor = create_predictor("shouting", model="loud")
        assert isinstance(predictor, Shouting)
        assert predictor.model == "loud"
        with pytest.raises(UnknownComponentError, match="did you mean 'shouting'"):
            create_predictor("shoutin")
    finally:
        predictors.unregister("shouting")


# -- endpoints and settings ------------------------------------------------------------------


def test_endpoints_openai_azure_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIPredictor("gpt-4o")
    local = OpenAIConnection(base_url="http://localhost:11434/v1")
    assert local.is_local
    assert local.resolve_key() == "EMPTY"
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456789")
    azure = OpenAIConnection(
        azure_endpoint="https://res.openai.azure.com", api_version="2024-10-21"
    )
    client = azure.async_client()
    assert isinstance(client, openai.AsyncAzureOpenAI)
    assert client.max_retries == 0
    assert isinstance(azure.sync_client(), openai.AzureOpenAI)
    assert "azure-key" not in repr(azure)
    assert azure.key_env == "AZURE_OPENAI_API_KEY"
    with pytest.raises(ConfigError, match="api_version"):
        OpenAIConnection(azure_endpoint="https://res.openai.azure.com")
    with pytest.raises(ConfigError, match="not both"):
        OpenAIConnection(base_url="http://x/v1", azure_endpoint="https://y")
    with pytest.raises(ConfigError, match="cannot be combined"):
        OpenAIPredictor("m", base_url="http://x/v1", connection=local)


def test_request_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="invalid request options"):
        OpenAIPredictor("m", base_url="http://localhost:1/v1", temperature=9)
    with pytest.raises(ConfigError, match="model"):
        RequestOptions(extra={"model": "other"}).to_body()
    options = RequestOptions(max_completion_tokens=5, extra={"metadata": {"run": "x"}})
    assert options.to_body() == {"max_completion_tokens": 5, "metadata": {"run": "x"}}


def test_retry_policy_and_retry_after_parsing() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=4, jitter=False)
    assert [policy.delay(a) for a in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 4, 4]
    jittered = RetryPolicy(initial_delay=1, max_delay=8)
    assert all(0.5 <= jittered.delay(1) <= 1 for _ in range(50))
    assert all(3 <= jittered.delay(1, retry_after=3) <= 3.3 for _ in range(50))
    with pytest.raises(ConfigError):
        RetryPolicy(max_attempts=0)
    assert retry_after_seconds({"Retry-After": "1.5"}) == 1.5
    assert retry_after_seconds({"retry-after": "soon"}) is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    waited = retry_after_seconds({"retry-after": date})
    assert waited is not None
    assert 25 <= waited <= 31


# -- CLI -------------------------------------------------------------------------------------


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="vqaft")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["predict", *argv])
    code: int = args.handler(args)
    return code


def test_cli_predicts_with_options_and_progress(
    tmp_path: Path,
    fake: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-cli-test-key-0000")
    test = write_test_files(tmp_path / "data", 5)
    code = _cli(
        str(test), "--model", "gpt-4o", "--base-url", fake.base_url, "--api-key-env", "MY_KEY",
        "--temperature", "0", "--max-tokens", "30", "--seed", "1", "-O", "top_k=20",
        "--concurrency", "2", "--json",
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)
    assert summary["answered"] == 5
    assert summary["complete"] is True
    assert summary["out"] == str(tmp_path / "predictions" / "gpt-4o.jsonl")
    assert "predict gpt-4o" in captured.err  # the progress bar
    body = fake.log.records("chat.completions")[0].body
    assert isinstance(body, dict)
    assert (body["temperature"], body["max_tokens"], body["seed"], body["top_k"]) == (0, 30, 1, 20)


def test_cli_exit_codes_and_retry_failed(
    tmp_path: Path,
    fake: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test-key-0000")
    test = write_test_files(tmp_path, 4)
    out = tmp_path / "p.jsonl"

    def one_bad(request: ChatRequest) -> str | Fault:
        if "Q1:" in request.last_user_text:
            return Fault.bad_request("Invalid image.")
        return answer_for(request)

    fake.responder = one_bad
    common = ["--model", "gpt-4o", "--base-url", fake.base_url, "--out", str(out), "--no-progress"]
    assert _cli(str(test), *common) == 1
    assert "--retry-failed" in capsys.readouterr().out
    fake.responder = answer_for
    assert _cli(str(test), *common, "--retry-failed") == 0
    assert _cli(str(test), *common, "--batch", "--poll-interval", "0") == 0  # nothing left
    assert fake.log.count("batches.create") == 0


def test_cli_batch_and_plugin_choices(
    tmp_path: Path,
    fake: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test-key-0000")
    test = write_test_files(tmp_path, 3)
    base = ["--model", "gpt-4o", "--base-url", fake.base_url, "--no-progress"]
    out = ["--out", str(tmp_path / "b.jsonl")]
    assert _cli(str(test), *base, *out, "--batch", "--no-wait", "--poll-interval", "0") == 0
    assert "batches still running" in capsys.readouterr().out
    assert _cli(str(test), *base, *out, "--batch", "--poll-interval", "0") == 0
    assert fake.log.count("batches.create") == 1
    with pytest.raises(ConfigError, match="openai predictor"):
        _cli(str(test), "--model", "m", "--predictor", "shouting", "--batch")
    register_predictor("shouting", Shouting)
    try:
        code = _cli(
            str(test), "--model", "loud", "--predictor", "shouting", "-P", "fail_on=nobody",
            "--out", str(tmp_path / "s.jsonl"), "--no-progress",
        )  # fmt: skip
    finally:
        predictors.unregister("shouting")
    assert code == 0
    assert read_lines(tmp_path / "s.jsonl")[0]["predicted_answer"] == "Q0: WHO WROTE THIS BOOK?"


@pytest.mark.parametrize(
    "name",
    [
        "vqaft.predict.base",
        "vqaft.predict.batch",
        "vqaft.predict.chat_format",
        "vqaft.predict.connection",
        "vqaft.predict.records",
        "vqaft.predict.retry",
        "vqaft.predict.testfile",
    ],
)
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import doctest
    import importlib

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


def test_the_aiohttp_transport_when_installed_or_a_clear_error(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    import importlib.util

    test = write_test_files(tmp_path, 3)
    predictor = OpenAIPredictor(
        "gpt-4o", base_url=fake.base_url, transport="aiohttp", retry=RetryPolicy(initial_delay=0)
    )
    if importlib.util.find_spec("aiohttp") is None:
        with pytest.raises(ConfigError, match="openai\\[aiohttp\\]"):
            predict_file(test, predictor, out=tmp_path / "p.jsonl")
        httpx = OpenAIPredictor("gpt-4o", base_url=fake.base_url, transport="auto")
        assert predict_file(test, httpx, out=tmp_path / "p.jsonl").answered == 3
    else:
        fake.faults.add(Fault.drop(), "chat.completions", on=[1])
        summary = predict_file(test, predictor, out=tmp_path / "p.jsonl")
        assert summary.answered == 3
        assert summary.requests == 4
    with pytest.raises(ConfigError, match="unknown transport"):
        OpenAIPredictor("gpt-4o", base_url=fake.base_url, transport="curl")  # type: ignore[arg-type]
