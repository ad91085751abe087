"""The open-model path end to end, offline: a tiny random VLM is LoRA-trained on CPU with the
``trl`` fine-tuner, its adapter is saved, reloaded by the ``hf`` predictor and answers a test
file through the prediction runner.

Skipped (with the reason) when the [hf] extra (torch, transformers, peft, trl, accelerate) is
not installed. About 10 s on a busy 2-core machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may be downloaded
for _module in ("torch", "transformers", "peft", "trl", "accelerate"):
    pytest.importorskip(_module, reason=f"{_module} is not installed (pip install 'vqaft[hf]')")

from vqaft.errors import ConfigError, FineTuneJobError  # noqa: E402
from vqaft.finetune import (  # noqa: E402  # noqa: E402
    FineTuneConfig,
    Hyperparameters,
    JobStatus,
    ResultMetrics,
    finetuners,
    load_finetuner,
)
from vqaft.hf.metadata import describe_file, read_adapter_metadata  # noqa: E402
from vqaft.hf.tiny import TINY_PROCESSOR_CLASS, build_tiny_vlm  # noqa: E402
from vqaft.hf.tiny_data import ANSWERS, write_tiny_split  # noqa: E402
from vqaft.hf.trl_finetuner import TRLFineTuner  # noqa: E402
from vqaft.predict import create_predictor, predict_file, predictors  # noqa: E402
from vqaft.predict.testfile import iter_requests, read_test_ids  # noqa: E402

SETTINGS: dict[str, Any] = {
    "processor_class": TINY_PROCESSOR_CLASS,
    "learning_rate": 1e-2,
    "lora_r": 8,
    "lora_alpha": 16,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "modules_to_save": ["lm_head"],  # a random head caps the logits otherwise
    "eval_steps": 0.25,
    "torch_threads": 1,
}
CONFIG = FineTuneConfig(
    model="tiny",  # replaced by the tiny model's folder in the fixture
    suffix="covers",
    metadata={"experiment": "tiny"},
    hyperparameters=Hyperparameters(n_epochs=8, batch_size=4),
)


class Recorder:
    """A FineTuneProgress that keeps everything it is told."""

    def __init__(self) -> None:
        self.statuses: list[JobStatus] = []
        self.steps: list[dict[str, Any]] = []
        self.messages: list[str] = []

    def status(self, job: Any, previous: Any) -> None:
        self.statuses.append(job.status)

    def event(self, event: Any) -> None:
        self.steps.append(dict(event.data or {}))

    def upload(self, role: str, sent: int, total: int) -> None:
        raise AssertionError("a local trainer uploads nothing")

    def message(self, text: str) -> None:
        self.messages.append(text)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hf")
    model = build_tiny_vlm(root / "tiny", corpus=ANSWERS)
    data = root / "data"
    train = write_tiny_split(data, "train", 16)
    validation = write_tiny_split(data, "validation", 4)
    test = write_tiny_split(data, "test", 8, answers=False)
    recorder = Recorder()
    config = CONFIG.model_copy(update={"model": str(model)})
    tuner = load_finetuner("trl", run_dir=root / "finetune", progress=recorder, **SETTINGS)
    result = tuner.fine_tune(train, validation, config=config)
    return {
        "root": root,
        "model": model,
        "train": train,
        "validation": validation,
        "test": test,
        "config": config,
        "result": result,
        "recorder": recorder,
    }


def test_backends_are_registered_as_plugins() -> None:
    assert finetuners.get("trl") is TRLFineTuner
    assert "hf" in predictors.names()


def test_training_loss_goes_down_and_validation_is_logged(trained: dict[str, Any]) -> None:
    result = trained["result"]
    assert result.job.status is JobStatus.SUCCEEDED
    metrics = result.metrics
    losses = [v for v in metrics.column("train_loss") if v is not None]
    assert len(losses) == 32  # 16 examples / batch 4 x 8 epochs, logged every step
    assert losses[-1] < 0.5 * losses[0]
    valid = [v for v in metrics.column("valid_loss") if v is not None]
    assert len(valid) >= 4
    assert valid[-1] < valid[0]
    steps = trained["recorder"].steps
    assert steps[0]["total_steps"] == 32
    assert steps[-1]["step"] == 32
    assert trained["recorder"].statuses == [
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
    ]
    assert result.job.trained_tokens
    assert result.job.trained_tokens > 0


def test_run_directory_holds_adapter_metadata_and_metrics(trained: dict[str, Any]) -> None:
    run_dir = trained["root"] / "finetune"
    adapter = Path(trained["result"].job.fine_tuned_model)
    assert adapter == (run_dir / "adapter").resolve()
    assert (adapter / "adapter_config.json").is_file()
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not list(adapter.glob("*.bin"))
    assert not list(adapter.glob("*.pt"))
    meta = read_adapter_metadata(adapter)
    assert meta is not None
    assert meta.base_model == str(trained["model"])
    assert meta.adapter_name == "covers"
    assert meta.train.sha256 == describe_file(trained["train"]).sha256
    assert meta.train.examples == 16
    assert meta.validation is not None
    assert meta.validation.examples == 4
    assert meta.hyperparameters["n_epochs"] == 8
    assert meta.hyperparameters["lora_r"] == 8
    assert meta.hyperparameters["learning_rate"] == pytest.approx(1e-2)
    assert meta.libraries["trl"]
    assert meta.libraries["torch"]
    assert meta.job_metadata == {"experiment": "tiny"}
    assert meta.metrics["train_loss"] == pytest.approx(
        trained["result"].metrics.final()["train_loss"]
    )
    table = ResultMetrics.parse((run_dir / "metrics.csv").read_text())
    assert len(table) == len(trained["result"].metrics)
    log = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum("loss" in row for row in log) == 32
    assert any("eval_loss" in row for row in log)
    state = json.loads((run_dir / "job.json").read_text())
    assert state["job"]["status"] == "succeeded"
    saved = json.loads((run_dir / "result.json").read_text())
    assert saved["job"]["id"] == trained["result"].job.id


def test_same_inputs_reattach_instead_of_training_again(trained: dict[str, Any]) -> None:
    run_dir = trained["root"] / "finetune"
    before = (run_dir / "metrics.jsonl").stat().st_mtime_ns
    recorder = Recorder()
    settings = {**SETTINGS, "eval_steps": 0.5, "torch_threads": 2}  # operational only
    tuner = TRLFineTuner(run_dir, progress=recorder, **settings)
    result = tuner.fine_tune(trained["train"], trained["validation"], config=trained["config"])
    assert result.job.id == trained["result"].job.id
    assert any("re-attaching" in m for m in recorder.messages)
    assert not recorder.steps
    assert (run_dir / "metrics.jsonl").stat().st_mtime_ns == before
    other = TRLFineTuner(run_dir, **{**SETTINGS, "lora_r": 4})
    with pytest.raises(ConfigError, match="already holds job"):
        other.start(trained["train"], trained["validation"], config=trained["config"])


@pytest.fixture(scope="module")
def reloaded(trained: dict[str, Any]) -> Any:
    """The ``hf`` predictor on the saved adapter (loaded from disk: base + adapter)."""
    adapter = trained["result"].job.fine_tuned_model
    return create_predictor("hf", model=adapter, batch_size=4, max_new_tokens=8)


def test_hf_predictor_reloads_the_adapter_and_answers_in_batches(
    trained: dict[str, Any], reloaded: Any
) -> None:
    adapter = trained["result"].job.fine_tuned_model
    predictor = reloaded
    assert predictor.base_model == str(trained["model"])
    assert predictor.adapter == adapter
    out = trained["root"] / "predictions" / "adapter.jsonl"
    summary = predict_file(trained["test"], predictor, out=out, concurrency=8)
    assert summary.complete
    assert summary.answered == 8
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert all(isinstance(r["predicted_answer"], str) for r in records)
    assert all(r["model"] == adapter and r["usage"]["prompt_tokens"] > 0 for r in records)
    assert len({r["latency"] for r in records}) < len(records)  # answered in shared batches
    assert sum(r["predicted_answer"] in ANSWERS for r in records) >= 1

    base = create_predictor(
        "hf",
        model=str(trained["model"]),
        processor_class=TINY_PROCESSOR_CLASS,
        batch_size=8,
        max_new_tokens=8,
    )
    refs = read_test_ids(trained["test"])
    requests = [r for _, r in iter_requests(trained["test"], refs, {x.example_id for x in refs})]
    base_answers = [getattr(a, "text", None) for a in base.predict_batch(requests)]
    assert all(isinstance(a, str) for a in base_answers)
    assert base_answers != [r["predicted_answer"] for r in records]  # the adapter is applied


def test_a_bad_image_fails_only_its_example(trained: dict[str, Any], reloaded: Any) -> None:
    predictor = reloaded
    refs = read_test_ids(trained["test"])
    requests = [r for _, r in iter_requests(trained["test"], refs, {x.example_id for x in refs})]
    broken = requests[0].__class__(
        example_id="bad:0",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}
                ],
            }
        ],
    )
    answers = predictor.predict_batch([broken, requests[1]])
    assert getattr(answers[0], "kind", None) == "bad_request"
    assert isinstance(getattr(answers[1], "text", None), str)


def test_failed_and_cancelled_jobs_raise(trained: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    line = json.loads(trained["train"].read_text().splitlines()[0])
    line["messages"][1]["content"][1]["image_url"]["url"] = "https://example.com/x.jpg"
    bad.write_text(json.dumps(line) + "\n")
    tuner = TRLFineTuner(tmp_path / "failed", **SETTINGS)
    with pytest.raises(FineTuneJobError) as caught:
        tuner.fine_tune(bad, config=trained["config"])
    assert caught.value.code == "invalid_training_file"
    assert "remote image" in caught.value.message
    assert tuner.status().status is JobStatus.FAILED

    tuner = TRLFineTuner(tmp_path / "cancelled", **{**SETTINGS, "max_steps": 10_000})
    job = tuner.start(trained["train"], config=trained["config"])
    tuner.cancel(job.id)
    with pytest.raises(FineTuneJobError) as caught:
        tuner.wait(job.id)
    assert caught.value.code == "cancelled"
    assert tuner.status().status is JobStatus.CANCELLED
    assert not (tmp_path / "cancelled" / "adapter").exists()


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lora_rank"):
        TRLFineTuner(tmp_path, lora_rank=8)
    with pytest.raises(ConfigError, match="output_dir"):
        TRLFineTuner(tmp_path, trainer_args={"output_dir": "x"})
    with pytest.raises(ConfigError, match="not an adapter folder"):
        create_predictor("hf", model="m", adapter=str(tmp_path))


def test_train_command_line_maps_onto_the_same_job(
    trained: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from vqaft.hf.train import main

    argv = [
        str(trained["train"]),
        "--validation", str(trained["validation"]),
        "--model", str(trained["model"]),
        "--run-dir", str(trained["root"] / "finetune"),
        "--epochs", "8", "--batch-size", "4", "--suffix", "covers",
        "--learning-rate", "0.01", "--lora-r", "8", "--lora-alpha", "16",
        "--target-modules", ",".join(SETTINGS["target_modules"]),
        "--modules-to-save", "lm_head,",
        "--processor-class", TINY_PROCESSOR_CLASS,
        "--torch-threads", "1", "-O", "eval_steps=0.5",
        "--no-progress", "--json",
    ]  # fmt: skip
    assert main(argv) == 0  # same data and settings: re-attached, not trained again
    printed = json.loads(capsys.readouterr().out)
    assert printed["job"]["id"] == trained["result"].job.id
    assert main([*argv[:-2], "--lora-r", "4", "--no-progress"]) == 2
    assert "already holds job" in capsys.readouterr().err


def test_accelerate_config_example_is_valid() -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(
        str(Path(__file__).resolve().parents[1] / "examples" / "accelerate-config.yaml")
    )
    assert config.distributed_type.value == "MULTI_GPU"
    assert config.num_processes == 4
    assert config.mixed_precision == "bf16"
