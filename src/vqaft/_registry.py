"""One generic registry for every pluggable kind of component.

A :class:`Registry` maps names to objects (usually classes or factories). Objects arrive two
ways:

* in-process, with the :meth:`Registry.register` decorator;
* from installed distributions, through an entry-point group (``vqaft.datasets``,
  ``vqaft.evaluators``, ``vqaft.finetuners``, ``vqaft.predictors``). Each entry point names one
  object (``"package.module:attr"``) and is imported only when that name is first requested,
  so listing names imports nothing.

vqaft's own built-ins are declared in vqaft's ``pyproject.toml`` under the same groups: they
are plugins like any other.

Rules:

* an unknown name raises :class:`~vqaft.errors.UnknownComponentError` with "did you mean"
  suggestions and the list of available names;
* two different objects under one name raise :class:`~vqaft.errors.ComponentClashError`
  (registering the very same object twice is allowed, and is what happens when an entry
  point's module also uses the decorator);
* a plugin that fails to import is reported as :class:`~vqaft.errors.PluginLoadError` naming its
  distribution; when it is merely being listed or bulk-loaded it becomes a warning and the host
  carries on, unless ``strict`` is set (argument, or ``VQAFT_STRICT_PLUGINS=1``);
* ``VQAFT_PLUGINS`` restricts which third-party distributions may load plugins: unset means
  all, a comma-separated list means only those, empty means none. vqaft's own entry points
  always load.
"""

from __future__ import annotations

import difflib
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar, overload

from vqaft.errors import ComponentClashError, PluginLoadError, UnknownComponentError

__all__ = ["PLUGINS_ENV", "STRICT_ENV", "PluginWarning", "Registry"]

T = TypeVar("T")
ObjT = TypeVar("ObjT")

PLUGINS_ENV = "VQAFT_PLUGINS"
STRICT_ENV = "VQAFT_STRICT_PLUGINS"
_SELF_DIST = "vqaft"


class PluginWarning(UserWarning):
    """Emitted when a broken plugin is skipped instead of raising."""


@dataclass(frozen=True)
class _EntryPoint:
    name: str
    value: str
    distribution: str | None
    ep: metadata.EntryPoint


def _normalise_dist(name: str | None) -> str | None:
    return None if name is None else name.lower().replace("_", "-").replace(".", "-")


def _allowed_distributions() -> set[str] | None:
    raw = os.environ.get(PLUGINS_ENV)
    if raw is None:
        return None
    return {d for d in (_normalise_dist(p.strip()) for p in raw.split(",")) if d}


def _strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class Registry(Generic[T]):
    """A named collection of components of one kind.

    Args:
        kind: human name of the kind, used in messages (``"dataset adapter"``).
        group: the entry-point group scanned for plugins (``"vqaft.datasets"``).
        check: optional predicate an object must satisfy to be accepted (e.g. ``callable``).

    >>> adapters: Registry[type] = Registry("dataset adapter", "vqaft.datasets")
    >>> @adapters.register("mine")
    ... class Mine: ...
    >>> adapters.get("mine") is Mine
    True
    """

    def __init__(
        self, kind: str, group: str, *, check: Callable[[object], bool] | None = None
    ) -> None:
        self.kind = kind
        self.group = group
        self._check = check
        self._objects: dict[str, T] = {}
        self._entry_points: dict[str, list[_EntryPoint]] | None = None
        self._loaded: dict[str, T] = {}
        self._broken: dict[str, PluginLoadError] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Registry(kind={self.kind!r}, group={self.group!r}, names={self.names()!r})"

    # -- registration -------------------------------------------------------------------

    @overload
    def register(self, name: str) -> Callable[[ObjT], ObjT]: ...
    @overload
    def register(self, name: str, obj: ObjT) -> ObjT: ...
    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator.

        Raises:
            ComponentClashError: a different object already holds ``name``.
        """
        if obj is None:

            def decorator(target: ObjT) -> ObjT:
                self._add(name, target)
                return target

            return decorator
        self._add(name, obj)
        return obj

    def _add(self, name: str, obj: Any) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} needs a non-empty string name")
        self._validate(name, obj, distribution=None)
        with self._lock:
            current = self._objects.get(name)
            if current is not None and current is not obj:
                raise ComponentClashError(
                    f"{self.kind} name {name!r} is already registered to {_describe(current)}",
                    hint=f"choose another name for {_describe(obj)}",
                )
            self._objects[name] = obj

    def unregister(self, name: str) -> None:
        """Remove an in-process registration (useful in tests)."""
        with self._lock:
            self._objects.pop(name, None)
            self._loaded.pop(name, None)

    # -- entry points -------------------------------------------------------------------

    def refresh(self) -> None:
        """Forget the entry-point scan (e.g. after installing a plugin in this process)."""
        with self._lock:
            self._entry_points = None
            self._loaded.clear()
            self._broken.clear()

    def _scan(self) -> dict[str, list[_EntryPoint]]:
        with self._lock:
            if self._entry_points is not None:
                return self._entry_points
            allowed = _allowed_distributions()
            found: dict[str, list[_EntryPoint]] = {}
            seen: set[tuple[str, str, str | None]] = set()
            for ep in metadata.entry_points(group=self.group):
                dist = _normalise_dist(ep.dist.name) if ep.dist is not None else None
                if dist != _SELF_DIST and allowed is not None and dist not in allowed:
                    continue
                key = (ep.name, ep.value, dist)
                if key in seen:  # the same distribution visible twice on sys.path
                    continue
                seen.add(key)
                found.setdefault(ep.name, []).append(_EntryPoint(ep.name, ep.value, dist, ep))
            self._entry_points = found
            return found

    def _load_entry_point(self, name: str) -> T:
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            if name in self._broken:
                raise self._broken[name]
            candidates = self._scan()[name]
            dists = {c.distribution for c in candidates}
            if len(dists) > 1 or len({c.value for c in candidates}) > 1:
                listing = ", ".join(f"{c.value} (from {c.distribution})" for c in candidates)
                raise ComponentClashError(
                    f"{self.kind} name {name!r} is claimed by several plugins: {listing}",
                    hint=f"uninstall one of them or restrict plugins with {PLUGINS_ENV}",
                )
            candidate = candidates[0]
            try:
                obj: T = candidate.ep.load()
            except Exception as exc:  # a plugin may fail in any way; report, don't crash
                error = PluginLoadError(
                    f"{self.kind} plugin {name!r} ({candidate.value}) from distribution "
                    f"{candidate.distribution!r} failed to load: {type(exc).__name__}: {exc}",
                    distribution=candidate.distribution,
                    entry_point=f"{self.group}:{name}",
                    hint=f"reinstall or upgrade {candidate.distribution}, or exclude it with "
                    f"{PLUGINS_ENV}",
                )
                self._broken[name] = error
                raise error from exc
            try:
                self._validate(name, obj, distribution=candidate.distribution)
            except PluginLoadError as error:
                self._broken[name] = error
                raise
            current = self._objects.get(name)
            if current is not None and current is not obj:
                raise ComponentClashError(
                    f"{self.kind} name {name!r} is registered in-process to {_describe(current)}"
                    f" and by distribution {candidate.distribution!r} to {_describe(obj)}",
                    hint="rename one of them",
                )
            self._loaded[name] = obj
            return obj

    def _validate(self, name: str, obj: object, *, distribution: str | None) -> None:
        if self._check is not None and not self._check(obj):
            raise PluginLoadError(
                f"{self.kind} {name!r} is {_describe(obj)}, which is not a valid {self.kind}",
                distribution=distribution,
                entry_point=f"{self.group}:{name}",
                hint="point the entry point at the class or factory itself",
            )

    # -- lookup ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        """All available names, sorted, without importing any plugin."""
        with self._lock:
            return sorted(set(self._objects) | set(self._scan()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def get(self, name: str) -> T:
        """Return the object registered as ``name``, importing its plugin if needed.

        Raises:
            UnknownComponentError: no such name (with suggestions).
            PluginLoadError: the plugin providing ``name`` is broken.
            ComponentClashError: several plugins claim ``name``.
        """
        with self._lock:
            if name in self._scan():
                return self._load_entry_point(name)
            if name in self._objects:
                return self._objects[name]
        available = self.names()
        suggestions = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
        raise UnknownComponentError(self.kind, name, available, suggestions)

    def load_all(self, *, strict: bool | None = None) -> dict[str, T]:
        """Import every plugin and return ``{name: object}``.

        Broken plugins are skipped with a :class:`PluginWarning` (see :attr:`broken`) unless
        ``strict`` (default: ``VQAFT_STRICT_PLUGINS``), in which case the first one raises.
        """
        strict = _strict_from_env() if strict is None else strict
        result: dict[str, T] = {}
        for name in self.names():
            try:
                result[name] = self.get(name)
            except (PluginLoadError, ComponentClashError) as error:
                if strict:
                    raise
                warnings.warn(str(error), PluginWarning, stacklevel=2)
        return result

    @property
    def broken(self) -> dict[str, PluginLoadError]:
        """Plugins that failed to load so far, by name."""
        with self._lock:
            return dict(self._broken)


def _describe(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if module and qualname:
        return f"{module}.{qualname}"
    return repr(type(obj).__name__)
