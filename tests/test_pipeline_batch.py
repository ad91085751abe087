"""``mode = "batch"`` in an experiment: the predict stage through the Batch API, resumably.

``examples/ocr-vqa-gpt4o.toml`` runs against FakeOpenAI over HTTP on 127.0.0.1 (as in
test_pipeline_example.py) with ``--set predict.models.<name>.mode=batch``. The batch lines are
answered by the same fake model, so the report holds the same numbers as online prediction.

What must hold: batch models send no chat completion (only files and batches requests); a
rerun sends nothing; switching the mode reruns that model's predictions; a run stopped while a
batch is still in progress -- by ``batch.timeout`` or by SIGKILL -- re-attaches to the same
batch when run again, and creates no other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers_pipeline import SECRET, GoldModel, sigkill_when
from test_pipeline_example import EXAMPLE, example_overrides
from vqaft.pipeline._cli import main
from vqaft.report import read_metrics
from vqaft.testing import FakeOpenAI

BASE = "gpt-4o-2024-08-06"
JUDGE = "gpt-4o"  # the example's llm_judge model
# a batch that stays in progress for 100 status checks (FakeOpenAI moves one step per check)
SLOW_BATCH = ["validating", *["in_progress"] * 100, "finalizing", "completed"]


def argv_for(fake: FakeOpenAI, source: Path, key_env: str, run_dir: Path, *extra: str) -> list[str]:
    argv = ["run", str(EXAMPLE), "--run-dir", str(run_dir), "--no-progress"]
    for option in [*example_overrides(fake, source, key_env), *extra]:
        argv += ["--set", option]
    return argv


def batch_mode(*names: str, poll_interval: float = 0) -> list[str]:
    sets = []
    for name in names:
        sets += [
            f"predict.models.{name}.mode=batch",
            f"predict.models.{name}.batch.poll_interval={poll_interval}",
        ]
    return sets


def chat_models(fake: FakeOpenAI) -> list[str]:
    """The model of every chat completion the server answered."""
    return [str(r.body["model"]) for r in fake.log.records("chat.completions")]


def n_test(run_dir: Path) -> int:
    return len((run_dir / "data" / "test.ids.jsonl").read_text().splitlines())


def predictions(run_dir: Path, name: str) -> list[dict[str, Any]]:
    lines = (run_dir / "predictions" / f"{name}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def stage(run_dir: Path, name: str) -> dict[str, Any]:
    """What the last run did with stage ``name`` (``run.json``)."""
    record: dict[str, Any] = json.loads((run_dir / "run.json").read_text())["stages"][name]
    return record


def batch_state(run_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (run_dir / "predictions" / f"{name}.batches.json").read_text()
    )
    return data


def test_batch_mode_runs_the_example_end_to_end_through_the_batch_api(
    tmp_path: Path, ocr_vqa_copy: Path, key_env: str
) -> None:
    run_dir = tmp_path / "run"
    gold = GoldModel(run_dir)
    with FakeOpenAI(responder=gold, api_key=SECRET) as fake:
        argv = argv_for(fake, ocr_vqa_copy, key_env, run_dir, *batch_mode("base", "fine-tuned"))
        assert main(argv) == 0
        n = n_test(run_dir)
        fine_tuned = json.loads((run_dir / "run.json").read_text())["fine_tuned_model"]

        # one batch per model, its input uploaded for the batch; no chat completion for either
        # model (the only chat completions are the judge's)
        assert fake.log.count("batches.create") == 2
        assert fake.log.count("batches.retrieve") >= 2
        purposes = [r.body["purpose"] for r in fake.log.records("files.create")]
        assert sorted(purposes) == ["batch", "batch", "fine-tune", "fine-tune"]
        created = [r.body for r in fake.log.records("batches.create")]
        assert {b["endpoint"] for b in created} == {"/v1/chat/completions"}
        assert {b["metadata"]["model"] for b in created} == {BASE, fine_tuned}
        assert gold.judge_requests >= 1
        assert set(chat_models(fake)) == {JUDGE}

        # each question answered once per model, by a batch line
        for model in (BASE, fine_tuned):
            counts = [c for (m, _), c in gold.calls.items() if m == model]
            assert len(counts) == n
            assert set(counts) == {1}

        # the state lives in the predict stage's folder and names the batch of every answer
        for name in ("base", "fine-tuned"):
            state = batch_state(run_dir, name)
            [part] = state["parts"]
            assert part["status"] == "completed"
            assert part["joined"] is True
            records = predictions(run_dir, name)
            assert len(records) == n
            assert {r["batch_id"] for r in records} == {part["batch_id"]}
            assert all(r["error"] is None for r in records)
        assert not list((run_dir / "predictions").glob("*.batch-*.jsonl"))  # inputs removed
        manifest = json.loads((run_dir / "stages" / "predict.json").read_text())
        assert "predictions/base.batches.json" in manifest["outputs"]
        assert manifest["details"]["models"]["base"]["mode"] == "batch"
        assert manifest["details"]["models"]["base"]["answered"] == n

        # the same numbers as online prediction would give
        metrics = read_metrics(run_dir / "report" / "metrics.json")
        lenient = {k: m.overall.metrics["lenient"].mean for k, m in metrics.models.items()}
        assert lenient["base"] == pytest.approx(gold.expected_lenient(BASE))
        assert lenient["fine-tuned"] == pytest.approx(gold.expected_lenient(fine_tuned))

        # running it again asks nothing; forcing predict again creates no batch and no upload
        before = fake.log.count()
        assert main(argv) == 0
        assert fake.log.count() == before
        assert main([*argv, "--from", "predict"]) == 0
        assert fake.log.count("batches.create") == 2
        assert fake.log.count("files.create") == 4
        assert set(chat_models(fake)) == {JUDGE}

    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_switching_the_mode_reruns_that_models_predictions(
    tmp_path: Path, ocr_vqa_copy: Path, key_env: str
) -> None:
    run_dir = tmp_path / "run"
    gold = GoldModel(run_dir)
    with FakeOpenAI(responder=gold, api_key=SECRET) as fake:
        online = argv_for(fake, ocr_vqa_copy, key_env, run_dir)
        assert main(online) == 0
        n = n_test(run_dir)
        assert chat_models(fake).count(BASE) == n
        online_hash = json.loads((run_dir / "stages" / "predict.json").read_text())["inputs"]

        # batch settings are operational: with mode left online they change nothing
        assert main([*online, "--set", "predict.models.base.batch.poll_interval=5"]) == 0
        assert stage(run_dir, "predict")["status"] == "skipped"

        batch = argv_for(fake, ocr_vqa_copy, key_env, run_dir, *batch_mode("base"))
        assert main(batch) == 0
        assert stage(run_dir, "predict")["reason"] == "inputs changed"
        inputs = json.loads((run_dir / "stages" / "predict.json").read_text())["inputs"]
        assert inputs["model:base"] != online_hash["model:base"]
        assert inputs["model:fine-tuned"] == online_hash["model:fine-tuned"]
        assert fake.log.count("batches.create") == 1
        assert chat_models(fake).count(BASE) == n  # base asked again, through a batch only
        assert {r["batch_id"] for r in predictions(run_dir, "base")} == {
            batch_state(run_dir, "base")["parts"][0]["batch_id"]
        }
        superseded = run_dir / "predictions" / "superseded"
        assert len(list(superseded.glob("base-*/base.jsonl"))) == 1

        # and back: online again, the batch state moves aside with the batch predictions
        assert main(online) == 0
        assert chat_models(fake).count(BASE) == 2 * n
        assert fake.log.count("batches.create") == 1
        assert not (run_dir / "predictions" / "base.batches.json").exists()
        assert len(list(superseded.glob("base-*/base.batches.json"))) == 1
        assert all("batch_id" not in r for r in predictions(run_dir, "base"))


def test_a_run_stopped_by_the_batch_timeout_re_attaches_to_the_same_batch(
    tmp_path: Path, ocr_vqa_copy: Path, key_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    gold = GoldModel(run_dir)
    with FakeOpenAI(responder=gold, api_key=SECRET, batch_script=SLOW_BATCH) as fake:
        argv = argv_for(fake, ocr_vqa_copy, key_env, run_dir, *batch_mode("base"))
        stopped = [*argv, "--set", "predict.models.base.batch.poll_interval=0.02"]
        stopped += ["--set", "predict.models.base.batch.timeout=0.3"]
        assert main(stopped) == 2
        err = capsys.readouterr().err
        state = batch_state(run_dir, "base")
        [part] = state["parts"]
        batch_id = part["batch_id"]
        assert part["status"] == "in_progress"
        assert f"batch(es) {batch_id} still running" in err
        assert "predict.models[0].batch.timeout" in err
        manifest = json.loads((run_dir / "stages" / "predict.json").read_text())
        assert manifest["status"] == "failed"
        assert manifest["error"]["error"] == "PredictionError"
        assert fake.log.count("batches.create") == 1
        assert not gold.calls  # nothing answered yet

        # the timeout is operational: the rerun (without it) resumes the same stage inputs
        assert main(argv) == 0
        assert stage(run_dir, "predict")["reason"] == "it failed last time"
        assert fake.log.count("batches.create") == 1
        # the id was saved: no search for the batch (the one look-up was before creating it)
        assert fake.log.count("batches.list") == 1
        purposes = [r.body["purpose"] for r in fake.log.records("files.create")]
        assert purposes.count("batch") == 1
        assert BASE not in chat_models(fake)
        records = predictions(run_dir, "base")
        assert len(records) == n_test(run_dir)
        assert {r["batch_id"] for r in records} == {batch_id}
        assert all(r["error"] is None for r in records)
        manifest = json.loads((run_dir / "stages" / "predict.json").read_text())
        assert manifest["status"] == "complete"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_run_killed_mid_batch_re_attaches_to_the_same_batch(
    tmp_path: Path, ocr_vqa_copy: Path, key_env: str
) -> None:
    run_dir = tmp_path / "run"
    log_path = tmp_path / "killed.log"
    gold = GoldModel(run_dir)
    state_path = run_dir / "predictions" / "base.batches.json"
    with FakeOpenAI(responder=gold, api_key=SECRET, batch_script=SLOW_BATCH) as fake:
        argv = argv_for(fake, ocr_vqa_copy, key_env, run_dir, *batch_mode("base"))
        slow = [*argv, "--set", "predict.models.base.batch.poll_interval=0.05"]
        command = [sys.executable, "-m", "vqaft.pipeline", *slow]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
            sigkill_when(
                process,
                lambda: fake.log.count("batches.retrieve") >= 2,
                "the second batch status check",
                log_path.read_text,
            )
        assert json.loads((run_dir / "stages" / "predict.json").read_text())["status"] == (
            "running"
        )
        batch_id = json.loads(state_path.read_text())["parts"][0]["batch_id"]
        assert batch_id
        assert fake.log.count("batches.create") == 1

        assert main(argv) == 0
        assert fake.log.count("batches.create") == 1
        assert BASE not in chat_models(fake)
        records = predictions(run_dir, "base")
        assert len(records) == n_test(run_dir)
        assert {r["batch_id"] for r in records} == {batch_id}
        assert json.loads((run_dir / "stages" / "predict.json").read_text())["status"] == (
            "complete"
        )
