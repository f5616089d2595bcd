"""The real server as a child process: ``survey serve`` (access log on, to /dev/null),
or the bare Litestar reference served the same way (``benchmarks.bare``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.databases import Target
from benchmarks.options import REPO
from benchmarks.survey_cli import environment, survey_command

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Server:
    pid: int
    base_url: str
    log: Path

    def cpu_s(self) -> float:
        """CPU time the process has used so far (user + system): read before and after a
        run, the server's CPU per request, which other jobs on the machine barely move."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_kib(self) -> int | None:
        """``VmHWM``: the largest resident set the process has had so far."""
        return _status_kib(self.pid, "VmHWM")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@contextmanager
def running(
    made: Target,
    *,
    app: str = "survey",
    workers: int = 1,
    limits: str | None = None,
    cwd: Path = REPO,
) -> Iterator[Server]:
    """Serve ``made`` on a free port until the block ends; its error log is kept.

    ``app`` ``bare`` serves the reference instead; ``limits`` is where rate limits are
    counted (``memory`` or a Redis URL), None for none (see ``survey_cli.rate_limits``).
    The access log goes where ``survey serve`` writes it (standard output), here to
    /dev/null: the same lines are formatted and redacted for both apps.
    """
    port = free_port()
    log = made.var_dir / f"server-{app}-{port}.log"
    if app == "bare":
        command = [sys.executable, "-m", "benchmarks.bare", "--port", str(port)]
    else:
        command = [
            *survey_command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "info",
        ]
    with log.open("w") as sink:
        process = subprocess.Popen(  # noqa: S603 - fixed program and arguments
            command,
            env=environment(made, limits),
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    server = Server(pid=process.pid, base_url=f"http://127.0.0.1:{port}", log=log)
    try:
        wait_alive(server, process)
        yield server
    finally:
        stop(process)


def wait_alive(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{tail(server.log)}")
        try:
            if httpx.get(f"{server.base_url}/livez", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /livez in {START_TIMEOUT_S:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
