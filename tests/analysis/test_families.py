"""One declared multiple-testing family per display: every cell of a reason breakdown,
for single- and multi-select reasons alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

import analysis
from analysis.reasons import CELL_FAMILY

TABLE = pd.DataFrame(
    {
        "group": ["MIC"] * 3 + ["MOF"] * 3 + ["HN"] * 3,
        "reason": ["portal_error", "payment_error", "other"] * 3,
        "count": [40, 12, 9, 22, 30, 8, 25, 11, 20],
    }
)
RESPONDENTS = {"MIC": 55, "MOF": 52, "HN": 48}


def holm_over_all_cells(cells: pd.DataFrame) -> np.ndarray:
    defined = cells["p_value"].notna().to_numpy()
    adjusted = np.full(len(cells), np.nan)
    adjusted[defined] = multipletests(cells["p_value"][defined], method="holm")[1]
    return adjusted


def test_single_and_multi_select_adjust_over_the_same_family():
    for result in (
        analysis.reason_breakdown(TABLE),
        analysis.reason_breakdown(TABLE, respondents=RESPONDENTS),
    ):
        np.testing.assert_allclose(
            result.cells["p_adjusted"], holm_over_all_cells(result.cells), rtol=1e-12
        )
        assert CELL_FAMILY in result.method


def test_a_multi_select_flag_has_survived_every_cell_of_the_table():
    """Adjusted within one reason, a cell needed to beat only the groups beside it; now it
    has to beat every cell shown, so its adjusted p is at least the per-reason one."""
    result = analysis.reason_breakdown(TABLE, respondents=RESPONDENTS)
    cells = result.cells
    for _, one_reason in cells.groupby("reason"):
        per_reason = multipletests(one_reason["p_value"], method="holm")[1]
        assert (one_reason["p_adjusted"].to_numpy() >= per_reason - 1e-12).all()
    assert (cells["p_adjusted"] > cells["p_value"]).any()
