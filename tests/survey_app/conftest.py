"""A live server (uvicorn on a real socket) per engine, and a clean database per test."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import threading
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
import redis
import uvicorn
from litestar import Litestar

from questionnaires import REASON_CODES
from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.bulk import Synthetic, insert_responses
from survey_app.db.tables import (
    CELL_TABLES,
    Agency,
    AgencyKind,
    ApiKey,
    Comment,
    Invitation,
    Response,
    ResponseReason,
    Role,
    Service,
    StaffRole,
)
from survey_app.lib.settings import Settings, parse_networks
from survey_app.server.app import create_app
from tests.conftest import IN_CI, migrate

T = TypeVar("T")
TEST_SECRET = "test-secret-not-for-production"
REDIS_URL = os.environ.get("SURVEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def served_database(tmp_path_factory) -> dict[str, str]:
    """A migrated SQLite database, as the environment of ``survey serve`` processes that a
    module's tests start themselves (with limits of their own, unlike ``server``)."""
    var_dir = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{var_dir / 'survey.sqlite'}"
    migrate(url, var_dir)
    return {"DATABASE_URL": url, "SURVEY_VAR_DIR": str(var_dir), "SURVEY_SECRET": "rate-test"}


@pytest.fixture
def redis_url() -> str:
    """The test Redis; a failure under CI=true, else the test is skipped without one."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        message = f"Redis not reachable at {REDIS_URL} ({error})"
        if IN_CI:
            pytest.fail(message + "; under CI=true this test must run")
        pytest.skip(message + "; shared-store test skipped")
    return REDIS_URL


@dataclass
class LiveServer:
    url: str
    settings: Settings
    loop: asyncio.AbstractEventLoop
    app: Litestar

    def run(self, work: Awaitable[T]) -> T:
        """Run database work on the server's own loop (its connection pool lives there)."""

        async def wrapped() -> T:
            return await work

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout=60)


@pytest.fixture(scope="session")
def server(database_url: str) -> Iterator[LiveServer]:
    # Every test speaks from 127.0.0.1: exempt it, as a one-stop counter would be, and give
    # the API a budget no test reaches. tests/survey_app/test_rate_limits.py runs its own servers.
    settings = Settings(
        database_url=database_url,
        secret=TEST_SECRET,
        rate_limit_exempt=parse_networks("127.0.0.1"),
        api_rate_per_second=10_000,
    )
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(uv.serve(),), daemon=True)
    thread.start()
    for _ in range(300):
        if uv.started or not thread.is_alive():
            break
        threading.Event().wait(0.05)
    assert uv.started, "the test server did not start"
    port = uv.servers[0].sockets[0].getsockname()[1]
    yield LiveServer(url=f"http://127.0.0.1:{port}", settings=settings, loop=loop, app=app)
    uv.should_exit = True
    thread.join(timeout=30)
    loop.close()


async def _wipe() -> None:
    for table in (
        StaffRole,
        *CELL_TABLES,
        Comment,
        ResponseReason,
        Response,
        Invitation,
        ApiKey,
        Service,
        Agency,
    ):
        await table.delete(force=True)


@pytest.fixture
def live(server: LiveServer) -> LiveServer:
    """The live server, with no agencies, invitations or responses left from other tests."""
    server.run(_wipe())
    return server


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30, follow_redirects=False) as client:
        yield client


@dataclass(frozen=True)
class Portal:
    agency: str
    service: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_portal(agency: str, service: str) -> Portal:
    agency_id = await directory.add_agency(
        agency, AgencyKind.ministry, f"Bộ {agency}", {"en": f"Ministry {agency}"}
    )
    await directory.add_service(service, agency, f"Dịch vụ {service}", {"en": service}, True)
    key = await apikeys.create(Role.portal, agency_id, "test portal")
    return Portal(agency=agency, service=service, key=key)


@pytest.fixture
def portal(live: LiveServer) -> Portal:
    """Agency MIC with service MIC-1 and a portal key."""
    return live.run(make_portal("MIC", "MIC-1"))


def invite(http: httpx.Client, portal: Portal, ref: str = "T-1", **extra: Any) -> dict:
    body = {"transaction_ref": ref, "service": portal.service, "channel": "web", **extra}
    answer = http.post("/api/v1/invitations", json=body, headers=portal.auth)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


REASONS = list(REASON_CODES)
SIZES = {"MIC": 90, "MOF": 120, "TINY": 6}
RATE = {"MIC": 0.70, "MOF": 0.90, "TINY": 0.5}


async def seed_statistics() -> dict:
    rng = random.Random(42)
    keys: dict[str, str] = {}
    records: list[tuple[str, str, Synthetic]] = []
    for agency, size in SIZES.items():
        agency_id = await directory.add_agency(agency, AgencyKind.ministry, agency, {})
        service_id = await directory.add_service(f"{agency}-1", agency, "S", {}, True)
        for i in range(size):
            satisfied = rng.random() < RATE[agency]
            overall = rng.choice([4, 5]) if satisfied else rng.choice([1, 2, 3])
            reasons = tuple(sorted(rng.sample(REASONS, rng.choice([1, 2])))) if overall <= 3 else ()
            day = dt.datetime(2026, 1 + i % 3, 1 + i % 27, 10, tzinfo=dt.UTC)
            channel = "web" if i % 4 else "mobile"
            records.append(
                (
                    agency,
                    channel,
                    Synthetic(agency_id, service_id, channel, "vi", day, overall, reasons),
                )
            )
    await insert_responses([r for _, _, r in records])
    mic = await directory.agency_id("MIC")
    for role in (Role.researcher, Role.analyst, Role.portal, Role.admin):
        keys[role.value] = await apikeys.create(role, mic)
    return {"keys": keys, "records": records}
