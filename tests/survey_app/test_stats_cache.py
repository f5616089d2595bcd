"""The statistics cache: an identical request is answered from memory until the data
changes, whoever changes it (this server, a CLI command in another process, a deletion),
and callers of different scopes never share an answer. ``X-Cache`` says hit or miss.
"""

from __future__ import annotations

import httpx
import pytest

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.tables import Response, Role, Service
from survey_app.statistics.offload import STATE, StatsCache
from tests.conftest import survey_command
from tests.survey_app.conftest import Portal, invite, seed_statistics

TREND = "/api/v1/stats/trend"
PARAMS = {"period": "month"}
SATISFACTION = "/api/v1/stats/satisfaction"


@pytest.fixture
def seeded(live):
    seeded = live.run(seed_statistics())
    # A cache of this test's own, so no other test's answers are in it.
    offload = live.app.state[STATE]
    saved, offload.cache = offload.cache, StatsCache(8 * 1024 * 1024)
    yield seeded
    offload.cache = saved


def ask(http: httpx.Client, key: str, path: str = TREND, **params: str) -> httpx.Response:
    query = {**(PARAMS if path == TREND else {}), **params}
    got = http.get(path, params=query, headers={"Authorization": f"Bearer {key}"})
    assert got.status_code == 200, got.text
    return got


def mof(answer: httpx.Response) -> int:
    """Responses of agency MOF (published, and where this test's submissions go)."""
    return next(g["total"] for g in answer.json()["groups"] if g["group"] == "MOF")


def submit(http: httpx.Client, live, ref: str) -> None:
    mof = live.run(directory.agency_id("MOF"))
    key = live.run(apikeys.create(Role.portal, mof, "cache test portal"))
    portal = Portal(agency="MOF", service="MOF-1", key=key)
    token = invite(http, portal, ref=ref)["token"]
    done = http.post(
        "/api/v1/responses",
        json={"token": token, "answers": {"overall": 5}, "locale": "vi"},
        headers=portal.auth,
    )
    assert done.status_code == 201, done.text


def test_an_identical_request_is_a_hit_until_a_response_arrives(http, live, seeded):
    key = seeded["keys"]["researcher"]
    first = ask(http, key, SATISFACTION)
    assert first.headers["x-cache"] == "miss"
    again = ask(http, key, SATISFACTION)
    assert again.headers["x-cache"] == "hit"
    assert again.content == first.content
    # Any other parameter, format included, is another answer.
    assert ask(http, key, format="csv").headers["x-cache"] == "miss"
    assert ask(http, key, period="week").headers["x-cache"] == "miss"
    assert ask(http, key, format="csv").headers["x-cache"] == "hit"

    submit(http, live, "cache-1")
    after = ask(http, key, SATISFACTION)
    assert after.headers["x-cache"] == "miss"
    assert mof(after) == mof(first) + 1
    assert ask(http, key, SATISFACTION).headers["x-cache"] == "hit"


def test_an_invitation_alone_is_new_data(http, live, seeded):
    key = seeded["keys"]["researcher"]
    path = SATISFACTION
    ask(http, key, path)
    assert ask(http, key, path).headers["x-cache"] == "hit"
    mic = live.run(directory.agency_id("MIC"))
    portal = Portal("MIC", "MIC-1", live.run(apikeys.create(Role.portal, mic, "cache")))
    invite(http, portal, ref="cache-invitation")
    # Its count is below the disclosure threshold, so the answer may read the same; it
    # is recomputed all the same, since invitations are what response rates divide by.
    assert ask(http, key, path).headers["x-cache"] == "miss"


def test_a_rebuild_in_another_process_a_deletion_and_a_service_change_are_new_data(
    http, live, seeded, tmp_path
):
    key = seeded["keys"]["researcher"]
    first = ask(http, key, SATISFACTION)
    assert ask(http, key, SATISFACTION).headers["x-cache"] == "hit"
    env = {"DATABASE_URL": live.settings.database_url, "SURVEY_VAR_DIR": str(tmp_path)}
    rebuilt = survey_command("rollup", "rebuild", env=env)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    after = ask(http, key, SATISFACTION)
    assert after.headers["x-cache"] == "miss"
    assert mof(after) == mof(first)
    assert ask(http, key, SATISFACTION).headers["x-cache"] == "hit"

    # Deleting a response leaves the largest id where it was (when it is not the last):
    # the triggers move the version. The cells are not recounted, so only the miss shows.
    oldest = live.run(Response.select(Response.id).order_by(Response.id).first())["id"]
    live.run(Response.delete().where(Response.id == oldest))
    assert ask(http, key, SATISFACTION).headers["x-cache"] == "miss"
    # A service no longer essential: essential=true counts other responses.
    essential = ask(http, key, SATISFACTION, essential="true")
    assert ask(http, key, SATISFACTION, essential="true").headers["x-cache"] == "hit"
    live.run(Service.update({Service.essential: False}).where(Service.code == "MOF-1"))
    after = ask(http, key, SATISFACTION, essential="true")
    assert after.headers["x-cache"] == "miss"
    assert "MOF" in {g["group"] for g in essential.json()["groups"]}
    assert "MOF" not in {g["group"] for g in after.json()["groups"]}


def test_two_agency_scopes_never_share_an_answer(http, live, seeded):
    mic = live.run(directory.agency_id("MIC"))
    mof = live.run(directory.agency_id("MOF"))
    ours = live.run(apikeys.create(Role.analyst, mic, "MIC analyst"))
    theirs = live.run(apikeys.create(Role.analyst, mof, "MOF analyst"))
    assert ask(http, ours).headers["x-cache"] == "miss"
    assert ask(http, ours).headers["x-cache"] == "hit"
    assert ask(http, theirs).headers["x-cache"] == "miss"
    assert ask(http, theirs).headers["x-cache"] == "hit"


def test_the_cache_can_be_turned_off(http, live, seeded):
    live.app.state[STATE].cache = StatsCache(0)
    key = seeded["keys"]["researcher"]
    assert ask(http, key).headers["x-cache"] == "off"
    assert ask(http, key).headers["x-cache"] == "off"


def test_the_cache_keeps_within_its_bounds():
    from survey_app.statistics.render import Rendered

    cache = StatsCache(max_bytes=100, max_entries=3)
    for i in range(5):
        cache.put(i, Rendered(b"x" * 30))
    assert cache.size <= 100
    assert cache.get(0) is None
    assert cache.get(1) is None
    assert cache.get(4) is not None
    cache.put("big", Rendered(b"x" * 101))
    assert cache.get("big") is None
