"""Comments reach an analyst of their own agency and admins, nobody else; exports are inert."""

from __future__ import annotations

import csv
import io

import pytest

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.tables import Role
from tests.survey_app.conftest import invite, make_portal

PAYLOAD = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture
def keys(http, live):
    portals = {code: live.run(make_portal(code, f"{code}-1")) for code in ("MIC", "MOF")}
    for code, portal in portals.items():
        for i, text in enumerate((f"{code} chậm quá", PAYLOAD if code == "MIC" else "ok")):
            token = invite(http, portal, f"{code}-{i}")["token"]
            body = {"token": token, "answers": {"overall": 2, "comment": text}}
            assert http.post("/api/v1/responses", json=body, headers=portal.auth).status_code == 201

    async def make() -> dict[str, str]:
        mic = await directory.agency_id("MIC")
        return {
            role.value: await apikeys.create(role, mic)
            for role in (Role.analyst, Role.admin, Role.researcher, Role.portal)
        }

    return live.run(make())


def get(http, key, **params):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return http.get("/api/v1/comments", params=params, headers=headers)


def test_analyst_reads_own_agency_only(http, keys):
    body = get(http, keys["analyst"]).json()
    assert {c["agency"] for c in body["comments"]} == {"MIC"}
    assert body["count"] == 2
    assert get(http, keys["analyst"], agency="MOF").status_code == 403


def test_admin_reads_every_agency(http, keys):
    body = get(http, keys["admin"]).json()
    assert {c["agency"] for c in body["comments"]} == {"MIC", "MOF"}
    assert get(http, keys["admin"], agency="MOF").json()["count"] == 2


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("researcher", 403), ("portal", 403)])
def test_others_get_nothing(http, keys, role, status):
    answer = get(http, keys[role] if role else None)
    assert answer.status_code == status
    assert "chậm" not in answer.text


def test_formulas_are_inert_in_csv(http, keys):
    answer = get(http, keys["analyst"], format="csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    texts = {row["text"] for row in rows}
    assert "'" + PAYLOAD in texts
    assert PAYLOAD not in texts
    # JSON keeps the text exactly as the citizen wrote it.
    assert PAYLOAD in {c["text"] for c in get(http, keys["analyst"]).json()["comments"]}
