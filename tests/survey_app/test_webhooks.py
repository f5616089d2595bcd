"""Webhooks: signed with Standard Webhooks, from an outbox, at least once, to a real receiver.

The receiver is a real HTTP server in a thread of the test, told to answer 200 or 500, or to
hold a request past the sender's timeout. Signatures are checked with the specification's
reference library (``standardwebhooks``), not with our own code. The in-process tests run an
app of this module's own on a database of its own, per engine, with short delays; the crash
and multi-worker tests run real ``survey serve`` processes.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from piccolo.engine.base import Engine
from piccolo.querystring import QueryString
from prometheus_client import REGISTRY
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from survey_app.db.tables import ALL_TABLES
from survey_app.lib.settings import Settings, parse_networks
from survey_app.server.app import create_app
from survey_app.webhooks import endpoints
from survey_app.webhooks.endpoints import EndpointError
from survey_app.webhooks.signing import Sealer
from tests.conftest import (
    REPO,
    migrate,
    new_postgres_database,
    run_async,
    survey_command,
)
from tests.survey_app.conftest import TEST_SECRET, Portal, invite, make_portal
from tests.survey_app.processes import free_port, portal_key, server_process

# Every test waits for deliveries or runs `survey` commands (seconds each on a busy machine).
pytestmark = pytest.mark.slow

DEADLINE_S = 30
FAST = {  # the loop's timing, short enough for tests
    "webhook_timeout_seconds": 1.0,
    "webhook_backoff_seconds": 0.2,
    "webhook_backoff_max_seconds": 10.0,
    "webhook_max_attempts": 4,
    "webhook_lease_seconds": 2.0,
    "webhook_poll_seconds": 0.05,
}
REGISTER_S = 0.3  # how long a process keeps the endpoint register in these tests
SEALER = Sealer(TEST_SECRET)  # what `survey webhook add` seals secrets with here


def wait_until(condition: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------- the receiver


@dataclass
class Received:
    msg_id: str
    headers: dict[str, str]
    body: bytes
    answered: int | None = None  # None: held, or the sender went away

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


class _Listener(ThreadingHTTPServer):
    # Two workers post up to 32 messages at once: the default backlog (5) would refuse some.
    request_queue_size = 128


@dataclass
class Receiver:
    """Answers each POST by the next behaviour of ``script``, then by ``default``:
    ``ok`` (200), ``fail`` (500) or ``hang`` (held until ``release`` or ``hang_s``)."""

    default: str = "ok"
    script: list[str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    hang_s: float = 20.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                item = Received(self.headers.get("webhook-id", ""), dict(self.headers), body)
                with receiver.lock:
                    receiver.requests.append(item)
                    behaviour = receiver.script.pop(0) if receiver.script else receiver.default
                if behaviour == "hang":
                    receiver.release.wait(receiver.hang_s)
                status = 500 if behaviour == "fail" else 200
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:  # the sender gave up (timeout) or died
                    return
                with receiver.lock:
                    item.answered = status

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Listener(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def seen(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    def delivered(self) -> list[Received]:
        return [r for r in self.seen() if r.answered == 200]

    def ids(self) -> Counter:
        return Counter(r.msg_id for r in self.seen())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


def verified(secret: str, request: Received) -> dict:
    """The payload, once the reference library accepted its signature."""
    return Webhook(secret).verify(request.body, request.headers)


# ------------------------------------------------------------- this module's own database


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def hooks_env(request, tmp_path_factory) -> Iterator[dict[str, str]]:
    """A migrated database of each engine, as the environment of ``survey`` commands."""
    var_dir = tmp_path_factory.mktemp(f"hooks-{request.param}")
    env = {"SURVEY_VAR_DIR": str(var_dir), "SURVEY_SECRET": TEST_SECRET}
    if request.param == "sqlite":
        url = f"sqlite:///{var_dir / 'survey.sqlite'}"
        migrate(url, var_dir)
        yield {**env, "DATABASE_URL": url}
        return
    with new_postgres_database("survey_hooks") as url:
        migrate(url, var_dir)
        yield {**env, "DATABASE_URL": url}


@dataclass
class HookServer:
    url: str
    env: dict[str, str]
    engine: Engine
    loop: asyncio.AbstractEventLoop

    def run(self, work: Any) -> Any:
        async def wrapped() -> Any:
            return await work

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout=60)

    def sql(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return self.run(self.engine.run_querystring(QueryString(sql, *args))) or []

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        done = survey_command("webhook", *args, env=self.env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def add_endpoint(self, agency: str, url: str, *options: str) -> tuple[int, str]:
        """``survey webhook add``: the endpoint's id and secret, once running servers use it."""
        done = self.cli("add", agency, url, *options)
        endpoint = int(re.search(r"Webhook endpoint (\d+)", done.stdout).group(1))
        time.sleep(REGISTER_S * 1.5)  # the documented bound: the register cache
        return endpoint, done.stdout.split()[-1]


@pytest.fixture(scope="module")
def hook_server(hooks_env) -> Iterator[HookServer]:
    """An app of this module's own on its database, delivering with short delays."""
    bound = [table._meta.db for table in ALL_TABLES]
    settings = Settings(
        database_url=hooks_env["DATABASE_URL"],
        secret=TEST_SECRET,
        rate_limit_exempt=parse_networks("127.0.0.1"),
        api_rate_per_second=10_000,
        register_cache_seconds=REGISTER_S,
        **FAST,  # type: ignore[arg-type]
    )
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(uv.serve(),), daemon=True)
    thread.start()
    wait_until(lambda: uv.started or not thread.is_alive(), "the app to start")
    assert uv.started, "the app did not start"
    port = uv.servers[0].sockets[0].getsockname()[1]
    try:
        yield HookServer(f"http://127.0.0.1:{port}", hooks_env, app.state["ctx"].engine, loop)
    finally:
        uv.should_exit = True
        thread.join(timeout=30)
        loop.close()
        # Tables are bound process-wide: give them back to the suite's shared server.
        for table, engine in zip(ALL_TABLES, bound, strict=True):
            table._meta.db = engine


@pytest.fixture
def hooks(hook_server) -> HookServer:
    """The module's app, with no endpoint left from another test (their queues go too)."""
    hook_server.sql("DELETE FROM webhook_endpoint")
    return hook_server


def new_portal(server: HookServer) -> Portal:
    code = "W" + secrets.token_hex(3).upper()
    return server.run(make_portal(code, f"{code}-1"))


def answer(server: HookServer, portal: Portal, ref: str, answers: dict) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        token = invite(http, portal, ref)["token"]
        done = http.post(
            "/api/v1/responses",
            json={"token": token, "answers": answers, "locale": "vi"},
            headers=portal.auth,
        )
        assert done.status_code == 201, done.text


def events_of(server: HookServer, agency: str) -> list[dict[str, Any]]:
    return server.sql(
        "SELECT ev.msg_id AS msg_id, ev.type AS type, ev.response AS response "
        "FROM webhook_event ev JOIN agency a ON a.id = ev.agency WHERE a.code = {}",
        agency,
    )


def attempts_of(server: HookServer, endpoint: int) -> list[dict[str, Any]]:
    return server.sql(
        "SELECT attempted_at, status_code, error, retry_at FROM webhook_attempt "
        "WHERE endpoint = {} ORDER BY id",
        endpoint,
    )


def endpoint_state(server: HookServer, endpoint: int) -> dict[str, Any]:
    return server.sql(
        "SELECT enabled, consecutive_failures, disabled_reason FROM webhook_endpoint WHERE id = {}",
        endpoint,
    )[0]


# ------------------------------------------------------------------------ in-process tests


def test_each_response_makes_one_signed_event_per_subscribed_type(hooks, receiver):
    portal = new_portal(hooks)
    quiet = new_portal(hooks)  # an agency without webhooks pays nothing
    endpoint, secret = hooks.add_endpoint(
        portal.agency, receiver.url, "--events", "response.created,response.dissatisfied"
    )
    ref = "HS-2026-000123"
    answer(hooks, portal, ref, {"overall": 1, "reasons": ["portal_error"], "comment": "lỗi"})
    answer(hooks, portal, "HS-2026-000124", {"overall": 5})
    answer(hooks, quiet, "HS-2026-000125", {"overall": 1, "reasons": ["other"]})

    wait_until(lambda: len(receiver.delivered()) >= 3, "three deliveries")
    stored = events_of(hooks, portal.agency)
    assert Counter(e["type"] for e in stored) == {"response.created": 2, "response.dissatisfied": 1}
    assert len({(e["response"], e["type"]) for e in stored}) == len(stored) == 3
    assert events_of(hooks, quiet.agency) == []
    wait_until(
        lambda: all(d["status"] == "delivered" for d in deliveries(hooks, endpoint)),
        "every delivery recorded",
    )
    # Nothing more comes: each event was posted exactly once.
    assert sorted(receiver.ids().values()) == [1, 1, 1]
    assert set(receiver.ids()) == {e["msg_id"] for e in stored}

    payloads = [verified(secret, request) for request in receiver.seen()]
    with pytest.raises(WebhookVerificationError):
        Webhook(base64.b64encode(b"another key of 32 bytes, not it!").decode()).verify(
            receiver.seen()[0].body, receiver.seen()[0].headers
        )
    dissatisfied = [p for p in payloads if p["type"] == "response.dissatisfied"]
    assert len(dissatisfied) == 1
    data = dissatisfied[0]["data"]
    assert data["agency"] == portal.agency
    assert data["service"] == portal.service
    assert data["channel"] == "web"
    assert data["overall"] == 1
    assert data["reasons"] == ["portal_error"]
    assert data["invitation"].startswith("inv_")
    # The same response's two events name the same invitation; other responses others.
    by_invitation = Counter(p["data"]["invitation"] for p in payloads)
    assert sorted(by_invitation.values()) == [1, 2]
    for request in receiver.seen():
        assert ref.encode() not in request.body  # no transaction reference
        assert "lỗi".encode() not in request.body  # no comment: not opted in
        assert "comments" not in request.payload["data"]
        assert request.msg_id.startswith("msg_")


def deliveries(server: HookServer, endpoint: int) -> list[dict[str, Any]]:
    return server.sql(
        "SELECT d.status AS status, d.attempts AS attempts, ev.msg_id AS msg_id "
        "FROM webhook_delivery d JOIN webhook_event ev ON ev.id = d.event "
        "WHERE d.endpoint = {} ORDER BY d.id",
        endpoint,
    )


def test_failures_back_off_disable_the_endpoint_and_enable_then_replay_deliver(hooks, receiver):
    receiver.default = "fail"
    portal = new_portal(hooks)
    endpoint, secret = hooks.add_endpoint(
        portal.agency, receiver.url, "--events", "response.created"
    )
    failed_before = metric("survey_webhook_delivery_failures_total")
    answer(hooks, portal, "R-1", {"overall": 4})

    wait_until(lambda: not endpoint_state(hooks, endpoint)["enabled"], "the endpoint disabled")
    tried = attempts_of(hooks, endpoint)
    assert len(tried) == FAST["webhook_max_attempts"]
    # What an operator's Prometheus sees (one process here: its own registry).
    assert metric("survey_webhook_delivery_failures_total") - failed_before == len(tried)
    assert all(t["status_code"] == 500 and t["error"] == "HTTP 500" for t in tried)
    assert endpoint_state(hooks, endpoint)["consecutive_failures"] == len(tried)
    assert "4 failed attempts" in endpoint_state(hooks, endpoint)["disabled_reason"]
    # Each retry waited at least as long as planned, and the planned delays grew.
    times = [as_time(t["attempted_at"]) for t in tried]
    planned = [as_time(t["retry_at"]) for t in tried[:-1]]
    assert tried[-1]["retry_at"] is None  # given up
    assert all(later >= due for later, due in zip(times[1:], planned, strict=True))
    delays = [(due - at).total_seconds() for due, at in zip(planned, times, strict=False)]
    assert delays == sorted(delays), delays
    assert delays[-1] > delays[0], delays
    assert len(set(receiver.ids())) == 1  # every attempt carried the same webhook-id
    list_out = hooks.cli("list").stdout
    assert "DISABLED" in list_out
    assert secret not in list_out

    # While disabled, a new response's event waits for the endpoint, unsent.
    answer(hooks, portal, "R-2", {"overall": 3})
    wait_until(lambda: len(deliveries(hooks, endpoint)) == 2, "the second event queued")
    assert {d["status"] for d in deliveries(hooks, endpoint)} == {"paused"}
    wait_until(lambda: metric("survey_webhook_backlog_events") == 2, "the backlog counted")
    seen_while_disabled = len(receiver.seen())

    receiver.default = "ok"
    hooks.run(endpoints.set_enabled(endpoint, True))  # what `survey webhook enable` does
    wait_until(lambda: len(receiver.delivered()) == 2, "both events delivered after enable")
    assert len(receiver.seen()) == seen_while_disabled + 2
    # The receiver answered; the server records each delivery once the answer is in.
    wait_until(
        lambda: {d["status"] for d in deliveries(hooks, endpoint)} == {"delivered"},
        "both deliveries recorded",
    )
    assert endpoint_state(hooks, endpoint)["consecutive_failures"] == 0
    wait_until(lambda: metric("survey_webhook_backlog_events") == 0, "the backlog emptied")

    # Replay: the same events again, with their original ids, each signed afresh.
    first = {r.msg_id for r in receiver.delivered()}
    replayed = hooks.cli("replay", str(endpoint), "--since", "2020-01-01")
    assert "2 events queued again" in replayed.stdout
    wait_until(lambda: len(receiver.delivered()) == 4, "the replayed events delivered")
    assert Counter(r.msg_id for r in receiver.delivered()) == dict.fromkeys(first, 2)
    for request in receiver.delivered():
        verified(secret, request)


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def as_time(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def test_a_receiver_that_hangs_times_out_and_the_retry_has_the_same_id(hooks, receiver):
    receiver.script = ["hang"]
    portal = new_portal(hooks)
    endpoint, secret = hooks.add_endpoint(
        portal.agency, receiver.url, "--events", "response.created"
    )
    answer(hooks, portal, "T-1", {"overall": 5})
    wait_until(lambda: receiver.delivered(), "a delivery after the timeout")
    first, second = receiver.seen()
    assert first.msg_id == second.msg_id
    assert first.answered is None  # the sender gave up on it
    verified(secret, second)
    wait_until(lambda: len(attempts_of(hooks, endpoint)) == 2, "both attempts recorded")
    tried = attempts_of(hooks, endpoint)
    assert tried[0]["status_code"] is None
    assert "no answer within 1 s" in tried[0]["error"]
    assert tried[1]["status_code"] == 200
    assert tried[1]["error"] == ""


def test_comments_go_only_to_endpoints_that_opted_in(hooks, receiver):
    portal = new_portal(hooks)
    plain, plain_secret = hooks.add_endpoint(
        portal.agency, receiver.url + "?plain", "--events", "response.dissatisfied"
    )
    added = hooks.run(  # what `survey webhook add --include-comments` does
        endpoints.add(
            portal.agency, receiver.url + "?comments", "response.dissatisfied", True, SEALER
        )
    )
    opted, opted_secret = added.id, added.secret
    time.sleep(REGISTER_S * 1.5)
    answers = {"overall": 2, "reasons": ["payment_error"], "comment": "gọi tôi 0912345678 nhé"}
    answer(hooks, portal, "C-1", answers)
    wait_until(lambda: len(receiver.delivered()) == 2, "both endpoints served")
    (with_comment,) = [r for r in receiver.seen() if "comments" in r.payload["data"]]
    (without,) = [r for r in receiver.seen() if "comments" not in r.payload["data"]]
    assert with_comment.msg_id == without.msg_id  # one event, two endpoints
    verified(opted_secret, with_comment)
    verified(plain_secret, without)
    text = with_comment.payload["data"]["comments"]["comment"]
    assert text.startswith("gọi tôi")
    assert "0912345678" not in text
    assert b"0912345678" not in without.body
    assert "gọi".encode() not in without.body
    assert plain != opted


def test_refusals_say_what_is_wrong(hooks):
    portal = new_portal(hooks)
    for url, reason in (
        ("ftp://example.org/x", "must start with https://"),
        ("https:///nohost", "names no host"),
        ("https://user:pw@example.org/", "no user or password"),
        ("https://example.org/#top", "#fragment"),
        ("https://example.org:99999/", "Port out of range"),
    ):
        with pytest.raises(EndpointError, match=re.escape(reason)):
            hooks.run(endpoints.add(portal.agency, url, "response.created", False, SEALER))
    with pytest.raises(EndpointError, match=r"unknown event type response\.deleted"):
        hooks.run(
            endpoints.add(portal.agency, "https://example.org/", "response.deleted", False, SEALER)
        )
    with pytest.raises(EndpointError, match="unknown agency 'NOPE'"):
        hooks.run(endpoints.add("NOPE", "https://example.org/", "response.created", False, SEALER))
    # The command line says so in one line, without a traceback.
    done = survey_command("webhook", "add", portal.agency, "ftp://example.org/", "--events",
                          "response.created", env=hooks.env)  # fmt: skip
    assert done.returncode == 1
    assert "Error: 'ftp://example.org/': the URL must start with https://" in done.stderr
    assert "Traceback" not in done.stderr
    done = survey_command("webhook", "replay", "999999", env=hooks.env)
    assert done.returncode == 1
    assert "no webhook endpoint 999999" in done.stderr


def test_secrets_are_stored_sealed_and_a_wrong_server_secret_posts_nothing(hooks, receiver):
    portal = new_portal(hooks)
    endpoint, secret = hooks.add_endpoint(
        portal.agency, receiver.url, "--events", "response.created"
    )
    (stored,) = hooks.sql("SELECT secret FROM webhook_endpoint WHERE id = {}", endpoint)
    assert stored["secret"].startswith("sealed:")
    assert secret not in stored["secret"]
    assert secret.removeprefix("whsec_") not in stored["secret"]
    assert SEALER.open(stored["secret"]) == secret

    # A secret stored before sealing (plain) still signs.
    hooks.sql("UPDATE webhook_endpoint SET secret = {} WHERE id = {}", secret, endpoint)
    answer(hooks, portal, "S-1", {"overall": 5})
    wait_until(lambda: receiver.delivered(), "the delivery signed with the plain secret")
    verified(secret, receiver.delivered()[0])

    # Sealed under another server secret (a restore without the old SURVEY_SECRET): never
    # posted unsigned, each attempt says why, and the endpoint ends disabled.
    other = Sealer("not the server secret").seal(secret)
    hooks.sql("UPDATE webhook_endpoint SET secret = {} WHERE id = {}", other, endpoint)
    posted = len(receiver.seen())
    answer(hooks, portal, "S-2", {"overall": 4})
    wait_until(lambda: not endpoint_state(hooks, endpoint)["enabled"], "the endpoint disabled")
    assert len(receiver.seen()) == posted
    failed = [t for t in attempts_of(hooks, endpoint) if t["status_code"] is None]
    assert len(failed) == FAST["webhook_max_attempts"]
    assert all("SURVEY_SECRET is not the one it was sealed with" in t["error"] for t in failed)


def test_purge_deletes_old_delivered_events_and_keeps_what_still_waits(hooks, receiver):
    portal = new_portal(hooks)
    endpoint, _ = hooks.add_endpoint(portal.agency, receiver.url, "--events", "response.created")
    for ref in ("P-1", "P-2", "P-3"):
        answer(hooks, portal, ref, {"overall": 4})
    wait_until(
        lambda: [d["status"] for d in deliveries(hooks, endpoint)] == ["delivered"] * 3,
        "three deliveries recorded",
    )
    hooks.run(endpoints.set_enabled(endpoint, False))
    answer(hooks, portal, "P-4", {"overall": 2})  # waits, paused, for the endpoint
    wait_until(lambda: len(deliveries(hooks, endpoint)) == 4, "the fourth event queued")
    ids = [e["msg_id"] for e in deliveries(hooks, endpoint)]
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=91)
    for msg_id in (ids[0], ids[1], ids[3]):  # P-3 stays recent
        hooks.sql("UPDATE webhook_event SET created_at = {} WHERE msg_id = {}", old, msg_id)
    assert attempts_of(hooks, endpoint)

    dry = survey_command("purge", "webhooks", "--dry-run", env=hooks.env)
    assert dry.returncode == 0, dry.stderr
    assert "Would delete 2 delivered webhook event(s)" in dry.stdout
    assert len(deliveries(hooks, endpoint)) == 4
    done = survey_command("purge", "webhooks", "--older-than", "13w", env=hooks.env)
    assert done.returncode == 0, done.stderr
    assert "Deleted 2 delivered webhook event(s)" in done.stdout
    left = deliveries(hooks, endpoint)
    assert [(d["msg_id"], d["status"]) for d in left] == [(ids[2], "delivered"), (ids[3], "paused")]
    assert {e["msg_id"] for e in events_of(hooks, portal.agency)} == {ids[2], ids[3]}
    # The purged events' attempts went with them; the recent one's are still there.
    assert len(attempts_of(hooks, endpoint)) == 1
    again = survey_command("purge", "webhooks", env=hooks.env)
    assert "Deleted 0 delivered webhook event(s)" in again.stdout
    bad = survey_command("purge", "webhooks", "--older-than", "3 months", env=hooks.env)
    assert bad.returncode == 2
    assert "use a number of days or weeks" in bad.stderr


# ------------------------------------------------------------------- real server processes


def serve_env(base: dict[str, str]) -> dict[str, str]:
    return {
        **base,
        **{f"SURVEY_{name.upper()}": str(value) for name, value in FAST.items()},
        "SURVEY_REGISTER_CACHE_SECONDS": str(REGISTER_S),
        "SURVEY_CITIZEN_RATE_PER_MINUTE": "0",
        "SURVEY_API_RATE_PER_SECOND": "0",
        "SURVEY_STATS_WORKERS": "0",
    }


def submit(url: str, key: str, agency: str, service: str, count: int) -> None:
    portal = Portal(agency, service, key)
    with httpx.Client(base_url=url, timeout=30) as http:
        for i in range(count):
            token = invite(http, portal, f"K-{i}")["token"]
            done = http.post(
                "/api/v1/responses",
                json={"token": token, "answers": {"overall": 1 + i % 5}},
                headers=portal.auth,
            )
            assert done.status_code == 201, done.text


def add_endpoint(env: dict[str, str], agency: str, url: str) -> str:
    done = survey_command("webhook", "add", agency, url, "--events", "response.created", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    time.sleep(REGISTER_S * 1.5)
    return done.stdout.split()[-1]


def waiting(env: dict[str, str]) -> int:
    """How many messages wait for the only endpoint, as `survey webhook list` says."""
    done = survey_command("webhook", "list", env=env)
    assert done.returncode == 0, done.stderr
    return int(re.search(r"(\d+) waiting", done.stdout).group(1))


@pytest.mark.slow
def test_a_server_killed_mid_delivery_posts_the_same_message_again(tmp_path, receiver):
    var_dir = tmp_path / "var"
    url = f"sqlite:///{var_dir / 'survey.sqlite'}"
    migrate(url, var_dir)
    env = serve_env({"DATABASE_URL": url, "SURVEY_VAR_DIR": str(var_dir), "SURVEY_SECRET": "k"})
    # The test kills the server well within the timeout, so only the kill ends that post;
    # the restarted server may post it again once the lease (twice the timeout) has passed.
    env["SURVEY_WEBHOOK_TIMEOUT_SECONDS"] = "8"
    key = portal_key(env, "KL", "KL-1")
    secret = add_endpoint(env, "KL", receiver.url)
    receiver.script = ["hang"]
    receiver.hang_s = 50

    with server_process(env, tmp_path / "first.log") as first:
        submit(first.url, key, "KL", "KL-1", 3)
        wait_until(lambda: len(receiver.delivered()) == 2, "two delivered, one held", 60)
        # Both recorded as delivered: only the held one may come again.
        wait_until(lambda: waiting(env) == 1, "two deliveries recorded", 60)
        held = next(r for r in receiver.seen() if r.answered is None)
        first.kill()
    receiver.release.set()  # the held handler answers a dead connection
    assert receiver.ids()[held.msg_id] == 1

    with server_process(env, tmp_path / "second.log"):
        wait_until(lambda: receiver.ids()[held.msg_id] == 2, "the held message again", 60)
        wait_until(lambda: waiting(env) == 0, "every delivery recorded", 60)
    again = [r for r in receiver.seen() if r.msg_id == held.msg_id][-1]
    assert again.answered == 200
    assert verified(secret, again) == held.payload
    counts = receiver.ids()
    assert len(counts) == 3
    assert [n for msg_id, n in counts.items() if msg_id != held.msg_id] == [1, 1]


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_post_each_event_once(tmp_path, receiver):
    with new_postgres_database("survey_hooks") as url:
        two_workers_post_each_event_once(tmp_path, receiver, url)


def two_workers_post_each_event_once(tmp_path, receiver, url: str) -> None:
    process = None
    try:
        var_dir = tmp_path / "var"
        migrate(url, var_dir)
        env = serve_env({"DATABASE_URL": url, "SURVEY_VAR_DIR": str(var_dir), "SURVEY_SECRET": "k"})
        key = portal_key(env, "TW", "TW-1")
        add_endpoint(env, "TW", receiver.url)
        port = free_port()
        log = (tmp_path / "workers.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "survey_app", "serve", "--workers", "2", "--port", str(port)],
            env={**os.environ, **env},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        log.close()
        wait_until(lambda: ready(base), "two workers serving", 90)
        submit(base, key, "TW", "TW-1", 40)
        wait_until(lambda: len(receiver.delivered()) >= 40, "forty deliveries", 60)
        wait_until(lambda: waiting(env) == 0, "every delivery recorded", 60)
        counts = receiver.ids()
        assert len(counts) == 40
        assert set(counts.values()) == {1}, counts.most_common(3)
        # One successful POST recorded per event; any other attempt never reached the
        # receiver (counted above), e.g. a connection the busy machine did not accept in time.
        assert run_async(attempts_recorded(url, "status_code = 200")) == 40
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/livez", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


async def attempts_recorded(url: str, where: str = "true") -> int:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return await connection.fetchval(f"SELECT count(*) FROM webhook_attempt WHERE {where}")
    finally:
        await connection.close()
