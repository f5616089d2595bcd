"""Piccolo tables: the statistical record, kept apart from free text.

No column holds a name, ID number, phone or e-mail. A transaction reference
is stored only as ``Invitation.transaction_key``, an HMAC under the server
secret; free text lives in ``Comment`` so it can be purged by age without
touching the statistics.
"""

from __future__ import annotations

from enum import StrEnum

from piccolo.apps.user.tables import BaseUser
from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    OnDelete,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table, create_table_class
from piccolo_api.session_auth.tables import SessionsBase

from survey_app.db.users import StaffUser


class AgencyKind(StrEnum):
    ministry = "ministry"
    branch = "branch"
    locality = "locality"


class Channel(StrEnum):
    web = "web"
    mobile = "mobile"
    counter = "counter"
    sms = "sms"
    email = "email"


class Role(StrEnum):
    admin = "admin"
    analyst = "analyst"
    researcher = "researcher"
    portal = "portal"


class Actor(StrEnum):
    """Who an audit entry names: a staff login or an API key."""

    user = "user"
    key = "key"


class Agency(Table):
    """A ministry, branch or locality that runs a public service portal."""

    code = Varchar(length=32, unique=True, index=True)
    kind = Varchar(length=16, choices=AgencyKind)
    name = Varchar(length=255, help_text="Name in the source language")
    names = JSON(default={}, help_text='Names per locale, e.g. {"en": "...", "id": "..."}')
    created_at = Timestamptz()
    frame_origins = Text(
        default="",
        help_text="Origins allowed to embed the questionnaire, space-separated "
        "(e.g. https://dichvucong.example.gov)",
    )
    questionnaire_id = Varchar(
        length=64,
        null=True,
        default=None,
        help_text="Questionnaire for its services' new invitations (none: the default)",
    )


class Service(Table):
    """A public service; its code is unique across the country."""

    code = Varchar(length=64, unique=True, index=True)
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False)
    name = Varchar(length=255)
    names = JSON(default={})
    essential = Boolean(default=False)
    created_at = Timestamptz()
    questionnaire_id = Varchar(
        length=64,
        null=True,
        default=None,
        help_text="Questionnaire for its new invitations (none: the agency's)",
    )


class ApiKey(Table):
    """A bearer key; only its SHA-256 is stored, the key is shown once."""

    key_hash = Varchar(length=64, unique=True, index=True)
    prefix = Varchar(length=16, help_text="First characters, to recognise a key")
    role = Varchar(length=16, choices=Role)
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=True)
    label = Varchar(length=100, default="")
    created_at = Timestamptz()
    revoked = Boolean(default=False)


class QuestionnaireVersion(Table):
    """Each questionnaire version ever served, so old responses stay interpretable."""

    key = Varchar(length=100, unique=True, help_text="<questionnaire id>@<version>")
    questionnaire_id = Varchar(length=64)
    version = Integer()
    checksum = Varchar(length=64)
    definition = JSON()
    registered_at = Timestamptz()


# An invitation token is this many random bytes in URL-safe base64 (192 bits: unguessable).
TOKEN_BYTES = 24


class Invitation(Table):
    """A single-use, expiring invitation for one completed transaction."""

    token = Varchar(length=64, unique=True, index=True)
    transaction_key = Varchar(length=64, unique=True, help_text="HMAC of agency + reference")
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False)
    service = ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False)
    channel = Varchar(length=16, choices=Channel)
    locale = Varchar(length=8, null=True, default=None)
    questionnaire_id = Varchar(length=64)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    answered_at = Timestamptz(null=True, default=None)


class Response(Table):
    """One submitted questionnaire; ``invitation`` is unique, so one per invitation."""

    invitation = ForeignKey(
        references=Invitation, on_delete=OnDelete.restrict, null=False, unique=True
    )
    questionnaire_id = Varchar(length=64)
    questionnaire_version = Integer()
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False, index=True)
    service = ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False)
    channel = Varchar(length=16, choices=Channel)
    locale = Varchar(length=8)
    submitted_at = Timestamptz(index=True)
    overall = SmallInt(null=True, default=None)
    answers = JSON(default={}, help_text="Structured answers other than free text")


class ResponseReason(Table):
    """One row per reason code ticked in a response (multi-select)."""

    response = ForeignKey(references=Response, on_delete=OnDelete.cascade, null=False, index=True)
    reason = Varchar(length=32)


class Comment(Table):
    """Free text, apart from the statistical record so it can be purged by age."""

    response = ForeignKey(references=Response, on_delete=OnDelete.cascade, null=False, index=True)
    question = Varchar(length=64)
    text = Text()
    created_at = Timestamptz(index=True)


class ResponseCell(Table):
    """How many rated responses fall in one cell of the statistics.

    A cell is (UTC day, agency, service, channel, locale, rating, reason set);
    ``reasons`` is the set of reason codes ticked, sorted and joined by
    commas ('' for none). Every statistic reads these cells instead of the
    responses, so its cost grows with the number of cells. The cell is
    updated in the same transaction that stores the response, so it cannot
    drift; ``survey rollup rebuild`` recomputes all cells from the responses.
    The unique index over the seven dimensions is created by the migration.
    """

    day = Date()
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False)
    service = ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False)
    channel = Varchar(length=16, choices=Channel)
    locale = Varchar(length=8)
    rating = SmallInt()
    reasons = Varchar(length=255, default="")
    responses = Integer(default=0)


class MonthlyRating(Table):
    """Rated responses per (month, agency, service, rating): ``ResponseCell`` summed by month.

    Most statistics (per agency or service, monthly trends) need no more;
    these few thousand rows answer them at any number of responses. Kept in
    the same transaction as the cells; ``month`` is the month's first day.
    """

    month = Date()
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False)
    service = ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False)
    rating = SmallInt()
    responses = Integer(default=0)


class MonthlyReason(Table):
    """Rated responses per (month, agency, service, reason) ticking that reason.

    ``reason`` '' counts the responses that ticked any reason (the
    respondents of the multi-select question).
    """

    month = Date()
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False)
    service = ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False)
    reason = Varchar(length=32, default="")
    responses = Integer(default=0)


class AnswerCell(Table):
    """How many responses gave one answer to one question, per local day and cell.

    A cell is (local day, agency, service, channel, locale, questionnaire,
    question, value). ``value`` is a rating's points ("4"), a choice's code,
    or, for a multiple choice, one code ticked ('' counts the responses that
    answered the question at all). Free text is never counted. Kept in the
    transaction that stores each response, like ``ResponseCell``; the
    statistics of a named questionnaire or question read these.
    """

    day = Date()
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False)
    service = ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False)
    channel = Varchar(length=16, choices=Channel)
    locale = Varchar(length=8)
    questionnaire_id = Varchar(length=64)
    question = Varchar(length=64)
    value = Varchar(length=64, default="")
    responses = Integer(default=0)


class MonthlyAnswer(Table):
    """``AnswerCell`` summed by local month (its first day), without the locale.

    The channel stays, so a channel filter over whole months reads a table
    whose size does not grow with the number of responses.
    """

    month = Date()
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False)
    service = ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False)
    channel = Varchar(length=16, choices=Channel)
    questionnaire_id = Varchar(length=64)
    question = Varchar(length=64)
    value = Varchar(length=64, default="")
    responses = Integer(default=0)


class DailyAnswer(Table):
    """``AnswerCell`` without the channel and the locale: answers per local day, agency,
    service, questionnaire, question and value.

    What a daily trend or a range of days without a channel or language filter reads:
    its size stops growing once every day has every answer.
    """

    day = Date()
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False)
    service = ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False)
    questionnaire_id = Varchar(length=64)
    question = Varchar(length=64)
    value = Varchar(length=64, default="")
    responses = Integer(default=0)


class NationalAnswer(Table):
    """``DailyAnswer`` summed over agencies and services: answers per local day,
    questionnaire, question and value.

    What a national daily series reads: a few rows a day, however many responses,
    agencies and services there are.
    """

    day = Date()
    questionnaire_id = Varchar(length=64)
    question = Varchar(length=64)
    value = Varchar(length=64, default="")
    responses = Integer(default=0)


# The cross-product sums a driver-moment row holds: every pair (squares included) of
# the constant, the overall outcome and up to 10 criteria, (12 * 13) / 2.
MAX_CRITERIA = 10
MOMENT_SUMS = (MAX_CRITERIA + 2) * (MAX_CRITERIA + 3) // 2

DriverMoment = create_table_class(
    "DriverMoment",
    class_members={
        "__doc__": """Cross-product sums per local month, cell and questionnaire version's
        rating questions, for key-driver analysis.

        A response that rated every rating question of its questionnaire version
        (``variables``: their ids, sorted and joined by ',') adds to ``s0``, ``s1``, ...
        the product of each pair of its variables: the constant 1, ``overall`` as 1
        when satisfied else 0, and each criterion's points, in the order of
        ``cells.moment_names`` (``s0`` counts the responses). One row per cell
        whatever the number of responses; the linear probability model with cells
        as clusters is exact from them.
        """,
        "month": Date(),
        "agency": ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False),
        "service": ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False),
        "channel": Varchar(length=16, choices=Channel),
        "questionnaire_id": Varchar(length=64),
        "variables": Varchar(length=1000, default=""),
        **{f"s{i}": BigInt(default=0) for i in range(MOMENT_SUMS)},
    },
)


class InvitationCell(Table):
    """Invitations issued per local day, agency, service, channel and questionnaire.

    The transactions behind the response rate, the weighting to the invitations and
    the official rate. Kept in the transaction that issues each invitation, so those
    statistics read these rows instead of counting the invitations themselves.
    """

    day = Date()
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False)
    service = ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False)
    channel = Varchar(length=16, choices=Channel)
    questionnaire_id = Varchar(length=64)
    invitations = Integer(default=0)


class MonthlyInvitation(Table):
    """``InvitationCell`` summed by local month (its first day)."""

    month = Date()
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=False)
    service = ForeignKey(references=Service, on_delete=OnDelete.restrict, null=False)
    channel = Varchar(length=16, choices=Channel)
    questionnaire_id = Varchar(length=64)
    invitations = Integer(default=0)


class StaffRole(Table):
    """What a staff login may see: admin, analyst (of one agency) or researcher."""

    user = ForeignKey(references=BaseUser, on_delete=OnDelete.cascade, null=False, unique=True)
    role = Varchar(length=16, choices=Role)
    agency = ForeignKey(references=Agency, on_delete=OnDelete.restrict, null=True)


class AuditEntry(Table):
    """One read of citizens' comments or of the microdata: who, when, what, how many rows.

    Append-only: the application inserts entries (``survey_app.audit.log``) and sets
    ``row_count`` of a streamed export once, when its last rows are sent; only
    ``survey purge audit`` deletes, past the retention period. No foreign keys: an entry
    outlives the login, key or agency it names, so it keeps their ids and codes as text.
    Created by a hand-written migration (SQL for each engine, as Piccolo would write it).
    """

    read_at = Timestamptz(index=True, help_text="When the read was answered (UTC)")
    actor = Varchar(length=8, choices=Actor)
    user_id = Integer(null=True, default=None, help_text="Staff login (piccolo_user id)")
    username = Varchar(length=100, null=True, default=None)
    key_id = Integer(null=True, default=None, help_text="API key (api_key id)")
    role = Varchar(length=16, choices=Role)
    agency_code = Varchar(length=32, null=True, default=None, help_text="The reader's agency")
    route = Varchar(length=255, help_text="Route path, e.g. /api/v1/comments")
    format = Varchar(length=8)
    filters = JSON(default={}, help_text="The filters applied, as the answer states them")
    row_count = Integer(
        null=True, default=None, help_text="Rows returned; empty: a download that did not finish"
    )


class WebhookEndpoint(Table):
    """Where an agency's webhooks go, and which events it wants (``survey webhook add``).

    ``secret`` (``whsec_`` + base64 of 32 random bytes, Standard Webhooks) signs every
    message; it is printed once, never logged, stored sealed under a key derived from the
    server secret (``webhooks.signing.Sealer``), and kept out of the admin and of every
    listing (a ``secret=True`` column: Piccolo and piccolo_admin leave it out of reads
    unless asked). Deleting the agency deletes its endpoints and their queues.
    """

    agency = ForeignKey(references=Agency, on_delete=OnDelete.cascade, null=False, index=True)
    url = Varchar(length=2000)
    events = Varchar(length=255, help_text="Event types, comma-separated")
    secret = Varchar(length=255, secret=True)
    enabled = Boolean(default=True)
    include_comments = Boolean(
        default=False, help_text="Send the response's (redacted) free text too"
    )
    consecutive_failures = Integer(default=0)
    disabled_at = Timestamptz(null=True, default=None)
    disabled_reason = Varchar(length=255, default="")
    created_at = Timestamptz()


class WebhookEvent(Table):
    """The outbox: one row per response and event type, written in the response's
    transaction; ``msg_id`` is the ``webhook-id`` every attempt of it carries.

    ``(response, type)`` is unique (index made by the migration): one event per response
    and type. ``payload`` never holds free text, so purging comments needs nothing here.
    """

    msg_id = Varchar(length=40, unique=True)
    type = Varchar(length=40)
    agency = ForeignKey(references=Agency, on_delete=OnDelete.cascade, null=False, index=True)
    response = ForeignKey(references=Response, on_delete=OnDelete.cascade, null=False)
    payload = JSON()
    created_at = Timestamptz(index=True)


class WebhookDelivery(Table):
    """One event for one endpoint: ``pending`` until a 2xx, then ``delivered``.

    ``next_attempt_at`` is both the retry time and the lease: claiming a message moves it
    ``lease_seconds`` ahead, so a process killed mid-post leaves it due again later.
    ``(event, endpoint)`` is unique, and pending messages are indexed by time (migration).
    """

    event = ForeignKey(references=WebhookEvent, on_delete=OnDelete.cascade, null=False)
    endpoint = ForeignKey(
        references=WebhookEndpoint, on_delete=OnDelete.cascade, null=False, index=True
    )
    status = Varchar(length=16, default="pending")
    attempts = Integer(default=0, help_text="Failed attempts since it was last queued")
    next_attempt_at = Timestamptz()
    delivered_at = Timestamptz(null=True, default=None)
    last_status = Integer(null=True, default=None, help_text="HTTP status of the last attempt")
    last_error = Varchar(length=255, default="")


class WebhookAttempt(Table):
    """One POST of a message: when, what came back (or why none did), how long it took,
    and when the next attempt is due (``retry_at``; empty when delivered or given up)."""

    delivery = ForeignKey(
        references=WebhookDelivery, on_delete=OnDelete.cascade, null=False, index=True
    )
    endpoint = ForeignKey(
        references=WebhookEndpoint, on_delete=OnDelete.cascade, null=False, index=True
    )
    attempted_at = Timestamptz(index=True)
    status_code = Integer(null=True, default=None)
    error = Varchar(length=255, default="")
    duration_ms = Integer(default=0)
    retry_at = Timestamptz(null=True, default=None)


class StatsVersion(Table):
    """One row whose ``version`` goes up whenever statistics may change other than by a
    new response or invitation: a rebuild of the cells, a deletion of responses or
    invitations (database triggers). Cached statistics name it (``statistics.version``)."""

    version = BigInt(default=0)


SURVEY_TABLES: list[type[Table]] = [
    Agency,
    Service,
    ApiKey,
    QuestionnaireVersion,
    Invitation,
    Response,
    ResponseReason,
    Comment,
    ResponseCell,
    MonthlyRating,
    MonthlyReason,
    AnswerCell,
    MonthlyAnswer,
    DailyAnswer,
    NationalAnswer,
    DriverMoment,
    InvitationCell,
    MonthlyInvitation,
    StaffRole,
    AuditEntry,
    StatsVersion,
    WebhookEndpoint,
    WebhookEvent,
    WebhookDelivery,
    WebhookAttempt,
]
# Every table the statistics cells live in (rebuilt together by ``survey rollup rebuild``).
CELL_TABLES: tuple[type[Table], ...] = (
    ResponseCell,
    MonthlyRating,
    MonthlyReason,
    AnswerCell,
    MonthlyAnswer,
    DailyAnswer,
    NationalAnswer,
    DriverMoment,
    InvitationCell,
    MonthlyInvitation,
)
AUTH_TABLES: list[type[Table]] = [BaseUser, StaffUser, SessionsBase]
ALL_TABLES: list[type[Table]] = SURVEY_TABLES + AUTH_TABLES
