"""Control limits for per-period proportions: Laney's p′ chart, and the classic p-chart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SIGMA = 3
# d2 for moving ranges of two points (2 / sqrt(pi), rounded as Laney and Minitab print it).
D2 = 1.128
# Laney's sigma_z needs at least two moving ranges, i.e. three periods with responses.
MIN_LANEY_PERIODS = 3


@dataclass(frozen=True)
class Limits:
    center: float
    lcl: np.ndarray
    ucl: np.ndarray
    lcl_p: np.ndarray
    ucl_p: np.ndarray
    sigma_z: float | None
    method: str


def control_limits(satisfied: np.ndarray, total: np.ndarray) -> Limits:
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
        return Limits(
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
    return Limits(
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


def outside(csat: pd.Series, low: np.ndarray, high: np.ndarray) -> pd.Series:
    return ((csat < low) | (csat > high)).fillna(False).astype(bool)
