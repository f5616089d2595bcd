"""Rate limits against real `survey serve` processes: per address on citizen pages, per key on
the API, one budget shared through Redis by every worker, exemptions for one-stop counters."""

from __future__ import annotations

import os
import secrets
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis
from litestar import Request

from survey_app.server.rate_limits import client_id
from tests.conftest import IN_CI, migrate, survey_command
from tests.survey_app.processes import free_port, server_process

REDIS_URL = os.environ.get("SURVEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> dict[str, str]:
    var_dir = tmp_path_factory.mktemp("rate-limits")
    url = f"sqlite:///{var_dir / 'survey.sqlite'}"
    migrate(url, var_dir)
    return {"DATABASE_URL": url, "SURVEY_VAR_DIR": str(var_dir), "SURVEY_SECRET": "rate-test"}


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        message = f"Redis not reachable at {REDIS_URL} ({error})"
        if IN_CI:
            pytest.fail(message + "; under CI=true this test must run")
        pytest.skip(message + "; shared-store test skipped")
    return REDIS_URL


def guess(client: httpx.Client, url: str) -> httpx.Response:
    """A citizen page for a token that does not exist, as a token guesser would ask."""
    return client.get(f"{url}/s/{secrets.token_urlsafe(16)}")


@pytest.mark.slow
def test_citizen_pages_are_limited_per_address(database, tmp_path: Path):
    env = {**database, "SURVEY_CITIZEN_RATE_PER_MINUTE": "5"}
    with server_process(env, tmp_path / "server.log") as server, httpx.Client() as client:
        guesses = [guess(client, server.url) for _ in range(5)]
        refused = guess(client, server.url)
        posted = client.post(f"{server.url}/s/whatever", data={"overall": "5"})
        # Other parts of the service do not draw on the citizen budget.
        api = client.post(
            f"{server.url}/api/v1/invitations", headers={"Authorization": "Bearer svk_x"}, json={}
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
def test_one_stop_counter_addresses_can_be_exempted(database, tmp_path: Path):
    env = {
        **database,
        "SURVEY_CITIZEN_RATE_PER_MINUTE": "3",
        "SURVEY_RATE_LIMIT_EXEMPT": "10.20.0.0/16, 127.0.0.0/8",
    }
    with server_process(env, tmp_path / "server.log") as server, httpx.Client() as client:
        statuses = [guess(client, server.url).status_code for _ in range(12)]
    assert statuses == [404] * 12


@pytest.mark.slow
def test_api_is_limited_per_key(database, tmp_path: Path):
    env = {**database, "SURVEY_API_RATE_PER_SECOND": "3"}
    with server_process(env, tmp_path / "server.log") as server, httpx.Client() as client:

        def call(key: str) -> httpx.Response:
            return client.post(
                f"{server.url}/api/v1/responses",
                headers={"Authorization": f"Bearer {key}"},
                json={"token": "x", "answers": {}},
            )

        burst = [call("svk_first") for _ in range(20)]
        other_key = call("svk_second")
    statuses = Counter(answer.status_code for answer in burst)
    # A one-second window: the burst may straddle one boundary, so at most 2 x 3 pass.
    assert statuses[401] <= 6
    assert statuses[429] >= 14
    assert set(statuses) == {401, 429}
    limited = next(answer for answer in burst if answer.status_code == 429)
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["status_code"] == 429
    assert other_key.status_code == 401  # its own budget


@pytest.mark.slow
def test_workers_share_one_budget_through_redis(database, redis_url, tmp_path: Path):
    env = {
        **database,
        "SURVEY_CITIZEN_RATE_PER_MINUTE": "6",
        "SURVEY_REDIS_URL": redis_url,
        "SURVEY_REDIS_NAMESPACE": f"survey-test-{secrets.token_hex(4)}",
    }
    with (
        server_process(env, tmp_path / "first.log") as first,
        server_process(env, tmp_path / "second.log") as second,
        httpx.Client() as client,
    ):
        servers = (first, second)
        statuses = [guess(client, s.url).status_code for _ in range(6) for s in servers]
    # With a per-process store each worker would grant 6: twelve 404s.
    assert statuses == [404] * 6 + [429] * 6


@pytest.mark.slow
def test_limits_fail_open_when_redis_is_down(database, tmp_path: Path):
    env = {
        **database,
        "SURVEY_CITIZEN_RATE_PER_MINUTE": "2",
        "SURVEY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    with server_process(env, tmp_path / "server.log") as server, httpx.Client() as client:
        statuses = [guess(client, server.url).status_code for _ in range(5)]
        log = server.output()
    assert statuses == [404] * 5
    assert log.count("rate limits suspended: Redis unavailable") == 1  # once a minute, not per hit


@pytest.mark.slow
def test_serve_refuses_several_workers_without_a_shared_store(database):
    done = survey_command("serve", "--workers", "2", "--port", str(free_port()), env=database)
    assert done.returncode == 1
    assert "SURVEY_REDIS_URL" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_serve_refuses_a_malformed_exemption(database):
    env = {**database, "SURVEY_RATE_LIMIT_EXEMPT": "10.0.0.0/33"}
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
    ],
)
def test_an_ipv6_subscriber_network_shares_one_budget(address, budget_of):
    scope = {"type": "http", "client": (address, 1234), "headers": [], "path": "/s/x"}
    assert client_id(Request(scope)) == budget_of
