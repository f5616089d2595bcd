"""Do groups share one trend? A likelihood-ratio test of the group × period interaction."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.periods import period_positions, refuse_repeats
from analysis.results import fmt, frame_text, json_safe
from analysis.trend import fit_binomial, period_counts, trend_test


@dataclass(frozen=True)
class TrendComparison:
    """Do the trends of several groups differ?

    Attributes
    ----------
    slopes : DataFrame
        ``group, odds_ratio, ci_low, ci_high`` per period, each group on its own.
    statistic, df, p_value : float, int, float
        Likelihood-ratio test of the group × period interaction in a binomial GLM.
    method : list of str
    """

    slopes: pd.DataFrame
    statistic: float | None
    df: int
    p_value: float | None
    method: list[str]
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.slopes.copy()

    def to_dict(self) -> dict:
        return json_safe(
            {
                "slopes": self.slopes,
                "statistic": self.statistic,
                "df": self.df,
                "p_value": self.p_value,
                "method": self.method,
            }
        )

    def summary(self) -> str:
        return "\n".join(
            [
                frame_text(self.slopes),
                "",
                f"Group x period interaction: LR = {fmt(self.statistic)}, df = {self.df}, "
                f"p = {fmt(self.p_value)}",
            ]
        )


def compare_trends(table: pd.DataFrame) -> TrendComparison:
    """Likelihood-ratio test that groups share one trend (``group, period, satisfied, total``).

    Periods are put in time order from their labels (:func:`period_positions`).
    A group with responses in one period only has no slope of its own: it is
    left out of the test and named in ``method``, and ``df`` counts only the
    interactions that can be estimated.
    """
    what = "trend comparison table"
    frame = period_counts(table, ("group", "period"), what)
    frame["group"] = frame["group"].astype(str)
    position = period_positions(frame["period"], what=what)
    refuse_repeats(frame, position, ["group"], what)
    frame["t"] = pd.Series(position, index=frame.index).rank(method="dense").sub(1)
    frame = frame[frame["total"] > 0]
    groups = sorted(frame["group"].unique())
    slopes = []
    for group in groups:
        own = frame[frame["group"] == group].sort_values("t")
        test = trend_test(own["satisfied"].to_numpy(), own["total"].to_numpy(), own["t"].to_numpy())
        slopes.append(
            {
                "group": group,
                "odds_ratio": test.odds_ratio,
                "ci_low": test.ci_low,
                "ci_high": test.ci_high,
                "p_value": test.p_value,
            }
        )
    slopes_frame = pd.DataFrame(
        slopes, columns=["group", "odds_ratio", "ci_low", "ci_high", "p_value"]
    )
    method = [
        "periods in time order of their labels",
        "binomial GLM: satisfaction ~ group + period (+ group:period)",
        "likelihood-ratio test of the interaction",
    ]
    # With one period a group's own intercept fits it exactly in both models: its
    # interaction column would copy its group column (a singular design), and leaving the
    # group out changes neither the deviance difference nor the other estimates.
    seen = frame.groupby("group")["t"].nunique()
    single = [g for g in groups if seen[g] < 2]
    estimable = [g for g in groups if seen[g] >= 2]
    if single:
        method.append(
            "left out of the interaction test, seen in one period only: " + ", ".join(single)
        )
    if len(estimable) < 2:
        return TrendComparison(
            slopes_frame,
            None,
            0,
            None,
            [*method, "not applicable: fewer than two groups seen in two or more periods"],
            frame,
        )
    df = len(estimable) - 1
    fitted = frame[frame["group"].isin(estimable)]
    dummies = np.column_stack([(fitted["group"] == g).to_numpy(float) for g in estimable[1:]])
    t = fitted["t"].to_numpy(float)
    reduced = np.column_stack([np.ones(len(fitted)), dummies, t])
    full = np.column_stack([reduced, dummies * t[:, None]])
    endog = np.column_stack([fitted["satisfied"], fitted["total"] - fitted["satisfied"]])
    fit_full = fit_binomial(endog, full)
    fit_reduced = fit_binomial(endog, reduced)
    if fit_full is None or fit_reduced is None:
        return TrendComparison(
            slopes_frame, None, df, None, [*method, "not estimable: separation"], frame
        )
    statistic = max(0.0, float(fit_reduced.deviance - fit_full.deviance))
    return TrendComparison(
        slopes=slopes_frame,
        statistic=statistic,
        df=df,
        p_value=float(stats.chi2.sf(statistic, df)),
        method=method,
        table=frame,
    )
