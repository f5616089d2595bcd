"""Tests shared by the analyses: two proportions, homogeneity, and Holm's adjustment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.intervals import ALPHA

# "Significant" means an adjusted p below this; intervals are at 1 - ALPHA (95%).
SIGNIFICANCE = ALPHA

MIN_EXPECTED = 5
MONTE_CARLO_RESAMPLES = 9999
SEED = 20231  # fixed, so a Monte Carlo p-value is reproducible
Z_TEST = "two-proportion z-test (pooled)"
FISHER = "Fisher's exact test (two-sided)"
HOLM = "Holm"


@dataclass(frozen=True)
class TwoProportion:
    statistic: float  # z (signed: first minus second); NaN for Fisher
    p_value: float
    method: str


def two_proportions(x1: int, n1: int, x2: int, n2: int) -> TwoProportion:
    """Compare x1/n1 with x2/n2: z-test, or Fisher's exact test when an expected count < 5."""
    if n1 <= 0 or n2 <= 0:
        return TwoProportion(float("nan"), float("nan"), "not applicable: an empty group")
    table = np.array([[x1, n1 - x1], [x2, n2 - x2]], dtype=float)
    successes, failures = table.sum(axis=0)
    if successes == 0 or failures == 0:
        # Every response is in one column: the proportions are identical, nothing to test.
        return TwoProportion(0.0, 1.0, Z_TEST)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    if (expected < MIN_EXPECTED).any():
        result = stats.fisher_exact(table.astype(int))
        return TwoProportion(float("nan"), float(result.pvalue), FISHER)
    pooled = successes / table.sum()
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / se
    return TwoProportion(float(z), float(2 * stats.norm.sf(abs(z))), Z_TEST)


@dataclass(frozen=True)
class Homogeneity:
    statistic: float
    df: int
    p_value: float
    cramers_v: float
    method: str


def homogeneity(table: np.ndarray) -> Homogeneity:
    """Pearson chi-square test that every row shares one distribution over the columns.

    Rows or columns with no observations are left out (they carry no
    information and would make the expected counts zero). When an expected
    count is below 5, the p-value comes from a seeded Monte Carlo test over
    tables with the same margins.
    """
    table = np.asarray(table, dtype=float)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    rows, cols = table.shape
    if rows < 2 or cols < 2:
        return Homogeneity(
            float("nan"),
            0,
            float("nan"),
            float("nan"),
            "not applicable: fewer than two non-empty groups or categories",
        )
    result = stats.chi2_contingency(table, correction=False)
    df = (rows - 1) * (cols - 1)
    cramers_v = float(np.sqrt(result.statistic / (table.sum() * (min(rows, cols) - 1))))
    if (result.expected_freq < MIN_EXPECTED).any():
        simulated = stats.chi2_contingency(
            table.astype(int),
            correction=False,
            method=stats.MonteCarloMethod(
                n_resamples=MONTE_CARLO_RESAMPLES, rng=np.random.default_rng(SEED)
            ),
        )
        return Homogeneity(
            float(result.statistic),
            df,
            float(simulated.pvalue),
            cramers_v,
            "Pearson chi-square test of homogeneity, Monte Carlo p-value "
            f"({MONTE_CARLO_RESAMPLES} tables with fixed margins, seed {SEED}) "
            "because an expected count is below 5",
        )
    return Homogeneity(
        float(result.statistic),
        df,
        float(result.pvalue),
        cramers_v,
        "Pearson chi-square test of homogeneity (asymptotic)",
    )


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values; NaN entries stay NaN and do not count in the family.

    Holm (1979): with the m p-values sorted ascending, the i-th (from 0) is
    multiplied by m - i, made non-decreasing and capped at 1. Written out
    rather than taken from ``statsmodels.stats.multitest.multipletests``,
    whose Holm branch calls ``gc.collect()`` on every call: a fifth of a
    second in a server process with a large heap, several times per
    statistics request. The tests check it against ``multipletests``.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m:
        order = np.argsort(p[ok], kind="stable")
        scaled = np.maximum.accumulate(p[ok][order] * np.arange(m, 0, -1))
        values = np.empty(m)
        values[order] = np.minimum(scaled, 1.0)
        adjusted[ok] = values
    return adjusted
