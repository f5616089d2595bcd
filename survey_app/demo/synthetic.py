"""Realistic synthetic responses for the demo, tests and benchmarks, generated column-wise.

Satisfaction differs by agency, improves slowly everywhere, dips in the weeks
after Tết and follows two stories: Da Nang improves fast and Transport
deteriorates. Volumes peak at the tax deadline in March; three agencies get so
few answers that their figures are withheld or pulled toward the national
rate. Reasons follow the published shares, with one agency hitting payment
errors twice as often.

Not every invitation is answered: around the responses of each agency ×
service × channel come invitations nobody answered, as many as that cell's
response propensity implies. Propensity depends on the channel (a counter
clerk hands the survey over in person, an e-mail mostly goes unread), on the
agency and a little on the service, between about 3% and 45%; the cells that
answer least are also the least satisfied, so the plain CSAT leans toward the
channels that answer and weighting the responses back to the invitations
changes it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from questionnaires import DEFAULT_QUESTIONNAIRE_ID, REASON_CODES
from survey_app.db.bulk import CHUNK, Columns, Unanswered, insert_columns
from survey_app.db.tables import Service

DEMO_SEED = 2026
FIRST_RUN_RESPONSES = 3000
GENERATION_CHUNK = CHUNK  # one generated chunk per write transaction
# The published reason shares (DESIGN.md), and agencies made deliberately different
# so the dashboard shows real significance on first run.
REASON_WEIGHTS = {
    "portal_error": 36,
    "complex_procedure": 25,
    "payment_error": 10,
    "network_error": 5,
    "device_error": 3,
    "other": 14,
}
BASE_CSAT = 0.83
CSAT_SHIFT = {"HN": -0.10, "MOF": +0.09, "GDT": -0.06, "QN": +0.07}
DOUBLE_PAYMENT_ERRORS = {"VSS"}
# Channels of the responses; those of the invitations follow from the propensities below.
CHANNEL_WEIGHTS = {"web": 55, "mobile": 30, "counter": 10, "sms": 3, "email": 2}
# The share of invitations answered on each channel (every ``Channel``)...
RESPONSE_PROPENSITY = {"web": 0.20, "mobile": 0.14, "counter": 0.32, "sms": 0.09, "email": 0.06}
# ...times a factor of each agency within 1 ± this and of each service within 1 ± that,
# fixed by their codes.
AGENCY_PROPENSITY_SPREAD = 0.35
SERVICE_PROPENSITY_SPREAD = 0.15
# Differential nonresponse: a cell's CSAT moves by this much per unit of
# propensity above or below the pivot (counter +0.10, email -0.08).
PROPENSITY_CSAT_SLOPE = 0.4
PROPENSITY_CSAT_PIVOT = RESPONSE_PROPENSITY["web"]
PROPENSITY_RANGE = (0.02, 0.60)
LOCALE_WEIGHTS = {"vi": 85, "en": 10, "id": 5}
MONTHLY_GAIN = 0.004
# Change of CSAT per month of two agencies, about the middle of a year's data: one that
# fixes its service and one that lets it slide, for the trend charts and the signals.
AGENCY_TREND = {"DN": +0.02, "MOT": -0.018}
TREND_PIVOT_MONTHS = 6
# Seasons: CSAT dips by up to this much in the backlog after the Tết holiday (late
# January to February), and volumes swing by this share around the year, highest at
# the personal income tax deadline at the end of March.
SEASONAL_CSAT_DIP = 0.05
SEASONAL_VOLUME = 0.35
VOLUME_PEAK_DAY = 85
TET_DAY = 40
# Agencies that almost nobody answers for (a share of an ordinary agency's responses):
# their figures are withheld or shrunk toward the national rate.
SPARSE_AGENCIES = {"MOHA": 0.02, "SBV": 0.05, "MOFA": 0.12}
DOSSIER = "dossier-evaluation"
# Each criterion of dossier-evaluation: how strongly it follows the overall rating,
# and how often it is skipped.
CRITERIA = {
    "publicity": (0.35, 0.05),
    "timeliness": (0.80, 0.02),
    "staff_attitude": (0.65, 0.02),
    "visits": (0.50, 0.05),
    "online_quality": (0.30, 0.25),
    "feedback_handling": (0.20, 0.60),
}


async def synthesize(
    count: int, months: int, seed: int = DEMO_SEED, progress: Callable[[int], None] | None = None
) -> int:
    """Add ``count`` realistic responses spread over the last ``months`` months,
    with the invitations nobody answered around them (about two per response);
    returns the count of responses.

    Generated and stored one chunk at a time, so memory stays flat for
    millions of responses; the same seed gives the same responses and
    invitations (tokens and transaction keys aside, which are random).
    """
    # In the order the services were added: PostgreSQL returns a table's rows in no fixed
    # order (after deletes, in whatever order its pages hold them), and the same seed must
    # give the same responses.
    rows = await Service.select(
        Service.id,
        Service.code,
        Service.agency.id.as_alias("agency_id"),
        Service.agency.code.as_alias("agency"),
        Service.questionnaire_id,
        Service.agency.questionnaire_id.as_alias("agency_questionnaire"),
    ).order_by(Service.id)
    if not rows:
        raise ValueError("no services: load the demo agencies and services first")
    services = ServiceTable.of(rows)
    rng = np.random.default_rng(seed)
    now_s = int(dt.datetime.now(dt.UTC).timestamp())
    start_s = now_s - 30 * months * DAY_S
    return await insert_columns(
        (
            _generate(rng, services, now_s, period)
            for period in _periods(start_s, now_s, count, GENERATION_CHUNK)
        ),
        progress=progress,
    )


@dataclass(frozen=True)
class Period:
    """``size`` responses to draw uniformly in the seconds [start_s, end_s)."""

    start_s: int
    end_s: int
    size: int


def _periods(start_s: int, end_s: int, count: int, chunk: int) -> Iterator[Period]:
    """Consecutive slices of [start_s, end_s), each as long as its share of ``count``.

    Responses stay uniform over the whole span, but each chunk is generated
    and stored in time order, as real responses arrive: the time index and
    the statistics cells then grow at their end instead of being rewritten
    all over by every chunk, which keeps loading fast at any size.
    """
    span = end_s - start_s
    for first in range(0, count, chunk):
        last = min(first + chunk, count)
        yield Period(start_s + span * first // count, start_s + span * last // count, last - first)


@dataclass(frozen=True)
class ServiceTable:
    """The services to draw from, as arrays indexed by a drawn service number."""

    service_id: np.ndarray
    agency_id: np.ndarray
    csat_shift: np.ndarray
    double_payment: np.ndarray  # bool: this agency's citizens hit payment errors twice as often
    propensity: np.ndarray  # [service, channel]: the share of invitations answered
    dossier: np.ndarray  # bool: the service asks dossier-evaluation (its own or its agency's)
    weight: np.ndarray  # the chance that a response is about this service
    trend: np.ndarray  # CSAT change per month of the service's agency

    @classmethod
    def of(cls, rows: list[dict]) -> ServiceTable:
        factor = np.array(
            [
                _factor(r["agency"], AGENCY_PROPENSITY_SPREAD)
                * _factor(r.get("code") or str(r["id"]), SERVICE_PROPENSITY_SPREAD)
                for r in rows
            ]
        )
        weight = np.array([SPARSE_AGENCIES.get(r["agency"], 1.0) for r in rows])
        return cls(
            service_id=np.array([r["id"] for r in rows]),
            agency_id=np.array([r["agency_id"] for r in rows]),
            csat_shift=np.array([CSAT_SHIFT.get(r["agency"], 0.0) for r in rows]),
            double_payment=np.array([r["agency"] in DOUBLE_PAYMENT_ERRORS for r in rows]),
            propensity=np.clip(np.outer(factor, CHANNEL_PROPENSITY), *PROPENSITY_RANGE),
            dossier=np.array(
                [
                    (r.get("questionnaire_id") or r.get("agency_questionnaire")) == DOSSIER
                    for r in rows
                ]
            ),
            weight=weight / weight.sum(),
            trend=np.array([AGENCY_TREND.get(r["agency"], 0.0) for r in rows]),
        )


def _factor(code: str, spread: float) -> float:
    """How much more or less than its channel's share an agency or a service answers:
    1 ± ``spread``, the same for a code on every run (a stable hash, not Python's salted
    one)."""
    unit = zlib.crc32(code.encode()) / 0xFFFF_FFFF
    return 1 + spread * (2 * unit - 1)


def _day_of_year(seconds: np.ndarray) -> np.ndarray:
    """The day of the year (0-365) of Unix times, close enough for seasons."""
    return (seconds % (365.2425 * DAY_S)) / DAY_S


def seasonal_dip(seconds: np.ndarray) -> np.ndarray:
    """0 to 1: how deep in the backlog after Tết each time is (a bump of about a month
    each side of TET_DAY)."""
    distance = np.abs(_day_of_year(seconds) - TET_DAY)
    distance = np.minimum(distance, 365.2425 - distance)
    return np.exp(-0.5 * (distance / 20) ** 2)


def volume(seconds: np.ndarray) -> np.ndarray:
    """Relative volume of transactions at each time: 1 ± SEASONAL_VOLUME over the year."""
    angle = 2 * math.pi * (_day_of_year(seconds) - VOLUME_PEAK_DAY) / 365.2425
    return 1 + SEASONAL_VOLUME * np.cos(angle)


def _probabilities(weights: dict[str, float]) -> np.ndarray:
    values = np.array(list(weights.values()), dtype=float)
    return values / values.sum()


REASON_P = _probabilities({code: REASON_WEIGHTS[code] for code in REASON_CODES})
REASON_P_DOUBLE_PAYMENT = _probabilities(
    {code: REASON_WEIGHTS[code] * (2 if code == "payment_error" else 1) for code in REASON_CODES}
)
# A reason set as a bit mask over REASON_CODES -> its codes, in REASON_CODES order.
REASON_SETS = [
    tuple(code for bit, code in enumerate(REASON_CODES) if mask >> bit & 1)
    for mask in range(1 << len(REASON_CODES))
]
CHANNELS = np.array(list(CHANNEL_WEIGHTS), dtype=object)
CHANNEL_P = _probabilities(CHANNEL_WEIGHTS)
CHANNEL_PROPENSITY = np.array([RESPONSE_PROPENSITY[channel] for channel in CHANNEL_WEIGHTS])
LOCALES = np.array(list(LOCALE_WEIGHTS), dtype=object)
LOCALE_P = _probabilities(LOCALE_WEIGHTS)
SATISFIED_RATINGS, SATISFIED_P = np.array([4, 5]), np.array([0.45, 0.55])
UNSATISFIED_RATINGS, UNSATISFIED_P = np.array([1, 2, 3]), np.array([0.20, 0.30, 0.50])
# One reason picked, or two with a chance of one in three (they may coincide).
SECOND_REASON_P = 1 / 3
DAY_S = 86_400


def _generate(
    rng: np.random.Generator, services: ServiceTable, now_s: int, period: Period
) -> Columns:
    """``period.size`` responses in time order, drawn column by column, and the
    invitations nobody answered around them."""
    size = period.size
    picked = rng.choice(len(services.service_id), size=size, p=services.weight)
    channel = rng.choice(len(CHANNELS), size=size, p=CHANNEL_P)
    when_s = _times(rng, period, size)
    propensity = services.propensity[picked, channel]
    csat = expected_csat(services, picked, propensity, when_s, now_s)
    satisfied = rng.random(size) < csat
    overall = np.where(
        satisfied,
        rng.choice(SATISFIED_RATINGS, size=size, p=SATISFIED_P),
        rng.choice(UNSATISFIED_RATINGS, size=size, p=UNSATISFIED_P),
    )
    dossier = services.dossier[picked]
    return Columns(
        agency=services.agency_id[picked].tolist(),
        service=services.service_id[picked].tolist(),
        channel=CHANNELS[channel].tolist(),
        locale=rng.choice(LOCALES, size=size, p=LOCALE_P).tolist(),
        submitted_us=when_s * 1_000_000,
        overall=overall.tolist(),
        reasons=_reasons(rng, services.double_payment[picked], overall <= 3),
        unanswered=_unanswered(rng, services, picked, channel, propensity, period),
        questionnaire=np.where(dossier, DOSSIER, DEFAULT_QUESTIONNAIRE_ID).tolist(),
        answers=_criteria(rng, overall, dossier),
    )


def expected_csat(
    services: ServiceTable,
    picked: np.ndarray,
    propensity: np.ndarray,
    when_s: np.ndarray,
    now_s: int,
) -> np.ndarray:
    """The chance that each drawn response is satisfied.

    Satisfaction improves month by month, differs by agency (two of them on a trend
    of their own), dips after Tết, and is lower where fewer answer.
    """
    months_ago = (now_s - when_s) // DAY_S / 30
    csat = (
        BASE_CSAT
        + services.csat_shift[picked]
        + PROPENSITY_CSAT_SLOPE * (propensity - PROPENSITY_CSAT_PIVOT)
        - MONTHLY_GAIN * months_ago
        + services.trend[picked] * (TREND_PIVOT_MONTHS - months_ago)
        - SEASONAL_CSAT_DIP * seasonal_dip(when_s)
    )
    return np.clip(csat, 0.05, 0.99)


def _criteria(rng: np.random.Generator, overall: np.ndarray, dossier: np.ndarray) -> list[str]:
    """The criteria ratings of the dossier evaluations, as JSON ('{}' for the others).

    A criterion follows the overall rating (within a point) with its own
    strength, else it is drawn at random; so the drivers come out ranked, in
    order, timeliness, staff attitude, visits, publicity, online quality and
    feedback handling. The last two are skipped often (not every dossier went
    online or raised a complaint).
    """
    size = len(overall)
    columns = {}
    for criterion, (strength, skipped) in CRITERIA.items():
        follows = rng.random(size) < strength
        near = np.clip(overall + rng.integers(-1, 2, size=size), 1, 5)
        rating = np.where(follows, near, rng.integers(1, 6, size=size))
        columns[criterion] = np.where(rng.random(size) < skipped, 0, rating).tolist()
    texts = []
    for i, is_dossier in enumerate(dossier.tolist()):
        if not is_dossier:
            texts.append("{}")
            continue
        given = {c: values[i] for c, values in columns.items() if values[i]}
        texts.append(json.dumps(given))
    return texts


def _times(rng: np.random.Generator, period: Period, size: int) -> np.ndarray:
    """``size`` whole seconds drawn in the period as the seasons' volumes have it, in
    order: by inverting the volume's running total over the period, day by day."""
    end_s = max(period.end_s, period.start_s + 1)
    grid = np.linspace(period.start_s, end_s, max(2, (end_s - period.start_s) // DAY_S + 2))
    running = np.concatenate([[0.0], np.cumsum(volume(grid[:-1]) * np.diff(grid))])
    drawn = np.interp(rng.random(size) * running[-1], running, grid)
    return np.sort(np.minimum(drawn.astype(np.int64), end_s - 1))


def _unanswered(
    rng: np.random.Generator,
    services: ServiceTable,
    picked: np.ndarray,
    channel: np.ndarray,
    propensity: np.ndarray,
    period: Period,
) -> Unanswered:
    """The invitations nobody answered around these responses (given in time order).

    Each invitation of a cell is answered with the cell's propensity p, so
    before each answered one come Geometric(p) - 1 unanswered ones: the cell
    ends up with about responses / p invitations. Issued over the same period,
    in order, so each lands near the response it was drawn for.
    """
    missed = rng.geometric(propensity) - 1
    service = np.repeat(picked, missed)
    size = len(service)
    return Unanswered(
        agency=services.agency_id[service].tolist(),
        service=services.service_id[service].tolist(),
        channel=CHANNELS[np.repeat(channel, missed)].tolist(),
        locale=rng.choice(LOCALES, size=size, p=LOCALE_P).tolist(),
        created_us=_times(rng, period, size) * 1_000_000,
        questionnaire=np.where(
            services.dossier[service], DOSSIER, DEFAULT_QUESTIONNAIRE_ID
        ).tolist(),
    )


def _reasons(
    rng: np.random.Generator, double_payment: np.ndarray, asked: np.ndarray
) -> list[tuple[str, ...]]:
    """The reason set of each response: one or two weighted picks where ``asked``."""
    size = len(asked)

    def pick() -> np.ndarray:
        usual = rng.choice(len(REASON_CODES), size=size, p=REASON_P)
        doubled = rng.choice(len(REASON_CODES), size=size, p=REASON_P_DOUBLE_PAYMENT)
        return np.where(double_payment, doubled, usual)

    first, second = pick(), pick()
    two = rng.random(size) < SECOND_REASON_P
    masks = np.where(asked, (1 << first) | np.where(two, 1 << second, 0), 0)
    return [REASON_SETS[m] for m in masks.tolist()]
