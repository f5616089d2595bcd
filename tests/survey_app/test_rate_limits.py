"""Rate limits: per address on citizen pages, per known key on the API (random keys per address),
exemptions for one-stop counters, against real `survey serve` processes; then the middleware,
the counters and the circuit breaker in-process. Several processes sharing one budget, and a
hung Redis under a real server: test_rate_limit_workers.py."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from litestar import Request
from litestar.exceptions import TooManyRequestsException

from survey_app.auth.throttle import client_id
from survey_app.lib.settings import Settings
from survey_app.server.limit_store import (
    COUNT_SCRIPT,
    REDIS_TIMEOUT_S,
    Breaker,
    MemoryCounter,
    MemoryLimitsStore,
    RedisCounter,
    RedisLimitsStore,
    rate_limit_store,
)
from survey_app.server.rate_limits import KnownKeys, Limits, RateLimitMiddleware, rate_limits
from tests.conftest import survey_command
from tests.survey_app.processes import free_port, portal_key, server_process


def guess(client: httpx.Client, url: str) -> httpx.Response:
    """A citizen page for a token that does not exist, as a token guesser would ask."""
    return client.get(f"{url}/s/{secrets.token_urlsafe(16)}")


@pytest.mark.slow
def test_citizen_pages_are_limited_per_address(served_database, tmp_path: Path):
    env = {**served_database, "SURVEY_CITIZEN_RATE_PER_MINUTE": "5"}
    with server_process(env, tmp_path / "server.log") as server, httpx.Client() as client:
        guesses = [guess(client, server.url) for _ in range(5)]
        refused = guess(client, server.url)
        posted = client.post(f"{server.url}/s/whatever", data={"overall": "5"})
        # Other parts of the service do not draw on the citizen budget.
        # A well-formed body: the key is checked with the batch, after the body.
        body = {"transaction_ref": "T-1", "service": "S-1", "channel": "web"}
        api = client.post(
            f"{server.url}/api/v1/invitations", headers={"Authorization": "Bearer svk_x"}, json=body
        )
        assets = client.get(f"{server.url}/embed.js")
    assert [answer.status_code for answer in guesses] == [404] * 5
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["content-type"].startswith("text/html")
    assert "<h1>Quá nhiều yêu cầu</h1>" in refused.text  # localized page, default locale vi
    assert "content-security-policy" in refused.headers
    assert posted.status_code == 429
    assert api.status_code == 401
    assert assets.status_code == 200


@pytest.mark.slow
def test_one_stop_counter_addresses_can_be_exempted(served_database, tmp_path: Path):
    env = {
        **served_database,
        "SURVEY_CITIZEN_RATE_PER_MINUTE": "3",
        "SURVEY_RATE_LIMIT_EXEMPT": "10.20.0.0/16, 127.0.0.0/8",
    }
    with server_process(env, tmp_path / "server.log") as server, httpx.Client() as client:
        statuses = [guess(client, server.url).status_code for _ in range(12)]
    assert statuses == [404] * 12


def windows_spanned(started: float, ended: float) -> int:
    """How many one-second windows a burst touched, by this machine's clock (the server's)."""
    return int(ended) - int(started) + 1


@pytest.mark.slow
def test_api_is_limited_per_key_and_random_keys_per_address(served_database, tmp_path: Path):
    env = {**served_database, "SURVEY_API_RATE_PER_SECOND": "3"}
    key = portal_key(env, agency="RLK", service="RLK-1")
    body = {"transaction_ref": "RL-1", "service": "RLK-1", "channel": "web"}
    with server_process(env, tmp_path / "server.log") as server, httpx.Client() as client:

        def invite(key: str) -> httpx.Response:
            return client.post(
                f"{server.url}/api/v1/invitations",
                headers={"Authorization": f"Bearer {key}"},
                json=body,
            )

        # Its first call draws on the address's budget; once it passed, the key has its own.
        assert invite(key).status_code in (200, 201)
        started = time.time()
        own = [invite(key).status_code for _ in range(20)]
        own_windows = windows_spanned(started, time.time())
        fresh = invite("svk_" + secrets.token_urlsafe(32))
        started = time.time()
        random_keys = [invite("svk_" + secrets.token_urlsafe(32)) for _ in range(20)]
        random_windows = windows_spanned(started, time.time())
    own_statuses = Counter(status in (200, 201) for status in own)
    assert 3 <= own_statuses[True] <= 3 * own_windows
    assert set(own) <= {200, 201, 429}
    assert fresh.status_code == 401  # the key's burst left the address's budget alone
    statuses = Counter(answer.status_code for answer in random_keys)
    # Twenty random keys share the address's budget: they neither escape it nor get one each.
    assert 1 <= statuses[401] <= 3 * random_windows
    assert statuses[401] + statuses[429] == 20
    limited = next(answer for answer in random_keys if answer.status_code == 429)
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["status_code"] == 429
    assert limited.json()["detail"] == "Rate limit exceeded: 3 requests per second"


@pytest.mark.slow
def test_limits_fail_open_when_redis_is_down(served_database, tmp_path: Path):
    env = {
        **served_database,
        "SURVEY_CITIZEN_RATE_PER_MINUTE": "2",
        "SURVEY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    with server_process(env, tmp_path / "server.log") as server, httpx.Client() as client:
        statuses = [guess(client, server.url).status_code for _ in range(5)]
        log = server.output()
    assert statuses == [404] * 5
    assert log.count("rate limits suspended: Redis unavailable") == 1  # once a minute, not per hit


@pytest.mark.slow
def test_serve_refuses_several_workers_without_a_shared_store(served_database):
    port = str(free_port())
    done = survey_command("serve", "--workers", "2", "--port", port, env=served_database)
    assert done.returncode == 1
    assert "SURVEY_REDIS_URL" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_serve_refuses_a_malformed_exemption(served_database):
    env = {**served_database, "SURVEY_RATE_LIMIT_EXEMPT": "10.0.0.0/33"}
    done = survey_command("serve", "--port", str(free_port()), env=env)
    assert done.returncode == 1
    assert "'10.0.0.0/33' is not an address or network" in done.stderr


@pytest.mark.parametrize(
    ("address", "budget_of"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:1:2:3", "2001:db8:1:2::/64"),  # the same subscriber's network
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client on a dual-stack listener
        ("::FFFF:CB00:7107", "203.0.113.7"),
        ("64:ff9b::cb00:7107", "64:ff9b::/64"),  # NAT64 is a gateway's network, not one client
        ("unknown", "unknown"),
    ],
)
def test_whose_budget_a_client_address_draws_on(address, budget_of):
    scope = {"type": "http", "client": (address, 1234), "headers": [], "path": "/s/x"}
    assert client_id(Request(scope)) == budget_of


# The limiter in-process: the middleware on a stub app, the counters, the breaker.

ROUTE = SimpleNamespace(opt={})
PUBLIC_ROUTE = SimpleNamespace(opt={"public": True})


def http_scope(
    path: str, address: str = "198.51.100.7", key: str | None = None, route=ROUTE
) -> dict:
    headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
    return {
        "type": "http",
        "path": path,
        "client": (address, 40000),
        "headers": headers,
        "route_handler": route,
    }


class Stub:
    """The app behind the middleware: answers every request with ``status``."""

    def __init__(self, settings: Settings, status: int = 200, counter=None) -> None:
        self.status = status
        self.now_ms = 1_000_000 * 60_000  # the start of a minute, and of a second
        self.limits = Limits(settings, counter or MemoryCounter(), clock_ms=lambda: self.now_ms)
        self.middleware = RateLimitMiddleware(self.app, self.limits)

    async def app(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def call(self, scope: dict) -> int | TooManyRequestsException:
        sent: list[dict] = []

        async def send(message) -> None:
            sent.append(message)

        try:
            await self.middleware(scope, None, send)
        except TooManyRequestsException as refused:
            return refused
        return sent[0]["status"]

    def calls(self, *scopes: dict) -> list[int]:
        async def run() -> list:
            return [await self.call(scope) for scope in scopes]

        return [429 if isinstance(got, Exception) else got for got in asyncio.run(run())]


def test_citizen_budget_per_address_with_retry_after_to_the_end_of_the_minute():
    stub = Stub(Settings(citizen_rate_per_minute=3))
    stub.now_ms += 15_500
    assert stub.calls(*[http_scope("/s/token")] * 4) == [200, 200, 200, 429]
    refused = asyncio.run(stub.call(http_scope("/s/token")))
    assert refused.headers["Retry-After"] == "45"  # 44.5 s left, rounded up
    assert refused.status_code == 429
    # Another address, another budget; other paths are not counted.
    assert stub.calls(http_scope("/s/token", "198.51.100.8"), http_scope("/login")) == [200, 200]
    stub.now_ms += 45_000  # the next minute
    assert stub.calls(http_scope("/s/token")) == [200]


def test_an_ipv4_mapped_address_is_the_same_client_and_exempt_alike():
    stub = Stub(Settings(citizen_rate_per_minute=2, rate_limit_exempt=("10.20.0.0/16",)))
    mapped, plain = http_scope("/s/t", "::ffff:198.51.100.7"), http_scope("/s/t", "198.51.100.7")
    assert stub.calls(mapped, plain, mapped) == [200, 200, 429]
    counter = http_scope("/s/t", "::ffff:10.20.3.4")  # a one-stop counter, seen through IPv6
    assert stub.calls(*[counter] * 5) == [200] * 5


def test_random_keys_draw_on_the_address_budget():
    stub = Stub(Settings(api_rate_per_second=3), status=401)
    keys = [http_scope("/api/v1/stats", key="svk_" + secrets.token_urlsafe(32)) for _ in range(6)]
    implausible = http_scope("/api/v1/stats", key="not-a-key")
    assert stub.calls(*keys, implausible) == [401, 401, 401, 429, 429, 429, 429]
    assert stub.limits.known_keys._until == {}  # refused keys are not remembered
    stub.now_ms += 1_000
    assert stub.calls(http_scope("/api/v1/stats", "198.51.100.99", key="svk_x")) == [401]


def test_a_key_seen_to_pass_a_guard_has_its_own_budget():
    stub = Stub(Settings(api_rate_per_second=2))
    key = "svk_" + secrets.token_urlsafe(32)
    # The first call counts against the address; its 2xx on a guarded route teaches the key.
    assert stub.calls(http_scope("/api/v1/stats", key=key)) == [200]
    assert stub.calls(*[http_scope("/api/v1/stats", key=key)] * 3) == [200, 200, 429]
    assert stub.calls(http_scope("/api/v1/stats", key="svk_other")) == [200]  # the address's 2nd


def test_a_2xx_on_a_public_route_does_not_make_a_key_known():
    stub = Stub(Settings(api_rate_per_second=2))
    key = "svk_" + secrets.token_urlsafe(32)
    public = http_scope("/api/v1/questionnaires/x", key=key, route=PUBLIC_ROUTE)
    assert stub.calls(public, public, public) == [200, 200, 429]
    assert key not in stub.limits.known_keys


def test_known_keys_are_bounded_and_forgotten():
    known = KnownKeys(size=3, ttl_s=0.05)
    for digest in "abcd":
        known.add(digest)
    assert "a" not in known  # the oldest went first
    assert all(digest in known for digest in "bcd")
    time.sleep(0.06)
    assert "b" not in known
    assert known._until.keys() == {"c", "d"}  # "b" was dropped when asked for


def test_the_memory_counter_keeps_the_current_window_only():
    counter = MemoryCounter()

    async def run() -> list[int | None]:
        hits = [await counter.hit("citizen", f"198.51.100.{i}", 7, 60_000) for i in range(100)]
        hits += [await counter.hit("citizen", "198.51.100.0", 7, 60_000)]
        hits += [await counter.hit("citizen", "198.51.100.0", 8, 60_000)]
        return hits

    assert asyncio.run(run()) == [1] * 100 + [2, 1]
    assert counter._windows["citizen"] == (8, {"198.51.100.0": 1})


def test_limits_off_means_no_middleware():
    settings = Settings(citizen_rate_per_minute=0, api_rate_per_second=0)
    assert rate_limits(settings, MemoryLimitsStore()) == []


def redis_store(url: str, namespace: str) -> RedisLimitsStore:
    return rate_limit_store(Settings(redis_url=url, rate_limit_namespace=namespace))


def test_redis_counts_are_exact_under_concurrency(redis_url):
    namespace = f"survey-test-{secrets.token_hex(4)}"
    # A script of this test's own, so Redis has not cached it: the first hits take the
    # NOSCRIPT path, as after a Redis restart.
    script = COUNT_SCRIPT + f"-- {namespace}\n"

    async def run() -> tuple[list, int, int]:
        stores = [redis_store(redis_url, namespace) for _ in range(2)]
        counters = [
            RedisCounter(store._redis, namespace, store.breaker, script=script) for store in stores
        ]
        hits = [counters[i % 2].hit("citizen", "198.51.100.7", 42, 60_000) for i in range(300)]
        counts = await asyncio.gather(*hits)
        key = f"{namespace}:citizen:198.51.100.7:42"
        ttl, value = await stores[0]._redis.pttl(key), int(await stores[0]._redis.get(key))
        await stores[0]._redis.delete(key)
        for store in stores:
            await store.__aexit__(None, None, None)
        return counts, ttl, value

    counts, ttl, value = asyncio.run(run())
    assert sorted(counts) == list(range(1, 301))  # every hit counted once, none lost
    assert value == 300
    assert 0 < ttl <= 60_000


class HungRedis:
    """A TCP server that accepts connections and reads, but never answers."""

    def __init__(self) -> None:
        self.connections = 0
        self.received = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.swallow, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        while data := await reader.read(4096):
            self.received += len(data)
        writer.close()

    async def stop(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


def test_a_hung_redis_is_left_alone_and_nothing_queues(caplog):
    hung = HungRedis()

    async def run() -> dict:
        port = await hung.start()
        store = redis_store(f"redis://127.0.0.1:{port}/0", "survey-test-hung")
        stub = Stub(Settings(citizen_rate_per_minute=1), counter=store.counter)
        started = time.monotonic()
        first = await asyncio.gather(*(stub.call(http_scope("/s/t")) for _ in range(20)))
        first_s = time.monotonic() - started
        asked = (hung.connections, hung.received)
        started = time.monotonic()
        second = await asyncio.gather(*(stub.call(http_scope("/s/t")) for _ in range(20)))
        login_count = await store.get("login:address:x")
        second_s = time.monotonic() - started
        asked_again = (hung.connections, hung.received)
        await store.__aexit__(None, None, None)
        await hung.stop()
        return locals()

    with caplog.at_level(logging.WARNING, logger="survey.ratelimit"):
        got = asyncio.run(run())
    # Served uncounted, all at once: one timeout, not twenty in a row.
    assert got["first"] == [200] * 20
    assert got["first_s"] < 2 * REDIS_TIMEOUT_S + 0.5
    assert got["asked"][1] > 0
    # The breaker is open: the next requests and the login throttle do not ask Redis at all.
    assert got["second"] == [200] * 20
    assert got["login_count"] is None
    assert got["second_s"] < 0.2
    assert got["asked_again"] == got["asked"]
    warnings = [r.message for r in caplog.records if "rate limits suspended" in r.message]
    assert warnings == [
        "rate limits suspended: Redis unavailable (TimeoutError); requests are not counted "
        "until it answers again (asked every 10 s)"
    ]


def test_the_breaker_probes_in_the_background_and_closes_when_redis_answers(caplog):
    answers: list[BaseException | None] = [ConnectionError("refused"), None]

    async def probe() -> None:
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    async def run() -> list:
        breaker = Breaker(probe, cool_down_s=0.05)
        seen = [breaker.allows()]
        breaker.failed(TimeoutError())
        seen.append(breaker.allows())  # cooling down
        await asyncio.sleep(0.06)
        seen.append(breaker.allows())  # starts the first probe, which fails, without waiting
        await asyncio.sleep(0)
        seen.append(breaker.allows())
        await asyncio.sleep(0.06)
        seen.append(breaker.allows())  # the second probe: Redis answers
        await asyncio.sleep(0)
        seen.append(breaker.allows())
        return seen

    with caplog.at_level(logging.WARNING, logger="survey.ratelimit"):
        assert asyncio.run(run()) == [True, False, False, False, False, True]
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "suspended" in m]) == 1  # once a minute, not per failure
    assert messages[-1] == "rate limits resumed: Redis answers again"
