"""Nonresponse adjustment of CSAT by post-stratification on service × channel.

Invitations are the sampling frame: every invitation carries its group (agency),
service and channel, and only some are answered. When response rates differ
between services and channels and so does satisfaction, the plain CSAT of a
group leans toward the strata that answer most. Post-stratification weights
each stratum back to its share of the invitations:

    CSAT_ps = sum_h W_h p_h,   W_h = invitations_h / invitations of the group,

where p_h is the share of ratings 4-5 among the stratum's responses; each
response in stratum h carries the weight invitations_h / responses_h. This
removes the bias as long as, within a stratum, those who answer are as
satisfied as those who do not (responses missing at random given the stratum).

Takes a table ``group, service, channel, invitations, satisfied, total``
(``total``: responses in the cell).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.results import fmt, frame_text, json_safe
from analysis.tables import count_table

KEYS = ("group", "service", "channel")
COUNTS = ("invitations", "satisfied", "total")
WHAT = "post-stratification table"
MIN_RESPONSE_RATE = 0.10
LEVEL = 0.95
# Where the invitations of a stratum without responses went (cells.collapsed_into).
SERVICE, GROUP = "service", "group"


@dataclass(frozen=True)
class PostStratified:
    """CSAT per group weighted back to the invitations of each service × channel.

    Attributes
    ----------
    groups : DataFrame
        ``group, invitations, responses, response_rate, satisfied, csat``
        (unweighted), ``csat_weighted`` (post-stratified), ``se`` (its standard
        error, sqrt of V below), ``ci_low, ci_high`` (Wilson interval on the
        effective sample size), ``deff`` (Kish's design effect from unequal
        weighting, n sum(w_i^2) / (sum w_i)^2 over the respondents),
        ``n_effective`` (responses / deff), ``strata`` (cells with invitations),
        ``collapsed`` (strata without responses merged into others) and
        ``low_response`` (response rate below ``min_response_rate``).
    cells : DataFrame
        ``group, service, channel, invitations, responses, satisfied, csat,
        response_rate, low_response, weight`` (weight of each response after
        collapsing, NaN without responses) and ``collapsed_into`` (``service`` /
        ``group`` for a stratum without responses, else None).
    min_response_rate : float
    level : float
        Confidence level of the intervals.
    method : list of str
    table : DataFrame
        The input counts.
    """

    groups: pd.DataFrame
    cells: pd.DataFrame
    min_response_rate: float
    level: float
    method: list[str]
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.groups.copy()

    def to_dict(self) -> dict:
        return json_safe(
            {
                "groups": self.groups,
                "cells": self.cells,
                "min_response_rate": self.min_response_rate,
                "level": self.level,
                "method": self.method,
            }
        )

    def summary(self) -> str:
        low = int(self.cells["low_response"].sum())
        return "\n".join(
            [
                "CSAT post-stratified to the invitations by service × channel, "
                f"{fmt(100 * self.level)}% intervals",
                "",
                frame_text(self.groups),
                "",
                f"{low} of {len(self.cells)} cells with a response rate below "
                f"{self.min_response_rate:.0%}",
            ]
        )


def _cells(table: pd.DataFrame) -> pd.DataFrame:
    frame = count_table(table, KEYS, COUNTS, what=WHAT)
    if frame.empty:
        raise ValueError(f"{WHAT}: no rows")
    for key in KEYS:
        frame[key] = frame[key].astype(str)
    for bad, problem in (
        (frame["satisfied"] > frame["total"], "satisfied exceeds total"),
        (
            frame["total"] > frame["invitations"],
            "total (responses) exceeds invitations, a response rate above 1",
        ),
    ):
        if bad.any():
            cell = ", ".join(frame.loc[bad, list(KEYS)].iloc[0].tolist())
            raise ValueError(f"{WHAT}: {problem} for {cell}")
    if int(frame["total"].sum()) == 0:
        raise ValueError(f"{WHAT}: no responses at all (every total is 0)")
    return frame


def _collapse(
    services: np.ndarray, invitations: np.ndarray, responses: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Invitations each stratum with responses stands for once the strata without
    responses are merged into them, and where each of those went.

    A stratum without responses is spread over its service's other channels in
    proportion to their invitations; when no channel of the service has responses,
    over all of the group's strata with responses (in proportion to their
    invitations after the first step). Spreading in proportion keeps the other
    strata's relative weights, so the empty stratum is estimated by the weighted
    CSAT of its service, or else of its group.
    """
    answered = responses > 0
    population = np.where(answered, invitations, 0).astype(float)
    collapsed_into = np.full(len(invitations), None, dtype=object)
    if not answered.any():
        return population, collapsed_into
    empty = ~answered & (invitations > 0)
    leftover = 0.0
    for service in pd.unique(services[empty]):
        lost = empty & (services == service)
        donors = answered & (services == service)
        if donors.any():
            share = population[donors] / population[donors].sum()
            population[donors] += invitations[lost].sum() * share
            collapsed_into[lost] = SERVICE
        else:
            leftover += float(invitations[lost].sum())
            collapsed_into[lost] = GROUP
    if leftover:
        population *= 1 + leftover / population.sum()
    return population, collapsed_into


def _wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval for a proportion p on a (possibly fractional) n."""
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _pool(part: pd.DataFrame, min_stratum: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Strata of at least ``min_stratum`` responses: the cells of a service under it are
    pooled into one stratum of that service; what is still under it, across services,
    into one stratum of the group; and that, if still under it, into the group's largest
    stratum. Returns the strata, each cell's stratum and where it was pooled (or None).

    Every weighted stratum then rests on ``min_stratum`` responses or more, so the
    weighted CSAT beside the plain one cannot be solved for a small cell's answers.
    """
    n = part["total"].to_numpy()
    stratum = np.arange(len(part))
    pooled = np.full(len(part), None, dtype=object)
    small = n < min_stratum
    services = part["service"].to_numpy()
    next_id = len(part)
    leftovers: list[int] = []
    for service in pd.unique(services[small]):
        members = np.flatnonzero(small & (services == service))
        if len(members) > 1 or n[members].sum() >= min_stratum:
            stratum[members], pooled[members] = next_id, SERVICE
            next_id += 1
        if n[members].sum() < min_stratum:
            leftovers.extend(members.tolist())
    if leftovers:
        stratum[leftovers], pooled[leftovers] = next_id, GROUP
        if n[leftovers].sum() < min_stratum:
            big = np.setdiff1d(np.arange(len(part)), leftovers)
            if big.size:
                target = stratum[big[np.argmax(n[big])]]
                stratum[leftovers] = target
    # Summed with numpy rather than a pandas groupby: this runs once per group of every
    # satisfaction request, and the groupby's fixed cost dominated it.
    _, labels = np.unique(stratum, return_inverse=True)
    _, first = np.unique(labels, return_index=True)
    count = len(first)

    def summed(column: str) -> np.ndarray:
        values = part[column].to_numpy(dtype=np.int64)
        return np.bincount(labels, weights=values, minlength=count).astype(np.int64)

    strata = pd.DataFrame(
        {
            "service": np.where(pooled == GROUP, "", services)[first],
            "invitations": summed("invitations"),
            "satisfied": summed("satisfied"),
            "total": summed("total"),
        }
    )
    return strata, labels, pooled


def _estimate(
    part: pd.DataFrame, z: float, min_stratum: int
) -> tuple[dict, np.ndarray, np.ndarray]:
    """The group's row, each cell's weight and where it was collapsed or pooled."""
    if min_stratum <= 1:
        return _weighted(part, z)
    strata, stratum_of, pooled_into = _pool(part, min_stratum)
    row, weight, collapsed_into = _weighted(strata, z)
    row["strata"] = int((part["invitations"] > 0).sum())
    row["collapsed"] = int((pd.notna(pooled_into) | pd.notna(collapsed_into[stratum_of])).sum())
    where = np.where(pd.notna(pooled_into), pooled_into, collapsed_into[stratum_of])
    return row, weight[stratum_of], where


def _weighted(part: pd.DataFrame, z: float) -> tuple[dict, np.ndarray, np.ndarray]:
    invitations = part["invitations"].to_numpy()
    n_h = part["total"].to_numpy()
    x_h = part["satisfied"].to_numpy()
    population, collapsed_into = _collapse(part["service"].to_numpy(), invitations, n_h)
    answered = n_h > 0
    weight = np.full(len(n_h), np.nan)
    weight[answered] = population[answered] / n_h[answered]
    responses, satisfied = int(n_h.sum()), int(x_h.sum())
    row = {
        "invitations": int(invitations.sum()),
        "responses": responses,
        "response_rate": responses / invitations.sum() if invitations.sum() > 0 else np.nan,
        "satisfied": satisfied,
        "csat": satisfied / responses if responses else np.nan,
        "csat_weighted": np.nan,
        "se": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "deff": np.nan,
        "n_effective": np.nan,
        "strata": int((invitations > 0).sum()),
        "collapsed": int(pd.notna(collapsed_into).sum()),
    }
    if not responses:
        return row, weight, collapsed_into
    n, pop, w = n_h[answered], population[answered], weight[answered]
    p_h = x_h[answered] / n
    # the same summation on both sides, so that p_h all 1 gives exactly 1
    p = float(np.sum(pop * p_h) / np.sum(pop))
    share = pop / pop.sum()
    variance = float(np.sum(share**2 * p_h * (1 - p_h) / n))
    deff = float(responses * np.sum(n * w**2) / np.sum(n * w) ** 2)
    n_effective = responses / deff
    # Never above Kish's n_effective (which is at most the responses): in small strata
    # p_h (1 - p_h) is unreliable, and zero when all of a stratum's responses agree.
    n_star = n_effective
    if 0 < p < 1 and variance > 0:
        n_star = min(p * (1 - p) / variance, n_effective)
    low, high = _wilson(p, n_star, z)
    row.update(
        csat_weighted=p,
        se=float(np.sqrt(variance)),
        ci_low=low,
        ci_high=high,
        deff=deff,
        n_effective=n_effective,
    )
    return row, weight, collapsed_into


def poststratify(
    table: pd.DataFrame,
    min_response_rate: float = MIN_RESPONSE_RATE,
    level: float = LEVEL,
    min_stratum: int = 1,
) -> PostStratified:
    """CSAT per group post-stratified to the invitations by service × channel.

    ``table`` has one row per ``group, service, channel`` with ``invitations``,
    ``satisfied`` (ratings 4-5) and ``total`` (responses). Within each group the
    strata are weighted by their share of the invitations; strata with invitations
    but no responses are collapsed (see :func:`_collapse`). With ``min_stratum`` above 1,
    cells with fewer responses are first pooled (see :func:`_pool`): the service uses
    the disclosure threshold, so that no weighted stratum rests on fewer citizens.

    The interval: the variance of the post-stratified estimator conditional on the
    responses per stratum, V = sum_h W_h^2 p_h (1 - p_h) / n_h (the stratified-
    sampling variance applied after the fact; Cochran 1977, Sampling Techniques,
    ch. 5A, stratification after selection; Lohr, Sampling: Design and Analysis,
    poststratification), gives the effective sample size n* = p (1 - p) / V, on which
    a Wilson score interval is computed (Korn & Graubard 1998, with Wilson in place
    of Clopper-Pearson). n* is never taken above Kish's n_effective = responses /
    deff, the effective size the weights alone allow: with few responses per stratum
    V underestimates (a stratum whose responses are all satisfied adds nothing to
    it), and the cap keeps the interval from narrowing on that; when p is 0 or 1 (or
    V is 0) n_effective is used. With equal response rates this is the plain Wilson
    interval of the unweighted CSAT. No finite-population correction: the target is
    the service's satisfaction rate, not only the opinion of the people invited.
    """
    if not 0 <= min_response_rate < 1:
        raise ValueError("min_response_rate must be a proportion in [0, 1)")
    if not 0 < level < 1:
        raise ValueError("level must be a probability strictly between 0 and 1")
    if int(min_stratum) != min_stratum or min_stratum < 1:
        raise ValueError("min_stratum must be a whole number of at least 1")
    frame = _cells(table)
    z = float(stats.norm.ppf(0.5 + level / 2))
    rows, weights, targets = [], np.full(len(frame), np.nan), np.full(len(frame), None)
    for group, positions in frame.groupby("group", sort=False).indices.items():
        row, weight, collapsed_into = _estimate(frame.iloc[positions], z, int(min_stratum))
        rows.append({"group": group, **row})
        weights[positions], targets[positions] = weight, collapsed_into
    groups = pd.DataFrame(rows)
    groups["low_response"] = (groups["response_rate"] < min_response_rate).astype(bool)
    invitations, responses = frame["invitations"], frame["total"]
    cells = frame[list(KEYS)].copy()
    cells["invitations"], cells["responses"] = invitations, responses
    cells["satisfied"] = frame["satisfied"]
    cells["csat"] = (frame["satisfied"] / responses.where(responses > 0)).astype(float)
    cells["response_rate"] = (responses / invitations.where(invitations > 0)).astype(float)
    cells["low_response"] = (cells["response_rate"] < min_response_rate).astype(bool)
    cells["weight"] = weights
    cells["collapsed_into"] = targets
    cells = cells.reset_index(drop=True)
    return PostStratified(
        groups=groups,
        cells=cells,
        min_response_rate=min_response_rate,
        level=level,
        method=[
            "CSAT = share of ratings 4-5; strata = service × channel within each group, "
            "population = the invitations",
            "post-stratified CSAT = sum over strata of (stratum share of the group's "
            "invitations) × (stratum CSAT); each response weighted invitations / responses "
            "of its stratum (assumes those who answer are as satisfied as those who do "
            "not, within a stratum)",
            "strata with invitations but no responses collapsed: their invitations spread "
            "over the same service's other channels in the group in proportion to their "
            "invitations, or, when the service has no responses in the group, over all the "
            "group's strata with responses",
            "variance conditional on the responses per stratum, V = sum W_h^2 p_h (1 - p_h) "
            "/ n_h (Cochran 1977, ch. 5A, poststratification), no finite-population "
            "correction",
            f"{fmt(100 * level)}% Wilson score interval on the effective sample size "
            "p (1 - p) / V (Korn & Graubard 1998), never above Kish's n_effective (the "
            "stratum variances are unreliable in small strata); n_effective when the "
            "weighted CSAT is 0 or 1",
            *(
                [
                    f"cells with fewer than {min_stratum} responses pooled before weighting: "
                    "within their service, then across the group's services, then into the "
                    "group's largest stratum"
                ]
                if min_stratum > 1
                else []
            ),
            "deff: Kish's design effect from unequal weighting, n sum(w^2) / (sum w)^2 "
            "over the respondents; n_effective = responses / deff",
            f"response rate below {min_response_rate:.0%} flagged",
        ],
        table=frame,
    )
