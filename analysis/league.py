"""Fair league tables for many small groups: shrunken CSAT and rank intervals.

With dozens of groups (provinces, agencies) of very different sizes, the raw
CSAT ranks the smallest samples first and last by chance alone. Three views
that do not:

* :func:`shrink_satisfaction` - empirical-Bayes (beta-binomial) estimates: a
  Beta(alpha, beta) prior for the true CSAT is estimated across groups by
  maximum likelihood, and each group's CSAT is pulled toward the prior mean
  in proportion to how little data it has;
* :func:`analysis.funnel.funnel_plot` - control limits around the overall
  rate as a function of the number of responses (Spiegelhalter 2005), and
  which groups lie outside them;
* :func:`rank_intervals` - each group's median rank and 95% interval of
  ranks, simulated from the empirical-Bayes posteriors.

All take a table ``group, satisfied, total``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from analysis.results import fmt, frame_text, json_safe
from analysis.tables import satisfied_total

LEVEL = 0.95
RANK_DRAWS = 4000
RANK_SEED = 20050401
# Bounds of the search for the prior concentration alpha + beta. The upper bound is
# the number of responses in the whole table (see BetaPrior.capped).
MIN_CONCENTRATION = 1e-3
LOGIT_BOUND = 30.0


@dataclass(frozen=True)
class BetaPrior:
    """The Beta(alpha, beta) distribution of true CSAT across groups, as estimated.

    Attributes
    ----------
    alpha, beta : float
        Maximum-likelihood estimates from the beta-binomial marginal likelihood.
    mean : float
        Prior mean alpha / (alpha + beta): the CSAT every group is pulled toward.
    sd : float
        Between-group spread: standard deviation of the true CSAT across groups,
        sqrt(mean (1 - mean) / (alpha + beta + 1)).
    concentration : float
        alpha + beta, the prior's weight in responses: a group with that many
        responses is pulled halfway to the prior mean.
    icc : float
        Intra-group correlation 1 / (alpha + beta + 1) (0: no between-group variation).
    log_likelihood : float
        Beta-binomial log-likelihood at the estimate (binomial coefficients included).
    moments_alpha, moments_beta : float or None
        Method-of-moments estimates used as the starting point; None when the
        groups vary no more than binomial sampling explains (no moment estimate).
    capped : bool
        The concentration reached its cap, the total number of responses: the data
        show no between-group variation beyond sampling (the maximum-likelihood
        concentration is infinite). The estimates are then the pooled rate, with a
        prior worth as much as the whole table, not a fitted between-group spread.
    converged : bool
        The optimiser reported success.
    """

    alpha: float
    beta: float
    mean: float
    sd: float
    concentration: float
    icc: float
    log_likelihood: float
    moments_alpha: float | None
    moments_beta: float | None
    capped: bool
    converged: bool

    def text(self) -> str:
        line = (
            f"prior Beta({fmt(self.alpha)}, {fmt(self.beta)}): mean {fmt(self.mean)}, "
            f"between-group SD {fmt(self.sd)}, alpha + beta = {fmt(self.concentration)}"
        )
        if self.capped:
            line += " (capped: no between-group variation beyond sampling)"
        return line


@dataclass(frozen=True)
class ShrunkenSatisfaction:
    """Empirical-Bayes CSAT per group.

    Attributes
    ----------
    groups : DataFrame
        ``group, satisfied, total, csat`` (raw, NaN without responses),
        ``shrunken`` (posterior mean (alpha + x) / (alpha + beta + n)),
        ``ci_low, ci_high`` (equal-tailed posterior interval from
        Beta(alpha + x, beta + n - x)) and ``shrinkage_weight`` n / (alpha +
        beta + n), the weight of the group's own CSAT: shrunken = weight * csat +
        (1 - weight) * prior mean.
    prior : BetaPrior
    level : float
        Probability of the posterior intervals.
    method : list of str
    table : DataFrame
        The input counts.
    """

    groups: pd.DataFrame
    prior: BetaPrior
    level: float
    method: list[str]
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.groups.copy()

    def to_dict(self) -> dict:
        return json_safe(
            {
                "groups": self.groups,
                "prior": self.prior,
                "level": self.level,
                "method": self.method,
            }
        )

    def summary(self) -> str:
        return "\n".join(
            [
                "Empirical-Bayes (beta-binomial) CSAT, "
                f"{fmt(100 * self.level)}% posterior intervals",
                self.prior.text(),
                "",
                frame_text(self.groups),
            ]
        )


@dataclass(frozen=True)
class RankIntervals:
    """Where each group ranks, with its uncertainty (rank 1 = highest CSAT).

    Attributes
    ----------
    groups : DataFrame
        ``group, satisfied, total, csat, rank_raw`` (rank of the raw CSAT, ties
        share the best rank; None without responses), ``shrunken``,
        ``rank_median, rank_low, rank_high`` (median and equal-tailed interval of
        the ranks over the simulated draws).
    prior : BetaPrior
        The empirical-Bayes prior the posteriors come from.
    level : float
        Probability of the rank intervals.
    draws : int
    seed : int
    method : list of str
    table : DataFrame
        The input counts.
    """

    groups: pd.DataFrame
    prior: BetaPrior
    level: float
    draws: int
    seed: int
    method: list[str]
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.groups.copy()

    def to_dict(self) -> dict:
        return json_safe(
            {
                "groups": self.groups,
                "prior": self.prior,
                "level": self.level,
                "draws": self.draws,
                "seed": self.seed,
                "method": self.method,
            }
        )

    def summary(self) -> str:
        return "\n".join(
            [
                f"Rank intervals ({fmt(100 * self.level)}%, rank 1 = highest CSAT), "
                f"{self.draws} posterior draws, seed {self.seed}",
                self.prior.text(),
                "",
                frame_text(self.groups),
            ]
        )


def league_counts(table: pd.DataFrame) -> pd.DataFrame:
    frame = satisfied_total(table, ("group",), what="league table")
    if frame.empty:
        raise ValueError("league table: no rows")
    frame["group"] = frame["group"].astype(str)
    if int(frame["total"].sum()) == 0:
        raise ValueError("league table: no responses at all (every total is 0)")
    return frame


def check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError("level must be a probability strictly between 0 and 1")


def _moments(x: np.ndarray, n: np.ndarray) -> tuple[float, float] | None:
    """Method-of-moments (alpha, beta): mean sum x / sum n, and the intra-group
    correlation rho from sum (x - n mu)^2 = mu (1 - mu) sum n (1 + (n - 1) rho).
    With equal n this is the usual estimate from the first two sample moments (divisor
    the number of groups). None when the data show no overdispersion (rho <= 0)."""
    mu = x.sum() / n.sum()
    spread = mu * (1 - mu)
    pairs = float(np.sum(n * (n - 1)))
    if spread <= 0 or pairs <= 0:
        return None
    rho = (float(np.sum((x - n * mu) ** 2)) - spread * n.sum()) / (spread * pairs)
    if not rho > 0:
        return None
    concentration = max(1 / min(rho, 1.0) - 1, MIN_CONCENTRATION)
    return mu * concentration, (1 - mu) * concentration


def _log_likelihood(alpha: float, beta: float, x: np.ndarray, n: np.ndarray) -> float:
    combinations = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    return float(
        np.sum(combinations + special.betaln(x + alpha, n - x + beta) - special.betaln(alpha, beta))
    )


def fit_beta_prior(x, n) -> BetaPrior:
    """Maximum-likelihood Beta(alpha, beta) from counts ``x`` of ``n`` per group.

    The beta-binomial marginal likelihood is maximised over logit(mean) and
    log(alpha + beta) by SLSQP with analytic gradients, from the method-of-moments
    estimate (when there is one) and three further starts, keeping the best optimum; alpha + beta is
    capped at the total number of responses (see :attr:`BetaPrior.capped`). Groups
    without responses carry no information and are left out.
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    if x.ndim != 1 or x.shape != n.shape:
        raise ValueError("satisfied and total must be 1-d arrays of the same length")
    if np.any(~np.isfinite(n)) or np.any(~np.isfinite(x)) or np.any(x < 0) or np.any(x > n):
        raise ValueError("need 0 <= satisfied <= total for every group")
    keep = n > 0
    x, n = x[keep], n[keep]
    if len(n) < 2:
        raise ValueError("league table: need at least two groups with responses")
    if not np.any(n > 1):
        raise ValueError(
            "league table: need a group with two or more responses to estimate "
            "the between-group spread"
        )
    pooled = x.sum() / n.sum()
    if pooled in (0.0, 1.0):
        raise ValueError(
            "league table: every response is "
            + ("satisfied" if pooled == 1.0 else "unsatisfied")
            + "; there is nothing to shrink"
        )
    cap = float(n.sum())
    log_cap = np.log(cap)
    bounds = [(-LOGIT_BOUND, LOGIT_BOUND), (np.log(MIN_CONCENTRATION), log_cap)]

    def negative(theta: np.ndarray) -> tuple[float, np.ndarray]:
        mu = special.expit(theta[0])
        concentration = np.exp(theta[1])
        a, b = mu * concentration, (1 - mu) * concentration
        value = np.sum(special.betaln(x + a, n - x + b) - special.betaln(a, b))
        common = np.sum(special.digamma(a + b) - special.digamma(n + a + b))
        d_a = np.sum(special.digamma(x + a) - special.digamma(a)) + common
        d_b = np.sum(special.digamma(n - x + b) - special.digamma(b)) + common
        d_mu = concentration * mu * (1 - mu) * (d_a - d_b)
        d_log_c = a * d_a + b * d_b
        return -float(value), -np.array([d_mu, d_log_c])

    moments = _moments(x, n)
    logit_pooled = float(special.logit(pooled))
    # the moment estimate, the cap (where the likelihood is highest when groups do not
    # vary beyond sampling), and alpha + beta = sqrt(cap) and 1 in case the likelihood is flat
    starts = [(logit_pooled, log_cap), (logit_pooled, 0.5 * log_cap), (logit_pooled, 0.0)]
    if moments:
        starts.insert(
            0, (float(special.logit(moments[0] / sum(moments))), float(np.log(sum(moments))))
        )
    best = None
    for start in starts:
        clipped = np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds])
        found = optimize.minimize(
            negative,
            clipped,
            jac=True,
            method="SLSQP",
            bounds=bounds,
            options={"ftol": 1e-10, "maxiter": 500},
        )
        if best is None or found.fun < best.fun:
            best = found
    mu = float(special.expit(best.x[0]))
    concentration = float(np.exp(best.x[1]))
    capped = bool(best.x[1] >= log_cap - 1e-6)
    if capped:
        concentration = cap
    alpha, beta = mu * concentration, (1 - mu) * concentration
    return BetaPrior(
        alpha=alpha,
        beta=beta,
        mean=mu,
        sd=float(np.sqrt(mu * (1 - mu) / (concentration + 1))),
        concentration=concentration,
        icc=1 / (concentration + 1),
        log_likelihood=_log_likelihood(alpha, beta, x, n),
        moments_alpha=None if moments is None else float(moments[0]),
        moments_beta=None if moments is None else float(moments[1]),
        capped=capped,
        converged=bool(best.success),
    )


def _prior_method(prior: BetaPrior) -> list[str]:
    lines = [
        "prior Beta(alpha, beta) for the true CSAT across groups: maximum likelihood of "
        "the beta-binomial marginal (SLSQP over logit mean and log(alpha + beta), "
        "method-of-moments start); groups without responses left out of the fit",
        "empirical Bayes: the prior is estimated and then treated as known, so intervals "
        "leave out the uncertainty of alpha and beta (slightly too narrow with few groups)",
    ]
    if prior.capped:
        lines.append(
            "no between-group variation beyond sampling: alpha + beta capped at the total "
            f"number of responses ({fmt(prior.concentration, 6)}); every group is pulled "
            "almost to the pooled rate"
        )
    if not prior.converged:
        lines.append("warning: the optimiser did not report convergence")
    return lines


def shrink_satisfaction(table: pd.DataFrame, level: float = LEVEL) -> ShrunkenSatisfaction:
    """Empirical-Bayes (beta-binomial) CSAT per group with posterior intervals.

    ``table`` has ``group, satisfied, total``. The true CSAT of the groups is taken to
    follow a Beta(alpha, beta) distribution, estimated across groups by
    :func:`fit_beta_prior`; each group's posterior is then Beta(alpha + x, beta + n - x).
    """
    check_level(level)
    frame = league_counts(table)
    x = frame["satisfied"].to_numpy(dtype=float)
    n = frame["total"].to_numpy(dtype=float)
    prior = fit_beta_prior(x, n)
    a, b = prior.alpha + x, prior.beta + n - x
    tail = (1 - level) / 2
    groups = frame[["group", "satisfied", "total"]].copy()
    groups["csat"] = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    groups["shrunken"] = a / (a + b)
    groups["ci_low"] = stats.beta.ppf(tail, a, b)
    groups["ci_high"] = stats.beta.ppf(1 - tail, a, b)
    groups["shrinkage_weight"] = n / (prior.concentration + n)
    return ShrunkenSatisfaction(
        groups=groups,
        prior=prior,
        level=level,
        method=[
            *_prior_method(prior),
            "shrunken CSAT: posterior mean (alpha + satisfied) / (alpha + beta + total)",
            f"{fmt(100 * level)}% equal-tailed posterior interval from "
            "Beta(alpha + satisfied, beta + total - satisfied)",
            "shrinkage_weight: total / (alpha + beta + total), the weight of the group's "
            "own CSAT against the prior mean",
        ],
        table=frame,
    )


def rank_intervals(
    table: pd.DataFrame, draws: int = RANK_DRAWS, seed: int = RANK_SEED, level: float = LEVEL
) -> RankIntervals:
    """Median rank and interval of ranks per group (rank 1 = highest CSAT).

    ``table`` has ``group, satisfied, total``. Each group's true CSAT is drawn
    ``draws`` times from its empirical-Bayes posterior Beta(alpha + x, beta + n - x)
    (see :func:`shrink_satisfaction`), with a fixed ``seed``; the groups are ranked
    within each draw.
    """
    check_level(level)
    if int(draws) != draws or draws < 1:
        raise ValueError("draws must be a positive whole number")
    draws = int(draws)
    shrunken = shrink_satisfaction(table)
    prior, frame = shrunken.prior, shrunken.table
    x = frame["satisfied"].to_numpy(dtype=float)
    n = frame["total"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    sample = rng.beta(prior.alpha + x, prior.beta + n - x, size=(draws, len(x)))
    # rank 1 = highest CSAT in the draw (continuous draws: ties have probability 0)
    ranks = np.argsort(np.argsort(-sample, axis=1), axis=1) + 1
    tail = (1 - level) / 2
    groups = shrunken.groups[["group", "satisfied", "total", "csat"]].copy()
    raw = groups["csat"].rank(ascending=False, method="min")
    groups["rank_raw"] = raw
    groups["shrunken"] = shrunken.groups["shrunken"]
    groups["rank_median"] = np.quantile(ranks, 0.5, axis=0, method="inverted_cdf")
    groups["rank_low"] = np.quantile(ranks, tail, axis=0, method="inverted_cdf")
    groups["rank_high"] = np.quantile(ranks, 1 - tail, axis=0, method="inverted_cdf")
    return RankIntervals(
        groups=groups,
        prior=prior,
        level=level,
        draws=draws,
        seed=int(seed),
        method=[
            *_prior_method(prior),
            f"ranks: {draws} draws of every group's CSAT from its posterior "
            f"Beta(alpha + satisfied, beta + total - satisfied), seed {seed}; groups ranked "
            "within each draw, rank 1 = highest CSAT",
            f"rank_median and the {fmt(100 * level)}% equal-tailed interval "
            "rank_low..rank_high: quantiles of the ranks over the draws",
            "rank_raw: rank of the raw CSAT (ties share the best rank), for comparison",
        ],
        table=frame,
    )
