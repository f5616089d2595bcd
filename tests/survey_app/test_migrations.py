"""A database made by main before the restructuring migrates and serves with today's code.

``fixtures/main-before-restructure.*.sql`` are dumps of databases created by
the code of commit 0e20498 (``fixtures/make_dumps.sh`` rebuilds them): its
migrations applied, demo agencies and 120 responses, an admin login, an open
invitation and a comment. Piccolo records migrations by app name and id, so
moving the migrations folder must re-run nothing; the frozen migration that
fills the statistics cells must fill exactly what ``survey rollup rebuild``
computes.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import secrets
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from piccolo.engine.postgres import PostgresEngine

from survey_app.db.engine import engine_from_url
from tests.conftest import (
    IN_CI,
    POSTGRES_ADMIN_URL,
    _admin,
    postgres_problem,
    run_async,
    survey_command,
    with_database,
)
from tests.survey_app.processes import server_process

# Each test starts `survey` processes (migrate, serve, rollup rebuild).
pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
MIGRATIONS = Path(__file__).resolve().parents[2] / "survey_app" / "db" / "piccolo_migrations"
OLD_PASSWORD = "old-main-password"  # of the fixture's admin "olduser"
OLD_RESPONSES = 120
CELL_TABLES = {
    "response_cell": "day, agency, service, channel, locale, rating, reasons, responses",
    "monthly_rating": "month, agency, service, rating, responses",
    "monthly_reason": "month, agency, service, reason, responses",
}


def load_dump(url: str, engine: str) -> None:
    dump = (FIXTURES / f"main-before-restructure.{engine}.sql").read_text(encoding="utf-8")
    if engine == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            connection.executescript(dump)
        return

    async def restore() -> None:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            await connection.execute(dump)
        finally:
            await connection.close()

    run_async(restore())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_database(request, tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    """A database as main left it, and the environment that names it."""
    env = {"SURVEY_VAR_DIR": str(tmp_path), "SURVEY_SECRET": "fixture-secret"}
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite'}"
        load_dump(url, "sqlite")
        yield url, {**env, "DATABASE_URL": url}
        return
    problem = postgres_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL not reachable ({problem}); under CI=true it must be")
        pytest.skip(f"PostgreSQL not reachable ({problem})")
    name = f"survey_old_{secrets.token_hex(4)}"
    run_async(_admin(f'CREATE DATABASE "{name}"'))
    url = with_database(POSTGRES_ADMIN_URL, name)
    try:
        load_dump(url, "postgres")
        yield url, {**env, "DATABASE_URL": url}
    finally:
        run_async(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def query(url: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` through a Piccolo engine of the test's own (no table is rebound)."""
    engine = engine_from_url(url)

    async def run() -> list[tuple]:
        if isinstance(engine, PostgresEngine):
            await engine.start_connection_pool()
        try:
            return [tuple(row.values()) for row in await engine.run_ddl(sql)]
        finally:
            if isinstance(engine, PostgresEngine):
                await engine.close_connection_pool()

    return run_async(run())


def migration_ids() -> set[str]:
    ids = set()
    for path in MIGRATIONS.glob("survey_*.py"):
        ids.add(re.search(r'^ID = "([^"]+)"', path.read_text(), re.M).group(1))
    return ids


def test_old_database_migrates_without_rerunning_and_serves(old_database, tmp_path):
    url, env = old_database
    recorded = "SELECT name, app_name FROM migration ORDER BY id"
    before = query(url, recorded)
    # Today's migrations are the ones main recorded: same app name, same ids.
    # Main's migrations are all still here (same app name, same ids); newer ones may follow.
    main_ids = {name for name, app in before if app == "survey"}
    assert main_ids <= migration_ids()

    done = survey_command("migrate", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    after = query(url, recorded)
    assert after[: len(before)] == before, "a migration ran again after the move"
    assert {name for name, _ in after[len(before) :]} == migration_ids() - main_ids

    with (
        server_process(env, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=30, follow_redirects=False) as http,
    ):
        assert http.get("/readyz").json() == {"status": "ok", "database": "ok"}
        # The open invitation main issued is still answerable, with today's code.
        (token,) = query(url, "SELECT token FROM invitation WHERE answered_at IS NULL")[0]
        page = http.get(f"/s/{token}?lang=en")
        assert page.status_code == 200, page.text
        assert 'name="overall"' in page.text
        assert http.post(f"/s/{token}?lang=en", data={"overall": "2"}).status_code == 303
        # The admin main created logs in; its session opens the statistics.
        login = http.get("/login")
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', login.text).group(1)
        answer = http.post(
            "/login",
            data={"username": "olduser", "password": OLD_PASSWORD, "_csrf_token": csrf},
        )
        assert answer.status_code == 303, answer.text
        # By quarter no period is small, so none is withheld: every response is counted.
        stats = http.get("/api/v1/stats/trend", params={"period": "quarter"})
        assert stats.status_code == 200, stats.text
        assert stats.json()["disclosure"]["withheld_rows"] == 0
        assert stats.json()["n_responses"] == OLD_RESPONSES + 1
        comments = http.get("/api/v1/comments").json()
        assert [c["text"] for c in comments["comments"]] == ["written before the move"]
    assert "Traceback" not in server.output()


def frozen_fill():
    """``fill`` of the migration that filled the cells, loaded as Piccolo loads it."""
    (path,) = MIGRATIONS.glob("survey_2026_11_25t01_08_00_000000.py")
    spec = importlib.util.spec_from_file_location("frozen_fill_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fill


def cells(url: str) -> dict[str, list[tuple]]:
    return {
        table: sorted(
            tuple(str(value) for value in row)
            for row in query(url, f"SELECT {columns} FROM {table}")
        )
        for table, columns in CELL_TABLES.items()
    }


def test_frozen_cell_migration_fills_what_rebuild_computes(old_database):
    url, env = old_database
    made_by_main = cells(url)
    assert made_by_main["response_cell"], "the fixture has responses, so it has cells"
    assert made_by_main["monthly_reason"], "and reasons"

    engine = engine_from_url(url)

    async def refill() -> None:
        if isinstance(engine, PostgresEngine):
            await engine.start_connection_pool()
        try:
            async with engine.transaction():
                for table in CELL_TABLES:
                    await engine.run_ddl(f"DELETE FROM {table}")
                await frozen_fill()(engine)
        finally:
            if isinstance(engine, PostgresEngine):
                await engine.close_connection_pool()

    run_async(refill())
    assert cells(url) == made_by_main

    # Main counted in UTC days. The migration to local days recounts every cell, and
    # so does a rebuild: in UTC they give back exactly what main made.
    in_utc = {**env, "SURVEY_TIMEZONE": "UTC"}
    done = survey_command("migrate", env=in_utc)
    assert done.returncode == 0, done.stdout + done.stderr
    assert cells(url) == made_by_main
    done = survey_command("rollup", "rebuild", env=in_utc)
    assert done.returncode == 0, done.stdout + done.stderr
    assert cells(url) == made_by_main


def test_the_migration_recounts_the_cells_in_local_days(old_database):
    """The fixture's responses near a UTC midnight move to the next day in Hà Nội."""
    url, env = old_database
    utc_days = Counter(
        dict(query(url, "SELECT day, SUM(responses) FROM response_cell GROUP BY day"))
    )
    done = survey_command("migrate", env=env)  # the default zone, Asia/Ho_Chi_Minh
    assert done.returncode == 0, done.stdout + done.stderr
    local_days = Counter(
        dict(query(url, "SELECT day, SUM(responses) FROM response_cell GROUP BY day"))
    )
    expected: Counter = Counter()
    for (submitted_at,) in query(
        url, "SELECT submitted_at FROM response WHERE overall IS NOT NULL"
    ):
        moment = (
            submitted_at
            if isinstance(submitted_at, dt.datetime)
            else dt.datetime.fromisoformat(submitted_at)
        )
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        expected[str(moment.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date())] += 1
    assert {str(day): n for day, n in local_days.items()} == dict(expected)
    assert local_days != utc_days, "some responses of the fixture change day"
    answers = query(url, "SELECT SUM(responses) FROM answer_cell WHERE question = 'overall'")
    assert answers == [(sum(expected.values()),)]
