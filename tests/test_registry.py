"""The generic plugin registry, including plugins from a fake installed distribution."""

from __future__ import annotations

import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from vqaft._registry import PLUGINS_ENV, STRICT_ENV, PluginWarning, Registry
from vqaft.errors import ComponentClashError, PluginLoadError, UnknownComponentError

GROUP = "vqaft.testplugins"


def _install_fake_distribution(
    site: Path, dist: str, module: str, source: str, entry_points: dict[str, str]
) -> None:
    """Write a minimal installed distribution (dist-info + module) into ``site``."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = [f"[{GROUP}]"] + [f"{name} = {target}" for name, target in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throw-away site directory on sys.path, with plugin env vars cleared."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    monkeypatch.delenv(STRICT_ENV, raising=False)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("fake_"):
            del sys.modules[name]


GOOD = """
class Shouty:
    def score(self, text):
        return text.upper()
"""


def test_decorator_registration_and_get() -> None:
    reg: Registry[type] = Registry("widget", GROUP)

    @reg.register("plain")
    class Plain:
        pass

    assert reg.get("plain") is Plain
    assert "plain" in reg
    assert reg.names() == ["plain"]


def test_registering_same_object_twice_is_allowed_but_clash_raises() -> None:
    reg: Registry[object] = Registry("widget", GROUP)
    obj = object()
    reg.register("a", obj)
    reg.register("a", obj)
    with pytest.raises(ComponentClashError, match="already registered"):
        reg.register("a", object())


def test_unknown_name_suggests_close_matches() -> None:
    reg: Registry[int] = Registry("evaluator", GROUP)
    reg.register("lenient", 1)
    reg.register("exact", 2)
    with pytest.raises(UnknownComponentError) as info:
        reg.get("lenent")
    assert info.value.suggestions == ("lenient",)
    assert "did you mean 'lenient'?" in str(info.value)
    assert info.value.available == ("exact", "lenient")
    with pytest.raises(UnknownComponentError, match=r"available: exact, lenient"):
        reg.get("zzzzzz")


def test_check_rejects_invalid_objects() -> None:
    reg: Registry[object] = Registry("factory", GROUP, check=callable)
    with pytest.raises(PluginLoadError, match="not a valid factory"):
        reg.register("bad", 42)


def test_entry_point_plugin_is_lazy_and_loads_on_get(site: Path) -> None:
    _install_fake_distribution(
        site, "fake-shout", "fake_shout", GOOD, {"shouty": "fake_shout:Shouty"}
    )
    reg: Registry[type] = Registry("widget", GROUP)
    assert reg.names() == ["shouty"]
    assert "fake_shout" not in sys.modules  # listing imports nothing
    cls = reg.get("shouty")
    assert cls().score("hi") == "HI"
    assert "fake_shout" in sys.modules


def test_broken_plugin_is_reported_with_its_distribution(site: Path) -> None:
    _install_fake_distribution(
        site,
        "fake-broken",
        "fake_broken",
        "raise RuntimeError('boom at import')\n",
        {"broken": "fake_broken:Thing"},
    )
    _install_fake_distribution(
        site, "fake-shout", "fake_shout", GOOD, {"shouty": "fake_shout:Shouty"}
    )
    reg: Registry[type] = Registry("widget", GROUP)
    with pytest.raises(PluginLoadError) as info:
        reg.get("broken")
    assert info.value.distribution == "fake-broken"
    assert "boom at import" in str(info.value)
    assert "fake-broken" in str(info.value)

    # Bulk loading keeps the host alive: the good plugin loads, the broken one warns.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = reg.load_all()
    assert set(loaded) == {"shouty"}
    assert any(
        issubclass(w.category, PluginWarning) and "fake-broken" in str(w.message) for w in caught
    )
    assert set(reg.broken) == {"broken"}

    with pytest.raises(PluginLoadError):
        reg.load_all(strict=True)


def test_strict_mode_from_environment(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_distribution(
        site,
        "fake-broken",
        "fake_broken",
        "import not_a_module_anywhere\n",
        {"broken": "fake_broken:Thing"},
    )
    monkeypatch.setenv(STRICT_ENV, "1")
    reg: Registry[type] = Registry("widget", GROUP)
    with pytest.raises(PluginLoadError, match="ModuleNotFoundError"):
        reg.load_all()


def test_entry_point_not_matching_check_is_a_load_error(site: Path) -> None:
    _install_fake_distribution(
        site, "fake-const", "fake_const", "VALUE = 3\n", {"const": "fake_const:VALUE"}
    )
    reg: Registry[object] = Registry("factory", GROUP, check=callable)
    with pytest.raises(PluginLoadError, match="not a valid factory") as info:
        reg.get("const")
    assert info.value.distribution == "fake-const"


def test_two_distributions_claiming_one_name_clash(site: Path) -> None:
    _install_fake_distribution(site, "fake-one", "fake_one", GOOD, {"dup": "fake_one:Shouty"})
    _install_fake_distribution(site, "fake-two", "fake_two", GOOD, {"dup": "fake_two:Shouty"})
    reg: Registry[type] = Registry("widget", GROUP)
    with pytest.raises(ComponentClashError, match="several plugins") as info:
        reg.get("dup")
    assert "fake-one" in str(info.value)
    assert "fake-two" in str(info.value)


def test_in_process_name_clashing_with_plugin_raises(site: Path) -> None:
    _install_fake_distribution(
        site, "fake-shout", "fake_shout", GOOD, {"shouty": "fake_shout:Shouty"}
    )
    reg: Registry[type] = Registry("widget", GROUP)
    reg.register("shouty", int)
    with pytest.raises(ComponentClashError, match="fake-shout"):
        reg.get("shouty")


def test_environment_variable_restricts_plugins(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake_distribution(site, "fake-one", "fake_one", GOOD, {"one": "fake_one:Shouty"})
    _install_fake_distribution(site, "fake-two", "fake_two", GOOD, {"two": "fake_two:Shouty"})

    monkeypatch.setenv(PLUGINS_ENV, "fake_one")  # normalised like a distribution name
    assert Registry("widget", GROUP).names() == ["one"]

    monkeypatch.setenv(PLUGINS_ENV, "")
    assert Registry("widget", GROUP).names() == []

    monkeypatch.delenv(PLUGINS_ENV)
    assert Registry("widget", GROUP).names() == ["one", "two"]


def test_refresh_sees_newly_installed_plugins(site: Path) -> None:
    reg: Registry[type] = Registry("widget", GROUP)
    assert reg.names() == []
    _install_fake_distribution(site, "fake-late", "fake_late", GOOD, {"late": "fake_late:Shouty"})
    assert reg.names() == []  # scan is cached
    reg.refresh()
    assert reg.names() == ["late"]


def test_builtin_dataset_adapters_come_from_vqaft_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PLUGINS_ENV, "")  # no third-party plugins; vqaft's own still load
    reg: Registry[object] = Registry("dataset adapter", "vqaft.datasets")
    assert {"ocr-vqa", "synthetic-covers", "jsonl", "parquet", "hf"} <= set(reg.names())
