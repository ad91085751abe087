"""Idempotent, resumable fine-tuning: re-attach instead of paying twice, skip re-uploads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers_finetune import Recorder, training_files
from vqaft.errors import ConfigError
from vqaft.finetune import FineTuneConfig, Hyperparameters, JobStatus
from vqaft.finetune.openai_backend import FINGERPRINT_KEY, OpenAIFineTuner
from vqaft.finetune.state import load_state, save_state
from vqaft.testing import FakeOpenAI, Fault


def _tuner(fake: FakeOpenAI, run_dir: Path, recorder: Recorder | None = None) -> OpenAIFineTuner:
    return OpenAIFineTuner(
        run_dir, client=fake.client(), poll_interval=0, progress=recorder or Recorder()
    )


def test_rerun_reattaches_instead_of_creating_a_second_job(tmp_path: Path) -> None:
    train, val = training_files(tmp_path)
    run = tmp_path / "run"
    config = FineTuneConfig(hyperparameters=Hyperparameters(n_epochs=2), suffix="a")
    with FakeOpenAI() as fake:
        first = _tuner(fake, run).fine_tune(train, val, config=config)
        recorder = Recorder()
        second = _tuner(fake, run, recorder).fine_tune(train, val, config=config)
        # and a third time, only starting (as `--no-wait` would)
        third = _tuner(fake, run).start(train, val, config=config)

        assert fake.log.count("fine_tuning.jobs.create") == 1
        assert fake.log.count("files.create") == 2  # train + validation, once each
    assert first.job.id == second.job.id == third.id
    assert second.job.fine_tuned_model == first.job.fine_tuned_model
    assert any("re-attaching" in m for m in recorder.messages)
    assert second.metrics is not None
    assert len(second.metrics) == len(first.metrics or [])


def test_rerun_after_interrupted_wait_continues_the_same_job(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    run = tmp_path / "run"
    with FakeOpenAI(job_script=["validating_files", "queued", "running", "succeeded"]) as fake:
        job = _tuner(fake, run).start(train)  # e.g. `--no-wait`, or a crash while waiting
        fake.advance_job(job.id, 1)
        recorder = Recorder()
        result = _tuner(fake, run, recorder).fine_tune(train)
        assert fake.log.count("fine_tuning.jobs.create") == 1
    assert result.job.id == job.id
    assert result.job.status is JobStatus.SUCCEEDED
    # events already written to events.jsonl by the first run are not reported twice
    lines = (run / "events.jsonl").read_text().splitlines()
    ids = [json.loads(line)["event"]["id"] for line in lines]
    assert len(ids) == len(set(ids))


def test_resume_by_job_id_attaches_without_uploading_or_creating(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    with FakeOpenAI() as fake:
        job = _tuner(fake, tmp_path / "elsewhere").start(train)
        fake.reset_log()
        result = _tuner(fake, tmp_path / "run").fine_tune(train, resume=job.id)
        assert fake.log.count("fine_tuning.jobs.create") == 0
        assert fake.log.count("files.create") == 0
        # afterwards the run directory knows the job: a plain rerun re-attaches to it
        again = _tuner(fake, tmp_path / "run").start(train)
        assert fake.log.count("fine_tuning.jobs.create") == 0
    assert result.job.id == job.id == again.id
    assert load_state(tmp_path / "run").job_id == job.id


def test_resume_of_an_unknown_job_is_a_clear_error(tmp_path: Path) -> None:
    from vqaft.errors import FineTuneJobError

    train, _ = training_files(tmp_path)
    with FakeOpenAI() as fake, pytest.raises(FineTuneJobError) as info:
        _tuner(fake, tmp_path / "run").start(train, resume="ftjob-doesnotexist")
    assert "ftjob-doesnotexist" in str(info.value)
    assert "404" in str(info.value)


def test_other_settings_in_the_same_run_dir_are_refused(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    run = tmp_path / "run"
    with FakeOpenAI() as fake:
        job = _tuner(fake, run).start(train, config=FineTuneConfig(suffix="one"))
        with pytest.raises(ConfigError) as info:
            _tuner(fake, run).start(train, config=FineTuneConfig(suffix="two"))
        assert job.id in str(info.value)
        assert "--new-job" in (info.value.hint or "")
        assert fake.log.count("fine_tuning.jobs.create") == 1


def test_a_changed_training_file_is_refused_then_new_job_uploads_it(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    run = tmp_path / "run"
    with FakeOpenAI() as fake:
        first = _tuner(fake, run).start(train)
        with train.open("a", encoding="utf-8") as handle:
            handle.write(train.read_text(encoding="utf-8").splitlines()[0] + "\n")
        with pytest.raises(ConfigError):
            _tuner(fake, run).start(train)
        second = _tuner(fake, run).start(train, new_job=True)
        assert fake.log.count("files.create") == 2  # the changed file was uploaded again
        assert fake.log.count("fine_tuning.jobs.create") == 2
    assert second.id != first.id
    state = load_state(run)
    assert state.job_id == second.id
    assert [p.job_id for p in state.previous_jobs] == [first.id]


def test_new_job_with_unchanged_files_skips_the_uploads(tmp_path: Path) -> None:
    train, val = training_files(tmp_path)
    run = tmp_path / "run"
    with FakeOpenAI() as fake:
        first = _tuner(fake, run).start(train, val)
        recorder = Recorder()
        second = _tuner(fake, run, recorder).start(train, val, new_job=True)
        assert fake.log.count("files.create") == 2
        assert fake.log.count("files.retrieve") == 2  # checked the files are still there
        assert fake.log.count("fine_tuning.jobs.create") == 2
    assert second.id != first.id
    assert second.training_file == first.training_file
    assert sum("not uploading again" in m for m in recorder.messages) == 2


def test_a_deleted_upload_is_uploaded_again(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    run = tmp_path / "run"
    with FakeOpenAI() as fake:
        client = fake.client()
        first = _tuner(fake, run).start(train)
        assert first.training_file is not None
        client.files.delete(first.training_file)
        second = _tuner(fake, run).start(train, new_job=True)
        assert fake.log.count("files.create") == 2
    assert second.training_file != first.training_file


def test_crash_before_saving_the_job_id_finds_the_job_by_fingerprint(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    run = tmp_path / "run"
    with FakeOpenAI() as fake:
        job = _tuner(fake, run).start(train)
        # Simulate a crash between the create request and saving its answer: the state
        # says a create was under way, but holds no job id.
        state = load_state(run)
        state.job_id = None
        state.status = None
        state.creating_since = 1.0
        save_state(run, state)
        fake.reset_log()
        recorder = Recorder()
        found = _tuner(fake, run, recorder).start(train)
        assert fake.log.count("fine_tuning.jobs.create") == 0
        assert fake.log.count("fine_tuning.jobs.list") == 1
    assert found.id == job.id
    assert (found.metadata or {}).get(FINGERPRINT_KEY) == state.fingerprint
    assert load_state(run).job_id == job.id


def test_a_lost_create_answer_is_looked_up_before_retrying(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    with FakeOpenAI() as fake:
        fake.faults.add(Fault.drop(), "fine_tuning.jobs.create", on=[1])
        job = _tuner(fake, tmp_path / "run").start(train)
        assert fake.log.count("fine_tuning.jobs.create") == 2  # the dropped one + one retry
        assert fake.log.count("fine_tuning.jobs.create", status=200) == 1
        assert fake.log.count("fine_tuning.jobs.list") == 1  # looked before retrying
        listed = fake.client().fine_tuning.jobs.list(limit=10).data
    assert [j.id for j in listed] == [job.id]


def test_a_refused_create_clears_the_pending_mark(tmp_path: Path) -> None:
    from vqaft.errors import FineTuneJobError

    train, _ = training_files(tmp_path)
    run = tmp_path / "run"
    with FakeOpenAI() as fake:
        fake.faults.add(
            Fault.bad_request("Invalid suffix.", param="suffix"),
            "fine_tuning.jobs.create",
            times=1,
        )
        with pytest.raises(FineTuneJobError) as info:
            _tuner(fake, run).start(train)
        assert "Invalid suffix." in str(info.value)
        assert "HTTP 400" in str(info.value)
        assert load_state(run).creating_since is None
        # the next run starts afresh (files already up), without a useless lookup
        job = _tuner(fake, run).start(train)
        assert fake.log.count("fine_tuning.jobs.list") == 0
        assert fake.log.count("files.create") == 1
    assert job.status is JobStatus.VALIDATING_FILES


def test_a_damaged_state_file_is_never_overwritten(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "job.json").write_text('{"job_id": "ftjob-abc", "files": ', encoding="utf-8")
    with FakeOpenAI() as fake, pytest.raises(ConfigError) as info:
        _tuner(fake, run)
    assert "job.json" in str(info.value)
    assert (run / "job.json").read_text(encoding="utf-8").startswith('{"job_id": "ftjob-abc"')


def test_without_a_run_dir_nothing_is_written(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    before = set(tmp_path.rglob("*"))
    with FakeOpenAI() as fake:
        tuner = OpenAIFineTuner(client=fake.client(), poll_interval=0, progress=Recorder())
        result = tuner.fine_tune(train)
    assert result.job.status is JobStatus.SUCCEEDED
    assert set(tmp_path.rglob("*")) == before
