"""The typed objects of vqaft.finetune: result metrics, jobs, events, config, registry."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from vqaft.errors import FineTuneJobError
from vqaft.finetune import (
    FineTuneConfig,
    FineTuneJob,
    FineTuner,
    Hyperparameters,
    JobEvent,
    JobStatus,
    ModerationReport,
    ResultMetrics,
    finetuners,
    load_finetuner,
)
from vqaft.testing import RESULT_COLUMNS

CSV = (
    "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss,"
    "full_valid_mean_token_accuracy\n"
    "1,2.5,0.25,,,,\n"
    "2,1.75,0.5,1.9,0.45,,\n"
    "3,1.25,0.625,1.5,0.55,1.45,0.57\n"
)


def test_result_file_is_base64_decoded_into_a_typed_table() -> None:
    table = ResultMetrics.parse(base64.b64encode(CSV.encode()), file_id="file-r")
    assert table.columns == list(RESULT_COLUMNS)
    assert [r.step for r in table.rows] == [1, 2, 3]
    assert table.rows[0].valid_loss is None
    assert table.rows[1].valid_loss == 1.9
    assert table.column("train_loss") == [2.5, 1.75, 1.25]
    assert table.final() == {
        "step": 3.0,
        "train_loss": 1.25,
        "train_accuracy": 0.625,
        "valid_loss": 1.5,
        "valid_mean_token_accuracy": 0.55,
        "full_valid_loss": 1.45,
        "full_valid_mean_token_accuracy": 0.57,
    }
    assert table.file_id == "file-r"
    assert table.to_csv() == CSV
    assert table.problem_count == 0


def test_a_plain_csv_and_base64_with_line_breaks_are_accepted() -> None:
    plain = ResultMetrics.parse(CSV)
    wrapped = base64.encodebytes(CSV.encode())  # 76-character lines, as some tools write
    assert b"\n" in wrapped.strip()
    assert ResultMetrics.parse(wrapped).rows == plain.rows


def test_unknown_columns_are_kept_and_bad_cells_listed() -> None:
    text = "step,train_loss,new_metric\n1,2.0,0.5\n2,oops,0.25\n3,nan,\n"
    table = ResultMetrics.parse(text)
    assert table.rows[0].extra == {"new_metric": 0.5}
    assert table.rows[1].train_loss is None
    assert table.rows[2].train_loss is None  # NaN: not measured
    assert table.problem_count == 1
    assert table.problems == ["line 3, column train_loss: 'oops'"]
    assert len(table) == 3  # the row with a bad cell is kept


def test_a_result_file_that_is_not_a_metrics_csv_is_an_error() -> None:
    with pytest.raises(FineTuneJobError) as info:
        ResultMetrics.parse(b'"string"')
    assert info.value.code == "bad_result_file"
    with pytest.raises(FineTuneJobError):
        ResultMetrics.parse(base64.b64encode(b"loss,acc\n1,2\n"))


def test_markdown_table_is_thinned_keeping_first_and_last() -> None:
    rows = "\n".join(f"{i},{1 / i:.4f}" for i in range(1, 101))
    table = ResultMetrics.parse("step,train_loss\n" + rows + "\n")
    markdown = table.to_markdown(max_rows=5).splitlines()
    assert markdown[0] == "| step | train_loss |"
    steps = [int(line.split("|")[1]) for line in markdown[2:]]
    assert steps[0] == 1
    assert steps[-1] == 100
    assert len(steps) == 5


# A job object as Prism serves it from OpenAI's published spec (static example values).
SPEC_JOB = {
    "id": "string",
    "created_at": 0,
    "error": {"code": "string", "message": "string", "param": "string"},
    "fine_tuned_model": "string",
    "finished_at": 0,
    "hyperparameters": {
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        "n_epochs": "auto",
    },
    "model": "string",
    "object": "fine_tuning.job",
    "result_files": ["file-abc123"],
    "status": "validating_files",
    "integrations": [{"type": "wandb", "wandb": {"project": "my-wandb-project"}}],
    "method": {
        "type": "supervised",
        "supervised": {"hyperparameters": {"batch_size": 4, "n_epochs": 2}},
    },
    "metadata": {"property1": "string"},
}


def test_job_from_api_reads_the_method_and_keeps_errors_for_failed_jobs_only() -> None:
    job = FineTuneJob.from_api(SPEC_JOB)
    assert job.status is JobStatus.VALIDATING_FILES
    assert job.error is None  # the example carries an error object on a non-failed job
    assert job.hyperparameters == {"batch_size": 4, "n_epochs": 2}
    assert job.method == "supervised"
    failed = FineTuneJob.from_api({**SPEC_JOB, "status": "failed"})
    assert failed.error is not None
    assert failed.error.code == "string"
    assert failed.is_terminal


def test_an_unknown_status_is_kept_and_treated_as_in_progress() -> None:
    job = FineTuneJob.from_api({**SPEC_JOB, "status": "warming_up"})
    assert job.status is JobStatus.UNKNOWN
    assert job.raw_status == "warming_up"
    assert not job.is_terminal
    assert "warming_up" in job.describe()


def test_moderation_events_are_recognised_structured_or_by_wording() -> None:
    structured = JobEvent.from_api(
        {
            "id": "e1",
            "level": "warn",
            "message": "Some examples were not used",
            "data": {"reason": "moderation", "skipped_examples": 4, "lines": [1, 9]},
        }
    )
    worded = JobEvent(id="e2", message="1,200 examples were skipped: images flagged by moderation")
    unrelated = JobEvent(id="e3", message="Step 3/10: training loss=0.5", type="metrics")
    report = ModerationReport.from_events([structured, worded, unrelated])
    assert report.skipped_examples == 4 + 1200
    assert report.lines == [1, 9]
    assert len(report.messages) == 2


def test_config_checks_limits_and_fingerprints_what_decides_the_job() -> None:
    with pytest.raises(ValidationError):
        Hyperparameters(n_epochs=51)
    with pytest.raises(ValidationError):
        FineTuneConfig(metadata={f"k{i}": "v" for i in range(17)})
    with pytest.raises(ValidationError):
        FineTuneConfig(unknown_option=1)  # type: ignore[call-arg]
    base = FineTuneConfig(suffix="a")
    assert base.fingerprint("t", None) == FineTuneConfig(suffix="a").fingerprint("t", None)
    assert base.fingerprint("t", None) == base.model_copy(update={"max_cost_usd": 3.0}).fingerprint(
        "t", None
    )
    assert base.fingerprint("t", None) != FineTuneConfig(suffix="b").fingerprint("t", None)
    assert base.fingerprint("t", None) != base.fingerprint("t2", None)
    assert base.fingerprint("t", None) != base.fingerprint("t", "v")


def test_the_openai_backend_is_a_registered_fine_tuner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-placeholder-for-registry-test")
    assert "openai" in finetuners.names()
    tuner = load_finetuner("openai", base_url="http://127.0.0.1:9/v1")
    assert isinstance(tuner, FineTuner)
    assert "sk-placeholder" not in repr(tuner)
