"""The key-driver model: a linear probability model fitted from per-cell cross-product sums.

Least squares and its cluster-robust (CR1) variance come exact from the sums
(:mod:`analysis.moments`); what this module adds is the judgement of when a fit
may be shown: enough complete cases of each outcome per criterion, criteria that
vary and are not tied, and enough cells (clusters) for an interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.moments import CONSTANT, cross_products, dependent, ols_from_moments, term
from analysis.results import fmt

# The rarer outcome (satisfied or not) among the complete cases must number at least
# this many per criterion in the model (events per variable, Peduzzi et al. 1996).
MIN_EVENTS_PER_CRITERION = 10
# With few clusters the sandwich variance is biased down and noisy (Cameron & Miller
# 2015, section VI): below this many, effects are shown without intervals.
MIN_CLUSTERS = 10
# A sum of squares about the mean below this share of the raw sum of squares is
# rounding, not variation.
NO_VARIATION = 1e-10


@dataclass(frozen=True)
class Fit:
    model: list[str]
    dropped: dict[str, str]
    estimates: dict[str, dict[str, float]] = field(default_factory=dict)
    intercept: float | None = None
    notes: list[str] = field(default_factory=list)


def fit(
    table: pd.DataFrame,
    outcome: str,
    criteria: list[str],
    unanswered: dict[str, str],
    level: float,
) -> Fit:
    """The linear probability model on the complete cases, with cell-clustered errors."""
    sums = table.sum()
    n, yes = float(sums[term(CONSTANT, CONSTANT)]), float(sums[term(CONSTANT, outcome)])
    dropped = dict(unanswered)
    model = [c for c in criteria if c not in dropped]

    def no_fit(why: str) -> Fit:
        return Fit(model, dropped, notes=[f"no model estimates: {why}"])

    if n <= 0:
        return no_fit("no response answered the outcome and every criterion")
    if yes in (0, n):
        return no_fit(f"all {n:.0f} complete cases are {'satisfied' if yes else 'not satisfied'}")
    for c in model:
        square, total = float(sums[term(c, c)]), float(sums[term(CONSTANT, c)])
        if square - total**2 / n <= NO_VARIATION * square:
            dropped[c] = (
                f"not in the model: no variation among the complete cases (every one "
                f"{fmt(total / n)})"
            )
    model = [c for c in model if c not in dropped]
    if not model:
        return no_fit("no criterion with answers and variation is left to model")
    needed = MIN_EVENTS_PER_CRITERION * len(model)
    if min(yes, n - yes) < needed:
        return no_fit(
            f"{yes:.0f} satisfied and {n - yes:.0f} not satisfied among {n:.0f} complete cases; "
            f"at least {needed} of each ({MIN_EVENTS_PER_CRITERION} per criterion in the model) "
            "are needed"
        )
    xx, xy = cross_products(table, [CONSTANT, *model], outcome)
    tied = dependent(xx.sum(axis=0), model)
    if tied:
        return no_fit(
            "the criteria are linearly dependent among the complete cases (singular design: "
            f"{', '.join(tied)} carry the same information)"
        )
    try:
        fitted = ols_from_moments(xx, xy, table[term(CONSTANT, CONSTANT)].to_numpy())
    except np.linalg.LinAlgError:
        return no_fit("the design is singular")
    params, bse = fitted.params, fitted.bse
    if not np.isfinite(params).all():
        return no_fit("the fit gave non-finite estimates")
    estimates = {"effect": params[1:]}
    notes = []
    if fitted.clusters < MIN_CLUSTERS:
        notes.append(
            f"effects without intervals, p-values or significance: the complete cases lie in "
            f"{fitted.clusters} cell(s), and intervals need at least {MIN_CLUSTERS}; a wider "
            "period or fewer filters gives intervals"
        )
    elif not (np.isfinite(bse).all() and (bse > 0).all()):
        notes.append("effects without intervals: the cluster-robust variance is zero or undefined")
    else:
        t = float(stats.t.ppf(0.5 + level / 2, fitted.clusters - 1))
        estimates |= {
            "ci_low": params[1:] - t * bse[1:],
            "ci_high": params[1:] + t * bse[1:],
            "p_value": 2 * stats.t.sf(np.abs(params[1:] / bse[1:]), fitted.clusters - 1),
        }
    return Fit(
        model,
        dropped,
        {k: dict(zip(model, map(float, v), strict=True)) for k, v in estimates.items()},
        float(params[0]),
        notes,
    )
