"""Reads from a streaming replica: a real primary, a real hot standby, a real ``survey serve``.

Statistics and exports read on the standby are proved to come from it by pausing its
replay: answers stored on the primary meanwhile do not show in them, although the
citizen's own path sees them at once. The standby is stopped while statistics and
answers flow (nothing fails, reads move to the primary, /readyz says so) and started
again (reads come back), and a standby left behind by more than
``SURVEY_READ_MAX_LAG_S`` loses the reads until it catches up.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from piccolo.engine.postgres import PostgresEngine
from prometheus_client.parser import text_string_to_metric_families

from survey_app.db.engine import attach_replica, engine_from_url
from survey_app.db.replica import Lag, ReplicaStatus, read_source, reads_from_replica
from survey_app.lib.settings import Settings
from survey_app.server.app import create_app
from tests.conftest import migrate, run_async, survey_command
from tests.survey_app.conftest import TEST_SECRET
from tests.survey_app.processes import (
    PrivatePostgres,
    ServerProcess,
    hot_standby,
    portal_key,
    private_postgres,
)

SEEDED = 12  # answers stored before the standby is made: above the disclosure minimum
# In the replica's URL only, to prove it never reaches a log (trust auth ignores it).
REPLICA_PASSWORD = "replica-password-not-in-logs"
CHECK_S = "0.2"


@dataclass
class Pair:
    primary: PrivatePostgres
    standby: PrivatePostgres
    env: dict[str, str]
    portal: str
    admin: str

    def serve_env(self, max_lag_s: str) -> dict[str, str]:
        replica_url = self.standby.url.replace("postgres@", f"postgres:{REPLICA_PASSWORD}@")
        return {
            **self.env,
            "SURVEY_READ_DATABASE_URL": replica_url,
            "SURVEY_READ_MAX_LAG_S": max_lag_s,
            "SURVEY_READ_CHECK_S": CHECK_S,
        }


async def _sql(url: str, query: str) -> Any:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


def sql(url: str, query: str) -> Any:
    return run_async(_sql(url, query))


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def pause_replay(standby: PrivatePostgres) -> None:
    """Stop the standby replaying the primary's WAL, and wait until it has stopped."""
    sql(standby.url, "SELECT pg_wal_replay_pause()")
    wait_until(
        lambda: sql(standby.url, "SELECT pg_get_wal_replay_pause_state()") == "paused",
        10,
        "replay paused",
    )


def resume_replay(standby: PrivatePostgres) -> None:
    sql(standby.url, "SELECT pg_wal_replay_resume()")


@dataclass
class Client:
    """The survey as its callers see it: a portal that answers, an admin who reads."""

    url: str
    pair: Pair
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=20))
    refs: int = 0

    def invite(self, ref: str) -> httpx.Response:
        body = {"transaction_ref": ref, "service": "HN-1", "channel": "web"}
        auth = {"Authorization": f"Bearer {self.pair.portal}"}
        return self.http.post(f"{self.url}/api/v1/invitations", json=body, headers=auth)

    def respond(self, token: str) -> httpx.Response:
        body = {"token": token, "answers": {"overall": 4}, "locale": "vi"}
        auth = {"Authorization": f"Bearer {self.pair.portal}"}
        return self.http.post(f"{self.url}/api/v1/responses", json=body, headers=auth)

    def answer(self, prefix: str) -> str:
        """One invitation answered; its token."""
        self.refs += 1
        invited = self.invite(f"{prefix}-{self.refs}-{time.monotonic_ns()}")
        assert invited.status_code == 201, invited.text
        token = invited.json()["token"]
        answered = self.respond(token)
        assert answered.status_code == 201, answered.text
        return token

    def statistics(self, **params: Any) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.pair.admin}"}
        url = f"{self.url}/api/v1/stats/satisfaction"
        return self.http.get(url, headers=auth, params=params)

    def export(self) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.pair.admin}"}
        return self.http.get(f"{self.url}/api/v1/exports/responses.csv", headers=auth)

    def counted(self) -> int:
        """Responses behind the satisfaction statistics, as the service reads them now."""
        answer = self.statistics()
        assert answer.status_code == 200, answer.text
        return answer.json()["n_responses"]

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def metrics(self) -> dict[str, float]:
        """``/metrics`` as the admin's Prometheus reads it: each sample's value by name."""
        auth = {"Authorization": f"Bearer {self.pair.admin}"}
        answer = self.http.get(f"{self.url}/metrics", headers=auth)
        assert answer.status_code == 200, answer.text
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
        }

    def ready(self) -> dict[str, Any]:
        answer = self.http.get(f"{self.url}/readyz")
        assert answer.status_code == 200, answer.text
        return answer.json()


def stored(pair: Pair) -> int:
    return sql(pair.primary.url, "SELECT count(*) FROM response")


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[Pair]:
    """A migrated primary with an agency, a portal key and an admin key, and its standby."""
    var_dir = tmp_path_factory.mktemp("replica")
    with private_postgres() as primary:
        env = {
            "DATABASE_URL": primary.url,
            "SURVEY_VAR_DIR": str(var_dir),
            "SURVEY_SECRET": TEST_SECRET,
            "SURVEY_API_RATE_PER_SECOND": "0",
        }
        migrate(primary.url, var_dir)
        portal = portal_key(env)
        done = survey_command("key", "create", "HN", "--role", "admin", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        admin = done.stdout.split()[-1]
        with hot_standby(primary) as standby:
            yield Pair(primary, standby, env, portal, admin)


@pytest.fixture(scope="module")
def servers(pair: Pair, tmp_path_factory) -> Iterator[dict[str, tuple[ServerProcess, Client]]]:
    """``survey serve`` reading from the standby, by the lag each allows (``"30"`` and
    ``"1"`` seconds), started side by side, each with a client; the primary then holds at
    least ``SEEDED`` answers (statistics on fewer are withheld)."""
    logs = tmp_path_factory.mktemp("replica-serve")
    started = {
        lag: ServerProcess(env=pair.serve_env(lag), log_path=logs / f"lag-{lag}.log")
        for lag in ("30", "1")
    }
    try:
        with ThreadPoolExecutor(max_workers=len(started)) as pool:
            # Bounded, generously: two servers start at once on a machine that may be busy.
            list(pool.map(lambda server: server.start(timeout_s=120), started.values()))
        clients = {lag: Client(server.url, pair) for lag, server in started.items()}
        for _ in range(SEEDED - stored(pair)):
            clients["30"].answer("SEED")
        yield {lag: (started[lag], clients[lag]) for lag in started}
        for client in clients.values():
            client.http.close()
    finally:
        with ThreadPoolExecutor(max_workers=len(started)) as pool:
            list(pool.map(ServerProcess.stop, started.values()))


@pytest.fixture(scope="module")
def served(servers: dict[str, tuple[ServerProcess, Client]]) -> tuple[ServerProcess, Client]:
    """The server whose replica may lag up to 30 s."""
    return servers["30"]


def on_replica(client: Client) -> None:
    """Wait until the server reads from the replica and it has everything the primary has."""
    wait_until(lambda: client.ready().get("reads") == "replica", 30, "reads on the replica")
    wait_until(lambda: client.counted() == stored(client.pair), 30, "the replica caught up")


@pytest.mark.slow  # private clusters, real server processes
@pytest.mark.postgres
def test_statistics_come_from_the_standby_and_never_from_its_cache_after_a_fallback(
    pair: Pair, served: tuple[ServerProcess, Client]
):
    server, client = served
    on_replica(client)
    before = stored(pair)
    ready = client.ready()
    assert (ready["status"], ready["reads"], ready["replica"], ready["fallback"]) == (
        "ok",
        "replica",
        "ok",
        False,
    )
    assert ready["replica_lag_s"] <= 30

    pause_replay(pair.standby)
    try:
        tokens = [client.answer("PAUSED") for _ in range(3)]
        # The citizen's and the portal's paths read the primary: they see their own writes.
        assert client.respond(tokens[0]).status_code == 409
        again = client.invite("PAUSED-AGAIN")
        assert again.status_code == 201
        assert client.invite("PAUSED-AGAIN").json()["token"] == again.json()["token"]
        assert stored(pair) == before + 3
        # The statistics read the standby, frozen before those answers: its data version
        # (the cached answer stands) and its count tables (a question not asked before).
        cached, fresh = client.statistics(), client.statistics(target="0.9")
        assert (cached.headers["x-cache"], cached.json()["n_responses"]) == ("hit", before)
        assert (fresh.headers["x-cache"], fresh.json()["n_responses"]) == ("miss", before)
        # So does the microdata export, while its audit entry is written on the primary.
        exported = client.export()
        assert exported.status_code == 200, exported.text
        assert len(exported.text.splitlines()) == 1 + before
        audited = "SELECT row_count FROM audit_entry ORDER BY id DESC LIMIT 1"
        assert sql(pair.primary.url, audited) == before
        assert client.ready()["reads"] == "replica"

        # The standby goes away: the next statistics come from the primary, not the cache.
        pair.standby.stop()
        after = client.statistics()
        assert after.status_code == 200, after.text
        assert after.json()["n_responses"] == before + 3
        assert after.headers["x-cache"] != "hit"
        ready = client.ready()
        assert (ready["status"], ready["reads"], ready["replica"], ready["fallback"]) == (
            "ok",
            "primary",
            "unreachable",
            True,
        )
        assert ready["fallbacks"] >= 1
    finally:
        if not (pair.standby.data / "postmaster.pid").exists():
            pair.standby.start()
        resume_replay(pair.standby)

    # Back: it replays what it missed and takes the reads again.
    on_replica(client)
    assert client.counted() == before + 3
    log = server.output()
    assert f"replica postgresql://postgres:***@127.0.0.1:{pair.standby.port}" in log
    assert "reads go to the replica" in log
    assert REPLICA_PASSWORD not in log


@dataclass
class Load:
    """Statistics read in one thread and answers sent in another, every status kept."""

    client_url: str
    pair: Pair
    stop: threading.Event = field(default_factory=threading.Event)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    answered: int = 0

    def reader(self) -> None:
        with Client(self.client_url, self.pair) as client:
            self.read(client)

    def read(self, client: Client) -> None:
        while not self.stop.is_set():
            try:
                answer = client.statistics()
            except httpx.TransportError as error:
                self.failures.append(f"statistics: {error!r}")
                continue
            self.statuses[("statistics", answer.status_code)] += 1
            if answer.status_code != 200:
                self.failures.append(f"statistics {answer.status_code}: {answer.text[:200]}")

    def writer(self) -> None:
        with Client(self.client_url, self.pair) as client:
            self.write(client)

    def write(self, client: Client) -> None:
        while not self.stop.is_set():
            try:
                client.answer("LOAD")
            except (AssertionError, httpx.TransportError) as error:
                self.failures.append(f"answer: {error!r}"[:300])
                continue
            self.answered += 1

    def __enter__(self) -> Load:
        self.threads = [
            threading.Thread(target=self.reader, daemon=True),
            threading.Thread(target=self.writer, daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.mark.slow  # private clusters, real server processes
@pytest.mark.postgres
def test_standby_stopped_under_load_moves_reads_to_the_primary_and_back(
    pair: Pair, served: tuple[ServerProcess, Client]
):
    server, client = served
    on_replica(client)
    fallbacks = client.ready()["fallbacks"]
    fell_back = client.metrics().get("survey_read_primary_fallbacks_total", 0.0)
    with Load(server.url, pair) as load:
        wait_until(lambda: load.statuses[("statistics", 200)] >= 10, 30, "statistics read")
        pair.standby.stop()
        wait_until(lambda: client.ready()["reads"] == "primary", 30, "reads on the primary")
        down = client.ready()
        seen_down = load.statuses[("statistics", 200)]
        wait_until(
            lambda: load.statuses[("statistics", 200)] >= seen_down + 10, 30, "reads while down"
        )
        # The operator's view: the requests the primary answered in the replica's place.
        assert client.metrics()["survey_read_primary_fallbacks_total"] >= fell_back + 10
        pair.standby.start()
        wait_until(lambda: client.ready()["reads"] == "replica", 30, "reads on the replica again")
        seen_up = load.statuses[("statistics", 200)]
        wait_until(
            lambda: load.statuses[("statistics", 200)] >= seen_up + 10, 30, "reads once back"
        )
    assert not load.failures, load.failures[:5]
    assert load.answered > 0
    assert (down["status"], down["replica"], down["fallback"]) == ("ok", "unreachable", True)
    assert client.ready()["fallbacks"] > fallbacks
    lag = client.metrics()["survey_replica_lag_seconds"]
    assert 0 <= lag <= float(CHECK_S) * 10, lag
    # The replica serves the statistics again: pause it and they stop moving.
    on_replica(client)
    before = stored(pair)
    pause_replay(pair.standby)
    try:
        client.answer("BACK")
        assert client.counted() == before
    finally:
        resume_replay(pair.standby)
    on_replica(client)
    log = server.output()
    assert "Traceback" not in log
    assert "unhandled error" not in log
    # The start-up banner names the replica, without its password.
    assert "Statistics read from: postgresql://postgres:***@127.0.0.1:" in log
    assert REPLICA_PASSWORD not in log


COUNT = 'SELECT count(*) AS n FROM "response"'


@pytest.mark.slow  # private clusters
@pytest.mark.postgres
def test_a_read_that_fails_on_the_replica_mid_request_is_answered_by_the_primary(pair: Pair):
    """A request reading from the replica when it goes away, before any check notices: its
    next read fails there, is run on the primary, and the replica is marked down."""

    async def request_across_the_stop() -> tuple[int, int, str, ReplicaStatus]:
        engine = engine_from_url(pair.primary.url)
        assert isinstance(engine, PostgresEngine)
        # No check between the stop and the read: they are a minute apart.
        replica = attach_replica(engine, pair.standby.url, max_lag_s=30, check_s=60)
        await engine.start_connection_pool()
        try:
            await replica.start(engine)
            assert replica.status().reads == "replica"
            await reads_from_replica(None)  # what the statistics routes do first
            before = (await engine.run_ddl(COUNT))[0]["n"]
            assert read_source() == "replica"
            await asyncio.to_thread(pair.standby.stop)
            after = (await engine.run_ddl(COUNT))[0]["n"]
            return before, after, read_source(), replica.status()
        finally:
            await replica.stop()
            await engine.close_connection_pool()

    try:
        before, after, source, status = run_async(request_across_the_stop())
    finally:
        pair.standby.start()
    assert before <= after == stored(pair)
    assert (source, status.reads, status.state, status.fallbacks) == (
        "primary",
        "primary",
        "unreachable",
        1,
    )


@pytest.mark.slow  # private clusters, real server processes
@pytest.mark.postgres
def test_a_standby_lagging_beyond_the_bound_loses_the_reads_until_it_catches_up(
    pair: Pair, servers: dict[str, tuple[ServerProcess, Client]]
):
    server, client = servers["1"]
    logged = server.output().count(" lagging: ")
    on_replica(client)
    client.statistics()  # an answer from the replica, cached
    pause_replay(pair.standby)
    try:
        client.answer("LAG")
        # The first check more than a second after that answer finds the replica behind.
        wait_until(lambda: client.ready()["replica"] == "lagging", 30, "lag seen")
        ready = client.ready()
        assert (ready["status"], ready["reads"], ready["fallback"]) == ("ok", "primary", True)
        assert ready["replica_lag_s"] > 1
        assert client.counted() == stored(pair)
    finally:
        resume_replay(pair.standby)
    on_replica(client)
    ready = client.ready()
    assert (ready["replica"], ready["fallback"], ready["replica_lag_s"] <= 1) == (
        "ok",
        False,
        True,
    )
    assert server.output().count(" lagging: ") > logged


def test_a_replica_needs_postgresql_on_both_sides(tmp_path: Path):
    base = {"SURVEY_VAR_DIR": str(tmp_path), "SURVEY_SECRET": TEST_SECRET}
    postgres = {**base, "DATABASE_URL": "postgresql://p@127.0.0.1:1/x"}
    replica = {"SURVEY_READ_DATABASE_URL": "postgresql://r@127.0.0.1:2/x"}
    settings = Settings.from_env({**postgres, **replica, "SURVEY_READ_MAX_LAG_S": "2.5"})
    assert (settings.read_database_url, settings.read_max_lag_s) == (
        "postgresql://r@127.0.0.1:2/x",
        2.5,
    )
    assert "r@127.0.0.1" not in repr(settings)
    assert Settings.from_env(postgres).read_database_url is None
    refused = {
        "needs a PostgreSQL primary": {**base, **replica},  # the SQLite default
        "must be a postgresql://": {**postgres, "SURVEY_READ_DATABASE_URL": "sqlite:///c.db"},
        "SURVEY_READ_MAX_LAG_S must be a number of seconds above 0": {
            **postgres,
            **replica,
            "SURVEY_READ_MAX_LAG_S": "-1",
        },
        "SURVEY_READ_CHECK_S must be a number of seconds above 0": {
            **postgres,
            "SURVEY_READ_CHECK_S": "often",
        },
    }
    for message, env in refused.items():
        with pytest.raises(ValueError, match=message):
            Settings.from_env(env)


def test_lag_is_the_time_since_the_primary_was_where_the_replica_is():
    """An idle primary: the replica is caught up however old its last replayed commit is.
    Behind: the age of the newest sample of the primary's position the replica reached."""
    lag = Lag()
    day = 86_400.0
    assert lag.measure(100.0, (99.0, 5000), replayed=5000, replay_age_s=day) == 0
    assert lag.measure(105.0, (104.0, 7000), replayed=5000, replay_age_s=1.0) == 105.0 - 99.0
    assert lag.measure(110.0, (109.0, 9000), replayed=7000, replay_age_s=1.0) == 110.0 - 104.0
    # However long since the replica reached a sample.
    assert lag.measure(960.0, (959.0, 9500), replayed=7000, replay_age_s=1.0) == 960.0 - 104.0
    # No sample reached (a replica behind since before the first check): at least as old
    # as the oldest sample, or as its last replayed commit if that is older.
    fresh = Lag()
    assert fresh.measure(50.0, (49.0, 9000), replayed=100, replay_age_s=None) == 1.0
    assert fresh.measure(51.0, (50.5, 9100), replayed=100, replay_age_s=40.0) == 40.0

    # Past max_samples the oldest go: the lag is at least the age of the oldest kept.
    bounded = Lag(max_samples=2)
    for second in range(10):
        bounded.measure(float(second), (float(second), 100 + second), replayed=0, replay_age_s=None)
    assert bounded.measure(20.0, (20.0, 500), replayed=0, replay_age_s=None) == 20.0 - 9.0


# The routes that may read a moment behind; every other one reads the primary.
REPLICA_ROUTES = {
    "/api/v1/stats/satisfaction",
    "/api/v1/stats/league",
    "/api/v1/stats/reasons",
    "/api/v1/stats/trend",
    "/api/v1/stats/drivers",
    "/api/v1/exports/responses.csv",
    "/api/v1/exports/responses.parquet",
    "/api/v1/exports/dictionary.json",
    "/api/v1/comments",
    "/dashboard",
    "/charts/{name:str}",
    "/public",
    "/public/data/{name:str}",
}


def test_only_the_statistics_pages_exports_and_comments_read_from_the_replica(tmp_path: Path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.sqlite'}", secret="x"))
    marked = {
        route.path
        for route in app.routes
        for handler in getattr(route, "route_handlers", None) or [route.route_handler]
        if getattr(handler, "resolve_before_request", lambda: None)() is reads_from_replica
    }
    assert marked == REPLICA_ROUTES
