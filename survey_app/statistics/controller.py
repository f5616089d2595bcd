"""Statistics API: reasons, satisfaction and trends, as JSON, CSV or XLSX.

Every figure is computed by ``analysis`` on count tables from ``statistics.counts``;
JSON carries the filters, the time, the number of responses and the methods,
so a researcher can reproduce it. Every result goes through ``analysis.suppress``
(disclosure control) before it is shown, in every format: rows resting on too
few responses are withheld and every figure is computed on the published rows.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated, Any

import pandas as pd
from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, QueryParameter

import analysis
from analysis import DEFAULT_TARGET, MIN_PUBLISHED
from analysis.indicator import method as official_method
from analysis.poststrat import MIN_RESPONSE_RATE
from analysis.results import json_safe
from survey_app.auth.guards import STAFF_ROLES, staff_or_key
from survey_app.lib.context import Ctx
from survey_app.lib.openapi import API_ERRORS, DownloadOperation
from survey_app.statistics import counts, nonresponse
from survey_app.statistics.filters import (
    GROUP_BY,
    PERIODS,
    FilterError,
    Filters,
    FiltersDep,
    parse_filters,
)
from survey_app.statistics.league import standings
from survey_app.statistics.questions import (
    CHOICE_KINDS,
    OVERALL,
    RATING_KINDS,
    QuestionError,
    Scope,
    resolve,
)
from survey_app.statistics.render import check_format, render

MAX_COMPARED = 20
# A statistics operation: JSON, or a CSV/XLSX download with ``format=``.
download = partial(get, raises=API_ERRORS, operation_class=DownloadOperation)


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise ValidationException(
            detail=f"{name} must be one of {', '.join(allowed)}, not {value!r}"
        )
    return value


QUESTION = "Question id of the questionnaire (default: overall for ratings, reasons for choices)"
OFFICIAL_COLUMNS = ("transactions", "dissatisfied", "official_rate")


def _scope(ctx: Any, filters: Filters, question: str | None, kinds: tuple[str, ...]) -> Scope:
    """The question a statistic is about; 400 naming it when it cannot be."""
    try:
        return resolve(
            ctx.questionnaires, ctx.default_questionnaire, filters.questionnaire, question, kinds
        )
    except QuestionError as error:
        raise ValidationException(detail=str(error)) from error


def _envelope(
    filters: Filters,
    n: int,
    method: list[str],
    shown: pd.DataFrame | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What every statistics answer starts with; ``n`` counts the responses behind the
    published figures only, and ``disclosure`` says how many rows were withheld."""
    withheld = int(shown["suppressed"].eq(True).sum()) if shown is not None else 0
    return {
        "filters": {**filters.to_dict(), **extra},
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "n_responses": n,
        "disclosure": {"min_count": MIN_PUBLISHED, "withheld_rows": withheld},
        "method": method,
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


class StatisticsController(Controller):
    """``/api/v1/stats/...``: staff sessions and staff keys, every result in three formats."""

    path = "/api/v1/stats"
    tags = ["statistics"]
    guards = [staff_or_key(*STAFF_ROLES, what="Statistics")]
    dependencies = {"filters": Provide(parse_filters)}

    @download("/satisfaction", summary="Satisfaction per group against the rest")
    async def satisfaction(
        self,
        ctx: Ctx,
        filters: FiltersDep,
        group_by: FromQuery[str] = "agency",
        format: FromQuery[str] = "json",
        target: FromQuery[float] = DEFAULT_TARGET,
        min_response_rate: FromQuery[float] = MIN_RESPONSE_RATE,
        question: Annotated[str | None, QueryParameter(description=QUESTION)] = None,
    ) -> Response[Any]:
        """CSAT (ratings 4-5) of a rating question per group, against the rest, with the
        response rate, the nonresponse-weighted CSAT and, for the overall question, the
        government's official rate over all transactions."""
        fmt = check_format(format)
        _choice(group_by, GROUP_BY, "group_by")
        if not 0 < target < 1:
            raise ValidationException(detail="target must be between 0 and 1")
        if not 0 <= min_response_rate < 1:
            raise ValidationException(detail="min_response_rate must be between 0 and 1")
        scope = _scope(ctx, filters, question, RATING_KINDS)
        about = {"group_by": group_by, "question": scope.to_dict()}
        table = counts.satisfaction_table(await counts.rating_counts(filters, group_by, scope))
        if table.empty or table["total"].sum() == 0:
            return render(
                fmt,
                "satisfaction",
                _envelope(filters, 0, [scope.method], **about) | {"groups": []},
                table,
            )
        result = analysis.suppress(analysis.compare_satisfaction(table, target=target))
        threshold = ctx.settings.dissatisfied_max
        groups, cells, weighting, official = nonresponse.with_nonresponse(
            result.groups,
            await nonresponse.frame_table(filters, group_by, threshold, scope),
            min_response_rate,
            threshold,
        )
        if scope.question != OVERALL:
            groups = groups.drop(columns=[c for c in OFFICIAL_COLUMNS if c in groups])
            official = None
            weighting = [line for line in weighting if line != official_method(threshold)]
            weighting.append("The official rate is defined on the overall question only.")
        body = _envelope(
            filters,
            result.overall.total or 0,
            [scope.method, *result.method, *weighting],
            groups,
            target=target,
            **about,
        ) | {
            "overall": {**json_safe(result.overall), "official_rate": official},
            "test": result.test,
            "groups": _records(groups),
            "response_cells": _records(cells),
        }
        return render(fmt, "satisfaction", body, groups)

    @download("/league", summary="A fair league table: shrunken CSAT, rank intervals, funnel")
    async def league(
        self,
        ctx: Ctx,
        filters: FiltersDep,
        group_by: FromQuery[str] = "agency",
        format: FromQuery[str] = "json",
        question: Annotated[str | None, QueryParameter(description=QUESTION)] = None,
    ) -> Response[Any]:
        """Groups ranked by their empirical-Bayes (shrunken) CSAT, which pulls small groups
        toward the national rate, with the interval of ranks each could hold and its place
        on a funnel plot around the national rate."""
        fmt = check_format(format)
        _choice(group_by, GROUP_BY, "group_by")
        scope = _scope(ctx, filters, question, RATING_KINDS)
        table = counts.satisfaction_table(await counts.rating_counts(filters, group_by, scope))
        published = ~analysis.withheld(table["total"]) & (table["total"] > 0)
        if published.sum() < 2:
            method = [analysis.rule(), "a league table needs at least two published groups"]
            shown = _envelope(filters, 0, method, group_by=group_by)
            return render(fmt, "league", shown | {"groups": []}, table.iloc[0:0])
        league = standings(table)
        body = _envelope(
            filters,
            int(league.table["total"].sum()),
            [scope.method, *league.method],
            league.groups,
            group_by=group_by,
            question=scope.to_dict(),
        ) | {
            "groups": _records(league.groups),
            "prior": league.prior,
            "funnel": league.funnel,
        }
        return render(fmt, "league", body, league.groups)

    @download("/reasons", summary="Why citizens are dissatisfied, per group")
    async def reasons(
        self,
        ctx: Ctx,
        filters: FiltersDep,
        group_by: FromQuery[str] = "agency",
        format: FromQuery[str] = "json",
        question: Annotated[str | None, QueryParameter(description=QUESTION)] = None,
    ) -> Response[Any]:
        """The answers to a choice or multiple-choice question per group (by default the
        reasons for dissatisfaction), each as a share of those who answered it."""
        fmt = check_format(format)
        _choice(group_by, GROUP_BY, "group_by")
        scope = _scope(ctx, filters, question, CHOICE_KINDS)
        about = {"group_by": group_by, "question": scope.to_dict()}
        table, people = await counts.reason_counts(filters, group_by, scope)
        if table.empty:
            envelope = _envelope(filters, 0, [scope.method], **about)
            return render(fmt, "reasons", envelope | {"cells": []}, table)
        result = analysis.suppress(analysis.reason_breakdown(table, respondents=people))
        cells = result.cells
        shown = sum((result.respondents or {}).values())
        body = _envelope(filters, shown, [scope.method, *result.method], cells, **about) | {
            "overall": _records(result.overall),
            "cells": _records(cells),
            "reason_tests": _records(result.reason_tests)
            if result.reason_tests is not None
            else [],
        }
        return render(fmt, "reasons", body, cells)

    @download("/trend", summary="Satisfaction per period, its trend and the last change")
    async def trend(
        self,
        ctx: Ctx,
        filters: FiltersDep,
        period: FromQuery[str] = "month",
        compare: FromQuery[str | None] = None,
        format: FromQuery[str] = "json",
        question: Annotated[str | None, QueryParameter(description=QUESTION)] = None,
    ) -> Response[Any]:
        """CSAT of a rating question per local day, ISO week, month or quarter, its trend
        and whether the last change is real."""
        fmt = check_format(format)
        _choice(period, PERIODS, "period")
        compared = [c for c in (compare or "").split(",") if c]
        if len(compared) > MAX_COMPARED:
            raise ValidationException(detail=f"compare at most {MAX_COMPARED} agencies")
        scope = _scope(ctx, filters, question, RATING_KINDS)
        about = {"period": period, "question": scope.to_dict()}
        daily = await counts.daily_rating_counts(filters, period, scope, by_agency=bool(compared))
        if compared:
            daily = daily[daily["agency"].isin(compared)]
            return _compared(fmt, filters, period, compared, daily, scope)
        table = counts.period_table(daily, period)
        if table.empty:
            envelope = _envelope(filters, 0, [scope.method], **about)
            return render(fmt, "trend", envelope | {"periods": []}, table)
        result = analysis.suppress(analysis.trend(table))
        periods = result.periods
        body = _envelope(
            filters,
            int(result.table["total"].sum()),
            [scope.method, *result.method],
            periods,
            **about,
        ) | {
            "periods": _records(periods),
            "trend_test": result.trend_test,
            "last_change": result.last_change,
        }
        return render(fmt, "trend", body, periods)

    @download("/drivers", summary="Key drivers: which criteria go with a satisfied outcome")
    async def drivers(
        self,
        ctx: Ctx,
        filters: FiltersDep,
        outcome: Annotated[
            str | None, QueryParameter(description="The outcome rating question (overall)")
        ] = None,
        format: FromQuery[str] = "json",
    ) -> Response[Any]:
        """For each other rating question of a questionnaire (its criteria), how much
        the chance of a satisfied overall rating rises per point of that criterion, the
        others held equal (a linear probability model on all of them, exact from the
        cells), with its 95% cluster-robust interval, and the criterion's own share
        satisfied; ranked so the criterion to fix first comes first."""
        fmt = check_format(format)
        if filters.questionnaire is None:
            raise ValidationException(
                detail="key drivers are computed within one questionnaire: give questionnaire=ID"
            )
        scope = _scope(ctx, filters, outcome, RATING_KINDS)
        if scope.question != OVERALL:
            raise ValidationException(
                detail=f"key drivers take the overall question as the outcome, not "
                f"{scope.question!r}: leave out outcome or give outcome=overall"
            )
        criteria = _criteria(ctx, filters.questionnaire, scope.question)
        about = {"outcome": scope.question, "question": scope.to_dict()}
        try:
            moments = await counts.driver_moments(filters, scope, criteria)
            shares = await counts.rating_shares(filters, scope, [scope.question, *criteria])
        except FilterError as error:
            raise ValidationException(detail=str(error)) from error
        result = analysis.suppress(analysis.key_drivers(moments, scope.question, criteria, shares))
        ranked = result.criteria.sort_values("rank", kind="stable", na_position="last")
        published = {k: v for k, v in result.to_dict().items() if k not in ("criteria", "method")}
        body = (
            _envelope(
                filters,
                result.n_complete,
                [scope.method, *result.method],
                ranked if "suppressed" in ranked else None,
                **about,
            )
            | published
            | {"criteria": _records(ranked)}
        )
        return render(fmt, "drivers", body, ranked)


def _criteria(ctx: Any, questionnaire: str, outcome: str) -> list[str]:
    """The rating questions of ``questionnaire`` other than ``outcome``; 400 if none."""
    asked = ctx.questionnaire(questionnaire)
    criteria = [q.id for q in asked.questions if q.kind == "rating" and q.id != outcome]
    if not criteria:
        raise ValidationException(
            detail=f"questionnaire {questionnaire!r} has no rating question besides "
            f"{outcome!r}: key-driver analysis needs criteria to relate to it"
        )
    return criteria


def _compared(
    fmt: str, filters: Filters, period: str, agencies: list[str], daily: pd.DataFrame, scope: Scope
) -> Response[Any]:
    table = counts.period_table(daily, period, by_agency=True).rename(columns={"agency": "group"})
    about = {"period": period, "compare": agencies, "question": scope.to_dict()}
    if table.empty:
        envelope = _envelope(filters, 0, [scope.method], **about)
        return render(fmt, "trend", envelope | {"series": {}}, table)
    comparison = analysis.suppress(analysis.compare_trends(table))
    series, frames = {}, []
    for agency in agencies:
        own = table[table["group"] == agency].drop(columns=["group"])
        if own.empty or own["total"].sum() == 0:
            continue
        result = analysis.suppress(analysis.trend(own))
        periods = result.periods
        series[agency] = {
            "periods": _records(periods),
            "trend_test": result.trend_test,
            "last_change": result.last_change,
        }
        frames.append(periods.assign(agency=agency))
    frame = pd.concat(frames) if frames else table.iloc[0:0]
    shown = int(comparison.table["total"].sum()) if len(comparison.table) else 0
    envelope = _envelope(filters, shown, [], frame, **about)
    body = envelope | {
        "method": [scope.method, *comparison.method],
        "series": series,
        "comparison": {
            "statistic": comparison.statistic,
            "df": comparison.df,
            "p_value": comparison.p_value,
            "slopes": _records(comparison.slopes),
        },
    }
    return render(fmt, "trend", body, frame)
