"""Key drivers: which criteria go with being satisfied overall.

A multi-criteria questionnaire asks for an overall rating and for ratings of
criteria (publicity, timeliness, staff attitude, ...). :func:`key_drivers`
fits one linear probability model of "satisfied overall" on every criterion
at once and reports per criterion the change in the chance of being
satisfied per rating point, its cluster-robust interval, the share
satisfied and a rank.

The service stores, per cell (month x agency x service x channel), the
cross-product sums of its complete cases (:func:`moment_terms` says what one
response adds): a fixed number of figures per cell however many responses
it holds, from which least squares is exact and the sandwich variance with
the cells as clusters is too (:mod:`analysis.moments`).

Data problems never raise: too few complete cases, a criterion without
variation, a singular design or too few cells leave estimates missing, with
a note that says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.driver_model import MIN_CLUSTERS, MIN_EVENTS_PER_CRITERION, Fit, fit
from analysis.intervals import wilson
from analysis.moments import (
    CONSTANT,
    SATISFIED_FROM,
    design_terms,
    moment_terms,
    read_moments,
    term,
)
from analysis.results import fmt, frame_text, json_safe

__all__ = ["CONSTANT", "DriversResult", "key_drivers", "moment_terms", "term"]

LEVEL = 0.95
SHARE_COLUMNS = ("question", "n", "satisfied")
CRITERIA_COLUMNS = [
    "criterion",
    "n",
    "satisfied",
    "share_satisfied",
    "share_ci_low",
    "share_ci_high",
    "in_model",
    "effect",
    "ci_low",
    "ci_high",
    "p_value",
    "significant",
    "rank",
    "note",
]
# The per-criterion columns that come from the model (all withheld with it).
MODEL_COLUMNS = ("effect", "ci_low", "ci_high", "p_value", "significant", "rank")


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
        criterion entered the regression), ``effect`` (change in the
        probability of being satisfied overall per rating point, the other
        criteria held equal), its interval ``ci_low, ci_high``, ``p_value``
        (two-sided t-test), ``significant`` (the interval excludes 0),
        ``rank`` (1 = the criterion to fix first, see ``method``) and
        ``note`` (why a criterion is not in the model). Missing where not
        estimable.
    outcome : str
        The overall question.
    satisfied_from : int
        Ratings at or above it count as satisfied.
    level : float
        Confidence level of every interval.
    n_outcome : int
        Responses that answered the overall question.
    outcome_satisfied : int
    outcome_share, outcome_ci_low, outcome_ci_high : float or None
        Share satisfied overall with its Wilson interval.
    n_complete : int
        Complete cases the model is fitted on: responses that answered the
        outcome and every criterion.
    complete_satisfied : int
        Of them, satisfied overall.
    clusters : int
        Stored cells with at least one complete case (G).
    estimated : bool
        Whether the model gave effects (with intervals from 10 clusters on).
    intercept : float or None
        Fitted probability of being satisfied when every criterion in the
        model is 0.
    method : list of str
    notes : list of str
        Why something is not estimated, or what was left out.
    table : DataFrame
        The cross-product sums used, one row per cell.
    shares : DataFrame
        The answered and satisfied counts per question used.
    """

    criteria: pd.DataFrame
    outcome: str
    satisfied_from: int
    level: float
    n_outcome: int
    outcome_satisfied: int
    outcome_share: float | None
    outcome_ci_low: float | None
    outcome_ci_high: float | None
    n_complete: int
    complete_satisfied: int
    clusters: int
    estimated: bool
    intercept: float | None
    method: list[str]
    notes: list[str]
    table: pd.DataFrame = field(repr=False)
    shares: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.criteria.copy()

    def to_dict(self) -> dict:
        # Every field but the input tables (repr=False), as plain JSON values.
        return json_safe(self)

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
                f"Linear probability model on {fmt(self.n_complete)} complete cases in "
                f"{fmt(self.clusters)} cells; effect = change in the share satisfied per "
                f"rating point, {fmt(100 * self.level)}% cluster-robust intervals",
                "",
                frame_text(ranked.drop(columns=["_rank", "note"])),
                *(["", *self.notes] if self.notes else []),
            ]
        )


def key_drivers(
    moments: pd.DataFrame,
    outcome: str,
    criteria: Sequence[str],
    shares: pd.DataFrame,
    satisfied_from: int = SATISFIED_FROM,
    level: float = LEVEL,
) -> DriversResult:
    """Which criteria go with overall satisfaction, from stored cross-product sums.

    Parameters
    ----------
    moments : DataFrame
        One row per stored cell (the clusters), a column per term named by
        :func:`term` over ``CONSTANT``, ``outcome`` and the criteria, each the
        sum over the cell's complete cases of what :func:`moment_terms` gives;
        NaN counts as 0 and other columns are ignored.
    outcome : str
        The overall question.
    criteria : sequence of str
        The criterion questions, modelled jointly, each linear in its rating.
    shares : DataFrame
        Columns ``question``, ``n`` and ``satisfied``: per question, every
        response that answered it and those of them rating it
        ``satisfied_from`` or more. A question not listed has n = 0.
    satisfied_from : int
        First rating counted as satisfied (4 on a 1-5 scale), as counted in
        ``moments`` and ``shares``.
    level : float
        Confidence level of the t and Wilson intervals.

    Wrong arguments (a missing term column, a malformed ``shares``, a level
    outside (0, 1)) raise ValueError; problems of the data never do.
    """
    criteria = _check_arguments(outcome, criteria, level)
    table = read_moments(moments, design_terms([CONSTANT, *criteria], outcome))
    counts = _shares(shares, [outcome, *criteria])
    totals = table.sum()
    n_complete = round(float(totals[term(CONSTANT, CONSTANT)]))
    complete_satisfied = round(float(totals[term(CONSTANT, outcome)]))
    n_outcome, outcome_satisfied = (int(v) for v in counts.loc[outcome])
    notes: list[str] = []
    if n_complete == 0 and not counts["n"].any():
        notes.append("no responses: nothing to estimate")
    elif n_outcome == 0:
        notes.append(f"nobody answered {outcome}: no overall share and no model")
    low, high = wilson(outcome_satisfied, n_outcome, alpha=1 - level)
    frame = counts.loc[criteria].rename_axis("criterion").reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["share_satisfied"] = np.where(
            frame["n"] > 0, frame["satisfied"] / np.maximum(frame["n"], 1), np.nan
        )
    frame["share_ci_low"], frame["share_ci_high"] = wilson(
        frame["satisfied"], frame["n"], alpha=1 - level
    )
    unanswered = {
        c: "not in the model: nobody answered it" for c in criteria if counts.at[c, "n"] == 0
    }
    model = fit(table, outcome, criteria, unanswered, level) if not notes else Fit([], unanswered)
    notes += model.notes
    frame["in_model"] = frame["criterion"].isin(model.model)
    for column in MODEL_COLUMNS[:-2]:
        frame[column] = frame["criterion"].map(model.estimates.get(column, {})).astype(float)
    frame["significant"] = pd.array(
        [
            None if np.isnan(lo) else bool(lo > 0 or hi < 0)
            for lo, hi in zip(frame["ci_low"], frame["ci_high"], strict=True)
        ],
        dtype="boolean",
    )
    frame["rank"] = pd.array(_rank(frame), dtype="Int64")
    frame["note"] = pd.Series([model.dropped.get(c) for c in criteria], dtype=object)
    return DriversResult(
        criteria=frame[CRITERIA_COLUMNS],
        outcome=outcome,
        satisfied_from=satisfied_from,
        level=level,
        n_outcome=n_outcome,
        outcome_satisfied=outcome_satisfied,
        outcome_share=outcome_satisfied / n_outcome if n_outcome else None,
        outcome_ci_low=None if np.isnan(low) else float(low),
        outcome_ci_high=None if np.isnan(high) else float(high),
        n_complete=n_complete,
        complete_satisfied=complete_satisfied,
        clusters=int((table[term(CONSTANT, CONSTANT)] > 0).sum()),
        estimated=model.intercept is not None,
        intercept=model.intercept,
        method=_method(outcome, satisfied_from, level),
        notes=notes,
        table=table,
        shares=counts.rename_axis("question").reset_index(),
    )


def _check_arguments(outcome: str, criteria: Sequence[str], level: float) -> list[str]:
    if isinstance(criteria, str):
        raise ValueError("key drivers: criteria must be a list of question names, not one string")
    names = [str(c) for c in criteria]
    if not names:
        raise ValueError("key drivers: name at least one criterion")
    if len(set(names)) < len(names):
        raise ValueError("key drivers: a criterion is named twice")
    if outcome in names or CONSTANT in (outcome, *names):
        raise ValueError(f"key drivers: the outcome and {CONSTANT!r} cannot be criteria")
    if not 0 < level < 1:
        raise ValueError("level must be a probability strictly between 0 and 1")
    return names


def _shares(shares: pd.DataFrame, questions: list[str]) -> pd.DataFrame:
    """``n`` and ``satisfied`` per question, indexed by question, 0 where not listed."""
    what = "key drivers: shares"
    if not isinstance(shares, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame, got {type(shares).__name__}")
    zero = pd.DataFrame(0, index=pd.Index(questions), columns=["n", "satisfied"], dtype="int64")
    if shares.empty:
        return zero
    missing = [c for c in SHARE_COLUMNS if c not in shares.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")
    if shares["question"].duplicated().any():
        raise ValueError(f"{what}: a question is listed twice")
    counts = shares.set_index(shares["question"].astype(str))[["n", "satisfied"]]
    counts = counts.apply(pd.to_numeric, errors="coerce")
    whole = counts.notna() & (counts >= 0) & (np.mod(counts, 1) == 0)
    if not whole.all().all() or (counts["satisfied"] > counts["n"]).any():
        raise ValueError(f"{what}: n and satisfied must be whole numbers, 0 <= satisfied <= n")
    return counts.astype("int64").reindex(questions).fillna(0).astype("int64")


def _rank(table: pd.DataFrame) -> list[int | None]:
    """1 + the criteria strictly ahead: those whose interval lies above 0 come first,
    then the rest; within each, the larger effect first. No estimate, no rank."""
    effect = table["effect"].to_numpy(dtype=float)
    above = (table["ci_low"].to_numpy(dtype=float) > 0).astype(int)
    ranks: list[int | None] = []
    for i in range(len(table)):
        if np.isnan(effect[i]):
            ranks.append(None)
            continue
        ahead = sum(
            1
            for j in range(len(table))
            if not np.isnan(effect[j])
            and (above[j] > above[i] or (above[j] == above[i] and effect[j] > effect[i]))
        )
        ranks.append(1 + ahead)
    return ranks


def _method(outcome: str, satisfied_from: int, level: float) -> list[str]:
    pct = f"{fmt(100 * level)}%"
    return [
        f"satisfied = rating {satisfied_from} or more; share satisfied of {outcome} and of "
        f"each criterion among the responses that answered it, {pct} Wilson score interval",
        f"key drivers: one linear probability model (least squares) of 'satisfied with "
        f"{outcome}' (1 or 0) on all criteria together, each as its rating points, plus an "
        "intercept, on the complete cases (responses that answered the outcome and every "
        "criterion); fitted exactly from the cross-product sums stored per cell, identical "
        "to least squares on the individual responses",
        "effect: the change in the chance of being satisfied overall (in proportion points, "
        "0.05 = 5 percentage points) per one point more on the criterion, the other criteria "
        "held equal; the linear probability model recovers average marginal effects close to "
        "a logit's (Angrist & Pischke 2009, Mostly Harmless Econometrics, section 3.4.2)",
        f"{pct} intervals and two-sided p-values (not adjusted for the number of criteria) "
        "from a cluster-robust (CR1 sandwich) variance with the stored cells (month x agency "
        "x service x channel) as clusters, robust to the unequal variance of a 0/1 outcome "
        "and to correlation within a cell; Student t with (cells - 1) degrees of freedom "
        "(Cameron & Miller 2015); no intervals with fewer than "
        f"{MIN_CLUSTERS} cells; significant = the interval excludes 0",
        "rank: criteria whose interval lies wholly above 0 first, then the others; within "
        "each, the larger effect first (ties share a rank; by effect alone when there are "
        "no intervals). Rank 1 is the criterion whose one-point improvement goes with the "
        "largest rise in the chance of overall satisfaction, the first candidate to fix; "
        "read it with its share satisfied (the room left to improve)",
        "associations in survey answers, not causal effects: raising a criterion's rating "
        "need not raise overall satisfaction; criteria that move together share their "
        "association and get wide intervals",
        f"no estimates with fewer than {MIN_EVENTS_PER_CRITERION} complete cases of the "
        "rarer outcome (satisfied or not) per criterion in the model (Peduzzi et al. 1996) "
        "or with linearly dependent criteria; criteria nobody answered or without variation "
        "among the complete cases are left out of the model, their shares kept",
    ]
