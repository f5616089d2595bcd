"""Key drivers: which criteria go with being satisfied overall.

A multi-criteria questionnaire asks for an overall rating and for ratings of
criteria (publicity, timeliness, staff attitude, ...). :func:`key_drivers`
fits one logistic regression of "satisfied overall" on every criterion at
once, on the answer patterns the service stores (one row per distinct
pattern with its ``count``), and reports per criterion the odds ratio per
rating point, its Wald interval, the share satisfied and a rank.

Data problems never raise: too few complete cases, a criterion without
variation, separation, a singular design or a fit that does not converge
leave the estimates missing, with a note that says why.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, special, stats
from statsmodels.tools.sm_exceptions import ModelWarning

from analysis.intervals import wilson
from analysis.results import fmt, frame_text, json_safe

COUNT = "count"
SATISFIED_FROM = 4
LEVEL = 0.95
# The rarer outcome (satisfied or not) among the complete cases must number at least
# this many per criterion in the model (events per variable, Peduzzi et al. 1996).
MIN_EVENTS_PER_CRITERION = 10
# A separating direction found by the linear program with a margin above this is real.
SEPARATION_TOLERANCE = 1e-6
# Fitted rates closer than this to 0 or 1: the fit ran off to separation, or sits so
# close to it that Wald intervals mean little (Hauck-Donner).
MIN_FITTED_RATE = 1e-8
CRITERIA_COLUMNS = [
    "criterion",
    "n",
    "satisfied",
    "share_satisfied",
    "share_ci_low",
    "share_ci_high",
    "in_model",
    "odds_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "significant",
    "rank",
    "note",
]
# The per-criterion columns that come from the model (all withheld with it).
MODEL_COLUMNS = ("odds_ratio", "ci_low", "ci_high", "p_value", "significant", "rank")


@dataclass(frozen=True)
class DriversResult:
    """Key drivers of overall satisfaction.

    Attributes
    ----------
    criteria : DataFrame
        One row per criterion, in the order given: ``criterion``, ``n``
        (responses that answered it), ``satisfied`` (of them, ratings at or
        above ``satisfied_from``), ``share_satisfied`` with its Wilson
        interval ``share_ci_low, share_ci_high``, ``in_model`` (whether the
        criterion entered the regression), ``odds_ratio`` (per rating point,
        the other criteria held equal), its Wald interval ``ci_low, ci_high``,
        ``p_value`` (Wald z-test), ``significant`` (the interval excludes 1),
        ``rank`` (1 = the criterion to fix first, see ``method``) and ``note``
        (why a criterion has no estimate). Missing where not estimable.
    outcome : str
        The overall question.
    satisfied_from : int
        Ratings at or above it count as satisfied.
    level : float
        Confidence level of every interval.
    n_responses : int
        Responses in the input (every pattern's count).
    n_outcome : int
        Responses that answered the overall question.
    outcome_satisfied : int
    outcome_share, outcome_ci_low, outcome_ci_high : float or None
        Share satisfied overall with its Wilson interval.
    n_complete : int
        Complete cases the model is fitted on: responses that answered the
        outcome and every criterion in the model.
    complete_satisfied : int
        Of them, satisfied overall.
    estimated : bool
        Whether the model gave estimates.
    intercept : float or None
        Log-odds of being satisfied when every criterion in the model is 0.
    method : list of str
    notes : list of str
        Why something is not estimated, or what was left out.
    table : DataFrame
        The answer patterns used.
    """

    criteria: pd.DataFrame
    outcome: str
    satisfied_from: int
    level: float
    n_responses: int
    n_outcome: int
    outcome_satisfied: int
    outcome_share: float | None
    outcome_ci_low: float | None
    outcome_ci_high: float | None
    n_complete: int
    complete_satisfied: int
    estimated: bool
    intercept: float | None
    method: list[str]
    notes: list[str]
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.criteria.copy()

    def to_dict(self) -> dict:
        return json_safe(
            {
                "criteria": self.criteria,
                "outcome": self.outcome,
                "satisfied_from": self.satisfied_from,
                "level": self.level,
                "n_responses": self.n_responses,
                "n_outcome": self.n_outcome,
                "outcome_satisfied": self.outcome_satisfied,
                "outcome_share": self.outcome_share,
                "outcome_ci_low": self.outcome_ci_low,
                "outcome_ci_high": self.outcome_ci_high,
                "n_complete": self.n_complete,
                "complete_satisfied": self.complete_satisfied,
                "estimated": self.estimated,
                "intercept": self.intercept,
                "method": self.method,
                "notes": self.notes,
            }
        )

    def summary(self) -> str:
        frame = self.criteria.astype(object)
        ranked = (
            frame.where(self.criteria.notna(), None)
            .assign(_rank=pd.to_numeric(self.criteria["rank"], errors="coerce"))
            .sort_values("_rank", kind="stable", na_position="last")
        )
        return "\n".join(
            [
                f"Key drivers of {self.outcome} (satisfied = rating {self.satisfied_from} or "
                f"more): overall {fmt(self.outcome_share)} [{fmt(self.outcome_ci_low)}, "
                f"{fmt(self.outcome_ci_high)}], n = {fmt(self.n_outcome)}",
                f"Joint logistic regression on {fmt(self.n_complete)} complete cases of "
                f"{fmt(self.n_responses)} responses; odds ratio per rating point, "
                f"{fmt(100 * self.level)}% Wald intervals",
                "",
                frame_text(ranked.drop(columns=["_rank", "note"])),
                *(["", *self.notes] if self.notes else []),
            ]
        )


def key_drivers(
    patterns: pd.DataFrame,
    outcome: str,
    criteria: Sequence[str],
    satisfied_from: int = SATISFIED_FROM,
    level: float = LEVEL,
) -> DriversResult:
    """Which criteria go with overall satisfaction, from stored answer patterns.

    Parameters
    ----------
    patterns : DataFrame
        One row per distinct answer pattern: a column per question (``outcome``
        and every criterion; numeric ratings, missing where the citizen skipped
        the question) and ``count``, the responses that gave exactly that
        pattern.
    outcome : str
        The overall question; satisfied means a rating of ``satisfied_from``
        or more.
    criteria : sequence of str
        The criterion questions, modelled jointly, each linear in its rating.
    satisfied_from : int
        First rating counted as satisfied (4 on a 1-5 scale).
    level : float
        Confidence level of the Wald and Wilson intervals.

    Wrong arguments (a missing column, a negative count, a level outside
    (0, 1)) raise ValueError; problems of the data never do.
    """
    criteria = _check_arguments(outcome, criteria, level)
    frame = _patterns(patterns, outcome, criteria)
    counts = frame[COUNT].to_numpy()
    notes: list[str] = []
    if counts.sum() == 0:
        notes.append("no responses: nothing to estimate")
    answered = frame[outcome].notna().to_numpy()
    happy = (frame[outcome] >= satisfied_from).to_numpy()
    n_outcome, outcome_satisfied = int(counts[answered].sum()), int(counts[happy].sum())
    if counts.sum() > 0 and n_outcome == 0:
        notes.append(f"nobody answered {outcome}: no overall share and no model")
    low, high = wilson(outcome_satisfied, n_outcome, alpha=1 - level)
    table = _shares(frame, criteria, satisfied_from, level)
    in_model, dropped = _model_criteria(frame, outcome, criteria)
    complete = _complete(frame, outcome, in_model) if in_model else np.zeros(len(frame), bool)
    n_complete = int(counts[complete].sum())
    complete_satisfied = int(counts[complete & happy].sum())
    fit = _fit(frame[complete], outcome, in_model, satisfied_from, level)
    if fit.note is not None and counts.sum() > 0 and n_outcome > 0:
        notes.append(fit.note)
    table["in_model"] = table["criterion"].isin(in_model)
    for column in MODEL_COLUMNS[:-2]:
        table[column] = table["criterion"].map(fit.estimates.get(column, {})).astype(float)
    table["significant"] = pd.array(
        [
            None if np.isnan(lo) else bool(lo > 1 or hi < 1)
            for lo, hi in zip(table["ci_low"], table["ci_high"], strict=True)
        ],
        dtype="boolean",
    )
    table["rank"] = pd.array(_rank(table), dtype="Int64")
    table["note"] = pd.Series([dropped.get(c) for c in criteria], dtype=object)
    return DriversResult(
        criteria=table[CRITERIA_COLUMNS],
        outcome=outcome,
        satisfied_from=satisfied_from,
        level=level,
        n_responses=int(counts.sum()),
        n_outcome=n_outcome,
        outcome_satisfied=outcome_satisfied,
        outcome_share=outcome_satisfied / n_outcome if n_outcome else None,
        outcome_ci_low=None if np.isnan(low) else float(low),
        outcome_ci_high=None if np.isnan(high) else float(high),
        n_complete=n_complete,
        complete_satisfied=complete_satisfied,
        estimated=fit.note is None,
        intercept=fit.intercept,
        method=_method(outcome, satisfied_from, level),
        notes=notes,
        table=frame,
    )


def _check_arguments(outcome: str, criteria: Sequence[str], level: float) -> list[str]:
    if isinstance(criteria, str):
        raise ValueError("key drivers: criteria must be a list of column names, not one string")
    names = [str(c) for c in criteria]
    if not names:
        raise ValueError("key drivers: name at least one criterion")
    if len(set(names)) < len(names):
        raise ValueError("key drivers: a criterion is named twice")
    if outcome in names or COUNT in (outcome, *names):
        raise ValueError(f"key drivers: the outcome and {COUNT!r} cannot be criteria")
    if not 0 < level < 1:
        raise ValueError("level must be a probability strictly between 0 and 1")
    return names


def _patterns(patterns: pd.DataFrame, outcome: str, criteria: list[str]) -> pd.DataFrame:
    """A checked copy: ratings as floats (NaN = skipped), counts as whole numbers."""
    what = "key drivers: patterns"
    if not isinstance(patterns, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame, got {type(patterns).__name__}")
    columns = [outcome, *criteria, COUNT]
    if patterns.empty:
        # No responses is a fact about the data, whatever columns the empty query had.
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns}).astype({COUNT: "int64"})
    missing = [c for c in columns if c not in patterns.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")
    frame = patterns[columns].copy()
    count = pd.to_numeric(frame[COUNT], errors="coerce")
    if count.isna().any() or (count < 0).any() or not np.all(np.mod(count, 1) == 0):
        raise ValueError(f"{what}: column {COUNT!r} must hold whole numbers >= 0, with no blanks")
    frame[COUNT] = count.astype("int64")
    for column in columns[:-1]:
        values = pd.to_numeric(frame[column], errors="coerce")
        if (values.isna() & frame[column].notna()).any():
            raise ValueError(f"{what}: column {column!r} must hold numeric ratings or blanks")
        if np.isinf(values).any():
            raise ValueError(f"{what}: column {column!r} has an infinite rating")
        frame[column] = values.astype(float)
    return frame.reset_index(drop=True)


def _shares(
    frame: pd.DataFrame, criteria: list[str], satisfied_from: int, level: float
) -> pd.DataFrame:
    counts = frame[COUNT].to_numpy()
    n = np.array([counts[frame[c].notna().to_numpy()].sum() for c in criteria], dtype="int64")
    satisfied = np.array(
        [counts[(frame[c] >= satisfied_from).to_numpy()].sum() for c in criteria], dtype="int64"
    )
    table = pd.DataFrame({"criterion": criteria, "n": n, "satisfied": satisfied})
    with np.errstate(invalid="ignore", divide="ignore"):
        table["share_satisfied"] = np.where(n > 0, satisfied / np.maximum(n, 1), np.nan)
    table["share_ci_low"], table["share_ci_high"] = wilson(satisfied, n, alpha=1 - level)
    return table


def _complete(frame: pd.DataFrame, outcome: str, in_model: list[str]) -> np.ndarray:
    mask = frame[[outcome, *in_model]].notna().all(axis=1) & (frame[COUNT] > 0)
    return mask.to_numpy()


def _model_criteria(
    frame: pd.DataFrame, outcome: str, criteria: list[str]
) -> tuple[list[str], dict[str, str]]:
    """The criteria the model can use, and why each other one is left out.

    A criterion nobody answered is left out first (it would leave no complete
    case); then, repeatedly, those with a single rating among the complete cases
    of the rest, since the complete cases grow as criteria leave."""
    given = frame[COUNT] > 0
    dropped: dict[str, str] = {}
    model = []
    for c in criteria:
        if not (given & frame[c].notna()).any():
            dropped[c] = "not in the model: nobody answered it"
        else:
            model.append(c)
    while model:
        complete = _complete(frame, outcome, model)
        if not complete.any():
            break
        constant = [c for c in model if frame.loc[complete, c].nunique() < 2]
        if not constant:
            break
        for c in constant:
            values = frame.loc[given & frame[c].notna(), c].unique()
            dropped[c] = (
                f"not in the model: no variation (every answer {fmt(float(values[0]))})"
                if len(values) == 1
                else "not in the model: no variation among the complete cases"
            )
        model = [c for c in model if c not in constant]
    return model, dropped


@dataclass(frozen=True)
class _Fit:
    estimates: dict[str, dict[str, float]]
    intercept: float | None
    note: str | None


def _no_fit(why: str) -> _Fit:
    return _Fit({}, None, f"no model estimates: {why}")


def _fit(
    complete: pd.DataFrame, outcome: str, model: list[str], satisfied_from: int, level: float
) -> _Fit:
    """The joint logistic regression on the complete cases, grouped by covariate pattern."""
    if not model:
        return _no_fit("no criterion with answers and variation is left to model")
    happy = (complete[outcome] >= satisfied_from).to_numpy()
    counts = complete[COUNT].to_numpy()
    n = int(counts.sum())
    yes = int(counts[happy].sum())
    if n == 0:
        return _no_fit("no response answered the outcome and every criterion in the model")
    if yes in (0, n):
        return _no_fit(
            f"all {n} complete cases are {'satisfied' if yes else 'not satisfied'} overall"
        )
    needed = MIN_EVENTS_PER_CRITERION * len(model)
    if min(yes, n - yes) < needed:
        return _no_fit(
            f"{yes} satisfied and {n - yes} not satisfied among {n} complete cases; at least "
            f"{needed} of each ({MIN_EVENTS_PER_CRITERION} per criterion in the model) are "
            "needed"
        )
    cells = (
        complete.assign(_yes=np.where(happy, counts, 0), _no=np.where(happy, 0, counts))
        .groupby(model, sort=True)[["_yes", "_no"]]
        .sum()
        .reset_index()
    )
    exog = np.column_stack([np.ones(len(cells)), cells[model].to_numpy(dtype=float)])
    endog = cells[["_yes", "_no"]].to_numpy(dtype=float)
    if np.linalg.matrix_rank(exog) < exog.shape[1]:
        null = np.linalg.svd(exog)[2][-1][1:]
        tied = [c for c, v in zip(model, null, strict=True) if abs(v) > 1e-8]
        return _no_fit(
            "the criteria are linearly dependent among the complete cases (singular design: "
            f"{', '.join(tied)} carry the same information)"
        )
    separating = _separation(exog, endog)
    if separating is not None:
        return _no_fit(
            "the outcome is predicted exactly in part of the data (perfect or quasi-complete "
            f"separation, involving {', '.join(model[j] for j in separating) or 'the intercept'})"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelWarning)
        warnings.simplefilter("error", RuntimeWarning)
        try:
            fit = sm.GLM(endog, exog, family=sm.families.Binomial()).fit()
        except (ModelWarning, RuntimeWarning, np.linalg.LinAlgError, ValueError) as failed:
            return _no_fit(f"the fit failed ({type(failed).__name__}: {failed})")
    params = np.asarray(fit.params, dtype=float)
    if not getattr(fit, "converged", True):
        return _no_fit("the fit did not converge")
    if not np.isfinite(params).all():
        return _no_fit("the fit gave non-finite estimates")
    rate = special.expit(exog @ params)
    if np.any((rate < MIN_FITTED_RATE) | (rate > 1 - MIN_FITTED_RATE)):
        return _no_fit(
            f"fitted rates within {MIN_FITTED_RATE:g} of 0 or 1: the data are at or next to "
            "separation, where Wald intervals cannot be trusted"
        )
    # The information matrix at the estimates. statsmodels' IRLS takes its covariance
    # from the weights of the step before the last, a hair away from the logit's.
    weight = endog.sum(axis=1) * rate * (1 - rate)
    try:
        bse = np.sqrt(np.diag(np.linalg.inv(exog.T @ (exog * weight[:, None]))))
    except np.linalg.LinAlgError:
        return _no_fit("the information matrix is singular")
    if not (np.isfinite(bse).all() and (bse > 0).all()):
        return _no_fit("the fit gave non-finite standard errors")
    z = float(stats.norm.ppf(0.5 + level / 2))
    with np.errstate(over="ignore"):
        estimates = {
            "odds_ratio": np.exp(params[1:]),
            "ci_low": np.exp(params[1:] - z * bse[1:]),
            "ci_high": np.exp(params[1:] + z * bse[1:]),
            "p_value": 2 * stats.norm.sf(np.abs(params[1:] / bse[1:])),
        }
    return _Fit(
        {
            name: dict(zip(model, map(float, values), strict=True))
            for name, values in estimates.items()
        },
        float(params[0]),
        None,
    )


def _separation(exog: np.ndarray, endog: np.ndarray) -> list[int] | None:
    """The criteria of a separating direction, or None when the MLE exists.

    Konis (2007): the maximum likelihood estimate is finite exactly when no
    nonzero b has x·b >= 0 for every satisfied response and x·b <= 0 for
    every other one; a linear program looks for one, b bounded to [-1, 1]."""
    signs = np.concatenate(
        [np.ones(int((endog[:, 0] > 0).sum())), -np.ones(int((endog[:, 1] > 0).sum()))]
    )
    rows = np.vstack([exog[endog[:, 0] > 0], exog[endog[:, 1] > 0]]) * signs[:, None]
    solved = optimize.linprog(
        -rows.sum(axis=0),
        A_ub=-rows,
        b_ub=np.zeros(len(rows)),
        bounds=[(-1, 1)] * exog.shape[1],
        method="highs",
    )
    if not solved.success or -solved.fun <= SEPARATION_TOLERANCE:
        return None
    return [j for j, v in enumerate(solved.x[1:]) if abs(v) > SEPARATION_TOLERANCE]


def _rank(table: pd.DataFrame) -> list[int | None]:
    """1 + the criteria strictly ahead: those whose interval lies above 1 come first,
    then the rest; within each, the larger odds ratio first. No estimate, no rank."""
    ratio = table["odds_ratio"].to_numpy(dtype=float)
    above = (table["ci_low"].to_numpy(dtype=float) > 1).astype(int)
    ranks: list[int | None] = []
    for i in range(len(table)):
        if np.isnan(ratio[i]):
            ranks.append(None)
            continue
        ahead = sum(
            1
            for j in range(len(table))
            if not np.isnan(ratio[j])
            and (above[j] > above[i] or (above[j] == above[i] and ratio[j] > ratio[i]))
        )
        ranks.append(1 + ahead)
    return ranks


def _method(outcome: str, satisfied_from: int, level: float) -> list[str]:
    pct = f"{fmt(100 * level)}%"
    return [
        f"satisfied = rating {satisfied_from} or more; share satisfied of {outcome} and of "
        f"each criterion among the responses that answered it, {pct} Wilson score interval",
        f"key drivers: one joint logistic regression of 'satisfied with {outcome}' on all "
        "criteria together, each as its rating points (linear, per point) plus an intercept, "
        "on the complete cases (responses that answered the outcome and every criterion in "
        "the model); fitted by maximum likelihood as a binomial GLM on the counts per "
        "covariate pattern, identical to the logit on the individual responses",
        "odds_ratio: how the odds of being satisfied overall multiply per one point more on "
        f"the criterion, the other criteria held equal; {pct} Wald interval and Wald z-test "
        "p-value (not adjusted for the number of criteria); significant = the interval "
        "excludes 1",
        "rank: criteria whose interval lies wholly above 1 first, then the others; within "
        "each, the larger odds ratio first (ties share a rank). Rank 1 is the criterion "
        "whose one-point improvement goes with the largest rise in the odds of overall "
        "satisfaction, the first candidate to fix; read it with its share satisfied (the "
        "room left to improve)",
        "associations in survey answers, not causal effects: raising a criterion's rating "
        "need not raise overall satisfaction; criteria that move together share their "
        "association and get wide intervals",
        f"no estimates with fewer than {MIN_EVENTS_PER_CRITERION} complete cases of the "
        "rarer outcome (satisfied or not) per criterion in the model (Peduzzi et al. 1996), "
        "with separation (found by linear programming, Konis 2007), a singular design or a "
        "fit that does not converge; criteria nobody answered or without variation among "
        "the complete cases are left out of the model, their shares kept",
    ]
