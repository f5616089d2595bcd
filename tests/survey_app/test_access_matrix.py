"""Staff data stays apart: every statistics, export, comment, chart and dashboard route, for
every role, by API key and by staff session, gets exactly what DESIGN.md grants.

Roles (DESIGN.md): ``admin`` sees everything; ``analyst`` (bound to one agency) every
aggregate but the raw comments of its own agency only; ``researcher`` aggregates and the
anonymised microdata; ``portal`` invitations and responses only. No credentials: 401 (the
dashboard, a page for people, sends them to ``/login`` instead); a wrong role or another
agency: 403.

The routes come from the app's own route table: a statistics route added without a row
here fails ``test_every_statistics_route_has_rows``. Comments are seeded with a unique
marker per agency, and every response body (XLSX unzipped) is searched for the markers its
reader may not see.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import httpx
import pytest
from piccolo.apps.user.tables import BaseUser

from survey_app.agencies import directory
from survey_app.auth import apikeys, staff
from survey_app.auth.sessions import HashedSessions
from survey_app.db.tables import ApiKey, Role, StaffRole
from tests.survey_app.conftest import Portal, _wipe, invite, seed_statistics

A, B = "MIC", "MOF"  # agency A and agency B of the issue (both seeded with statistics)
PASSWORD = "matrix-Passw0rd-long"
USERS = "am_"  # prefix of the staff accounts this module creates

# What a role's credentials get on a route (anonymous: the row's ``anonymous`` status).
AGGREGATES = {"portal": 403, "analyst_a": 200, "analyst_b": 200, "researcher": 200, "admin": 200}
MICRODATA = {"portal": 403, "analyst_a": 403, "analyst_b": 403, "researcher": 200, "admin": 200}
COMMENTS = {"portal": 403, "analyst_a": 200, "analyst_b": 200, "researcher": 403, "admin": 200}
COMMENTS_OF_A = {**COMMENTS, "analyst_b": 403}
COMMENTS_OF_B = {**COMMENTS, "analyst_a": 403}
AUDIT = {"portal": 403, "analyst_a": 403, "analyst_b": 403, "researcher": 403, "admin": 200}
METRICS = AUDIT  # operators' metrics: admin keys and sessions (and listed networks, not here)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Prefixes of the staff data surface. Any other /api/ route must be a portal route.
STAFF_PREFIXES = (
    "/api/v1/stats/",
    "/api/v1/exports/",
    "/api/v1/comments",
    "/api/v1/audit",
    "/dashboard",
    "/charts/",
    "/metrics",
)
PORTAL_ROUTES = {
    "/api/v1/invitations",
    "/api/v1/questionnaires/{questionnaire_id:str}",
    "/api/v1/responses",
}


@dataclass(frozen=True)
class Row:
    url: str
    route: str  # the path of the route in ``app.routes`` that serves ``url``
    grants: Mapping[str, int]
    kind: str  # content type of a 200
    keys: bool = True  # accepts Authorization: Bearer (else only a staff session)
    anonymous: int = 401
    comments: bool = False  # the comment view: a reader's own comments may appear


def _stats(name: str, query: str, fmt: str) -> Row:
    kinds = {"json": "application/json", "csv": "text/csv", "xlsx": XLSX}
    sep = "&" if query else ""
    return Row(
        f"/api/v1/stats/{name}?{query}{sep}format={fmt}",
        f"/api/v1/stats/{name}",
        AGGREGATES,
        kinds[fmt],
    )


def _comments(query: str, fmt: str, grants: Mapping[str, int] = COMMENTS) -> Row:
    kinds = {"json": "application/json", "csv": "text/csv", "xlsx": XLSX}
    sep = "&" if query else ""
    url = f"/api/v1/comments?{query}{sep}format={fmt}"
    return Row(url, "/api/v1/comments", grants, kinds[fmt], comments=True)


def _audit(query: str, fmt: str) -> Row:
    kinds = {"json": "application/json", "csv": "text/csv", "xlsx": XLSX}
    sep = "&" if query else ""
    return Row(f"/api/v1/audit?{query}{sep}format={fmt}", "/api/v1/audit", AUDIT, kinds[fmt])


def _chart(name: str, query: str = "") -> Row:
    kind = "image/svg+xml" if name.endswith(".svg") else "image/png"
    url = f"/charts/{name}" + (f"?{query}" if query else "")
    return Row(url, "/charts/{name:str}", AGGREGATES, kind)


def _dashboard(query: str) -> Row:
    grants = dict.fromkeys(AGGREGATES, 200) | {"portal": 303}
    return Row(f"/dashboard?{query}", "/dashboard", grants, "text/html", keys=False, anonymous=303)


MATRIX: list[Row] = [
    *(
        _stats(name, "", fmt)
        for name in ("satisfaction", "reasons", "trend")
        for fmt in ("json", "csv", "xlsx")
    ),
    _stats("satisfaction", f"agency={A}&group_by=service", "json"),
    _stats("league", "group_by=channel", "json"),
    _stats("league", "", "csv"),
    _stats("league", "group_by=service", "xlsx"),
    *(
        _stats("drivers", "questionnaire=dossier-evaluation", fmt)
        for fmt in ("json", "csv", "xlsx")
    ),
    _stats("reasons", f"agency={A}", "csv"),
    _stats("trend", f"compare={A},{B}", "xlsx"),
    Row("/api/v1/exports/responses.csv", "/api/v1/exports/responses.csv", MICRODATA, "text/csv"),
    Row(
        f"/api/v1/exports/responses.csv?agency={A}",
        "/api/v1/exports/responses.csv",
        MICRODATA,
        "text/csv",
    ),
    Row(
        f"/api/v1/exports/responses.parquet?agency={A}",
        "/api/v1/exports/responses.parquet",
        MICRODATA,
        "application/vnd.apache.parquet",
    ),
    Row(
        "/api/v1/exports/dictionary.json",
        "/api/v1/exports/dictionary.json",
        MICRODATA,
        "application/json",
    ),
    *(_comments("", fmt) for fmt in ("json", "csv", "xlsx")),
    _comments(f"agency={A}", "json", COMMENTS_OF_A),
    _comments(f"agency={A}", "xlsx", COMMENTS_OF_A),
    _comments(f"agency={B}", "csv", COMMENTS_OF_B),
    *(_audit("", fmt) for fmt in ("json", "csv", "xlsx")),
    _audit("route=/api/v1/comments", "json"),
    _dashboard("lang=en"),
    _dashboard(f"agency={A}&lang=en"),
    _dashboard(f"agency={B}&lang=vi"),
    _chart("trend.svg", f"agency={A}"),
    _chart("agencies.png"),
    _chart("reasons.svg", f"agency={A}"),
    # B's reasons are withheld (complementary suppression beside TINY's six), so its
    # chart is 404 for everyone; A's in another language checks the access instead.
    _chart("reasons.svg", f"agency={A}&lang=id"),
    # The body is searched like any other: no comment, reference or token in a label.
    Row("/metrics", "/metrics", METRICS, "text/plain"),
]

# (role, how): how the credentials travel; anonymous sends none.
IDENTITIES = [
    ("anonymous", None),
    ("portal", "key"),
    *(
        (role, how)
        for role in ("analyst_a", "analyst_b", "researcher", "admin")
        for how in ("key", "session")
    ),
]


def expected(row: Row, role: str, how: str | None) -> int:
    if role == "anonymous" or (how == "key" and not row.keys):
        return row.anonymous  # a key where only a session counts is no credential at all
    return row.grants[role]


@dataclass
class World:
    app: object
    client: httpx.Client
    headers: dict[tuple[str, str | None], dict[str, str]]
    markers: dict[str, list[str]]  # agency -> the free texts its citizens wrote
    refs: list[str]  # transaction references of every invitation
    extra: dict[str, dict[str, str]] = field(default_factory=dict)  # odd identities

    def get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        return self.client.get(url, headers=headers)


async def _setup() -> dict:
    await _wipe()
    await BaseUser.delete().where(BaseUser.username.like(f"{USERS}%"))
    seeded = await seed_statistics()  # agencies MIC, MOF, TINY; keys of every role bound to MIC
    b_id = await directory.agency_id(B)
    keys = {
        "portal": seeded["keys"]["portal"],
        "analyst_a": seeded["keys"]["analyst"],
        "analyst_b": await apikeys.create(Role.analyst, b_id),
        "researcher": seeded["keys"]["researcher"],
        "admin": seeded["keys"]["admin"],
        "portal_b": await apikeys.create(Role.portal, b_id),
        # Set up by hand in /admin: an analyst key bound to no agency.
        "analyst_nowhere": await apikeys.create(Role.analyst, None),
    }
    users = {}
    for name, role, agency in (
        ("analyst_a", Role.analyst, A),
        ("analyst_b", Role.analyst, B),
        ("researcher", Role.researcher, None),
        ("admin", Role.admin, None),
        # Staff roles the CLI refuses but /admin can store: a "portal" login, an analyst of
        # nowhere.
        ("portal", Role.portal, None),
        ("analyst_nowhere", Role.analyst, None),
    ):
        user = BaseUser(
            username=f"{USERS}{name}",
            # Few iterations keep the set-up fast; a login upgrades the hash as usual.
            password=BaseUser.hash_password(PASSWORD, iterations=1_000),
            email=f"{USERS}{name}@staff.invalid",
            active=True,
            admin=role is Role.admin,
        )
        await user.save()
        agency_id = await directory.agency_id(agency) if agency else None
        await StaffRole.insert(StaffRole(user=user.id, role=role.value, agency=agency_id))
        users[name] = user.id
    keys["users"] = users
    return keys


def soon() -> dt.datetime:
    return dt.datetime.now() + dt.timedelta(hours=1)


def _log_in(base_url: str, username: str) -> str:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        page = client.get("/login?lang=en")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
        answer = client.post(
            "/login?lang=en",
            data={"username": username, "password": PASSWORD, "_csrf_token": token},
        )
        assert answer.status_code == 303, (username, answer.status_code, answer.text[:300])
        return answer.cookies[staff.SESSION_COOKIE]


@pytest.fixture(scope="module")
def world(server) -> Iterator[World]:
    keys = server.run(_setup())
    client = httpx.Client(base_url=server.url, timeout=60, follow_redirects=False)
    tag = secrets.token_hex(4)
    markers: dict[str, list[str]] = {A: [], B: []}
    refs: list[str] = []
    for agency, key in ((A, keys["portal"]), (B, keys["portal_b"])):
        portal = Portal(agency=agency, service=f"{agency}-1", key=key)
        for i in range(2):
            ref = f"TXNREF-{agency}-{tag}-{i}"
            other, comment = f"OTHERTXT-{agency}-{tag}-{i}", f"COMMENTTXT-{agency}-{tag}-{i}"
            answers = {
                "overall": 2,
                "reasons": ["other", "portal_error"],
                "reason_other": other,
                "comment": comment,
            }
            token = invite(client, portal, ref)["token"]
            stored = client.post(
                "/api/v1/responses", json={"token": token, "answers": answers}, headers=portal.auth
            )
            assert stored.status_code == 201, stored.text
            markers[agency] += [other, comment]
            refs.append(ref)
    users = keys["users"]

    def session(name: str) -> dict[str, str]:
        """Through the real /login form for the analysts and the "portal" login; for the
        others a session row like the one ``staff.log_in`` writes (each login costs a full
        password hash)."""
        if name in ("analyst_a", "analyst_b", "portal"):
            cookie = _log_in(server.url, f"{USERS}{name}")
        else:
            row = server.run(HashedSessions.create_session(users[name], expiry_date=soon()))
            cookie = str(row.token)
        return {"Cookie": f"{staff.SESSION_COOKIE}={cookie}"}

    headers: dict[tuple[str, str | None], dict[str, str]] = {("anonymous", None): {}}
    for role, how in IDENTITIES[1:]:
        if how == "key":
            headers[(role, how)] = {"Authorization": f"Bearer {keys[role]}"}
        else:
            headers[(role, how)] = session(role)
    extra = {
        "portal_session": session("portal"),
        "analyst_nowhere_session": session("analyst_nowhere"),
        "analyst_nowhere_key": {"Authorization": f"Bearer {keys['analyst_nowhere']}"},
    }
    try:
        yield World(server.app, client, headers, markers, refs, extra)
    finally:
        client.close()


def searchable(answer: httpx.Response) -> bytes:
    """The body as bytes to search: an XLSX file is unzipped and its XML parts joined."""
    body = answer.content
    if body.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(body)) as book:
            return b"\n".join(book.read(name) for name in book.namelist())
    return body


def own_markers(world: World, role: str) -> set[str]:
    if role == "admin":
        return {*world.markers[A], *world.markers[B]}
    return {"analyst_a": set(world.markers[A]), "analyst_b": set(world.markers[B])}.get(role, set())


# --- the route table -------------------------------------------------------------------------


def test_every_statistics_route_has_rows(world):
    served = {route.path: route for route in world.app.routes}
    staff_routes = {path for path in served if path.startswith(STAFF_PREFIXES)}
    other_api = {p for p in served if p.startswith("/api/") and p not in staff_routes}
    assert other_api <= PORTAL_ROUTES, f"API routes in neither table: {other_api - PORTAL_ROUTES}"
    covered = {row.route for row in MATRIX}
    assert staff_routes - covered == set(), "routes without a row in MATRIX"
    assert covered - staff_routes == set(), "rows for routes the app does not serve"
    for path in staff_routes:
        methods = set(served[path].methods) - {"OPTIONS", "HEAD"}
        assert methods == {"GET"}, f"{path} serves {methods}: the matrix covers GET only"
    # Every format of every statistics endpoint is in the matrix.
    for path in staff_routes:
        if path.startswith(("/api/v1/stats/", "/api/v1/comments", "/api/v1/audit")):
            formats = {
                re.search(r"format=(\w+)", r.url).group(1) for r in MATRIX if r.route == path
            }
            assert formats == {"json", "csv", "xlsx"}, path


# --- the matrix ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "how"), IDENTITIES, ids=[f"{r}-{h or 'none'}" for r, h in IDENTITIES]
)
def test_access_matrix(world, role, how):
    """Status, content and comment scoping of every row for one identity."""
    problems = []
    forbidden_everywhere = {*world.markers[A], *world.markers[B], *world.refs}
    for row in MATRIX:
        answer = world.get(row.url, world.headers[(role, how)])
        want = expected(row, role, how)
        if answer.status_code != want:
            problems.append(f"{row.url}: {answer.status_code}, expected {want}")
            continue
        if want == 200:
            if not answer.headers["content-type"].startswith(row.kind):
                problems.append(f"{row.url}: content type {answer.headers['content-type']}")
            if row.kind == XLSX and not answer.content.startswith(b"PK"):
                problems.append(f"{row.url}: not an XLSX file")
        elif want == 303 and not answer.headers.get("location", "").startswith("/login"):
            problems.append(f"{row.url}: redirected to {answer.headers.get('location')}")
        allowed = own_markers(world, role) if (row.comments and want == 200) else set()
        body = searchable(answer)
        leaked = sorted(m for m in forbidden_everywhere - allowed if m.encode() in body)
        if leaked:
            problems.append(f"{row.url}: body contains {leaked}")
        if row.comments and want == 200 and row.kind == "application/json":
            agencies = {c["agency"] for c in answer.json()["comments"]}
            mine = {"analyst_a": {A}, "analyst_b": {B}}.get(role)
            if mine is not None and not agencies <= mine:
                problems.append(f"{row.url}: comments of {agencies - mine}")
    assert not problems, f"{role} by {how}:\n" + "\n".join(problems)


def test_comment_markers_are_found_in_every_format_of_the_comment_view(world):
    """The search above can see: an analyst's own comments are there in JSON, CSV and XLSX."""
    for role, agency in (("analyst_a", A), ("analyst_b", B)):
        for how in ("key", "session"):
            for fmt in ("json", "csv", "xlsx"):
                answer = world.get(f"/api/v1/comments?format={fmt}", world.headers[(role, how)])
                assert answer.status_code == 200
                body = searchable(answer)
                for marker in world.markers[agency]:
                    assert marker.encode() in body, (role, how, fmt, marker)
    admin = searchable(world.get("/api/v1/comments?format=xlsx", world.headers[("admin", "key")]))
    assert all(m.encode() in admin for m in world.markers[A] + world.markers[B])


def test_analyst_cannot_reach_other_comments_by_other_filters(world):
    """Filters other than ``agency`` do not widen an analyst's view to another agency."""
    for how in ("key", "session"):
        headers = world.headers[("analyst_b", how)]
        for query in (f"service={A}-1", "agency=", "agency=mic", f"agency={B}&service={A}-1"):
            answer = world.get(f"/api/v1/comments?{query}", headers)
            assert answer.status_code in (200, 403), (query, answer.status_code)
            assert not any(m.encode() in answer.content for m in world.markers[A]), query


def test_roles_set_up_by_hand_in_admin_see_no_staff_data(world):
    """A staff login with the role "portal", or an analyst bound to no agency (both can be
    stored through /admin, though the CLI refuses them), reads no comments at all; the
    portal login no statistics either."""
    portal = world.extra["portal_session"]
    for url in ("/api/v1/stats/satisfaction", "/api/v1/comments", "/charts/agencies.svg"):
        assert world.get(url, portal).status_code == 403, url
    assert world.get("/dashboard", portal).status_code == 403
    assert world.get("/api/v1/exports/responses.csv", portal).status_code == 403
    for name in ("analyst_nowhere_session", "analyst_nowhere_key"):
        headers = world.extra[name]
        answer = world.get("/api/v1/comments?format=csv", headers)
        assert answer.status_code == 403, name
        assert not any(m.encode() in answer.content for m in world.markers[A] + world.markers[B])
        assert world.get("/api/v1/stats/reasons", headers).status_code == 200, name


def test_revoked_keys_and_forged_sessions_count_as_no_credentials(world, server):
    async def revoked() -> str:
        key = await apikeys.create(Role.admin, await directory.agency_id(A))
        await ApiKey.update({ApiKey.revoked: True}).where(ApiKey.key_hash == apikeys.hash_key(key))
        return key

    key = server.run(revoked())
    for headers in (
        {"Authorization": f"Bearer {key}"},
        {"Authorization": "Bearer svk_" + "x" * 43},
        {"Authorization": f"Basic {key}"},
        {"Cookie": f"id={secrets.token_urlsafe(32)}"},
    ):
        for row in MATRIX:
            if row.keys or "Cookie" in headers:
                assert world.get(row.url, headers).status_code == row.anonymous, (row.url, headers)


def test_admin_pages_show_comments_to_no_one(world):
    """One session cookie opens ``/admin`` too, whose tables leave out every comment (its CSV
    export would not neutralize formulas): admins read them through /api/v1/comments."""
    url = "/admin/api/tables/comment/?__readable=true"
    answer = world.get(url, world.headers[("admin", "session")])
    assert answer.status_code == 404
    assert not any(m.encode() in answer.content for m in world.markers[A] + world.markers[B])
    for identity in (("analyst_a", "session"), ("analyst_b", "session"), ("researcher", "session")):
        answer = world.get(url, world.headers[identity])
        assert answer.status_code in (401, 403), identity
        assert not any(m.encode() in answer.content for m in world.markers[A] + world.markers[B])
    for name in ("portal_session", "analyst_nowhere_session"):
        assert world.get(url, world.extra[name]).status_code in (401, 403), name
    assert world.get(url, world.headers[("admin", "key")]).status_code in (401, 403)
