"""Citizen pages: ``/s/{token}`` questionnaire, submission and thank-you page.

Works with JavaScript off (plain form post, then 303 to the thank-you page)
and inside a portal's iframe, where cookies may be blocked: the token in the
path is the capability, and the language travels in ``?lang=`` and a hidden
field.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_date
from babel.numbers import format_decimal
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_410_GONE,
)

from questionnaires import Questionnaire, answers_from_form, validate_answers
from survey_app import invitations, submissions
from survey_app.context import AppContext, Ctx
from survey_app.i18n import LANGUAGE_NAMES, N_, negotiate, supported
from survey_app.invitations import InvitationView, TokenState
from survey_app.security import embedding_policy
from survey_app.settings import SUPPORTED_LOCALES

LANG_COOKIE = "lang"
LANG_COOKIE_AGE = 365 * 24 * 3600

# Message pages: (heading msgid, text msgid, status).
MESSAGES: dict[str, tuple[str, str, int]] = {
    "unknown": (
        N_("Survey not found"),
        N_("This survey link is not valid. Please check that you opened the whole link."),
        HTTP_404_NOT_FOUND,
    ),
    "expired": (
        N_("This survey has closed"),
        N_("The time to answer this survey ended on %(date)s. Thank you all the same."),
        HTTP_410_GONE,
    ),
    "answered": (
        N_("Already answered"),
        N_("This survey has already been answered. Each link can be used only once. Thank you!"),
        HTTP_409_CONFLICT,
    ),
    "thanks": (
        N_("Thank you!"),
        N_("Your answer has been recorded. It helps make public services better."),
        HTTP_200_OK,
    ),
    "forbidden": (
        N_("Request refused"),
        N_("This form can only be sent from the survey page itself."),
        HTTP_403_FORBIDDEN,
    ),
}
# Generic error pages by status: (heading msgid, text msgid).
ERROR_PAGES: dict[int, tuple[str, str]] = {
    400: (
        N_("Request not understood"),
        N_("The page received something it could not read. Please try again."),
    ),
    403: MESSAGES["forbidden"][:2],
    404: (N_("Page not found"), N_("There is no page at this address.")),
    413: (
        N_("Too much text"),
        N_("What you sent is too long. Please shorten it and try again."),
    ),
    429: (N_("Too many requests"), N_("Please wait a moment, then try again.")),
    503: (
        N_("Temporarily unavailable"),
        N_("We cannot save or show the survey right now. Please try again in a few minutes."),
    ),
}
SERVER_ERROR = (
    N_("Something went wrong"),
    N_("We could not show this page. Please try again in a few minutes."),
)
STATE_PAGE = {TokenState.answered: "answered", TokenState.expired: "expired"}
CLOSED = {
    submissions.Verdict.answered: "answered",
    submissions.Verdict.expired: "expired",
    submissions.Verdict.not_served: "expired",
}


def request_locale(request: Request, explicit: str | None = None) -> str:
    return negotiate(
        explicit or request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def language_links(path: str) -> list[tuple[str, str, str]]:
    return [(code, LANGUAGE_NAMES[code], f"{path}?lang={code}") for code in SUPPORTED_LOCALES]


def lang_cookies(request: Request, locale: str) -> list[Cookie]:
    """Remember an explicit choice; harmless where third-party cookies are blocked."""
    if supported(request.query_params.get("lang")) and request.cookies.get(LANG_COOKIE) != locale:
        return [Cookie(key=LANG_COOKIE, value=locale, max_age=LANG_COOKIE_AGE, samesite="lax")]
    return []


def frame_headers(invitation: InvitationView | None) -> dict[str, str]:
    """Citizen pages may be framed by the agency's registered portals."""
    origins = invitation.frame_origins if invitation else None
    return {"Content-Security-Policy": embedding_policy(origins)}


def message_page(
    ctx: AppContext,
    request: Request,
    locale: str,
    kind: str,
    invitation: InvitationView | None = None,
) -> Template:
    heading, text, status = MESSAGES[kind]
    gettext = ctx.catalogs.get(locale).gettext
    params = (
        {"date": format_date(invitation.expires_at, "long", locale=locale)} if invitation else {}
    )
    return Template(
        template_name="message.html",
        context={
            "locale": locale,
            "heading": gettext(heading),
            "text": gettext(text) % params if "%(" in text else gettext(text),
            "agency": invitation.agency_label(locale) if invitation else None,
            "languages": language_links(request.url.path),
        },
        status_code=status,
        cookies=lang_cookies(request, locale),
        headers=frame_headers(invitation),
    )


def error_page(ctx: AppContext, request: Request, status: int) -> Template:
    locale = request_locale(request)
    heading, text = ERROR_PAGES.get(status, SERVER_ERROR)
    gettext = ctx.catalogs.get(locale).gettext
    return Template(
        template_name="message.html",
        context={
            "locale": locale,
            "heading": gettext(heading),
            "text": gettext(text),
            "agency": None,
            "languages": [],
        },
        status_code=status,
    )


def form_page(
    ctx: AppContext,
    request: Request,
    locale: str,
    invitation: InvitationView,
    questionnaire: Questionnaire,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Template:
    return Template(
        template_name="questionnaire.html",
        context={
            "locale": locale,
            "q": questionnaire,
            "agency": invitation.agency_label(locale),
            "service": invitation.service_label(locale),
            "action": f"/s/{invitation.token}?lang={locale}",
            "condition_css": f"/q/{questionnaire.id}/{questionnaire.version}/conditions.css",
            "values": values or {},
            "errors": errors or {},
            "languages": language_links(request.url.path),
        },
        status_code=HTTP_400_BAD_REQUEST if errors else HTTP_200_OK,
        cookies=lang_cookies(request, locale),
        headers=frame_headers(invitation),
    )


async def _open_invitation(
    ctx: AppContext, request: Request, token: str, locale: str
) -> tuple[InvitationView, Questionnaire] | Template:
    invitation = await invitations.find(token)
    if invitation is None:
        return message_page(ctx, request, locale, "unknown")
    state = invitation.state()
    if state in STATE_PAGE:
        return message_page(ctx, request, locale, STATE_PAGE[state], invitation)
    questionnaire = ctx.questionnaire(invitation.questionnaire_id)
    if questionnaire is None:
        return message_page(ctx, request, locale, "expired", invitation)
    return invitation, questionnaire


def same_origin(request: Request) -> bool:
    """A browser's ``Origin`` on our own form post names our host; others are refused."""
    origin = request.headers.get("origin")
    # Absent or "null" (privacy settings, sandboxed frames): the token in the path is
    # the capability, so only a real foreign origin is refused.
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


@get("/s/{token:str}", include_in_schema=False)
async def show_questionnaire(request: Request, token: FromPath[str], ctx: Ctx) -> Template:
    locale = request_locale(request)
    found = await _open_invitation(ctx, request, token, locale)
    if isinstance(found, Template):
        return found
    invitation, questionnaire = found
    return form_page(ctx, request, locale, invitation, questionnaire)


@post("/s/{token:str}", include_in_schema=False, status_code=HTTP_200_OK)
async def submit_questionnaire(
    request: Request, token: FromPath[str], ctx: Ctx
) -> Template | Redirect:
    form = await request.form()
    locale = request_locale(request, supported(form.get("lang")))
    if not same_origin(request):
        return message_page(ctx, request, locale, "forbidden")
    found = await _open_invitation(ctx, request, token, locale)
    if isinstance(found, Template):
        return found
    invitation, questionnaire = found
    raw = answers_from_form(questionnaire, {key: form.getall(key) for key in form})
    clean, problems = validate_answers(questionnaire, raw)
    if problems:
        gettext = ctx.catalogs.get(locale).gettext
        errors: dict[str, str] = {}
        for problem in problems:
            params = {
                key: format_decimal(value, locale=locale) if isinstance(value, int) else value
                for key, value in problem.params.items()
            }
            errors.setdefault(problem.question, gettext(problem.message) % params)
        return form_page(ctx, request, locale, invitation, questionnaire, values=raw, errors=errors)
    outcome = await ctx.writer.submit(
        submissions.Submission(token=token, answers=clean.values, locale=locale)
    )
    if outcome.verdict in CLOSED:
        return message_page(ctx, request, locale, CLOSED[outcome.verdict], invitation)
    if outcome.verdict is not submissions.Verdict.stored:
        # Checked a moment ago; only a change between the check and the write lands here.
        return message_page(ctx, request, locale, "unknown")
    return Redirect(f"/s/{token}/thanks?lang={locale}", status_code=303)


@get("/s/{token:str}/thanks", include_in_schema=False)
async def thanks(request: Request, token: FromPath[str], ctx: Ctx) -> Template | Redirect:
    locale = request_locale(request)
    invitation = await invitations.find(token)
    if invitation is None:
        return message_page(ctx, request, locale, "unknown")
    if invitation.state() is TokenState.answered:
        return message_page(ctx, request, locale, "thanks", invitation)
    return Redirect(f"/s/{token}?lang={locale}", status_code=303)


@get("/q/{questionnaire_id:str}/{version:int}/conditions.css", include_in_schema=False)
async def questionnaire_css(
    questionnaire_id: FromPath[str], version: FromPath[int], ctx: Ctx
) -> Response:
    questionnaire = ctx.questionnaire(questionnaire_id)
    if questionnaire is None or questionnaire.version != version:
        return Response("/* unknown questionnaire */\n", status_code=404, media_type="text/css")
    return Response(
        ctx.condition_css[questionnaire_id],
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400"},
    )
