"""The staged runner: skipping unchanged stages, resuming, --from, moving stale output aside.

The runs use the real stages (synthetic covers, the real writer, validation, evaluation and
report) with two in-process backends registered as ``pipeline-test``: a fine-tuner that
"trains" instantly and a predictor that answers from the gold answers, both counting calls.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers_pipeline import (
    SYNTHETIC_EXPERIMENT,
    GoldPredictor,
    RecordingTuner,
    register_test_backends,
    unregister_test_backends,
)
from vqaft.errors import ConfigError, PredictionError
from vqaft.pipeline import (
    STAGES,
    RunResult,
    apply_overrides,
    parse_experiment,
    run_experiment,
)
from vqaft.pipeline.experiment import _toml
from vqaft.pipeline.runner import LOCK_FILE
from vqaft.report import read_metrics


@pytest.fixture(autouse=True)
def backends() -> Iterator[None]:
    register_test_backends()
    yield
    unregister_test_backends()


def experiment(*overrides: str) -> Any:
    data = _toml().loads(SYNTHETIC_EXPERIMENT)
    return parse_experiment(apply_overrides(data, list(overrides)))


def run(run_dir: Path, *overrides: str, from_stage: str | None = None) -> RunResult:
    lines: list[str] = []
    result = run_experiment(
        experiment(*overrides), run_dir, from_stage, progress=False, echo=lines.append
    )
    return result


def statuses(result: RunResult) -> dict[str, str]:
    return {name: record.status for name, record in result.stages.items()}


def n_test_examples(run_dir: Path) -> int:
    return len((run_dir / "data" / "test.ids.jsonl").read_text().splitlines())


def sent(model_prefix: str) -> int:
    return sum(n for (model, _), n in GoldPredictor.calls.items() if model.startswith(model_prefix))


def test_a_run_produces_every_artefact_and_a_second_run_skips_everything(tmp_path: Path) -> None:
    first = run(tmp_path)
    assert statuses(first) == dict.fromkeys(STAGES, "ran")
    n = n_test_examples(tmp_path)
    assert sent("gpt-4o") == n
    assert sent("ft:") == n
    assert len(RecordingTuner.calls) == 1
    for relative in (
        "experiment.json",
        "run.json",
        "data/train.jsonl",
        "data/test.ids.jsonl",
        "data/validation.json",
        "finetune/result.json",
        "predictions/base.jsonl",
        "predictions/fine-tuned.jsonl",
        "evaluation/suite_result.json",
        "report/report.html",
        "report/metrics.json",
        "report/index.md",
    ):
        assert (tmp_path / relative).is_file(), relative
    for stage in STAGES:
        manifest = json.loads((tmp_path / "stages" / f"{stage}.json").read_text())
        assert manifest["status"] == "complete"
        assert manifest["outputs"]
        assert manifest["seconds"] is not None

    second = run(tmp_path)
    assert statuses(second) == dict.fromkeys(STAGES, "skipped")
    assert sent("gpt-4o") == n
    assert sent("ft:") == n
    assert len(RecordingTuner.calls) == 1
    assert second.headline == first.headline
    assert second.fine_tuned_model == first.fine_tuned_model


def test_headline_matches_the_report(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert result.headline is not None
    metrics = read_metrics(tmp_path / "report" / "metrics.json")
    by_name = {m.name: m.value for m in result.headline.models}
    for name, model in metrics.models.items():
        assert by_name[name] == model.overall.metrics["lenient"].mean
    (comparison,) = result.headline.comparisons
    assert (comparison.model, comparison.baseline) == ("fine-tuned", "base")
    assert comparison.test == "mcnemar-exact"
    assert comparison.difference == pytest.approx(by_name["fine-tuned"] - by_name["base"])


def test_changing_one_model_repredicts_that_model_only(tmp_path: Path) -> None:
    run(tmp_path)
    n = n_test_examples(tmp_path)
    old = (tmp_path / "predictions" / "base.jsonl").read_text()
    second = run(tmp_path, "predict.models.base.args.style=verbose")
    assert statuses(second) == {
        "prepare": "skipped",
        "validate": "skipped",
        "finetune": "skipped",
        "predict": "ran",
        "evaluate": "ran",
        "report": "ran",
    }
    assert sent("gpt-4o") == 2 * n  # the base model answered again
    assert sent("ft:") == n  # the fine-tuned one did not
    moved = list((tmp_path / "predictions" / "superseded").rglob("base.jsonl"))
    assert len(moved) == 1
    assert moved[0].read_text() == old
    lines = (tmp_path / "predictions" / "base.jsonl").read_text().splitlines()
    assert all(json.loads(line)["predicted_answer"].startswith("verbose: ") for line in lines)


def test_operational_keys_never_rerun_a_stage(tmp_path: Path) -> None:
    run(tmp_path)
    again = run(
        tmp_path,
        "predict.models.base.concurrency=1",
        "messages.workers=2",
        "evaluate.concurrency=3",
    )
    assert statuses(again) == dict.fromkeys(STAGES, "skipped")


def test_new_hyperparameters_train_a_new_model_and_keep_the_old_job_files(
    tmp_path: Path,
) -> None:
    first = run(tmp_path)
    n = n_test_examples(tmp_path)
    second = run(tmp_path, "finetune.hyperparameters.n_epochs=3")
    assert statuses(second)["prepare"] == "skipped"
    assert statuses(second)["finetune"] == "ran"
    assert second.fine_tuned_model != first.fine_tuned_model
    assert len(RecordingTuner.calls) == 2
    superseded = tmp_path / "finetune" / "superseded"
    assert [p.name for p in superseded.iterdir()]
    assert list(superseded.rglob("job.json"))
    # the new model answers everything; the base model is untouched
    assert sent("gpt-4o") == n
    assert sent("ft:") == 2 * n
    records = (tmp_path / "predictions" / "fine-tuned.jsonl").read_text().splitlines()
    assert {json.loads(r)["model"] for r in records} == {second.fine_tuned_model}


def test_max_cost_and_timeout_do_not_retrain(tmp_path: Path) -> None:
    run(tmp_path)
    again = run(tmp_path, "finetune.max_cost_usd=5", "finetune.timeout=60")
    assert statuses(again)["finetune"] == "skipped"
    assert len(RecordingTuner.calls) == 1


def test_from_stage_reruns_it_and_later_stages_without_repeating_predictions(
    tmp_path: Path,
) -> None:
    run(tmp_path)
    n = n_test_examples(tmp_path)
    forced = run(tmp_path, from_stage="predict")
    assert statuses(forced) == {
        "prepare": "skipped",
        "validate": "skipped",
        "finetune": "skipped",
        "predict": "ran",
        "evaluate": "ran",
        "report": "ran",
    }
    assert forced.stages["predict"].reason == "forced by --from"
    assert sent("gpt-4o") == n
    assert sent("ft:") == n


def test_a_missing_output_reruns_its_stage(tmp_path: Path) -> None:
    run(tmp_path)
    (tmp_path / "report" / "report.md").unlink()
    again = run(tmp_path)
    assert statuses(again)["report"] == "ran"
    assert again.stages["report"].reason == "its files changed or are missing"
    assert statuses(again)["evaluate"] == "skipped"
    assert (tmp_path / "report" / "report.md").is_file()

    n = n_test_examples(tmp_path)
    (tmp_path / "predictions" / "fine-tuned.jsonl").unlink()
    again = run(tmp_path)
    assert statuses(again)["predict"] == "ran"
    assert sent("ft:") == 2 * n
    assert sent("gpt-4o") == n


def test_a_failed_stage_is_recorded_and_the_rerun_resumes_it(tmp_path: Path) -> None:
    GoldPredictor.fail_after = 4
    with pytest.raises(PredictionError, match="revoked"):
        run(tmp_path)
    manifest = json.loads((tmp_path / "stages" / "predict.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"]["error"] == "PredictionError"
    assert not (tmp_path / "stages" / "evaluate.json").exists()
    kept = len((tmp_path / "predictions" / "base.jsonl").read_text().splitlines())
    assert 1 <= kept <= 4

    GoldPredictor.fail_after = None
    again = run(tmp_path)
    assert again.stages["predict"].reason == "it failed last time"
    assert statuses(again)["finetune"] == "skipped"
    n = n_test_examples(tmp_path)
    # every example answered exactly once overall (the stopped run kept what it had)
    assert all(count == 1 for count in GoldPredictor.calls.values())
    assert sent("gpt-4o") == n
    assert sent("ft:") == n


def test_unknown_names_fail_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"finetune\.backend.*unknown fine-tuner 'pipeline-tset'"):
        run(tmp_path, "finetune.backend=pipeline-tset")
    with pytest.raises(ConfigError, match=r"predict\.models\[1\]\.backend") as info:
        run(tmp_path, "predict.models.fine-tuned.backend=opneai")
    assert "openai" in str(info.value.hint)
    with pytest.raises(ConfigError, match=r"evaluate\.evaluators\[1\].*lenent"):
        run(tmp_path, 'evaluate.evaluators=["exact", "lenent"]')
    with pytest.raises(ConfigError, match=r"report\.headline_metric"):
        run(tmp_path, "report.headline_metric=anls")
    with pytest.raises(ConfigError, match="unknown stage 'predcit'"):
        run(tmp_path, from_stage="predcit")
    assert not (tmp_path / "stages").exists()


def test_the_index_links_every_file_of_the_run(tmp_path: Path) -> None:
    run(tmp_path)
    index = (tmp_path / "report" / "index.md").read_text()
    links = set(re.findall(r"\]\(\.\./([^)]+)\)", index))
    files = {
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    assert files <= links
    assert all((tmp_path / link).is_file() for link in links)
    listed = {a["path"] for a in json.loads((tmp_path / "run.json").read_text())["artefacts"]}
    assert files <= listed
    html = (tmp_path / "report" / "index.html").read_text()
    assert 'href="../predictions/fine-tuned.jsonl"' in html


def test_run_json_records_the_run(tmp_path: Path) -> None:
    result = run(tmp_path)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["fine_tuned_model"] == result.fine_tuned_model
    assert list(record["stages"]) == list(STAGES)
    assert record["headline"]["metric"] == "lenient"
    assert record["report"] == "report/report.html"
    resolved = json.loads((tmp_path / "experiment.json").read_text())
    assert resolved["validate"] == {"fail_on_errors": True, "estimate": True}
    assert resolved["predict"]["models"][1]["model"] == "@finetune"


def test_without_finetune_the_stage_is_not_configured(tmp_path: Path) -> None:
    data = _toml().loads(SYNTHETIC_EXPERIMENT)
    del data["finetune"]
    data["predict"]["models"].pop()
    result = run_experiment(parse_experiment(data), tmp_path, progress=False, echo=lambda _: None)
    assert result.stages["finetune"].status == "not configured"
    assert result.fine_tuned_model is None
    assert result.headline is not None
    assert result.headline.comparisons == []
    assert not (tmp_path / "data" / "estimate.json").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_two_runs_never_share_a_run_folder(tmp_path: Path) -> None:
    import fcntl

    tmp_path.mkdir(exist_ok=True)
    fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run holds the folder
        with pytest.raises(ConfigError, match="another vqaft run is using this run folder"):
            run(tmp_path)
        assert not (tmp_path / "stages").exists()
    finally:
        os.close(fd)
    assert statuses(run(tmp_path)) == dict.fromkeys(STAGES, "ran")  # released: runs


def test_partial_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    run(tmp_path)
    torn = tmp_path / "data" / ".train.jsonl.1a2b3c.partial"
    torn.write_bytes(b'{"messages": [')
    temp = tmp_path / "predictions" / ".base.jsonl.9f8e.tmp"
    temp.write_bytes(b"{}")
    keep = tmp_path / "report" / ".keep"
    keep.write_bytes(b"")
    run(tmp_path)
    assert not torn.exists()
    assert not temp.exists()
    assert keep.exists()
