"""The openai fine-tuner's job lifecycle, against FakeOpenAI over real HTTP."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from helpers_finetune import Recorder, training_files
from vqaft.errors import FineTuneJobError
from vqaft.finetune import FineTuneConfig, Hyperparameters, JobStatus
from vqaft.finetune.openai_backend import OpenAIFineTuner
from vqaft.testing import RESULT_COLUMNS, FakeOpenAI, JobEvent, JobStep


def _tuner(fake: FakeOpenAI, run_dir: Path, recorder: Recorder | None = None) -> OpenAIFineTuner:
    return OpenAIFineTuner(
        run_dir, client=fake.client(), poll_interval=0, progress=recorder or Recorder()
    )


def test_full_lifecycle_to_success_with_metrics_table(tmp_path: Path) -> None:
    train, val = training_files(tmp_path)
    recorder = Recorder()
    config = FineTuneConfig(
        hyperparameters=Hyperparameters(n_epochs=2, batch_size=4, learning_rate_multiplier=1.5),
        suffix="covers",
        seed=7,
        metadata={"experiment": "ocr-vqa"},
        integrations=[{"type": "wandb", "wandb": {"project": "vqa"}}],
    )
    with FakeOpenAI() as fake:
        tuner = _tuner(fake, tmp_path / "run", recorder)
        result = tuner.fine_tune(train, val, config=config)

        create = fake.log.records("fine_tuning.jobs.create")
        assert len(create) == 1
        body = create[0].body
        assert body["model"] == "gpt-4o-2024-08-06"
        assert body["method"] == {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "n_epochs": 2,
                    "batch_size": 4,
                    "learning_rate_multiplier": 1.5,
                }
            },
        }
        assert body["suffix"] == "covers"
        assert body["seed"] == 7
        assert body["metadata"]["experiment"] == "ocr-vqa"
        assert body["integrations"] == [{"type": "wandb", "wandb": {"project": "vqa"}}]
        assert body["validation_file"].startswith("file-")
        # what the result file really holds is base64; the table holds the decoded numbers
        raw = fake.file_content(result.job.result_files[0])
        csv_text = base64.b64decode(raw).decode()

    job = result.job
    assert job.status is JobStatus.SUCCEEDED
    assert job.fine_tuned_model is not None
    assert job.fine_tuned_model.startswith("ft:gpt-4o-2024-08-06:fake:covers:")
    assert job.hyperparameters["n_epochs"] == 2
    # the lifecycle was reported in order, each change once
    assert recorder.status_values == ["validating_files", "queued", "running", "succeeded"]
    assert any("Fine-tuning job started" in e.message for e in recorder.events)
    # metrics: 12 examples / batch 4 = 3 steps per epoch, 2 epochs
    metrics = result.metrics
    assert metrics is not None
    assert metrics.columns == list(RESULT_COLUMNS)
    assert [row.step for row in metrics.rows] == list(range(1, 7))
    assert metrics.rows[0].train_loss is not None
    assert metrics.final()["full_valid_loss"] is not None
    assert metrics.to_csv().splitlines()[0] == csv_text.splitlines()[0]
    losses = [v for v in metrics.column("train_loss") if v is not None]
    assert len(losses) == 6
    assert losses[-1] < losses[0]
    # checkpoints and files in the run directory
    assert result.checkpoints
    assert result.checkpoints[0].fine_tuned_model_checkpoint
    run = tmp_path / "run"
    state = json.loads((run / "job.json").read_text())
    assert state["job_id"] == job.id
    assert state["status"] == "succeeded"
    assert state["fine_tuned_model"] == job.fine_tuned_model
    assert set(state["files"]) == {"train", "validation"}
    assert state["files"]["train"]["sha256"]
    assert state["files"]["train"]["file_id"]
    saved = json.loads((run / "result.json").read_text())
    assert saved["job"]["id"] == job.id
    assert len(saved["metrics"]["rows"]) == 6
    assert (run / "metrics.csv").read_text().startswith("step,train_loss")
    assert "Step" in (run / "events.jsonl").read_text()


def test_failed_job_raises_with_the_api_code_and_message(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    script = [
        "validating_files",
        JobStep.failed(
            "invalid_training_file",
            "Line 5: the assistant message is missing",
            param="training_file",
        ),
    ]
    with FakeOpenAI(job_script=script) as fake:
        tuner = _tuner(fake, tmp_path / "run")
        with pytest.raises(FineTuneJobError) as info:
            tuner.fine_tune(train)
        error = info.value
        assert error.code == "invalid_training_file"
        assert "Line 5: the assistant message is missing" in str(error)
        assert error.job_id is not None
        assert error.job_id in str(error)
        assert error.hint is not None
        assert "--new-job" in error.hint
        state = json.loads((tmp_path / "run" / "job.json").read_text())
        assert state["status"] == "failed"
        assert state["error"]["code"] == "invalid_training_file"

        # waiting again re-attaches to the same failed job: same error, no new job
        again = _tuner(fake, tmp_path / "run")
        with pytest.raises(FineTuneJobError) as second:
            again.fine_tune(train)
        assert second.value.code == "invalid_training_file"
        assert second.value.job_id == error.job_id
        assert fake.log.count("fine_tuning.jobs.create") == 1


def test_invalid_file_detected_by_the_service_surfaces_its_code(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path, n_train=4)  # fewer than the 10 the service needs
    with FakeOpenAI() as fake, pytest.raises(FineTuneJobError) as info:
        _tuner(fake, tmp_path / "run").fine_tune(train)
    assert info.value.code == "invalid_training_file"


def test_cancel_then_wait_raises_a_clear_error(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    script = ["validating_files", "queued", "running", "running", "running", "succeeded"]
    with FakeOpenAI(job_script=script) as fake:
        tuner = _tuner(fake, tmp_path / "run")
        job = tuner.start(train)
        assert job.status is JobStatus.VALIDATING_FILES
        cancelled = tuner.cancel()  # the run's own job
        assert cancelled.id == job.id
        assert cancelled.status is JobStatus.CANCELLED
        assert fake.job_status(job.id) == "cancelled"
        with pytest.raises(FineTuneJobError) as info:
            tuner.wait()
        assert info.value.code == "cancelled"
        assert "cancelled" in str(info.value)
        assert json.loads((tmp_path / "run" / "job.json").read_text())["status"] == "cancelled"


def test_moderation_skips_are_counted_and_listed(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    script = [
        "validating_files",
        JobStep("running", events=(JobEvent.moderation_skipped(2, lines=[3, 7]),)),
        JobStep("running", events=(JobEvent.moderation_skipped(1, lines=[11]),)),
        "succeeded",
    ]
    with FakeOpenAI(job_script=script) as fake:
        recorder = Recorder()
        result = _tuner(fake, tmp_path / "run", recorder).fine_tune(train)
    assert result.moderation.skipped_examples == 3
    assert result.moderation.lines == [3, 7, 11]
    assert len(result.moderation.messages) == 2
    assert "3 training examples skipped (lines 3, 7, 11)" in result.summary()
    warned = [e for e in recorder.events if e.level == "warn"]
    assert len(warned) == 2  # reported as they arrived, once each
    assert any("skipped by content moderation" in m for m in recorder.messages)


def test_paused_and_pausing_are_reported_while_waiting(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    script = ["validating_files", "running", "pausing", "paused", "running", "succeeded"]
    with FakeOpenAI(job_script=script) as fake:
        recorder = Recorder()
        _tuner(fake, tmp_path / "run", recorder).fine_tune(train)
    assert recorder.status_values == [
        "validating_files",
        "running",
        "pausing",
        "paused",
        "running",
        "succeeded",
    ]


def test_wait_survives_transient_errors_and_reports_each_event_once(tmp_path: Path) -> None:
    from vqaft.testing import Fault

    train, _ = training_files(tmp_path)
    with FakeOpenAI() as fake:
        client = fake.client(max_retries=0)
        recorder = Recorder()
        tuner = OpenAIFineTuner(tmp_path / "run", client=client, poll_interval=0, progress=recorder)
        fake.faults.add(Fault.server_error(503), "fine_tuning.jobs.retrieve", on=[2])
        fake.faults.add(Fault.drop(), "fine_tuning.jobs.list_events", on=[2])
        result = tuner.fine_tune(train)
        assert fake.log.count("fine_tuning.jobs.retrieve", status=503) == 1
    assert result.job.status is JobStatus.SUCCEEDED
    ids = [e.id for e in recorder.events]
    assert len(ids) == len(set(ids))
    assert any("successfully completed" in e.message for e in recorder.events)


def test_wait_gives_up_after_too_many_transient_errors(tmp_path: Path) -> None:
    from vqaft.testing import Fault

    train, _ = training_files(tmp_path)
    with FakeOpenAI() as fake:
        tuner = OpenAIFineTuner(
            tmp_path / "run",
            client=fake.client(max_retries=0),
            poll_interval=0,
            progress=Recorder(),
            max_transient_errors=2,
        )
        job = tuner.start(train)
        fake.faults.add(Fault.server_error(500), "fine_tuning.jobs.retrieve")
        with pytest.raises(FineTuneJobError) as info:
            tuner.wait()
        assert info.value.code == "connection_error"
        assert "re-attach" in (info.value.hint or "")
        # the job is untouched; waiting again (faults gone) finishes it
        fake.faults.clear()
        assert tuner.wait().id == job.id


def test_wait_timeout_leaves_the_job_running(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    with FakeOpenAI(job_script=["validating_files"] + ["running"] * 50 + ["succeeded"]) as fake:
        tuner = _tuner(fake, tmp_path / "run")
        job = tuner.start(train)
        with pytest.raises(FineTuneJobError) as info:
            tuner.wait(timeout=0)
        assert info.value.code == "timeout"
        assert fake.job_status(job.id) == "running"
