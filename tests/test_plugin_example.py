"""The example plugin package in examples/ installs and its evaluator is used by name."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers_eval import BASE, FT, GOLD
from vqaft.cli import main
from vqaft.evaluate import EvaluationSuite, create_evaluator, evaluator_info, evaluators
from vqaft.report import DISABLE_ENV

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vqaft-plugin-example"


def _simulate_install(site: Path) -> None:
    """Lay out the package and a dist-info built from the example's own pyproject.toml."""
    toml = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = toml.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    package = EXAMPLE / "src" / "vqaft_plugin_example"
    (site / package.name).mkdir()
    for source in package.glob("*.py"):
        (site / package.name / source.name).write_text(source.read_text())
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the example with pip (offline, no build isolation) or, without hatchling,
    simulate the installed distribution from its pyproject.toml."""
    site = tmp_path_factory.mktemp("site")
    if importlib.util.find_spec("hatchling") is not None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-index",
                "--no-build-isolation",
                "--target",
                str(site),
                str(EXAMPLE),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    else:  # pragma: no cover - hatchling is in the dev environment
        _simulate_install(site)
    return site


@pytest.fixture
def installed(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(plugin_site))
    monkeypatch.delenv("VQAFT_PLUGINS", raising=False)
    evaluators.refresh()
    try:
        yield
    finally:
        monkeypatch.undo()
        evaluators.unregister("token_f1")  # its module registers through the decorator too
        for name in [m for m in sys.modules if m.startswith("vqaft_plugin_example")]:
            del sys.modules[name]
        evaluators.refresh()


def test_the_plugin_evaluator_is_found_by_name(installed: None) -> None:
    assert "token_f1" in evaluators.names()
    instance = create_evaluator("token_f1", threshold=0.8)
    assert evaluator_info(instance).label() == "token_f1@1(threshold=0.8)"
    score = instance.score("A Wrinkle in Time", ["A Wrinkle in Time (Time Quintet)"])
    # normalised: "wrinkle in time" vs "wrinkle in time time quintet": P = 1, R = 3/5
    assert score.value == pytest.approx(2 * 1.0 * 0.6 / 1.6)
    assert score.passed is False
    assert score.details == {"f1": score.value}


def test_a_suite_and_the_cli_use_the_plugin(
    installed: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = EvaluationSuite("exact,token_f1:threshold=0.9").run({"ft": FT}, gold=GOLD)
    summary = result.model("ft").overall.summaries["token_f1"]
    exact = result.model("ft").overall.summaries["exact"]
    assert summary.n == 30
    assert summary.mean is not None
    assert exact.mean is not None
    assert summary.mean > exact.mean  # partial credit for partly right answers
    assert result.suite.evaluators["token_f1"].settings == {"threshold": 0.9}
    monkeypatch.setenv(DISABLE_ENV, "1")
    assert (
        main(["evaluate", str(FT), str(BASE), "--gold", str(GOLD), "--evaluators", "token_f1"]) == 0
    )
    assert "token_f1" in capsys.readouterr().out


def test_the_plugin_is_gone_when_not_installed() -> None:
    evaluators.refresh()
    assert "token_f1" not in evaluators.names()


def test_simulated_install_matches_the_declared_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _simulate_install(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    evaluators.refresh()
    try:
        assert create_evaluator("token_f1").score("yes", ["Yes"]).value == 1.0
    finally:
        monkeypatch.undo()
        evaluators.unregister("token_f1")
        for name in [m for m in sys.modules if m.startswith("vqaft_plugin_example")]:
            del sys.modules[name]
        evaluators.refresh()
