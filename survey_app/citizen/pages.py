"""Citizen pages: ``/s/{token}`` questionnaire, submission and thank-you page.

Works with JavaScript off (plain form post, then 303 to the thank-you page)
and inside a portal's iframe, where cookies may be blocked: the token in the
path is the capability, and the language travels in ``?lang=`` and a hidden
field.
"""

from __future__ import annotations

import gzip
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_date
from babel.numbers import format_decimal
from litestar import Request, Response, Router, get, post
from litestar.enums import MediaType
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
from survey_app.auth.guards import PUBLIC
from survey_app.citizen.embed import embed_js
from survey_app.invitations import service as invitations
from survey_app.invitations.service import InvitationView, TokenState
from survey_app.lib.clock import local_day
from survey_app.lib.context import AppContext, Ctx
from survey_app.lib.frames import embedding_policy
from survey_app.lib.i18n import N_, lang_cookies, language_links, request_locale, supported
from survey_app.lib.media import accepts_gzip
from survey_app.submissions import plan as submissions
from survey_app.submissions.writer import WriterDep

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
STATE_PAGE = {TokenState.answered: "answered", TokenState.expired: "expired"}
CLOSED = {
    submissions.Verdict.answered: "answered",
    submissions.Verdict.expired: "expired",
    submissions.Verdict.not_served: "expired",
}


def frame_headers(invitation: InvitationView | None) -> dict[str, str]:
    """Citizen pages may be framed by the agency's registered portals."""
    if invitation is None:
        return {"Content-Security-Policy": embedding_policy(None)}
    return {
        "Content-Security-Policy": embedding_policy(
            invitation.frame_origins, agency=invitation.agency_code
        )
    }


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
        {"date": format_date(local_day(invitation.expires_at), "long", locale=locale)}
        if invitation
        else {}
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
        template_name=QUESTIONNAIRE_TEMPLATE,
        context=_form_context(locale, invitation, questionnaire)
        | {"values": values or {}, "errors": errors or {}},
        status_code=HTTP_400_BAD_REQUEST if errors else HTTP_200_OK,
        cookies=lang_cookies(request, locale),
        headers=frame_headers(invitation),
    )


QUESTIONNAIRE_TEMPLATE = "questionnaire.html"
BLANK_PAGES_STATE = "blank_questionnaire_pages"
BLANK_PAGES_KEPT = 512


def _form_context(
    locale: str, invitation: InvitationView, questionnaire: Questionnaire
) -> dict[str, Any]:
    # The form and the language links point at the page's own address ("?lang=..."), so
    # the page holds no token: a blank one is the same for every citizen of one service.
    return {
        "locale": locale,
        "q": questionnaire,
        "agency": invitation.agency_label(locale),
        "service": invitation.service_label(locale),
        "action": f"?lang={locale}",
        "condition_css": f"/q/{questionnaire.id}/{questionnaire.version}/conditions.css",
        "languages": language_links(""),
    }


@dataclass(frozen=True)
class BlankPage:
    html: bytes
    gzipped: bytes


def blank_form_page(
    request: Request, locale: str, invitation: InvitationView, questionnaire: Questionnaire
) -> Response:
    """The questionnaire as first shown, rendered and compressed once per questionnaire
    version, language and agency and service names (the app keeps the most recently used).

    Everything the page shows is in the key, so a renamed agency or a new questionnaire
    version is a new entry, and nothing served can be stale.
    """
    pages: OrderedDict[tuple[Any, ...], BlankPage] = request.app.state.setdefault(
        BLANK_PAGES_STATE, OrderedDict()
    )
    context = _form_context(locale, invitation, questionnaire)
    key = (questionnaire.id, questionnaire.version, locale, context["agency"], context["service"])
    page = pages.get(key)
    if page is None:
        template = request.app.template_engine.get_template(QUESTIONNAIRE_TEMPLATE)
        html = template.render(**context, values={}, errors={}).encode()
        page = pages[key] = BlankPage(html, gzip.compress(html, mtime=0))
        if len(pages) > BLANK_PAGES_KEPT:
            pages.popitem(last=False)
    else:
        pages.move_to_end(key)
    headers = frame_headers(invitation) | {"Vary": "Accept-Encoding"}
    if accepts_gzip(request.scope["headers"]):
        return Response(
            page.gzipped,
            media_type=MediaType.HTML,
            cookies=lang_cookies(request, locale),
            headers=headers | {"Content-Encoding": "gzip"},
        )
    return Response(
        page.html, media_type=MediaType.HTML, cookies=lang_cookies(request, locale), headers=headers
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
async def show_questionnaire(
    request: Request, token: FromPath[str], ctx: Ctx
) -> Template | Response:
    locale = request_locale(request)
    found = await _open_invitation(ctx, request, token, locale)
    if isinstance(found, Template):
        return found
    invitation, questionnaire = found
    return blank_form_page(request, locale, invitation, questionnaire)


@post("/s/{token:str}", include_in_schema=False, status_code=HTTP_200_OK)
async def submit_questionnaire(
    request: Request, token: FromPath[str], ctx: Ctx, writer: WriterDep
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
    outcome = await writer.submit(
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


# Citizens need no login: the token in the path is the capability.
ROUTER = Router(
    "/",
    route_handlers=[show_questionnaire, submit_questionnaire, thanks, questionnaire_css, embed_js],
    opt=PUBLIC,
)
