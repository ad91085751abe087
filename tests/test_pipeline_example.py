"""``examples/ocr-vqa-gpt4o.toml`` end to end against FakeOpenAI, through the command line.

The same code path as the real cookbook run: the ``ocr-vqa`` adapter reads a local copy in
the Hugging Face layout (synthetic covers written as OCR-VQA parquet), and every OpenAI call
(uploads, the fine-tuning job, both models' predictions, the LLM judge) goes over HTTP to a
FakeOpenAI server on 127.0.0.1 that answers the test questions from the run's gold answers.
Only ``dataset.args.source``, the split sizes, the base URLs and the key's variable are
overridden with ``--set``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers_pipeline import IMAGES, SECRET, GoldModel
from vqaft.pipeline._cli import main
from vqaft.report import read_metrics
from vqaft.testing import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "ocr-vqa-gpt4o.toml"


def example_overrides(fake: FakeOpenAI, source: Path, key_env: str) -> list[str]:
    """The ``--set`` options that point the example at the local data and the fake server."""
    sets = [f"dataset.args.source={source}", "messages.workers=1", "finetune.max_cost_usd=100"]
    sets += [f"dataset.splits.{split}.images={n}" for split, n in IMAGES.items()]
    sets += [
        f"finetune.args.base_url={fake.base_url}",
        f"finetune.args.api_key_env={key_env}",
        "finetune.args.poll_interval=0",
    ]
    for model in ("base", "fine-tuned"):
        sets += [
            f"predict.models.{model}.args.base_url={fake.base_url}",
            f"predict.models.{model}.args.api_key_env={key_env}",
            f"predict.models.{model}.concurrency=4",
        ]
    sets += [
        f"evaluate.evaluators.llm_judge.base_url={fake.base_url}",
        f"evaluate.evaluators.llm_judge.api_key_env={key_env}",
        "evaluate.n_resamples=200",
    ]
    return sets


def test_the_cookbook_example_runs_end_to_end_against_fake_openai(
    tmp_path: Path, ocr_vqa_copy: Path, key_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    gold = GoldModel(run_dir)
    with FakeOpenAI(responder=gold, api_key=SECRET) as fake:
        argv = ["run", str(EXAMPLE), "--run-dir", str(run_dir), "--no-progress"]
        for option in example_overrides(fake, ocr_vqa_copy, key_env):
            argv += ["--set", option]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert fake.log.count("fine_tuning.jobs.create") == 1
        assert fake.log.count("files.create") == 2  # training and validation files
        created = fake.log.records("fine_tuning.jobs.create")[0].body
        judge_requests = gold.judge_requests

        # the cookbook's sample: 12/4/8 images of the local copy, every question
        manifest = json.loads((run_dir / "data" / "manifest.json").read_text())
        assert {k: v["images"] for k, v in manifest["splits"].items()} == IMAGES
        assert manifest["policy"]["format"] == "jpeg"
        assert manifest["policy"]["quality"] == 100
        n_test = manifest["splits"]["test"]["examples"]
        assert created["model"] == "gpt-4o-2024-08-06"
        assert created["suffix"] == "ocr-vqa"

        # each model answered each test question exactly once
        run_record = json.loads((run_dir / "run.json").read_text())
        fine_tuned = run_record["fine_tuned_model"]
        assert fine_tuned.startswith("ft:gpt-4o-2024-08-06:fake:ocr-vqa:")
        for model in ("gpt-4o-2024-08-06", fine_tuned):
            counts = [n for (m, _), n in gold.calls.items() if m == model]
            assert len(counts) == n_test
            assert set(counts) == {1}

        # the report holds the numbers the fake models earn
        metrics = read_metrics(run_dir / "report" / "metrics.json")
        assert set(metrics.evaluators) == {
            "exact", "lenient", "normalized", "fuzzy", "anls", "llm_judge"
        }  # fmt: skip
        lenient = {n: m.overall.metrics["lenient"].mean for n, m in metrics.models.items()}
        assert lenient["base"] == pytest.approx(gold.expected_lenient("gpt-4o-2024-08-06"))
        assert lenient["fine-tuned"] == pytest.approx(gold.expected_lenient(fine_tuned))
        assert metrics.models["fine-tuned"].overall.metrics["llm_judge"].mean is not None
        assert judge_requests >= 1
        assert "report:" in out
        assert "fine-tuned vs base" in out
        assert "McNemar p" in out

        # running the same command again asks the server nothing
        before = fake.log.count()
        assert main(argv) == 0
        assert fake.log.count() == before
        assert capsys.readouterr().out.count("skipped") == 6

    # the key never reaches a file of the run
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_errors_name_the_key_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(EXAMPLE), "--set", "finetune.hyperparameters.n_epoch=3"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown key 'finetune.hyperparameters.n_epoch'" in err
    assert "did you mean 'n_epochs'" in err
    assert len(err.strip().splitlines()) == 1
