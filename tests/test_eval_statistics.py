"""Statistics against values worked out by hand (working shown in comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vqaft.errors import ConfigError
from vqaft.evaluate.statistics import (
    _square_and_add,
    bootstrap_interval,
    mcnemar_exact,
    newcombe_paired_interval,
    paired_comparison,
    sign_flip_p_value,
    summarize,
    wilson_interval,
)

Z = 1.959963984540054  # the 97.5% standard normal quantile


def test_wilson_8_of_10_by_hand() -> None:
    # p = 0.8, n = 10, z² = 3.841458820694124
    # denominator = 1 + z²/n                 = 1.3841458820694124
    # center = (p + z²/2n) / denominator      = 0.9920729410347062 / 1.3841458820694124
    #                                         = 0.7167401600411332
    # half = z·sqrt(p(1-p)/n + z²/4n²) / den  = 1.959964 · sqrt(0.016 + 0.0096036470517)
    #                                           / 1.3841458820694124 = 0.2265776885044914
    # interval = (0.49016, 0.94332): the value published for 8/10 (e.g. Wilson calculators).
    interval = wilson_interval(8, 10)
    assert interval.method == "wilson"
    assert interval.low == pytest.approx(0.4901624715, abs=1e-9)
    assert interval.high == pytest.approx(0.9433178485, abs=1e-9)
    center = (0.8 + Z**2 / 20) / (1 + Z**2 / 10)
    assert (interval.low + interval.high) / 2 == pytest.approx(center, abs=1e-12)


def test_wilson_extremes_and_small_n() -> None:
    # 0/10: center = (z²/20)/(1 + z²/10) = 0.13877, half = z·sqrt(z²/400)/(1 + z²/10) = z²/20/den
    # so low = 0 exactly and high = 2·0.13877 = 0.27753.
    zero = wilson_interval(0, 10)
    assert zero.low == 0.0
    assert zero.high == pytest.approx(2 * (Z**2 / 20) / (1 + Z**2 / 10), abs=1e-12)
    full = wilson_interval(10, 10)
    assert full.high == 1.0
    assert full.low == pytest.approx(1 - zero.high, abs=1e-12)  # symmetric
    half = wilson_interval(1, 2)
    assert half.low + half.high == pytest.approx(1.0)
    assert wilson_interval(8, 10, confidence=0.99).low < wilson_interval(8, 10).low
    with pytest.raises(ConfigError):
        wilson_interval(11, 10)
    with pytest.raises(ConfigError):
        wilson_interval(0, 0)
    with pytest.raises(ConfigError):
        wilson_interval(1, 2, confidence=1.5)


def test_mcnemar_b10_c3_by_hand() -> None:
    # n = b + c = 13 discordant pairs, k = min(b, c) = 3.
    # P[X <= 3] for X ~ Bin(13, 1/2) = (C(13,0) + C(13,1) + C(13,2) + C(13,3)) / 2^13
    #                               = (1 + 13 + 78 + 286) / 8192 = 378 / 8192
    # two-sided p = 2 · 378 / 8192 = 756 / 8192 = 0.0922851562...
    assert mcnemar_exact(10, 3) == 756 / 8192
    assert mcnemar_exact(3, 10) == 756 / 8192
    assert math.isclose(mcnemar_exact(10, 3), 0.09228515625)


def test_mcnemar_small_cases() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(1, 1) == 1.0  # 2 · (1 + 2)/4 = 1.5, capped at 1
    assert mcnemar_exact(6, 0) == 2 / 64  # 2 · (1/2)^6 = 0.03125
    assert mcnemar_exact(5, 0) == 2 / 32  # 0.0625: five to none is not significant
    with pytest.raises(ConfigError):
        mcnemar_exact(-1, 2)


def test_mcnemar_log_space_agrees_with_exact_integers() -> None:
    # 2,001+ discordant pairs take the log-space route; compare with exact integer arithmetic.
    b, c = 1100, 1000
    n = b + c
    exact = 2 * sum(math.comb(n, i) for i in range(c + 1)) / 2**n
    assert mcnemar_exact(b, c) == pytest.approx(exact, rel=1e-9)
    assert 0.02 < exact < 0.04
    assert mcnemar_exact(50_000, 50_000) == 1.0
    assert mcnemar_exact(60_000, 40_000) == 0.0  # underflows to 0: overwhelmingly significant


def test_newcombe_square_and_add_matches_published_example() -> None:
    # Newcombe (1998, Stat Med 17:873), example (a): 56/70 vs 48/80, method 10 gives
    # 0.0524 to 0.3339. With phi = 0 the paired formula is that method.
    w1, w2 = wilson_interval(56, 70), wilson_interval(48, 80)
    low, high = _square_and_add(0.8, w1, 0.6, w2, 0.0)
    assert round(low, 4) == 0.0524
    assert round(high, 4) == 0.3339


def test_newcombe_paired_interval_by_hand() -> None:
    # Table: both right 40, only A 10, only B 3, both wrong 47; n = 100.
    # p_a = 0.50, p_b = 0.43, d = 0.07.
    # phi = (40·47 - 10·3) / sqrt(50·50·43·57) = 1850 / (50·sqrt(2451)) = 1850 / 2475.38
    #     = 0.747360...
    both, only_a, only_b, neither = 40, 10, 3, 47
    phi = (both * neither - only_a * only_b) / math.sqrt(50 * 50 * 43 * 57)
    assert phi == pytest.approx(0.747360, abs=1e-6)
    wa, wb = wilson_interval(50, 100), wilson_interval(43, 100)
    low = 0.07 - math.sqrt(
        (0.5 - wa.low) ** 2 - 2 * phi * (0.5 - wa.low) * (wb.high - 0.43) + (wb.high - 0.43) ** 2
    )
    high = 0.07 + math.sqrt(
        (wa.high - 0.5) ** 2 - 2 * phi * (wa.high - 0.5) * (0.43 - wb.low) + (0.43 - wb.low) ** 2
    )
    interval = newcombe_paired_interval(both, only_a, only_b, neither)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-12)
    assert interval.low == pytest.approx(0.00103, abs=1e-5)
    assert interval.high == pytest.approx(0.13719, abs=1e-5)
    # The correlation narrows it: the unpaired (phi = 0) interval is wider.
    unpaired = _square_and_add(0.5, wa, 0.43, wb, 0.0)
    assert unpaired[0] < interval.low
    assert unpaired[1] > interval.high


def test_newcombe_degenerate_tables() -> None:
    same = newcombe_paired_interval(100, 0, 0, 0)  # both always right: phi undefined -> 0
    assert same.low <= 0.0 <= same.high
    assert newcombe_paired_interval(0, 5, 0, 0).high == 1.0
    with pytest.raises(ConfigError):
        newcombe_paired_interval(0, 0, 0, 0)


def test_paired_comparison_binary_uses_mcnemar() -> None:
    a = [1] * 40 + [1] * 10 + [0] * 3 + [0] * 47
    b = [1] * 40 + [0] * 10 + [1] * 3 + [0] * 47
    result = paired_comparison(a, b)
    assert result.test == "mcnemar-exact"
    assert (result.both, result.only_a, result.only_b, result.neither) == (40, 10, 3, 47)
    assert result.difference == pytest.approx(0.07)
    assert result.p_value == 756 / 8192
    assert result.significant is False  # 0.092 > 0.05
    assert result.interval.method == "newcombe"
    assert "not significant" in result.verdict()
    assert paired_comparison(a, b, alpha=0.1).significant is True


def test_paired_comparison_continuous() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0.4, 1.0, size=300)
    b = np.clip(a - 0.1 + rng.normal(0, 0.05, size=300), 0, 1)
    result = paired_comparison(a, b, n_resamples=1000)
    assert result.test == "sign-flip-permutation"
    assert result.interval.method == "paired-bootstrap"
    assert result.interval.contains(result.difference)
    assert result.p_value < 0.01
    assert result.significant
    again = paired_comparison(a, b, n_resamples=1000)
    assert again == result  # seeded: reproducible
    noise = paired_comparison(a, a + rng.normal(0, 0.01, size=300).clip(-a, 1 - a))
    assert noise.interval.contains(0.0)


def test_paired_comparison_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="differ in length"):
        paired_comparison([1, 0], [1])
    with pytest.raises(ConfigError):
        paired_comparison([], [])
    with pytest.raises(ConfigError):
        paired_comparison([0.5], [1.0], binary=True)


def test_sign_flip_p_value() -> None:
    assert sign_flip_p_value([0.0, 0.0]) == 1.0
    # All 8 differences +1: only 2 of the 2^8 sign patterns reach |mean| = 1, so p ≈ 2/256.
    p = sign_flip_p_value([1.0] * 8, n_resamples=20_000)
    assert p == pytest.approx(2 / 256, abs=0.003)


def test_bootstrap_interval() -> None:
    assert bootstrap_interval([0.3]).low == 0.3
    values = np.linspace(0, 1, 101)
    interval = bootstrap_interval(values, n_resamples=4000, seed=3)
    assert interval.method == "bootstrap"
    assert interval.contains(0.5)
    # The mean of 101 evenly spaced values has standard error 0.2915/sqrt(101) = 0.0290, so
    # the 95% interval is about 0.5 ± 0.057.
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * 0.0290, rel=0.1)
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)
    with pytest.raises(ConfigError):
        bootstrap_interval([])
    with pytest.raises(ConfigError):
        bootstrap_interval([0.1, float("nan")])


def test_summarize_picks_the_interval() -> None:
    binary = summarize([1.0] * 8 + [0.0] * 2, [True] * 8 + [False] * 2)
    assert binary.mean == 0.8
    assert binary.n == 10
    assert binary.interval == wilson_interval(8, 10)
    assert binary.pass_interval == wilson_interval(8, 10)
    continuous = summarize([0.9, 0.95, 0.4, 0.0], [True, True, False, False])
    assert continuous.interval is not None
    assert continuous.interval.method == "bootstrap"
    assert continuous.pass_rate == 0.5
    assert summarize([]).mean is None
    assert summarize([0.2, 0.4]).pass_rate is None
