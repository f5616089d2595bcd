"""Rate limits across real `survey serve` processes: two servers counting one budget in Redis
exactly under concurrent load, and servers that keep answering when Redis hangs."""

from __future__ import annotations

import secrets
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from tests.survey_app.processes import server_process

BUDGET = 25
REQUESTS = 80


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    yield client
    client.close()


def burst(urls: list[str], address: str) -> list[int]:
    """REQUESTS citizen-page guesses at once, spread over ``urls``, as one client sends them
    (half of them naming it as a dual-stack listener would: IPv4-mapped)."""

    def guess(i: int) -> int:
        client_address = f"::ffff:{address}" if i % 2 else address
        return httpx.get(
            f"{urls[i % len(urls)]}/s/{secrets.token_urlsafe(16)}",
            headers={"X-Forwarded-For": client_address},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(guess, range(REQUESTS)))


@pytest.mark.slow
def test_two_workers_grant_exactly_one_budget_under_concurrent_load(
    served_database, redis_client, redis_url, tmp_path: Path
):
    namespace = f"survey-test-{secrets.token_hex(4)}"
    env = {
        **served_database,
        "SURVEY_CITIZEN_RATE_PER_MINUTE": str(BUDGET),
        "SURVEY_REDIS_URL": redis_url,
        "SURVEY_REDIS_NAMESPACE": namespace,
    }
    with (
        server_process(env, tmp_path / "first.log") as first,
        server_process(env, tmp_path / "second.log") as second,
    ):
        # Windows are whole minutes of the wall clock, which the servers share with this test:
        # a burst that ends in the minute it started was counted in one window. One retry,
        # from another address, if it did not.
        for attempt in range(2):
            address = f"198.51.100.{attempt + 1}"
            if time.time() % 60 > 40:
                time.sleep(60.5 - time.time() % 60)
            window = int(time.time() // 60)
            statuses = burst([first.url, second.url], address)
            if int(time.time() // 60) == window:
                break
        else:
            pytest.fail("two bursts straddled a minute boundary")
    assert Counter(statuses) == {404: BUDGET, 429: REQUESTS - BUDGET}
    key = f"{namespace}:citizen:{address}:{window}"
    assert int(redis_client.get(key)) == REQUESTS  # one increment per request, both servers
    assert 0 < redis_client.pttl(key) <= 60_000
    redis_client.delete(*redis_client.keys(f"{namespace}:*"))


class Swallow(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: HungRedis = self.server  # type: ignore[assignment]
        server.connections += 1
        while data := self.request.recv(4096):
            server.received += len(data)


class HungRedis(socketserver.ThreadingTCPServer):
    """Accepts connections and reads what is sent, never answers: a Redis that hangs."""

    daemon_threads = True
    connections = 0
    received = 0

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Swallow)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.server_address[1]}/0"


def page_loads(url: str, count: int) -> tuple[list[int], float]:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=count) as pool:
        statuses = list(
            pool.map(
                lambda _: httpx.get(f"{url}/s/{secrets.token_urlsafe(16)}", timeout=30).status_code,
                range(count),
            )
        )
    return statuses, time.monotonic() - started


@pytest.mark.slow
def test_pages_are_served_at_once_when_redis_hangs(served_database, tmp_path: Path):
    hung = HungRedis()
    threading.Thread(target=hung.serve_forever, daemon=True).start()
    env = {**served_database, "SURVEY_CITIZEN_RATE_PER_MINUTE": "2", "SURVEY_REDIS_URL": hung.url}
    try:
        with server_process(env, tmp_path / "server.log") as server:
            first, first_s = page_loads(server.url, 20)
            asked = (hung.connections, hung.received)
            second, second_s = page_loads(server.url, 20)
            asked_again = (hung.connections, hung.received)
            log = server.output()
    finally:
        hung.shutdown()
        hung.server_close()
    assert first == [404] * 20
    assert asked[0] >= 1
    # The breaker is open: the next loads are served without asking Redis at all.
    assert second == [404] * 20
    assert asked_again == asked
    # What the hang cost the first loads, over the same loads without Redis: about one
    # timeout (0.25 s) in all. Before, behind one process-wide lock, each load waited for
    # the timeouts of those before it: 20 loads took 10 s.
    assert first_s - second_s < 1, (first_s, second_s)
    assert log.count("rate limits suspended: Redis unavailable (TimeoutError)") == 1
