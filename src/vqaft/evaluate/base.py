"""The Evaluator protocol, score types, and the evaluator registry.

An evaluator turns one prediction and its gold answer(s) into an :class:`ItemScore`: a value in
``[0, 1]``, a pass/fail verdict where the metric has one, and free-form details. Every evaluator
also says what it is (``name``), which revision of its rule produced the number (``version``) and
with which settings (``settings``), so a report can say exactly what produced each figure.

Writing one takes a few lines; :class:`BaseEvaluator` is optional and only supplies
``score_batch`` (a loop over ``score``) and ``ascore`` (``score`` in a worker thread)::

    from vqaft.evaluate import BaseEvaluator, ItemScore, evaluator

    @evaluator("starts_with", version="1")
    class StartsWith(BaseEvaluator):
        def __init__(self, case_sensitive: bool = False) -> None:
            self.case_sensitive = case_sensitive

        def score(self, prediction, gold, *, question=None):
            fold = (lambda s: s) if self.case_sensitive else str.lower
            ok = any(fold(prediction).startswith(fold(g)) for g in gold)
            return ItemScore(value=float(ok), passed=ok)

    create_evaluator("starts_with").settings   # {'case_sensitive': False}

Multiple gold answers are the rule, not the exception: ``gold`` is a sequence, and the built-ins
take the best score over it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from vqaft._registry import Registry
from vqaft.errors import ConfigError, EvaluationError

__all__ = [
    "AsyncEvaluator",
    "BaseEvaluator",
    "BatchEvaluator",
    "BatchScores",
    "Evaluator",
    "EvaluatorInfo",
    "GoldPairs",
    "ItemScore",
    "ascore",
    "create_evaluator",
    "evaluator",
    "evaluator_info",
    "evaluators",
    "gold_tuple",
    "score_batch",
]

Golds = Sequence[str | Sequence[str]]
"""Gold answers for a batch: per item, one string or a sequence of acceptable strings."""


class ItemScore(BaseModel):
    """The score of one prediction.

    Attributes:
        value: the score in ``[0, 1]`` (1 is best). For pass/fail metrics it is 0.0 or 1.0.
        passed: the pass/fail verdict, or ``None`` for purely continuous metrics (ANLS).
        details: evaluator-specific facts (e.g. which gold answer matched), JSON-serialisable.

    >>> ItemScore(value=1.0, passed=True).value
    1.0
    """

    model_config = ConfigDict(frozen=True)

    value: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    passed: bool | None = None
    details: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class BatchScores:
    """Scores of a batch as arrays: what ``score_batch`` returns.

    ``values[i]`` and ``passed[i]`` equal ``score(...).value`` and ``.passed`` of item ``i``;
    ``passed`` is ``None`` when the metric has no pass/fail verdict.
    """

    values: NDArray[np.float64]
    passed: NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 1:
            raise EvaluationError(f"batch scores must be one-dimensional, not shape {values.shape}")
        if values.size and not (
            np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1
        ):
            raise EvaluationError(
                "batch scores must lie in [0, 1]",
                hint="scale the metric to [0, 1] (e.g. divide a 0-100 similarity by 100)",
            )
        object.__setattr__(self, "values", values)
        if self.passed is not None:
            passed = np.asarray(self.passed, dtype=np.bool_)
            if passed.shape != values.shape:
                raise EvaluationError(
                    f"passed has shape {passed.shape} but values have shape {values.shape}"
                )
            object.__setattr__(self, "passed", passed)

    @classmethod
    def from_passed(cls, passed: NDArray[np.bool_]) -> BatchScores:
        """Scores of a pass/fail metric: value 1.0 where passed, else 0.0."""
        passed = np.asarray(passed, dtype=np.bool_)
        return cls(values=passed.astype(np.float64), passed=passed)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def item(self, index: int) -> ItemScore:
        """The :class:`ItemScore` of one item (without per-item details)."""
        passed = None if self.passed is None else bool(self.passed[index])
        return ItemScore.model_construct(value=float(self.values[index]), passed=passed, details={})


@runtime_checkable
class Evaluator(Protocol):
    """What vqaft needs from an evaluator. Implement it; inherit nothing.

    ``name``, ``version`` and ``settings`` identify the rule that produced a number; the
    :func:`evaluator` decorator fills them in (``settings`` from the constructor's arguments).
    Two optional methods are used when present: ``score_batch`` (see :class:`BatchEvaluator`) and
    ``ascore`` (see :class:`AsyncEvaluator`).
    """

    @property
    def name(self) -> str:
        """The registered name (``"fuzzy"``)."""
        ...

    @property
    def version(self) -> str:
        """The version of the scoring rule; bump it when the same input would score differently."""
        ...

    @property
    def settings(self) -> dict[str, Any]:
        """The settings that change the score (JSON-serialisable)."""
        ...

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Score one prediction against its acceptable gold answers."""
        ...


@runtime_checkable
class BatchEvaluator(Evaluator, Protocol):
    """An evaluator with a vectorised path; it must agree exactly with ``score``."""

    def score_batch(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> BatchScores:
        """Score many items at once."""
        ...


@runtime_checkable
class AsyncEvaluator(Evaluator, Protocol):
    """An evaluator whose work is network-bound (an LLM judge) and offers ``ascore``."""

    async def ascore(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Score one prediction without blocking the event loop."""
        ...


class BaseEvaluator:
    """Optional base class: supplies ``score_batch`` and ``ascore`` from ``score``.

    Subclasses define ``score`` (and usually use the :func:`evaluator` decorator, which sets
    ``name``, ``version`` and ``settings``).
    """

    name: str = ""
    version: str = "1"
    settings: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance by @evaluator

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Score one prediction; subclasses implement this."""
        raise NotImplementedError(f"{type(self).__name__} must implement score()")

    def score_batch(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> BatchScores:
        """Score items one by one with :meth:`score` (override with a vectorised version)."""
        return _loop_batch(self, predictions, golds, questions)

    async def ascore(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Run :meth:`score` in a worker thread."""
        return await asyncio.to_thread(self.score, prediction, gold, question=question)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{type(self).__name__}({args})"


def gold_tuple(gold: str | Sequence[str]) -> tuple[str, ...]:
    """The gold answers as a non-empty tuple (a lone string is one answer).

    Raises:
        EvaluationError: there is no gold answer, or one is not a string.

    >>> gold_tuple("Yes")
    ('Yes',)
    """
    golds = (gold,) if isinstance(gold, str) else tuple(gold)
    if not golds:
        raise EvaluationError(
            "no gold answer to score against", hint="give at least one gold answer per item"
        )
    for g in golds:
        if not isinstance(g, str):
            raise EvaluationError(
                f"gold answers must be strings, got {type(g).__name__}",
                hint="convert the gold answers to text",
            )
    return golds


@dataclass(frozen=True)
class GoldPairs:
    """A batch flattened into (prediction, gold) pairs, one per gold answer.

    ``offsets[i]`` is the first pair of item ``i``; :meth:`best` and :meth:`any` reduce
    per-pair results back to one per item (the best over that item's gold answers).
    """

    predictions: list[str]
    golds: list[str]
    offsets: NDArray[np.intp]
    n_items: int

    @classmethod
    def build(cls, predictions: Sequence[str], golds: Golds) -> GoldPairs:
        """Flatten ``predictions`` and ``golds`` (validated like :func:`gold_tuple`)."""
        predictions = list(predictions)
        if len(predictions) != len(golds):
            raise EvaluationError(
                f"{len(predictions)} predictions but {len(golds)} gold entries",
                hint="pass one gold entry (a string or a list of strings) per prediction",
            )
        if not all(map(isinstance, predictions, repeat(str))):
            i = next(i for i, p in enumerate(predictions) if not isinstance(p, str))
            raise EvaluationError(
                f"prediction {i} is {type(predictions[i]).__name__}, not a string",
                row=i,
                hint="predictions must be text",
            )
        if all(map(isinstance, golds, repeat(str))):
            flat = cast("list[str]", list(golds))
            return cls(predictions, flat, np.arange(len(flat), dtype=np.intp), len(flat))
        flat_p: list[str] = []
        flat_g: list[str] = []
        offsets = np.empty(len(golds), dtype=np.intp)
        for i, (p, g) in enumerate(zip(predictions, golds, strict=True)):
            try:
                answers = gold_tuple(g)
            except EvaluationError as exc:
                raise EvaluationError(exc.message, row=i, hint=exc.hint) from None
            offsets[i] = len(flat_g)
            flat_p.extend([p] * len(answers))
            flat_g.extend(answers)
        return cls(flat_p, flat_g, offsets, len(golds))

    def __len__(self) -> int:
        return len(self.golds)

    def best(self, values: NDArray[Any]) -> NDArray[Any]:
        """Per item, the maximum of ``values`` over its gold answers."""
        if len(self.golds) == self.n_items:
            return values
        if self.n_items == 0:
            return values[:0]
        return np.maximum.reduceat(values, self.offsets)

    def any(self, hits: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Per item, whether any of its gold answers is a hit."""
        return self.best(np.asarray(hits, dtype=np.bool_))


def _loop_batch(
    evaluator: Evaluator,
    predictions: Sequence[str],
    golds: Golds,
    questions: Sequence[str | None] | None,
) -> BatchScores:
    if len(predictions) != len(golds):
        raise EvaluationError(f"{len(predictions)} predictions but {len(golds)} gold entries")
    qs: Sequence[str | None] = questions if questions is not None else [None] * len(predictions)
    scores = [
        evaluator.score(p, gold_tuple(g), question=q)
        for p, g, q in zip(predictions, golds, qs, strict=True)
    ]
    values = np.fromiter((s.value for s in scores), dtype=np.float64, count=len(scores))
    verdicts = [s.passed for s in scores]
    if scores and all(v is not None for v in verdicts):
        return BatchScores(values, np.array(verdicts, dtype=np.bool_))
    return BatchScores(values, None)


def score_batch(
    evaluator: Evaluator,
    predictions: Sequence[str],
    golds: Golds,
    questions: Sequence[str | None] | None = None,
) -> BatchScores:
    """Score a batch with ``evaluator``'s vectorised path if it has one, else item by item.

    >>> from vqaft.evaluate import create_evaluator
    >>> score_batch(create_evaluator("exact"), ["Yes", "no"], ["Yes", "No"]).values.tolist()
    [1.0, 0.0]
    """
    method = getattr(evaluator, "score_batch", None)
    if callable(method):
        result = method(predictions, golds, questions)
        if not isinstance(result, BatchScores):
            raise EvaluationError(
                f"evaluator {evaluator.name!r} score_batch returned {type(result).__name__}",
                hint="score_batch must return vqaft.evaluate.BatchScores",
            )
        if len(result) != len(predictions):
            raise EvaluationError(
                f"evaluator {evaluator.name!r} returned {len(result)} scores "
                f"for {len(predictions)} items"
            )
        return result
    return _loop_batch(evaluator, predictions, golds, questions)


async def ascore(
    evaluator: Evaluator, prediction: str, gold: Sequence[str], *, question: str | None = None
) -> ItemScore:
    """Score one item asynchronously: ``evaluator.ascore``, else ``score`` in a thread."""
    method = getattr(evaluator, "ascore", None)
    if method is not None and inspect.iscoroutinefunction(method):
        result: ItemScore = await method(prediction, gold, question=question)
        return result
    return await asyncio.to_thread(evaluator.score, prediction, gold, question=question)


# -- identity ---------------------------------------------------------------------------------


class EvaluatorInfo(BaseModel):
    """What produced a number: the evaluator's name, rule version and settings."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    settings: dict[str, Any] = Field(default_factory=dict)

    def label(self) -> str:
        """A compact one-line form, e.g. ``fuzzy@1(scorer='ratio', threshold=90.0)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{self.name}@{self.version}({args})"


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): _json_safe(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_json_safe(v) for v in value]
        return repr(value)
    return value


def evaluator_info(evaluator: Evaluator) -> EvaluatorInfo:
    """The :class:`EvaluatorInfo` of an evaluator (settings made JSON-safe).

    >>> evaluator_info(create_evaluator("fuzzy", threshold=80)).label()
    "fuzzy@1(scorer='ratio', threshold=80, preprocess='default')"
    """
    return EvaluatorInfo(
        name=str(evaluator.name),
        version=str(evaluator.version),
        settings=_json_safe(dict(evaluator.settings)),
    )


# -- registry ---------------------------------------------------------------------------------

evaluators: Registry[Callable[..., Evaluator]] = Registry(
    "evaluator", "vqaft.evaluators", check=callable
)
"""Registry of evaluator factories (usually classes), entry-point group ``vqaft.evaluators``."""

C = TypeVar("C", bound=type)

_SECRET = re.compile(r"(?:^|_)(?:key|secret|password|token|credentials?)$", re.IGNORECASE)
"""Constructor arguments never recorded as settings (``api_key``, ``token``, ...)."""


def _record_settings(cls: type) -> None:
    """Wrap ``cls.__init__`` so each instance records its constructor arguments as ``settings``."""
    if isinstance(inspect.getattr_static(cls, "settings", None), property):
        return  # the class computes its own settings
    original: Callable[..., None] = inspect.getattr_static(cls, "__init__")
    if original is object.__init__:  # no constructor arguments, so no settings
        if not hasattr(cls, "settings"):
            setattr(cls, "settings", {})  # noqa: B010 - cls is any class
        return
    if getattr(original, "__vqaft_records_settings__", None) is cls:
        return
    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):  # a builtin __init__ without a signature
        return

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        own = getattr(type(self), "__init__", None)
        if own is not __init__ and getattr(own, "__vqaft_records_settings__", None) is not None:
            return  # a decorated subclass's own wrapper records (its arguments, not ours)
        if "settings" in getattr(self, "__dict__", {}):
            return  # the constructor set its own settings
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        settings: dict[str, Any] = {}
        for index, (key, value) in enumerate(bound.arguments.items()):
            if index == 0:
                continue  # self
            kind = signature.parameters[key].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                settings.update({k: v for k, v in value.items() if not _SECRET.search(k)})
            elif _SECRET.search(key):
                continue  # never record a secret
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                if value:
                    settings[key] = list(value)
            else:
                settings[key] = value
        object.__setattr__(self, "settings", settings)

    __init__.__vqaft_records_settings__ = cls  # type: ignore[attr-defined]
    cls.__init__ = __init__  # type: ignore[misc]


def evaluator(name: str, *, version: str | None = None) -> Callable[[C], C]:
    """Class decorator: register an evaluator class under ``name`` and record its identity.

    Sets the class attributes ``name`` and ``version`` (``version`` defaults to the class's own
    attribute, else ``"1"``), and makes every instance record its constructor arguments as
    ``settings`` -- except secrets (arguments named ``api_key``, ``token``, ``password``, ...)
    and unless the constructor sets ``self.settings`` itself. Bump ``version`` whenever the
    same input would score differently.

    >>> @evaluator("always_right", version="2")
    ... class AlwaysRight(BaseEvaluator):
    ...     def __init__(self, value: float = 1.0) -> None:
    ...         self.value = value
    ...     def score(self, prediction, gold, *, question=None):
    ...         return ItemScore(value=self.value, passed=True)
    >>> evaluator_info(create_evaluator("always_right")).label()
    'always_right@2(value=1.0)'
    >>> evaluators.unregister("always_right")
    """

    def decorate(cls: C) -> C:
        if not inspect.isclass(cls):
            raise ConfigError(
                f"@evaluator({name!r}) decorates classes, not {type(cls).__name__}",
                hint="wrap the function in a class with a score() method",
            )
        setattr(cls, "name", name)  # noqa: B010 - C is any class
        if version is not None:
            setattr(cls, "version", version)  # noqa: B010
        elif not isinstance(getattr(cls, "version", None), str):
            setattr(cls, "version", "1")  # noqa: B010
        _record_settings(cls)
        evaluators.register(name, cls)
        return cls

    return decorate


def create_evaluator(name: str, **settings: Any) -> Evaluator:
    """Create the evaluator registered as ``name`` with ``settings``.

    Raises:
        UnknownComponentError: no evaluator of that name (with "did you mean" suggestions).
        ConfigError: the evaluator does not accept these settings, or the object built is not
            an evaluator.

    >>> create_evaluator("fuzzy", scorer="token_set_ratio", threshold=85).settings["threshold"]
    85
    """
    factory = evaluators.get(name)
    try:
        inspect.signature(factory).bind(**settings)
    except TypeError as exc:
        try:
            accepted = ", ".join(inspect.signature(factory).parameters) or "none"
        except (TypeError, ValueError):
            accepted = "unknown"
        raise ConfigError(
            f"evaluator {name!r} does not accept settings {sorted(settings)}: {exc}",
            hint=f"accepted settings: {accepted}",
        ) from None
    except ValueError:  # no signature available: let the call decide
        pass
    instance = factory(**settings)
    if not isinstance(instance, Evaluator):
        raise ConfigError(
            f"evaluator {name!r} built {type(instance).__name__}, which is not an evaluator",
            hint="an evaluator needs name, version, settings and score()",
        )
    return instance
