"""A fair league table from one count table: shrunken CSAT, rank intervals and the funnel
plot, published together (one disclosure decision for the three)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

import analysis
from analysis.funnel import FunnelPlot
from analysis.league import BetaPrior, RankIntervals, ShrunkenSatisfaction

FUNNEL_COLUMNS = ["z", "outside_95", "outside_998", "direction"]
RANK_COLUMNS = ["rank_median", "rank_low", "rank_high", "rank_raw"]


@dataclass(frozen=True)
class Standings:
    groups: pd.DataFrame
    prior: BetaPrior
    funnel: dict[str, Any]
    method: list[str]
    table: pd.DataFrame
    funnel_plot: FunnelPlot
    shrunken: ShrunkenSatisfaction
    ranks: RankIntervals


def standings(table: pd.DataFrame) -> Standings:
    """``group, satisfied, total, csat, shrunken, ci_low, ci_high, shrinkage_weight``, the
    rank interval and the funnel flags, best shrunken CSAT first; withheld rows last.

    Needs at least two published groups (a league of one has no ranks).
    """
    shrunken = analysis.suppress(analysis.shrink_satisfaction(table))
    ranks = analysis.suppress(analysis.rank_intervals(table))
    funnel = analysis.suppress(analysis.funnel_plot(table))
    groups = (
        shrunken.groups.merge(ranks.groups[["group", *RANK_COLUMNS]], on="group", how="left")
        .merge(funnel.groups[["group", *FUNNEL_COLUMNS]], on="group", how="left")
        .assign(_shrunken=lambda f: pd.to_numeric(f["shrunken"], errors="coerce"))
        .sort_values(["suppressed", "_shrunken"], ascending=[True, False], kind="stable")
        .drop(columns="_shrunken")
        .reset_index(drop=True)
    )
    # The disclosure flag last, where every other result has it.
    groups = groups[[c for c in groups.columns if c != "suppressed"] + ["suppressed"]]
    method = [
        *shrunken.method,
        *(m for m in ranks.method if m not in shrunken.method),
        *(m for m in funnel.method if m not in shrunken.method),
        "ordered by shrunken CSAT, highest first",
    ]
    return Standings(
        groups=groups,
        prior=shrunken.prior,
        funnel={
            "target": funnel.target,
            "limit_type": funnel.limit_type,
            "dispersion": funnel.dispersion,
            "dispersion_p_value": funnel.dispersion_p_value,
            "df": funnel.df,
        },
        method=method,
        table=shrunken.table,
        funnel_plot=funnel,
        shrunken=shrunken,
        ranks=ranks,
    )
