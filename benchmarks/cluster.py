"""A private PostgreSQL primary and its hot standby, from the Debian server programs.

The tests have their own (``tests/survey_app/processes.py``); benchmarks do not import
tests, and keep the server's defaults (fsync on) so the writes cost what they cost. As
root, the clusters run as the ``postgres`` system user (``initdb`` refuses root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from survey_app.db.backup.postgres import postgres_program


class ServerMissing(RuntimeError):
    pass


def bindir() -> Path:
    """Where initdb, pg_ctl and pg_basebackup are (as ``survey backup`` finds pg_dump)."""
    initdb = postgres_program("initdb")
    if initdb is None:
        raise ServerMissing("PostgreSQL server programs (initdb, pg_ctl) not found")
    return initdb.resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    def __init__(self, programs: Path, data: Path, as_user: list[str], cpu: int | None) -> None:
        self.programs = programs
        self.data = data
        self.as_user = as_user
        # The server's processes inherit the postmaster's CPU affinity.
        self.pinned = ["taskset", "--cpu-list", str(cpu)] if cpu is not None else []
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, program: str, *args: str, timeout: float = 600) -> None:
        done = subprocess.run(  # noqa: S603 - the server's own programs, arguments from here
            [*self.pinned, *self.as_user, str(self.programs / program), *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", "--pgdata", str(self.data), "-o", options, "-w", "start",
                 "--log", str(self.data / "server.log"))  # fmt: skip

    def stop(self) -> None:
        subprocess.run(  # noqa: S603
            [*self.as_user, str(self.programs / "pg_ctl"), "--pgdata", str(self.data), "-m",
             "immediate", "stop"], capture_output=True, timeout=60, check=False,
        )  # fmt: skip

    def url_of(self, database: str) -> str:
        return self.url.rsplit("/", 1)[0] + f"/{database}"


@contextmanager
def primary_and_standby(pin: bool = False) -> Iterator[tuple[Cluster, Cluster]]:
    """A new primary and a streaming replica of it, as an operator makes one:
    ``pg_basebackup -R`` (``primary_conninfo`` and ``standby.signal``), started with
    ``hot_standby`` on (the default). ``initdb``'s defaults (``wal_level=replica``, trust
    for local replication) already allow it. ``pin``: the primary on CPU 0, the standby
    on CPU 1, as if each had a host of its own."""
    programs = bindir()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="survey-bench-replica-"))
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    primary = Cluster(programs, root / "primary", as_user, 0 if pin else None)
    standby = Cluster(programs, root / "standby", as_user, 1 if pin else None)
    try:
        primary.run("initdb", "--pgdata", str(primary.data), "--username", "postgres",
                    "--auth", "trust")  # fmt: skip
        primary.start()
        standby.run("pg_basebackup", "--pgdata", str(standby.data), "--write-recovery-conf",
                    "--wal-method=stream", "--checkpoint=fast", "-h", "127.0.0.1",
                    "-p", str(primary.port), "-U", "postgres")  # fmt: skip
        standby.start()
        yield primary, standby
    finally:
        standby.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)
