"""What changed: the statistically real movements of each agency, newest first.

Three kinds of signal, each computed on the agency's own published series
(``analysis.trend`` through ``analysis.suppress``, so a withheld period never
raises one):

* ``unusual``: a period outside the agency's Laney p′ control limits, which
  allow for the usual period-to-period variation, so only a period that is
  really out of the ordinary is flagged;
* ``change``: the last period differs from the one before by more than
  chance explains, Holm-adjusted across the agencies (with 28 agencies, five
  would cross p < 0.05 each year by chance alone);
* ``below_target``: the last period's 95% interval lies wholly under the
  target, where the period before's did not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

import analysis
from analysis.periods import period_positions
from analysis.significance import holm
from survey_app.statistics import counts
from survey_app.statistics.filters import Filters

ALPHA = 0.05
UNUSUAL, CHANGE, BELOW_TARGET = "unusual", "change", "below_target"


@dataclass(frozen=True)
class Signal:
    kind: str
    agency: str
    period: str
    csat: float | None
    previous: str | None = None
    diff: float | None = None
    p_adjusted: float | None = None
    ci_high: float | None = None
    high: bool | None = None  # unusual: above the upper limit (else under the lower one)


def _float(value: object) -> float | None:
    return None if value is None or value != value else float(value)  # type: ignore[arg-type]


async def signals(filters: Filters, target: float, period: str = "month") -> list[Signal]:
    """Every signal of every agency in the filters' range, newest period first."""
    daily = await counts.daily_rating_counts(filters, period, None, by_agency=True)
    if daily.empty:
        return []
    table = counts.period_table(daily, period, by_agency=True)
    found: list[Signal] = []
    changes: list[tuple[Signal, float]] = []
    for agency, own in table.groupby("agency", sort=True):
        own = own.drop(columns=["agency"])
        if own["total"].sum() == 0:
            continue
        result = analysis.suppress(analysis.trend(own))
        shown = result.periods[~result.periods["suppressed"].eq(True)]
        shown = shown[shown["total"].fillna(0) > 0]
        for row in shown[shown["out_of_control"].eq(True)].itertuples():
            found.append(
                Signal(
                    UNUSUAL,
                    str(agency),
                    str(row.period),
                    _float(row.csat),
                    high=bool(row.csat > row.ucl),
                )
            )
        change = result.last_change
        if change.period is not None and change.p_value is not None:
            last = shown[shown["period"] == change.period]
            signal = Signal(
                CHANGE,
                str(agency),
                str(change.period),
                _float(last["csat"].iloc[0]) if len(last) else None,
                previous=change.previous,
                diff=_float(change.diff),
            )
            changes.append((signal, float(change.p_value)))
        if len(shown) >= 2:
            last, before = shown.iloc[-1], shown.iloc[-2]
            if last["ci_high"] < target <= before["ci_high"]:
                found.append(
                    Signal(
                        BELOW_TARGET,
                        str(agency),
                        str(last["period"]),
                        _float(last["csat"]),
                        previous=str(before["period"]),
                        ci_high=_float(last["ci_high"]),
                    )
                )
    if changes:
        adjusted = holm(np.array([p for _, p in changes]))
        for (signal, _), p in zip(changes, adjusted, strict=True):
            if p < ALPHA:
                found.append(
                    Signal(
                        signal.kind,
                        signal.agency,
                        signal.period,
                        signal.csat,
                        previous=signal.previous,
                        diff=signal.diff,
                        p_adjusted=float(p),
                    )
                )
    if not found:
        return []
    # Newest period first; within one, a target missed before a change before an
    # unusual point; then by agency.
    when = period_positions(pd.Series([s.period for s in found]), what="signals")
    order = {BELOW_TARGET: 0, CHANGE: 1, UNUSUAL: 2}
    ranked = sorted(
        zip(when.tolist(), found, strict=True),
        key=lambda pair: (-pair[0], order[pair[1].kind], pair[1].agency),
    )
    return [signal for _, signal in ranked]
