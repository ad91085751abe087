"""The experiment file: validation with errors that name the key, and ``--set`` overrides."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import pytest

import vqaft.pipeline.experiment as experiment_module
import vqaft.pipeline.headline as headline_module
import vqaft.pipeline.manifest as manifest_module
from vqaft.errors import ConfigError
from vqaft.messages.builder import DEFAULT_SYSTEM_PROMPT
from vqaft.pipeline import apply_overrides, load_experiment, parse_experiment, parse_override

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

MINIMAL = """
[[predict.models]]
name = "base"
model = "gpt-4o-2024-08-06"
"""


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, *overrides: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_experiment(write(tmp_path, text), list(overrides))
    return info.value


@pytest.mark.parametrize("module", [experiment_module, headline_module, manifest_module])
def test_doctests(module: Any) -> None:
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("name", ["ocr-vqa-gpt4o.toml", "local-demo.toml"])
def test_the_examples_load(name: str) -> None:
    if not (EXAMPLES / name).is_file():
        pytest.skip(f"examples/{name} not present")
    experiment = load_experiment(EXAMPLES / name)
    assert len(experiment.predict.models) == 2
    assert experiment.predict.models[1].model == "@finetune"


def test_the_cookbook_example_matches_the_cookbook() -> None:
    experiment = load_experiment(EXAMPLES / "ocr-vqa-gpt4o.toml")
    assert experiment.dataset.adapter == "ocr-vqa"
    assert experiment.dataset.args == {"source": "howard-hou/OCR-VQA"}
    sizes = {k: (v.images, v.seed) for k, v in experiment.dataset.splits.items()}
    assert sizes == {"train": (150, 42), "validation": (50, 42), "test": (100, 42)}
    assert experiment.finetune is not None
    assert experiment.finetune.model == "gpt-4o-2024-08-06"
    assert experiment.predict.models[0].model == "gpt-4o-2024-08-06"
    assert experiment.messages.image_policy.format == "jpeg"
    assert experiment.messages.image_policy.quality == 100
    configured = experiment.evaluate.evaluators
    assert isinstance(configured, dict)
    assert set(configured) == {"exact", "lenient", "normalized", "fuzzy", "anls", "llm_judge"}


def test_defaults_are_the_cookbook_sample_and_vqaft_prompt(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, MINIMAL))
    assert experiment.name == "experiment"
    assert {k: v.count for k, v in experiment.dataset.splits.items()} == {
        "train": 150,
        "validation": 50,
        "test": 100,
    }
    assert experiment.messages.system_prompt is None  # the stage uses DEFAULT_SYSTEM_PROMPT
    assert experiment.finetune is None
    assert experiment.evaluate.group_by == ("question_type", "openness")
    assert "lenient" in experiment.evaluate.evaluators


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL + '\n[finetune]\nmodle = "gpt-4o"\n')
    assert error.message == "unknown key 'finetune.modle'"
    assert error.hint == "did you mean 'model'?"
    assert error.file is not None
    assert error.file.endswith("exp.toml")

    error = error_of(tmp_path, MINIMAL + "\n[finetune.hyperparameters]\nn_epoch = 2\n")
    assert "finetune.hyperparameters.n_epoch" in error.message
    assert error.hint == "did you mean 'n_epochs'?"

    error = error_of(tmp_path, MINIMAL + "\n[reprot]\ncharts = false\n")
    assert error.message == "unknown key 'reprot'"
    assert error.hint == "did you mean 'report'?"


def test_invalid_values_name_the_key(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL + "\n[dataset.splits.train]\nimages = 0\n")
    assert "dataset.splits.train.images" in error.message
    error = error_of(tmp_path, MINIMAL + '\n[messages]\ndetail = "medium"\n')
    assert "messages.detail" in error.message
    assert "'medium'" in error.message
    error = error_of(tmp_path, MINIMAL, "predict.models.0.concurrency=0")
    assert "predict.models[0].concurrency" in error.message
    error = error_of(tmp_path, MINIMAL, "predict.models.0.name=base/../x")
    assert "predict.models[0].name" in error.message


def test_missing_predict_section(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'name = "x"\n')
    assert error.message == "missing key 'predict'"
    assert "[[predict.models]]" in str(error.hint)


def test_cross_key_problems_name_the_key(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[predict.models]]\nname = "ft"\nmodel = "@finetune"\n'
    error = error_of(tmp_path, text)
    assert error.message.startswith("key 'predict.models[1].model'")
    assert "[finetune]" in error.message

    text = MINIMAL + '\n[[predict.models]]\nname = "base"\nmodel = "x"\n'
    assert "two models are named 'base'" in error_of(tmp_path, text).message

    error = error_of(tmp_path, MINIMAL, "report.baseline=gpt")
    assert error.message.startswith("key 'report.baseline'")
    assert error.hint == "models: base"

    error = error_of(tmp_path, MINIMAL + "\n[dataset.splits.train]\nimages = 3\n[finetune]\n",
                     "dataset.splits={ test = { images = 3 } }")  # fmt: skip
    assert error.message.startswith("key 'dataset.splits'")
    assert "'train' split" in error.message


def test_predict_mode_defaults_to_online_and_takes_batch_settings(tmp_path: Path) -> None:
    [model] = load_experiment(write(tmp_path, MINIMAL)).predict.models
    assert model.mode == "online"
    assert (model.batch.poll_interval, model.batch.timeout) == (30.0, None)
    text = MINIMAL + 'mode = "batch"\nbatch = { poll_interval = 5, timeout = 3600 }\n'
    [model] = load_experiment(write(tmp_path, text)).predict.models
    assert model.mode == "batch"
    assert (model.batch.poll_interval, model.batch.timeout) == (5.0, 3600.0)
    # batch settings of an online model are ignored (as concurrency is in batch mode), so
    # --set ...mode=online needs no other change
    [model] = load_experiment(
        write(tmp_path, text), ["predict.models.base.mode=online"]
    ).predict.models
    assert model.mode == "online"


def test_bad_predict_modes_name_the_key(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL, "predict.models.base.mode=bach")
    assert error.message.startswith("key 'predict.models[0].mode'")
    assert "'online' or 'batch'" in error.message
    assert "'bach'" in error.message

    error = error_of(tmp_path, MINIMAL, "predict.models.base.batch.poll_intervall=1")
    assert error.message == "unknown key 'predict.models[0].batch.poll_intervall'"
    assert error.hint == "did you mean 'poll_interval'?"
    error = error_of(tmp_path, MINIMAL, "predict.models.base.batch.timeout=0")
    assert error.message.startswith("key 'predict.models[0].batch.timeout'")

    for backend in ("local", "hf"):
        text = MINIMAL + f'backend = "{backend}"\nmode = "batch"\n'
        error = error_of(tmp_path, text)
        assert error.message == (
            f"key 'predict.models[0].mode': model 'base': the '{backend}' backend has no "
            "Batch API mode"
        )
        assert 'mode = "online"' in str(error.hint)
        assert 'backend = "openai"' in str(error.hint)

    text = MINIMAL + 'mode = "batch"\n\n[[predict.models]]\nname = "base.batch-1"\nmodel = "m"\n'
    error = error_of(tmp_path, text)
    assert error.message.startswith("key 'predict.models[0].mode'")
    assert "predictions/base.batch-1.jsonl" in error.message


def test_secrets_are_refused(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL, "predict.models.base.args.api_key=sk-abc")
    assert error.message.startswith("key 'predict.models[0].args.api_key'")
    assert "api_key_env" in str(error.hint)
    assert "sk-abc" not in str(error)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    error = error_of(tmp_path, "[dataset\nadapter = 1\n")
    assert error.message.startswith("invalid TOML")
    assert error.file is not None
    with pytest.raises(ConfigError, match="cannot read experiment file"):
        load_experiment(tmp_path / "missing.toml")


def test_system_prompt_file_is_read_relative_to_the_experiment(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "p.txt").write_text("Answer briefly.\n", encoding="utf-8")
    text = MINIMAL + '\n[messages]\nsystem_prompt_file = "prompts/p.txt"\n'
    experiment = load_experiment(write(tmp_path, text))
    assert experiment.messages.system_prompt == "Answer briefly."
    both = MINIMAL + '\n[messages]\nsystem_prompt = "x"\nsystem_prompt_file = "p.txt"\n'
    assert "not both" in error_of(tmp_path, both).message
    missing = MINIMAL + '\n[messages]\nsystem_prompt_file = "nope.txt"\n'
    assert error_of(tmp_path, missing).message.startswith("key 'messages.system_prompt_file'")
    assert DEFAULT_SYSTEM_PROMPT  # the default the stage falls back to


def test_parse_override_values() -> None:
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("a.b=2.5") == ("a.b", 2.5)
    assert parse_override("a.b=true") == ("a.b", True)
    assert parse_override('a.b="3"') == ("a.b", "3")
    assert parse_override("a.b=gpt-4o") == ("a.b", "gpt-4o")
    assert parse_override("a.b=http://127.0.0.1:8080/v1") == ("a.b", "http://127.0.0.1:8080/v1")
    assert parse_override('a.b=["exact", "anls"]') == ("a.b", ["exact", "anls"])
    assert parse_override("a.b=2024-01-01") == ("a.b", "2024-01-01")  # never a date object
    assert parse_override("a.b=") == ("a.b", "")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("a.b")


def test_apply_overrides_paths() -> None:
    data = {"predict": {"models": [{"name": "base", "model": "m1"}, {"name": "ft", "model": "m2"}]}}
    result = apply_overrides(
        data,
        [
            "predict.models.ft.args.base_url=http://x/v1",
            "predict.models.0.model=m3",
            "finetune.hyperparameters.n_epochs=2",
            ("dataset.args", {"source": "here"}),
        ],
    )
    assert result["predict"]["models"][1]["args"] == {"base_url": "http://x/v1"}
    assert result["predict"]["models"][0]["model"] == "m3"
    assert result["finetune"] == {"hyperparameters": {"n_epochs": 2}}
    assert result["dataset"] == {"args": {"source": "here"}}
    assert data["predict"]["models"][0]["model"] == "m1"  # the input is not changed
    with pytest.raises(ConfigError, match="no entry named 'fine'") as info:
        apply_overrides(data, ["predict.models.fine.model=x"])
    assert info.value.hint == "names: base, ft"
    with pytest.raises(ConfigError, match="out of range"):
        apply_overrides(data, ["predict.models.5.model=x"])
    with pytest.raises(ConfigError, match="is a value, not a table"):
        apply_overrides(data, ["predict.models.0.model.x=1"])


def test_to_data_round_trips() -> None:
    experiment = load_experiment(EXAMPLES / "ocr-vqa-gpt4o.toml")
    again = parse_experiment(experiment.to_data())
    assert again == experiment


def test_headline_text_lists_each_question_type() -> None:
    from vqaft.pipeline.headline import Headline, HeadlineGroup, HeadlineModel

    result = Headline(
        metric="lenient",
        models=[
            HeadlineModel(name="base", value=0.5, n=4),
            HeadlineModel(name="ft", value=0.75, n=4),
        ],
        comparisons=[],
        groups=[
            HeadlineGroup(group="Title", n=2, values={"base": 0.5, "ft": 1.0}),
            HeadlineGroup(group="Genre", n=2, values={"base": None, "ft": 0.5}),
        ],
    )
    assert result.format_text().splitlines()[-3:] == [
        "by question type      n    base      ft",
        "  Title               2   50.0%  100.0%",
        "  Genre               2     n/a   50.0%",
    ]
