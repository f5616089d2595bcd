"""Simulations where the truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd

import analysis
from questionnaires import REASON_CODES

REASONS = list(REASON_CODES)
PUBLISHED = np.array([36, 25, 10, 5, 3, 14], dtype=float)  # DESIGN.md; sums to 93 on purpose


def test_twelve_ministries_with_one_doubled_payment_error_rate():
    """M00 has twice the payment-error rate; the other eleven follow the published mix.

    Over 40 replications (fixed seed): M00's payment_error cell is flagged every
    time; no null ministry is ever flagged as having *more* payment errors; the
    intervals cover the true shares at about 95%. A null ministry can be flagged
    *below* the pooled payment share in some replications, because M00 pulls the
    pooled share up: residuals compare each ministry with the pooled mix, which
    is what they are defined to do, so the test bounds how often that happens.
    """
    rng = np.random.default_rng(2023)
    null = PUBLISHED / PUBLISHED.sum()
    shifted = PUBLISHED.copy()
    shifted[2] *= 2
    shifted /= shifted.sum()
    truth = {f"M{i:02d}": (shifted if i == 0 else null) for i in range(12)}
    replications, detected, clean, covered, cells_seen = 40, 0, 0, 0, 0
    for _ in range(replications):
        rows = []
        for group, shares in truth.items():
            counts = rng.multinomial(2000, shares)
            rows += [
                {"group": group, "reason": r, "count": c}
                for r, c in zip(REASONS, counts, strict=True)
            ]
        result = analysis.reason_breakdown(pd.DataFrame(rows))
        cells = result.cells
        true_share = np.array(
            [
                truth[g][REASONS.index(r)]
                for g, r in zip(cells["group"], cells["reason"], strict=True)
            ]
        )
        covered += int(((cells["ci_low"] <= true_share) & (true_share <= cells["ci_high"])).sum())
        cells_seen += len(cells)
        flagged = cells[cells["significant"]]
        pairs = set(zip(flagged["group"], flagged["reason"], strict=True))
        detected += ("M00", "payment_error") in pairs
        null_flags = flagged[flagged["group"] != "M00"]
        assert not (
            (null_flags["reason"] == "payment_error") & (null_flags["adjusted_residual"] > 0)
        ).any()
        clean += null_flags.empty
        assert result.test.p_value < 1e-6
    assert detected == replications
    assert clean >= 0.7 * replications
    assert 0.93 <= covered / cells_seen <= 0.97


def test_wilson_coverage_is_close_to_95_percent():
    rng = np.random.default_rng(7)
    n, p = 60, 0.83
    successes = rng.binomial(n, p, size=4000)
    low, high = analysis.wilson(successes, n)
    coverage = np.mean((low <= p) & (p <= high))
    assert 0.93 <= coverage <= 0.97


def test_newcombe_coverage_is_close_to_95_percent():
    rng = np.random.default_rng(11)
    n1, p1, n2, p2 = 80, 0.83, 120, 0.9
    hits = 0
    for x1, x2 in zip(rng.binomial(n1, p1, 2000), rng.binomial(n2, p2, 2000), strict=True):
        low, high = analysis.newcombe(int(x1), n1, int(x2), n2)
        hits += low <= p1 - p2 <= high
    assert 0.93 <= hits / 2000 <= 0.97


def test_trend_detects_a_real_rise_and_not_a_flat_series():
    rng = np.random.default_rng(5)
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    rising = np.linspace(0.80, 0.90, 12)
    table = pd.DataFrame({"period": months, "total": [800] * 12})
    table["satisfied"] = rng.binomial(800, rising)
    assert analysis.trend(table).trend_test.p_value < 0.01
    flat = table.assign(satisfied=rng.binomial(800, 0.85, 12))
    assert analysis.trend(flat).trend_test.p_value > 0.01


def test_compare_trends_sees_diverging_agencies():
    rng = np.random.default_rng(9)
    rows = []
    for month in range(12):
        for group, rate in (("A", 0.80 + 0.01 * month), ("B", 0.85), ("C", 0.85)):
            rows.append(
                {
                    "group": group,
                    "period": f"2026-{month + 1:02d}",
                    "satisfied": rng.binomial(1000, rate),
                    "total": 1000,
                }
            )
    table = pd.DataFrame(rows)
    assert analysis.compare_trends(table).p_value < 0.001
    same = table[table["group"] != "A"]
    assert analysis.compare_trends(same).p_value > 0.01
