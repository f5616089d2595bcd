"""A fresh database per stage: a SQLite file in a temporary directory, or a new
PostgreSQL database on the local server, dropped afterwards.

Queries here are the benchmark's own (counts, the invitation bulk load); both
engines get the same statements except for the placeholder style.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg


@dataclass(frozen=True)
class Target:
    """One database and the directory the service keeps its files in."""

    engine: str  # "sqlite" or "postgres"
    url: str
    var_dir: Path

    @property
    def sqlite_file(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///"))

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.url, "SURVEY_VAR_DIR": str(self.var_dir)}

    def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql``; placeholders are ``?`` on both engines (rewritten for asyncpg)."""
        if self.engine == "sqlite":
            with closing_sqlite(self.sqlite_file) as connection:
                return connection.execute(sql, tuple(args)).fetchall()
        return asyncio.run(_pg_fetch(self.url, to_dollar(sql), args))

    def scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.fetch(sql, args)[0][0]


def to_dollar(sql: str) -> str:
    """``?`` placeholders -> ``$1, $2 ...`` (the benchmark's SQL has no literal '?')."""
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


@contextmanager
def closing_sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, timeout=30)
    try:
        yield connection
    finally:
        connection.close()


async def _pg_fetch(url: str, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(sql, *args)]
    finally:
        await connection.close()


@contextmanager
def sqlite_target(label: str) -> Iterator[Target]:
    directory = Path(tempfile.mkdtemp(prefix=f"survey-bench-{label}-"))
    try:
        yield Target("sqlite", f"sqlite:///{directory / 'survey.sqlite'}", directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def postgres_problem(admin_url: str) -> str | None:
    """Why no PostgreSQL server answers at ``admin_url``, or None when one does."""

    async def probe() -> None:
        connection = await asyncpg.connect(admin_url, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"{type(error).__name__}: {error}".strip()
    return None


def postgres_version(admin_url: str) -> str:
    async def version() -> str:
        connection = await asyncpg.connect(admin_url)
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    return asyncio.run(version())


@contextmanager
def postgres_target(admin_url: str, label: str) -> Iterator[Target]:
    """A new database next to ``admin_url``'s, dropped (with its connections) at the end."""
    name = f"survey_bench_{label}_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(admin_url, f'CREATE DATABASE "{name}"'))
    directory = Path(tempfile.mkdtemp(prefix=f"survey-bench-{label}-"))
    try:
        yield Target("postgres", urlsplit(admin_url)._replace(path=f"/{name}").geturl(), directory)
    finally:
        asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(directory, ignore_errors=True)


async def _pg_admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def target(engine: str, admin_url: str, label: str) -> Iterator[Target]:
    if engine == "sqlite":
        with sqlite_target(label) as made:
            yield made
    else:
        with postgres_target(admin_url, label) as made:
            yield made
