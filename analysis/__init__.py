"""Statistics on count tables: reason breakdowns, satisfaction comparisons and trends.

Pure functions over small pandas DataFrames; no database, no web framework.
A researcher can use it on its own::

    import pandas as pd
    import analysis

    counts = pd.DataFrame({"group": ["MIC", "MOF"], "satisfied": [830, 912], "total": [1000, 1000]})
    print(analysis.compare_satisfaction(counts).summary())

Main entry points: :func:`reason_breakdown`, :func:`compare_satisfaction`,
:func:`trend`, :func:`compare_trends`, :func:`shrink_satisfaction`,
:func:`rank_intervals`, :func:`funnel_plot`, :func:`poststratify`,
:func:`key_drivers` (with :func:`moment_terms`, what a response adds to the
stored sums) and :func:`suppress` (disclosure control, for every output);
charts live in :mod:`analysis.charts` (imported on demand, it loads matplotlib).
"""

from analysis.drivers import DriversResult, key_drivers, moment_terms, term
from analysis.funnel import FunnelPlot, funnel_plot
from analysis.intervals import newcombe, wilson
from analysis.league import (
    BetaPrior,
    RankIntervals,
    ShrunkenSatisfaction,
    fit_beta_prior,
    rank_intervals,
    shrink_satisfaction,
)
from analysis.poststrat import PostStratified, poststratify
from analysis.publication import MIN_PUBLISHED, rule, suppress, withheld
from analysis.reasons import ReasonBreakdown, reason_breakdown
from analysis.satisfaction import DEFAULT_TARGET, SatisfactionComparison, compare_satisfaction
from analysis.trend import TrendResult, trend
from analysis.trend_comparison import TrendComparison, compare_trends

__all__ = [
    "DEFAULT_TARGET",
    "MIN_PUBLISHED",
    "BetaPrior",
    "DriversResult",
    "FunnelPlot",
    "PostStratified",
    "RankIntervals",
    "ReasonBreakdown",
    "SatisfactionComparison",
    "ShrunkenSatisfaction",
    "TrendComparison",
    "TrendResult",
    "compare_satisfaction",
    "compare_trends",
    "fit_beta_prior",
    "funnel_plot",
    "key_drivers",
    "moment_terms",
    "newcombe",
    "poststratify",
    "rank_intervals",
    "reason_breakdown",
    "rule",
    "shrink_satisfaction",
    "suppress",
    "term",
    "trend",
    "wilson",
    "withheld",
]
