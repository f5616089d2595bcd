"""Satisfaction over time: per-period CSAT, p-chart limits, trend and change tests."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from analysis.intervals import newcombe, wilson
from analysis.results import fmt, frame_text, json_safe
from analysis.significance import two_proportions
from analysis.tables import satisfied_total

SIGMA = 3


@dataclass(frozen=True)
class TrendTest:
    """Logistic regression of satisfaction on the period score.

    ``odds_ratio`` is per unit of score (per period with the default index);
    its interval and ``p_value`` are Wald's. ``cochran_armitage`` and
    ``cochran_armitage_p`` are the Cochran-Armitage trend test (the score
    test of the same model). All None when undefined (one period, or every
    response satisfied or none).
    """

    odds_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    cochran_armitage: float | None
    cochran_armitage_p: float | None
    method: str


@dataclass(frozen=True)
class Change:
    """Last period minus the one before: Newcombe interval and two-proportion test."""

    period: str | None
    previous: str | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str


@dataclass(frozen=True)
class TrendResult:
    """Per-period satisfaction with intervals and control limits, and the tests.

    Attributes
    ----------
    periods : DataFrame
        ``period, score, satisfied, total, csat, ci_low, ci_high, center,
        lcl, ucl, out_of_control``.
    trend_test : TrendTest
    last_change : Change
    method : list of str
    table : DataFrame
    """

    periods: pd.DataFrame
    trend_test: TrendTest
    last_change: Change
    method: list[str]
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.periods.copy()

    def to_dict(self) -> dict:
        return json_safe(
            {
                "periods": self.periods,
                "trend_test": self.trend_test,
                "last_change": self.last_change,
                "method": self.method,
            }
        )

    def summary(self) -> str:
        t, c = self.trend_test, self.last_change
        return "\n".join(
            [
                frame_text(self.periods),
                "",
                f"Trend: odds ratio per period {fmt(t.odds_ratio)} "
                f"[{fmt(t.ci_low)}, {fmt(t.ci_high)}], p = {fmt(t.p_value)}; "
                f"Cochran-Armitage X2 = {fmt(t.cochran_armitage)}, p = {fmt(t.cochran_armitage_p)}",
                f"Last change ({c.previous} -> {c.period}): {fmt(c.diff)} "
                f"[{fmt(c.ci_low)}, {fmt(c.ci_high)}], p = {fmt(c.p_value)}",
            ]
        )


def _periods(table: pd.DataFrame, keys: tuple[str, ...], what: str) -> pd.DataFrame:
    frame = satisfied_total(table, keys, what=what)
    if frame.empty:
        raise ValueError(f"{what}: no rows")
    return frame


def trend(table: pd.DataFrame) -> TrendResult:
    """Per-period CSAT, p-chart, logistic trend test and last-period change.

    ``table`` has ``period, satisfied, total`` and optionally ``score``
    (numeric period scores replacing the index 0, 1, 2, ...).
    """
    frame = _periods(table, ("period",), "trend table")
    frame = frame.sort_values("period", kind="stable").reset_index(drop=True)
    if "score" in frame.columns:
        score = pd.to_numeric(frame["score"], errors="coerce")
        if score.isna().any():
            raise ValueError("trend table: column 'score' must hold numbers")
        frame["score"] = score.astype(float)
    else:
        frame["score"] = np.arange(len(frame), dtype=float)
    satisfied = frame["satisfied"].to_numpy()
    total = frame["total"].to_numpy()
    if total.sum() == 0:
        raise ValueError("trend table: no responses at all (every total is 0)")
    periods = frame[["period", "score", "satisfied", "total"]].copy()
    periods["period"] = periods["period"].astype(str)
    with np.errstate(invalid="ignore", divide="ignore"):
        periods["csat"] = np.where(total > 0, satisfied / np.maximum(total, 1), np.nan)
        center = satisfied.sum() / total.sum()
        sigma = np.where(total > 0, np.sqrt(center * (1 - center) / np.maximum(total, 1)), np.nan)
    periods["ci_low"], periods["ci_high"] = wilson(satisfied, total)
    periods["center"] = center
    periods["lcl"] = np.clip(center - SIGMA * sigma, 0, 1)
    periods["ucl"] = np.clip(center + SIGMA * sigma, 0, 1)
    periods["out_of_control"] = (
        ((periods["csat"] < periods["lcl"]) | (periods["csat"] > periods["ucl"]))
        .fillna(False)
        .astype(bool)
    )
    return TrendResult(
        periods=periods,
        trend_test=_trend_test(satisfied, total, frame["score"].to_numpy()),
        last_change=_last_change(periods),
        method=[
            "CSAT = share of ratings 4-5; 95% Wilson score interval",
            f"p-chart: centre line = pooled CSAT, limits at {SIGMA} sigma per period",
            "trend: binomial logistic regression on the period score (Wald interval and p)",
            "Cochran-Armitage trend test",
            "last change: Newcombe hybrid score interval; two-proportion z-test "
            "(Fisher's exact test when an expected count is below 5)",
        ],
        table=frame,
    )


# Beyond this a logit coefficient means the fitted rates hit 0 or 1: separation.
MAX_ABS_COEFFICIENT = 20.0


def _fit_binomial(endog: np.ndarray, exog: np.ndarray):  # type: ignore[no-untyped-def]
    """A binomial GLM fit, or None when it does not converge to finite, sane estimates.

    statsmodels warns of "perfect separation" whenever grouped proportions are
    fitted exactly (a saturated model), which is no problem here, so that
    warning is silenced and real separation is judged from the estimates.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        try:
            fit = sm.GLM(endog, exog, family=sm.families.Binomial()).fit()
        except (ConvergenceWarning, RuntimeWarning, np.linalg.LinAlgError, ValueError):
            return None
    params, bse = np.asarray(fit.params), np.asarray(fit.bse)
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(bse))):
        return None
    if np.any(np.abs(params) > MAX_ABS_COEFFICIENT):
        return None
    return fit


def _trend_test(satisfied: np.ndarray, total: np.ndarray, score: np.ndarray) -> TrendTest:
    keep = total > 0
    x, n, s = satisfied[keep], total[keep], score[keep]
    if len(n) < 2 or len(np.unique(s)) < 2:
        return TrendTest(
            None, None, None, None, None, None, "not applicable: fewer than two periods"
        )
    if x.sum() == 0 or x.sum() == n.sum():
        return TrendTest(
            None,
            None,
            None,
            None,
            None,
            None,
            "not applicable: every response is satisfied, or none is",
        )
    pooled = x.sum() / n.sum()
    t_stat = float(np.sum(s * (x - n * pooled)))
    variance = pooled * (1 - pooled) * (np.sum(n * s**2) - np.sum(n * s) ** 2 / n.sum())
    ca = t_stat**2 / variance
    ca_p = float(stats.chi2.sf(ca, 1))
    endog = np.column_stack([x, n - x])
    exog = sm.add_constant(s)
    fit = _fit_binomial(endog, exog)
    if fit is None:
        return _armitage_only(ca, ca_p, "separation")
    beta, se = float(fit.params[1]), float(fit.bse[1])
    with np.errstate(over="ignore"):
        ci_low = float(np.exp(beta - 1.959963984540054 * se))
        ci_high = float(np.exp(beta + 1.959963984540054 * se))
    if not np.isfinite([beta, se, ci_low, ci_high]).all():
        # Quasi-separation: the fit "converges" with an unbounded slope.
        return _armitage_only(ca, ca_p, "quasi-separation")
    return TrendTest(
        odds_ratio=float(np.exp(beta)),
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=float(fit.pvalues[1]),
        cochran_armitage=float(ca),
        cochran_armitage_p=ca_p,
        method="binomial logistic regression on the period score; Cochran-Armitage test",
    )


def _armitage_only(ca: float, ca_p: float, why: str) -> TrendTest:
    return TrendTest(
        None,
        None,
        None,
        None,
        float(ca),
        ca_p,
        f"logistic regression not estimable ({why}); Cochran-Armitage only",
    )


def _last_change(periods: pd.DataFrame) -> Change:
    filled = periods[periods["total"] > 0]
    if len(filled) < 2:
        return Change(None, None, None, None, None, None, "not applicable: fewer than two periods")
    last, before = filled.iloc[-1], filled.iloc[-2]
    x1, n1, x2, n2 = (int(v) for v in (last.satisfied, last.total, before.satisfied, before.total))
    low, high = newcombe(x1, n1, x2, n2)
    compared = two_proportions(x1, n1, x2, n2)
    return Change(
        period=str(last.period),
        previous=str(before.period),
        diff=x1 / n1 - x2 / n2,
        ci_low=low,
        ci_high=high,
        p_value=compared.p_value,
        method=f"Newcombe hybrid score interval; {compared.method}",
    )


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
    """Likelihood-ratio test that groups share one trend (``group, period, satisfied, total``)."""
    frame = _periods(table, ("group", "period"), "trend comparison table")
    frame["group"] = frame["group"].astype(str)
    periods = sorted(frame["period"].unique())
    index = {p: i for i, p in enumerate(periods)}
    frame["t"] = frame["period"].map(index).astype(float)
    frame = frame[frame["total"] > 0]
    groups = sorted(frame["group"].unique())
    slopes = []
    for group in groups:
        own = frame[frame["group"] == group].sort_values("t")
        test = _trend_test(
            own["satisfied"].to_numpy(), own["total"].to_numpy(), own["t"].to_numpy()
        )
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
        "binomial GLM: satisfaction ~ group + period (+ group:period)",
        "likelihood-ratio test of the interaction",
    ]
    df = len(groups) - 1
    if len(groups) < 2 or len(periods) < 2:
        return TrendComparison(
            slopes_frame,
            None,
            0,
            None,
            [*method, "not applicable: fewer than two groups or periods"],
            frame,
        )
    dummies = np.column_stack([(frame["group"] == g).to_numpy(float) for g in groups[1:]])
    t = frame["t"].to_numpy()
    reduced = np.column_stack([np.ones(len(frame)), dummies, t])
    full = np.column_stack([reduced, dummies * t[:, None]])
    endog = np.column_stack([frame["satisfied"], frame["total"] - frame["satisfied"]])
    fit_full = _fit_binomial(endog, full)
    fit_reduced = _fit_binomial(endog, reduced)
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
