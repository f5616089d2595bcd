"""Schemathesis against the served OpenAPI document of the live server, on both engines.

Every operation of the portal API and of the statistics/export API is fuzzed
with cases generated from ``/schema/openapi.json`` itself, with a valid bearer
key (and sometimes a wrong or missing one), and with some generated values
swapped for real ones (a real service, a fresh, answered or expired invitation
token, a known format or agency) so the cases reach the handlers' work and not
only their 400/401/404 paths. Every response must be no 5xx and conform to
the document: a declared status code, a declared content type, a body that
matches the declared schema.

Few examples per operation, a fixed seed (``derandomize``) and no shrinking:
the file takes seconds per engine and fails the same way on every run.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.tables import Invitation, Role
from tests.survey_app.conftest import LiveServer, Portal, invite, seed_statistics

SCHEMA_PATH = "/schema/openapi.json"
# No 5xx, and a body that matches what the document declares for its status and type.
BODY_CHECKS = [not_a_server_error, response_schema_conformance]
# Every status code and content type the server answers is declared.
DECLARATION_CHECKS = [status_code_conformance, content_type_conformance]
PORTAL_OPERATIONS = [
    ("POST", "/api/v1/invitations"),
    ("GET", "/api/v1/questionnaires/{questionnaire_id}"),
    ("POST", "/api/v1/responses"),
]
STATS_OPERATIONS = [
    ("GET", "/api/v1/stats/satisfaction"),
    ("GET", "/api/v1/stats/reasons"),
    ("GET", "/api/v1/stats/trend"),
    ("GET", "/api/v1/stats/league"),
    ("GET", "/api/v1/stats/drivers"),
    ("GET", "/api/v1/comments"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/exports/responses.csv"),
    ("GET", "/api/v1/exports/responses.parquet"),
    ("GET", "/api/v1/exports/dictionary.json"),
]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 6}
QUESTIONNAIRE = "public-service-satisfaction"


@dataclass
class Run:
    """What one fuzzing run saw."""

    statuses: Counter = field(default_factory=Counter)
    media: Counter = field(default_factory=Counter)


@pytest.fixture
def api_schema(live: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(live.url + SCHEMA_PATH)


def fuzz(
    live: LiveServer,
    operation: Any,
    mode: GenerationMode,
    tweak: Callable[[Any, st.DataObject], dict[str, str]],
    after: Callable[[schemathesis.Response], None] | None = None,
) -> Run:
    """Send generated cases of ``operation``; ``tweak`` edits a case and returns its headers."""
    seen = Run()

    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        headers = tweak(case, data)
        response = case.call(base_url=live.url, headers=headers, timeout=30)
        if after is not None:
            after(response)
        seen.statuses[response.status_code] += 1
        seen.media[response.headers.get("content-type", [""])[0].split(";")[0]] += 1
        case.validate_response(response, checks=BODY_CHECKS, headers=headers)
        case.validate_response(response, checks=DECLARATION_CHECKS, headers=headers)

    run()
    return seen


def auth_choice(data: st.DataObject, good: dict[str, str], others: list[dict[str, str]]):
    return data.draw(st.sampled_from([good] * 5 + others), label="auth")


def test_every_api_operation_is_fuzzed(api_schema):
    """A new API operation must join the lists below (and so be fuzzed)."""
    listed = {
        (method.upper(), path)
        for path, item in api_schema.raw_schema["paths"].items()
        for method in item
        if path.startswith("/api/")
    }
    assert listed == set(PORTAL_OPERATIONS) | set(STATS_OPERATIONS)


# --- portal API --------------------------------------------------------------------------


async def researcher_key(agency: str) -> str:
    return await apikeys.create(Role.researcher, await directory.agency_id(agency))


@pytest.fixture
def wrong_keys(live, portal) -> list[dict[str, str]]:
    """No key, an unknown key, and a key of the portal's agency with another role."""
    researcher = live.run(researcher_key(portal.agency))
    return [{}, {"Authorization": "Bearer svk_unknown"}, {"Authorization": f"Bearer {researcher}"}]


@pytest.fixture
def tokens(live, http, portal) -> dict[str, Any]:
    """Fresh invitation tokens, an answered one and an expired one."""
    fresh = [invite(http, portal, f"FUZZ-{i}")["token"] for i in range(16)]
    expired = invite(http, portal, "FUZZ-EXPIRED")["token"]
    live.run(
        Invitation.update({Invitation.expires_at: dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}).where(
            Invitation.token == expired
        )
    )
    answered = fresh.pop()
    stored = http.post(
        "/api/v1/responses",
        json={"token": answered, "answers": {"overall": 5}},
        headers=portal.auth,
    )
    assert stored.status_code == 201, stored.text
    return {"fresh": fresh, "used": [answered], "expired": expired}


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_portal_invitations(api_schema, live, portal: Portal, wrong_keys, mode):
    def tweak(case, data):
        if isinstance(case.body, dict) and data.draw(st.booleans(), label="real service"):
            case.body["service"] = portal.service
        return auth_choice(data, portal.auth, wrong_keys)

    seen = fuzz(live, api_schema["/api/v1/invitations"]["POST"], mode, tweak)
    assert seen.statuses[400] > 0, seen
    if mode is GenerationMode.POSITIVE:
        assert seen.statuses[201] > 0, seen
        assert seen.statuses[401] + seen.statuses[403] > 0, seen


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_portal_questionnaire(api_schema, live, portal: Portal, wrong_keys, mode):
    def tweak(case, data):
        if data.draw(st.booleans(), label="real id"):
            case.path_parameters["questionnaire_id"] = QUESTIONNAIRE
        return auth_choice(data, portal.auth, wrong_keys)

    seen = fuzz(live, api_schema["/api/v1/questionnaires/{questionnaire_id}"]["GET"], mode, tweak)
    if mode is GenerationMode.POSITIVE:
        assert seen.statuses[200] > 0, seen
        assert seen.statuses[404] > 0, seen
    else:
        assert seen.statuses[400] > 0, seen


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_portal_responses(api_schema, live, portal: Portal, wrong_keys, tokens, mode):
    fresh, used = tokens["fresh"], tokens["used"]

    def tweak(case, data):
        if isinstance(case.body, dict):
            pick = data.draw(st.sampled_from(["generated", "fresh", "good", "used", "expired"]))
            if pick in ("fresh", "good"):
                case.body["token"] = fresh[-1]
                if pick == "good":
                    case.body["answers"] = {"overall": data.draw(st.integers(1, 5))}
            elif pick == "used":
                case.body["token"] = data.draw(st.sampled_from(used))
            elif pick == "expired":
                case.body["token"] = tokens["expired"]
        return auth_choice(data, portal.auth, wrong_keys)

    def spend(response: schemathesis.Response) -> None:
        if response.status_code == 201:
            used.append(fresh.pop())

    seen = fuzz(live, api_schema["/api/v1/responses"]["POST"], mode, tweak, spend)
    if mode is GenerationMode.NEGATIVE:
        assert seen.statuses[400] > 0, seen
    else:
        assert seen.statuses[201] > 0, seen
        assert seen.statuses[404] > 0, seen
        assert seen.statuses[409] + seen.statuses[410] > 0, seen


# --- statistics and exports --------------------------------------------------------------

# What an attacker sends first: days at the ends of the calendar (a day past 9999-12-31 is
# no date) and control characters (PostgreSQL cannot compare a NUL). Each must be a 400.
FAR_DATES = ["9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01"]
CONTROL = ["\x00", "\x1f", "\x7f", "\r\n"]
edge_dates = st.sampled_from(FAR_DATES)
edge_text = st.builds(
    lambda text, char, at: text[:at] + char + text[at:],
    st.sampled_from(["MIC", "MIC-1", "web", "vi", "true", "2026-01-01", ""]),
    st.sampled_from(CONTROL),
    st.integers(0, 10),
)

# Values that pass the filters, so the statistics are computed and rendered; in negative
# runs, one case in four also gets an edge value, which must be refused with a declared 400.
STATS_VALUES = {
    "format": st.sampled_from(["csv", "json", "xlsx"]),
    "group_by": st.sampled_from(["agency", "service", "channel"]),
    "period": st.sampled_from(["day", "week", "month", "quarter"]),
    "agency": st.sampled_from(["MIC", "MOF", "TINY", "NOPE"]),
    "service": st.sampled_from(["MIC-1", "MOF-1", "NOPE-1"]),
    "compare": st.sampled_from(["MIC,MOF", "MIC", "TINY,NOPE"]),
    "channel": st.sampled_from(["web", "mobile"]),
    "from": st.sampled_from(["2026-01-01", "2026-02-15", "2025-12-31"]),
    "to": st.sampled_from(["2026-03-31", "2026-02-20"]),
    "questionnaire": st.sampled_from(["public-service-satisfaction", "dossier-evaluation", "nope"]),
    "question": st.sampled_from(["overall", "timeliness", "nope"]),
    "outcome": st.sampled_from(["overall", "timeliness", "reasons"]),
}
# Real values of the question for a choice statistic: the others are rating questions.
CHOICE_VALUES = {"question": st.sampled_from(["reasons", "reasons", "overall"])}
# Key drivers need a multi-criteria questionnaire and whole months.
DRIVERS_VALUES = {
    "questionnaire": st.sampled_from(["dossier-evaluation"] * 3 + ["public-service-satisfaction"]),
    "outcome": st.sampled_from(["overall", "timeliness"]),
    "from": st.sampled_from(["2026-01-01", "2026-02-01"]),
    "to": st.sampled_from(["2026-03-31", "2026-02-28"]),
}
EDGE_VALUES = {
    "agency": edge_text,
    "service": edge_text,
    "channel": edge_text,
    "locale": edge_text,
    "essential": edge_text,
    "from": edge_dates | edge_text,
    "to": edge_dates | edge_text,
    "questionnaire": edge_text,
    "question": edge_text,
    "outcome": edge_text,
}


@pytest.fixture
def stats_keys(live) -> dict[str, dict[str, str]]:
    keys = live.run(seed_statistics())["keys"]
    return {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [
        (method, path, mode)
        for method, path in STATS_OPERATIONS
        for mode in MODES
        # Without parameters there is nothing to make invalid.
        if not (path.endswith("dictionary.json") and mode is GenerationMode.NEGATIVE)
    ],
    ids=lambda value: str(value),
)
def test_statistics(api_schema, live, stats_keys, method, path, mode):
    good = stats_keys["researcher" if "/exports/" in path else "admin"]
    others = [
        {},
        {"Authorization": "Bearer svk_unknown"},
        stats_keys["portal"],
        stats_keys["analyst"],
    ]

    values = STATS_VALUES | {"/reasons": CHOICE_VALUES, "/drivers": DRIVERS_VALUES}.get(
        path[path.rindex("/") :], {}
    )

    def tweak(case, data):
        names = [p.name for p in case.operation.query if p.name in values]
        if names and data.draw(st.integers(0, 3), label="real values") < 3:
            case.query = dict(case.query or {})
            for name in names:
                if data.draw(st.integers(0, 3), label=f"real {name}") < 3:
                    case.query[name] = data.draw(values[name], label=name)
        edges = [p.name for p in case.operation.query if p.name in EDGE_VALUES]
        if (
            mode is GenerationMode.NEGATIVE
            and edges
            and data.draw(st.integers(0, 3), label="edge value") == 0
        ):
            case.query = dict(case.query or {})
            name = data.draw(st.sampled_from(edges), label="edge name")
            case.query[name] = data.draw(EDGE_VALUES[name], label=f"edge {name}")
        return auth_choice(data, good, others)

    seen = fuzz(live, api_schema[path][method], mode, tweak)
    if mode is GenerationMode.NEGATIVE:
        assert seen.statuses[400] > 0, seen
    else:
        assert seen.statuses[200] > 0, seen
        if "/stats/" in path:
            assert set(seen.media) - {"application/json"}, seen  # a CSV or XLSX download too


# The audit log has its own filters (from, to, user, key, route), tested in test_audit.py.
FILTERED_OPERATIONS = [
    (m, p) for m, p in STATS_OPERATIONS if not p.endswith(("dictionary.json", "/api/v1/audit"))
]


@pytest.mark.parametrize(("method", "path"), FILTERED_OPERATIONS, ids=lambda v: str(v))
def test_statistics_edge_values(api_schema, live, stats_keys, method, path):
    """Every edge value of every filter, explicitly: a 400 as the document declares it,
    naming the parameter, with a real key (so the handler, not the guard, answers)."""
    operation = api_schema[path][method]
    headers = stats_keys["researcher" if "/exports/" in path else "admin"]
    declared = {p.name for p in operation.query}
    cases = [{name: value} for name in ("from", "to") for value in FAR_DATES] + [
        {name: prefix + char}
        for name, prefix in [
            ("agency", "MIC"),
            ("service", "MIC-1"),
            ("channel", "web"),
            ("locale", "vi"),
            ("essential", "true"),
            ("from", "2026-01-01"),
            ("to", "2026-03-31"),
        ]
        for char in CONTROL
    ]
    for query in cases:
        (name,) = query
        assert name in declared, (path, name)
        case = operation.Case(query=query, headers=headers)
        response = case.call(base_url=live.url, timeout=30)
        assert response.status_code == 400, (query, response.text)
        assert f"'{name}'" in response.json()["detail"], (query, response.text)
        case.validate_response(response, checks=BODY_CHECKS + DECLARATION_CHECKS)
