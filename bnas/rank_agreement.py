"""Rank agreement of two scorings of the same candidates: Kendall's τ-b with its p-value.

A one-shot search ranks candidates by their accuracy with inherited weights; the question is
whether that proxy orders them as stand-alone training does. Both the run record of a
one-shot search and the experiments measure it with this one function. scipy is imported on
first use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def kendall_tau(first: Sequence[float], second: Sequence[float]) -> dict[str, float]:
    """How well two scorings of the same candidates agree on their order.

    ``first[i]`` and ``second[i]`` score candidate i (e.g. a one-shot proxy and stand-alone
    accuracy). Returns ``n``, Kendall's τ-b (ties counted as neither agreement nor
    disagreement) and its two-sided p-value against τ = 0 (``scipy.stats.kendalltau``: exact
    for small n without ties). NaN where n < 2 or a scoring is constant.
    """
    from scipy import stats

    if len(first) != len(second):
        raise ValueError(f"kendall_tau: {len(first)} scores vs {len(second)}")
    out = {"n": len(first), "tau": math.nan, "p": math.nan}
    if len(first) < 2 or len(set(first)) < 2 or len(set(second)) < 2:
        return out
    result = stats.kendalltau(first, second)
    out["tau"], out["p"] = float(result.statistic), float(result.pvalue)
    return out
