"""``vqaft demo``: the bundled experiment, its knobs, and a run of it.

The demo names the ``local`` backend. A full run with it is tested when that backend is
installed; the demo's pipeline (synthetic covers, every offline evaluator, the report with
charts, the headline) is also run with the backends swapped for the in-process test ones.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers_pipeline import GoldPredictor, register_test_backends, unregister_test_backends
from vqaft.errors import ConfigError
from vqaft.evaluate.spec import parse_evaluator_spec
from vqaft.finetune import finetuners
from vqaft.pipeline import demo_experiment, demo_path, run_demo
from vqaft.pipeline._cli import main
from vqaft.predict import predictors

NETWORK_FREE = {"exact", "lenient", "normalized", "fuzzy", "anls"}
TEST_BACKENDS = [
    "finetune.backend=pipeline-test",
    "finetune.model=gpt-4o-2024-08-06",
    "predict.models.base.backend=pipeline-test",
    "predict.models.base.model=gpt-4o-2024-08-06",
    "predict.models.fine-tuned.backend=pipeline-test",
    "messages.workers=1",
]
SMALL = {"train": 12, "validation": 3, "test": 8}


@pytest.fixture
def backends() -> Iterator[None]:
    register_test_backends()
    yield
    unregister_test_backends()


@pytest.fixture(autouse=True)
def no_judge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VQAFT_JUDGE_BASE_URL", "VQAFT_JUDGE_MODEL", "VQAFT_JUDGE_API_KEY_ENV"):
        monkeypatch.delenv(name, raising=False)


def evaluator_names(experiment: object) -> set[str]:
    configured = experiment.evaluate.evaluators  # type: ignore[attr-defined]
    if isinstance(configured, dict):
        return {
            v["evaluator"] if isinstance(v, dict) else parse_evaluator_spec(v).name
            for v in configured.values()
        }
    return {parse_evaluator_spec(text).name for text in configured}


def test_the_bundled_demo_is_offline_synthetic_and_local() -> None:
    assert demo_path().is_file()
    experiment = demo_experiment()
    assert experiment.dataset.adapter == "synthetic-covers"
    assert experiment.dataset.args["images"] == {"train": 150, "validation": 50, "test": 100}
    assert experiment.finetune is not None
    assert experiment.finetune.backend == "local"
    assert [(m.name, m.backend, m.model) for m in experiment.predict.models] == [
        ("base", "local", "local/base"),
        ("fine-tuned", "local", "@finetune"),
    ]
    assert evaluator_names(experiment) == NETWORK_FREE
    assert experiment.report.charts
    assert experiment.report.headline_metric == "lenient"


def test_image_counts_and_a_dropped_split() -> None:
    experiment = demo_experiment(images={"train": 40, "validation": 0, "test": 20})
    assert experiment.dataset.args["images"] == {"train": 40, "test": 20}
    assert list(experiment.dataset.splits) == ["train", "test"]
    with pytest.raises(ConfigError, match="whole number"):
        demo_experiment(images={"train": -1})
    with pytest.raises(ConfigError, match="'test' split"):
        demo_experiment(images={"test": 0})


def test_the_judge_joins_when_an_endpoint_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = demo_experiment(judge_base_url="http://127.0.0.1:9/v1", judge_model="judge-1")
    judge = experiment.evaluate.evaluators["llm_judge"]  # type: ignore[call-overload]
    assert judge == {
        "evaluator": "llm_judge",
        "model": "judge-1",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": "OPENAI_API_KEY",
    }
    assert evaluator_names(experiment) == NETWORK_FREE | {"llm_judge"}

    monkeypatch.setenv("VQAFT_JUDGE_BASE_URL", "http://127.0.0.1:8/v1")
    monkeypatch.setenv("VQAFT_JUDGE_API_KEY_ENV", "MY_JUDGE_KEY")
    from_env = demo_experiment().evaluate.evaluators["llm_judge"]  # type: ignore[call-overload]
    assert from_env["base_url"] == "http://127.0.0.1:8/v1"
    assert from_env["model"] == "gpt-4o"
    assert from_env["api_key_env"] == "MY_JUDGE_KEY"


def test_the_demo_pipeline_ends_with_the_report_and_the_headline(
    tmp_path: Path, backends: None
) -> None:
    pytest.importorskip("matplotlib")
    lines: list[str] = []
    result = run_demo(
        tmp_path / "demo", images=SMALL, overrides=TEST_BACKENDS, progress=False,
        echo=lines.append,
    )  # fmt: skip
    assert result.report is not None
    assert result.report.is_file()
    assert (tmp_path / "demo" / "report" / "charts").is_dir()
    assert any((tmp_path / "demo" / "report" / "charts").glob("*.png"))
    headline = result.headline
    assert headline is not None
    assert headline.metric == "lenient"
    assert [m.name for m in headline.models] == ["base", "fine-tuned"]
    (comparison,) = headline.comparisons
    assert comparison.baseline == "base"
    assert comparison.test == "mcnemar-exact"
    assert 0.0 <= comparison.p_value <= 1.0
    n_test = sum(1 for _ in (tmp_path / "demo" / "data" / "test.ids.jsonl").open())
    assert {g.group for g in headline.groups} <= {"Title", "Author", "Genre", "Yes/No"}
    assert sum(g.n for g in headline.groups) == n_test
    for group in headline.groups:
        assert set(group.values) == {"base", "fine-tuned"}
        assert all(v is not None and 0.0 <= v <= 1.0 for v in group.values.values())
    assert "by question type" in headline.format_text()
    assert sum(GoldPredictor.calls.values()) == 2 * sum(
        1 for _ in (tmp_path / "demo" / "data" / "test.ids.jsonl").open()
    )
    assert any(line.startswith("[6/6] report") for line in lines)


@pytest.mark.slow
@pytest.mark.skipif(
    "local" not in finetuners.names()
    or "local" not in predictors.names()
    or importlib.util.find_spec("rapidocr_onnxruntime") is None,
    reason="the local backend's OCR (vqaft[local]) is not installed",
)
def test_vqaft_demo_with_the_local_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo", "--run-dir", str(tmp_path / "demo"), "--no-progress"]
    argv += ["--images-train", "30", "--images-validation", "6", "--images-test", "12"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "report: " in out
    assert "fine-tuned vs base" in out
    assert (tmp_path / "demo" / "report" / "report.html").is_file()


@pytest.mark.skipif("local" in finetuners.names(), reason="the local backend is installed")
def test_without_the_local_backend_the_demo_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'local' backend") as info:
        run_demo(tmp_path / "demo", images=SMALL, progress=False)
    assert info.value.hint == 'install it with: pip install "vqaft[local]"'
    assert not (tmp_path / "demo").exists()
