"""Results are values: ``to_frame()`` hands out the result's table as a copy of its own."""

from __future__ import annotations

import pandas as pd
import pytest

import analysis

SATISFACTION = pd.DataFrame(
    {"group": ["MIC", "MOF", "HN"], "satisfied": [70, 90, 40], "total": [100, 100, 60]}
)
REASONS = pd.DataFrame(
    {
        "group": ["MIC", "MIC", "MOF", "MOF"],
        "reason": ["portal_error", "payment_error", "portal_error", "payment_error"],
        "count": [30, 10, 12, 25],
    }
)
TREND = pd.DataFrame(
    {"period": ["2026-01", "2026-02", "2026-03"], "satisfied": [70, 75, 82], "total": [100] * 3}
)
TRENDS = pd.DataFrame(
    {
        "group": ["MIC"] * 3 + ["MOF"] * 3,
        "period": ["2026-01", "2026-02", "2026-03"] * 2,
        "satisfied": [70, 75, 82, 90, 88, 91],
        "total": [100] * 6,
    }
)

RESULTS = {
    "satisfaction": (lambda: analysis.compare_satisfaction(SATISFACTION), "groups"),
    "reasons": (lambda: analysis.reason_breakdown(REASONS), "cells"),
    "trend": (lambda: analysis.trend(TREND), "periods"),
    "trends": (lambda: analysis.compare_trends(TRENDS), "slopes"),
}


@pytest.mark.parametrize("name", RESULTS)
def test_to_frame_is_the_result_table_as_a_copy(name):
    compute, table = RESULTS[name]
    result = compute()
    frame = result.to_frame()
    pd.testing.assert_frame_equal(frame, getattr(result, table))
    assert len(frame) > 0
    before = getattr(result, table).copy()
    frame[frame.columns[0]] = "changed"  # a caller changing its copy
    pd.testing.assert_frame_equal(getattr(result, table), before)
