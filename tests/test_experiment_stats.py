"""The experiments' statistics: scipy's numbers equal the textbook formulas the experiments
used before, the committed result tables recompute from their committed per-run rows, and
Kendall's τ and the noise ceiling follow their definitions."""

from __future__ import annotations

import csv
import itertools
import json
import math
import statistics
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as scipy_stats

from experiments import dysign_vs_rsign, search_vs_fixed
from experiments.common.frame import RESULTS
from experiments.common.stats import compare, kendall_tau, mean_sd, noise_ceiling
from experiments.common.tables import write_csv

# Accuracies of five seeds, as the experiments have them: fractions with four decimals.
BASE = [0.7047, 0.7112, 0.6981, 0.7075, 0.7020]
OTHER = [0.7190, 0.6998, 0.7051, 0.7203, 0.6889]


def textbook_comparison(base: list[float], other: list[float], resamples: int,
                        seed: int) -> dict[str, float]:
    """The formulas, written out: paired and Welch t-tests, the t interval, and a percentile
    bootstrap that draws resamples × n indices from numpy's generator seeded with ``seed``."""
    a, b = np.asarray(base), np.asarray(other)
    d = b - a
    n = len(d)
    mean, sd = d.mean(), d.std(ddof=1)
    se = sd / math.sqrt(n)
    t_paired = mean / se
    half = scipy_stats.t.ppf(0.975, n - 1) * se
    var_a, var_b = a.var(ddof=1) / n, b.var(ddof=1) / n
    t_welch = (b.mean() - a.mean()) / math.sqrt(var_a + var_b)
    df_welch = (var_a + var_b) ** 2 / (var_a**2 / (n - 1) + var_b**2 / (n - 1))
    indices = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    low, high = np.percentile(d[indices].mean(axis=1), [2.5, 97.5])
    return {"n": n, "mean_diff": mean, "sd_diff": sd,
            "p_paired": 2 * scipy_stats.t.sf(abs(t_paired), n - 1),
            "t_low": mean - half, "t_high": mean + half, "ci_low": low, "ci_high": high,
            "p_welch": 2 * scipy_stats.t.sf(abs(t_welch), df_welch)}


@pytest.mark.parametrize("n", [2, 5, 8])
def test_compare_equals_the_textbook_formulas(n):
    rng = np.random.default_rng(n)
    base = (0.70 + 0.01 * rng.standard_normal(n)).round(4).tolist()
    other = (0.71 + 0.01 * rng.standard_normal(n)).round(4).tolist()
    got = compare(base, other, seed=3, resamples=2000)
    want = textbook_comparison(base, other, resamples=2000, seed=3)
    assert got.keys() == want.keys()
    for key, value in want.items():
        # scipy and the formulas round differently in the last bit (≤ 1e-17 on these scales).
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_bootstrap_draws_the_same_resamples_as_the_hand_written_one():
    """scipy.stats.bootstrap draws its indices exactly as the hand-written bootstrap did, so
    with five seeds (one summation order) the interval is the same to the last bit."""
    got = compare(BASE, OTHER)
    want = textbook_comparison(BASE, OTHER, resamples=10_000, seed=0)
    assert (got["ci_low"], got["ci_high"]) == (want["ci_low"], want["ci_high"])


def test_compare_without_enough_seeds_or_spread_gives_nan_not_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        single = compare([0.5], [0.6])
        same = compare(BASE, BASE)
    assert single["n"] == 1 and single["mean_diff"] == pytest.approx(0.1)
    assert all(math.isnan(single[k]) for k in ("sd_diff", "p_paired", "t_low", "ci_low",
                                                   "p_welch"))
    assert math.isnan(same["p_paired"]) and same["sd_diff"] == 0
    assert same["t_low"] == same["t_high"] == same["ci_low"] == same["ci_high"] == 0


def test_mean_sd_equals_the_sample_mean_and_standard_deviation():
    mean, sd = mean_sd(BASE)
    assert mean == pytest.approx(statistics.fmean(BASE), rel=1e-15)
    assert sd == pytest.approx(statistics.stdev(BASE), rel=1e-12)
    single_mean, single_sd = mean_sd([0.3])
    assert single_mean == 0.3 and math.isnan(single_sd)
    assert all(math.isnan(x) for x in mean_sd([]))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def typed(row: dict[str, str]) -> dict[str, Any]:
    """A per-run row of a committed results.csv with its numbers as numbers again."""

    def cell(text: str) -> Any:
        if text == "":
            return None
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    return {key: cell(value) for key, value in row.items()}


def assert_same_csv(rows: list[dict[str, Any]], committed: Path, tmp_path: Path) -> None:
    """``rows`` written as the experiment writes them equal the committed CSV cell by cell,
    but for the t interval's last bit (scipy's rounding now, the hand formula's then)."""
    written = read_csv(write_csv(tmp_path / committed.name, rows))
    want = read_csv(committed)
    assert len(written) == len(want) and written[0].keys() == want[0].keys(), committed
    for new, old in zip(written, want):
        for key in old:
            if key in ("t_low", "t_high"):
                assert float(new[key]) == pytest.approx(float(old[key]), rel=0, abs=1e-17)
            else:
                assert new[key] == old[key], (committed.name, key)


def test_dysign_vs_rsign_tables_recompute_from_the_committed_runs(tmp_path):
    folder = RESULTS / "dysign_vs_rsign"
    runs = [typed(row) for row in read_csv(folder / "results.csv")]
    arm_rows, comparisons = dysign_vs_rsign.summarize(runs)
    assert_same_csv(arm_rows, folder / "summary.csv", tmp_path)
    assert_same_csv(comparisons, folder / "comparisons.csv", tmp_path)


def test_search_vs_fixed_tables_recompute_from_the_committed_runs(tmp_path):
    folder = RESULTS / "search_vs_fixed"
    runs = [typed(row) for row in read_csv(folder / "results.csv")]
    epochs = json.loads((folder / "meta.json").read_text())["epochs"]
    arm_rows, comparisons = search_vs_fixed.summarize(runs, epochs)
    assert_same_csv(arm_rows, folder / "summary.csv", tmp_path)
    assert_same_csv(comparisons, folder / "comparisons.csv", tmp_path)


def kendall_by_pairs(first: list[float], second: list[float]) -> float:
    """τ-b from its definition: (concordant − discordant) / √(untied in first · in second)."""
    concordant = discordant = untied_first = untied_second = 0
    for i in range(len(first)):
        for j in range(i + 1, len(first)):
            sign = np.sign(first[i] - first[j]) * np.sign(second[i] - second[j])
            concordant += sign > 0
            discordant += sign < 0
            untied_first += first[i] != first[j]
            untied_second += second[i] != second[j]
    return (concordant - discordant) / math.sqrt(untied_first * untied_second)


def test_kendall_tau_counts_pairs_and_its_p_value_is_exact_for_small_n():
    first, second = [1, 2, 3, 4, 5], [1, 3, 2, 5, 4]
    result = kendall_tau(first, second)
    assert result["n"] == 5 and result["tau"] == pytest.approx(0.6)
    # Two-sided exact p: the share of the 120 orders of five at least as far from τ = 0.
    taus = [kendall_by_pairs(first, list(order)) for order in itertools.permutations(second)]
    assert result["p"] == pytest.approx(np.mean(np.abs(taus) >= 0.6 - 1e-12))
    ties = ([1, 2, 2, 3, 5, 4], [1, 2, 3, 3, 4, 4])
    assert kendall_tau(*ties)["tau"] == pytest.approx(kendall_by_pairs(*ties))
    assert kendall_tau(first, first[::-1])["tau"] == pytest.approx(-1)


def test_kendall_tau_is_nan_for_too_few_or_constant_scores():
    assert math.isnan(kendall_tau([0.5], [0.7])["tau"])
    constant = kendall_tau([0.1, 0.2, 0.3], [0.5, 0.5, 0.5])
    assert math.isnan(constant["tau"]) and math.isnan(constant["p"])
    with pytest.raises(ValueError, match="3 scores vs 2"):
        kendall_tau([1, 2, 3], [1, 2])


def test_noise_ceiling_ranks_each_half_of_the_seeds_by_its_mean():
    # Seeds 0-1 rank the candidates one way, seeds 2-3 the other way.
    runs = [[0.70, 0.72, 0.75, 0.73], [0.74, 0.74, 0.70, 0.72], [0.76, 0.78, 0.69, 0.67]]
    ceiling = noise_ceiling(runs)
    assert ceiling["seeds_per_set"] == 2 and ceiling["n"] == 3
    assert ceiling["tau"] == pytest.approx(-1)
    # With an odd count the middle seed belongs to neither set, however wild it is.
    middle_ignored = noise_ceiling([[0.70, 0.99, 0.71], [0.72, 0.10, 0.73], [0.74, 0.50, 0.75]])
    assert middle_ignored["seeds_per_set"] == 1 and middle_ignored["tau"] == pytest.approx(1)
    with pytest.raises(ValueError, match="≥ 2 seeds"):
        noise_ceiling([[0.7], [0.8]])


def test_noise_ceiling_falls_as_seed_noise_grows():
    rng = np.random.default_rng(0)
    quality = np.linspace(0.60, 0.70, 30)[:, None]
    ceilings = [noise_ceiling(quality + noise * rng.standard_normal((30, 4)))["tau"]
                for noise in (0.001, 0.02, 0.2)]
    assert ceilings[0] > 0.9 and ceilings[0] > ceilings[1] > ceilings[2]
