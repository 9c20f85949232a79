"""Statistics over seeds: mean ± sd, paired comparisons (t-tests, t and bootstrap confidence
intervals), medians of times to a target, and rank agreement (Kendall's τ, noise ceiling).

The arithmetic is scipy's and numpy's; this module only chooses the tests, pairs runs by seed
and turns degenerate inputs (too few seeds, no spread) into NaN instead of warnings.
numpy and scipy are imported on first use: every worker process of an experiment imports
this package, and scipy.stats alone takes about a second to import.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from typing import Any

from bnas.rank_agreement import kendall_tau

__all__ = ["compare", "kendall_tau", "mean_sd", "median", "noise_ceiling", "verdict"]

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 10_000


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1; NaN for n < 2)."""
    import numpy as np

    array = np.asarray(values, dtype=float)
    if not array.size:
        return math.nan, math.nan
    mean = float(array.mean())
    return mean, float(array.std(ddof=1)) if array.size > 1 else math.nan


def compare(base: Sequence[float], other: Sequence[float], *, seed: int = 0,
            resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, float]:
    """``other`` − ``base``, paired by position (= by seed).

    Returns ``n``, the mean and sd of the paired differences d, the paired t-test's p-value
    and 95 % confidence interval of the mean difference, d̄ ± t(0.975, n−1)·sd/√n
    (``scipy.stats.ttest_rel``), a 95 % percentile-bootstrap interval of that mean
    (``scipy.stats.bootstrap`` with ``resamples`` draws of the n differences, seeded by
    ``seed``; narrower than the t interval for a handful of seeds) and Welch's unpaired
    t-test p-value (``scipy.stats.ttest_ind``, ``equal_var=False``). NaN where n < 2 or the
    differences have no spread (the intervals then collapse onto d̄).
    """
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
    with warnings.catch_warnings():
        # Differences without spread: scipy warns and returns NaN p-values.
        warnings.simplefilter("ignore", RuntimeWarning)
        paired = stats.ttest_rel(b, a)
        t_interval = paired.confidence_interval(CONFIDENCE)
        out["p_paired"] = float(paired.pvalue)
        out["p_welch"] = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    out["t_low"], out["t_high"] = float(t_interval.low), float(t_interval.high)
    # random_state rather than rng: setup.cfg allows scipy ≥ 1.11, rng came in 1.15.
    bootstrap = stats.bootstrap((diff,), np.mean, n_resamples=resamples, method="percentile",
                                confidence_level=CONFIDENCE,
                                random_state=np.random.default_rng(seed))
    out["ci_low"] = float(bootstrap.confidence_interval.low)
    out["ci_high"] = float(bootstrap.confidence_interval.high)
    return out


def verdict(comparison: dict[str, Any], other: str, base: str) -> str:
    """Significant at 5 % by the paired t-test, or not, in words."""
    if math.isnan(comparison["p_paired"]):
        return "too few seeds to test"
    if comparison["p_paired"] >= 0.05:
        return f"no significant difference between {other} and {base} at this scale"
    better = other if comparison["mean_diff"] > 0 else base
    return f"{better} is better (paired p < 0.05)"


def median(values: Sequence[float | None]) -> float | None:
    """Median, with None (never reached) counted as +infinity; None if that is the median."""
    ordered = [math.inf if v is None else float(v) for v in values]
    if not ordered:
        return None
    value = statistics.median(ordered)
    return None if math.isinf(value) else value


def noise_ceiling(runs: Sequence[Sequence[float]]) -> dict[str, float]:
    """Kendall's τ between two independent seed sets of the same stand-alone runs.

    ``runs[i][s]``: the score of candidate i trained stand-alone with the s-th seed (every
    candidate with the same seeds, in the same order). The seeds split into two disjoint
    sets of equal size, the first half and the second half (with an odd count the middle
    seed is left out); each set ranks the candidates by their mean score over it. The τ of
    the two rankings is how far stand-alone training agrees with itself: the ceiling for any
    proxy's τ against rankings from that many seeds. Returns :func:`kendall_tau`'s keys plus
    ``seeds_per_set``.
    """
    import numpy as np

    scores = np.asarray(runs, dtype=float)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError("noise_ceiling: expected one row per candidate and ≥ 2 seeds each, "
                         f"got shape {scores.shape}")
    half = scores.shape[1] // 2
    first, second = scores[:, :half].mean(axis=1), scores[:, -half:].mean(axis=1)
    return {**kendall_tau(first.tolist(), second.tolist()), "seeds_per_set": half}
