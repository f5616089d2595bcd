"""The questionnaire page's own cost, measured in process beside ``/livez``.

A database of its own with one agency, one service and open invitations; the app built
as ``create_app`` builds it, its lifespan running; ``GET /s/{token}`` driven through
ASGI directly (no server, no socket), each request for another token. The figure is
process CPU time per request (every thread: the read pool's included), the least of a
few rounds, so other jobs on the machine add little.

    python -m benchmarks.page [--requests 2000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import sqlite3
import subprocess
import tempfile
import time
from typing import Any

from benchmarks.layers import ROUNDS, scope
from benchmarks.survey_cli import survey_command

GZIP = [(b"accept-encoding", b"gzip, deflate, br"), (b"accept-language", b"vi")]
INVITATIONS = 2_000
QUESTIONNAIRE = "public-service-satisfaction"


def prepare(directory: str) -> list[str]:
    """Migrate, register through the real CLI, insert open invitations; their tokens."""
    for args in (
        ("migrate",),
        ("agency", "add", "HN", "--kind", "ministry", "--name", "Hà Nội"),
        ("service", "add", "HN-1", "--agency", "HN", "--name", "Cấp giấy phép xây dựng"),
    ):
        subprocess.run([*survey_command(), *args], check=True, capture_output=True)  # noqa: S603
    now = dt.datetime.now(dt.UTC)
    tokens = [secrets.token_urlsafe(24) for _ in range(INVITATIONS)]
    rows = [
        (token, secrets.token_hex(32), "web", "vi", QUESTIONNAIRE, now, now + dt.timedelta(days=14))
        for token in tokens
    ]
    with sqlite3.connect(f"{directory}/survey.sqlite") as connection:
        connection.executemany(
            'INSERT INTO "invitation" ("token", "transaction_key", "agency", "service", '
            '"channel", "locale", "questionnaire_id", "created_at", "expires_at") '
            'SELECT ?, ?, a."id", s."id", ?, ?, ?, ?, ? FROM "agency" a JOIN "service" s '
            'ON s."agency" = a."id"',
            [(*row[:5], str(row[5]), str(row[6])) for row in rows],
        )
    return tokens


async def cpu_per_request(app: Any, paths: list[str], count: int) -> float:
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    started = time.process_time()
    for number in range(count):
        await app(scope(paths[number % len(paths)], GZIP), receive, send)
    spent = time.process_time() - started
    if statuses != {200}:
        raise RuntimeError(f"answers {sorted(statuses)}")
    return spent / count


async def measure(count: int, tokens: list[str]) -> dict[str, float]:
    from survey_app.server.app import create_app

    app = create_app()
    pages = [f"/s/{token}" for token in tokens]
    best = {"GET /s/{token}": float("inf"), "GET /livez": float("inf")}
    async with app.lifespan():
        await cpu_per_request(app, pages, count // 10)  # warm-up
        for _ in range(ROUNDS):
            for name, paths in (("GET /s/{token}", pages), ("GET /livez", ["/livez"])):
                best[name] = min(best[name], await cpu_per_request(app, paths, count))
    return {name: seconds * 1e3 for name, seconds in best.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.page", description=__doc__)
    p.add_argument("--requests", type=int, default=2_000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        os.environ.update(
            DATABASE_URL=f"sqlite:///{directory}/survey.sqlite",
            SURVEY_SECRET="page-" + "x" * 32,
            SURVEY_VAR_DIR=directory,
            SURVEY_CITIZEN_RATE_PER_MINUTE="0",
            SURVEY_API_RATE_PER_SECOND="0",
        )
        tokens = prepare(directory)
        millis = asyncio.run(measure(args.requests, tokens))
    print("| in process, SQLite | CPU ms/request |")
    print("|---|---:|")
    for name, value in millis.items():
        print(f"| {name} | {value:.3f} |")
    return 0


if __name__ == "__main__":  # the statistics workers' forkserver imports this module
    raise SystemExit(main())
