"""Files at rest are private, and no log line carries an invitation token (issue 16).

Real processes under a loose umask (``0022``, the usual default): ``survey migrate``,
the CLI and ``survey serve`` must leave the var directory ``0700`` and the SQLite
database, its ``-wal`` and ``-shm`` files and the generated secret ``0600``, whether
they create them or find them looser. ``survey serve`` at ``debug``, in plain and in
JSON lines, on SQLite and PostgreSQL, must write no invitation token into its output,
but the redaction marker where the token was.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import sqlite3
import stat
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, migrate, survey_command
from tests.survey_app.conftest import TEST_SECRET
from tests.survey_app.processes import free_port, portal_key, server_process

pytestmark = pytest.mark.slow  # every test runs `survey` commands and servers as processes

LOOSE_UMASK = 0o022
MARKER = "[redacted]"
# What `survey serve` prints itself, before logging starts (not log lines).
BANNERS = ("Database: ", "Serving on ")


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """Every child process of the test starts with umask 0022: files 0644, directories 0755."""
    old = os.umask(LOOSE_UMASK)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def companions(database: Path) -> list[Path]:
    return [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm")]


def invitation(url: str, key: str, service: str = "HN-1", ref: str = "REF-1") -> str:
    answer = httpx.post(
        f"{url}/api/v1/invitations",
        json={"transaction_ref": ref, "service": service, "channel": "web"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


@contextmanager
def serving(argv: list[str], env: dict[str, str], log_path: Path) -> Iterator[str]:
    """A server started with ``argv`` (stdout and stderr to ``log_path``); yields its URL."""
    port = free_port()
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [*argv, "--port", str(port)],
            env={**os.environ, **env},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/livez", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "server did not come up\n" + log_path.read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


# --- files at rest -------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["var", "elsewhere"])
def test_new_files_are_private_whatever_the_umask(where, tmp_path: Path, loose_umask):
    """Created by `survey migrate`, the CLI and `survey serve`: directory 0700, files 0600.

    ``var``: the default database in SURVEY_VAR_DIR; ``elsewhere``: DATABASE_URL names a
    SQLite file in a directory of its own, outside the var directory.
    """
    var = tmp_path / "var"
    database = var / "survey.sqlite" if where == "var" else tmp_path / "data" / "db.sqlite"
    env = {
        "SURVEY_VAR_DIR": str(var),
        "DATABASE_URL": "" if where == "var" else f"sqlite:///{database}",
        "SURVEY_SECRET": "",  # generated into the var directory
    }
    migrate_done = survey_command("migrate", env=env)
    assert migrate_done.returncode == 0, migrate_done.stdout + migrate_done.stderr
    assert mode(database.parent) == 0o700
    assert mode(database) == 0o600
    key = portal_key(env)  # CLI commands: the secret is generated here
    assert mode(var) == 0o700
    assert mode(var / "secret.key") == 0o600
    with server_process(env, tmp_path / "server.log") as server:
        token = invitation(server.url, key)  # a write: the WAL now holds it
        assert httpx.get(f"{server.url}/s/{token}?lang=vi").status_code == 200
        for file in companions(database):
            assert file.exists(), f"{file.name} missing while the server runs"
        looked_at = [database, *companions(database), *var.iterdir()]
        loose = {str(f): oct(mode(f)) for f in looked_at if f.is_file() and mode(f) != 0o600}
        assert loose == {}
        assert mode(var) == mode(database.parent) == 0o700


def test_existing_loose_files_are_made_private(tmp_path: Path, loose_umask):
    """Files left 0644 and a directory left 0755 (an earlier version, a loose umask, a copy)
    are restricted when `survey migrate` and then `survey serve` open them."""
    var = tmp_path / "var"
    database = var / "survey.sqlite"
    env = {"SURVEY_VAR_DIR": str(var), "DATABASE_URL": "", "SURVEY_SECRET": ""}
    migrate(f"sqlite:///{database}", var)

    def loosen() -> None:
        var.chmod(0o755)
        database.chmod(0o644)
        secret = var / "secret.key"
        if not secret.exists():
            secret.write_text(secrets.token_urlsafe(32))
        secret.chmod(0o644)

    loosen()
    # Another process has the database open in WAL mode, as a crashed server leaves it:
    # its -wal and -shm files exist, as loose as the database was.
    holder = sqlite3.connect(database)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("SELECT count(*) FROM sqlite_master").fetchall()
        assert [mode(f) for f in companions(database)] == [0o644, 0o644]
        done = survey_command("migrate", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert mode(var) == 0o700
        assert [mode(f) for f in (database, *companions(database))] == [0o600] * 3
    finally:
        holder.close()

    loosen()
    with server_process(env, tmp_path / "server.log"):
        assert mode(var) == 0o700
        assert mode(var / "secret.key") == 0o600
        assert mode(database) == 0o600
        assert [mode(f) for f in companions(database)] == [0o600, 0o600]


# --- tokens out of logs ----------------------------------------------------------------------


def json_records(output: str) -> list[dict]:
    """Every line of the output is a JSON record (a plain line fails the test)."""
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def served_records(output: str) -> list[dict]:
    """The records of `survey serve`, whose banners are records too."""
    records = json_records(output)
    banners = [r["message"] for r in records if r["logger"] == "survey"]
    assert [b for b in banners if b.startswith(BANNERS)], "no banner among the records"
    return records


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_serve_logs_no_invitation_token(database_url, log_format, tmp_path: Path):
    """`survey serve --log-level debug` (through SURVEY_LOG_LEVEL / SURVEY_LOG_FORMAT, so
    that the test fails on the token and not on an unknown option), on both engines."""
    agency = f"LOG-{log_format}"
    env = {
        "DATABASE_URL": database_url,
        "SURVEY_VAR_DIR": str(tmp_path),
        "SURVEY_SECRET": TEST_SECRET,
        "SURVEY_LOG_LEVEL": "debug",
        "SURVEY_LOG_FORMAT": log_format,
    }
    key = portal_key(env, agency=agency, service=f"{agency}-1")
    with server_process(env, tmp_path / "server.log") as server:
        token = invitation(server.url, key, service=f"{agency}-1")
        assert httpx.get(f"{server.url}/s/{token}?lang=vi").status_code == 200
        assert httpx.get(f"{server.url}/s/{token}/thanks?lang=vi").status_code == 303
        assert httpx.get(f"{server.url}/s/mistyped-invitation-4711").status_code == 404
        assert httpx.get(f"{server.url}/livez?token=QUERY-VALUE-4711").status_code == 200
    output = server.output()
    for private in (token, "mistyped-invitation-4711", "QUERY-VALUE-4711"):
        assert private not in output
    if log_format == "plain":
        assert f'"GET /s/{MARKER}?lang=vi HTTP/1.1" 200' in output
        assert f'"GET /s/{MARKER}/thanks?lang=vi HTTP/1.1" 303' in output
        assert f'"GET /livez?token={MARKER} HTTP/1.1" 200' in output
        assert "DEBUG - " in output  # debug lines of the root logger were written
        return
    records = served_records(output)
    access = {r["path"]: r["status"] for r in records if r["logger"] == "uvicorn.access"}
    assert access[f"/s/{MARKER}?lang=vi"] == 200
    assert access[f"/s/{MARKER}/thanks?lang=vi"] == 303
    assert access[f"/s/{MARKER}"] == 404
    assert access[f"/livez?token={MARKER}"] == 200
    assert any(r["level"] == "DEBUG" for r in records)
    assert {"uvicorn.error", "uvicorn.access"} <= {r["logger"] for r in records}


def unlimited_database(tmp_path: Path) -> dict[str, str]:
    """A migrated SQLite database in ``tmp_path``, and no rate limits: without limits
    several workers need no Redis."""
    url = f"sqlite:///{tmp_path / 'survey.sqlite'}"
    migrate(url, tmp_path)
    return {
        "DATABASE_URL": url,
        "SURVEY_VAR_DIR": str(tmp_path),
        "SURVEY_SECRET": TEST_SECRET,
        "SURVEY_CITIZEN_RATE_PER_MINUTE": "0",
        "SURVEY_API_RATE_PER_SECOND": "0",
    }


def test_workers_log_json_without_tokens(tmp_path: Path):
    """`survey serve --workers 2`: each worker's app reconfigures logging after Litestar has."""
    env = unlimited_database(tmp_path)
    key = portal_key(env)
    argv = [sys.executable, "-m", "survey_app", "serve", "--workers", "2"]
    argv += ["--log-level", "debug", "--log-format", "json"]
    with serving(argv, env, tmp_path / "server.log") as base:
        tokens = [invitation(base, key, ref=f"REF-{i}") for i in range(4)]
        for token in tokens:
            assert httpx.get(f"{base}/s/{token}?lang=vi").status_code == 200
    output = (tmp_path / "server.log").read_text()
    assert not [token for token in tokens if token in output]
    records = served_records(output)
    paths = [r["path"] for r in records if r["logger"] == "uvicorn.access"]
    assert paths.count(f"/s/{MARKER}?lang=vi") == len(tokens)
    assert any(r["level"] == "DEBUG" and r["logger"] != "uvicorn.error" for r in records)


def test_two_workers_answer_keep_alive_requests_in_milliseconds(tmp_path: Path):
    """`survey serve --workers 2` sets TCP_NODELAY on its connections: without it each
    request after the first on a keep-alive connection waits ~40 ms for the client's
    delayed ACK (uvicorn issue #3149), here or on any Linux client."""
    env = unlimited_database(tmp_path)
    argv = [sys.executable, "-m", "survey_app", "serve", "--workers", "2"]
    with serving(argv, env, tmp_path / "server.log") as base:
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        took = []
        for _ in range(40):
            start = time.perf_counter()
            connection.request("GET", "/livez")
            answer = connection.getresponse()
            answer.read()
            took.append(time.perf_counter() - start)
            assert answer.status == 200
            assert answer.getheader("connection") != "close"  # the same connection throughout
        connection.close()
    # The delayed ACK costs 40 ms a request (Linux's minimum); a served request, a few.
    assert statistics.median(took[1:]) < 0.02, took


def test_app_served_by_uvicorn_itself_redacts_tokens(tmp_path: Path):
    """`uvicorn --factory survey_app.server.app:create_app`, with uvicorn's own logging: the
    app's start-up adds the redaction to whatever handlers it finds."""
    url = f"sqlite:///{tmp_path / 'survey.sqlite'}"
    migrate(url, tmp_path)
    env = {"DATABASE_URL": url, "SURVEY_VAR_DIR": str(tmp_path), "SURVEY_SECRET": TEST_SECRET}
    token = secrets.token_urlsafe(24)  # unknown: answered 404, logged all the same
    argv = [sys.executable, "-m", "uvicorn", "--factory", "survey_app.server.app:create_app"]
    argv += ["--log-level", "debug"]
    with serving(argv, env, tmp_path / "server.log") as base:
        assert httpx.get(f"{base}/s/{token}?lang=vi").status_code == 404
    output = (tmp_path / "server.log").read_text()
    assert token not in output
    assert f'"GET /s/{MARKER}?lang=vi HTTP/1.1" 404' in output


LOGGING_SCRIPT = """
import logging, logging.config, sys
from survey_app.cli.server import serve_log_config

token, log_format = sys.argv[1:]
env = {"SURVEY_LOG_LEVEL": "debug", "SURVEY_LOG_FORMAT": log_format}
logging.config.dictConfig(serve_log_config(env))
logging.getLogger("survey").debug("opening /s/%s", token)
logging.getLogger("survey.writer").info("looked up %r", {"token": token})
logging.getLogger("litestar").warning("GET /s/" + token + "?lang=vi")
logging.getLogger("uvicorn.error").debug("scope=%s", {"path": "/s/" + token})
logging.getLogger("piccolo").debug("WHERE invitation.token = '%s'", token)
logging.getLogger("aiosqlite").info("returning %s", [(1, token)])
logging.getLogger("aiosqlite").debug("parameters %s", ["a comment"])  # never written
logging.getLogger("survey").info("extra", extra={"detail": "/s/" + token})
logging.getLogger("uvicorn.access").info(
    '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/s/" + token + "?lang=vi", "1.1", 200
)
try:
    raise LookupError("no invitation " + token)
except LookupError:
    logging.getLogger("litestar").exception("unhandled error on GET /s/%s", token)
"""
SCRIPT_LOGGERS = {"survey", "survey.writer", "litestar", "uvicorn.error", "piccolo", "aiosqlite",
                  "uvicorn.access"}  # fmt: skip


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_every_logger_of_serve_redacts_tokens(log_format):
    """The log configuration of `survey serve`, in a process of its own: our loggers,
    Litestar's, uvicorn's and the libraries', at DEBUG, with arguments, reprs, extras and
    a traceback, all without the token."""
    token = secrets.token_urlsafe(24)
    done = subprocess.run(
        [sys.executable, "-c", LOGGING_SCRIPT, token, log_format],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert token not in output
    assert "--- Logging error ---" not in output
    assert "a comment" not in output  # aiosqlite's query parameters stay out, even at DEBUG
    if log_format == "plain":
        assert output.count(MARKER) >= 9
        assert f"LookupError: no invitation {MARKER}" in output
        return
    records = json_records(output)
    assert {r["logger"] for r in records} == SCRIPT_LOGGERS
    assert all(MARKER in r["message"] for r in records if r["message"] != "extra")
    (extra,) = [r for r in records if r["message"] == "extra"]
    assert extra["detail"] == f"/s/{MARKER}"
    (failure,) = [r for r in records if "exception" in r]
    assert failure["exception"].endswith(f"LookupError: no invitation {MARKER}")
