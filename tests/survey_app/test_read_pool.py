"""Reads outside transactions on long-lived connections, on each engine.

SQLite reads go through the engine's pool of open connections (``survey_app.db.read_pool``);
PostgreSQL reads through the asyncpg pool with its per-connection statement cache. Either
way a read must see every commit made before it, by any connection or process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator

import asyncpg
import pytest
from litestar.testing import TestClient
from piccolo.engine.postgres import PostgresEngine
from piccolo.querystring import QueryString

from survey_app.auth import apikeys
from survey_app.db.engine import (
    PooledSQLiteEngine,
    bind_tables,
    engine_from_url,
    read_by_key,
    sqlite_path,
)
from survey_app.db.read_pool import READ_POOL_SIZE
from survey_app.db.tables import ALL_TABLES, Agency, AgencyKind
from survey_app.lib.settings import Settings
from survey_app.server.app import create_app
from tests.conftest import migrate, run_async, survey_command

TEST_SECRET = "read-pool-test-secret"


@pytest.fixture
def rebound() -> Iterator[None]:
    """Give the tables back to whichever engine had them (the session's live server)."""
    engines = [table._meta.db for table in ALL_TABLES]
    yield
    for table, engine in zip(ALL_TABLES, engines, strict=True):
        table._meta.db = engine


def code() -> str:
    return "RP" + secrets.token_hex(6)


async def names(engine, agency_code: str) -> list[str]:
    rows = await engine.run_querystring(
        QueryString("SELECT name FROM agency WHERE code = {}", agency_code)
    )
    return [row["name"] for row in rows]


async def write_elsewhere(url: str, sql: str, *args: object) -> None:
    """A commit by a connection the engine knows nothing of."""
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as other:
            other.execute(sql.replace("$1", "?").replace("$2", "?"), args)
        return
    other = await asyncpg.connect(url)
    try:
        await other.execute(sql, *args)
    finally:
        await other.close()


def test_reads_see_every_commit_at_once(database_url, tmp_path):
    agency = code()

    async def scenario() -> None:
        engine = engine_from_url(database_url)
        if isinstance(engine, PostgresEngine):
            await engine.start_connection_pool(min_size=1, max_size=1)
        try:
            assert await names(engine, agency) == []
            if isinstance(engine, PooledSQLiteEngine):
                # The read above left its connection open for the next one.
                assert engine.read_pool.idle == 1
            env = {"DATABASE_URL": database_url, "SURVEY_VAR_DIR": str(tmp_path)}
            args = ("agency", "add", agency, "--kind", "ministry", "--name", "First")
            done = await asyncio.to_thread(survey_command, *args, env=env)
            assert done.returncode == 0, done.stdout + done.stderr
            for name in ("Second", "Third"):
                await write_elsewhere(
                    database_url, "UPDATE agency SET name = $1 WHERE code = $2", name, agency
                )
                # The same pooled connection, with no snapshot kept from the read before.
                assert await names(engine, agency) == [name]
            await write_elsewhere(database_url, "DELETE FROM agency WHERE code = $1", agency)
            assert await names(engine, agency) == []
        finally:
            if isinstance(engine, PostgresEngine):
                await engine.close_connection_pool()
            await close(engine)

    run_async(scenario())


async def close(engine) -> None:
    if isinstance(engine, PooledSQLiteEngine):
        engine.read_pool.close()


def test_writes_outside_a_transaction_persist(database_url, rebound):
    agency = code()

    async def scenario() -> list[str]:
        engine = engine_from_url(database_url)
        bind_tables(engine, ALL_TABLES)
        await Agency.select(Agency.id).where(Agency.code == agency)  # warm the pool
        await Agency.insert(Agency(code=agency, kind=AgencyKind.ministry.value, name="A"))
        await Agency.update({Agency.name: "B"}).where(Agency.code == agency)
        read = await Agency.select(Agency.name).where(Agency.code == agency)
        await close(engine)
        return [row["name"] for row in read]

    assert run_async(scenario()) == ["B"]
    # A new engine (a new process would do the same) finds what the first one wrote.
    other = engine_from_url(database_url)
    assert run_async(reading(other, agency)) == ["B"]

    async def delete() -> None:
        engine = engine_from_url(database_url)
        bind_tables(engine, ALL_TABLES)
        await Agency.delete().where(Agency.code == agency)
        await close(engine)

    run_async(delete())
    assert run_async(reading(engine_from_url(database_url), agency)) == []


async def reading(engine, agency: str) -> list[str]:
    try:
        return await names(engine, agency)
    finally:
        await close(engine)


def test_one_pool_serves_several_event_loops(database_url):
    engine = engine_from_url(database_url)
    if not isinstance(engine, PooledSQLiteEngine):
        pytest.skip("the asyncpg pool belongs to the loop that started it")
    agency = code()
    run_async(write_elsewhere(database_url, INSERT, agency, "Shared"))
    try:
        # One loop after another: the second reuses the first's connection.
        assert asyncio.run(names(engine, agency)) == ["Shared"]
        assert asyncio.run(names(engine, agency)) == ["Shared"]
        assert engine.read_pool.idle == 1
        # Loops in several threads at once, more readers than pooled connections.
        found: list[list[str]] = []

        async def readers() -> None:
            results = await asyncio.gather(*(names(engine, agency) for _ in range(10)))
            found.extend(results)

        threads = [threading.Thread(target=asyncio.run, args=(readers(),)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert found == [["Shared"]] * 30
        assert 1 <= engine.read_pool.idle <= READ_POOL_SIZE
    finally:
        engine.read_pool.close()
        run_async(write_elsewhere(database_url, "DELETE FROM agency WHERE code = $1", agency))
    assert engine.read_pool.idle == 0


INSERT = (
    "INSERT INTO agency (code, kind, name, names, created_at, frame_origins) "
    "VALUES ($1, 'ministry', $2, '{}', CURRENT_TIMESTAMP, '')"
)


def test_a_forked_child_opens_its_own_connections(database_url, tmp_path):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's pool only")
    # A database of its own: a child forked while this process (the session's live server)
    # has the shared database open would inherit SQLite's view of that file's locks and
    # shared-memory index, which SQLite forbids (https://sqlite.org/howtocorrupt.html,
    # 2.6), and could damage it for every later test.
    database_url = f"sqlite:///{tmp_path / 'forked.sqlite'}"
    migrate(database_url, tmp_path)
    engine = engine_from_url(database_url)
    assert isinstance(engine, PooledSQLiteEngine)
    agency = code()
    run_async(write_elsewhere(database_url, INSERT, agency, "Forked"))
    try:
        assert asyncio.run(names(engine, agency)) == ["Forked"]
        inherited = list(engine.read_pool._idle)
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child reports through its exit status)
            try:
                ok = asyncio.run(names(engine, agency)) == ["Forked"]
                ok = ok and not any(c in engine.read_pool._idle for c in inherited)
            except BaseException:
                ok = False
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # The parent's connection still works: the child closed nothing of it.
        assert asyncio.run(names(engine, agency)) == ["Forked"]
        assert engine.read_pool._idle == inherited
    finally:
        engine.read_pool.close()
        run_async(write_elsewhere(database_url, "DELETE FROM agency WHERE code = $1", agency))


def test_the_app_reads_on_its_pool_and_closes_it_on_shutdown(database_url, rebound):
    settings = Settings(database_url=database_url, secret=TEST_SECRET, api_rate_per_second=0)
    for _ in range(2):  # two apps, one after the other in one process, each on its own loop
        app = create_app(settings)
        engine = app.state["ctx"].engine
        agency = code()
        with TestClient(app) as client:
            key = client.blocking_portal.call(portal_key, agency)
            answer = client.get(
                "/api/v1/questionnaires/public-service-satisfaction",
                headers={"Authorization": f"Bearer {key}"},
            )
            assert answer.status_code == 200, answer.text
            if isinstance(engine, PooledSQLiteEngine):
                assert engine.read_pool.idle >= 1
                # This thread's own loop borrows the app loop's connections meanwhile.
                assert asyncio.run(names(engine, agency)) == ["Pool"]
                pooled = list(engine.read_pool._idle)
        if isinstance(engine, PooledSQLiteEngine):
            assert engine.read_pool.idle == 0
            for connection in pooled:
                with pytest.raises(sqlite3.ProgrammingError, match="closed"):
                    connection.execute("SELECT 1")


async def portal_key(agency: str) -> str:
    from survey_app.agencies import directory
    from survey_app.db.tables import Role

    agency_id = await directory.add_agency(agency, AgencyKind.ministry, "Pool", {})
    return await apikeys.create(Role.portal, agency_id)


@pytest.mark.postgres
def test_postgres_reuses_prepared_statements(database_url, rebound):
    engine = engine_from_url(database_url)
    if not isinstance(engine, PostgresEngine):
        pytest.skip("PostgreSQL's statement cache")

    async def scenario() -> int:
        # One connection, so every query below meets the statements of the others.
        await engine.start_connection_pool(min_size=1, max_size=1)
        bind_tables(engine, ALL_TABLES)
        engine.register.seconds = 0  # every look-up reaches the database
        try:
            for _ in range(3):
                assert await apikeys.authenticate("svk_" + secrets.token_urlsafe(32)) is None
            rows = await engine.run_querystring(
                QueryString(
                    "SELECT count(*) AS n FROM pg_prepared_statements "
                    "WHERE statement LIKE {} AND statement LIKE {}",
                    '%FROM "api_key"%',
                    '%"key_hash"%',
                )
            )
            return rows[0]["n"]
        finally:
            await engine.close_connection_pool()

    # asyncpg prepares a statement once per connection and names it; without its cache
    # (or with a connection per query) PostgreSQL would list none.
    assert run_async(scenario()) == 1


def test_transactions_keep_their_own_connection(database_url, rebound):
    agency = code()

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        engine = engine_from_url(database_url)
        bind_tables(engine, ALL_TABLES)
        if isinstance(engine, PostgresEngine):
            await engine.start_connection_pool(min_size=2, max_size=2)
        try:
            async with engine.transaction():
                await Agency.insert(Agency(code=agency, kind=AgencyKind.ministry.value, name="T"))
                inside = await names(engine, agency)
                # Another task reads outside the transaction: nothing uncommitted.
                outside = await asyncio.create_task(outside_transaction(engine, agency))
            after = await names(engine, agency)
            await Agency.delete().where(Agency.code == agency)
            return inside, outside, after
        finally:
            if isinstance(engine, PostgresEngine):
                await engine.close_connection_pool()
            await close(engine)

    assert run_async(scenario()) == (["T"], [], ["T"])


async def outside_transaction(engine, agency: str) -> list[str]:
    engine.current_transaction.set(None)
    return await names(engine, agency)


def test_a_cancelled_read_leaves_the_pool_sound(database_url):
    engine = engine_from_url(database_url)
    if not isinstance(engine, PooledSQLiteEngine):
        pytest.skip("SQLite's pool only")
    agency = code()
    run_async(write_elsewhere(database_url, INSERT, agency, "Kept"))

    async def scenario() -> list[list[str]]:
        for _ in range(20):
            task = asyncio.create_task(names(engine, agency))
            await asyncio.sleep(0)
            task.cancel()
        return await asyncio.gather(*(names(engine, agency) for _ in range(20)))

    try:
        assert run_async(scenario()) == [["Kept"]] * 20
        assert engine.read_pool.idle <= READ_POOL_SIZE
    finally:
        engine.read_pool.close()
        run_async(write_elsewhere(database_url, "DELETE FROM agency WHERE code = $1", agency))


BY_CODE = "SELECT name FROM agency WHERE code = {}"


def test_a_lookup_by_key_reads_on_the_calling_thread_and_never_waits(tmp_path):
    """``read_by_key`` on SQLite: on the loop's own thread when it can read at once, through
    the pool when SQLite would have to wait, which it never does on the calling thread."""
    database_url = f"sqlite:///{tmp_path / 'at-once.sqlite'}"
    migrate(database_url, tmp_path)
    engine = engine_from_url(database_url)
    assert isinstance(engine, PooledSQLiteEngine)
    agency = code()
    path = sqlite_path(database_url)
    # A rollback journal (no WAL): a writer's exclusive lock keeps every reader out.
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=DELETE")
    try:
        assert asyncio.run(read_by_key(engine, BY_CODE, agency)) == []
        run_async(write_elsewhere(database_url, INSERT, agency, "At once"))
        assert asyncio.run(read_by_key(engine, BY_CODE, agency)) == [{"name": "At once"}]
        assert engine.read_pool.idle == 0  # the pool was never asked

        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("UPDATE agency SET name = 'Changed' WHERE code = ?", (agency,))
        assert engine.read_pool.fetch_at_once("SELECT name FROM agency", []) is None

        async def read_while_locked() -> list[dict[str, object]]:
            reading = asyncio.create_task(read_by_key(engine, BY_CODE, agency))
            await asyncio.sleep(0.3)
            # The loop kept running while the read waited in a pooled connection's thread.
            assert not reading.done()
            writer.execute("COMMIT")
            return await asyncio.wait_for(reading, timeout=30)

        assert asyncio.run(read_while_locked()) == [{"name": "Changed"}]
        assert engine.read_pool.idle == 1
        writer.close()
    finally:
        engine.read_pool.close()
        run_async(write_elsewhere(database_url, "DELETE FROM agency WHERE code = $1", agency))


def test_a_forked_child_reads_by_key_on_a_connection_of_its_own(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'forked-at-once.sqlite'}"  # see the fork test above
    migrate(database_url, tmp_path)
    engine = engine_from_url(database_url)
    assert isinstance(engine, PooledSQLiteEngine)
    agency = code()
    run_async(write_elsewhere(database_url, INSERT, agency, "Forked"))
    try:
        assert asyncio.run(read_by_key(engine, BY_CODE, agency)) == [{"name": "Forked"}]
        parents = engine.read_pool._at_once
        assert parents is not None
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child reports through its exit status)
            try:
                rows = asyncio.run(read_by_key(engine, BY_CODE, agency))
                ok = rows == [{"name": "Forked"}] and engine.read_pool._at_once is not parents
            except BaseException:
                ok = False
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert asyncio.run(read_by_key(engine, BY_CODE, agency)) == [{"name": "Forked"}]
        assert engine.read_pool._at_once is parents
    finally:
        engine.read_pool.close()
        run_async(write_elsewhere(database_url, "DELETE FROM agency WHERE code = $1", agency))
