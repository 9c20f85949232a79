"""Where DySign pays, read off scored candidates: per-site effects with intervals.

A one-shot search scores hundreds of candidates; the question a user asks of them is "at
which sign sites does a dynamic threshold help?". The answer here is a linear model over the
distinct scored candidates, one indicator per site (1 where the candidate's threshold there
is dynamic):

.. math::
    y_j = \\beta_0 + \\sum_{s} \\beta_s\\, d_{js} + \\varepsilon_j, \\qquad
    \\hat\\beta = \\arg\\min \\lVert y - X\\beta \\rVert^2,

so :math:`\\hat\\beta_s` is "dynamic − static at site s, the other sites held equal". Unlike
the difference of the marginal means of the candidates dynamic and static at s, it is not
confounded by what else a sampler (TPE, NSGA-II) chose alongside that site. The interval is
the ordinary least-squares one, :math:`\\hat\\beta_s \\pm t_{0.975,\\,n-k}\\,
\\sqrt{\\hat\\sigma^2 [(X^T X)^{-1}]_{ss}}` with :math:`\\hat\\sigma^2` the residual variance
over n − k degrees of freedom (k columns): how far the estimate moves with *these* candidates'
scores. It says nothing of how a supernet trained with another seed would score them; that is
what :func:`seed_agreement` over several supernets answers. Interactions (a site paying only
when another is dynamic) are averaged into the main effects.

Sites that never change among the candidates (an override keeps them static) have no effect;
sites that always change together (``sites: [[conv3x3, conv1x1]]``) are one column, reported
as one effect named by both. Torch-free; numpy and scipy are imported on first use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from bnas.rank_agreement import kendall_tau

CONFIDENCE = 0.95


@dataclass(frozen=True)
class SiteEffect:
    """dynamic − static at one site (or a set of sites that only ever change together), in
    the units of the scores; ``low`` / ``high``: its 95 % interval (None without residual
    degrees of freedom); ``n_dynamic`` / ``n_static``: candidates on either side."""

    block: int
    site: str  # "conv3x3", or "conv3x3+conv1x1" for sites that always change together
    effect: float
    low: float | None
    high: float | None
    n_dynamic: int
    n_static: int

    @property
    def key(self) -> str:
        """``b1.conv3x3``: the site as one word (tables, CSV columns)."""
        return f"b{self.block}.{self.site}"

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies on one side of 0 (the sign is more than noise)."""
        return self.low is not None and self.high is not None and (
            self.low > 0 or self.high < 0)


def site_indicators(archs: Sequence[Any]) -> tuple[list[tuple[int, str]], list[list[int]]]:
    """Every (block, site) of the architectures' backbone and, per architecture, a 0/1 per
    site: 1 where its threshold is dynamic. ``archs``: Architectures or their dicts."""
    from bnas.architecture import Architecture

    parsed = [a if isinstance(a, Architecture) else Architecture.from_dict(a) for a in archs]
    if not parsed:
        return [], []
    sites = [(index, site) for index, block in enumerate(parsed[0].blocks) for site in block]
    rows = [[int(arch.blocks[index][site].is_dynamic) for index, site in sites]
            for arch in parsed]
    return sites, rows


def site_effects(archs: Sequence[Any], scores: Sequence[float],
                 confidence: float = CONFIDENCE) -> list[SiteEffect]:
    """Per-site effects of ``scores`` (one per architecture, e.g. val top-1 with inherited
    weights) by the model of the module docstring, in backbone order of the sites."""
    import numpy as np

    if len(archs) != len(scores):
        raise ValueError(f"site_effects: {len(archs)} architectures vs {len(scores)} scores")
    sites, rows = site_indicators(archs)
    if not rows:
        return []
    matrix = np.asarray(rows, dtype=float)
    y = np.asarray(scores, dtype=float)
    columns: list[tuple[list[int], np.ndarray]] = []  # (site indices, indicator column)
    for index in range(len(sites)):
        column = matrix[:, index]
        if column.min() == column.max():
            continue  # never changes: nothing to estimate
        for members, existing in columns:
            if np.array_equal(existing, column) and sites[members[0]][0] == sites[index][0]:
                members.append(index)
                break
        else:
            columns.append(([index], column))
    if not columns:
        return []
    design = np.column_stack([np.ones(len(y)), *[column for _, column in columns]])
    beta, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    dof = len(y) - design.shape[1]
    half_widths: list[float | None] = [None] * len(columns)
    if rank == design.shape[1] and dof > 0:
        from scipy import stats

        residual = y - design @ beta
        variance = float(residual @ residual) / dof
        covariance = variance * np.linalg.inv(design.T @ design)
        quantile = float(stats.t.ppf(0.5 + confidence / 2, dof))
        half_widths = [quantile * math.sqrt(max(float(covariance[k + 1, k + 1]), 0.0))
                       for k in range(len(columns))]
    effects = []
    for k, (members, column) in enumerate(columns):
        block = sites[members[0]][0]
        effect = float(beta[k + 1])
        half = half_widths[k] if rank == design.shape[1] else None
        effects.append(SiteEffect(
            block=block, site="+".join(sites[m][1] for m in members), effect=effect,
            low=None if half is None else effect - half,
            high=None if half is None else effect + half,
            n_dynamic=int(column.sum()), n_static=int(len(column) - column.sum())))
    return effects


def _sign(effect: float) -> int:
    """+1, −1, or 0 for an effect indistinguishable from 0 in floating point (scores that do
    not depend on a site give ±1e-17, not a sign)."""
    return 0 if abs(effect) < 1e-9 else (1 if effect > 0 else -1)


@dataclass(frozen=True)
class SeedAgreement:
    """Whether supernets trained with different seeds tell the same story.

    ``sites``: per site key, its effect under every seed and whether they share a sign;
    ``disagreeing``: the site keys where they do not; ``rank``: Kendall's τ between the
    candidates' scores under each pair of seeds (``{"seeds": [i, j], "tau", "p", "n"}``).
    """

    sites: dict[str, dict[str, Any]]
    disagreeing: list[str]
    rank: list[dict[str, Any]]

    @property
    def agreeing_sites(self) -> int:
        return len(self.sites) - len(self.disagreeing)


def seed_agreement(archs: Sequence[Any], scores_per_seed: Sequence[Sequence[float]],
                   confidence: float = CONFIDENCE) -> SeedAgreement:
    """Per-site effects under every seed's scores of the same ``archs`` and where their
    signs differ; the candidates' rank agreement between each pair of seeds."""
    per_seed = [{e.key: e for e in site_effects(archs, scores, confidence)}
                for scores in scores_per_seed]
    keys = [key for key in (per_seed[0] if per_seed else {}) if all(key in s for s in per_seed)]
    sites, disagreeing = {}, []
    for key in keys:
        effects = [seed[key].effect for seed in per_seed]
        signs = {_sign(effect) for effect in effects}
        agree = len(signs) == 1
        sites[key] = {"effects": effects, "agree": agree,
                      "excludes_zero": [seed[key].excludes_zero for seed in per_seed]}
        if not agree:
            disagreeing.append(key)
    rank = []
    for i, j in combinations(range(len(scores_per_seed)), 2):
        tau = kendall_tau(list(scores_per_seed[i]), list(scores_per_seed[j]))
        rank.append({"seeds": [i, j], **tau})
    return SeedAgreement(sites, disagreeing, rank)
