"""The real ``survey`` command line, run as a child process against a target."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from benchmarks.databases import Target
from benchmarks.options import REPO

# A fresh key per run: nothing the benchmark stores outlives it, and no command
# has to generate (and warn about) a secret file.
SECRET = secrets.token_urlsafe(32)
BIN = Path(sys.executable).parent


def survey_executable() -> str:
    """``.venv/bin/survey`` beside this interpreter; the module when no script is installed."""
    script = BIN / "survey"
    return str(script) if script.exists() else ""


def rate_limits(store: str | None = None) -> dict[str, str]:
    """wrk speaks from one address with one key, so the budgets are off, unless ``store``
    (default ``SURVEY_BENCH_RATE_LIMITS``) is ``memory`` or a Redis URL: then every
    request is counted there against budgets no run reaches, to measure what the
    counting costs."""
    store = store or os.environ.get("SURVEY_BENCH_RATE_LIMITS")
    if not store:
        return {"SURVEY_CITIZEN_RATE_PER_MINUTE": "0", "SURVEY_API_RATE_PER_SECOND": "0"}
    limits = {"SURVEY_CITIZEN_RATE_PER_MINUTE": "1000000", "SURVEY_API_RATE_PER_SECOND": "1000000"}
    if store == "memory":
        return limits
    return {**limits, "SURVEY_REDIS_URL": store, "SURVEY_REDIS_NAMESPACE": f"bench-{os.getpid()}"}


def environment(made: Target, limits: str | None = None) -> dict[str, str]:
    return {**os.environ, **made.env(), "SURVEY_SECRET": SECRET, **rate_limits(limits)}


def survey_command() -> list[str]:
    script = survey_executable()
    return [script] if script else [sys.executable, "-m", "survey_app"]


def survey(made: Target, *args: str, timeout: float = 3600, stream: bool = False) -> str:
    """Run ``survey ARGS``; return its standard output, raise with its output on failure.

    ``stream`` lets a long command's progress bar (on stderr) reach the terminal.
    """
    done = subprocess.run(  # noqa: S603 - fixed program, arguments from this module
        [*survey_command(), *args],
        env=environment(made),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=None if stream else subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"survey {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr or ''}"
        )
    return done.stdout


def migrate(made: Target) -> None:
    survey(made, "migrate")


def create_key(made: Target, agency: str, role: str) -> str:
    """The key is printed once, on the last line of the command's output."""
    output = survey(made, "key", "create", agency, "--role", role)
    lines = [line.strip() for line in output.splitlines()]
    key = next((line for line in reversed(lines) if line and " " not in line), "")
    if not key:
        raise RuntimeError(f"no key in the output of survey key create {agency}")
    return key
