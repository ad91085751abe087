"""FakeOpenAI through the real ``openai`` SDK over HTTP on 127.0.0.1 (no patching)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import hashlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import psutil
import pytest
from pydantic import BaseModel

from vqaft.errors import ConfigError
from vqaft.testing import (
    RESULT_COLUMNS,
    ChatRequest,
    FakeOpenAI,
    FakeServerError,
    Fault,
    JobEvent,
    JobStep,
    Reply,
    RequestInfo,
    example_from_schema,
)

MODEL = "gpt-4o-2024-08-06"
USER = [{"role": "user", "content": "What is the title of this book?"}]


def chat_jsonl(n: int) -> bytes:
    lines = [
        {
            "messages": [
                {"role": "system", "content": "Answer about the cover."},
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"answer {i}"},
            ]
        }
        for i in range(n)
    ]
    return ("\n".join(json.dumps(line) for line in lines) + "\n").encode()


def batch_jsonl(ids: list[str]) -> bytes:
    lines = [
        {
            "custom_id": cid,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": [{"role": "user", "content": f"q {cid}"}]},
        }
        for cid in ids
    ]
    return "\n".join(json.dumps(line) for line in lines).encode()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> openai.OpenAI:
    return fake.client(max_retries=0)


# -- server lifecycle ---------------------------------------------------------------------


def _server_sockets(port: int) -> list[Any]:
    return [c for c in psutil.Process().net_connections(kind="tcp") if c.laddr.port == port]


def _server_sockets_after_close(port: int) -> list[Any]:
    # The kernel finishes tearing a closed socket down asynchronously, and psutil's view can
    # lag by a moment: look again for a while before calling a socket leaked.
    deadline = time.monotonic() + 3
    while (left := _server_sockets(port)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _server_sockets_at_least(port: int, count: int) -> list[Any]:
    # A connection the kernel has completed but the server has not accept()ed yet belongs to
    # no file descriptor, so psutil cannot see it: give the accepting thread a moment.
    deadline = time.monotonic() + 5
    while len(found := _server_sockets(port)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def test_context_manager_serves_on_loopback_and_shuts_down_cleanly() -> None:
    threads_before = set(threading.enumerate())
    with FakeOpenAI() as fake:
        assert fake.base_url == f"http://127.0.0.1:{fake.port}/v1"
        port = fake.port
        client = fake.client()
        client.models.list()  # leaves a keep-alive connection open
        idle = socket.create_connection(("127.0.0.1", port))  # an idle client, never sends
        assert len(_server_sockets_at_least(port, 3)) >= 3  # listener + two accepted ones
    assert not fake.running
    assert _server_sockets_after_close(port) == []
    assert idle.recv(1) == b""  # the server closed the idle connection
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    leaked = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    assert leaked == []


def test_stop_releases_a_held_request_without_waiting_for_it() -> None:
    fake = FakeOpenAI().start()
    fake.faults.add(Fault.timeout(hold=60), "chat.completions")
    client = fake.client(max_retries=0, timeout=30)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.chat.completions.create(model=MODEL, messages=USER)
        except openai.APIError as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    while fake.log.counters().in_flight == 0 and len(fake.log) == 0:
        time.sleep(0.01)
    fake.stop()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], openai.APIConnectionError)


def test_repr_and_invalid_settings() -> None:
    fake = FakeOpenAI(api_key="sk-secret-value")
    assert "sk-secret-value" not in repr(fake)
    with pytest.raises(ConfigError):
        FakeOpenAI(latency=-1)
    with pytest.raises(ConfigError):
        FakeOpenAI(advance=0)
    with pytest.raises(ConfigError, match="job script"):
        FakeOpenAI(job_script=["succeeded", "running"])
    with pytest.raises(ConfigError, match="unknown fine-tuning job status"):
        FakeOpenAI(job_script=["validating_files", "done"])
    with pytest.raises(ConfigError, match="did you mean"):
        fake.faults.add(Fault.drop(), "chat.completion")


# -- files and uploads --------------------------------------------------------------------


def test_files_create_retrieve_list_content_delete(client: openai.OpenAI) -> None:
    data = chat_jsonl(3)
    created = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    assert created.id.startswith("file-")
    assert (created.bytes, created.filename, created.purpose) == (
        len(data),
        "train.jsonl",
        "fine-tune",
    )
    assert client.files.retrieve(created.id).id == created.id
    assert client.files.content(created.id).read() == data

    other = client.files.create(file=("batch.jsonl", b"{}\n"), purpose="batch")
    assert [f.id for f in client.files.list()] == [other.id, created.id]  # newest first
    assert [f.id for f in client.files.list(purpose="fine-tune")] == [created.id]
    first_page = client.files.list(limit=1)
    assert [f.id for f in first_page.data] == [other.id]
    assert first_page.has_more
    assert [f.id for f in client.files.list(limit=1, after=other.id).data] == [created.id]

    deleted = client.files.delete(created.id)
    assert deleted.deleted
    assert deleted.id == created.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)


def test_files_reject_bad_purpose_and_non_jsonl(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad_purpose:
        client.files.create(file=("a.jsonl", b"{}"), purpose="nonsense")  # type: ignore[arg-type]
    assert bad_purpose.value.param == "purpose"
    with pytest.raises(openai.BadRequestError, match=r"\.jsonl"):
        client.files.create(file=("train.csv", b"a,b"), purpose="fine-tune")


def test_file_size_limit_points_to_the_uploads_api() -> None:
    with (
        FakeOpenAI(file_size_limit=100) as fake,
        pytest.raises(openai.BadRequestError, match="Uploads API"),
    ):
        fake.client(max_retries=0).files.create(file=("big.jsonl", b"x" * 101), purpose="fine-tune")


def test_uploads_in_parts_keep_bytes_exact(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    # Bytes that look like multipart syntax must survive unchanged.
    data = b'{"a": "--boundary\r\n\r\nContent-Disposition: x"}\n' * 40 + bytes(range(256))
    upload = client.uploads.upload_file_chunked(
        file=data,
        filename="big.jsonl",
        bytes=len(data),
        mime_type="text/jsonl",
        purpose="fine-tune",
        part_size=500,
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
    )
    assert upload.status == "completed"
    assert upload.file is not None
    assert client.files.content(upload.file.id).read() == data
    assert fake.log.count("uploads.parts.create") == -(-len(data) // 500)


def test_upload_checks_size_md5_and_cancel(client: openai.OpenAI) -> None:
    upload = client.uploads.create(
        bytes=10, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = client.uploads.parts.create(upload.id, data=b"12345")
    with pytest.raises(openai.BadRequestError, match="10 bytes"):
        client.uploads.complete(upload.id, part_ids=[part.id])
    part2 = client.uploads.parts.create(upload.id, data=b"67890")
    with pytest.raises(openai.BadRequestError, match="md5"):
        client.uploads.complete(upload.id, part_ids=[part.id, part2.id], md5="0" * 32)
    cancelled = client.uploads.cancel(upload.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cancelled"):
        client.uploads.parts.create(upload.id, data=b"x")


# -- fine-tuning jobs ---------------------------------------------------------------------


def test_job_lifecycle_to_success_with_result_file(client: openai.OpenAI) -> None:
    train = client.files.create(file=("train.jsonl", chat_jsonl(12)), purpose="fine-tune")
    val = client.files.create(file=("val.jsonl", chat_jsonl(4)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=train.id,
        validation_file=val.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        metadata={"run": "r1"},
    )
    assert job.status == "validating_files"
    assert job.fine_tuned_model is None
    statuses = [client.fine_tuning.jobs.retrieve(job.id).status for _ in range(4)]
    assert statuses == ["queued", "running", "succeeded", "succeeded"]

    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.fine_tuned_model == f"ft:{MODEL}:fake::{job.id[-8:]}"
    assert done.trained_tokens is not None
    assert done.trained_tokens > 0
    assert done.finished_at is not None
    assert done.error is None
    assert done.hyperparameters.n_epochs == 2
    assert done.hyperparameters.batch_size == 1

    encoded = client.files.content(done.result_files[0]).read()
    table = list(csv.DictReader(io.StringIO(base64.b64decode(encoded).decode())))
    assert tuple(table[0]) == RESULT_COLUMNS
    assert len(table) == 2 * 12  # n_epochs * examples / batch_size
    assert float(table[-1]["train_loss"]) < float(table[0]["train_loss"])
    assert table[-1]["full_valid_loss"] != ""  # a validation file was given

    events = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    oldest_first = list(reversed(events))
    order = [
        "Created fine-tuning job",
        "Validating training file",
        "Files validated",
        "Fine-tuning job started",
        "New fine-tuned model created",
        "successfully completed",
    ]
    positions = [next(i for i, m in enumerate(oldest_first) if key in m) for key in order]
    assert positions == sorted(positions)

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [24, 12]
    assert checkpoints[0].fine_tuned_model_checkpoint == done.fine_tuned_model
    assert checkpoints[1].fine_tuned_model_checkpoint.endswith(":ckpt-step-12")

    reply = client.chat.completions.create(model=done.fine_tuned_model or "", messages=USER)
    assert reply.model == done.fine_tuned_model
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model=f"ft:{MODEL}:fake::nope", messages=USER)
    assert unknown.value.code == "model_not_found"
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"run": "r1"})] == [job.id]
    assert client.fine_tuning.jobs.list(metadata={"run": "other"}).data == []


def test_job_scripted_failure_and_moderation_event() -> None:
    script = [
        "validating_files",
        JobStep("running", events=(JobEvent.moderation_skipped(2, lines=[3, 7]),)),
        JobStep.failed(
            "invalid_training_file", "Line 5 has no assistant message", param="training_file"
        ),
    ]
    with FakeOpenAI(job_script=script) as fake:
        client = fake.client(max_retries=0)
        train = client.files.create(file=("t.jsonl", chat_jsonl(10)), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=train.id)
        assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
        failed = client.fine_tuning.jobs.retrieve(job.id)
        assert failed.status == "failed"
        assert failed.fine_tuned_model is None
        assert failed.error is not None
        assert (failed.error.code, failed.error.message, failed.error.param) == (
            "invalid_training_file",
            "Line 5 has no assistant message",
            "training_file",
        )
        events = client.fine_tuning.jobs.list_events(job.id, limit=50).data
        moderation = [e for e in events if e.level == "warn"]
        assert len(moderation) == 1
        assert moderation[0].data == {
            "reason": "moderation",
            "skipped_examples": 2,
            "lines": [3, 7],
        }
        assert events[0].level == "error"  # newest first: the failure
        assert client.fine_tuning.jobs.checkpoints.list(job.id).data == []


def test_job_training_file_is_validated(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as missing:
        client.fine_tuning.jobs.create(model=MODEL, training_file="file-doesnotexist")
    assert missing.value.param == "training_file"
    batch_file = client.files.create(file=("b.jsonl", chat_jsonl(10)), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="purpose 'fine-tune'"):
        client.fine_tuning.jobs.create(model=MODEL, training_file=batch_file.id)

    broken = chat_jsonl(10) + b"not json\n"
    train = client.files.create(file=("t.jsonl", broken), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=train.id)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "invalid_training_file"
    assert "line 11" in failed.error.message

    few = client.files.create(file=("few.jsonl", chat_jsonl(3)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=few.id)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.error is not None
    assert "at least 10" in failed.error.message


def test_job_cancel_pause_resume(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    train = client.files.create(file=("t.jsonl", chat_jsonl(10)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=train.id)
    assert fake.advance_job(job.id, 2) == "running"
    assert client.fine_tuning.jobs.pause(job.id).status == "paused"
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"  # held while paused
    assert client.fine_tuning.jobs.resume(job.id).status == "running"
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cancelled"):
        client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-unknown")


def test_set_job_script_redirects_a_running_job(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    train = client.files.create(file=("t.jsonl", chat_jsonl(10)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=train.id)
    assert fake.advance_job(job.id, 2) == "running"
    fake.set_job_script(job.id, ["running", "paused", JobStep.failed("quota", "Out of credit")])
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.error is not None
    assert (failed.status, failed.error.code) == ("failed", "quota")
    assert fake.job_status(job.id) == "failed"


def test_per_job_scripts_and_time_based_advance() -> None:
    now = [1000.0]

    def script(body: Any) -> list[str]:
        return (
            ["validating_files", "failed"]
            if body.get("suffix") == "bad"
            else ["validating_files", "queued", "running", "succeeded"]
        )

    with FakeOpenAI(job_script=script, advance=60.0, clock=lambda: now[0]) as fake:
        client = fake.client(max_retries=0)
        train = client.files.create(file=("t.jsonl", chat_jsonl(10)), purpose="fine-tune")
        good = client.fine_tuning.jobs.create(model=MODEL, training_file=train.id)
        bad = client.fine_tuning.jobs.create(model=MODEL, training_file=train.id, suffix="bad")
        assert client.fine_tuning.jobs.retrieve(good.id).status == "validating_files"
        now[0] += 61
        assert client.fine_tuning.jobs.retrieve(good.id).status == "queued"
        assert client.fine_tuning.jobs.retrieve(bad.id).status == "failed"
        now[0] += 3 * 60
        assert client.fine_tuning.jobs.retrieve(good.id).status == "succeeded"
        with pytest.raises(ConfigError):
            fake.set_job_script(bad.id, ["running"])


# -- chat completions ---------------------------------------------------------------------


def test_default_responder_is_deterministic_with_usage(client: openai.OpenAI) -> None:
    one = client.chat.completions.create(model=MODEL, messages=USER)
    two = client.chat.completions.create(model=MODEL, messages=USER)
    other = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert one.choices[0].message.content == two.choices[0].message.content
    assert one.choices[0].message.content != other.choices[0].message.content
    assert one.id != two.id
    assert one.object == "chat.completion"
    assert one.choices[0].finish_reason == "stop"
    assert one.usage is not None
    assert one.usage.prompt_tokens > 0
    assert one.usage.total_tokens == one.usage.prompt_tokens + one.usage.completion_tokens


def test_responders_string_reply_full_response_and_fault() -> None:
    def responder(request: ChatRequest) -> Any:
        text = request.last_user_text
        if text == "plain":
            return f"echo {request.model} {len(request.image_urls)}"
        if text == "reply":
            return Reply(content="cut", finish_reason="length", completion_tokens=7)
        if text == "full":
            return {
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "logprobs": None,
                        "message": {"role": "assistant", "content": "verbatim"},
                    }
                ]
            }
        return Fault.bad_request("Invalid image.", param="messages")

    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 500}}
    with FakeOpenAI(responder=responder) as fake:
        client = fake.client(max_retries=0)

        def ask(text: str) -> Any:
            content = [{"type": "text", "text": text}, image]
            return client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": content}]
            )

        assert ask("plain").choices[0].message.content == f"echo {MODEL} 1"
        cut = ask("reply")
        assert cut.choices[0].finish_reason == "length"
        assert cut.usage is not None
        assert cut.usage.completion_tokens == 7
        assert ask("full").choices[0].message.content == "verbatim"
        with pytest.raises(openai.BadRequestError, match="Invalid image"):
            ask("fail")
        logged = json.dumps(fake.log.records("chat.completions")[0].body)
        assert "A" * 200 not in logged
        assert "<522 chars>" in logged


class Verdict(BaseModel):
    score: int
    reasoning: str
    label: str


def test_structured_output_parse_with_pydantic() -> None:
    with FakeOpenAI() as fake:
        parsed = fake.client(max_retries=0).chat.completions.parse(
            model=MODEL, messages=USER, response_format=Verdict
        )
        assert parsed.choices[0].message.parsed == Verdict(score=0, reasoning="fake", label="fake")

    def judge(request: ChatRequest) -> Any:
        assert request.json_schema is not None
        return Verdict(score=4, reasoning="close", label="correct")

    with FakeOpenAI(responder=judge) as fake:
        parsed = fake.client(max_retries=0).chat.completions.parse(
            model=MODEL, messages=USER, response_format=Verdict
        )
        assert parsed.choices[0].message.parsed == Verdict(
            score=4, reasoning="close", label="correct"
        )
        assert fake.internal_errors == []


def test_example_from_schema_handles_refs_and_unions() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kind": {"enum": ["a", "b"]},
            "inner": {"$ref": "#/$defs/Inner"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "number", "minimum": 2}]},
            "items": {"type": "array", "items": {"type": "boolean"}, "minItems": 2},
        },
        "required": ["kind", "inner", "maybe", "items"],
        "$defs": {
            "Inner": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        },
    }
    assert example_from_schema(schema) == {
        "kind": "a",
        "inner": {"n": 0},
        "maybe": 2.0,
        "items": [False, False],
    }


def test_chat_request_validation_and_unknown_url(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as no_messages:
        client.chat.completions.create(model=MODEL, messages=[])
    assert no_messages.value.param == "messages"
    with pytest.raises(openai.NotFoundError, match="Invalid URL"):
        client.get("/nothing/here", cast_to=object)
    assert fake.log.records()[-1].endpoint == "unknown"
    assert [m.id for m in client.models.list()][:2] == ["gpt-4o", MODEL]


# -- batches ------------------------------------------------------------------------------


def test_batch_end_to_end_with_output_and_error_files() -> None:
    def responder(request: ChatRequest) -> Any:
        if request.custom_id == "id-2":
            return Fault.bad_request("Invalid image.")
        return f"answer for {request.custom_id}"

    ids = ["id-0", "id-1", "id-2", "id-3", "id-4"]
    with FakeOpenAI(responder=responder) as fake:
        fake.faults.add(Fault.server_error(), "batch_line", when=lambda i: i.custom_id == "id-4")
        client = fake.client(max_retries=0)
        source = client.files.create(file=("in.jsonl", batch_jsonl(ids)), purpose="batch")
        batch = client.batches.create(
            input_file_id=source.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"run": "r1"},
        )
        assert batch.status == "validating"
        statuses = [client.batches.retrieve(batch.id).status for _ in range(4)]
        assert statuses == ["in_progress", "finalizing", "completed", "completed"]
        done = client.batches.retrieve(batch.id)
        assert done.request_counts is not None
        assert (
            done.request_counts.total,
            done.request_counts.completed,
            done.request_counts.failed,
        ) == (5, 3, 2)
        assert done.output_file_id
        assert done.error_file_id
        assert done.completed_at
        assert done.usage is not None
        assert done.usage.input_tokens > 0

        output = [
            json.loads(x) for x in client.files.content(done.output_file_id).read().splitlines()
        ]
        answers = {
            o["custom_id"]: o["response"]["body"]["choices"][0]["message"]["content"]
            for o in output
        }
        assert answers == {c: f"answer for {c}" for c in ("id-0", "id-1", "id-3")}
        errors = {
            json.loads(x)["custom_id"]: json.loads(x)["response"]
            for x in client.files.content(done.error_file_id).read().splitlines()
        }
        assert errors["id-2"]["status_code"] == 400
        assert errors["id-4"]["status_code"] == 500
        assert errors["id-4"]["body"]["error"]["type"] == "server_error"
        assert [b.id for b in client.batches.list()] == [batch.id]


def test_batch_with_invalid_input_fails_with_line_errors(client: openai.OpenAI) -> None:
    bad = batch_jsonl(["a", "a"]) + b"\n{broken\n"
    source = client.files.create(file=("in.jsonl", bad), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    failed = client.batches.retrieve(batch.id)
    assert failed.status == "failed"
    assert failed.errors is not None
    codes = [(e.code, e.line) for e in failed.errors.data or []]
    assert codes == [("duplicate_custom_id", 2), ("invalid_json_line", 3)]
    wrong = client.files.create(file=("t.jsonl", chat_jsonl(1)), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="purpose 'batch'"):
        client.batches.create(
            input_file_id=wrong.id, endpoint="/v1/chat/completions", completion_window="24h"
        )


def test_batch_cancel(client: openai.OpenAI) -> None:
    source = client.files.create(file=("in.jsonl", batch_jsonl(["a"])), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert client.batches.cancel(batch.id).status == "cancelling"
    cancelled = client.batches.retrieve(batch.id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at is not None
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(batch.id)


def test_expired_batch_reports_every_request_as_expired() -> None:
    with FakeOpenAI(batch_script=["validating", "in_progress", "expired"]) as fake:
        client = fake.client(max_retries=0)
        source = client.files.create(file=("in.jsonl", batch_jsonl(["a", "b"])), purpose="batch")
        batch = client.batches.create(
            input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert fake.advance_batch(batch.id, 5) == "expired"
        expired = client.batches.retrieve(batch.id)
        assert expired.output_file_id is None
        assert expired.error_file_id is not None
        lines = [json.loads(x) for x in fake.file_content(expired.error_file_id).splitlines()]
        assert [(x["custom_id"], x["error"]["code"]) for x in lines] == [
            ("a", "batch_expired"),
            ("b", "batch_expired"),
        ]


# -- faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected", "code"),
    [
        (Fault.rate_limit(retry_after=3), openai.RateLimitError, "rate_limit_exceeded"),
        (Fault.insufficient_quota(), openai.RateLimitError, "insufficient_quota"),
        (Fault.unauthorized(), openai.AuthenticationError, "invalid_api_key"),
        (Fault.server_error(), openai.InternalServerError, None),
        (Fault.overloaded(), openai.InternalServerError, None),
        (Fault.http_error(409, "busy", type="conflict"), openai.ConflictError, None),
    ],
)
def test_http_error_faults_raise_the_sdk_exception(
    fake: FakeOpenAI,
    client: openai.OpenAI,
    fault: Fault,
    expected: type[Exception],
    code: str | None,
) -> None:
    fake.faults.add(fault, "chat.completions")
    with pytest.raises(expected) as caught:
        client.chat.completions.create(model=MODEL, messages=USER)
    error = caught.value
    assert isinstance(error, openai.APIStatusError)
    assert error.status_code == fault.status
    assert error.code == code
    assert isinstance(error.body, dict)
    assert error.body["message"] == fault.message
    if fault.status == 429 and fault.code == "rate_limit_exceeded":
        assert error.response.headers["retry-after"] == "3"
        assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert fake.log.counters().by_status == {fault.status: 1}


def test_connection_faults_raise_the_sdk_exception(fake: FakeOpenAI) -> None:
    client = fake.client(max_retries=0, timeout=0.3)
    fake.faults.add(Fault.drop(), "chat.completions", on=[1])
    fake.faults.add(Fault.timeout(), "chat.completions", on=[2])
    fake.faults.add(Fault.malformed(), "chat.completions", on=[3])
    with pytest.raises(openai.APIConnectionError) as dropped:
        client.chat.completions.create(model=MODEL, messages=USER)
    assert not isinstance(dropped.value, openai.APITimeoutError)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model=MODEL, messages=USER)
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model=MODEL, messages=USER)
    assert client.chat.completions.create(model=MODEL, messages=USER).choices
    assert [r.fault for r in fake.log.records()] == ["drop", "timeout", "malformed", None]
    assert [r.status for r in fake.log.records()] == [None, None, 200, 200]
    assert fake.log.counters().by_status == {"drop": 1, "timeout": 1, 200: 2}


def test_sdk_retries_honour_retry_after(fake: FakeOpenAI) -> None:
    fake.faults.add(Fault.rate_limit(retry_after=0.8), "chat.completions", on=[1])
    reply = fake.client(max_retries=2).chat.completions.create(model=MODEL, messages=USER)
    assert reply.choices[0].message.content
    first, second = fake.log.records("chat.completions")
    assert (first.status, second.status) == (429, 200)
    assert (first.retry_count, second.retry_count) == (0, 1)
    # The SDK's own first backoff is at most 0.5 s, so a longer gap means Retry-After was used.
    assert second.timestamp - first.timestamp >= 0.75


def test_fault_script_rate_times_and_when(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    scripted = fake.faults.add(Fault.server_error(), "chat.completions", on=[3, 5])
    for _ in range(6):
        with contextlib.suppress(openai.InternalServerError):
            client.chat.completions.create(model=MODEL, messages=USER)
    assert [r.status for r in fake.log.records()] == [200, 200, 500, 200, 500, 200]
    assert (scripted.seen, scripted.fired) == (6, 2)
    client.models.list()  # other endpoints are not affected
    assert fake.log.records()[-1].status == 200

    def pattern(seed: int) -> list[bool]:
        with FakeOpenAI(seed=seed) as other:
            rule = other.faults.add(Fault.server_error(), "models", rate=0.3, times=4)
            c = other.client(max_retries=0)
            out = []
            for _ in range(30):
                try:
                    c.models.list()
                    out.append(False)
                except openai.InternalServerError:
                    out.append(True)
            assert rule.fired == sum(out)
            return out

    first = pattern(7)
    assert first == pattern(7)
    assert sum(first) == 4

    fake.faults.clear()
    fake.faults.add(Fault.unauthorized(), when=lambda info: info.endpoint == "files.list")
    with pytest.raises(openai.AuthenticationError):
        client.files.list()
    assert client.models.list().data


def test_latency_callable_and_concurrency(fake: FakeOpenAI) -> None:
    def latency(info: RequestInfo) -> float:
        return 0.05 if info.endpoint == "chat.completions" else 0.0

    fake.latency = latency

    async def run() -> list[str]:
        async with fake.async_client(max_retries=0) as client:
            replies = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": f"q{i}"}]
                    )
                    for i in range(200)
                )
            )
        return [r.choices[0].message.content or "" for r in replies]

    answers = asyncio.run(run())
    assert len(set(answers)) == 200
    counters = fake.log.counters()
    assert counters.by_endpoint == {"chat.completions": 200}
    # Served side by side, not one after another (serial service would show 1). The exact
    # figure depends on how fast the SDK can send on a busy machine, so the bar is low.
    assert counters.max_in_flight >= 10
    assert min(r.duration_s for r in fake.log.records()) >= 0.05


# -- log, counters, auth ------------------------------------------------------------------


def test_required_api_key_and_the_key_is_never_logged() -> None:
    secret = "sk-test-0123456789-very-secret"
    with FakeOpenAI(api_key=secret) as fake:
        with pytest.raises(openai.AuthenticationError):
            fake.client(api_key="sk-wrong", max_retries=0).models.list()
        assert fake.client().models.list().data  # the required key is the default
        fake.client().chat.completions.create(model=MODEL, messages=USER)
        records = fake.log.records()
        assert [r.status for r in records] == [401, 200, 200]
        assert all(r.auth_present for r in records)
        everything = repr(records) + repr(fake.log.counters()) + repr(fake)
        assert secret not in everything
        assert "sk-wrong" not in everything


def test_log_reset_and_full_reset(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    client.files.create(file=("t.jsonl", chat_jsonl(1)), purpose="fine-tune")
    fake.faults.add(Fault.server_error(), "models")
    assert fake.log.count() == 1
    fake.reset_log()
    assert fake.log.count() == 0
    assert fake.log.counters().total == 0
    assert len(client.files.list().data) == 1
    fake.reset()
    assert client.files.list().data == []
    assert client.models.list().data
    assert fake.log.records()[0].seq == 1


def test_strict_server_reports_responder_exceptions() -> None:
    def broken(request: ChatRequest) -> str:
        raise ValueError("responder bug")

    fake = FakeOpenAI(responder=broken)
    with pytest.raises(FakeServerError, match="responder bug"), fake:  # noqa: PT012
        with pytest.raises(openai.InternalServerError, match="responder bug"):
            fake.client(max_retries=0).chat.completions.create(model=MODEL, messages=USER)
        assert len(fake.internal_errors) == 1
    assert not fake.running


def test_training_file_lines_split_at_newlines_only() -> None:
    """Our JSONL keeps U+2028 and U+0085 unescaped (ensure_ascii=False): still one record."""
    from vqaft.testing._job_results import analyse_training_file

    record = {
        "messages": [
            {"role": "user", "content": "Title?\u2028Second line\x85third"},
            {"role": "assistant", "content": "A\u2029B"},
        ]
    }
    line = json.dumps(record, ensure_ascii=False)
    assert "\u2028" in line
    facts = analyse_training_file(((line + "\n") * 10).encode(), min_examples=10)
    assert facts.problem is None
    assert facts.examples == 10
