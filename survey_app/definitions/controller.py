"""``GET /api/v1/questionnaires/{id}``: the definition, localized, for native forms."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery

from survey_app.auth.guards import portal_key
from survey_app.lib.context import Ctx
from survey_app.lib.i18n import negotiate, supported
from survey_app.lib.openapi import API_ERRORS
from survey_app.lib.settings import SUPPORTED_LOCALES


@get(
    "/api/v1/questionnaires/{questionnaire_id:str}",
    guards=[portal_key],
    tags=["portal"],
    summary="A questionnaire with its texts in one language",
    raises=[*API_ERRORS, NotFoundException],
)
async def get_questionnaire(
    request: Request,
    questionnaire_id: FromPath[str],
    ctx: Ctx,
    lang: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """Texts in ``lang`` (vi, en, id), else by ``Accept-Language``, else Vietnamese."""
    if lang is not None and supported(lang) is None:
        raise ValidationException(
            detail=f"Unsupported lang {lang!r}: use one of {', '.join(SUPPORTED_LOCALES)}"
        )
    questionnaire = ctx.questionnaire(questionnaire_id)
    if questionnaire is None:
        raise NotFoundException(detail=f"No questionnaire {questionnaire_id!r}")
    locale = negotiate(lang, None, request.headers.get("accept-language"))
    translations = ctx.catalogs.get(locale)
    return {"locale": locale, **questionnaire.localized(translations.gettext)}
