"""``/public``: the published figures for everyone, without a login or a cookie.

The page and its downloads show only ``publication.aggregates``: the same
figures as the open-data package, through the same disclosure control. They
are the same for every visitor in a language, so shared caches may keep them
for a few minutes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from analysis import MIN_PUBLISHED
from survey_app.auth.guards import PUBLIC
from survey_app.db.replica import reads_from_replica
from survey_app.lib.context import AppContext, Ctx
from survey_app.lib.i18n import language_links, request_locale
from survey_app.lib.media import CSV
from survey_app.lib.settings import local_zone
from survey_app.publication import package
from survey_app.publication.aggregates import (
    Published,
    Quarter,
    QuarterError,
    agency_directory,
    published,
    recent_quarters,
)

QUARTERS_SHOWN = 4
CACHE = {"Cache-Control": "public, max-age=300", "Vary": "Accept-Language, Cookie"}
ZIP = "application/zip"


def _today() -> dt.date:
    return dt.datetime.now(local_zone()).date()


def _quarter(text: str | None, default: Quarter) -> Quarter:
    if not text:
        return default
    try:
        chosen = Quarter.parse(text)
    except QuarterError as error:
        raise NotFoundException(detail=str(error)) from error
    if chosen > Quarter.of(_today()):
        raise NotFoundException(detail=f"{chosen} has not begun")
    return chosen


async def _published(ctx: AppContext, quarters: list[Quarter]) -> list[Published]:
    directory = await agency_directory()
    return [await published(q, ctx.settings.dissatisfied_max, directory) for q in quarters]


@get("/public", opt=PUBLIC, include_in_schema=False, before_request=reads_from_replica)
async def public_page(
    request: Request, ctx: Ctx, quarter: FromQuery[str | None] = None
) -> Template:
    """National and per-agency satisfaction, official and response rates by quarter."""
    locale = request_locale(request)
    quarters = recent_quarters(_today(), QUARTERS_SHOWN)
    results = await _published(ctx, quarters)
    # The last complete quarter with figures is the one published; the current one
    # is shown so far, when asked for.
    complete = [r.quarter for r in results[:-1] if not r.empty]
    chosen = _quarter(quarter, complete[-1] if complete else quarters[-1])
    if chosen not in quarters:
        results.append((await _published(ctx, [chosen]))[0])
    selected = next(r for r in results if r.quarter == chosen)
    labels = package.reason_labels(ctx)
    return Template(
        template_name="public.html",
        context={
            "locale": locale,
            "languages": language_links(request.url.path),
            "national": [_row(r.national.iloc[0]) | {"quarter": str(r.quarter)} for r in results],
            "current": str(quarters[-1]),
            "selected": selected,
            "chosen": str(chosen),
            "quarters": [str(q) for q in quarters],
            "agencies": [_row(row) for _, row in selected.agencies.iterrows()],
            "reasons": [_row(row) for _, row in selected.reasons.iterrows()],
            "reason_labels": {code: ctx.catalogs.gettext(locale, m) for code, m in labels.items()},
            "min_published": MIN_PUBLISHED,
            "files": [*package.TABLES, "codebook"],
        },
        headers=CACHE,
    )


def _row(row: Any) -> dict[str, Any]:
    """A table row for the template: NaN (withheld, or nothing to show) as None."""
    return {key: (None if value != value else value) for key, value in row.to_dict().items()}


async def _files(ctx: AppContext, text: str) -> tuple[Quarter, dict[str, bytes]]:
    chosen = _quarter(text, Quarter.of(_today()))
    result = (await _published(ctx, [chosen]))[0]
    return chosen, package.package_files(result, ctx.catalogs.gettext, package.reason_labels(ctx))


@get(
    "/public/data/{name:str}",
    opt=PUBLIC,
    include_in_schema=False,
    before_request=reads_from_replica,
)
async def public_download(ctx: Ctx, name: FromPath[str]) -> Response[bytes]:
    """``2026Q3.zip``: the quarter's whole data package; ``2026Q3-agencies.csv`` (or
    national, reasons, codebook): one of its tables."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or suffix not in ("zip", "csv"):
        raise NotFoundException(detail="ask for QUARTER.zip or QUARTER-TABLE.csv")
    quarter_text, _, table = stem.partition("-")
    chosen, files = await _files(ctx, quarter_text)
    if suffix == "zip" and not table:
        folder = f"citizen-satisfaction-{chosen}"
        body, media = package.zipped(files, folder), ZIP
    elif suffix == "csv" and f"{table}.csv" in files:
        body, media = files[f"{table}.csv"], CSV
    else:
        raise NotFoundException(detail=f"no file {name!r} in the data of {chosen}")
    return Response(
        body,
        media_type=media,
        headers={**CACHE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


ROUTES = [public_page, public_download]
