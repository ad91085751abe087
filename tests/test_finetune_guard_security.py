"""The cost guard, and the API key never leaving the client."""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import pytest

from helpers_finetune import SECRET, Recorder, training_files
from vqaft.errors import ConfigError
from vqaft.finetune import FineTuneConfig, Hyperparameters
from vqaft.finetune._cli import add_commands
from vqaft.finetune.openai_backend import OpenAIFineTuner
from vqaft.messages.estimate import estimate
from vqaft.testing import FakeOpenAI, Fault, JobEvent, JobStep


def _numbers(text: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(r"\$([\d,]+\.\d+)", text)]


def test_cost_guard_refuses_before_uploading_anything(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    expected = estimate(train, epochs=3).cost_usd
    limit = round(expected / 2, 4)
    config = FineTuneConfig(hyperparameters=Hyperparameters(n_epochs=3), max_cost_usd=limit)
    with FakeOpenAI() as fake:
        tuner = OpenAIFineTuner(
            tmp_path / "run", client=fake.client(), poll_interval=0, progress=Recorder()
        )
        with pytest.raises(ConfigError) as info:
            tuner.start(train, config=config)
        assert fake.log.count() == 0  # nothing uploaded, no job
    message = str(info.value)
    assert "exceeds max_cost_usd" in message
    shown = _numbers(message)
    assert shown == [pytest.approx(expected, abs=0.005), pytest.approx(limit, abs=0.005)]


def test_cost_guard_lets_a_cheap_job_through_and_records_the_estimate(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    config = FineTuneConfig(hyperparameters=Hyperparameters(n_epochs=2), max_cost_usd=100.0)
    with FakeOpenAI() as fake:
        tuner = OpenAIFineTuner(
            tmp_path / "run", client=fake.client(), poll_interval=0, progress=Recorder()
        )
        result = tuner.fine_tune(train, config=config)
    assert tuner.state.estimate is not None
    assert tuner.state.estimate.epochs == 2
    assert tuner.state.estimate.max_cost_usd == 100.0
    assert result.estimated_cost_usd == pytest.approx(estimate(train, epochs=2).cost_usd, abs=1e-4)


def test_cost_guard_with_auto_epochs_uses_the_documented_rule(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)  # 12 examples: auto gives 8 epochs
    with FakeOpenAI() as fake:
        tuner = OpenAIFineTuner(
            tmp_path / "run", client=fake.client(), poll_interval=0, progress=Recorder()
        )
        tuner.start(train, config=FineTuneConfig(max_cost_usd=1000))
    assert tuner.state.estimate is not None
    assert tuner.state.estimate.epochs == estimate(train, epochs="auto").epochs == 8


def test_cost_guard_cannot_price_an_unknown_model(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    with FakeOpenAI() as fake:
        tuner = OpenAIFineTuner(
            tmp_path / "run", client=fake.client(), poll_interval=0, progress=Recorder()
        )
        with pytest.raises(ConfigError) as info:
            tuner.start(train, config=FineTuneConfig(model="mystery-model", max_cost_usd=5))
        assert fake.log.count() == 0
        # without a limit, an unknown model is trained without an estimate
        job = tuner.start(train, config=FineTuneConfig(model="mystery-model"))
    assert "mystery-model" in str(info.value)
    assert job.model == "mystery-model"
    assert tuner.state.estimate is None


def _all_text_under(root: Path) -> str:
    chunks = []
    for path in root.rglob("*"):
        if path.is_file():
            chunks.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(chunks)


def test_the_api_key_is_never_written_logged_or_shown(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    train, val = training_files(tmp_path)
    run = tmp_path / "run"
    script = [
        "validating_files",
        JobStep("running", events=(JobEvent.moderation_skipped(1, lines=[2]),)),
        "succeeded",
    ]
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI(api_key=SECRET, job_script=script) as fake:
        parser = argparse.ArgumentParser()
        add_commands(parser.add_subparsers(dest="command", required=True))
        url = ["--base-url", fake.base_url]
        finetune = ["finetune", str(train), "--validation", str(val), "--run-dir", str(run)]
        for argv in (
            [*finetune, *url, "--poll-interval", "0"],
            [*finetune, *url, "--poll-interval", "0", "--no-progress"],  # re-attaches
            ["jobs", "status", "--run-dir", str(run), "--json", *url],
            ["jobs", "events", "--run-dir", str(run), *url],
            ["jobs", "list", *url],
        ):
            args = parser.parse_args(argv)
            assert args.handler(args) == 0
        assert fake.log.count("fine_tuning.jobs.create") == 1
        assert all(r.auth_present for r in fake.log.records())
        tuner = OpenAIFineTuner(run, base_url=fake.base_url, poll_interval=0)
        shown = repr(tuner) + str(tuner.state.model_dump())
        # an error whose message echoes the key (as OpenAI's 401 does) is redacted
        fake.faults.add(
            Fault.http_error(401, f"Incorrect API key provided: {SECRET}.", code="invalid_api_key")
        )
        with pytest.raises(ConfigError) as info:
            tuner.status()
    out = capsys.readouterr()
    written = _all_text_under(tmp_path)
    assert (run / "job.json").is_file()
    assert (run / "result.json").is_file()
    assert (run / "events.jsonl").is_file()
    assert (run / "metrics.csv").is_file()
    assert "succeeded" in out.out
    for where, text in {
        "run files": written,
        "stdout": out.out,
        "stderr": out.err,
        "logs": caplog.text,
        "repr/state": shown,
        "error": str(info.value) + repr(info.value.to_dict()),
    }.items():
        assert SECRET not in text, f"the API key leaked into {where}"
        assert SECRET[8:20] not in text, f"part of the API key leaked into {where}"
    assert "credentials" in str(info.value)


def test_no_key_anywhere_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        OpenAIFineTuner(base_url="http://127.0.0.1:9/v1")
    assert "OPENAI_API_KEY" in (info.value.hint or "")
