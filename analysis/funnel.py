"""Funnel plots (Spiegelhalter 2005): control limits around the overall rate as a
function of the number of responses, and the groups that lie outside them.

Takes a table ``group, satisfied, total``, like :mod:`analysis.league`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.league import league_counts
from analysis.results import fmt, frame_text, json_safe

# Funnel control limits: about 2 and 3 standard errors (Spiegelhalter 2005).
FUNNEL_LEVELS = (0.95, 0.998)
FUNNEL_POINTS = 200
EXACT, NORMAL = "exact", "normal"


@dataclass(frozen=True)
class FunnelPlot:
    """Funnel-plot control limits around a target rate, and the groups outside them.

    Attributes
    ----------
    groups : DataFrame
        ``group, satisfied, total, csat, z`` ((csat - target) / sqrt(target (1 -
        target) / n)), ``lower_95, upper_95, lower_998, upper_998`` (the limits at
        the group's own n), ``outside_95, outside_998`` (CSAT strictly outside the
        limits) and ``direction`` (``above`` / ``below`` when outside the 95%
        limits, else None). Groups without responses have no limits and are never
        outside.
    limits : DataFrame
        ``total, lower_95, upper_95, lower_998, upper_998`` over a grid of n, for
        drawing the funnel.
    target : float
        The rate the funnel is centred on (the pooled CSAT unless given).
    target_pooled : bool
        True when the target is the pooled CSAT of the table itself.
    limit_type : str
        ``exact`` (binomial quantiles, interpolated) or ``normal``.
    chi_square, df, dispersion, dispersion_p_value : float, int, float, float
        Sum of z squared, its degrees of freedom (groups with responses, minus 1
        when the target is pooled), their ratio (about 1 when groups vary only by
        sampling) and the chi-square p-value: limits drawn for pure sampling
        variation flag too many groups when the dispersion is well above 1.
    method : list of str
    table : DataFrame
        The input counts.
    """

    groups: pd.DataFrame
    limits: pd.DataFrame
    target: float
    target_pooled: bool
    limit_type: str
    chi_square: float | None
    df: int
    dispersion: float | None
    dispersion_p_value: float | None
    method: list[str]
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.groups.copy()

    def to_dict(self) -> dict:
        return json_safe(
            {
                "groups": self.groups,
                "limits": self.limits,
                "target": self.target,
                "target_pooled": self.target_pooled,
                "limit_type": self.limit_type,
                "chi_square": self.chi_square,
                "df": self.df,
                "dispersion": self.dispersion,
                "dispersion_p_value": self.dispersion_p_value,
                "method": self.method,
            }
        )

    def summary(self) -> str:
        outside = self.groups
        return "\n".join(
            [
                f"Funnel plot around {fmt(self.target)} ({self.limit_type} limits): "
                f"{int(outside['outside_95'].sum())} of {len(outside)} groups outside 95%, "
                f"{int(outside['outside_998'].sum())} outside 99.8%",
                f"dispersion (sum z^2 / df) = {fmt(self.dispersion)} on df = {self.df}, "
                f"p = {fmt(self.dispersion_p_value)}",
                "",
                frame_text(self.groups),
            ]
        )


def _exact_limit(probability: float, n: np.ndarray, target: float) -> np.ndarray:
    """Spiegelhalter (2005), appendix A.1.1: r = smallest count with P(Y <= r) >= p,
    Y ~ Binomial(n, target); a = (P(Y <= r) - p) / P(Y = r); limit (r - a) / n."""
    r = stats.binom.ppf(probability, n, target)
    below = stats.binom.cdf(r, n, target)
    mass = stats.binom.pmf(r, n, target)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.clip(np.where(mass > 0, (below - probability) / mass, 0.0), 0.0, 1.0)
    return np.clip((r - a) / n, 0.0, 1.0)


def _limits(n: np.ndarray, target: float, limit_type: str) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    n = np.asarray(n, dtype=float)
    ok = n > 0
    safe = np.where(ok, n, 1.0)
    for level in FUNNEL_LEVELS:
        name = _level_name(level)
        tail = (1 - level) / 2
        if target in (0.0, 1.0):
            low = high = np.full(n.shape, target)
        elif limit_type == EXACT:
            low = _exact_limit(tail, safe, target)
            high = _exact_limit(1 - tail, safe, target)
        else:
            half = stats.norm.ppf(1 - tail) * np.sqrt(target * (1 - target) / safe)
            low, high = np.clip(target - half, 0, 1), np.clip(target + half, 0, 1)
        columns[f"lower_{name}"] = np.where(ok, low, np.nan)
        columns[f"upper_{name}"] = np.where(ok, high, np.nan)
    return columns


def _level_name(level: float) -> str:
    return f"{100 * level:g}".replace(".", "")


def _grid(total: np.ndarray, points: int) -> np.ndarray:
    positive = total[total > 0]
    low = max(1, int(np.floor(positive.min() / 2)))
    high = max(low + 1, int(np.ceil(positive.max() * 1.1)))
    return np.unique(np.round(np.geomspace(low, high, points)).astype(int))


def funnel_plot(
    table: pd.DataFrame,
    target: float | None = None,
    limits: str = EXACT,
    grid: Sequence[int] | None = None,
    points: int = FUNNEL_POINTS,
) -> FunnelPlot:
    """Funnel-plot limits (95% and 99.8%) around ``target`` and the groups outside them.

    ``table`` has ``group, satisfied, total``. ``target`` defaults to the pooled CSAT.
    ``limits`` is ``exact`` (binomial quantiles with Spiegelhalter's interpolation,
    the default) or ``normal`` (target +/- z sqrt(target (1 - target) / n)). The
    limits for drawing are computed at ``grid`` (numbers of responses) or, by
    default, at about ``points`` whole numbers spaced evenly on a log scale from
    half the smallest group to 1.1 times the largest.
    """
    if limits not in (EXACT, NORMAL):
        raise ValueError(f"limits must be {EXACT!r} or {NORMAL!r}")
    frame = league_counts(table)
    x = frame["satisfied"].to_numpy(dtype=float)
    n = frame["total"].to_numpy(dtype=float)
    pooled = target is None
    if pooled:
        target = float(x.sum() / n.sum())
    elif not 0 < target < 1:
        raise ValueError("target must be a proportion strictly between 0 and 1")
    target = float(target)
    ok = n > 0
    groups = frame[["group", "satisfied", "total"]].copy()
    csat = np.where(ok, x / np.maximum(n, 1), np.nan)
    groups["csat"] = csat
    spread = target * (1 - target)
    if spread > 0:
        z = np.where(ok, (csat - target) / np.sqrt(spread / np.maximum(n, 1)), np.nan)
    else:
        z = np.full(n.shape, np.nan)
    groups["z"] = z
    for name, values in _limits(n, target, limits).items():
        groups[name] = values
    for level in FUNNEL_LEVELS:
        name = _level_name(level)
        low, high = groups[f"lower_{name}"], groups[f"upper_{name}"]
        groups[f"outside_{name}"] = ((groups["csat"] < low) | (groups["csat"] > high)).fillna(False)
    name = _level_name(FUNNEL_LEVELS[0])
    groups["direction"] = [
        ("above" if c > high else "below") if out else None
        for c, high, out in zip(
            groups["csat"], groups[f"upper_{name}"], groups[f"outside_{name}"], strict=True
        )
    ]
    at = np.asarray(grid if grid is not None else _grid(n, points), dtype=float)
    if at.ndim != 1 or at.size == 0 or np.any(at <= 0) or np.any(np.mod(at, 1) != 0):
        raise ValueError("grid must be positive whole numbers of responses")
    drawn = pd.DataFrame({"total": at.astype(int), **_limits(at, target, limits)})
    df = int(ok.sum()) - (1 if pooled else 0)
    chi_square = float(np.nansum(z**2)) if spread > 0 else None
    if chi_square is not None and df > 0:
        dispersion = chi_square / df
        dispersion_p = float(stats.chi2.sf(chi_square, df))
    else:
        dispersion = dispersion_p = None
    if limits == EXACT:
        how = (
            "exact limits: binomial quantiles at the target with Spiegelhalter's "
            "interpolation (Statistics in Medicine 2005; 24:1185-1202, appendix A.1.1): "
            "r = smallest count with P(Y <= r) >= p, a = (P(Y <= r) - p) / P(Y = r), "
            "limit (r - a) / n"
        )
    else:
        how = "normal-approximation limits: target +/- z sqrt(target (1 - target) / n)"
    return FunnelPlot(
        groups=groups,
        limits=drawn,
        target=target,
        target_pooled=pooled,
        limit_type=limits,
        chi_square=chi_square,
        df=df,
        dispersion=dispersion,
        dispersion_p_value=dispersion_p,
        method=[
            f"funnel plot (Spiegelhalter 2005) around {fmt(target)}"
            + (" (pooled CSAT of all groups)" if pooled else " (given target)"),
            how,
            "95% and 99.8% limits (about 2 and 3 standard errors); a group is outside "
            "when its CSAT lies strictly beyond a limit at its own number of responses",
            "no adjustment for over-dispersion or for the number of groups: with pure "
            "sampling variation about 5% of groups fall outside the 95% limits",
            "dispersion = sum of z^2 / df, z = (CSAT - target) / sqrt(target (1 - target) / n)",
        ],
        table=frame,
    )
