"""Count tables: the only way statistics read the responses.

Statistics read cells kept in the transaction that stores each response
(``db.cells``), so their cost grows with the number of cells, not of
responses. When the filters allow (no channel or locale, whole months, a
monthly or quarterly period) they read the monthly tables, a few thousand
rows at any volume; otherwise the day cells. Cells are grouped on their id
columns and the few agency and service codes are looked up apart, so no
query joins; the queries go through Piccolo's database-agnostic functions
and run unchanged on SQLite and PostgreSQL. ``where_filters`` serves the
microdata export, which reads the responses themselves.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
from collections import Counter
from typing import Any

import pandas as pd
from piccolo.query.functions.aggregate import Sum

from analysis.drivers import CONSTANT, term
from survey_app.db.cells import (
    ANSWERED,
    ANY_REASON,
    MOMENT_COLUMNS,
    OVERALL,
    REASON_SEPARATOR,
    REASONS,
    VARIABLE_SEPARATOR,
    moment_names,
)
from survey_app.db.tables import (
    Agency,
    AnswerCell,
    DailyAnswer,
    DriverMoment,
    InvitationCell,
    MonthlyAnswer,
    MonthlyInvitation,
    MonthlyRating,
    MonthlyReason,
    NationalAnswer,
    ResponseCell,
    Service,
)
from survey_app.lib.settings import local_zone
from survey_app.statistics.filters import FilterError, Filters, period_label
from survey_app.statistics.questions import Scope

SATISFIED_FROM = 4  # CSAT is the share of ratings 4-5
NOTHING = -1  # an id no row has: a filter naming an unknown code matches no cell


def where_filters(base: Any, filters: Filters) -> Any:
    """Conditions on ``Response`` columns, reached from ``base`` (the table or a foreign key)."""
    conditions = [base.overall.is_not_null()]
    if filters.agency:
        conditions.append(base.agency.code == filters.agency)
    if filters.service:
        conditions.append(base.service.code == filters.service)
    if filters.channel:
        conditions.append(base.channel == filters.channel)
    if filters.locale:
        conditions.append(base.locale == filters.locale)
    if filters.essential:
        conditions.append(base.service.essential.eq(True))
    if filters.questionnaire:
        conditions.append(base.questionnaire_id == filters.questionnaire)
    return all_of([*conditions, *between_days(base.submitted_at, filters)])


def between_days(column: Any, filters: Filters) -> list[Any]:
    """Conditions keeping a timestamp ``column`` within the filters' days, which are
    local days (``SURVEY_TIMEZONE``): each starts at its local midnight."""
    conditions = []
    zone = local_zone()
    if filters.date_from:
        start = dt.datetime.combine(filters.date_from, dt.time(), tzinfo=zone)
        conditions.append(column >= start.astimezone(dt.UTC))
    if filters.date_to:
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        conditions.append(column < end.astimezone(dt.UTC))
    return conditions


def all_of(conditions: list[Any]) -> Any:
    """The conjunction of one or more Piccolo conditions."""
    return functools.reduce(operator.and_, conditions)


async def essential_services() -> list[int]:
    """Ids of the essential services (one id no row has when there are none)."""
    rows = await Service.select(Service.id).where(Service.essential.eq(True))
    return [row["id"] for row in rows] or [NOTHING]


async def codes_of(table: Any) -> dict[int, str]:
    return {row["id"]: row["code"] for row in await table.select(table.id, table.code)}


async def id_of(table: Any, code: str) -> int:
    row = await table.select(table.id).where(table.code == code).first()
    return row["id"] if row else NOTHING


def _whole_months(filters: Filters) -> bool:
    if filters.date_from and filters.date_from.day != 1:
        return False
    return not (filters.date_to and (filters.date_to + dt.timedelta(days=1)).day != 1)


def monthly_tables_suffice(
    filters: Filters, group_by: str | None = None, period: str = "month"
) -> bool:
    """Can the monthly tables answer? Not by channel or locale, nor for part of a month."""
    if filters.channel or filters.locale or group_by == "channel":
        return False
    return period in ("month", "quarter") and _whole_months(filters)


def answer_months_suffice(filters: Filters, period: str = "month") -> bool:
    """Can ``MonthlyAnswer`` answer? It keeps the channel, not the locale."""
    return not filters.locale and period in ("month", "quarter") and _whole_months(filters)


def _by_channel_or_locale(filters: Filters, group_by: str | None = None) -> bool:
    return bool(filters.channel or filters.locale or group_by == "channel")


def answer_table(
    filters: Filters, group_by: str | None = None, period: str = "month", national: bool = False
) -> Any:
    """The smallest answer table that can answer: by month (with the channel), by day
    (without channel or locale; for a ``national`` series, without agency or service
    either), or the full day cells."""
    if answer_months_suffice(filters, period):
        return MonthlyAnswer
    if _by_channel_or_locale(filters, group_by):
        return AnswerCell
    where = filters.agency or filters.service or filters.essential
    return NationalAnswer if national and group_by is None and not where else DailyAnswer


DAY_TABLES = (ResponseCell, AnswerCell, DailyAnswer, NationalAnswer, InvitationCell)
ANSWER_TABLES = (AnswerCell, MonthlyAnswer, DailyAnswer, NationalAnswer)
CHANNEL_TABLES = (
    ResponseCell,
    AnswerCell,
    MonthlyAnswer,
    DriverMoment,
    InvitationCell,
    MonthlyInvitation,
)
LOCALE_TABLES = (ResponseCell, AnswerCell)


async def cell_filters(
    filters: Filters,
    table: Any = ResponseCell,
    scope: Scope | None = None,
    question: str = "",
    questions: list[str] | None = None,
) -> Any:
    """Conditions on ``table`` (day cells or a monthly table) for ``filters``, and for
    ``questions``, else the question of ``scope``, else ``question``, and for the
    questionnaires of ``scope``."""
    if table in (InvitationCell, MonthlyInvitation):
        count = table.invitations
    else:
        count = table.s0 if table is DriverMoment else table.responses
    conditions = [count > 0]
    if filters.agency:
        conditions.append(table.agency == await id_of(Agency, filters.agency))
    if filters.service:
        conditions.append(table.service == await id_of(Service, filters.service))
    if filters.essential:
        conditions.append(table.service.is_in(await essential_services()))
    if filters.channel and table in CHANNEL_TABLES:
        conditions.append(table.channel == filters.channel)
    if filters.locale and table in LOCALE_TABLES:
        conditions.append(table.locale == filters.locale)
    if table in ANSWER_TABLES and questions is not None:
        conditions.append(table.question.is_in(questions))
    elif table in ANSWER_TABLES:
        conditions.append(table.question == (scope.question if scope else question))
    if scope is not None and scope.questionnaires is not None:
        conditions.append(table.questionnaire_id.is_in(list(scope.questionnaires)))
    when = table.day if table in DAY_TABLES else table.month
    if filters.date_from:
        conditions.append(when >= filters.date_from)
    if filters.date_to:
        conditions.append(when <= filters.date_to)
    return all_of(conditions)


def _group_name(group_by: str) -> str:
    if group_by not in ("agency", "service", "channel"):
        raise FilterError(f"unknown group_by {group_by!r}: use agency, service or channel")
    return group_by


async def _names(group_by: str) -> dict[Any, str] | None:
    """How to name the values of a group column: codes for agency and service ids."""
    if group_by == "agency":
        return await codes_of(Agency)
    if group_by == "service":
        return await codes_of(Service)
    return None


async def _sum(
    table: Any, filters: Filters, *names: str, scope: Scope | None = None, question: str = ""
) -> pd.DataFrame:
    """Responses summed over ``table``'s rows by the columns ``names`` (and ``count``)."""
    columns = [getattr(table, name) for name in names]
    rows = (
        await table.select(*columns, Sum(table.responses, alias="count"))
        .where(await cell_filters(filters, table, scope, question))
        .group_by(*columns)
    )
    return pd.DataFrame(rows, columns=[*names, "count"])


def _pooled(
    scope: Scope | None, filters: Filters, group_by: str | None = None, period: str = "month"
) -> bool:
    """Read the tables that pool every questionnaire's overall rating and reasons?

    Yes for the default questions asked the same way everywhere when they are the
    smallest to read: whole months without a channel, or days by channel or
    locale. A channel over whole months reads the monthly answers (which keep the
    channel), and days without channel or locale the daily answers.
    """
    if scope is not None and scope.questionnaires is not None:
        return False
    if monthly_tables_suffice(filters, group_by, period):
        return True
    return not answer_months_suffice(filters, period) and _by_channel_or_locale(filters, group_by)


async def rating_counts(
    filters: Filters, group_by: str, scope: Scope | None = None
) -> pd.DataFrame:
    """``group, rating, count``: responses per group and rating of the scope's question
    (the overall rating by default)."""
    name = _group_name(group_by)
    if _pooled(scope, filters, group_by):
        table = MonthlyRating if monthly_tables_suffice(filters, group_by) else ResponseCell
        frame = await _sum(table, filters, name, "rating")
    else:
        table = answer_table(filters, group_by)
        frame = await _sum(table, filters, name, "value", scope=scope, question=OVERALL)
        frame = frame.rename(columns={"value": "rating"})
    frame = frame.rename(columns={name: "group"})
    names = await _names(group_by)
    if names is not None:
        frame["group"] = frame["group"].map(names)
    return frame.astype({"rating": "int64", "count": "int64"})


def satisfaction_table(ratings: pd.DataFrame, key: str = "group") -> pd.DataFrame:
    """``key, satisfied, total, rating_sum`` from per-rating counts."""
    return _roll_up(ratings, [key])


def _roll_up(ratings: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sum per-rating counts over ``keys`` into satisfied, total and the sum of ratings."""
    if ratings.empty:
        return pd.DataFrame(columns=[*keys, "satisfied", "total", "rating_sum"])
    frame = ratings.assign(
        satisfied=(ratings["rating"] >= SATISFIED_FROM) * ratings["count"],
        rating_sum=ratings["rating"] * ratings["count"],
    )
    table = frame.groupby(keys, sort=True)[["satisfied", "count", "rating_sum"]].sum()
    return (
        table.rename(columns={"count": "total"})
        .reset_index()
        .astype({"satisfied": "int64", "total": "int64", "rating_sum": "int64"})
    )


async def reason_counts(
    filters: Filters, group_by: str, scope: Scope | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """``group, reason, count`` and, per group, how many responses gave any reason (or,
    for another choice question, each answer and how many answered it)."""
    name = _group_name(group_by)
    names = await _names(group_by)
    people: Counter[str] = Counter()
    counted: Counter[tuple[str, str]] = Counter()

    def label(value: Any) -> str:
        return str(names[value] if names is not None else value)

    if not _pooled(scope, filters, group_by):
        single = scope is not None and scope.kind == "choice"
        table = answer_table(filters, group_by)
        sums = await _sum(table, filters, name, "value", scope=scope, question=REASONS)
        for value, code, n in zip(sums[name], sums["value"], sums["count"], strict=True):
            # A multiple choice counts its respondents apart; a single choice's
            # answers add up to them.
            if code == ANSWERED or single:
                people[label(value)] += int(n)
            if code != ANSWERED:
                counted[label(value), code] += int(n)
    elif monthly_tables_suffice(filters, group_by):
        sums = await _sum(MonthlyReason, filters, name, "reason")
        for value, reason, n in zip(sums[name], sums["reason"], sums["count"], strict=True):
            if reason == ANY_REASON:
                people[label(value)] += int(n)
            else:
                counted[label(value), reason] += int(n)
    else:
        sums = await _sum(ResponseCell, filters, name, "reasons")
        for value, reasons, n in zip(sums[name], sums["reasons"], sums["count"], strict=True):
            if not reasons:
                continue
            people[label(value)] += int(n)
            for reason in reasons.split(REASON_SEPARATOR):
                counted[label(value), reason] += int(n)
    table = pd.DataFrame(
        [(group, reason, n) for (group, reason), n in counted.items()],
        columns=["group", "reason", "count"],
    )
    return table, dict(people)


async def daily_rating_counts(
    filters: Filters, period: str = "day", scope: Scope | None = None, by_agency: bool = True
) -> pd.DataFrame:
    """``agency, day, rating, count``, by local day, or by month (its first day) when
    ``period`` and the filters allow; without ``agency`` unless ``by_agency`` (a
    national series reads far fewer rows: a day has every agency's)."""
    agency = ["agency"] if by_agency else []
    if not _pooled(scope, filters, period=period):
        if answer_months_suffice(filters, period):
            frame = (
                await _sum(
                    MonthlyAnswer,
                    filters,
                    *agency,
                    "month",
                    "value",
                    scope=scope,
                    question=OVERALL,
                )
            ).rename(columns={"month": "day"})
        else:
            frame = await _sum(
                answer_table(filters, period=period, national=not by_agency),
                filters,
                *agency,
                "day",
                "value",
                scope=scope,
                question=OVERALL,
            )
        frame = frame.rename(columns={"value": "rating"})
    elif monthly_tables_suffice(filters, period=period):
        frame = (await _sum(MonthlyRating, filters, *agency, "month", "rating")).rename(
            columns={"month": "day"}
        )
    else:
        frame = await _sum(ResponseCell, filters, *agency, "day", "rating")
    if by_agency:
        frame["agency"] = frame["agency"].map(await codes_of(Agency))
    frame["day"] = [dt.date.fromisoformat(d) if isinstance(d, str) else d for d in frame["day"]]
    return frame.astype({"rating": "int64", "count": "int64"})


def period_table(daily: pd.DataFrame, period: str, by_agency: bool = False) -> pd.DataFrame:
    """Roll daily counts up to ``period`` (day, week, month, quarter)."""
    labels = {day: period_label(day, period) for day in set(daily["day"])}
    frame = daily.assign(period=daily["day"].map(labels))
    return _roll_up(frame, ["agency", "period"] if by_agency else ["period"])


def _drivers_filters(filters: Filters) -> None:
    if filters.locale:
        raise FilterError("key drivers are not counted by language: leave out locale")
    if not _whole_months(filters):
        raise FilterError(
            "key drivers are counted by whole months: give 'from' as a month's first day "
            "and 'to' as a month's last day"
        )


async def driver_moments(filters: Filters, scope: Scope, criteria: list[str]) -> pd.DataFrame:
    """One row per cell (month, agency, service, channel) of the scope's questionnaire,
    a column per cross-product term of the outcome and ``criteria``, summed over the
    responses that rated them all (``analysis.key_drivers``' moments). Whole months only.
    """
    _drivers_filters(filters)
    variables = [CONSTANT, scope.question, *criteria]
    terms = sorted({term(a, b) for i, a in enumerate(variables) for b in variables[i:]})
    cell = ["month", "agency", "service", "channel"]
    rows = await DriverMoment.select(
        *(getattr(DriverMoment, name) for name in (*cell, "variables", *MOMENT_COLUMNS))
    ).where(await cell_filters(filters, DriverMoment, scope))
    wanted = set(variables[1:])
    parts = []
    for key, group in itertools.groupby(
        sorted(rows, key=operator.itemgetter("variables")), key=operator.itemgetter("variables")
    ):
        # A questionnaire version that does not ask every criterion has other complete
        # cases: its cells are left out, those of versions that ask more are kept.
        if not wanted <= set(key.split(VARIABLE_SEPARATOR)):
            continue
        column = dict(zip(moment_names(key), MOMENT_COLUMNS, strict=False))
        group = list(group)
        parts.append(
            pd.DataFrame(
                {
                    **{name: [row[name] for row in group] for name in cell},
                    **{t: [row[column[t]] for row in group] for t in terms},
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=terms, dtype="int64")
    return pd.concat(parts).groupby(cell, sort=False)[terms].sum().reset_index(drop=True)


async def rating_shares(filters: Filters, scope: Scope, questions: list[str]) -> pd.DataFrame:
    """``question, n, satisfied``: of every response to the scope's questionnaire, those
    that rated each of ``questions`` and those that rated it 4 or 5. Whole months only."""
    _drivers_filters(filters)
    table = MonthlyAnswer
    rows = (
        await table.select(table.question, table.value, Sum(table.responses, alias="count"))
        .where(await cell_filters(filters, table, scope, questions=questions))
        .group_by(table.question, table.value)
    )
    n: Counter[str] = Counter()
    satisfied: Counter[str] = Counter()
    for row in rows:
        if not row["value"].isdigit():
            continue
        n[row["question"]] += row["count"]
        if int(row["value"]) >= SATISFIED_FROM:
            satisfied[row["question"]] += row["count"]
    return pd.DataFrame(
        {
            "question": questions,
            "n": [n[q] for q in questions],
            "satisfied": [satisfied[q] for q in questions],
        }
    )
