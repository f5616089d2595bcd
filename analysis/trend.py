"""Satisfaction over time: per-period CSAT, Laney p′-chart limits, trend and change tests."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import special, stats
from statsmodels.tools.sm_exceptions import ModelWarning, PerfectSeparationWarning

from analysis.intervals import newcombe, wilson
from analysis.results import fmt, frame_text, json_safe
from analysis.significance import two_proportions
from analysis.tables import satisfied_total

SIGMA = 3
# d2 for moving ranges of two points (2 / sqrt(pi), rounded as Laney and Minitab print it).
D2 = 1.128
# Laney's sigma_z needs at least two moving ranges, i.e. three periods with responses.
MIN_LANEY_PERIODS = 3


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


def _periods(table: pd.DataFrame, keys: tuple[str, ...], what: str) -> pd.DataFrame:
    frame = satisfied_total(table, keys, what=what)
    if frame.empty:
        raise ValueError(f"{what}: no rows")
    return frame


# The spellings the service writes (statistics.filters.period_label), month and day
# numbers with or without a leading zero, and one running number ("7", "2026", "p07").
_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_WEEK = re.compile(r"(\d{4})-?W(\d{1,2})", re.IGNORECASE)
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_QUARTER = re.compile(r"(\d{4})-?Q([1-4])", re.IGNORECASE)
_NUMBERED = re.compile(r"(\D*?)([+-]?\d+)(\D*)")
SPELLINGS = "2026-03-07, 2026-W10, 2026-03 or 2026-3, 2026-Q1, or numbers (2026, 7, p07)"


def _period_key(label: object) -> tuple[tuple[str, ...], int] | None:
    """(kind of spelling, position in time) of one label; None when it names no position."""
    if isinstance(label, bool | np.bool_):
        return None
    if isinstance(label, pd.Period):
        return ("period", label.freqstr), int(label.ordinal)
    if isinstance(label, dt.datetime | np.datetime64):
        return ("date and time",), int(pd.Timestamp(label).value)
    if isinstance(label, dt.date):
        return ("day",), label.toordinal()
    if isinstance(label, int | np.integer):
        return ("number", "", ""), int(label)
    if isinstance(label, float | np.floating):
        return (("number", "", ""), int(label)) if float(label).is_integer() else None
    text = str(label).strip()
    try:
        if m := _DAY.fullmatch(text):
            return ("day",), dt.date(int(m[1]), int(m[2]), int(m[3])).toordinal()
        if m := _WEEK.fullmatch(text):
            return ("ISO week",), dt.date.fromisocalendar(int(m[1]), int(m[2]), 1).toordinal()
        if m := _MONTH.fullmatch(text):
            return ("month",), dt.date(int(m[1]), int(m[2]), 1).toordinal()
        if m := _QUARTER.fullmatch(text):
            return ("quarter",), dt.date(int(m[1]), 3 * int(m[2]) - 2, 1).toordinal()
    except ValueError:  # month 13, ISO week 54, 31 February...
        return None
    if m := _NUMBERED.fullmatch(text):
        # "p07" and "wave 7" count on one scale only with the same prefix and suffix.
        return ("number", m[1], m[3]), int(m[2])
    return None


def _kind_name(kind: tuple[str, ...]) -> str:
    if kind[0] == "number" and (kind[1] or kind[2]):
        return f"numbered {kind[1]}#{kind[2]}"
    return kind[0]


def period_positions(labels: pd.Series, *, what: str) -> np.ndarray:
    """Where each period label lies in time (an integer per label, larger is later).

    Labels are read as dates, ISO weeks, months, quarters or running numbers, so
    that ``2026-10`` comes after ``2026-9`` and ``2026-W9`` before ``2026-W10``;
    text order would scramble them. Every label must use one kind of spelling;
    ValueError otherwise, or when a label names no point in time.
    """
    kinds: dict[tuple[str, ...], str] = {}
    positions, unplaced = [], set()
    for label in labels:
        key = _period_key(label)
        if key is None:
            unplaced.add(str(label))
            continue
        kinds.setdefault(key[0], str(label))
        positions.append(key[1])
    if unplaced:
        raise ValueError(
            f"{what}: period label(s) {', '.join(sorted(unplaced)[:3])} cannot be put in "
            f"time order; write periods as {SPELLINGS}"
        )
    if len(kinds) > 1:
        shown = ", ".join(f"{label} ({_kind_name(kind)})" for kind, label in kinds.items())
        raise ValueError(f"{what}: period labels mix spellings: {shown}; use one throughout")
    return np.array(positions, dtype=np.int64)


def _refuse_repeats(frame: pd.DataFrame, position: np.ndarray, by: list[str], what: str) -> None:
    """Two spellings of one period (2026-1 and 2026-01) would count it twice."""
    keyed = frame.assign(_position=position)
    repeated = keyed.duplicated(subset=[*by, "_position"], keep=False)
    if repeated.any():
        first = keyed.loc[repeated].sort_values("_position", kind="stable")
        first = first[first["_position"] == first["_position"].iloc[0]]
        labels = " and ".join(str(label) for label in first["period"].iloc[:2])
        where = "".join(f" for {first[key].iloc[0]}" for key in by)
        raise ValueError(f"{what}: period labels {labels} name the same period{where}")


def trend(table: pd.DataFrame) -> TrendResult:
    """Per-period CSAT, p-chart, logistic trend test and last-period change.

    ``table`` has ``period, satisfied, total`` and optionally ``score``
    (numeric period scores replacing the index 0, 1, 2, ...). Periods are put
    in time order from their labels (see :func:`period_positions`); labels that
    name no point in time (``"<1"``, ``"1-2"``) are ordered by ``score`` when it
    is given and refused otherwise.
    """
    frame = _periods(table, ("period",), "trend table")
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
        _refuse_repeats(frame, position, [], "trend table")
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
    chart = _control_limits(satisfied, total)
    periods["center"] = chart.center
    periods["lcl"], periods["ucl"] = chart.lcl, chart.ucl
    periods["out_of_control"] = _outside(periods["csat"], chart.lcl, chart.ucl)
    periods["sigma_z"] = np.nan if chart.sigma_z is None else chart.sigma_z
    periods["lcl_p"], periods["ucl_p"] = chart.lcl_p, chart.ucl_p
    periods["out_of_control_p"] = _outside(periods["csat"], chart.lcl_p, chart.ucl_p)
    return TrendResult(
        periods=periods,
        trend_test=_trend_test(satisfied, total, frame["score"].to_numpy()),
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


@dataclass(frozen=True)
class _Limits:
    center: float
    lcl: np.ndarray
    ucl: np.ndarray
    lcl_p: np.ndarray
    ucl_p: np.ndarray
    sigma_z: float | None
    method: str


def _control_limits(satisfied: np.ndarray, total: np.ndarray) -> _Limits:
    """Laney's p′ chart, falling back to the classic p-chart when sigma_z cannot be estimated.

    Laney DB (2002), Improved control charts for attributes, Quality Engineering
    14(4):531-537: with p̄ the pooled proportion and sigma_i = sqrt(p̄(1 - p̄)/n_i),
    each period's z_i = (p_i - p̄)/sigma_i; sigma_z = mean |z_i - z_(i-1)| / 1.128
    over consecutive periods with responses; limits p̄ ± 3 sigma_i sigma_z. As in
    Minitab's Laney P′ chart, sigma_z is used as estimated, below 1 as well as above
    (narrower limits for underdispersion): not flooring it keeps the false-alarm rate
    near the nominal 3-sigma rate for binomial data too.
    """
    filled = total > 0
    center = float(satisfied.sum() / total.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = np.where(filled, np.sqrt(center * (1 - center) / np.maximum(total, 1)), np.nan)
    lcl_p = np.clip(center - SIGMA * sigma, 0, 1)
    ucl_p = np.clip(center + SIGMA * sigma, 0, 1)
    classic = f"limits at {SIGMA} binomial sigma per period"
    if filled.sum() < MIN_LANEY_PERIODS:
        why = f"Laney's sigma_z needs at least {MIN_LANEY_PERIODS} periods with responses"
    elif not 0 < center < 1:
        why = "every response is satisfied, or none is: no z-scores"
    else:
        share = satisfied[filled] / total[filled]
        z = (share - center) / sigma[filled]
        sigma_z = float(np.mean(np.abs(np.diff(z))) / D2)
        return _Limits(
            center=center,
            lcl=np.clip(center - SIGMA * sigma * sigma_z, 0, 1),
            ucl=np.clip(center + SIGMA * sigma * sigma_z, 0, 1),
            lcl_p=lcl_p,
            ucl_p=ucl_p,
            sigma_z=sigma_z,
            method=(
                f"control chart: Laney p' chart (Laney 2002), centre line = pooled CSAT, "
                f"limits at {SIGMA} sigma_i x sigma_z, sigma_i the binomial standard error of "
                f"each period, sigma_z = mean moving range of consecutive periods' z-scores "
                f"/ {D2} = {sigma_z:.3g} (used as estimated, not floored at 1: below 1 it "
                f"narrows the limits); classic p-chart ({classic}) in lcl_p, ucl_p"
            ),
        )
    return _Limits(
        center=center,
        lcl=lcl_p,
        ucl=ucl_p,
        lcl_p=lcl_p,
        ucl_p=ucl_p,
        sigma_z=None,
        method=(
            f"control chart: classic p-chart, centre line = pooled CSAT, {classic} "
            f"(not Laney's p' chart: {why})"
        ),
    )


def _outside(csat: pd.Series, low: np.ndarray, high: np.ndarray) -> pd.Series:
    return ((csat < low) | (csat > high)).fillna(False).astype(bool)


# Beyond this a logit coefficient means the fitted rates hit 0 or 1: separation.
MAX_ABS_COEFFICIENT = 20.0


def _fit_binomial(endog: np.ndarray, exog: np.ndarray):  # type: ignore[no-untyped-def]
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
    frame = _periods(table, ("group", "period"), what)
    frame["group"] = frame["group"].astype(str)
    position = period_positions(frame["period"], what=what)
    _refuse_repeats(frame, position, ["group"], what)
    frame["t"] = pd.Series(position, index=frame.index).rank(method="dense").sub(1)
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
