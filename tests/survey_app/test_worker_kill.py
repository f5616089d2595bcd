"""Two workers behind one port, one of them killed mid-load (SIGKILL).

``survey serve --workers 2`` on PostgreSQL, its rate limits in Redis. Client threads
issue invitations and answer them over real HTTP, a new connection per request, so
the kernel hands requests to both workers. After the kill: the survivor keeps
answering, the supervisor starts a new worker that serves, every acknowledged
invitation and answer is stored exactly once, and the API budget stays one budget.
"""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
import redis

from tests.conftest import (
    migrate,
    new_postgres_database,
    run_async,
)
from tests.survey_app.conftest import TEST_SECRET
from tests.survey_app.processes import portal_key, server_process

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

T = TypeVar("T")
BUDGET = 25  # API requests per second for the portal's key: low, so the load runs into it
THREADS = 4
# Until a worker has seen the key pass a guard, the key's requests there draw on the
# client address's budget (server.rate_limits): at most the requests in flight at that
# moment (the threads' and the test's own), for each of the two workers that can be
# new in one window (both at start-up).
LEARNING_SLACK = 2 * (THREADS + 1)
ACKNOWLEDGED = (200, 201)
STARTED = "Application startup complete."
NO_KEEP_ALIVE = httpx.Limits(max_keepalive_connections=0)


@dataclass(frozen=True)
class Exchange:
    status: int | None  # None: the connection failed (its worker died, say)
    sent: float
    done: float


@dataclass
class Load:
    """Invitations, each answered once, from several threads; every outcome recorded."""

    url: str
    key: str
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    exchanges: list[Exchange] = field(default_factory=list)
    refs: set[str] = field(default_factory=set)  # every transaction reference sent
    tokens: dict[str, set[str]] = field(default_factory=dict)  # acknowledged, per reference
    answered: set[str] = field(default_factory=set)  # tokens whose answer got 201

    def send(self, client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response | None:
        sent = time.time()
        try:
            response = client.post(
                f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {self.key}"}
            )
        except httpx.TransportError:
            response = None
        status = None if response is None else response.status_code
        with self.lock:
            self.exchanges.append(Exchange(status, sent, time.time()))
        return response

    def until_answered(
        self, client: httpx.Client, path: str, body: dict[str, Any], deadline: float
    ) -> httpx.Response | None:
        """Send again after a 429 or a failed connection (the invitation is idempotent by
        reference; an answer sent twice is stored once, the second gets 409)."""
        while not self.stop.is_set() and time.monotonic() < deadline:
            response = self.send(client, path, body)
            if response is not None and response.status_code != 429:
                return response
            time.sleep(0.005)
        return None

    def invite(self, client: httpx.Client, ref: str, deadline: float = float("inf")) -> str | None:
        with self.lock:
            self.refs.add(ref)
        body = {"transaction_ref": ref, "service": "HN-1", "channel": "web"}
        response = self.until_answered(client, "/api/v1/invitations", body, deadline)
        if response is None or response.status_code not in ACKNOWLEDGED:
            return None
        token = response.json()["token"]
        with self.lock:
            self.tokens.setdefault(ref, set()).add(token)
        return token

    def client(self, name: str) -> None:
        with httpx.Client(timeout=10, limits=NO_KEEP_ALIVE) as client:
            for i in itertools.count():
                token = self.invite(client, f"{name}-{i}")
                if token is None:
                    continue
                body = {"token": token, "answers": {"overall": 1 + i % 5}, "locale": "vi"}
                answer = self.until_answered(client, "/api/v1/responses", body, float("inf"))
                if answer is not None and answer.status_code == 201:
                    with self.lock:
                        self.answered.add(token)
                if self.stop.is_set():
                    return

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.client, args=(f"LOAD{n}",), daemon=True)
            for n in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        return threads

    def merge(self, other: Load) -> None:
        self.exchanges += other.exchanges
        self.refs |= other.refs
        self.tokens |= other.tokens
        self.answered |= other.answered

    def acknowledged(self, after: float = 0.0) -> list[Exchange]:
        with self.lock:
            return [e for e in self.exchanges if e.status in ACKNOWLEDGED and e.sent > after]


def wait_for(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while (found := probe()) is None:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return found


def workers(supervisor: int, count: int | None = None) -> set[int] | None:
    """The worker processes of uvicorn's supervisor (not multiprocessing's resource
    tracker); None unless there are ``count`` of them, when it is given."""
    found = set()
    for children in Path(f"/proc/{supervisor}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue  # gone since
            if b"spawn_main" in command:
                found.add(int(pid))
    return found if count is None or len(found) == count else None


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own."""
    with new_postgres_database("survey_test_kill") as url:
        migrate(url, tmp_path)
        yield url


async def stored(url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return {
            "invitations": Counter(r["token"] for r in await connection.fetch(
                "SELECT token FROM invitation")),
            "answers": Counter(r["token"] for r in await connection.fetch(
                "SELECT i.token FROM response r JOIN invitation i ON i.id = r.invitation")),
            "invitation_cells": await connection.fetchval(
                "SELECT coalesce(sum(invitations), 0) FROM invitation_cell"),
            "response_cells": await connection.fetchval(
                "SELECT coalesce(sum(responses), 0) FROM response_cell"),
        }  # fmt: skip
    finally:
        await connection.close()


def served_alone(alone: Load, supervisor: int, survivor: int) -> tuple[int, set[int]]:
    """Invitations issued while the survivor is stopped (SIGSTOP): only the new worker can
    accept them. The supervisor replaces a worker that misses its 5 s health check, so
    this stays well under that; the workers it then has are returned, to be checked."""
    issued = 0
    # A fresh one-second window: its whole budget is left.
    time.sleep(1.02 - time.time() % 1)
    os.kill(survivor, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 3
        with httpx.Client(timeout=3, limits=NO_KEEP_ALIVE) as client:
            for i in range(3):
                issued += alone.invite(client, f"ALONE-{i}", deadline) is not None
        present = workers(supervisor)
    finally:
        os.kill(survivor, signal.SIGCONT)
    return issued, present


def test_a_killed_worker_loses_nothing_shares_the_budget_and_is_replaced(
    postgres_url: str, redis_url: str, tmp_path: Path
):
    namespace = f"survey-test-{secrets.token_hex(4)}"
    env = {
        "DATABASE_URL": postgres_url,
        "SURVEY_VAR_DIR": str(tmp_path),
        "SURVEY_SECRET": TEST_SECRET,
        "SURVEY_API_RATE_PER_SECOND": str(BUDGET),
        "SURVEY_REDIS_URL": redis_url,
        "SURVEY_REDIS_NAMESPACE": namespace,
        # No statistics process pool: a worker starts sooner, and the killed one leaves no
        # pool behind (its forkserver and pool processes outlive a SIGKILL today).
        "SURVEY_STATS_WORKERS": "0",
    }
    key = portal_key(env)
    try:
        with server_process(env, tmp_path / "server.log", ("--workers", "2")) as server:
            assert server.process is not None
            supervisor = server.process.pid
            first = wait_for(lambda: workers(supervisor, 2), 30, "two workers")
            wait_for(lambda: server.output().count(STARTED) == 2 or None, 30, "both started")
            load = Load(server.url, key)
            threads = load.start()
            try:
                wait_for(lambda: len(load.acknowledged()) >= 30 or None, 30, "30 acknowledged")
                killed, survivor = sorted(first)
                killed_at = time.time()
                os.kill(killed, signal.SIGKILL)
                new = wait_for(lambda: workers(supervisor) - first or None, 30, "a new worker")
                [new_pid] = new
                # Until the new worker logs that it started, it does not listen: what is
                # answered before then is the survivor's.
                line = f"Started server process [{new_pid}]"
                unheard = killed_at
                while True:
                    read_at = time.time()
                    log = server.output()
                    if line in log:
                        break
                    unheard = read_at  # the line was written after this
                    assert read_at < killed_at + 30, "the new worker did not start\n" + log
                    time.sleep(0.02)
                wait_for(lambda: server.output().count(STARTED) == 3 or None, 30, "it started")
                ready_at = time.time()
                wait_for(lambda: len(load.acknowledged(ready_at)) >= 10 or None, 30, "more load")
            finally:
                load.stop.set()
                for thread in threads:
                    thread.join(timeout=15)
            proof = Load(server.url, key)
            alone, present = served_alone(proof, supervisor, survivor)
            load.merge(proof)
            log = server.output()
    finally:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
        leftover = client.keys(f"{namespace}:*")
        if leftover:
            client.delete(*leftover)
        client.close()

    assert f"Child process [{killed}] died" in log
    assert "Traceback" not in log
    # The survivor kept answering while its sibling was replaced.
    by_survivor = [e for e in load.acknowledged(killed_at) if e.done < unheard]
    assert by_survivor, f"nothing answered in the {unheard - killed_at:.2f} s after the kill"
    # The new worker serves: with the survivor stopped, it answered alone.
    assert present == {survivor, new_pid}
    assert alone == 3
    # Only a failed connection (a request on the killed worker), a 429 or an
    # acknowledgement (409: an answer sent again after its connection died).
    assert {e.status for e in load.exchanges} <= {None, 200, 201, 409, 429}

    found = run_async(stored(postgres_url))
    invitations, answers = found["invitations"], found["answers"]
    assert all(len(tokens) == 1 for tokens in load.tokens.values())  # one per reference
    acknowledged = {token for tokens in load.tokens.values() for token in tokens}
    assert max(invitations.values()) == max(answers.values()) == 1
    assert not acknowledged - set(invitations), "acknowledged invitations were lost"
    assert not load.answered - set(answers), "acknowledged answers were lost"
    assert len(invitations) <= len(load.refs)  # no invitation that nobody asked for
    assert set(answers) <= acknowledged
    assert found["invitation_cells"] == len(invitations)
    assert found["response_cells"] == len(answers)

    # One budget for both workers: the acknowledgements counted in one window (sent and
    # answered within the same second) never exceed it, beyond what keys being learnt allow.
    # Two workers counting alone would grant up to twice the budget.
    within = [e for e in load.exchanges if int(e.sent) == int(e.done)]
    granted = Counter(int(e.sent) for e in within if e.status in ACKNOWLEDGED)
    answered = Counter(int(e.sent) for e in within if e.status is not None)
    assert max(granted.values()) <= BUDGET + LEARNING_SLACK, granted
    # The load asked for more than two budgets in some second, so it could have shown that.
    assert max(answered.values()) > 2 * (BUDGET + LEARNING_SLACK), answered
