"""The ``local`` fine-tuner and predictor through vqaft's own protocols, registries and runner.

OCR readings come from a seeded cache (see test_local_helpers), so these tests need no
rapidocr; test_local_ocr.py covers the real OCR and the end-to-end run on rendered covers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_local_helpers import make_cover, record, seed_cache, write_chat
from vqaft.errors import ConfigError, DatasetError, FineTuneJobError
from vqaft.evaluate.predictions import load_predictions
from vqaft.finetune import FineTuner, JobStatus, finetuners, load_finetuner
from vqaft.local import OcrService
from vqaft.local.backends import (
    MODEL_FILE,
    LocalFineTuner,
    LocalPredictor,
    default_models_dir,
    model_path_for,
)
from vqaft.predict import (
    PredictionRequest,
    Predictor,
    RequestFailed,
    create_predictor,
    predict_file,
    predictors,
)


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    covers = [make_cover(i) for i in range(30)]
    data = tmp_path / "data"
    data.mkdir()
    train = write_chat(data / "train.jsonl", covers[:18])
    valid = write_chat(data / "validation.jsonl", covers[18:24])
    test = write_chat(data / "test.jsonl", covers[24:], answers=False, ids=True)
    cache = tmp_path / "ocr-cache"
    seed_cache(OcrService(cache, workers=1), covers)  # written to disk: every service sees it
    return tmp_path, covers, train, valid, test, cache


def test_registered_under_local() -> None:
    assert finetuners.get("local") is LocalFineTuner
    assert predictors.get("local") is LocalPredictor
    assert isinstance(LocalFineTuner(), FineTuner)
    assert isinstance(LocalPredictor(), Predictor)


def test_fine_tune_writes_the_model_and_reattaches(setup) -> None:  # type: ignore[no-untyped-def]
    tmp_path, _, train, valid, _, cache = setup
    models = tmp_path / "models"
    tuner = load_finetuner("local", run_dir=tmp_path / "ft", models_dir=models, cache_dir=cache)
    result = tuner.fine_tune(train, valid)
    job = result.job
    assert job.status is JobStatus.SUCCEEDED
    model_id = job.fine_tuned_model
    assert model_id is not None
    assert model_id.startswith("local/ft-")
    assert (tmp_path / "ft" / MODEL_FILE).is_file()
    assert model_path_for(model_id, models).is_file()
    assert result.metrics is not None
    final = result.metrics.final()
    assert final["valid_accuracy"] == pytest.approx(1.0)
    assert final["base_valid_accuracy"] < final["valid_accuracy"]
    state = json.loads((tmp_path / "ft" / "job.json").read_text())
    assert state["backend"] == "local"
    finished = state["request"]["finished_at"]

    again = LocalFineTuner(tmp_path / "ft", models_dir=models, cache_dir=cache)
    reattached = again.fine_tune(train, valid)
    assert reattached.job.id == job.id
    assert reattached.job.fine_tuned_model == model_id
    assert json.loads((tmp_path / "ft" / "job.json").read_text())["request"]["finished_at"] == (
        finished
    )
    assert again.status().id == job.id
    assert again.wait(job.id).status is JobStatus.SUCCEEDED
    assert again.cancel().status is JobStatus.SUCCEEDED
    with pytest.raises(FineTuneJobError):
        again.status("another-job")


def test_fine_tune_refuses_missing_files_and_foreign_run_dirs(setup) -> None:  # type: ignore[no-untyped-def]
    tmp_path, _, train, _, _, cache = setup
    with pytest.raises(DatasetError, match="no such file"):
        LocalFineTuner(cache_dir=cache).start(tmp_path / "nope.jsonl")
    foreign = tmp_path / "openai-run"
    foreign.mkdir()
    (foreign / "job.json").write_text(json.dumps({"backend": "openai", "job_id": "ftjob-1"}))
    with pytest.raises(ConfigError, match="openai"):
        LocalFineTuner(foreign, cache_dir=cache).start(train)
    with pytest.raises(FineTuneJobError, match="no local fine-tuning job"):
        LocalFineTuner().status()


def test_predict_file_with_base_and_fine_tuned_models(setup) -> None:  # type: ignore[no-untyped-def]
    tmp_path, _, train, valid, test, cache = setup
    models = tmp_path / "models"
    job = LocalFineTuner(tmp_path / "ft", models_dir=models, cache_dir=cache).start(train, valid)
    scores = {}
    for model in ("local/base", job.fine_tuned_model):
        predictor = create_predictor("local", model=model, models_dir=models, cache_dir=cache)
        assert predictor.model == model
        out = tmp_path / "predictions" / f"{str(model).replace('/', '-')}.jsonl"
        summary = predict_file(test, predictor, out=out, concurrency=4)
        assert summary.complete
        assert summary.answered_total == 6 * 5
        loaded = load_predictions(out)
        assert {r.model for r in loaded.records} == {model}
        scores[model] = sum(
            r.predicted_answer == (r.actual_answer or ("",))[0] for r in loaded.records
        )
    assert scores[job.fine_tuned_model] == 30
    assert scores["local/base"] < 30


def test_predictor_resolves_models_and_reports_bad_input(setup) -> None:  # type: ignore[no-untyped-def]
    tmp_path, covers, train, _, _, cache = setup
    job = LocalFineTuner(tmp_path / "ft", models_dir=tmp_path / "m", cache_dir=cache).start(train)
    by_path = LocalPredictor(str(tmp_path / "ft" / MODEL_FILE), cache_dir=cache)
    assert by_path.model == job.fine_tuned_model
    by_file = LocalPredictor(model_file=tmp_path / "ft" / MODEL_FILE, cache_dir=cache)
    assert by_file.model == job.fine_tuned_model
    with pytest.raises(ConfigError, match="no local model"):
        LocalPredictor("local/ft-000000000000", models_dir=tmp_path / "m")
    with pytest.raises(ConfigError, match="unknown local model"):
        LocalPredictor("gpt-4o")

    cover = covers[0]
    good = record("Who wrote this book?", cover.image, None)["messages"]
    answer = by_path.predict(PredictionRequest("x:0", good))  # type: ignore[arg-type]
    assert answer.text == cover.author
    assert answer.latency is not None
    no_image = [{"role": "user", "content": "Who wrote this book?"}]
    with pytest.raises(RequestFailed) as failed:
        by_path.predict(PredictionRequest("x:1", no_image))
    assert failed.value.kind == "invalid_input"
    not_an_image = record("Who wrote this book?", b"definitely not an image", None)["messages"]
    with pytest.raises(RequestFailed) as bad:
        LocalPredictor(cache_dir=cache).predict(PredictionRequest("x:2", not_an_image))  # type: ignore[arg-type]
    assert bad.value.kind == "bad_image"
    by_path.close()


def test_default_models_dir_follows_the_cache_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VQAFT_CACHE_DIR", str(tmp_path))
    assert default_models_dir() == tmp_path / "local-models"
    assert model_path_for("local/ft-abc").name == "local-ft-abc.json"
