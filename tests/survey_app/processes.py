"""Real processes for tests that kill or starve them: `survey serve`, and a private PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, REPO, survey_command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    """``survey serve`` in a child process; its output is kept for the test to inspect."""

    env: dict[str, str]
    log_path: Path
    args: tuple[str, ...] = ()  # more options of `survey serve`, e.g. ("--workers", "2")
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> ServerProcess:
        self.port = free_port()
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "survey_app", "serve", "--port", str(self.port), *self.args],
            env={**os.environ, **self.env},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{self.url}/livez", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, "server did not come up\n" + self.output()
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, as a crashed machine or the OOM killer does."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def server_process(
    env: dict[str, str], log_path: Path, args: tuple[str, ...] = ()
) -> Iterator[ServerProcess]:
    server = ServerProcess(env=env, log_path=log_path, args=args).start()
    try:
        yield server
    finally:
        server.stop()


def portal_key(env: dict[str, str], agency: str = "HN", service: str = "HN-1") -> str:
    """An agency with one service and a portal key, made through the real CLI."""
    for args in (
        ("agency", "add", agency, "--kind", "ministry", "--name", f"Agency {agency}"),
        ("service", "add", service, "--agency", agency, "--name", f"Service {service}"),
    ):
        done = survey_command(*args, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    done = survey_command("key", "create", agency, "--role", "portal", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split()[-1]


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own, so it can be stopped without harming others."""

    def __init__(self, bindir: Path, root: Path, as_user: list[str]) -> None:
        self.bindir = bindir
        self.data = root / "data"
        self.port = free_port()
        self.as_user = as_user
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "--pgdata", str(self.data), "-o", options, "-w",
                  "start", "--log", str(self.data / "server.log"))  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: sessions are terminated, then connections are refused."""
        self._run(str(self.bindir / "pg_ctl"), "--pgdata", str(self.data), "-m", "fast", "-w",
                  "stop")  # fmt: skip


def postgres_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(done.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Start a throw-away cluster; fails under CI when the server binaries are missing."""
    bindir = postgres_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) not found"
        if IN_CI:
            pytest.fail(message + "; under CI=true this test must run")
        pytest.skip(message + "; private-cluster test skipped")
    # initdb refuses to run as root: run the cluster as the postgres system user then.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="survey-pg-"))
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    cluster = PrivatePostgres(bindir, root, as_user)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "--pgdata", str(cluster.data), "-m", "immediate",
             "stop"], capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
