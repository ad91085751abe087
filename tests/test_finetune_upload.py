"""Uploading training files: Files API for small ones, Uploads API in parts above the limit."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from helpers_finetune import Recorder, training_files
from vqaft.errors import ConfigError, FineTuneJobError
from vqaft.finetune.openai_backend import OpenAIFineTuner
from vqaft.finetune.state import JobState, load_state
from vqaft.finetune.upload import ensure_uploaded, file_digest
from vqaft.testing import FakeOpenAI, Fault

PART = 4096


def _tuner(fake: FakeOpenAI, run_dir: Path, **kwargs: object) -> OpenAIFineTuner:
    options: dict[str, object] = {"poll_interval": 0, "progress": Recorder()}
    options.update(kwargs)
    return OpenAIFineTuner(run_dir, client=fake.client(), **options)  # type: ignore[arg-type]


def test_large_files_go_through_the_uploads_api_in_parts(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    size = train.stat().st_size
    n_parts = -(-size // PART)
    assert n_parts >= 3
    # The fake enforces the same limits as OpenAI, scaled down: files.create refuses more
    # than `file_size_limit` bytes, a part may not exceed `part_size_limit`.
    with FakeOpenAI(file_size_limit=PART, part_size_limit=PART) as fake:
        recorder = Recorder()
        tuner = _tuner(fake, tmp_path / "run", files_api_limit=PART, part_size=PART)
        tuner.progress = recorder
        result = tuner.fine_tune(train)
        assert fake.log.count("files.create") == 0
        assert fake.log.count("uploads.create") == 1
        assert fake.log.count("uploads.parts.create") == n_parts
        complete = fake.log.records("uploads.complete")
        assert len(complete) == 1
        assert complete[0].body["md5"] == hashlib.md5(train.read_bytes()).hexdigest()
        created = fake.log.records("uploads.create")[0].body
        assert created["bytes"] == size
        assert created["purpose"] == "fine-tune"
        assert created["filename"] == "train.jsonl"
        # the file the job trained on is byte for byte the local file
        assert result.job.training_file is not None
        assert fake.file_content(result.job.training_file) == train.read_bytes()
    state = load_state(tmp_path / "run")
    assert state.files["train"].method == "uploads"
    assert state.files["train"].sha256 == hashlib.sha256(train.read_bytes()).hexdigest()
    assert state.pending_uploads == {}
    sent = [s for role, s, _ in recorder.uploads if role == "train"]
    assert sent[-1] == size
    assert sent == sorted(sent)


def test_an_interrupted_multipart_upload_continues_from_the_next_part(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    size = train.stat().st_size
    n_parts = -(-size // PART)
    run = tmp_path / "run"
    with FakeOpenAI(file_size_limit=PART, part_size_limit=PART) as fake:
        fake.faults.add(Fault.drop(), "uploads.parts.create", on=[3])
        tuner = OpenAIFineTuner(
            run,
            client=fake.client(max_retries=0),
            poll_interval=0,
            progress=Recorder(),
            files_api_limit=PART,
            part_size=PART,
        )
        with pytest.raises(FineTuneJobError) as info:
            tuner.start(train)
        assert info.value.code == "connection_error"
        pending = load_state(run).pending_uploads["train"]
        assert len(pending.part_ids) == 2
        # run again: the same Upload continues with part 3
        job = _tuner(fake, run, files_api_limit=PART, part_size=PART).start(train)
        assert fake.log.count("uploads.create") == 1
        assert fake.log.count("uploads.parts.create", status=200) == n_parts
        assert fake.log.count("uploads.complete") == 1
        assert job.training_file is not None
        assert fake.file_content(job.training_file) == train.read_bytes()


def test_an_expired_upload_is_started_again(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    run = tmp_path / "run"
    with FakeOpenAI(file_size_limit=PART, part_size_limit=PART) as fake:
        fake.faults.add(Fault.drop(), "uploads.parts.create", on=[2])
        tuner = OpenAIFineTuner(
            run,
            client=fake.client(max_retries=0),
            poll_interval=0,
            progress=Recorder(),
            files_api_limit=PART,
            part_size=PART,
        )
        with pytest.raises(FineTuneJobError):
            tuner.start(train)
        upload_id = load_state(run).pending_uploads["train"].upload_id
        fake.client().uploads.cancel(upload_id)  # what expiry looks like: parts refused
        recorder = Recorder()
        job = _tuner(fake, run, files_api_limit=PART, part_size=PART)
        job.progress = recorder
        started = job.start(train)
        assert fake.log.count("uploads.create") == 2
        assert started.training_file is not None
        assert fake.file_content(started.training_file) == train.read_bytes()
    assert any("starting it again" in m for m in recorder.messages)


def test_small_files_use_one_files_request_and_record_their_digest(tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    state = JobState()
    saves: list[int] = []
    with FakeOpenAI() as fake:
        client = fake.client()
        record = ensure_uploaded(
            client, train, "train", state, save=lambda: saves.append(1), progress=Recorder()
        )
        again = ensure_uploaded(
            client, train, "train", state, save=lambda: saves.append(1), progress=Recorder()
        )
        assert fake.log.count("files.create") == 1
        form = fake.log.records("files.create")[0].body
        assert form["purpose"] == "fine-tune"
    assert record == again
    assert (record.sha256, record.bytes) == file_digest(train)
    assert record.method == "files"
    assert saves  # recorded as soon as it was uploaded


def test_training_files_must_exist_and_be_jsonl(tmp_path: Path) -> None:
    with FakeOpenAI() as fake:
        tuner = _tuner(fake, tmp_path / "run")
        with pytest.raises(ConfigError) as missing:
            tuner.start(tmp_path / "nope.jsonl")
        wrong = tmp_path / "train.json"
        wrong.write_text("{}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as suffix:
            tuner.start(wrong)
        assert fake.log.count() == 0
    assert "not found" in str(missing.value)
    assert ".jsonl" in str(suffix.value)
