"""Databases for the suite: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests need a server (``SURVEY_TEST_POSTGRES_URL``, default the
local one with trust auth). Outside CI they are skipped with one line when
none answers; under ``CI=true`` they fail instead, so CI never passes
without them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "SURVEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI") == "true"
REPO = Path(__file__).resolve().parent.parent


def survey_command(*args: str, env: dict[str, str] | None = None, **kwargs):
    """Run the real ``survey`` CLI in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "survey_app", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
        **kwargs,
    )


def migrate(database_url: str, var_dir: Path) -> None:
    done = survey_command(
        "migrate", env={"DATABASE_URL": database_url, "SURVEY_VAR_DIR": str(var_dir)}
    )
    assert done.returncode == 0, done.stdout + done.stderr


def run_async(coroutine) -> object:
    """``asyncio.run`` in a thread of its own: a browser test may own this thread's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def postgres_problem() -> str | None:
    async def probe() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
        await connection.close()

    try:
        run_async(probe())
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    """A freshly migrated database of each engine, shared by the session."""
    var_dir = tmp_path_factory.mktemp(f"var-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{var_dir / 'survey.sqlite'}"
        migrate(url, var_dir)
        yield url
        return
    with new_postgres_database() as url:
        migrate(url, var_dir)
        yield url


def require_postgres() -> None:
    """Skip when the test server does not answer; under CI=true, fail instead."""
    problem = postgres_problem()
    if problem:
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({problem})"
        if IN_CI:
            pytest.fail(message + "; under CI=true PostgreSQL tests must run")
        pytest.skip(message + "; PostgreSQL tests skipped")


@contextmanager
def new_postgres_database(prefix: str = "survey_test") -> Iterator[str]:
    """An empty database of the caller's own on the test server (its URL), dropped after."""
    require_postgres()
    name = f"{prefix}_{secrets.token_hex(4)}"
    run_async(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(POSTGRES_ADMIN_URL, name)
    finally:
        run_async(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``postgres_only`` runs on PostgreSQL alone: deselected, not skipped, on
    SQLite, where what it tests (a server connection) does not exist."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.get_closest_marker("postgres_only") and params.get("database_url") == "sqlite":
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
