"""Killing ``vqaft run`` (SIGKILL) in every stage, then running it again, finishes the run.

One FakeOpenAI server lives in the test process for the whole test, so it remembers the
uploads, the job and every request across the killed runs. ``python -m vqaft.pipeline run``
is started as a subprocess and killed with SIGKILL while each stage is running: prepare,
validate, finetune (after the job was created), predict (during each model's predictions),
evaluate (during the LLM judge's requests) and report. A last run then completes.

What must hold: exactly one fine-tuning job was created and each file uploaded once; each
test question was answered once per model, apart from requests in flight at a kill; and the
report holds the same numbers an uninterrupted run gives (computed from the fake model).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers_pipeline import IMAGES, SECRET, GoldModel, sigkill_when, write_ocr_vqa
from test_pipeline_example import EXAMPLE, example_overrides
from vqaft.report import read_metrics
from vqaft.testing import FakeOpenAI

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
]

CONCURRENCY = 4
JOB_SCRIPT = ["validating_files", "queued", "running", "running", "running", "running", "succeeded"]


def _status(run_dir: Path, stage: str) -> str | None:
    try:
        return str(json.loads((run_dir / "stages" / f"{stage}.json").read_text())["status"])
    except (OSError, ValueError, KeyError):
        return None


def _calls(gold: GoldModel, fine_tuned: bool) -> int:
    return sum(n for (m, _), n in dict(gold.calls).items() if m.startswith("ft:") == fine_tuned)


def test_killing_the_run_in_every_stage_then_rerunning_finishes_it(tmp_path: Path) -> None:
    source = write_ocr_vqa(tmp_path / "ocr-vqa", IMAGES)
    run_dir = tmp_path / "run"
    log_path = tmp_path / "runs.log"
    gold = GoldModel(run_dir)
    env = {**os.environ, "VQAFT_TEST_OPENAI_KEY": SECRET, "PYTHONUNBUFFERED": "1"}
    env.pop("OPENAI_API_KEY", None)

    with FakeOpenAI(responder=gold, api_key=SECRET, job_script=JOB_SCRIPT, latency=0.03) as fake:
        sets = example_overrides(fake, source, "VQAFT_TEST_OPENAI_KEY")
        sets += ["finetune.args.poll_interval=0.15"]
        argv = [sys.executable, "-m", "vqaft.pipeline", "run", str(EXAMPLE)]
        argv += ["--run-dir", str(run_dir), "--no-progress"]
        for option in sets:
            argv += ["--set", option]

        def log_tail() -> str:
            return log_path.read_text(errors="replace")[-3000:]

        kill_points: list[tuple[str, Callable[[], bool]]] = [
            ("prepare", lambda: _status(run_dir, "prepare") == "running"),
            ("validate", lambda: _status(run_dir, "validate") == "running"),
            ("finetune", lambda: fake.log.count("fine_tuning.jobs.retrieve") >= 2),
            ("predict", lambda: _calls(gold, fine_tuned=False) >= 5),
            ("predict", lambda: _calls(gold, fine_tuned=True) >= 5),
            ("evaluate", lambda: gold.judge_requests >= 1),
            ("report", lambda: _status(run_dir, "report") == "running"),
        ]
        with open(log_path, "ab") as log:
            for stage, reached in kill_points:
                log.write(f"\n=== run to be killed in {stage}\n".encode())
                log.flush()
                process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
                sigkill_when(process, reached, f"reaching {stage}", log_tail)
                assert _status(run_dir, stage) == "running", f"not killed inside {stage}"
                if stage == "finetune":
                    assert fake.log.count("fine_tuning.jobs.create") == 1

            log.write(b"\n=== the final run\n")
            log.flush()
            final = subprocess.run(argv, env=env, stdout=log, stderr=log, timeout=300)
        assert final.returncode == 0, log_tail()

        # one job, each file uploaded once
        assert fake.log.count("fine_tuning.jobs.create") == 1
        assert fake.log.count("files.create") == 2
        record = json.loads((run_dir / "run.json").read_text())
        fine_tuned = record["fine_tuned_model"]
        assert fine_tuned.startswith("ft:")

        # each question answered once per model, beyond the requests in flight at the kills
        n_test = len((run_dir / "data" / "test.ids.jsonl").read_text().splitlines())
        for model in ("gpt-4o-2024-08-06", fine_tuned):
            counts = [n for (m, _), n in gold.calls.items() if m == model]
            assert len(counts) == n_test
            assert sum(counts) - n_test <= CONCURRENCY, f"{model} asked again: {counts}"
        for name in ("base", "fine-tuned"):
            lines = (run_dir / "predictions" / f"{name}.jsonl").read_text().splitlines()
            ids = [json.loads(line)["example_id"] for line in lines]
            assert len(ids) == len(set(ids)) == n_test
            assert all(json.loads(line)["error"] is None for line in lines)

        # the same results as an uninterrupted run
        metrics = read_metrics(run_dir / "report" / "metrics.json")
        lenient = {n: m.overall.metrics["lenient"].mean for n, m in metrics.models.items()}
        assert lenient["base"] == pytest.approx(gold.expected_lenient("gpt-4o-2024-08-06"))
        assert lenient["fine-tuned"] == pytest.approx(gold.expected_lenient(fine_tuned))
        assert record["stages"]["report"]["status"] == "ran"
        leftovers = [p for p in run_dir.rglob(".*") if p.name.endswith((".partial", ".tmp"))]
        assert leftovers == []
        assert all(_status(run_dir, s) == "complete" for s in record["stages"])
