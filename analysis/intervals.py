"""Confidence intervals for proportions and their differences.

Wilson's score interval (Wilson 1927) for one proportion and Newcombe's
hybrid score interval (Newcombe 1998, method 10) for a difference; both
come from statsmodels. An empty denominator gives an undefined (NaN)
interval instead of a warning.
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

ALPHA = 0.05


def wilson(count, total, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score interval of ``count / total`` (element-wise); NaN where total is 0."""
    count = np.asarray(count, dtype=float)
    total = np.asarray(total, dtype=float)
    low = np.full(np.broadcast(count, total).shape, np.nan)
    high = low.copy()
    ok = np.broadcast_to(total > 0, low.shape)
    if ok.any():
        c = np.broadcast_to(count, low.shape)[ok]
        n = np.broadcast_to(total, low.shape)[ok]
        lo, hi = proportion_confint(c, n, alpha=alpha, method="wilson")
        low[ok] = np.clip(lo, 0.0, 1.0)
        high[ok] = np.clip(hi, 0.0, 1.0)
    return low, high


def newcombe(x1: int, n1: int, x2: int, n2: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``x1/n1 - x2/n2``; NaN if a denominator is 0."""
    if n1 <= 0 or n2 <= 0:
        return float("nan"), float("nan")
    low, high = confint_proportions_2indep(
        x1, n1, x2, n2, method="newcomb", compare="diff", alpha=alpha
    )
    return max(-1.0, float(low)), min(1.0, float(high))
