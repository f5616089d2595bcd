"""The published aggregates: what the public page and the open-data package show per quarter.

Computed by the same functions as the statistics API (``statistics.counts`` and
``statistics.nonresponse``) and passed through the same disclosure control
(``analysis.suppress``): an agency resting on fewer than ``MIN_PUBLISHED``
responses is withheld, together with enough other small agencies that the
national figure, computed on the published agencies only, cannot give it away.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

import analysis
from analysis.intervals import wilson
from analysis.poststrat import MIN_RESPONSE_RATE
from survey_app.db.tables import Agency
from survey_app.statistics import counts, nonresponse
from survey_app.statistics.filters import Filters

QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
# Columns of the agencies' table; the national table has the same figures without
# the agency's code, kind and names.
FIGURES = [
    "responses",
    "satisfied",
    "csat",
    "csat_ci_low",
    "csat_ci_high",
    "invitations",
    "response_rate",
    "response_rate_ci_low",
    "response_rate_ci_high",
    "dissatisfied",
    "official_rate",
    "official_rate_ci_low",
    "official_rate_ci_high",
]
AGENCY_COLUMNS = ["quarter", "agency", "kind", "name_vi", "name_en", "name_id", *FIGURES]
NATIONAL_COLUMNS = ["quarter", "agencies_published", "agencies_withheld", *FIGURES]
REASON_COLUMNS = ["quarter", "reason", "count", "share", "ci_low", "ci_high", "respondents"]


class QuarterError(ValueError):
    """Not a quarter like 2026Q3."""


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = QUARTER.match(text.strip())
        if not match or not 2000 <= int(match.group(1)) <= 2100:
            raise QuarterError(f"not a quarter: {text!r} (write it like 2026Q3)")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, 3 * self.number - 2, 1)

    @property
    def last_day(self) -> dt.date:
        following = self.next()
        return following.first_day - dt.timedelta(days=1)

    def next(self) -> Quarter:
        return Quarter(self.year + self.number // 4, self.number % 4 + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - (self.number == 1), (self.number - 2) % 4 + 1)

    def filters(self) -> Filters:
        return Filters(date_from=self.first_day, date_to=self.last_day)

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"


@dataclass(frozen=True)
class Published:
    """One quarter's published tables; ``agencies`` lists withheld agencies too, blank."""

    quarter: Quarter
    national: pd.DataFrame
    agencies: pd.DataFrame
    reasons: pd.DataFrame
    method: list[str]

    @property
    def empty(self) -> bool:
        return bool(self.national["responses"].fillna(0).eq(0).all())


def _rate(frame: pd.DataFrame, count: str, total: str, name: str) -> pd.DataFrame:
    """``name`` = count / total with its Wilson interval, NaN where total is 0."""
    n = frame[total].astype(float)
    k = frame[count].astype(float)
    frame[name] = np.where(n > 0, k / n.where(n > 0, 1), np.nan)
    frame[f"{name}_ci_low"], frame[f"{name}_ci_high"] = wilson(k.fillna(0), n.fillna(0))
    return frame


async def published(
    quarter: Quarter, dissatisfied_max: int, directory: pd.DataFrame | None = None
) -> Published:
    """The quarter's national and per-agency figures and the national mix of reasons."""
    filters = quarter.filters()
    directory = directory if directory is not None else await agency_directory()
    ratings = counts.satisfaction_table(await counts.rating_counts(filters, "agency"))
    if ratings.empty or ratings["total"].sum() == 0:
        agencies = _agencies(quarter, pd.DataFrame(columns=["group", "suppressed"]), directory)
        national = _national(quarter, agencies)
        return Published(quarter, national, agencies, _reasons(quarter, None), [analysis.rule()])
    result = analysis.suppress(analysis.compare_satisfaction(ratings))
    groups, _, weighting, _ = nonresponse.with_nonresponse(
        result.groups,
        await nonresponse.frame_table(filters, "agency", dissatisfied_max),
        MIN_RESPONSE_RATE,
        dissatisfied_max,
    )
    agencies = _agencies(quarter, groups, directory)
    table, people = await counts.reason_counts(filters, "channel")
    reasons = None
    if not table.empty:
        reasons = analysis.suppress(analysis.reason_breakdown(table, respondents=people))
    method = [
        *result.method,
        *[line for line in weighting if "official rate" in line or "response rate" in line],
        *(reasons.method if reasons is not None else []),
    ]
    return Published(
        quarter, _national(quarter, agencies), agencies, _reasons(quarter, reasons), method
    )


async def agency_directory() -> pd.DataFrame:
    rows = await Agency.select(Agency.code, Agency.kind, Agency.name, Agency.names).output(
        load_json=True
    )
    return pd.DataFrame(
        [
            {
                "agency": row["code"],
                "kind": row["kind"],
                "name_vi": (row["names"] or {}).get("vi") or row["name"],
                "name_en": (row["names"] or {}).get("en") or row["name"],
                "name_id": (row["names"] or {}).get("id") or row["name"],
            }
            for row in rows
        ],
        columns=["agency", "kind", "name_vi", "name_en", "name_id"],
    )


def _agencies(quarter: Quarter, groups: pd.DataFrame, directory: pd.DataFrame) -> pd.DataFrame:
    """Every agency of the register, its figures blank where withheld or without answers."""
    shown = groups.rename(columns={"group": "agency", "total": "responses"})
    shown = shown.assign(agency=shown["agency"].astype(str))
    frame = directory.merge(shown, on="agency", how="left")
    for column in ("responses", "satisfied", "invitations", "transactions", "dissatisfied"):
        if column not in frame:
            frame[column] = np.nan
    withheld = frame.get("suppressed", pd.Series(False, index=frame.index)).eq(True)
    frame.loc[withheld, ["responses", "satisfied", "invitations", "dissatisfied"]] = np.nan
    frame["invitations"] = frame["invitations"].fillna(frame["transactions"])
    frame = _figures(frame)
    frame["quarter"] = str(quarter)
    frame["suppressed"] = withheld
    return frame.sort_values("agency", kind="stable")[[*AGENCY_COLUMNS, "suppressed"]].reset_index(
        drop=True
    )


def _figures(frame: pd.DataFrame) -> pd.DataFrame:
    frame = _rate(frame, "satisfied", "responses", "csat")
    frame = _rate(frame, "responses", "invitations", "response_rate")
    frame["not_dissatisfied"] = frame["invitations"] - frame["dissatisfied"]
    return _rate(frame, "not_dissatisfied", "invitations", "official_rate")


def _national(quarter: Quarter, agencies: pd.DataFrame) -> pd.DataFrame:
    """The sum of the published agencies: what a reader could add up from the table."""
    published = agencies[~agencies["suppressed"] & agencies["responses"].gt(0)]
    sums = published[["responses", "satisfied", "invitations", "dissatisfied"]].sum()
    frame = pd.DataFrame([sums.to_dict()])
    frame = _figures(frame)
    frame["quarter"] = str(quarter)
    frame["agencies_published"] = len(published)
    frame["agencies_withheld"] = int(agencies["suppressed"].sum())
    return frame[NATIONAL_COLUMNS]


def _reasons(quarter: Quarter, breakdown: object | None) -> pd.DataFrame:
    if breakdown is None:
        return pd.DataFrame(columns=REASON_COLUMNS)
    overall = breakdown.overall  # type: ignore[attr-defined]
    overall = overall[~overall["suppressed"].eq(True)].copy()
    respondents = sum((breakdown.respondents or {}).values())  # type: ignore[attr-defined]
    overall["quarter"] = str(quarter)
    overall["respondents"] = respondents
    return overall.sort_values("count", ascending=False, kind="stable")[REASON_COLUMNS].reset_index(
        drop=True
    )


def recent_quarters(today: dt.date, count: int = 4) -> list[Quarter]:
    """The last ``count`` quarters, the current one (so far) last."""
    quarters = [Quarter.of(today)]
    while len(quarters) < count:
        quarters.insert(0, quarters[0].previous())
    return quarters
