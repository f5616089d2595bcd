"""Privacy: transaction references, comments and secrets stay where they belong.

One run per engine issues invitations, stores answers with comments (API and citizen
form), walks the 4xx paths, forces two 500s, and downloads every statistics and export
format, the charts, the dashboard and a ``survey report`` file, while a handler on the
root and uvicorn loggers records every log line the server writes at INFO and above
(``survey serve`` runs uvicorn at ``info``). Then no export, error page or log line may
contain a transaction reference (or its keyed hash), a comment (the analyst's own comment
view aside), the server secret, an API key, a staff password or session cookie.

Already covered elsewhere, not repeated: the stored transaction key is an HMAC
(test_portal_api), the ``survey serve`` process output (test_serve), comment scoping and
formula neutralisation (test_comments, test_access_matrix), ``survey purge comments``
(test_cli).
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import zipfile
from collections.abc import Iterator

import httpx
import pyarrow.parquet as pq
import pytest
from piccolo.apps.user.tables import BaseUser

from survey_app.auth import staff
from survey_app.db.tables import Invitation, Role
from survey_app.invitations import service as invitations
from survey_app.statistics import counts
from survey_app.submissions import jobs
from tests.conftest import survey_command
from tests.survey_app.conftest import Portal, invite, seed_statistics

PASSWORD_TAG = "pw-privacy-"
STAFF_ROUTES = ("/api/v1/stats/", "/api/v1/exports/", "/api/v1/audit", "/dashboard", "/charts/")
SERVER_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
CLIENT_LOGGERS = ("httpx", "httpcore")  # this test's own HTTP client, not the server


class Recorder(logging.Handler):
    """Every record the server emits, formatted as its log line (traceback included)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(CLIENT_LOGGERS):
            self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def server_log() -> Iterator[Recorder]:
    recorder = Recorder()
    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(recorder)
        logger.setLevel(logging.INFO)  # as under `survey serve` (uvicorn log_level="info")
    try:
        yield recorder
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(recorder)
            logger.setLevel(level)


def searchable(answer: httpx.Response) -> bytes:
    body = answer.content
    if body.startswith(b"PK"):  # XLSX: the XML parts, where the cell text lives
        with zipfile.ZipFile(io.BytesIO(body)) as book:
            return b"\n".join(book.read(name) for name in book.namelist())
    if body.startswith(b"PAR1"):  # Parquet, compressed: its rows and its metadata as text
        table = pq.read_table(io.BytesIO(body))
        metadata = json.dumps({k.decode(): v.decode() for k, v in table.schema.metadata.items()})
        return (metadata + json.dumps(table.to_pylist(), default=str)).encode()
    return body


class Private:
    """The values that must not leak, and where each one was found."""

    def __init__(self) -> None:
        self.refs: list[str] = []
        self.comments: list[str] = []
        self.secrets: list[str] = []

    def found_in(self, body: bytes | str, *, comments_allowed: bool = False) -> list[str]:
        data = body.encode() if isinstance(body, str) else body
        values = self.refs + self.secrets + ([] if comments_allowed else self.comments)
        return [value for value in values if value.encode() in data]


async def _staff(username: str, password: str) -> None:
    await BaseUser.delete().where(BaseUser.username == username)
    user = await BaseUser.create_user(
        username, password, email=f"{username}@staff.invalid", active=True, admin=True
    )
    await staff.set_role(user.id, Role.admin, None)


def _log_in(http: httpx.Client, username: str, password: str) -> str:
    page = http.get("/login?lang=en")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    answer = http.post(
        "/login?lang=en", data={"username": username, "password": password, "_csrf_token": csrf}
    )
    assert answer.status_code == 303, answer.text
    return answer.cookies[staff.SESSION_COOKIE]


def test_no_reference_comment_or_secret_in_exports_logs_or_error_pages(
    live, http, server_log, monkeypatch, tmp_path
):
    tag = secrets.token_hex(4)
    private = Private()
    seeded = live.run(seed_statistics())
    keys = seeded["keys"]
    password = f"{PASSWORD_TAG}{tag}"
    live.run(_staff("privacy_admin", password))
    session = _log_in(http, "privacy_admin", password)
    http.cookies.clear()
    private.secrets += [live.settings.secret, password, session, *keys.values()]
    assert live.settings.secret not in repr(live.settings)
    portal = Portal(agency="MIC", service="MIC-1", key=keys["portal"])
    errors: list[httpx.Response] = []

    # --- invitations and answers, by the API and by the citizen form ---------------------------
    tokens = []
    for i in range(4):
        ref = f"REF-{tag}-{i}"
        private.refs.append(ref)
        private.refs.append(invitations.transaction_key(live.settings.secret, "MIC", ref))
        tokens.append(invite(http, portal, ref, locale="en")["token"])
    assert invite(http, portal, f"REF-{tag}-0")["token"] == tokens[0]  # the repeat: 200
    for i, token in enumerate(tokens[:2]):
        comment, other = f"COMMENT-{tag}-{i}", f"OTHER-{tag}-{i}"
        private.comments += [comment, other]
        answers = {"overall": 2, "reasons": ["other"], "reason_other": other, "comment": comment}
        stored = http.post(
            "/api/v1/responses", json={"token": token, "answers": answers}, headers=portal.auth
        )
        assert stored.status_code == 201, stored.text
    form_comment = f"FORMCOMMENT-{tag}"
    private.comments.append(form_comment)
    sent = http.post(
        f"/s/{tokens[2]}",
        data={"lang": "en", "overall": "1", "reasons": ["portal_error"], "comment": form_comment},
    )
    assert sent.status_code == 303

    # --- 4xx paths, each carrying private values in its request --------------------------------
    ref = private.refs[0]
    bad_invitations = [
        ({}, {"transaction_ref": ref, "service": "MIC-1", "channel": "web"}, 401),
        (
            {"Authorization": f"Bearer {keys['analyst']}"},
            {"transaction_ref": ref, "service": "MIC-1", "channel": "web"},
            403,
        ),
        (portal.auth, {"transaction_ref": ref, "service": "MIC-1", "channel": "fax"}, 400),
        (
            portal.auth,
            {"transaction_ref": ref + "x" * 200, "service": "MIC-1", "channel": "web"},
            400,
        ),
        (portal.auth, {"transaction_ref": ref, "service": "NOPE", "channel": "web"}, 400),
        (
            portal.auth,
            {"transaction_ref": ref, "service": "MIC-1", "channel": "web", "name": ref},
            400,
        ),
    ]
    for headers, body, status in bad_invitations:
        answer = http.post("/api/v1/invitations", json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
        errors.append(answer)
    for content, status in (
        (f'{{"transaction_ref": "{ref}", '.encode(), 400),
        (f'{{"transaction_ref": "{ref}\xff", "service": "MIC-1"}}'.encode("latin-1"), 400),
        (f'{{"transaction_ref": "{ref}", "pad": "{"x" * 70_000}"}}'.encode(), 413),
    ):
        answer = http.post(
            "/api/v1/invitations",
            content=content,
            headers={**portal.auth, "Content-Type": "application/json"},
        )
        assert answer.status_code == status, answer.text
        errors.append(answer)
    comment = private.comments[0]
    for token, answers, status in (
        (tokens[0], {"overall": 5, "comment": comment}, 409),  # answered already
        ("no-such-token", {"overall": 5, "comment": comment}, 404),
        (tokens[3], {"overall": 9, "comment": comment}, 400),
        (tokens[3], {"overall": 4, "comment": comment + "x" * 1001}, 400),
        (tokens[3], {"overall": 4, "reason_other": comment, "nosuch": comment}, 400),
    ):
        answer = http.post(
            "/api/v1/responses", json={"token": token, "answers": answers}, headers=portal.auth
        )
        assert answer.status_code == status, answer.text
        errors.append(answer)
    answer = http.post(
        "/api/v1/responses",
        json={"token": tokens[3], "answers": {"overall": 4, "comment": comment}},
        headers={"Authorization": f"Bearer {keys['researcher']}"},
    )
    assert answer.status_code == 403
    errors.append(answer)
    for path, data, status in (
        (f"/s/{tokens[0]}?lang=en", {"overall": "4", "comment": comment}, 409),
        ("/s/no-such-token?lang=en", {"overall": "4", "comment": comment}, 404),
    ):
        errors.append(http.post(path, data=data))
        assert errors[-1].status_code == status
        errors.append(http.get(path))
        assert errors[-1].status_code == status
    wrong_password = f"{password}-wrong"
    private.secrets.append(wrong_password)
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', http.get("/login").text).group(1)
    for data, status in (
        ({"username": "privacy_admin", "password": wrong_password, "_csrf_token": csrf}, 400),
        ({"username": "privacy_admin", "password": password}, 403),  # no CSRF token
    ):
        errors.append(http.post("/login?lang=en", data=data))
        assert errors[-1].status_code == status
    http.cookies.clear()
    for url, headers, status in (
        ("/api/v1/stats/reasons", {}, 401),
        ("/api/v1/stats/reasons", portal.auth, 403),
        ("/api/v1/stats/reasons?format=pdf", {"Cookie": f"id={session}"}, 400),
        ("/api/v1/stats/trend?from=yesterday", {"Authorization": f"Bearer {keys['admin']}"}, 400),
        ("/api/v1/exports/responses.csv", {"Authorization": f"Bearer {keys['analyst']}"}, 403),
        ("/api/v1/comments", {"Authorization": f"Bearer {keys['researcher']}"}, 403),
        ("/charts/pie.svg", {"Cookie": f"id={session}"}, 404),
    ):
        errors.append(http.get(url, headers=headers))
        assert errors[-1].status_code == status, url

    # --- forced 500s: in the statistics and in the invitation path (ref and secret in hand) ----
    detail = f"INTERNAL-DETAIL-{tag}"

    async def broken(*args, **kwargs):
        raise RuntimeError(detail)

    def broken_plan(*args, **kwargs):
        raise RuntimeError(detail)

    monkeypatch.setattr(counts, "rating_counts", broken)
    # Inside the writer's transaction, where the invitation is issued.
    monkeypatch.setattr(jobs, "plan_issue", broken_plan)
    admin_key = {"Authorization": f"Bearer {keys['admin']}"}
    for headers in (admin_key, {"Cookie": f"id={session}", "Accept": "text/html"}):
        errors.append(http.get("/api/v1/stats/satisfaction?format=csv", headers=headers))
        assert errors[-1].status_code == 500
    body = {"transaction_ref": f"REF-{tag}-new", "service": "MIC-1", "channel": "web"}
    private.refs.append(body["transaction_ref"])
    errors.append(http.post("/api/v1/invitations", json=body, headers=portal.auth))
    assert errors[-1].status_code == 500
    monkeypatch.undo()

    for answer in errors:
        where = f"{answer.request.method} {answer.request.url} -> {answer.status_code}"
        assert private.found_in(answer.content) == [], where
        assert detail not in answer.text, where
        assert "Traceback" not in answer.text, where

    # --- every statistics and export format, charts, dashboard: no private value ---------------
    downloads: dict[str, httpx.Response] = {}
    stats_urls = [
        f"/api/v1/stats/{name}?format={fmt}"
        for name in ("satisfaction", "reasons", "trend", "league")
        for fmt in ("json", "csv", "xlsx")
    ]
    stats_urls += [
        "/api/v1/stats/trend?compare=MIC,MOF&format=csv",
        "/api/v1/stats/satisfaction?group_by=channel&format=xlsx",
        "/api/v1/stats/reasons?agency=MIC&group_by=service&format=json",
        "/api/v1/stats/drivers?questionnaire=dossier-evaluation&format=csv",
        "/api/v1/stats/satisfaction?questionnaire=public-service-satisfaction&format=json",
        "/api/v1/exports/responses.csv",
        "/api/v1/exports/responses.csv?agency=MIC&channel=web",
        "/api/v1/exports/dictionary.json",
        "/api/v1/exports/responses.parquet?channel=web",
        "/charts/trend.svg?agency=MIC",
        "/charts/agencies.svg",
        "/charts/reasons.svg?agency=MIC",
        "/dashboard?agency=MIC&lang=en",
        "/metrics",  # after citizens' and portals' requests: no token or reference in a label
        # Last: the audit log then holds the reads above (who, filters), and no key or secret.
        *(f"/api/v1/audit?format={fmt}" for fmt in ("json", "csv", "xlsx")),
    ]
    served = {route.path for route in live.app.routes if route.path.startswith(STAFF_ROUTES)}
    fetched = {url.split("?")[0] for url in stats_urls}
    assert {path for path in served if "{" not in path} <= fetched, "a staff route is not fetched"
    for url in stats_urls:
        for name, headers in (("key", admin_key), ("session", {"Cookie": f"id={session}"})):
            if url.startswith("/dashboard") and name == "key":
                continue
            answer = http.get(url, headers=headers)
            assert answer.status_code == 200, (url, answer.text[:200])
            downloads[f"{url} ({name})"] = answer
    assert downloads["/api/v1/audit?format=json (key)"].json()["count"] > 0  # reads are logged
    microdata = downloads["/api/v1/exports/responses.csv (key)"].content.decode("utf-8-sig")
    assert len(microdata.strip().splitlines()) == 1 + 216 + 3  # header, seeded, answered here
    invitation_tokens = [row["token"] for row in live.run(Invitation.select(Invitation.token))]
    assert len(invitation_tokens) == 216 + 4  # the seeded ones and this test's
    for label, answer in downloads.items():
        body = searchable(answer)
        assert private.found_in(body) == [], label
        assert [t for t in invitation_tokens if t.encode() in body] == [], label  # no identifier

    # The analyst's comment view has the comments (that is its purpose), never the rest.
    for fmt in ("json", "csv", "xlsx"):
        answer = http.get(
            f"/api/v1/comments?format={fmt}", headers={"Authorization": f"Bearer {keys['analyst']}"}
        )
        body = searchable(answer)
        assert all(c.encode() in body for c in private.comments), fmt
        assert private.found_in(body, comments_allowed=True) == [], fmt

    # `survey report`: the statistics as files from the command line.
    out = tmp_path / "reasons.xlsx"
    env = {"DATABASE_URL": live.settings.database_url, "SURVEY_SECRET": live.settings.secret}
    done = survey_command("report", "reasons", "--format", "xlsx", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as book:
        report = b"".join(book.read(name) for name in book.namelist())
    assert b"portal_error" in report
    assert private.found_in(report + (done.stdout + done.stderr).encode()) == []

    # --- the server's log ----------------------------------------------------------------------
    log = server_log.text
    assert "unhandled error on GET /api/v1/stats/satisfaction" in log  # the capture works
    assert "unhandled error on POST /api/v1/invitations" in log
    assert '"POST /api/v1/invitations HTTP/1.1" 201' in log  # access lines are there too
    assert "GET /charts/reasons.svg" in log
    assert private.found_in(log) == [], [
        line for line in server_log.lines if private.found_in(line)
    ]
