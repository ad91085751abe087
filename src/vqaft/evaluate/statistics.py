"""Honest numbers: intervals for means and paired comparisons of two models.

* a pass/fail rate gets a **Wilson score interval** (good coverage even for small n or rates
  near 0 and 1, unlike the textbook ``p ± z·sqrt(p(1-p)/n)``);
* the mean of a continuous score (ANLS, fuzzy similarity) gets a seeded **percentile
  bootstrap** interval, or from :data:`NORMAL_MIN_N` (2,000) values on the **normal**
  (central limit) interval ``mean ± z·s/sqrt(n)``, which agrees with the bootstrap to about
  1e-3 there at a fraction of the cost;
* two models scored on the *same* examples are compared pairwise: for pass/fail metrics the
  difference gets Newcombe's paired score interval (his method 10) and an **exact McNemar**
  p-value (a two-sided binomial test on the discordant pairs); for continuous metrics the
  difference gets a paired bootstrap interval and a sign-flip permutation p-value, or, for
  large groups, the normal interval of the mean difference and the normal approximation of
  the sign-flip test. ``significant`` is ``p_value < alpha``.

Every interval names its ``method`` and every comparison its ``test``, so a reader can tell
which numbers came from resampling and which from the normal approximation.

>>> wilson_interval(8, 10).low   # doctest: +ELLIPSIS
0.4901...
>>> round(mcnemar_exact(10, 3), 6)
0.092285

No scipy: quantiles come from :class:`statistics.NormalDist`, binomial tails from exact
integer arithmetic (or a log-space sum for very many discordant pairs).
"""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict

from vqaft.errors import ConfigError

__all__ = [
    "NORMAL_MIN_N",
    "Interval",
    "PairedComparison",
    "Summary",
    "bootstrap_interval",
    "mcnemar_exact",
    "newcombe_paired_interval",
    "normal_interval",
    "paired_comparison",
    "sign_flip_normal_p_value",
    "sign_flip_p_value",
    "summarize",
    "wilson_interval",
]

IntervalMethod = Literal[
    "wilson", "bootstrap", "normal", "newcombe", "paired-bootstrap", "paired-normal"
]
PairedTest = Literal["mcnemar-exact", "sign-flip-permutation", "sign-flip-normal"]

NORMAL_MIN_N = 2000
"""Default size from which continuous means and differences use the normal approximation.

From this many values on, the normal interval and the percentile bootstrap (2,000 resamples)
agree to about 1e-3 for scores in [0, 1], skewed or bimodal ones included (the bootstrap's
skewness term is at most ``(z² - 1) / 6n`` there), and the normal sign-flip p-value matches the
permutation p-value to within the permutation's own resampling noise. ``0`` turns the normal
approximation off.
"""

_CHUNK_CELLS = 2_000_000  # resampling works on blocks of about this many numbers


class Interval(BaseModel):
    """A confidence interval and how it was computed."""

    model_config = ConfigDict(frozen=True)

    low: float
    high: float
    confidence: float
    method: IntervalMethod

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval (ends included)."""
        return self.low <= value <= self.high


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ConfigError(
            f"confidence must be between 0 and 1, got {confidence!r}", hint="e.g. 0.95"
        )
    return confidence


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + _check_confidence(confidence) / 2)


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a proportion ``successes / n``.

    ``center = (p + z²/2n) / (1 + z²/n)``, ``half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)``.

    Raises:
        ConfigError: ``n`` is not positive or ``successes`` is outside ``0..n``.

    >>> i = wilson_interval(0, 10)
    >>> (i.low, round(i.high, 4))
    (0.0, 0.2775)
    """
    if n <= 0 or not 0 <= successes <= n:
        raise ConfigError(f"need 0 <= successes <= n and n > 0, got {successes}/{n}")
    z = _z(confidence)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return Interval(low=low, high=high, confidence=confidence, method="wilson")


def _as_vector(values: ArrayLike, what: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ConfigError(f"{what} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.isfinite(array).all():
        raise ConfigError(f"{what} contain NaN or infinite values")
    return array


def _resampled_means(
    values: NDArray[np.float64], n_resamples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Means of ``n_resamples`` bootstrap resamples, drawn block by block to bound memory."""
    n = values.shape[0]
    means = np.empty(n_resamples, dtype=np.float64)
    rows = max(1, _CHUNK_CELLS // n)
    for start in range(0, n_resamples, rows):
        k = min(rows, n_resamples - start)
        index = rng.integers(0, n, size=(k, n))
        means[start : start + k] = values[index].mean(axis=1)
    return means


def bootstrap_interval(
    values: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval for the mean of ``values`` (seeded, vectorised).

    Raises:
        ConfigError: ``values`` is empty, or ``n_resamples`` is not positive.

    >>> bootstrap_interval([0.5, 0.5, 0.5]).low
    0.5
    """
    array = _as_vector(values, "values")
    _check_confidence(confidence)
    if array.size == 0:
        raise ConfigError("cannot bootstrap the mean of no values")
    if n_resamples <= 0:
        raise ConfigError(f"n_resamples must be positive, got {n_resamples}")
    if np.all(array == array[0]):
        value = float(array[0])
        return Interval(low=value, high=value, confidence=confidence, method="bootstrap")
    means = _resampled_means(array, n_resamples, np.random.default_rng(seed))
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Interval(low=float(low), high=float(high), confidence=confidence, method="bootstrap")


def normal_interval(values: ArrayLike, *, confidence: float = 0.95) -> Interval:
    """Normal (central limit) interval for the mean of ``values``: ``mean ± z·s/sqrt(n)``.

    ``s`` is the sample standard deviation (``n - 1`` in the denominator). The ends are
    clipped to the smallest and largest value, where a mean cannot go. Meant for large
    samples (see :data:`NORMAL_MIN_N`); for small ones use :func:`bootstrap_interval`.

    Raises:
        ConfigError: ``values`` is empty.

    >>> i = normal_interval([0.0, 1.0] * 50)
    >>> round(i.low, 4), round(i.high, 4), i.method
    (0.4015, 0.5985, 'normal')
    """
    array = _as_vector(values, "values")
    z = _z(confidence)
    if array.size == 0:
        raise ConfigError("cannot take the interval of the mean of no values")
    mean = float(array.mean())
    n = int(array.size)
    half = z * float(array.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    low = max(float(array.min()), mean - half)
    high = min(float(array.max()), mean + half)
    return Interval(low=low, high=high, confidence=confidence, method="normal")


def _check_normal_min_n(normal_min_n: int) -> int:
    if isinstance(normal_min_n, bool) or not isinstance(normal_min_n, int) or normal_min_n < 0:
        raise ConfigError(
            f"normal_min_n must be a whole number >= 0, got {normal_min_n!r}",
            hint=f"e.g. {NORMAL_MIN_N}; 0 always uses the bootstrap",
        )
    return normal_min_n


def _use_normal(n: int, normal_min_n: int) -> bool:
    return 0 < _check_normal_min_n(normal_min_n) <= n


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs.

    Under "no difference" each discordant pair goes either way with probability 1/2, so
    ``p = min(1, 2 · P[Binomial(b + c, 1/2) <= min(b, c)])``. Computed with exact integers up
    to 2,000 discordant pairs, beyond that as a stable log-space sum.

    >>> mcnemar_exact(0, 0)
    1.0
    >>> mcnemar_exact(5, 0)   # 2 · (1/2)^5
    0.0625
    """
    if b < 0 or c < 0:
        raise ConfigError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    if n <= 2000:
        tail = sum(math.comb(n, i) for i in range(k + 1))
        return min(1.0, float(Fraction(2 * tail, 2**n)))
    # log C(n, i+1) = log C(n, i) + log(n - i) - log(i + 1); log C(n, 0) = 0.
    i = np.arange(k, dtype=np.float64)
    log_comb = np.concatenate(([0.0], np.cumsum(np.log(n - i) - np.log(i + 1))))
    top = float(log_comb.max())
    log_tail = top + math.log(float(np.exp(log_comb - top).sum())) - n * math.log(2)
    return min(1.0, 2 * math.exp(log_tail))


def _square_and_add(
    p_a: float, wa: Interval, p_b: float, wb: Interval, phi: float
) -> tuple[float, float]:
    """Newcombe's square-and-add limits for ``p_a - p_b`` from the two Wilson intervals.

    With ``phi = 0`` this is his method 10 for two independent proportions.
    """
    d = p_a - p_b
    down = (p_a - wa.low) ** 2 - 2 * phi * (p_a - wa.low) * (wb.high - p_b) + (wb.high - p_b) ** 2
    up = (wa.high - p_a) ** 2 - 2 * phi * (wa.high - p_a) * (p_b - wb.low) + (p_b - wb.low) ** 2
    return max(-1.0, d - math.sqrt(max(0.0, down))), min(1.0, d + math.sqrt(max(0.0, up)))


def newcombe_paired_interval(
    both: int, only_a: int, only_b: int, neither: int, *, confidence: float = 0.95
) -> Interval:
    """Newcombe's (1998, method 10) interval for ``rate_a - rate_b`` on paired pass/fail data.

    Combines the Wilson intervals of the two rates, corrected by the correlation ``phi`` of the
    paired outcomes::

        d = (only_a - only_b) / n
        low  = d - sqrt((p_a - l_a)² - 2·phi·(p_a - l_a)·(u_b - p_b) + (u_b - p_b)²)
        high = d + sqrt((u_a - p_a)² - 2·phi·(u_a - p_a)·(p_b - l_b) + (p_b - l_b)²)

    >>> i = newcombe_paired_interval(40, 10, 3, 47)
    >>> i.contains(0.07), i.contains(0.0)
    (True, False)
    """
    counts = (both, only_a, only_b, neither)
    if min(counts) < 0 or sum(counts) == 0:
        raise ConfigError(f"need non-negative counts with a positive total, got {counts}")
    n = sum(counts)
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    wa = wilson_interval(both + only_a, n, confidence=confidence)
    wb = wilson_interval(both + only_b, n, confidence=confidence)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = 0.0 if margins == 0 else (both * neither - only_a * only_b) / math.sqrt(margins)
    low, high = _square_and_add(p_a, wa, p_b, wb, phi)
    return Interval(low=low, high=high, confidence=confidence, method="newcombe")


def sign_flip_p_value(differences: ArrayLike, *, n_resamples: int = 10_000, seed: int = 0) -> float:
    """Two-sided paired permutation p-value for "the mean difference is zero".

    Under the null each paired difference is as likely positive as negative; the p-value is
    the share of random sign flips whose mean is at least as far from 0 as the observed one,
    counted as ``(hits + 1) / (n_resamples + 1)`` so it is never 0.
    """
    d = _as_vector(differences, "differences")
    if d.size == 0:
        raise ConfigError("no paired differences to test")
    observed = abs(float(d.mean()))
    if observed == 0.0:
        return 1.0
    rng = np.random.default_rng(seed)
    n = d.shape[0]
    rows = max(1, _CHUNK_CELLS // n)
    hits = 0
    tolerance = 1e-12 * max(1.0, observed)
    for start in range(0, n_resamples, rows):
        k = min(rows, n_resamples - start)
        signs = rng.integers(0, 2, size=(k, n), dtype=np.int8) * 2 - 1
        means = np.abs((signs * d).mean(axis=1))
        hits += int((means >= observed - tolerance).sum())
    return (hits + 1) / (n_resamples + 1)


def sign_flip_normal_p_value(differences: ArrayLike) -> float:
    """The normal approximation of :func:`sign_flip_p_value` (no resampling).

    Under random sign flips the sum ``S = Σ ±d_i`` has mean 0 and variance ``Σ d_i²``, and by
    the central limit theorem is close to normal when many differences are non-zero, so
    ``p = P[|N(0, 1)| >= |Σ d_i| / sqrt(Σ d_i²)] = erfc(|Σ d_i| / sqrt(2 Σ d_i²))``. Pairs with
    equal scores (``d_i = 0``) change neither the sum nor its variance.

    Raises:
        ConfigError: ``differences`` is empty.

    >>> round(sign_flip_normal_p_value([0.2, -0.1, 0.1, -0.15] * 50), 3)  # z = 2.5 / sqrt(4.125)
    0.218
    >>> sign_flip_normal_p_value([0.0, 0.0])
    1.0
    """
    d = _as_vector(differences, "differences")
    if d.size == 0:
        raise ConfigError("no paired differences to test")
    total = float(d.sum())
    if total == 0.0:
        return 1.0
    z = abs(total) / math.sqrt(float(np.dot(d, d)))
    return min(1.0, math.erfc(z / math.sqrt(2)))


class Summary(BaseModel):
    """Mean of one evaluator's scores over a group of items, with its interval.

    ``interval`` is Wilson when every value is 0 or 1 (the mean is a pass rate), else
    bootstrap, or normal for ``n`` of at least ``normal_min_n`` (see :func:`summarize`);
    ``interval.method`` says which. ``pass_rate``/``pass_interval`` are set when the
    evaluator gives pass/fail verdicts (for pass/fail metrics they repeat
    ``mean``/``interval``).
    """

    model_config = ConfigDict(frozen=True)

    n: int
    mean: float | None
    interval: Interval | None
    pass_rate: float | None = None
    pass_interval: Interval | None = None


def summarize(
    values: ArrayLike,
    passed: ArrayLike | None = None,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    normal_min_n: int = NORMAL_MIN_N,
) -> Summary:
    """n, mean and interval of ``values`` (and the pass rate of ``passed``, if given).

    The mean of pass/fail values (all 0 or 1) gets a Wilson interval; of continuous values, a
    bootstrap interval (``n_resamples``, ``seed``), or the normal interval when there are at
    least ``normal_min_n`` values (``0``: always the bootstrap).

    Raises:
        ConfigError: bad options, or values that are not finite.

    >>> s = summarize([1.0, 0.0, 1.0, 1.0], [True, False, True, True])
    >>> s.mean, s.interval.method, s.pass_rate
    (0.75, 'wilson', 0.75)
    """
    array = _as_vector(values, "values")
    _check_normal_min_n(normal_min_n)
    n = int(array.size)
    if n == 0:
        return Summary(n=0, mean=None, interval=None)
    mean = float(array.mean())
    binary = bool(np.isin(array, (0.0, 1.0)).all())
    if binary:
        interval = wilson_interval(int(array.sum()), n, confidence=confidence)
    elif _use_normal(n, normal_min_n):
        interval = normal_interval(array, confidence=confidence)
    else:
        interval = bootstrap_interval(
            array, confidence=confidence, n_resamples=n_resamples, seed=seed
        )
    if passed is None:
        return Summary(n=n, mean=mean, interval=interval)
    verdicts = np.asarray(passed, dtype=np.bool_)
    if verdicts.shape != array.shape:
        raise ConfigError(f"passed has shape {verdicts.shape}, values {array.shape}")
    successes = int(verdicts.sum())
    return Summary(
        n=n,
        mean=mean,
        interval=interval,
        pass_rate=successes / n,
        pass_interval=wilson_interval(successes, n, confidence=confidence),
    )


class PairedComparison(BaseModel):
    """Model A against model B on the same examples (``difference = mean_a - mean_b``).

    For pass/fail metrics ``only_a``/``only_b`` count the discordant pairs (A right and B
    wrong, and the reverse), ``test`` is ``"mcnemar-exact"`` and ``interval`` is Newcombe's;
    for continuous metrics ``test`` is ``"sign-flip-permutation"`` and ``interval`` is a
    paired bootstrap, or for large groups ``"sign-flip-normal"`` and ``"paired-normal"`` (see
    :func:`paired_comparison`). ``significant`` is ``p_value < alpha``.

    The exact McNemar test is conservative, so for pass/fail metrics Newcombe's interval can
    just exclude 0 while the test is not significant (e.g. 10 vs 3 discordant pairs out of
    100: interval 0.001 to 0.137, p = 0.092). ``significant`` follows the test.
    """

    model_config = ConfigDict(frozen=True)

    n: int
    mean_a: float
    mean_b: float
    difference: float
    interval: Interval
    p_value: float
    test: PairedTest
    alpha: float
    significant: bool
    both: int | None = None
    only_a: int | None = None
    only_b: int | None = None
    neither: int | None = None

    def verdict(self) -> str:
        """One sentence saying whether the difference is more than noise."""
        direction = "A better" if self.difference > 0 else "B better"
        if self.difference == 0:
            direction = "no difference"
        word = "significant" if self.significant else "not significant"
        return (
            f"{direction} by {abs(self.difference):.4f} "
            f"({self.interval.confidence:.0%} CI {self.interval.low:+.4f} to "
            f"{self.interval.high:+.4f}); {self.test} p = {self.p_value:.4g}, {word} at "
            f"alpha {self.alpha:g}"
        )


def paired_comparison(
    a: ArrayLike,
    b: ArrayLike,
    *,
    binary: bool | None = None,
    confidence: float = 0.95,
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
    normal_min_n: int = NORMAL_MIN_N,
) -> PairedComparison:
    """Compare two models' scores on the same items (``a[i]`` and ``b[i]`` are one example).

    Args:
        a, b: per-item scores of model A and model B, aligned.
        binary: treat the scores as pass/fail (0/1); default: when every value is 0 or 1.
        confidence: level of the interval for the difference.
        alpha: significance level for ``significant``.
        n_resamples: bootstrap/permutation resamples for continuous scores.
        seed: random seed for continuous scores.
        normal_min_n: for continuous scores, from this many pairs on the interval of the mean
            difference is the normal one (``"paired-normal"``), and from this many pairs
            whose scores *differ* on the p-value is the normal approximation of the sign-flip
            test (``"sign-flip-normal"``); ``0`` always resamples.

    Raises:
        ConfigError: misaligned or empty scores, or bad options.

    >>> c = paired_comparison([1] * 10 + [0] * 3 + [1] * 40, [0] * 10 + [1] * 3 + [1] * 40)
    >>> c.only_a, c.only_b, round(c.p_value, 4), c.significant
    (10, 3, 0.0923, False)
    """
    x = _as_vector(a, "scores of model A")
    y = _as_vector(b, "scores of model B")
    if x.shape != y.shape:
        raise ConfigError(
            f"paired scores differ in length ({x.size} vs {y.size})",
            hint="compare the two models on the same examples, aligned by example id",
        )
    if x.size == 0:
        raise ConfigError("no paired examples to compare")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha!r}")
    n = int(x.size)
    _check_normal_min_n(normal_min_n)
    if binary is None:
        binary = bool(np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all())
    if binary:
        if not (np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all()):
            raise ConfigError("binary comparison needs scores that are all 0 or 1")
        pa, pb = x == 1.0, y == 1.0
        both = int((pa & pb).sum())
        only_a = int((pa & ~pb).sum())
        only_b = int((~pa & pb).sum())
        neither = n - both - only_a - only_b
        p_value = mcnemar_exact(only_a, only_b)
        return PairedComparison(
            n=n,
            mean_a=float(pa.mean()),
            mean_b=float(pb.mean()),
            difference=(only_a - only_b) / n,
            interval=newcombe_paired_interval(both, only_a, only_b, neither, confidence=confidence),
            p_value=p_value,
            test="mcnemar-exact",
            alpha=alpha,
            significant=p_value < alpha,
            both=both,
            only_a=only_a,
            only_b=only_b,
            neither=neither,
        )
    d = x - y
    if _use_normal(n, normal_min_n):
        approximate = normal_interval(d, confidence=confidence)
        interval = Interval(
            low=approximate.low,
            high=approximate.high,
            confidence=confidence,
            method="paired-normal",
        )
    else:
        bootstrap = bootstrap_interval(d, confidence=confidence, n_resamples=n_resamples, seed=seed)
        interval = Interval(
            low=bootstrap.low, high=bootstrap.high, confidence=confidence, method="paired-bootstrap"
        )
    test: PairedTest
    if _use_normal(int(np.count_nonzero(d)), normal_min_n):
        p_value, test = sign_flip_normal_p_value(d), "sign-flip-normal"
    else:
        p_value = sign_flip_p_value(d, n_resamples=max(n_resamples, 1000), seed=seed)
        test = "sign-flip-permutation"
    return PairedComparison(
        n=n,
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        difference=float(d.mean()),
        interval=interval,
        p_value=p_value,
        test=test,
        alpha=alpha,
        significant=p_value < alpha,
    )
