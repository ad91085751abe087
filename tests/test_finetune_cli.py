"""`vqaft finetune` and `vqaft jobs ...` against FakeOpenAI."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers_finetune import SECRET, training_files
from vqaft.errors import ConfigError, FineTuneJobError
from vqaft.finetune._cli import add_commands
from vqaft.testing import FakeOpenAI, JobStep


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAI(api_key=SECRET) as server:
        yield server


def run(fake: FakeOpenAI, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="vqaft")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([*argv, "--base-url", fake.base_url])
    if hasattr(args, "poll_interval"):
        args.poll_interval = 0.0
    code: int = args.handler(args)
    return code


def test_no_wait_then_rerun_waits_for_the_same_job(
    fake: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, val = training_files(tmp_path)
    assert run(fake, "finetune", str(train), "--validation", str(val), "--no-wait") == 0
    first = capsys.readouterr()
    job_id = first.out.split()[0]
    assert job_id.startswith("ftjob-")
    assert "run the same command again" in first.out
    assert (tmp_path / "finetune" / "job.json").is_file()  # default: next to TRAIN

    assert run(fake, "finetune", str(train), "--validation", str(val), "--no-progress") == 0
    second = capsys.readouterr()
    assert fake.log.count("fine_tuning.jobs.create") == 1
    assert f"job {job_id} succeeded" in second.out
    assert "metrics:" in second.out
    assert "re-attaching" in second.err
    assert "job " + job_id + ": succeeded" in second.err


def test_settings_reach_the_job_and_json_output_parses(
    fake: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, _ = training_files(tmp_path)
    code = run(
        fake,
        "finetune",
        str(train),
        "--epochs",
        "2",
        "--batch-size",
        "3",
        "--lr-multiplier",
        "0.5",
        "--suffix",
        "covers",
        "--seed",
        "11",
        "--metadata",
        "team=vision",
        "--integration",
        '{"type": "wandb", "wandb": {"project": "vqa"}}',
        "--run-dir",
        str(tmp_path / "r"),
        "--max-cost-usd",
        "50",
        "--json",
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    body = fake.log.records("fine_tuning.jobs.create")[0].body
    assert body["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": 3,
        "learning_rate_multiplier": 0.5,
    }
    assert body["seed"] == 11
    assert body["metadata"]["team"] == "vision"
    assert body["integrations"][0]["wandb"]["project"] == "vqa"
    assert result["job"]["status"] == "succeeded"
    assert result["job"]["suffix"] == "covers"
    assert len(result["metrics"]["rows"]) == 2 * 4  # 12 examples / batch 3, 2 epochs
    assert result["estimated_cost_usd"] > 0


def test_bad_settings_are_config_errors(fake: FakeOpenAI, tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    with pytest.raises(ConfigError) as info:
        run(fake, "finetune", str(train), "--epochs", "0")
    assert "n_epochs" in str(info.value)
    with pytest.raises(ConfigError):
        run(fake, "finetune", str(train), "--suffix", "x" * 65)
    assert fake.log.count() == 0


def test_a_failed_job_raises_from_the_command(fake: FakeOpenAI, tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    fake.job_script = ["validating_files", JobStep.failed("server_error", "Internal failure")]
    with pytest.raises(FineTuneJobError) as info:
        run(fake, "finetune", str(train), "--no-progress")
    assert info.value.code == "server_error"
    assert "Internal failure" in str(info.value)


def test_jobs_list_status_events_cancel(
    fake: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, _ = training_files(tmp_path)
    fake.job_script = ["validating_files", "queued", "running", "running", "succeeded"]
    run(fake, "finetune", str(train), "--no-wait", "--run-dir", str(tmp_path / "a"))
    run(
        fake, "finetune", str(train), "--no-wait", "--suffix", "b", "--run-dir", str(tmp_path / "b")
    )
    capsys.readouterr()
    a = json.loads((tmp_path / "a" / "job.json").read_text())["job_id"]
    b = json.loads((tmp_path / "b" / "job.json").read_text())["job_id"]

    assert run(fake, "jobs", "list") == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing] == [b, a]  # newest first

    assert run(fake, "jobs", "status", "--run-dir", str(tmp_path / "a"), "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["id"] == a
    assert status["status"] == "queued"  # each retrieve moves a FakeOpenAI job one step

    assert run(fake, "jobs", "events", a, "--limit", "2") == 0
    events = capsys.readouterr().out.splitlines()
    assert len(events) == 2
    assert events[-1].endswith("Files validated, moving job to queued state")  # oldest first

    assert run(fake, "jobs", "cancel", b) == 0
    assert capsys.readouterr().out.startswith(f"{b} cancelled")
    assert fake.job_status(b) == "cancelled"
    assert fake.job_status(a) != "cancelled"


def test_jobs_status_needs_an_id_or_a_run_dir(fake: FakeOpenAI) -> None:
    with pytest.raises(ConfigError) as info:
        run(fake, "jobs", "status")
    assert "no fine-tuning job id" in str(info.value)
