"""The sampling frame behind each group: invitations and responses by service × channel.

Invitations are the frame (every one carries agency, service, channel and the time
it was issued), counted in the invitation cells; responses are read from the day
cells. Together they give the response rate of every cell and the table
``analysis.poststrat`` weights on.
Invitations are counted by the day they were issued and responses by the day
they were submitted, so at the edges of a date range a few answers fall in the
range after the invitation that prompted them: the usual approximation.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from piccolo.query.functions.aggregate import Sum

import analysis
from analysis import MIN_PUBLISHED
from analysis.indicator import DISSATISFIED_MAX, official_rates
from analysis.indicator import method as official_method
from survey_app.db.cells import OVERALL
from survey_app.db.tables import (
    Agency,
    AnswerCell,
    InvitationCell,
    MonthlyAnswer,
    MonthlyInvitation,
    Service,
)
from survey_app.statistics.counts import (
    SATISFIED_FROM,
    answer_months_suffice,
    cell_filters,
    codes_of,
)
from survey_app.statistics.filters import Filters
from survey_app.statistics.questions import Scope

KEYS = ("agency", "service", "channel")


async def frame_table(
    filters: Filters,
    group_by: str,
    dissatisfied_max: int = DISSATISFIED_MAX,
    scope: Scope | None = None,
) -> pd.DataFrame | None:
    """``group, service, channel, invitations, satisfied, total, dissatisfied`` for the
    filters (dissatisfied: ratings at or below ``dissatisfied_max``), or None when the
    frame cannot answer (a language filter: invitations may not know theirs).

    ``scope`` names the rating question (the overall one by default) and, unless
    every questionnaire is pooled, the questionnaires whose invitations count."""
    if filters.locale:
        return None
    issued: Any = MonthlyInvitation if answer_months_suffice(filters) else InvitationCell
    invited = await (
        issued.select(
            issued.agency,
            issued.service,
            issued.channel,
            Sum(issued.invitations, alias="invitations"),
        )
        .where(await cell_filters(filters, issued, scope))
        .group_by(issued.agency, issued.service, issued.channel)
    )
    # The answer cells keep the channel by month too: whole months read a table whose
    # size does not grow with the responses.
    table: Any = MonthlyAnswer if answer_months_suffice(filters) else AnswerCell
    answered = await (
        table.select(
            table.agency,
            table.service,
            table.channel,
            table.value.as_alias("rating"),
            Sum(table.responses, alias="count"),
        )
        .where(await cell_filters(filters, table, scope, OVERALL))
        .group_by(table.agency, table.service, table.channel, table.value)
    )
    invitations = pd.DataFrame(invited, columns=[*KEYS, "invitations"])
    responses = pd.DataFrame(answered, columns=[*KEYS, "rating", "count"]).astype({"rating": int})
    responses["satisfied"] = (responses["rating"] >= SATISFIED_FROM) * responses["count"]
    responses["dissatisfied"] = (responses["rating"] <= dissatisfied_max) * responses["count"]
    responses = responses.groupby(list(KEYS), as_index=False)[
        ["satisfied", "dissatisfied", "count"]
    ].sum()
    table = invitations.merge(responses, on=list(KEYS), how="outer").fillna(0)
    if table.empty:
        return None
    # Answers to invitations issued before the range: the cell's rate is capped at 1.
    table["invitations"] = table[["invitations", "count"]].max(axis=1)
    table["group"] = table[group_by]
    names = {"agency": await codes_of(Agency), "service": await codes_of(Service)}
    for key, codes in names.items():
        table[key] = table[key].map(codes)
    if group_by in names:
        table["group"] = table[group_by]
    frame = table.groupby(["group", "service", "channel"], as_index=False)[
        ["invitations", "satisfied", "count", "dissatisfied"]
    ].sum()
    return frame.rename(columns={"count": "total"}).astype(
        {"invitations": "int64", "satisfied": "int64", "total": "int64", "dissatisfied": "int64"}
    )


# poststratify's columns, as the satisfaction result names them (its own interval
# columns would clash with the unweighted ones).
WEIGHTED = {
    "invitations": "invitations",
    "response_rate": "response_rate",
    "low_response": "low_response",
    "csat_weighted": "csat_weighted",
    "ci_low": "ci_low_weighted",
    "ci_high": "ci_high_weighted",
    "deff": "deff",
    "n_effective": "n_effective",
}
CELL_COLUMNS = ["group", "service", "channel", "invitations", "responses", "response_rate"]


def with_nonresponse(
    groups: pd.DataFrame,
    frame: pd.DataFrame | None,
    min_response_rate: float,
    dissatisfied_max: int = DISSATISFIED_MAX,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], dict[str, Any] | None]:
    """``groups`` (a published satisfaction frame) with response rates, the
    post-stratified CSAT and the official rate of each published group; the response
    rate of every cell of those groups; the method lines; and the official rate over
    the published groups together.

    Strata are pooled until each has ``MIN_PUBLISHED`` responses, so the weighted CSAT
    shown beside the plain one cannot be solved for a small cell; a cell's response
    rate rests on its invitations and is withheld under ``MIN_PUBLISHED`` of them.
    """
    if frame is None or frame["total"].sum() == 0:
        why = "no nonresponse adjustment: invitations do not record the citizen's language"
        return groups, pd.DataFrame(columns=[*CELL_COLUMNS, "low_response"]), [why], None
    adjusted = analysis.poststratify(
        frame, min_response_rate=min_response_rate, min_stratum=MIN_PUBLISHED
    )
    shown = groups["group"][~groups["suppressed"].eq(True)].astype(str)
    extra = adjusted.groups[list(WEIGHTED)].assign(group=adjusted.groups["group"])
    extra = extra.rename(columns=WEIGHTED)
    published_frame = frame[frame["group"].isin(shown)]
    per_group = published_frame.groupby("group", as_index=False)[
        ["invitations", "dissatisfied"]
    ].sum()
    official = official_rates(per_group, dissatisfied_max)
    extra = extra.merge(official, on="group", how="left")
    merged = groups.merge(extra[extra["group"].isin(shown)], on="group", how="left")
    merged = merged[[c for c in merged.columns if c != "suppressed"] + ["suppressed"]]
    cells = adjusted.cells[adjusted.cells["group"].isin(shown)][CELL_COLUMNS]
    cells = cells.assign(low_response=adjusted.cells["low_response"])
    published = analysis.suppress(
        cells.reset_index(drop=True),
        count_column="invitations",
        keep=("group", "service", "channel"),
        within=("group",),
    )
    transactions = int(per_group["invitations"].sum())
    dissatisfied = int(per_group["dissatisfied"].sum())
    overall = {
        "rate": (transactions - dissatisfied) / transactions if transactions else None,
        "transactions": transactions,
        "dissatisfied": dissatisfied,
        "threshold": dissatisfied_max,
    }
    return merged, published, [*adjusted.method, official_method(dissatisfied_max)], overall
