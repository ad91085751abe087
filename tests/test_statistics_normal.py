"""The normal approximation for large groups: agreement with resampling, threshold, wiring.

From ``normal_min_n`` values on (default 2,000), a continuous mean gets the normal interval
instead of the bootstrap, a paired difference the normal interval instead of the paired
bootstrap, and (counting only pairs whose scores differ) the sign-flip test its normal
approximation instead of random sign flips. Below it nothing changed: the numbers are the
ones the resampling code gave before the approximation existed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from helpers_eval import BASE, FT, GOLD
from vqaft.errors import ConfigError
from vqaft.evaluate import ALL, EvaluationSuite, SuiteResult
from vqaft.evaluate.statistics import (
    NORMAL_MIN_N,
    bootstrap_interval,
    normal_interval,
    paired_comparison,
    sign_flip_normal_p_value,
    sign_flip_p_value,
    summarize,
)
from vqaft.report import build_metrics, read_metrics, write_metrics

Z = 1.959963984540054  # the 97.5% standard normal quantile


def _scores(kind: str, n: int, seed: int) -> NDArray[np.float64]:
    """Continuous scores in [0, 1] shaped like real metrics, none of them normal."""
    rng = np.random.default_rng(seed)
    if kind == "skewed":  # mean 0.09, skewness about 2: mostly low similarities
        return rng.beta(0.5, 5.0, size=n)
    if kind == "bimodal":  # ANLS-like: 35% exactly 0, the rest between 0.5 and 1
        return np.where(rng.random(n) < 0.35, 0.0, rng.uniform(0.5, 1.0, size=n))
    if kind == "rare":  # 98% zeros: a long right tail
        return np.where(rng.random(n) < 0.02, rng.uniform(0.5, 1.0, size=n), 0.0)
    raise ValueError(kind)


# -- the normal interval itself ----------------------------------------------------------------


def test_normal_interval_by_hand() -> None:
    # 50 zeros and 50 ones: mean 0.5, s = sqrt(100 / 99 · 0.25) = 0.502519, se = 0.0502519,
    # half-width 1.959964 · 0.0502519 = 0.098492.
    interval = normal_interval([0.0, 1.0] * 50)
    assert interval.method == "normal"
    half = Z * math.sqrt(100 / 99 * 0.25) / 10
    assert interval.low == pytest.approx(0.5 - half, abs=1e-12)
    assert interval.high == pytest.approx(0.5 + half, abs=1e-12)
    assert interval.high - interval.low == pytest.approx(0.196984, abs=1e-6)


def test_normal_interval_stays_within_the_values() -> None:
    # Mean 0.0005 with half-width ~0.00098: the low end would be negative, but a mean of
    # values >= 0 cannot be; the interval is clipped to the smallest value.
    interval = normal_interval([0.0] * 1999 + [1.0])
    assert interval.low == 0.0
    assert interval.high == pytest.approx(
        0.0005 + Z * math.sqrt(0.0005 * 0.9995 * 2000 / 1999 / 2000)
    )
    assert normal_interval([0.3] * 5).low == normal_interval([0.3] * 5).high == 0.3
    assert normal_interval([0.7]).low == 0.7
    with pytest.raises(ConfigError):
        normal_interval([])
    with pytest.raises(ConfigError):
        normal_interval([0.1, float("inf")])


# -- agreement with resampling at large n ------------------------------------------------------


@pytest.mark.parametrize("kind", ["skewed", "bimodal", "rare"])
@pytest.mark.parametrize("n", [NORMAL_MIN_N, 30_000])
def test_normal_and_bootstrap_intervals_agree_at_large_n(kind: str, n: int) -> None:
    values = _scores(kind, n, seed=11)
    fast = summarize(values)  # the default threshold: normal from 2,000 values on
    resampled = summarize(values, normal_min_n=0)  # the bootstrap, 2,000 resamples
    assert fast.interval is not None
    assert resampled.interval is not None
    assert (fast.interval.method, resampled.interval.method) == ("normal", "bootstrap")
    assert fast.mean == resampled.mean
    assert fast.interval.low == pytest.approx(resampled.interval.low, abs=1e-3)
    assert fast.interval.high == pytest.approx(resampled.interval.high, abs=1e-3)


def test_agreement_is_the_approximation_not_luck_of_the_resamples() -> None:
    # With 20,000 resamples the bootstrap's own noise is ~3x smaller; the normal interval is
    # still within 5e-4 of it at n = 2,000 on the skewed, bimodal and rare-tail data.
    for kind in ("skewed", "bimodal", "rare"):
        values = _scores(kind, NORMAL_MIN_N, seed=11)
        bootstrap = bootstrap_interval(values, n_resamples=20_000, seed=1)
        normal = normal_interval(values)
        assert abs(normal.low - bootstrap.low) < 5e-4, kind
        assert abs(normal.high - bootstrap.high) < 5e-4, kind


def _paired(n: int, shift: float, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bimodal (ANLS-like) scores of two models; B keeps A's score on about half the items."""
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(n) < 0.35, 0.0, rng.uniform(0.5, 1.0, size=n))
    other = np.where(rng.random(n) < 0.35 + shift, 0.0, rng.uniform(0.5, 1.0, size=n))
    b = np.where(rng.random(n) < 0.5, a, other)
    return a, b


@pytest.mark.parametrize(
    ("n", "shift"),
    [
        (5_000, 0.0),  # no real difference: p about 0.74
        (5_000, 0.02),  # a small one: p about 0.045, near alpha
        (8_000, 0.05),  # a clear one: p about 0.007
    ],
)
def test_paired_normal_matches_resampling_at_large_n(n: int, shift: float) -> None:
    a, b = _paired(n, shift, seed=3)
    d = a - b
    assert np.count_nonzero(d) >= NORMAL_MIN_N  # the test's own threshold counts these
    fast = paired_comparison(a, b)
    resampled = paired_comparison(a, b, normal_min_n=0)
    assert (fast.interval.method, fast.test) == ("paired-normal", "sign-flip-normal")
    assert (resampled.interval.method, resampled.test) == (
        "paired-bootstrap",
        "sign-flip-permutation",
    )
    assert fast.difference == resampled.difference
    assert fast.interval.low == pytest.approx(resampled.interval.low, abs=1e-3)
    assert fast.interval.high == pytest.approx(resampled.interval.high, abs=1e-3)
    # The permutation p-value with 20,000 sign flips has a standard error of at most 0.0035.
    permutation = sign_flip_p_value(d, n_resamples=20_000, seed=5)
    assert fast.p_value == pytest.approx(permutation, abs=0.01)
    assert fast.p_value == sign_flip_normal_p_value(d)


def test_sign_flip_normal_p_value_by_hand() -> None:
    # Sum 0.05 · 50 = 2.5, sum of squares (0.04 + 0.01 + 0.01 + 0.0225) · 50 = 4.125,
    # z = 2.5 / sqrt(4.125) = 1.23091, p = 2 · (1 - Phi(1.23091)) = 0.21836.
    assert sign_flip_normal_p_value([0.2, -0.1, 0.1, -0.15] * 50) == pytest.approx(
        0.218355, abs=1e-6
    )
    assert sign_flip_normal_p_value([0.0] * 10) == 1.0
    assert sign_flip_normal_p_value([0.5, -0.5]) == 1.0
    with pytest.raises(ConfigError):
        sign_flip_normal_p_value([])


# -- below the threshold nothing changed -------------------------------------------------------


def test_small_groups_still_resample_with_the_numbers_they_always_had() -> None:
    # Pinned from the code before the normal approximation existed (seeded resampling):
    # 1,999 values are one short of the default threshold.
    rng = np.random.default_rng(7)
    values = rng.beta(0.5, 2.0, size=NORMAL_MIN_N - 1)
    summary = summarize(values)
    assert summary.interval is not None
    assert summary.interval.method == "bootstrap"
    assert summary.interval.low == 0.19090790473875638
    assert summary.interval.high == 0.2095233397903213
    a = rng.uniform(0, 1, size=NORMAL_MIN_N - 1)
    b = np.where(rng.random(a.size) < 0.5, a, np.clip(a + rng.normal(-0.01, 0.2, a.size), 0, 1))
    comparison = paired_comparison(a, b)
    assert (comparison.interval.method, comparison.test) == (
        "paired-bootstrap",
        "sign-flip-permutation",
    )
    assert comparison.interval.low == -0.0025989253002708123
    assert comparison.interval.high == 0.00796674578492828
    assert comparison.p_value == 0.3523238380809595


def test_the_threshold_is_inclusive_and_zero_turns_it_off() -> None:
    values = _scores("bimodal", 2_000, seed=2)
    assert summarize(values).interval.method == "normal"  # type: ignore[union-attr]
    assert summarize(values[:-1]).interval.method == "bootstrap"  # type: ignore[union-attr]
    assert summarize(values, normal_min_n=2_001).interval.method == "bootstrap"  # type: ignore[union-attr]
    assert summarize(values, normal_min_n=0).interval.method == "bootstrap"  # type: ignore[union-attr]
    assert summarize(values[:100], normal_min_n=100).interval.method == "normal"  # type: ignore[union-attr]
    # pass/fail values keep their Wilson interval whatever the size
    binary = summarize((values > 0).astype(float), values > 0)
    assert binary.interval.method == "wilson"  # type: ignore[union-attr]


def test_the_paired_test_counts_only_pairs_that_differ() -> None:
    # 3,000 pairs, only 300 of them differ: the interval is normal (n >= 2,000), but the
    # sign-flip test has 300 informative pairs, so it still flips signs.
    rng = np.random.default_rng(4)
    a = rng.uniform(0, 1, size=3_000)
    b = a.copy()
    b[:300] = np.clip(a[:300] + rng.normal(0, 0.2, size=300), 0, 1)
    comparison = paired_comparison(a, b)
    assert comparison.interval.method == "paired-normal"
    assert comparison.test == "sign-flip-permutation"
    assert comparison.p_value == sign_flip_p_value(a - b, n_resamples=2000, seed=0)
    assert paired_comparison(a, b, normal_min_n=300).test == "sign-flip-normal"
    # pass/fail scores keep the exact McNemar test and Newcombe's interval
    binary = paired_comparison((a > 0.5).astype(float), (b > 0.5).astype(float))
    assert (binary.test, binary.interval.method) == ("mcnemar-exact", "newcombe")


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2000"])
def test_bad_thresholds_are_config_errors(bad: object) -> None:
    with pytest.raises(ConfigError, match="normal_min_n"):
        summarize([0.1, 0.2], normal_min_n=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="normal_min_n"):
        paired_comparison([0.1, 0.2], [0.2, 0.1], normal_min_n=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="normal_min_n"):
        EvaluationSuite("exact", normal_min_n=bad)  # type: ignore[arg-type]


# -- the suite, its file form, and what it records ---------------------------------------------


def test_the_threshold_is_set_on_the_suite_and_recorded() -> None:
    assert EvaluationSuite("exact").normal_min_n == NORMAL_MIN_N
    # The fixture run has 30 items: All (30) reaches 10, Title (6) does not; Yes/No's ANLS
    # scores are all 0 or 1, so it keeps a Wilson interval.
    result = EvaluationSuite("exact,anls", normal_min_n=10).run({"ft": FT, "base": BASE}, gold=GOLD)
    assert result.suite.normal_min_n == 10
    groups = result.model("ft").evaluation.groups
    assert groups[ALL].summaries["anls"].interval.method == "normal"  # type: ignore[union-attr]
    assert groups["Yes/No"].summaries["anls"].interval.method == "wilson"  # type: ignore[union-attr]
    assert groups["Title"].summaries["anls"].interval.method == "bootstrap"  # type: ignore[union-attr]
    assert groups[ALL].summaries["exact"].interval.method == "wilson"  # type: ignore[union-attr]
    paired = result.comparison("ft", "base").result.comparisons[ALL]
    assert paired["anls"].interval.method == "paired-normal"
    assert paired["exact"].test == "mcnemar-exact"
    ft_ids, ft_values, _ = result.model("ft").evaluation.scores("anls")
    base_ids, base_values, _ = result.model("base").evaluation.scores("anls")
    base_by_id = dict(zip(base_ids, base_values, strict=True))
    differing = sum(v != base_by_id[i] for i, v in zip(ft_ids, ft_values, strict=True))
    assert differing >= 10  # enough differing pairs for the test's normal approximation
    assert paired["anls"].test == "sign-flip-normal"
    assert paired["anls"].p_value == sign_flip_normal_p_value(
        [v - base_by_id[i] for i, v in zip(ft_ids, ft_values, strict=True)]
    )
    document = build_metrics(result)
    assert document.suite.normal_min_n == 10
    statement = document.comparisons[0].groups[ALL]["anls"].statement
    assert "(normal-approximation permutation test p = " in statement
    methods = {
        m.interval.method for m in document.models["ft"].overall.metrics.values() if m.interval
    }
    assert methods == {"wilson", "normal"}
    default = EvaluationSuite("exact,anls").run({"ft": FT}, gold=GOLD)
    assert default.suite.normal_min_n == NORMAL_MIN_N
    assert default.model("ft").overall.summaries["anls"].interval.method == "bootstrap"  # type: ignore[union-attr]


def test_the_threshold_in_suite_files(tmp_path: Path) -> None:
    toml = tmp_path / "suite.toml"
    toml.write_text('evaluators = ["exact", "anls"]\nnormal_min_n = 10\n')
    suite = EvaluationSuite.from_file(toml)
    assert suite.normal_min_n == 10
    assert EvaluationSuite.from_file(toml, normal_min_n=0).normal_min_n == 0
    overall = suite.run({"ft": FT}, gold=GOLD).model("ft").overall
    assert overall.summaries["anls"].interval.method == "normal"  # type: ignore[union-attr]
    json_file = tmp_path / "suite.json"
    json_file.write_text(json.dumps({"evaluators": ["exact"], "normal_min_n": 0}))
    assert EvaluationSuite.from_file(json_file).normal_min_n == 0
    toml.write_text('evaluators = ["exact"]\n')
    assert EvaluationSuite.from_file(toml).normal_min_n == NORMAL_MIN_N
    toml.write_text('evaluators = ["exact"]\nnormal_min_n = -5\n')
    with pytest.raises(ConfigError, match="key 'normal_min_n'") as info:
        EvaluationSuite.from_file(toml)
    assert info.value.file == str(toml)


def test_files_written_before_the_threshold_still_load(tmp_path: Path) -> None:
    result = EvaluationSuite("exact,anls").run({"ft": FT, "base": BASE}, gold=GOLD)
    # suite_result.json without the field: it was written when everything resampled
    data = json.loads(result.model_dump_json())
    del data["suite"]["normal_min_n"]
    old_result = tmp_path / "suite_result.json"
    old_result.write_text(json.dumps(data))
    loaded = SuiteResult.load(old_result)
    assert loaded.suite.normal_min_n == 0
    assert loaded.models == result.models
    # metrics.json 1.0: no suite.normal_min_n
    path = write_metrics(result, tmp_path / "metrics.json")
    document = json.loads(path.read_text())
    assert document["schema_version"] == "1.1"
    assert document["suite"]["normal_min_n"] == NORMAL_MIN_N
    document["schema_version"] = "1.0"
    del document["suite"]["normal_min_n"]
    path.write_text(json.dumps(document))
    old = read_metrics(path)
    assert old.schema_version == "1.0"
    assert old.suite.normal_min_n == 0
    assert old.models == build_metrics(result).models
