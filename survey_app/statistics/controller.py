"""Statistics API: reasons, satisfaction and trends, as JSON, CSV or XLSX.

Each handler checks its parameters and reads the count tables (``statistics.counts``)
here, on the loop; ``statistics.compute`` turns them into the answer, in a worker process
and from the cache when it can (``statistics.offload``). JSON carries the filters, the
time, the number of responses and the methods, so a researcher can reproduce it. Every
result goes through ``analysis.suppress`` (disclosure control) before it is shown, in
every format: rows resting on too few responses are withheld and every figure is
computed on the published rows.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, QueryParameter

from analysis import DEFAULT_TARGET
from analysis.poststrat import MIN_RESPONSE_RATE
from survey_app.auth.guards import STAFF_ROLES, staff_or_key
from survey_app.db.replica import reads_from_replica
from survey_app.lib.context import Ctx
from survey_app.lib.openapi import API_ERRORS, DownloadOperation
from survey_app.statistics import compute, counts, nonresponse
from survey_app.statistics.filters import (
    GROUP_BY,
    PERIODS,
    FilterError,
    Filters,
    FiltersDep,
    parse_filters,
)
from survey_app.statistics.offload import answer
from survey_app.statistics.questions import (
    CHOICE_KINDS,
    OVERALL,
    RATING_KINDS,
    QuestionError,
    Scope,
    resolve,
)
from survey_app.statistics.render import check_format

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


def _scope(ctx: Any, filters: Filters, question: str | None, kinds: tuple[str, ...]) -> Scope:
    """The question a statistic is about; 400 naming it when it cannot be."""
    try:
        return resolve(
            ctx.questionnaires, ctx.default_questionnaire, filters.questionnaire, question, kinds
        )
    except QuestionError as error:
        raise ValidationException(detail=str(error)) from error


class StatisticsController(Controller):
    """``/api/v1/stats/...``: staff sessions and staff keys, every result in three formats."""

    path = "/api/v1/stats"
    tags = ["statistics"]
    guards = [staff_or_key(*STAFF_ROLES, what="Statistics")]
    # Read a moment behind, from the replica when there is one (``db.replica``).
    before_request = reads_from_replica
    dependencies = {"filters": Provide(parse_filters)}

    @download("/satisfaction", summary="Satisfaction per group against the rest")
    async def satisfaction(
        self,
        request: Request,
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
        threshold = ctx.settings.dissatisfied_max

        async def reads() -> tuple[Any, ...]:
            return (
                await counts.rating_counts(filters, group_by, scope),
                await nonresponse.frame_table(filters, group_by, threshold, scope),
            )

        return await answer(
            request,
            ctx.engine,
            compute.satisfaction,
            fmt,
            filters,
            scope,
            group_by,
            target,
            min_response_rate,
            threshold,
            reads=reads,
        )

    @download("/league", summary="A fair league table: shrunken CSAT, rank intervals, funnel")
    async def league(
        self,
        request: Request,
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

        async def reads() -> tuple[Any, ...]:
            return (await counts.rating_counts(filters, group_by, scope),)

        return await answer(
            request, ctx.engine, compute.league, fmt, filters, scope, group_by, reads=reads
        )

    @download("/reasons", summary="Why citizens are dissatisfied, per group")
    async def reasons(
        self,
        request: Request,
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

        async def reads() -> tuple[Any, ...]:
            return await counts.reason_counts(filters, group_by, scope)

        return await answer(
            request, ctx.engine, compute.reasons, fmt, filters, scope, group_by, reads=reads
        )

    @download("/trend", summary="Satisfaction per period, its trend and the last change")
    async def trend(
        self,
        request: Request,
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

        async def reads() -> tuple[Any, ...]:
            by_agency = bool(compared)
            return (await counts.daily_rating_counts(filters, period, scope, by_agency=by_agency),)

        return await answer(
            request, ctx.engine, compute.trend, fmt, filters, scope, period, compared, reads=reads
        )

    @download("/drivers", summary="Key drivers: which criteria go with a satisfied outcome")
    async def drivers(
        self,
        request: Request,
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

        async def reads() -> tuple[Any, ...]:
            try:
                return (
                    await counts.driver_moments(filters, scope, criteria),
                    await counts.rating_shares(filters, scope, [scope.question, *criteria]),
                )
            except FilterError as error:
                raise ValidationException(detail=str(error)) from error

        return await answer(
            request, ctx.engine, compute.drivers, fmt, filters, scope, criteria, reads=reads
        )


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
