"""Satisfaction (CSAT) per group against the rest, the overall figure and the target."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.intervals import newcombe, wilson
from analysis.results import fmt, frame_text, json_safe
from analysis.significance import (
    HOLM,
    SIGNIFICANCE,
    Homogeneity,
    holm,
    homogeneity,
    two_proportions,
)
from analysis.tables import satisfied_total

MIN_RESPONSES = 30
DEFAULT_TARGET = 0.95
# How a group reads against the target, from its 95% interval (monitoring, not a test
# across the family: each agency is judged on its own interval).
MEETS, BELOW, INCONCLUSIVE = "meets", "below", "inconclusive"


def target_status(ci_low: np.ndarray, ci_high: np.ndarray, target: float) -> list[str | None]:
    """``meets`` when the whole interval is at or above ``target``, ``below`` when it is
    wholly under it, ``inconclusive`` when it straddles it; None without an interval."""
    statuses: list[str | None] = []
    for low, high in zip(ci_low, ci_high, strict=True):
        if np.isnan(low) or np.isnan(high):
            statuses.append(None)
        elif low >= target:
            statuses.append(MEETS)
        elif high < target:
            statuses.append(BELOW)
        else:
            statuses.append(INCONCLUSIVE)
    return statuses


@dataclass(frozen=True)
class Overall:
    satisfied: int
    total: int
    csat: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class SatisfactionComparison:
    """Each group's CSAT against all other groups pooled.

    Attributes
    ----------
    groups : DataFrame
        ``group, satisfied, total, csat, ci_low, ci_high, diff, diff_low,
        diff_high, p_value, p_adjusted, significant, insufficient, test``,
        ``target_p_value, target_p_adjusted, below_target``, ``target_status``
        (``meets`` / ``below`` / ``inconclusive`` from the interval against the
        target) and, when the table has ``rating_sum``, ``mean_rating``.
    overall : Overall
        All groups together, with its Wilson interval.
    test : Homogeneity
        Chi-square test that all groups share one satisfaction rate.
    target : float
        The satisfaction target each group is tested against (one-sided
        exact binomial test, H1: CSAT below target).
    method : list of str
    table : DataFrame
        The input counts.
    """

    groups: pd.DataFrame
    overall: Overall
    test: Homogeneity
    target: float
    method: list[str]
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.groups.copy()

    def to_dict(self) -> dict:
        return json_safe(
            {
                "groups": self.groups,
                "overall": self.overall,
                "test": self.test,
                "target": self.target,
                "method": self.method,
            }
        )

    def summary(self) -> str:
        o, t = self.overall, self.test
        return "\n".join(
            [
                f"Satisfaction (share of ratings 4-5): overall {fmt(o.csat)} "
                f"[{fmt(o.ci_low)}, {fmt(o.ci_high)}], n = {o.total}",
                "",
                frame_text(self.groups.drop(columns=["test"])),
                "",
                f"{t.method}: X2 = {fmt(t.statistic)}, df = {t.df}, p = {fmt(t.p_value)}",
            ]
        )


def compare_satisfaction(
    table: pd.DataFrame, target: float = DEFAULT_TARGET
) -> SatisfactionComparison:
    """CSAT per group with Wilson intervals; each group versus the rest, Holm-adjusted.

    ``table`` has ``group, satisfied, total`` (and optionally ``rating_sum``,
    the sum of 1-5 ratings, for the mean rating).
    """
    if not 0 < target < 1:
        raise ValueError("target must be a proportion strictly between 0 and 1")
    extra = ("rating_sum",) if "rating_sum" in table.columns else ()
    frame = satisfied_total(table, ("group",), what="satisfaction table")
    if frame.empty:
        raise ValueError("satisfaction table: no rows")
    for column in extra:
        frame[column] = pd.to_numeric(frame[column], errors="raise")
    frame["group"] = frame["group"].astype(str)
    satisfied = frame["satisfied"].to_numpy()
    total = frame["total"].to_numpy()
    all_satisfied, all_total = int(satisfied.sum()), int(total.sum())
    if all_total == 0:
        raise ValueError("satisfaction table: no responses at all (every total is 0)")
    groups = frame[["group", "satisfied", "total"]].copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        groups["csat"] = np.where(total > 0, satisfied / np.maximum(total, 1), np.nan)
        if extra:
            groups["mean_rating"] = np.where(
                total > 0, frame["rating_sum"] / np.maximum(total, 1), np.nan
            )
    groups["ci_low"], groups["ci_high"] = wilson(satisfied, total)
    rows = []
    for x, n in zip(satisfied, total, strict=True):
        rest_x, rest_n = all_satisfied - int(x), all_total - int(n)
        compared = two_proportions(int(x), int(n), rest_x, rest_n)
        low, high = newcombe(int(x), int(n), rest_x, rest_n)
        diff = x / n - rest_x / rest_n if n > 0 and rest_n > 0 else np.nan
        target_p = (
            stats.binomtest(int(x), int(n), target, alternative="less").pvalue if n > 0 else np.nan
        )
        rows.append((diff, low, high, compared.p_value, compared.method, target_p))
    diff, low, high, p, method, target_p = (list(c) for c in zip(*rows, strict=True))
    groups["diff"], groups["diff_low"], groups["diff_high"] = diff, low, high
    groups["p_value"] = np.asarray(p, dtype=float)
    groups["p_adjusted"] = holm(groups["p_value"])
    groups["significant"] = (groups["p_adjusted"] < SIGNIFICANCE).fillna(False).astype(bool)
    groups["insufficient"] = groups["total"] < MIN_RESPONSES
    groups["test"] = method
    groups["target_p_value"] = np.asarray(target_p, dtype=float)
    groups["target_p_adjusted"] = holm(groups["target_p_value"])
    groups["below_target"] = (groups["target_p_adjusted"] < SIGNIFICANCE).fillna(False).astype(bool)
    groups["target_status"] = target_status(
        groups["ci_low"].to_numpy(dtype=float), groups["ci_high"].to_numpy(dtype=float), target
    )
    low, high = wilson(all_satisfied, all_total)
    test = homogeneity(np.column_stack([satisfied, total - satisfied]))
    return SatisfactionComparison(
        groups=groups,
        overall=Overall(
            all_satisfied, all_total, all_satisfied / all_total, float(low), float(high)
        ),
        test=test,
        target=target,
        method=[
            "CSAT = share of ratings 4-5; 95% Wilson score interval",
            "each group versus all other groups pooled: " + " / ".join(sorted(set(method))),
            "difference interval: Newcombe hybrid score (method 10)",
            f"{HOLM} adjustment across groups",
            f"target {target:g}: one-sided exact binomial test (CSAT below target), "
            f"{HOLM}-adjusted",
            f"target status: {MEETS} when the 95% interval lies at or above the target, "
            f"{BELOW} when it lies wholly under it, {INCONCLUSIVE} when it contains it "
            "(each group on its own interval, no adjustment across groups)",
            test.method,
            f"fewer than {MIN_RESPONSES} responses: marked insufficient",
        ],
        table=frame,
    )
