"""``survey backup`` while a real ``survey serve`` takes writes, and ``survey restore`` into a
new database: every write acknowledged before the backup began comes back, once.

Each engine gets databases of its own (a new SQLite file, or a PostgreSQL database made with
CREATE DATABASE), since a restore needs an empty target and the shared test databases are not.
"""

from __future__ import annotations

import secrets
import sqlite3
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from survey_app.db.backup import backup
from survey_app.db.backup.postgres import libpq_target
from survey_app.db.engine import sqlite_path
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    _admin,
    migrate,
    require_postgres,
    run_async,
    survey_command,
    with_database,
)
from tests.survey_app.conftest import TEST_SECRET
from tests.survey_app.processes import portal_key, server_process

THREADS = 4
# Put in the PostgreSQL URL; the test server trusts local connections and ignores it.
PASSWORD = "not-shown-anywhere"


@dataclass
class Databases:
    """New, empty databases of one engine, dropped when the module's tests end."""

    engine: str
    root: Path
    made: list[str] = field(default_factory=list)

    def new(self) -> str:
        name = f"survey_backup_{secrets.token_hex(4)}"
        self.made.append(name)
        if self.engine == "sqlite":
            return f"sqlite:///{self.root / name / 'survey.sqlite'}"
        run_async(_admin(f'CREATE DATABASE "{name}"'))
        return with_database(POSTGRES_ADMIN_URL, name)

    def env(self, url: str) -> dict[str, str]:
        return {
            "DATABASE_URL": url,
            "SURVEY_VAR_DIR": str(self.root / "var"),
            "SURVEY_SECRET": TEST_SECRET,
            "SURVEY_API_RATE_PER_SECOND": "0",
            "SURVEY_STATS_WORKERS": "0",  # no statistics here: start the servers sooner
        }


@dataclass(frozen=True)
class Source:
    """A migrated database with agency HN, service HN-1 and a portal key: data to back up."""

    databases: Databases
    url: str
    key: str

    @property
    def env(self) -> dict[str, str]:
        return self.databases.env(self.url)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def source(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Source]:
    engine = "sqlite" if request.param == "sqlite" else "postgresql"
    if engine == "postgresql":
        require_postgres()
    databases = Databases(engine, tmp_path_factory.mktemp(f"backup-{engine}"))
    try:
        url = databases.new()
        if engine == "postgresql":
            # The password must reach pg_dump through its environment, and show nowhere.
            parts = urlsplit(url)
            host = parts.netloc.rpartition("@")[2]
            url = parts._replace(netloc=f"{parts.username}:{PASSWORD}@{host}").geturl()
        migrate(url, databases.root / "var")
        yield Source(databases, url, portal_key(databases.env(url)))
    finally:
        if engine == "postgresql":
            for name in databases.made:
                run_async(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass(frozen=True)
class Contents:
    answered: Counter[str]  # invitation token -> responses stored for it
    invited: set[str]
    cells: int  # responses counted by the statistics cells
    months: int
    agencies: int
    migrations: int


QUERIES = {
    "answered": "SELECT i.token FROM response r JOIN invitation i ON i.id = r.invitation",
    "invited": "SELECT token FROM invitation",
    "cells": "SELECT coalesce(sum(responses), 0) FROM response_cell",
    "months": "SELECT coalesce(sum(responses), 0) FROM monthly_rating",
    "agencies": "SELECT count(*) FROM agency",
    "migrations": "SELECT count(*) FROM migration",
}


def contents(url: str) -> Contents:
    """What a database holds, read directly (never while a server runs on a SQLite file)."""
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(url))) as connection:
            got = {key: connection.execute(sql).fetchall() for key, sql in QUERIES.items()}
    else:

        async def read() -> dict[str, list]:
            connection = await asyncpg.connect(url)
            try:
                return {key: await connection.fetch(sql) for key, sql in QUERIES.items()}
            finally:
                await connection.close()

        got = run_async(read())
    return Contents(
        answered=Counter(row[0] for row in got["answered"]),
        invited={row[0] for row in got["invited"]},
        **{key: got[key][0][0] for key in ("cells", "months", "agencies", "migrations")},
    )


@dataclass
class Load:
    """Threads issuing invitations and answering them until told to stop; each 2xx is
    recorded with the moment its answer arrived."""

    url: str
    key: str
    acks: list[tuple[float, str, str]] = field(default_factory=list)  # (when, kind, token)
    problems: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def worker(self, number: int) -> None:
        auth = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, timeout=10, headers=auth) as client:
            sent = 0
            while not self.stop.is_set():
                sent += 1
                body = {"transaction_ref": f"B{number}-{sent}", "service": "HN-1", "channel": "web"}
                issued = client.post("/api/v1/invitations", json=body)
                if not self.record(issued, "invitation", None):
                    continue
                token = issued.json()["token"]
                answer = {"token": token, "answers": {"overall": 1 + sent % 5}, "locale": "vi"}
                self.record(client.post("/api/v1/responses", json=answer), "response", token)

    def record(self, answer: httpx.Response, kind: str, token: str | None) -> bool:
        now = time.monotonic()
        with self.lock:
            if not answer.is_success:
                self.problems.append(f"{kind}: {answer.status_code} {answer.text[:200]}")
                return False
            self.acks.append((now, kind, token or answer.json()["token"]))
        return True

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.worker, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        return threads

    def acknowledged(self, kind: str, before: float = float("inf")) -> set[str]:
        with self.lock:
            return {token for when, k, token in self.acks if k == kind and when < before}

    def between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for when, _, _ in self.acks if start < when < end)


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.slow
def test_backup_under_load_restores_every_write_acknowledged_before_it(source, tmp_path):
    databases = source.databases
    out = tmp_path / "backups" / "survey.backup"
    out.parent.mkdir()
    with server_process(source.env, tmp_path / "server.log") as server:
        load = Load(server.url, source.key)
        threads = load.run()
        try:
            wait_until(lambda: len(load.acknowledged("response")) >= 20, 30, "20 answers")
            started = time.monotonic()
            # Two pages a step: a SQLite copy in many steps, while answers keep committing.
            done = survey_command("backup", "--out", str(out), "--step-pages", "2", env=source.env)
            finished = time.monotonic()
            wait_until(lambda: load.between(finished, float("inf")) >= 4, 30, "later answers")
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not load.problems, load.problems[:5]
    assert load.between(started, finished) > 0, "the service should answer during the backup"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert f"Wrote {out}" in done.stdout
    assert "responses" in done.stdout
    assert list(out.parent.iterdir()) == [out]  # no temporary file left beside it

    target = databases.new()
    restored = survey_command("restore", str(out), env=databases.env(target))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    copy = contents(target)
    assert max(copy.answered.values()) == 1
    lost = load.acknowledged("response", before=started) - set(copy.answered)
    assert not lost, f"{len(lost)} answers acknowledged before the backup are missing"
    assert load.acknowledged("invitation", before=started) <= copy.invited
    # One snapshot: the statistics cells, written in each answer's transaction, count
    # exactly the answers copied.
    assert copy.cells == copy.months == copy.answered.total()

    migrated = survey_command("migrate", env=databases.env(target))
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert contents(target).migrations == copy.migrations  # nothing was left to migrate

    with (
        server_process(databases.env(target), tmp_path / "restored.log") as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        assert client.get("/readyz").status_code == 200
        auth = {"Authorization": f"Bearer {source.key}"}  # the key came back with the data
        body = {"transaction_ref": "AFTER-RESTORE", "service": "HN-1", "channel": "web"}
        issued = client.post("/api/v1/invitations", json=body, headers=auth)
        assert issued.status_code == 201, issued.text
        answer = {"token": issued.json()["token"], "answers": {"overall": 4}, "locale": "vi"}
        assert client.post("/api/v1/responses", json=answer, headers=auth).status_code == 201
        old = {"token": next(iter(copy.answered)), "answers": {"overall": 4}, "locale": "vi"}
        assert client.post("/api/v1/responses", json=old, headers=auth).status_code == 409


def other_kind_of_file(engine: str, path: Path) -> Path:
    """A file of the other engine's kind, told apart by its header."""
    if engine == "sqlite":
        path.write_bytes(b"PGDMP" + bytes(200))
    else:
        with closing(sqlite3.connect(path)) as connection:
            connection.execute("CREATE TABLE migration (id INTEGER)")
    return path


@pytest.mark.slow
def test_refusals_leave_everything_as_it_was(source, tmp_path):
    databases = source.databases
    outputs = []

    def survey(*args: str, url: str = source.url):
        done = survey_command(*args, env=databases.env(url))
        outputs.append(done.stdout + done.stderr)
        assert "Traceback" not in done.stderr
        return done

    out = tmp_path / "survey.backup"
    out.write_text("an older backup\n")
    out.chmod(0o644)
    again = survey("backup", "--out", str(out))
    assert again.returncode == 1
    assert "already exists; use --force" in again.stderr
    assert out.read_text() == "an older backup\n"
    assert survey("backup", "--out", str(out), "--force").returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    if databases.engine == "sqlite":
        itself = survey("backup", "--out", str(sqlite_path(source.url)), "--force")
        assert itself.returncode == 1
        assert "is the database itself" in itself.stderr

    # The source holds an agency, a service and a key: restoring over it is refused.
    before = contents(source.url)
    refused = survey("restore", str(out))
    assert refused.returncode == 1
    assert "already holds data" in refused.stderr
    assert "Nothing was changed" in refused.stderr
    assert contents(source.url) == before

    # A database made by `survey migrate` alone is empty: the backup replaces its tables.
    target = databases.new()
    migrate(target, databases.root / "var")
    assert survey("restore", str(out), url=target).returncode == 0
    assert contents(target) == before
    assert survey("restore", str(out), url=target).returncode == 1

    fresh = databases.new()
    other = other_kind_of_file(databases.engine, tmp_path / "other")
    wrong = survey("restore", str(other), url=fresh)
    assert wrong.returncode == 1
    assert "does not cross engines" in wrong.stderr
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup\n")
    neither = survey("restore", str(junk), url=fresh)
    assert neither.returncode == 1
    assert "neither a SQLite database nor a pg_dump" in neither.stderr
    if databases.engine == "sqlite":
        assert not sqlite_path(fresh).exists()  # refused before anything was made
    assert not any(PASSWORD in output for output in outputs)


def test_a_sqlite_copy_is_one_snapshot_while_writes_commit_between_its_steps(tmp_path):
    # A copy letting go of its snapshot between steps would start again after each write
    # below (and, once they stop, finish with them in it); this one ignores them.
    live = tmp_path / "live.sqlite"
    with closing(sqlite3.connect(live, isolation_level=None)) as writer:
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("CREATE TABLE migration (id INTEGER PRIMARY KEY)")
        writer.execute("CREATE TABLE response (id INTEGER PRIMARY KEY, body TEXT)")
        writer.executemany("INSERT INTO response (body) VALUES (?)", [("x" * 500,)] * 400)
        steps: list[tuple[int, int]] = []

        def progress(done: int, total: int) -> None:
            steps.append((done, total))
            if len(steps) < 200:
                writer.execute("INSERT INTO response (body) VALUES ('written during the copy')")

        result = backup(f"sqlite:///{live}", tmp_path / "copy", False, progress, step_pages=1)
        written = writer.execute("SELECT count(*) FROM response").fetchone()[0]
    assert len(steps) > 20
    assert steps[-1][0] == steps[-1][1]
    assert written == 400 + len(steps)
    assert result.rows == {"migration": 0, "response": 400}
    with closing(sqlite3.connect(tmp_path / "copy")) as copy:
        assert copy.execute("SELECT count(*) FROM response").fetchone() == (400,)
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_the_password_goes_to_the_environment_not_the_command_line():
    url = "postgresql://survey:p%40ss%3Aw%2Frd@db.example:5433/survey?sslmode=require"
    dsn, env = libpq_target(url)
    assert dsn == "postgresql://survey@db.example:5433/survey?sslmode=require"
    assert env == {"PGPASSWORD": "p@ss:w/rd"}
    dsn, env = libpq_target("postgresql://survey@h1:5432,h2:5432/survey?password=x&sslmode=disable")
    assert (dsn, env) == ("postgresql://survey@h1:5432,h2:5432/survey?sslmode=disable",
                          {"PGPASSWORD": "x"})  # fmt: skip
    assert libpq_target("postgresql:///survey") == ("postgresql:///survey", {})
