"""Statistics over seeds: mean ± sd, paired comparisons (t-tests, t and bootstrap confidence
intervals) and medians of times to a target."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1; NaN for n < 2)."""
    values = [float(v) for v in values]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def compare(base: Sequence[float], other: Sequence[float], *, seed: int = 0,
            resamples: int = 10_000) -> dict[str, float]:
    """``other`` − ``base``, paired by position (= by seed).

    Returns the mean and sd of the paired differences d, the paired t-test's p-value
    (scipy.stats.ttest_rel) and its 95 % CI of the mean, d̄ ± t(0.975, n−1)·sd/√n, a 95 %
    percentile-bootstrap CI of the mean (``resamples`` draws of the n differences with
    replacement, seeded; narrower than the t CI for a handful of seeds) and Welch's unpaired
    t-test p-value (scipy.stats.ttest_ind, equal_var=False). NaN where n is too small or the
    differences have no spread.
    """
    import warnings

    import numpy as np
    from scipy import stats

    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    diff = b - a
    n = len(diff)
    out = {"n": n, "mean_diff": float(diff.mean()) if n else math.nan,
           "sd_diff": float(diff.std(ddof=1)) if n > 1 else math.nan,
           "p_paired": math.nan, "t_low": math.nan, "t_high": math.nan,
           "ci_low": math.nan, "ci_high": math.nan, "p_welch": math.nan}
    if n < 2:
        return out
    half = float(stats.t.ppf(0.975, n - 1)) * out["sd_diff"] / math.sqrt(n)
    out["t_low"], out["t_high"] = out["mean_diff"] - half, out["mean_diff"] + half
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
        out["p_paired"] = float(stats.ttest_rel(b, a).pvalue)
        out["p_welch"] = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    out["ci_low"], out["ci_high"] = (float(x) for x in np.percentile(means, [2.5, 97.5]))
    return out


def verdict(c: dict[str, Any], other: str, base: str) -> str:
    """Significant at 5 % by the paired t-test, or not."""
    if c["p_paired"] != c["p_paired"]:
        return "too few seeds to test"
    if c["p_paired"] >= 0.05:
        return f"no significant difference between {other} and {base} at this scale"
    better = other if c["mean_diff"] > 0 else base
    return f"{better} is better (paired p < 0.05)"


def median(values: Sequence[float | None]) -> float | None:
    """Median, with None (never reached) counted as +infinity; None if that is the median."""
    ordered = [math.inf if v is None else float(v) for v in values]
    if not ordered:
        return None
    value = statistics.median(ordered)
    return None if math.isinf(value) else value
