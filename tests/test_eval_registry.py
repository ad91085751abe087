"""The evaluator registry, the @evaluator decorator, and the Evaluator protocol."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from vqaft.errors import ComponentClashError, ConfigError, UnknownComponentError
from vqaft.evaluate import (
    ANLS,
    BaseEvaluator,
    Evaluator,
    ExactMatch,
    FuzzyMatch,
    ItemScore,
    create_evaluator,
    evaluator,
    evaluator_info,
    evaluators,
    score_batch,
)

BUILT_INS = {"anls", "exact", "fuzzy", "lenient", "normalized", "llm_judge"}


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Names registered by a test, unregistered afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        evaluators.unregister(name)


def test_built_ins_by_name() -> None:
    assert set(evaluators.names()) >= BUILT_INS
    for name in BUILT_INS:
        instance = create_evaluator(name)
        assert isinstance(instance, Evaluator)
        assert instance.name == name
        assert instance.version == "1"


def test_typo_gets_did_you_mean() -> None:
    with pytest.raises(UnknownComponentError) as caught:
        create_evaluator("fuzy")
    assert "did you mean 'fuzzy'?" in str(caught.value)
    with pytest.raises(UnknownComponentError, match="normalized"):
        create_evaluator("normalised")


def test_unknown_setting_lists_accepted_ones() -> None:
    with pytest.raises(ConfigError, match="accepted settings: scorer, threshold, preprocess"):
        create_evaluator("fuzzy", treshold=80)


def test_settings_are_recorded() -> None:
    info = evaluator_info(create_evaluator("fuzzy", threshold=80, scorer="token_set_ratio"))
    assert info.name == "fuzzy"
    assert info.settings == {"scorer": "token_set_ratio", "threshold": 80, "preprocess": "default"}
    assert info.label() == "fuzzy@1(scorer='token_set_ratio', threshold=80, preprocess='default')"
    assert evaluator_info(ANLS()).settings == {"threshold": 0.5, "case_sensitive": False}
    assert evaluator_info(ExactMatch()).settings == {}
    assert repr(FuzzyMatch(threshold=95)) == (
        "FuzzyMatch(scorer='ratio', threshold=95, preprocess='default')"
    )


def test_plugin_in_fifteen_lines(cleanup: list[str]) -> None:
    cleanup.append("starts_with")

    @evaluator("starts_with", version="2")
    class StartsWith(BaseEvaluator):
        def __init__(self, case_sensitive: bool = False) -> None:
            self.case_sensitive = case_sensitive

        def score(
            self, prediction: str, gold: Sequence[str], *, question: str | None = None
        ) -> ItemScore:
            def fold(s: str) -> str:
                return s if self.case_sensitive else s.lower()

            ok = any(fold(prediction).startswith(fold(g)) for g in gold)
            return ItemScore(value=float(ok), passed=ok)

    instance = create_evaluator("starts_with", case_sensitive=True)
    assert evaluator_info(instance).label() == "starts_with@2(case_sensitive=True)"
    assert score_batch(
        instance, ["Travel guide", "travel"], ["Travel", "Travel"]
    ).values.tolist() == [
        1.0,
        0.0,
    ]


def test_protocol_needs_no_base_class(cleanup: list[str]) -> None:
    cleanup.append("always_half")

    @evaluator("always_half")
    class AlwaysHalf:
        def __init__(self, *, weight: float = 1.0, **extra: Any) -> None:
            self.weight = weight

        def score(
            self, prediction: str, gold: Sequence[str], *, question: str | None = None
        ) -> ItemScore:
            return ItemScore(value=0.5 * self.weight)

    instance = create_evaluator("always_half", weight=0.5, colour="blue")
    assert isinstance(instance, Evaluator)
    assert instance.version == "1"
    assert instance.settings == {"weight": 0.5, "colour": "blue"}
    assert score_batch(instance, ["a"], ["b"]).values.tolist() == [0.25]


def test_decorated_subclass_records_its_own_settings(cleanup: list[str]) -> None:
    cleanup.append("strict_fuzzy")

    @evaluator("strict_fuzzy", version="7")
    class StrictFuzzy(FuzzyMatch):
        def __init__(self, threshold: float = 99.0) -> None:
            super().__init__(threshold=threshold, preprocess="none")

    instance = create_evaluator("strict_fuzzy")
    assert instance.settings == {"threshold": 99.0}
    assert (instance.name, instance.version) == ("strict_fuzzy", "7")
    assert FuzzyMatch().settings["threshold"] == 90.0  # the parent is untouched
    assert FuzzyMatch.name == "fuzzy"


def test_settings_set_by_the_constructor_win(cleanup: list[str]) -> None:
    cleanup.append("own_settings")

    @evaluator("own_settings")
    class OwnSettings(BaseEvaluator):
        def __init__(self, secret_key: str = "k", level: int = 3) -> None:
            self.settings = {"level": level}  # the key must not end up in reports

        def score(
            self, prediction: str, gold: Sequence[str], *, question: str | None = None
        ) -> ItemScore:
            return ItemScore(value=1.0)

    assert create_evaluator("own_settings", secret_key="s3cret").settings == {"level": 3}


def test_secrets_are_never_recorded(cleanup: list[str]) -> None:
    cleanup.append("judgy")

    @evaluator("judgy")
    class Judgy(BaseEvaluator):
        def __init__(self, model: str = "m", api_key: str | None = None, **extra: Any) -> None:
            self.model = model

        def score(
            self, prediction: str, gold: Sequence[str], *, question: str | None = None
        ) -> ItemScore:
            return ItemScore(value=1.0)

    instance = create_evaluator("judgy", api_key="sk-123", auth_token="t", max_tokens=5)
    assert instance.settings == {"model": "m", "max_tokens": 5}
    assert "sk-123" not in repr(instance)


def test_name_clash_raises() -> None:
    with pytest.raises(ComponentClashError):

        @evaluator("exact")
        class NotExact(BaseEvaluator):
            pass


def test_decorator_rejects_functions() -> None:
    with pytest.raises(ConfigError, match="decorates classes"):
        evaluator("fn")(lambda p, g: 1.0)  # type: ignore[type-var]


def test_factory_that_builds_a_non_evaluator(cleanup: list[str]) -> None:
    cleanup.append("not_an_evaluator")
    evaluators.register("not_an_evaluator", lambda: object())
    with pytest.raises(ConfigError, match="not an evaluator"):
        create_evaluator("not_an_evaluator")


def test_built_ins_are_declared_as_entry_points() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    table = tomllib.loads(pyproject.read_text())["project"]["entry-points"]["vqaft.evaluators"]
    assert set(table) == BUILT_INS
    for name, target in table.items():
        module, _, attr = target.partition(":")
        assert getattr(import_module(module), attr) is evaluators.get(name)


def test_a_plugin_distribution_is_found_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed distribution declaring a vqaft.evaluators entry point, used by name."""
    (tmp_path / "fake_eval_plugin.py").write_text(
        "from vqaft.evaluate import ItemScore\n"
        "class Shout:\n"
        "    name = 'shout'\n"
        "    version = '3'\n"
        "    settings: dict = {}\n"
        "    def score(self, prediction, gold, *, question=None):\n"
        "        ok = prediction.isupper()\n"
        "        return ItemScore(value=float(ok), passed=ok)\n"
    )
    info = tmp_path / "fake_eval_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-eval-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[vqaft.evaluators]\nshout = fake_eval_plugin:Shout\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("VQAFT_PLUGINS", raising=False)
    evaluators.refresh()
    try:
        assert "shout" in evaluators.names()
        instance = create_evaluator("shout")
        assert instance.score("HEY", ["x"]).passed is True
        assert evaluator_info(instance).label() == "shout@3()"
    finally:
        monkeypatch.undo()
        sys.modules.pop("fake_eval_plugin", None)
        evaluators.refresh()
    assert "shout" not in evaluators.names()
