"""Least squares from per-cluster cross-product sums, with a cluster-robust variance.

A stored cell cannot keep its responses, but it can keep the sums ``X'X`` and
``X'y`` over them: a fixed number of figures however many responses the cell
holds. Ordinary least squares needs nothing more, and neither does the
cluster-robust (sandwich) variance with the cells as clusters, since a
cluster's score ``X_g'(y_g - X_g b)`` is ``(X'y)_g - (X'X)_g b``.

The sums are stored one column per term, named by :func:`term`;
:func:`moment_terms` gives what one response adds to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

CONSTANT = "1"
SATISFIED_FROM = 4
# An eigenvalue of the regressors' correlation matrix below this: linearly dependent.
SINGULAR = 1e-10


def term(a: str, b: str) -> str:
    """The stored name of the cross-product of variables ``a`` and ``b``.

    Sorted, so that ``term(a, b) == term(b, a)``: ``"1*overall"``,
    ``"overall*timeliness"``, ``"timeliness*timeliness"``, ``"1*1"``.
    """
    return "*".join(sorted((a, b)))


def moment_terms(
    outcome: str,
    outcome_rating: int,
    ratings: Mapping[str, int],
    satisfied_from: int = SATISFIED_FROM,
) -> dict[str, int]:
    """What one complete response adds to its cell's cross-product sums.

    Parameters
    ----------
    outcome : str
        The overall question; its variable is 1 when ``outcome_rating`` is
        ``satisfied_from`` or more, else 0.
    outcome_rating : int
    ratings : mapping of str to int
        Every criterion's rating points (a complete case answered them all);
        not the outcome.
    satisfied_from : int
        First rating counted as satisfied.

    Returns
    -------
    dict
        ``{term(a, b): a * b}`` for every unordered pair of the variables
        ``CONSTANT`` (always 1), ``outcome`` and the criteria, squares
        included: 36 terms with six criteria.
    """
    names = [CONSTANT, outcome, *ratings]
    if outcome in ratings or CONSTANT in ratings or outcome == CONSTANT:
        raise ValueError(f"moment terms: {outcome!r} and {CONSTANT!r} cannot be criteria")
    if any("*" in name for name in names):
        raise ValueError("moment terms: a question name cannot contain '*'")
    if any(v is None or v != v for v in (outcome_rating, *ratings.values())):
        raise ValueError("moment terms: a complete response answers every question")
    points = [1, int(outcome_rating >= satisfied_from), *ratings.values()]
    return {
        term(names[i], names[j]): points[i] * points[j]
        for i in range(len(names))
        for j in range(i, len(names))
    }


def design_terms(design: Sequence[str], outcome: str) -> list[str]:
    """The terms of ``X'X`` and ``X'y``, X's columns named by ``design``, y by ``outcome``."""
    cross = [term(a, b) for i, a in enumerate(design) for b in design[i:]]
    return cross + [term(a, outcome) for a in design]


def read_moments(moments: pd.DataFrame, needed: Sequence[str]) -> pd.DataFrame:
    """A checked copy of the ``needed`` term columns, as floats with 0 for NaN.

    An empty frame is no cell, whatever its columns; otherwise a missing,
    repeated or non-numeric term column, or a negative ``"1*1"`` count,
    raises ValueError.
    """
    what = "moments"
    if not isinstance(moments, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame, got {type(moments).__name__}")
    if moments.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in needed})
    missing = [c for c in needed if c not in moments.columns]
    if missing:
        raise ValueError(f"{what}: missing term column(s) {', '.join(missing)}")
    twice = [c for c in needed if (moments.columns == c).sum() > 1]
    if twice:
        raise ValueError(f"{what}: term column(s) {', '.join(twice)} given twice")
    frame = pd.DataFrame(index=range(len(moments)))
    for column in needed:
        values = pd.to_numeric(moments[column], errors="coerce")
        if (values.isna() & moments[column].notna()).any() or np.isinf(values).any():
            raise ValueError(f"{what}: column {column!r} must hold finite numbers or blanks")
        frame[column] = values.fillna(0.0).astype(float).to_numpy()
    count = term(CONSTANT, CONSTANT)
    if count in frame and (frame[count] < 0).any():
        raise ValueError(f"{what}: a cell has a negative number of observations")
    return frame


def cross_products(
    table: pd.DataFrame, design: Sequence[str], outcome: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``table``, ``X'X`` of shape (k, k) and ``X'y`` of shape (k,).

    ``design`` names the columns of X (``CONSTANT`` for the intercept) and
    ``outcome`` y; ``table`` holds a column per :func:`term` of them.
    """
    xx = np.stack([np.stack([table[term(a, b)] for b in design], axis=-1) for a in design], axis=-2)
    xy = np.stack([table[term(a, outcome)] for a in design], axis=-1)
    return xx.astype(float), xy.astype(float)


def dependent(xx: np.ndarray, names: Sequence[str]) -> list[str]:
    """The regressors of a linear dependence, from ``X'X`` with the intercept first.

    Read on the correlation matrix, so that the tolerance depends neither on
    the regressors' scales nor on the number of observations. Regressors
    without variation must be taken out first. Empty when there is none.
    """
    n = xx[0, 0]
    mean = xx[0, 1:] / n
    centred = xx[1:, 1:] / n - np.outer(mean, mean)
    sd = np.sqrt(np.diag(centred))
    values, vectors = np.linalg.eigh(centred / np.outer(sd, sd))
    if values[0] > SINGULAR:
        return []
    return [c for c, v in zip(names, vectors[:, 0], strict=True) if abs(v) > 1e-6]


@dataclass(frozen=True)
class MomentsFit:
    """OLS coefficients with their cluster-robust covariance.

    Attributes
    ----------
    params : ndarray, shape (k,)
        The least-squares coefficients, identical to OLS on the individual
        observations.
    cov : ndarray, shape (k, k)
        CR1 cluster-robust covariance, as Stata's ``vce(cluster)`` and
        statsmodels' ``cov_type="cluster"``: ``c A^-1 M A^-1`` with
        ``A = X'X``, ``M`` the sum over clusters of the outer products of
        their scores and ``c = G/(G-1) (N-1)/(N-k)``. NaN where undefined
        (fewer than two clusters, or no more observations than coefficients).
    clusters : int
        G, the clusters with at least one observation.
    nobs : float
        N, the observations over all clusters.
    """

    params: np.ndarray
    cov: np.ndarray
    clusters: int
    nobs: float

    @property
    def bse(self) -> np.ndarray:
        """Standard errors: the square roots of the covariance's diagonal."""
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.diag(self.cov))


def ols_from_moments(cluster_xx, cluster_xy, cluster_n) -> MomentsFit:
    """OLS and its cluster-robust covariance from per-cluster sums.

    Parameters
    ----------
    cluster_xx : array_like, shape (G, k, k)
        Per cluster, ``X_g'X_g`` (the design includes the intercept column
        if the model has one).
    cluster_xy : array_like, shape (G, k)
        Per cluster, ``X_g'y_g``.
    cluster_n : array_like, shape (G,)
        Per cluster, its number of observations. Clusters with none count
        neither in G nor in the sums.

    Returns
    -------
    MomentsFit

    Raises
    ------
    ValueError
        When the shapes do not agree.
    numpy.linalg.LinAlgError
        When ``X'X`` summed over the clusters is singular.
    """
    xx = np.asarray(cluster_xx, dtype=float)
    xy = np.asarray(cluster_xy, dtype=float)
    n = np.asarray(cluster_n, dtype=float)
    if xx.ndim != 3 or xx.shape[1] != xx.shape[2] or xy.shape != xx.shape[:2]:
        raise ValueError("ols_from_moments: expected X'X of shape (G, k, k) and X'y of (G, k)")
    if n.shape != xx.shape[:1]:
        raise ValueError("ols_from_moments: expected one observation count per cluster")
    used = n > 0
    xx, xy = xx[used], xy[used]
    clusters, nobs, k = int(used.sum()), float(n[used].sum()), xx.shape[1]
    bread = np.linalg.inv(xx.sum(axis=0))
    params = bread @ xy.sum(axis=0)
    if clusters < 2 or nobs <= k:
        return MomentsFit(params, np.full((k, k), np.nan), clusters, nobs)
    scores = xy - xx @ params
    correction = clusters / (clusters - 1) * (nobs - 1) / (nobs - k)
    cov = correction * bread @ (scores.T @ scores) @ bread
    # The sandwich is symmetric in exact arithmetic; rounding is not.
    return MomentsFit(params, (cov + cov.T) / 2, clusters, nobs)
