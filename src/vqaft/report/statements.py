"""Plain-language sentences about numbers: percentages, p-values, comparisons.

>>> from vqaft.evaluate import paired_comparison
>>> c = paired_comparison([1] * 10 + [0] * 3 + [1] * 40, [0] * 10 + [1] * 3 + [1] * 40)
>>> text = comparison_statement(c, a="ft", b="base", label="exact", group="All")
>>> text.split(": ")[0]
'On exact (All, 53 shared examples), ft is right on 94.3% and base on 81.1%'
>>> text.split(": ")[1]
'ft minus base is +13.2 points (95% CI -0.3 to +26.7). The difference is not statistically \
significant (McNemar p = 0.09).'
"""

from __future__ import annotations

from typing import Protocol

__all__ = [
    "comparison_statement",
    "format_interval",
    "format_p",
    "format_percent",
    "format_points",
    "kind_text",
    "test_name",
]


class _Interval(Protocol):
    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def confidence(self) -> float: ...


class _Paired(Protocol):
    @property
    def n(self) -> int: ...
    @property
    def mean_a(self) -> float: ...
    @property
    def mean_b(self) -> float: ...
    @property
    def difference(self) -> float: ...
    @property
    def interval(self) -> _Interval: ...
    @property
    def test(self) -> str: ...
    @property
    def p_value(self) -> float: ...
    @property
    def alpha(self) -> float: ...
    @property
    def significant(self) -> bool: ...


def format_percent(value: float | None) -> str:
    """``0.7341`` -> ``"73.4%"``; ``None`` -> ``"n/a"``."""
    return "n/a" if value is None else f"{100 * value:.1f}%"


def format_points(value: float) -> str:
    """A difference of rates in percentage points, signed: ``0.026`` -> ``"+2.6"``."""
    points = 100 * value
    if abs(points) < 0.05:
        points = 0.0
    return f"{points:+.1f}"


def format_p(p: float) -> str:
    """A p-value to two significant-enough digits: ``"0.31"``, ``"0.004"``, ``"< 0.001"``."""
    if p < 0.001:
        return "< 0.001"
    if p < 0.01:
        return f"= {p:.3f}"
    return f"= {p:.2f}"


def format_interval(low: float, high: float, *, points: bool = False) -> str:
    """An interval as percentages (``"63.6–80.7%"``) or signed points (``"-1.2 to +6.4"``)."""
    if points:
        return f"{format_points(low)} to {format_points(high)}"
    return f"{100 * low:.1f}–{100 * high:.1f}%"


def kind_text(kind: str) -> str:
    """The human name of an evaluator kind (as in metrics.json)."""
    return {
        "pass_fail": "pass/fail",
        "continuous": "continuous",
        "continuous_with_threshold": "continuous, with a pass threshold",
        "rating": "ratings",
    }.get(kind, kind)


def test_name(test: str) -> str:
    """The human name of a paired test."""
    return {
        "mcnemar-exact": "McNemar",
        "sign-flip-permutation": "permutation test",
        "sign-flip-normal": "normal-approximation permutation test",
    }.get(test, test)


def comparison_statement(comparison: _Paired, *, a: str, b: str, label: str, group: str) -> str:
    """One or two sentences saying how ``a`` and ``b`` differ and whether it is more than noise."""
    interval = comparison.interval
    p_text = f"{test_name(comparison.test)} p {format_p(comparison.p_value)}"
    if comparison.significant:
        verdict = (
            f"The difference is statistically significant at alpha = {comparison.alpha:g} "
            f"({p_text})."
        )
    else:
        verdict = f"The difference is not statistically significant ({p_text})."
    if comparison.test == "mcnemar-exact":
        scores = (
            f"{a} is right on {format_percent(comparison.mean_a)} and {b} on "
            f"{format_percent(comparison.mean_b)}"
        )
    else:
        scores = (
            f"{a}'s mean score is {format_percent(comparison.mean_a)} and {b}'s "
            f"{format_percent(comparison.mean_b)}"
        )
    return (
        f"On {label} ({group}, {comparison.n} shared examples), {scores}: "
        f"{a} minus {b} is {format_points(comparison.difference)} points "
        f"({interval.confidence:.0%} CI {format_interval(interval.low, interval.high, points=True)}"
        f"). {verdict}"
    )
