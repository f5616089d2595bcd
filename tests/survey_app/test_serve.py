"""Smoke test: the real ``survey serve`` process on a free port, driven over a socket."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO, survey_command
from tests.survey_app.processes import free_port

pytestmark = pytest.mark.slow  # every test starts `survey serve` as a process


def test_survey_serve_end_to_end(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'smoke.sqlite'}",
        "SURVEY_VAR_DIR": str(tmp_path),
    }
    assert survey_command("migrate", env=env).returncode == 0
    demo = survey_command("demo", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "generated one" in demo.stderr  # no SURVEY_SECRET: one is made, with a warning
    link = re.search(r"Questionnaire link: \S+(/s/\S+)", demo.stdout).group(1)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "survey_app", "serve", "--port", str(port)],
        env={**os.environ, **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    key = "no key was created"
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/livez", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz").json()["database"] == "ok"
        page = httpx.get(f"{base}{link}?lang=en")
        assert page.status_code == 200
        sent = httpx.post(f"{base}{link}", data={"overall": "5", "lang": "en"})
        assert sent.status_code == 303
        assert httpx.get(f"{base}{link}").status_code == 409
        key = survey_command("key", "create", "HN", "--role", "portal", env=env).stdout.split()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        invitation = httpx.post(
            f"{base}/api/v1/invitations",
            json={"transaction_ref": "REF-PRIVATE-4711", "service": "HN-BIRTH", "channel": "web"},
            headers=auth,
        ).json()
        answer = {
            "token": invitation["token"],
            "answers": {"overall": 1, "comment": "COMMENT-PRIVATE"},
        }
        assert httpx.post(f"{base}/api/v1/responses", json=answer, headers=auth).status_code == 201
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output
    assert (tmp_path / "secret.key").exists()
    # Nothing private reaches the log: no transaction reference, comment, key or secret.
    secret = (tmp_path / "secret.key").read_text().strip()
    for private in ("REF-PRIVATE-4711", "COMMENT-PRIVATE", key, secret):
        assert private not in output


def test_serve_refuses_to_start_without_a_database(tmp_path):
    env = {
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "SURVEY_VAR_DIR": str(tmp_path),
    }
    done = survey_command("serve", "--port", str(free_port()), env=env)
    assert done.returncode == 1
    assert "cannot start" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_a_bad_questionnaire_directory(tmp_path):
    """A questionnaire file that does not validate stops start-up, naming file and reason."""
    bad = tmp_path / "questionnaires"
    bad.mkdir()
    (bad / "broken.toml").write_text(
        'id = "broken"\nversion = 1\ntitle = "T"\n'
        '[[questions]]\nid = "q"\nkind = "slider"\ntext = "T"\n'
    )
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}",
        "SURVEY_VAR_DIR": str(tmp_path),
        "SURVEY_QUESTIONNAIRE_DIR": str(bad),
    }
    done = survey_command("serve", "--port", str(free_port()), env=env)
    assert done.returncode == 1
    assert "broken.toml" in done.stderr
    assert "slider" in done.stderr


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_cockroachdb_url_is_refused_with_the_schemes_that_work(tmp_path, command):
    """CockroachDB is not a target: its URL gets the message of any unsupported scheme."""
    env = {
        "DATABASE_URL": "cockroachdb://root@127.0.0.1:26257/survey",
        "SURVEY_VAR_DIR": str(tmp_path),
    }
    args = ("serve", "--port", str(free_port())) if command == "serve" else ("migrate",)
    done = survey_command(*args, env=env)
    assert done.returncode == 1
    assert "unsupported DATABASE_URL scheme 'cockroachdb'" in done.stderr
    assert "sqlite:///PATH or postgresql://" in done.stderr
    assert "Traceback" not in done.stderr
