"""vqaft's real OpenAI calls against Prism serving OpenAI's published spec.

Prism validates every request against ``openapi.fixed.json`` and answers with the spec's static
examples, so these tests check that what vqaft *sends* is what OpenAI documents (a request
that breaks the spec gets 422) and that vqaft *reads* the documented answers. They assert on
types, never on example values, and read paginated lists one page at a time (Prism always
says ``has_more``). Skipped, with the install command, where Prism or Node is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from bad_files_corpus import cover_url, good_records
from helpers_finetune import Recorder, training_files
from prism import DUMMY_KEY, PrismServer, prism_server  # noqa: F401 - the fixture
from vqaft.errors import FineTuneJobError
from vqaft.finetune import (
    Checkpoint,
    FineTuneConfig,
    FineTuneJob,
    Hyperparameters,
    JobEvent,
    JobStatus,
)
from vqaft.finetune._api import api_errors
from vqaft.finetune.openai_backend import OpenAIFineTuner

pytestmark = pytest.mark.slow


@pytest.fixture
def client(prism_server: PrismServer) -> Iterator[openai.OpenAI]:  # noqa: F811
    # Prism hangs on bodies that are not JSON: always a short timeout; no retries so that a
    # 422 surfaces at once.
    with openai.OpenAI(
        base_url=prism_server.base_url, api_key=DUMMY_KEY, timeout=20, max_retries=0
    ) as api:
        yield api


def _tuner(client: openai.OpenAI, run_dir: Path | None, **kwargs: object) -> OpenAIFineTuner:
    options: dict[str, object] = {"poll_interval": 0, "progress": Recorder()}
    options.update(kwargs)
    return OpenAIFineTuner(run_dir, client=client, **options)  # type: ignore[arg-type]


def test_validation_is_on_an_invalid_request_gets_422(client: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.fine_tuning.jobs.create(model="gpt-4o-2024-08-06", training_file=None)  # type: ignore[arg-type]
    assert info.value.status_code == 422
    body = info.value.body
    assert isinstance(body, dict)
    assert any("training_file" in json.dumps(v) for v in body["validation"])
    # and vqaft turns such a refusal into its own error, naming the status
    with (
        pytest.raises(FineTuneJobError) as wrapped,
        api_errors("cannot create the fine-tuning job", secret=DUMMY_KEY),
    ):
        client.fine_tuning.jobs.create(
            model="gpt-4o-2024-08-06",
            training_file="file-abc",
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": "x"}}},  # type: ignore[typeddict-item]
        )
    assert "HTTP 422" in str(wrapped.value)


def test_finetuner_uploads_and_creates_a_job_as_the_spec_says(
    client: openai.OpenAI, tmp_path: Path
) -> None:
    train, val = training_files(tmp_path)
    config = FineTuneConfig(
        hyperparameters=Hyperparameters(n_epochs=2, batch_size=4, learning_rate_multiplier=1.5),
        suffix="covers",
        seed=42,
        metadata={"experiment": "conformance"},
        integrations=[{"type": "wandb", "wandb": {"project": "vqaft", "tags": ["ci"]}}],
    )
    tuner = _tuner(client, tmp_path / "run")
    job = tuner.start(train, val, config=config)  # files.create x2, fine_tuning.jobs.create
    assert isinstance(job, FineTuneJob)
    assert isinstance(job.id, str)
    assert job.id
    assert isinstance(job.status, JobStatus)
    assert set(tuner.state.files) == {"train", "validation"}
    assert all(isinstance(f.file_id, str) for f in tuner.state.files.values())
    # "auto" hyperparameters are valid too
    auto = _tuner(client, tmp_path / "auto").start(train)
    assert isinstance(auto.id, str)


def test_finetuner_multipart_upload_as_the_spec_says(client: openai.OpenAI, tmp_path: Path) -> None:
    train, _ = training_files(tmp_path)
    tuner = _tuner(client, tmp_path / "run", files_api_limit=4096, part_size=4096)
    # uploads.create, uploads.parts.create for each part, uploads.complete: Prism accepts them
    # all (a request breaking the spec would fail with HTTP 422 instead). The spec's example
    # Upload then comes back "pending" with no file object, and vqaft says so clearly.
    with pytest.raises(FineTuneJobError, match="completed without a file") as info:
        tuner.start(train)
    assert info.value.code == "upload_failed"
    pending = tuner.state.pending_uploads["train"]
    assert len(pending.part_ids) == -(-train.stat().st_size // 4096)
    assert pending.part_ids[0]


def test_job_retrieve_events_checkpoints_list_and_cancel(client: openai.OpenAI) -> None:
    tuner = _tuner(client, None)
    job = tuner.status("ftjob-abc123")
    assert isinstance(job, FineTuneJob)
    assert isinstance(job.status, JobStatus)

    events = tuner.events("ftjob-abc123", limit=5)  # first page only
    assert events
    assert all(isinstance(e, JobEvent) for e in events)
    assert all(isinstance(e.message, str) and isinstance(e.level, str) for e in events)

    checkpoints = tuner.checkpoints("ftjob-abc123")  # first page only
    assert all(isinstance(c, Checkpoint) for c in checkpoints)
    assert all(isinstance(v, float) or v is None for c in checkpoints for v in c.metrics.values())

    jobs = tuner.list_jobs(limit=3)
    assert all(isinstance(j, FineTuneJob) for j in jobs)

    cancelled = tuner.cancel("ftjob-abc123")
    assert isinstance(cancelled, FineTuneJob)

    # Following events stops at the first event already seen, even when the server says
    # has_more forever (as Prism does): this returns instead of paging without end.
    assert tuner.all_events("ftjob-abc123")


def test_result_file_download_failure_is_a_clear_error(client: openai.OpenAI) -> None:
    # The SDK asks files.content for "Accept: application/binary", while the spec declares
    # only application/json for it, so Prism answers 406: vqaft must turn that into its own
    # error naming the status and the file, not crash. (FakeOpenAI covers the real decoding.)
    tuner = _tuner(client, None)
    job = FineTuneJob(id="ftjob-abc123", status=JobStatus.SUCCEEDED, result_files=["file-abc"])
    with pytest.raises(FineTuneJobError) as info:
        tuner.result_metrics(job)
    assert "file-abc" in str(info.value)
    assert "HTTP 406" in str(info.value) or info.value.code == "bad_result_file"


def test_chat_completion_with_image_parts(client: openai.OpenAI) -> None:
    record = good_records(1, answers=False)[0]
    messages = record["messages"]
    assert any(
        part.get("type") == "image_url"
        for m in messages
        if isinstance(m.get("content"), list)
        for part in m["content"]
    )
    reply = client.chat.completions.create(
        model="gpt-4o-2024-08-06",
        messages=messages,
        temperature=0,
        max_tokens=32,
        seed=1,
    )
    assert isinstance(reply.id, str)
    assert reply.choices
    assert isinstance(reply.choices[0].message.role, str)
    # an image part without its url breaks the spec
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(
            model="gpt-4o-2024-08-06",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Who wrote this book?"},
                        {"type": "image_url", "image_url": {"detail": "low"}},  # type: ignore[typeddict-item]
                    ],
                }
            ],
        )


def test_batch_input_upload_and_batch_create(client: openai.OpenAI) -> None:
    lines = []
    for i in range(3):
        body = {
            "model": "gpt-4o-2024-08-06",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Who wrote this book?"},
                        {"type": "image_url", "image_url": {"url": cover_url(i), "detail": "low"}},
                    ],
                }
            ],
            "max_tokens": 32,
        }
        lines.append(
            json.dumps(
                {
                    "custom_id": f"cover-{i}:0",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": body,
                }
            )
        )
    data = ("\n".join(lines) + "\n").encode()
    uploaded = client.files.create(file=("batch.jsonl", data, "application/jsonl"), purpose="batch")
    assert isinstance(uploaded.id, str)
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"run": "conformance"},
    )
    assert isinstance(batch.id, str)
    assert isinstance(batch.status, str)
    # an endpoint the spec does not allow is refused
    with pytest.raises(openai.UnprocessableEntityError):
        client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/not-an-endpoint",  # type: ignore[arg-type]
            completion_window="24h",
        )
