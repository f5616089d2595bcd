"""Satisfaction over time: per-period CSAT, Laney p′-chart limits, trend and change tests."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import special, stats
from statsmodels.tools.sm_exceptions import ModelWarning, PerfectSeparationWarning

from analysis.control import control_limits, outside
from analysis.intervals import newcombe, wilson
from analysis.periods import period_positions, refuse_repeats
from analysis.results import fmt, frame_text, json_safe
from analysis.significance import two_proportions
from analysis.tables import satisfied_total


@dataclass(frozen=True)
class TrendTest:
    """Logistic regression of satisfaction on the period score.

    ``odds_ratio`` is per unit of score (per period with the default index);
    its interval and ``p_value`` are Wald's. ``cochran_armitage`` and
    ``cochran_armitage_p`` are the Cochran-Armitage trend test (the score
    test of the same model), as published: neither allows for extra
    between-period variation. All None when undefined (one period, or every
    response satisfied or none).

    ``dispersion`` is Pearson's X2 / df of the same logistic model (df =
    ``dispersion_df`` = periods with responses - 2): 1 for binomial data,
    larger when periods vary more than sampling explains. ``quasi_p_value``,
    ``quasi_ci_low`` and ``quasi_ci_high`` are the quasi-binomial test and
    odds-ratio interval: the Wald standard error times sqrt(dispersion), on
    a t distribution with ``dispersion_df`` degrees of freedom. None with
    fewer than three periods (no df left) or when the logistic model cannot
    be fitted.
    """

    odds_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    cochran_armitage: float | None
    cochran_armitage_p: float | None
    method: str
    dispersion: float | None = None
    dispersion_df: int | None = None
    quasi_p_value: float | None = None
    quasi_ci_low: float | None = None
    quasi_ci_high: float | None = None


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
        lcl, ucl, out_of_control, sigma_z, lcl_p, ucl_p, out_of_control_p``.
        ``lcl``, ``ucl`` and ``out_of_control`` are Laney's p′ chart (the
        binomial limits widened, or narrowed, by ``sigma_z``); ``lcl_p``,
        ``ucl_p`` and ``out_of_control_p`` the classic p-chart. With fewer
        than three periods with responses ``sigma_z`` is missing and the
        p′ columns equal the classic ones (see ``method``).
    trend_test : TrendTest
    last_change : Change
    method : list of str
    table : DataFrame
    sigma_z : float or None
        Laney's dispersion factor behind ``lcl``/``ucl`` (None when not estimated).
    """

    periods: pd.DataFrame
    trend_test: TrendTest
    last_change: Change
    method: list[str]
    table: pd.DataFrame = field(repr=False)
    sigma_z: float | None = None

    def to_frame(self) -> pd.DataFrame:
        return self.periods.copy()

    def to_dict(self) -> dict:
        return json_safe(
            {
                "periods": self.periods,
                "trend_test": self.trend_test,
                "last_change": self.last_change,
                "method": self.method,
                "sigma_z": self.sigma_z,
            }
        )

    def summary(self) -> str:
        t, c = self.trend_test, self.last_change
        return "\n".join(
            [
                frame_text(self.periods),
                "",
                (
                    f"Control limits: Laney p' chart, sigma_z = {fmt(self.sigma_z)}"
                    if self.sigma_z is not None
                    else "Control limits: classic p-chart (sigma_z not estimated)"
                ),
                f"Trend: odds ratio per period {fmt(t.odds_ratio)} "
                f"[{fmt(t.ci_low)}, {fmt(t.ci_high)}], p = {fmt(t.p_value)}; "
                f"Cochran-Armitage X2 = {fmt(t.cochran_armitage)}, p = {fmt(t.cochran_armitage_p)}",
                f"Allowing for overdispersion (quasi-binomial, dispersion {fmt(t.dispersion)} "
                f"on {fmt(t.dispersion_df)} df): [{fmt(t.quasi_ci_low)}, {fmt(t.quasi_ci_high)}], "
                f"p = {fmt(t.quasi_p_value)}",
                f"Last change ({c.previous} -> {c.period}): {fmt(c.diff)} "
                f"[{fmt(c.ci_low)}, {fmt(c.ci_high)}], p = {fmt(c.p_value)}",
            ]
        )


def period_counts(table: pd.DataFrame, keys: tuple[str, ...], what: str) -> pd.DataFrame:
    frame = satisfied_total(table, keys, what=what)
    if frame.empty:
        raise ValueError(f"{what}: no rows")
    return frame


def trend(table: pd.DataFrame) -> TrendResult:
    """Per-period CSAT, p-chart, logistic trend test and last-period change.

    ``table`` has ``period, satisfied, total`` and optionally ``score``
    (numeric period scores replacing the index 0, 1, 2, ...). Periods are put
    in time order from their labels (see :func:`period_positions`); labels that
    name no point in time (``"<1"``, ``"1-2"``) are ordered by ``score`` when it
    is given and refused otherwise.
    """
    frame = period_counts(table, ("period",), "trend table")
    if "score" in frame.columns:
        score = pd.to_numeric(frame["score"], errors="coerce")
        if score.isna().any():
            raise ValueError("trend table: column 'score' must hold numbers")
        frame["score"] = score.astype(float)
    try:
        position = period_positions(frame["period"], what="trend table")
    except ValueError as unordered:
        if "score" not in frame.columns:
            raise ValueError(f"{unordered}, or give each period a numeric 'score'") from None
        order, ordering = frame["score"].to_numpy(), "periods in order of their scores"
    else:
        refuse_repeats(frame, position, [], "trend table")
        order, ordering = position, "periods in time order of their labels"
    frame = frame.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    if "score" not in frame.columns:
        frame["score"] = np.arange(len(frame), dtype=float)
    satisfied = frame["satisfied"].to_numpy()
    total = frame["total"].to_numpy()
    if total.sum() == 0:
        raise ValueError("trend table: no responses at all (every total is 0)")
    periods = frame[["period", "score", "satisfied", "total"]].copy()
    periods["period"] = periods["period"].astype(str)
    with np.errstate(invalid="ignore", divide="ignore"):
        periods["csat"] = np.where(total > 0, satisfied / np.maximum(total, 1), np.nan)
    periods["ci_low"], periods["ci_high"] = wilson(satisfied, total)
    chart = control_limits(satisfied, total)
    periods["center"] = chart.center
    periods["lcl"], periods["ucl"] = chart.lcl, chart.ucl
    periods["out_of_control"] = outside(periods["csat"], chart.lcl, chart.ucl)
    periods["sigma_z"] = np.nan if chart.sigma_z is None else chart.sigma_z
    periods["lcl_p"], periods["ucl_p"] = chart.lcl_p, chart.ucl_p
    periods["out_of_control_p"] = outside(periods["csat"], chart.lcl_p, chart.ucl_p)
    return TrendResult(
        periods=periods,
        trend_test=trend_test(satisfied, total, frame["score"].to_numpy()),
        last_change=_last_change(periods),
        method=[
            ordering,
            "CSAT = share of ratings 4-5; 95% Wilson score interval",
            chart.method,
            "trend: binomial logistic regression on the period score (Wald interval and p)",
            "trend allowing for overdispersion: quasi-binomial, the same logistic regression "
            "with its standard error times sqrt(Pearson X2/df), t test on df = periods - 2",
            "Cochran-Armitage trend test (as published: no allowance for overdispersion)",
            "last change: Newcombe hybrid score interval; two-proportion z-test "
            "(Fisher's exact test when an expected count is below 5)",
        ],
        table=frame,
        sigma_z=chart.sigma_z,
    )


# Beyond this a logit coefficient means the fitted rates hit 0 or 1: separation.
MAX_ABS_COEFFICIENT = 20.0


def fit_binomial(endog: np.ndarray, exog: np.ndarray):  # type: ignore[no-untyped-def]
    """A binomial GLM fit, or None when it does not converge to finite, sane estimates.

    statsmodels warns of "perfect separation" whenever grouped proportions are
    fitted exactly (a saturated model), which is no problem here, so that
    warning is silenced and real separation is judged from the estimates. Any
    other model warning (no convergence, a rank-deficient design) means the
    estimates cannot be trusted; it is turned into "no fit" rather than let out
    (statsmodels sets its warnings to "always" when imported).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelWarning)
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        try:
            fit = sm.GLM(endog, exog, family=sm.families.Binomial()).fit()
        except (ModelWarning, RuntimeWarning, np.linalg.LinAlgError, ValueError):
            return None
    params, bse = np.asarray(fit.params), np.asarray(fit.bse)
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(bse))):
        return None
    if np.any(np.abs(params) > MAX_ABS_COEFFICIENT):
        return None
    return fit


def trend_test(satisfied: np.ndarray, total: np.ndarray, score: np.ndarray) -> TrendTest:
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
    fit = fit_binomial(endog, exog)
    if fit is None:
        return _armitage_only(ca, ca_p, "separation")
    beta, se = float(fit.params[1]), float(fit.bse[1])
    with np.errstate(over="ignore"):
        ci_low = float(np.exp(beta - 1.959963984540054 * se))
        ci_high = float(np.exp(beta + 1.959963984540054 * se))
    if not np.isfinite([beta, se, ci_low, ci_high]).all():
        # Quasi-separation: the fit "converges" with an unbounded slope.
        return _armitage_only(ca, ca_p, "quasi-separation")
    quasi = _quasi_binomial(x, n, exog, np.asarray(fit.params), beta, se)
    return TrendTest(
        odds_ratio=float(np.exp(beta)),
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=float(fit.pvalues[1]),
        cochran_armitage=float(ca),
        cochran_armitage_p=ca_p,
        method="binomial logistic regression on the period score; Cochran-Armitage test; "
        + quasi.method,
        dispersion=quasi.dispersion,
        dispersion_df=quasi.df,
        quasi_p_value=quasi.p_value,
        quasi_ci_low=quasi.ci_low,
        quasi_ci_high=quasi.ci_high,
    )


# Pearson X2/df below this means the proportions lie on the fitted trend (0 up to rounding).
MIN_DISPERSION = 1e-10


@dataclass(frozen=True)
class _Quasi:
    dispersion: float | None
    df: int | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    method: str


def _quasi_binomial(
    x: np.ndarray, n: np.ndarray, exog: np.ndarray, params: np.ndarray, beta: float, se: float
) -> _Quasi:
    """The quasi-binomial slope test: Wald's standard error times sqrt(Pearson X2 / df).

    Pearson's X2 is computed here from the fitted rates, not taken from
    statsmodels' ``scale="X2"``: with (satisfied, not satisfied) columns as endog,
    statsmodels 0.15 leaves the trial counts out of that scale (it comes out
    about 1/n), while proportions with ``var_weights=n`` give the same figure as
    here. The test is on t with df = periods - 2, as for any estimated scale.
    """
    df = len(n) - exog.shape[1]
    if df < 1:
        return _Quasi(
            None, None, None, None, None, "quasi-binomial test not applicable: fewer than 3 periods"
        )
    rate = special.expit(exog @ params)
    with np.errstate(divide="ignore", invalid="ignore"):
        dispersion = float(np.sum((x - n * rate) ** 2 / (n * rate * (1 - rate))) / df)
    if not np.isfinite(dispersion):
        return _Quasi(
            None, df, None, None, None, "quasi-binomial test not applicable: fitted rates of 0 or 1"
        )
    if dispersion < MIN_DISPERSION:
        return _Quasi(
            dispersion,
            df,
            None,
            None,
            None,
            "quasi-binomial test not applicable: the proportions lie on the fitted trend "
            "(dispersion 0)",
        )
    quasi_se = se * np.sqrt(dispersion)
    critical = float(stats.t.ppf(0.975, df))
    with np.errstate(over="ignore"):
        low, high = np.exp(beta - critical * quasi_se), np.exp(beta + critical * quasi_se)
    return _Quasi(
        dispersion=dispersion,
        df=df,
        p_value=float(2 * stats.t.sf(abs(beta) / quasi_se, df)),
        ci_low=float(low),
        ci_high=float(high),
        method=f"quasi-binomial test (dispersion = Pearson X2/df = {dispersion:.3g} on {df} df, "
        "t test)",
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
