"""Why citizens are dissatisfied: reason shares per group and which differences are real."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.intervals import wilson
from analysis.results import frame_text, json_safe
from analysis.significance import (
    HOLM,
    SIGNIFICANCE,
    Homogeneity,
    holm,
    homogeneity,
    two_proportions,
)
from analysis.tables import count_table

CELL_COLUMNS = [
    "group",
    "reason",
    "count",
    "share",
    "ci_low",
    "ci_high",
    "adjusted_residual",
    "p_value",
    "p_adjusted",
    "significant",
]


@dataclass(frozen=True)
class ReasonBreakdown:
    """Reason shares per group, with intervals and tests.

    Attributes
    ----------
    cells : DataFrame
        ``group, reason, count, share, ci_low, ci_high, adjusted_residual,
        p_value, p_adjusted, significant``, plus ``denominator`` (responses
        of the group, or its respondents in multi-select mode).
    overall : DataFrame
        ``reason, count, share, ci_low, ci_high`` for all groups together.
    test : Homogeneity or None
        Chi-square test of homogeneity of the group × reason table
        (single-select); None in multi-select mode, where ``reason_tests``
        holds one test per reason.
    reason_tests : DataFrame or None
        Multi-select: per reason, the chi-square test that all groups share
        one rate, Holm-adjusted across reasons.
    method : list of str
        Every test and correction used.
    table : DataFrame
        The count table the result was computed from.
    respondents : dict or None
        Multi-select denominators, as given.
    """

    cells: pd.DataFrame
    overall: pd.DataFrame
    test: Homogeneity | None
    reason_tests: pd.DataFrame | None
    method: list[str]
    table: pd.DataFrame = field(repr=False)
    respondents: dict[str, int] | None = None

    @property
    def multi_select(self) -> bool:
        return self.respondents is not None

    def to_frame(self) -> pd.DataFrame:
        return self.cells.copy()

    def to_dict(self) -> dict:
        return json_safe(
            {
                "cells": self.cells,
                "overall": self.overall,
                "test": self.test,
                "reason_tests": self.reason_tests,
                "multi_select": self.multi_select,
                "method": self.method,
            }
        )

    def summary(self) -> str:
        parts = ["Reason breakdown", "", frame_text(self.overall), "", frame_text(self.cells)]
        if self.test is not None:
            t = self.test
            parts += [
                "",
                f"{t.method}: X2 = {t.statistic:.4g}, df = {t.df}, "
                f"p = {t.p_value:.4g}, Cramer's V = {t.cramers_v:.3g}",
            ]
        if self.reason_tests is not None:
            parts += ["", frame_text(self.reason_tests)]
        return "\n".join(parts)


# One family per display: a breakdown shows every (group, reason) cell at once, and a
# reader scans them all for the flagged ones, so all of them are adjusted together.
CELL_FAMILY = (
    f"{HOLM} adjustment across all cells of the table (one family per breakdown, for "
    "single- and multi-select reasons alike)"
)


def reason_breakdown(
    table: pd.DataFrame, respondents: Mapping[str, int] | None = None
) -> ReasonBreakdown:
    """Reason shares per group with 95% Wilson intervals and significance.

    Parameters
    ----------
    table : DataFrame
        ``group, reason, count``; a missing (group, reason) row means 0.
    respondents : mapping, optional
        Group -> number of people who answered the (multi-select) reason
        question. When given, shares are of respondents and each reason is
        tested group-versus-rest with a 2×2 test; otherwise reasons are
        single-select shares of the group's total and the group × reason
        table gets Haberman adjusted residuals.

    Either way the multiple-testing family is the table a display shows:
    every (group, reason) cell of this breakdown, Holm-adjusted together
    (``CELL_FAMILY``), so a flag means the same in both kinds of question.
    """
    frame = count_table(table, ("group", "reason"), ("count",), what="reason table")
    if frame.empty:
        raise ValueError("reason table: no rows")
    frame["group"] = frame["group"].astype(str)
    frame["reason"] = frame["reason"].astype(str)
    wide = frame.pivot(index="group", columns="reason", values="count").fillna(0).astype("int64")
    groups, reasons = list(wide.index), list(wide.columns)
    counts = wide.to_numpy()
    if respondents is None:
        return _single(frame, wide, groups, reasons, counts)
    return _multi(frame, wide, groups, reasons, counts, respondents)


def _cells(
    counts: np.ndarray, groups: list, reasons: list, group_denominators: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (group, reason) with its share of the group's denominator and interval."""
    cells = pd.DataFrame(
        {"group": np.repeat(groups, len(reasons)), "reason": np.tile(reasons, len(groups))}
    ).assign(count=counts.reshape(-1))
    denominators = np.repeat(group_denominators, len(reasons))
    with np.errstate(invalid="ignore", divide="ignore"):
        cells["share"] = np.where(denominators > 0, cells["count"] / denominators, np.nan)
    cells["ci_low"], cells["ci_high"] = wilson(cells["count"], denominators)
    return cells, denominators


def _overall(reasons: list, counts: np.ndarray, denominator: int) -> pd.DataFrame:
    totals = counts.sum(axis=0)
    low, high = wilson(totals, denominator)
    share = totals / denominator if denominator else np.full(len(reasons), np.nan)
    return pd.DataFrame(
        {"reason": reasons, "count": totals, "share": share, "ci_low": low, "ci_high": high}
    )


def adjusted_residuals(counts: np.ndarray) -> np.ndarray:
    """Haberman's (1973) adjusted residuals of a table with no empty row or column.

    (O - E) / sqrt(E (1 - row/N) (1 - col/N)) on the counts as observed.
    Not statsmodels' ``Table.standardized_resids``: its default
    ``shift_zeros=True`` adds 0.5 to every cell as soon as one is zero, which
    shrinks every residual and parts them from the chi-square of the table.
    """
    counts = np.asarray(counts, dtype=float)
    n = counts.sum()
    row = counts.sum(axis=1, keepdims=True) / n
    col = counts.sum(axis=0, keepdims=True) / n
    expected = n * row * col
    return (counts - expected) / np.sqrt(expected * (1 - row) * (1 - col))


def _single(frame, wide, groups, reasons, counts) -> ReasonBreakdown:
    row_totals = counts.sum(axis=1)
    cells, denominators = _cells(counts, groups, reasons, row_totals)
    residuals = np.full(counts.shape, np.nan)
    rows, cols = row_totals > 0, counts.sum(axis=0) > 0
    if rows.sum() >= 2 and cols.sum() >= 2:
        kept = counts[np.ix_(rows, cols)]
        residuals[np.ix_(rows, cols)] = adjusted_residuals(kept)
    cells["adjusted_residual"] = residuals.reshape(-1)
    cells["p_value"] = 2 * stats.norm.sf(np.abs(cells["adjusted_residual"]))
    cells["p_adjusted"] = holm(cells["p_value"])
    cells["significant"] = (cells["p_adjusted"] < SIGNIFICANCE).fillna(False).astype(bool)
    cells["denominator"] = denominators
    test = homogeneity(counts)
    return ReasonBreakdown(
        cells=cells[[*CELL_COLUMNS, "denominator"]],
        overall=_overall(reasons, counts, int(counts.sum())),
        test=test,
        reason_tests=None,
        method=[
            "95% Wilson score interval",
            test.method,
            "Haberman adjusted residuals on the observed counts (no 0.5 added to "
            "zero cells), two-sided normal p-values",
            CELL_FAMILY,
        ],
        table=frame,
    )


def _multi(frame, wide, groups, reasons, counts, respondents) -> ReasonBreakdown:
    missing = [g for g in groups if g not in {str(k) for k in respondents}]
    if missing:
        raise ValueError(f"respondents: no number for group(s) {', '.join(missing)}")
    people = np.array(
        [int(respondents[g]) if g in respondents else int(respondents[str(g)]) for g in groups]
    )
    if (people < 0).any():
        raise ValueError("respondents: a negative number")
    over = counts > people[:, None]
    if over.any():
        g, r = np.argwhere(over)[0]
        raise ValueError(
            f"respondents: {groups[g]} has {counts[g, r]} mentions of {reasons[r]} "
            f"but only {people[g]} respondents"
        )
    cells, denominators = _cells(counts, groups, reasons, people)
    z = np.full(counts.shape, np.nan)
    p = np.full(counts.shape, np.nan)
    methods: set[str] = set()
    total_people = int(people.sum())
    for j in range(len(reasons)):
        column_total = int(counts[:, j].sum())
        for i in range(len(groups)):
            result = two_proportions(
                int(counts[i, j]),
                int(people[i]),
                column_total - int(counts[i, j]),
                total_people - int(people[i]),
            )
            z[i, j], p[i, j] = result.statistic, result.p_value
            methods.add(result.method)
    cells["adjusted_residual"] = z.reshape(-1)
    cells["p_value"] = p.reshape(-1)
    cells["p_adjusted"] = holm(cells["p_value"])
    cells["significant"] = (cells["p_adjusted"] < SIGNIFICANCE).fillna(False).astype(bool)
    cells["denominator"] = denominators
    per_reason = []
    for j, reason in enumerate(reasons):
        test = homogeneity(np.column_stack([counts[:, j], people - counts[:, j]]))
        per_reason.append(
            {
                "reason": reason,
                "statistic": test.statistic,
                "df": test.df,
                "p_value": test.p_value,
                "cramers_v": test.cramers_v,
                "method": test.method,
            }
        )
    reason_tests = pd.DataFrame(per_reason)
    reason_tests["p_adjusted"] = holm(reason_tests["p_value"])
    return ReasonBreakdown(
        cells=cells[[*CELL_COLUMNS, "denominator"]],
        overall=_overall(reasons, counts, total_people),
        test=None,
        reason_tests=reason_tests,
        method=[
            "multi-select: shares of respondents, 95% Wilson score interval",
            "each reason, group versus the rest: " + " / ".join(sorted(methods)),
            "adjusted_residual holds the signed z of that 2×2 comparison (NaN for Fisher)",
            CELL_FAMILY,
            f"per reason, chi-square test across groups, {HOLM}-adjusted across reasons",
        ],
        table=frame,
        respondents={str(g): int(n) for g, n in zip(groups, people, strict=True)},
    )
