"""Questionnaires assigned per agency and per service, on each engine.

A server process of this test's own serves three questionnaires from a
SURVEY_QUESTIONNAIRE_DIR of its own: the default one and two variants, each
with a question text of its own; ``agency-form`` also requires a text answer,
``detail``, that the default does not have. ``survey questionnaire assign``
and ``list`` run as real processes against the same database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from questionnaires import DEFAULT_QUESTIONNAIRE_ID
from survey_app.agencies import directory
from survey_app.cli import main
from survey_app.db.tables import Response
from tests.conftest import REPO, survey_command
from tests.survey_app.conftest import Portal, make_portal
from tests.survey_app.processes import server_process

DEFAULT_FILE = REPO / "questionnaires" / f"{DEFAULT_QUESTIONNAIRE_ID}.toml"
DEFAULT_TEXT = "Overall, how satisfied are you with this online public service?"
# Texts of the variants: msgids the shipped catalogs translate, so the files load.
AGENCY_FORM, AGENCY_TEXT = "agency-form", "Compared with other agencies"
SERVICE_FORM, SERVICE_TEXT = "service-form", "Agencies compared"
DETAIL = """
[[questions]]
id = "detail"
kind = "text"
text = "Please describe the other reason"
required = true
max_length = 200
"""


def write_variant(directory: Path, questionnaire_id: str, text: str, extra: str = "") -> None:
    source = DEFAULT_FILE.read_text(encoding="utf-8")
    assert f'id = "{DEFAULT_QUESTIONNAIRE_ID}"' in source
    assert DEFAULT_TEXT in source
    variant = source.replace(f'id = "{DEFAULT_QUESTIONNAIRE_ID}"', f'id = "{questionnaire_id}"')
    (directory / f"{questionnaire_id}.toml").write_text(
        variant.replace(DEFAULT_TEXT, text) + extra, encoding="utf-8"
    )


def questionnaire_dir(root: Path) -> Path:
    directory = root / "questionnaires"
    directory.mkdir()
    (directory / DEFAULT_FILE.name).write_text(DEFAULT_FILE.read_text(encoding="utf-8"))
    write_variant(directory, AGENCY_FORM, AGENCY_TEXT, DETAIL)
    write_variant(directory, SERVICE_FORM, SERVICE_TEXT)
    return directory


@dataclass
class Site:
    url: str
    env: dict[str, str]
    mic: Portal  # services MIC-1 and MIC-2
    mof: Portal  # service MOF-1

    def survey(self, *args: str):
        return survey_command(*args, env=self.env)

    def assign(self, *args: str) -> None:
        done = self.survey("questionnaire", "assign", *args)
        assert done.returncode == 0, done.stdout + done.stderr

    def listing(self) -> dict[str, dict[str, str]]:
        """``survey questionnaire list`` as {id: {field: value}}; the id line's note as "note"."""
        done = self.survey("questionnaire", "list")
        assert done.returncode == 0, done.stdout + done.stderr
        blocks: dict[str, dict[str, str]] = {}
        for line in done.stdout.splitlines():
            if not line.startswith(" "):
                qid, _, note = line.partition(" ")
                current = blocks[qid] = {"note": note}
            else:
                field, _, value = line.strip().partition(": ")
                current[field] = value
        return blocks


@pytest.fixture
def site(live, tmp_path) -> Iterator[Site]:
    mic = live.run(make_portal("MIC", "MIC-1"))
    live.run(directory.add_service("MIC-2", "MIC", "Dịch vụ MIC-2", {}, False))
    mof = live.run(make_portal("MOF", "MOF-1"))
    env = {
        "DATABASE_URL": live.settings.database_url,
        "SURVEY_SECRET": live.settings.secret,
        "SURVEY_VAR_DIR": str(tmp_path),
        "SURVEY_QUESTIONNAIRE_DIR": str(questionnaire_dir(tmp_path)),
        "SURVEY_RATE_LIMIT_EXEMPT": "127.0.0.1",
        # The server reads each assignment made by the CLI at once; how long it may keep
        # one is tested in test_register_cache.py.
        "SURVEY_REGISTER_CACHE_SECONDS": "0",
    }
    with server_process(env, tmp_path / "server.log") as server:
        yield Site(url=server.url, env=env, mic=mic, mof=mof)


def invite(http: httpx.Client, portal: Portal, service: str, ref: str) -> httpx.Response:
    body = {"transaction_ref": ref, "service": service, "channel": "web"}
    answer = http.post("/api/v1/invitations", json=body, headers=portal.auth)
    assert answer.status_code in (200, 201), answer.text
    return answer


def asked(http: httpx.Client, portal: Portal, service: str, ref: str) -> str:
    return invite(http, portal, service, ref).json()["questionnaire"]


def answer(http: httpx.Client, portal: Portal, token: str, answers: dict) -> httpx.Response:
    body = {"token": token, "answers": answers}
    return http.post("/api/v1/responses", json=body, headers=portal.auth)


@pytest.mark.slow
def test_invitations_ask_the_service_then_agency_then_default_questionnaire(site, live):
    with httpx.Client(base_url=site.url, timeout=30) as http:
        mic, mof = site.mic, site.mof
        first = invite(http, mic, "MIC-2", "before").json()
        assert first["questionnaire"] == DEFAULT_QUESTIONNAIRE_ID
        assert set(first) == {"token", "url", "expires_at", "questionnaire"}

        site.assign(AGENCY_FORM, "--agency", "MIC")
        site.assign(SERVICE_FORM, "--service", "MIC-1")
        assert asked(http, mic, "MIC-1", "s1") == SERVICE_FORM
        agency_invitation = invite(http, mic, "MIC-2", "a1")
        assert agency_invitation.status_code == 201
        assert agency_invitation.json()["questionnaire"] == AGENCY_FORM
        assert asked(http, mof, "MOF-1", "d1") == DEFAULT_QUESTIONNAIRE_ID
        # The invitation issued before the assignment keeps its questionnaire.
        again = invite(http, mic, "MIC-2", "before")
        assert again.status_code == 200
        assert again.json() == {**first, "url": again.json()["url"]}

        # The citizen page shows the invitation's questionnaire, and only it.
        token = agency_invitation.json()["token"]
        page = http.get(f"/s/{token}?lang=en")
        assert page.status_code == 200
        assert AGENCY_TEXT in page.text
        assert DEFAULT_TEXT not in page.text
        page = http.get(f"/s/{invite(http, mic, 'MIC-1', 's1').json()['token']}?lang=en")
        assert SERVICE_TEXT in page.text
        assert DEFAULT_TEXT not in page.text
        page = http.get(f"/s/{first['token']}?lang=en")
        assert DEFAULT_TEXT in page.text
        assert AGENCY_TEXT not in page.text
        definition = http.get(f"/api/v1/questionnaires/{AGENCY_FORM}?lang=en", headers=mic.auth)
        assert definition.status_code == 200
        assert "detail" in {q["id"] for q in definition.json()["questions"]}

        # Answers are checked against the invitation's questionnaire.
        refused = answer(http, mic, token, {"overall": 5})
        assert refused.status_code == 400, refused.text
        assert "answers.detail" in {item["key"] for item in refused.json()["extra"]}
        assert answer(http, mic, token, {"overall": 5, "detail": "ok"}).status_code == 201
        default_token = invite(http, mof, "MOF-1", "d1").json()["token"]
        refused = answer(http, mof, default_token, {"overall": 4, "detail": "ok"})
        assert refused.status_code == 400
        assert "answers.detail" in {item["key"] for item in refused.json()["extra"]}
        assert answer(http, mof, default_token, {"overall": 4}).status_code == 201
        stored = live.run(Response.select(Response.questionnaire_id, Response.overall))
        assert sorted((r["questionnaire_id"], r["overall"]) for r in stored) == [
            (AGENCY_FORM, 5),
            (DEFAULT_QUESTIONNAIRE_ID, 4),
        ]

        listing = site.listing()
        assert listing[AGENCY_FORM] == {
            "note": "", "versions": "1", "agencies": "MIC", "services": "-", "responses": "1",
        }  # fmt: skip
        assert listing[SERVICE_FORM] == {
            "note": "", "versions": "1", "agencies": "-", "services": "MIC-1", "responses": "0",
        }  # fmt: skip
        assert listing[DEFAULT_QUESTIONNAIRE_ID] == {
            "note": "(default)", "versions": "1", "agencies": "-", "services": "-",
            "responses": "1",
        }  # fmt: skip

        # Re-assigning changes new invitations only.
        site.assign(AGENCY_FORM, "--service", "MIC-1")
        site.assign("--clear", "--agency", "MIC")
        assert asked(http, mic, "MIC-1", "s2") == AGENCY_FORM
        assert asked(http, mic, "MIC-1", "s1") == SERVICE_FORM
        assert asked(http, mic, "MIC-2", "a2") == DEFAULT_QUESTIONNAIRE_ID
        assert asked(http, mic, "MIC-2", "a1") == AGENCY_FORM
        listing = site.listing()
        assert (listing[AGENCY_FORM]["agencies"], listing[AGENCY_FORM]["services"]) == (
            "-",
            "MIC-1",
        )
        assert listing[SERVICE_FORM]["services"] == "-"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((AGENCY_FORM, "--agency", "NOPE"), 1, "unknown agency 'NOPE'"),
        ((AGENCY_FORM, "--service", "NOPE"), 1, "unknown service 'NOPE'"),
        (("--clear", "--service", "NOPE"), 1, "unknown service 'NOPE'"),
        (("no-such-form", "--agency", "MIC"), 2, "unknown questionnaire 'no-such-form'"),
    ],
)
def test_assign_refuses_unknown_questionnaires_and_codes(live, tmp_path, args, code, message):
    live.run(make_portal("MIC", "MIC-1"))
    env = {
        "DATABASE_URL": live.settings.database_url,
        "SURVEY_SECRET": live.settings.secret,
        "SURVEY_VAR_DIR": str(tmp_path),
        "SURVEY_QUESTIONNAIRE_DIR": str(questionnaire_dir(tmp_path)),
    }
    done = survey_command("questionnaire", "assign", *args, env=env)
    assert done.returncode == code, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((AGENCY_FORM,), "exactly one of --service CODE or --agency CODE"),
        ((AGENCY_FORM, "--agency", "A", "--service", "S"), "exactly one of"),
        (("--agency", "A"), "give a QUESTIONNAIRE_ID, or --clear"),
        ((AGENCY_FORM, "--clear", "--agency", "A"), "leave out QUESTIONNAIRE_ID"),
    ],
)
def test_assign_usage_errors_exit_2(args, message):
    result = CliRunner().invoke(main, ["questionnaire", "assign", *args], prog_name="survey")
    assert result.exit_code == 2, result.output
    assert "Usage: survey questionnaire assign" in result.stderr
    assert message in result.stderr
