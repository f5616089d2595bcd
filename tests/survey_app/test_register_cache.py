"""API keys, services and their questionnaires as each process caches them, on each engine.

The bound (``register_cache_seconds``) is a correctness promise: a key revoked or an
assignment changed by another process is honoured within it. These tests set it small and
poll; a change made through the process's own engine counts at once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from litestar.testing import TestClient

from survey_app.auth import apikeys
from survey_app.lib.settings import Settings
from survey_app.server.app import create_app
from tests.conftest import survey_command
from tests.survey_app.conftest import Portal, make_portal
from tests.survey_app.test_assignment import SERVICE_FORM, questionnaire_dir
from tests.survey_app.test_read_pool import rebound, write_elsewhere  # noqa: F401 (fixture)

BOUND_S = 1.0
# Time for a request (on a busy machine) and for the polling, beyond the bound.
SLACK_S = 2.0
DEFINITION = "/api/v1/questionnaires/public-service-satisfaction"


class Site:
    def __init__(self, client: TestClient, settings: Settings, env: dict[str, str]) -> None:
        self.client = client
        self.settings = settings
        self.env = env
        self.engine = client.app.state["ctx"].engine
        suffix = secrets.token_hex(4).upper()
        self.portal: Portal = self.call(make_portal, f"RC{suffix}", f"RC{suffix}-1")

    def call(self, function: Callable, *args: object, **kwargs: object):
        """Run ``function`` on the app's own loop (PostgreSQL's pool belongs to it)."""
        return self.client.blocking_portal.call(lambda: function(*args, **kwargs))

    def definition(self) -> int:
        return self.client.get(DEFINITION, headers=self.portal.auth).status_code

    def invitation(self, service: str | None = None):  # type: ignore[no-untyped-def]
        body = {
            "transaction_ref": secrets.token_hex(8),
            "service": service or self.portal.service,
            "channel": "web",
        }
        return self.client.post("/api/v1/invitations", json=body, headers=self.portal.auth)

    def invite(self, service: str | None = None) -> dict:
        answer = self.invitation(service)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def survey(self, *args: str) -> None:
        done = survey_command(*args, env=self.env)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def site_with(database_url: str, tmp_path: Path, rebound) -> Iterator[Callable]:  # noqa: F811
    @contextmanager
    def site(bound: float, max_entries: int | None = None) -> Iterator[Site]:
        root = tmp_path / secrets.token_hex(4)
        root.mkdir()
        settings = Settings(
            database_url=database_url,
            secret="register-cache-test",
            api_rate_per_second=0,
            questionnaire_dir=questionnaire_dir(root),
            register_cache_seconds=bound,
        )
        app = create_app(settings)
        if max_entries is not None:
            app.state["ctx"].engine.register.max_entries = max_entries
        env = {
            "DATABASE_URL": database_url,
            "SURVEY_VAR_DIR": str(tmp_path),
            "SURVEY_SECRET": settings.secret,
            "SURVEY_QUESTIONNAIRE_DIR": str(settings.questionnaire_dir),
        }
        with TestClient(app) as client:
            yield Site(client, settings, env)

    return site


def within_bound(check: Callable[[], bool], since: float) -> float:
    """Seconds from ``since`` until ``check()`` holds; fails past the bound and slack."""
    while not check():
        assert time.monotonic() - since <= BOUND_S + SLACK_S, "still served past the bound"
        time.sleep(0.05)
    return time.monotonic() - since


def test_a_key_revoked_by_another_process_is_within_bound_the_bound(site_with):
    with site_with(BOUND_S) as site:
        assert site.definition() == 200
        site.survey("key", "revoke", site.portal.key[: apikeys.SHOWN_PREFIX_LEN])
        revoked = time.monotonic()
        within_bound(lambda: site.definition() == 401, revoked)
        time.sleep(BOUND_S)
        assert site.definition() == 401


def test_invitations_follow_another_process_at_once(site_with):
    """An invitation's key, service and assignment are read in the writer's batch, in the
    transaction that stores it: another process's change counts at the next batch, cache
    or not."""
    with site_with(60.0) as site:
        assert site.invite()["questionnaire"] != SERVICE_FORM
        site.survey("questionnaire", "assign", SERVICE_FORM, "--service", site.portal.service)
        assert site.invite()["questionnaire"] == SERVICE_FORM
        new = site.portal.service + "N"
        assert site.invitation(new).status_code == 400
        site.survey("service", "add", new, "--agency", site.portal.agency, "--name", "New")
        assert site.invitation(new).status_code == 201
        site.survey("key", "revoke", site.portal.key[: apikeys.SHOWN_PREFIX_LEN])
        assert site.invitation().status_code == 401


def test_changes_through_the_process_itself_count_at_once(site_with):
    with site_with(60.0) as site:
        assert site.definition() == 200
        # Revoked behind the process's back: the cache answers, as it may for 60 s.
        sql = "UPDATE api_key SET revoked = $1 WHERE key_hash = $2"
        digest = apikeys.hash_key(site.portal.key)
        site.call(write_elsewhere, site.settings.database_url, sql, True, digest)
        assert site.definition() == 200
        site.call(write_elsewhere, site.settings.database_url, sql, False, digest)
        # Through the process's own engine: at once.
        site.call(apikeys.revoke, site.portal.key)
        assert site.definition() == 401


def test_random_keys_and_codes_cannot_grow_the_cache(site_with):
    with site_with(60.0, max_entries=20) as site:
        register = site.engine.register
        assert site.definition() == 200
        for _ in range(100):
            random_key = {"Authorization": "Bearer svk_" + secrets.token_urlsafe(32)}
            assert site.client.get(DEFINITION, headers=random_key).status_code == 401
        # Unknown keys are not kept at all; the one valid key is.
        assert register.size("keys") == 1
        for _ in range(60):
            body = {"transaction_ref": "R", "service": secrets.token_hex(6), "channel": "web"}
            answer = site.client.post("/api/v1/invitations", json=body, headers=site.portal.auth)
            assert answer.status_code == 400, answer.text
        # Services are read in the writer's batch, never kept: nothing to grow.
        assert register.size("services") == 0
        # The valid key, used again and again, stays while random entries come and go.
        assert site.definition() == 200


def test_the_bound_is_a_setting(tmp_path):
    env = {"SURVEY_SECRET": "x", "SURVEY_VAR_DIR": str(tmp_path)}
    assert Settings.from_env(env).register_cache_seconds == 5.0
    assert (
        Settings.from_env({**env, "SURVEY_REGISTER_CACHE_SECONDS": "0.5"}).register_cache_seconds
        == 0.5
    )
    assert (
        Settings.from_env({**env, "SURVEY_REGISTER_CACHE_SECONDS": "-3"}).register_cache_seconds
        == 0.0
    )


def test_revoke_names_exactly_one_key(site_with):
    with site_with(BOUND_S) as site:
        for wrong, message in (
            ("svk_", "first 12 characters"),
            ("svk_00000000", "no unrevoked key match 'svk_00000000'"),
        ):
            done = survey_command("key", "revoke", wrong, env=site.env)
            assert done.returncode == 1
            assert message in done.stderr
        assert site.definition() == 200
        done = survey_command("key", "revoke", site.portal.key, env=site.env)
        assert done.returncode == 0, done.stderr
        assert "running servers refuse it within 5 s" in done.stdout
        # Revoked once: the same key cannot be revoked again.
        done = survey_command("key", "revoke", site.portal.key, env=site.env)
        assert done.returncode == 1
        assert "no unrevoked key" in done.stderr
