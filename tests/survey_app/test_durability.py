"""No answer lost, none counted twice: the server killed mid-traffic, the database stopped.

Both tests run real ``survey serve`` processes. An answer acknowledged with 201 must be
stored; an answer whose request died with the server may be stored or not, and sending it
again must then give 201 or 409, never a second row. The statistics cells, kept in the same
transaction, must count exactly the stored responses.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from survey_app.db.tables import MonthlyRating, Response, ResponseCell
from tests.conftest import migrate, run_async
from tests.survey_app.conftest import TEST_SECRET, invite
from tests.survey_app.processes import portal_key, private_postgres, server_process

pytestmark = pytest.mark.slow  # real `survey serve` processes, killed and restarted

WORKERS = 8


@dataclass
class Traffic:
    """Submissions from several threads, each token sent once, outcomes recorded."""

    url: Callable[[], str]
    key: str
    tokens: list[str]
    statuses: dict[str, int] = field(default_factory=dict)
    retry_after: list[str] = field(default_factory=list)
    died: set[str] = field(default_factory=set)  # the connection failed: outcome unknown
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.pending = list(reversed(self.tokens))

    def submit(self, client: httpx.Client, token: str) -> None:
        body = {"token": token, "answers": {"overall": 1 + len(token) % 5}, "locale": "vi"}
        try:
            answer = client.post(
                f"{self.url()}/api/v1/responses",
                json=body,
                headers={"Authorization": f"Bearer {self.key}"},
            )
        except httpx.TransportError:
            with self.lock:
                self.died.add(token)
            return
        with self.lock:
            self.statuses[token] = answer.status_code
            if answer.status_code == 503:
                self.retry_after.append(answer.headers.get("retry-after", ""))

    def worker(self, pace_s: float) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                with self.lock:
                    if not self.pending:
                        return
                    token = self.pending.pop()
                self.submit(client, token)
                time.sleep(pace_s)

    def run(self, pace_s: float = 0.0) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.worker, args=(pace_s,), daemon=True)
            for _ in range(WORKERS)
        ]
        for thread in threads:
            thread.start()
        return threads

    def acknowledged(self) -> set[str]:
        with self.lock:
            return {token for token, status in self.statuses.items() if status == 201}


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


async def stored_tokens() -> Counter[str]:
    rows = await Response.select(Response.invitation.token.as_alias("token"))
    return Counter(row["token"] for row in rows)


async def counted_in_cells() -> tuple[int, int]:
    cells = await ResponseCell.select(ResponseCell.responses)
    months = await MonthlyRating.select(MonthlyRating.responses)
    return sum(r["responses"] for r in cells), sum(r["responses"] for r in months)


def check_exactly_once(stored: Counter[str], acknowledged: set[str], cells: tuple[int, int]):
    assert max(stored.values(), default=1) == 1
    missing = acknowledged - set(stored)
    assert not missing, f"{len(missing)} acknowledged answers were lost"
    assert cells == (sum(stored.values()), sum(stored.values()))


def test_sigkill_mid_traffic_loses_no_acknowledged_answer(
    database_url, live, http, portal, tmp_path: Path
):
    tokens = [invite(http, portal, ref=f"KILL-{i}")["token"] for i in range(240)]
    env = {
        "DATABASE_URL": database_url,
        "SURVEY_VAR_DIR": str(tmp_path),
        "SURVEY_SECRET": TEST_SECRET,
        "SURVEY_API_RATE_PER_SECOND": "0",
    }
    with server_process(env, tmp_path / "server.log") as server:
        traffic = Traffic(url=lambda: server.url, key=portal.key, tokens=tokens)
        threads = traffic.run()
        wait_until(lambda: len(traffic.acknowledged()) >= 60, 60, "60 acknowledged answers")
        server.kill()
        for thread in threads:
            thread.join(timeout=60)
        killed_log = server.output()
        acknowledged = traffic.acknowledged()
        # Requests in flight at the kill died with it; the rest were never sent.
        assert traffic.died, "the kill should have cut requests short"
        assert set(traffic.statuses.values()) == {201}
        before_restart = live.run(stored_tokens())
        check_exactly_once(before_restart, acknowledged, live.run(counted_in_cells()))

        server.start()
        retry = Traffic(url=lambda: server.url, key=portal.key, tokens=sorted(traffic.died))
        for thread in retry.run():
            thread.join(timeout=60)
        assert not retry.died
        # Sent again: 409 if the killed server had committed it, 201 if not.
        for token, status in retry.statuses.items():
            assert status == (409 if token in before_restart else 201), token
    stored = live.run(stored_tokens())
    check_exactly_once(stored, acknowledged | retry.acknowledged(), live.run(counted_in_cells()))
    assert set(stored) == set(tokens)
    assert "Traceback" not in killed_log


@pytest.mark.postgres
def test_stopped_postgres_gives_503_with_retry_after_then_recovers(tmp_path: Path):
    with private_postgres() as cluster:
        env = {
            "DATABASE_URL": cluster.url,
            "SURVEY_VAR_DIR": str(tmp_path),
            "SURVEY_SECRET": TEST_SECRET,
            "SURVEY_API_RATE_PER_SECOND": "0",
        }
        migrate(cluster.url, tmp_path)
        key = portal_key(env)
        auth = {"Authorization": f"Bearer {key}"}
        with server_process(env, tmp_path / "server.log") as server, httpx.Client() as client:

            def issue(ref: str) -> httpx.Response:
                body = {"transaction_ref": ref, "service": "HN-1", "channel": "web"}
                return client.post(f"{server.url}/api/v1/invitations", json=body, headers=auth)

            tokens = [issue(f"OUT-{i}").json()["token"] for i in range(400)]
            traffic = Traffic(url=lambda: server.url, key=key, tokens=tokens)
            threads = traffic.run(pace_s=0.02)
            wait_until(lambda: len(traffic.acknowledged()) >= 20, 30, "answers before the stop")
            cluster.stop()
            time.sleep(2)
            down = issue("DURING-OUTAGE")
            ready_down = client.get(f"{server.url}/readyz")
            cluster.start()
            for thread in threads:
                thread.join(timeout=120)
            # No restart of the service: invitations (pool) and answers (writer) work again.
            after = issue("AFTER-OUTAGE")
            ready_after = client.get(f"{server.url}/readyz")
            late = Traffic(url=lambda: server.url, key=key, tokens=[after.json()["token"]])
            late.run()[0].join(timeout=30)
            server_log = server.output()

        assert down.status_code == 503, down.text
        assert down.headers["retry-after"].isdigit()
        assert ready_down.status_code == 503
        assert after.status_code == 201
        assert ready_after.status_code == 200
        assert late.statuses == {after.json()["token"]: 201}
        outcomes = Counter(traffic.statuses.values())
        assert outcomes[503] > 0, outcomes  # the stop was seen
        assert set(outcomes) <= {201, 503}, outcomes  # never a 500
        assert all(value.isdigit() for value in traffic.retry_after)
        assert not traffic.died
        # asyncpg's pool logs its own failed reconnects with a trace; ours logs no error.
        assert "unhandled error" not in server_log
        assert "database unavailable: ConnectionRefusedError" in server_log

        stored, cells, invitations = run_async(read_back(cluster.url))
        check_exactly_once(stored, traffic.acknowledged() | late.acknowledged(), cells)
        assert invitations == len(tokens) + 1  # the one asked for during the stop was refused


async def read_back(url: str) -> tuple[Counter[str], tuple[int, int], int]:
    """What the private cluster holds, read without touching the process-wide table binding."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT i.token FROM response r JOIN invitation i ON i.id = r.invitation"
        )
        cells = await connection.fetchval("SELECT coalesce(sum(responses), 0) FROM response_cell")
        months = await connection.fetchval("SELECT coalesce(sum(responses), 0) FROM monthly_rating")
        invitations = await connection.fetchval("SELECT count(*) FROM invitation")
    finally:
        await connection.close()
    return Counter(row["token"] for row in rows), (cells, months), invitations
