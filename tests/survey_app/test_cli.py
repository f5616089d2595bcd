"""The ``survey`` commands: help and usage errors in-process through click, everything
that touches a database as real processes against each engine."""

from __future__ import annotations

import re

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from survey_app.cli import main
from survey_app.db.tables import Agency, ApiKey, Service
from tests.conftest import survey_command

# Words each command's own help must show (its options, arguments or subcommands), next to
# its own usage line, so that the help of a neighbour or of the parent group would not pass.
HELP: dict[tuple[str, ...], list[str]] = {
    (): [
        "agency", "analyze", "backup", "demo", "key", "migrate", "publish", "purge",
        "questionnaire", "report", "restore", "rollup", "serve", "service", "user",
    ],
    ("serve",): ["--host", "--port", "--workers"],
    ("migrate",): [],
    ("publish",): ["--quarter", "--out"],
    ("backup",): ["--out", "--force", "DATABASE_URL"],
    ("restore",): ["FILE", "DATABASE_URL", "empty"],
    ("demo",): ["--responses", "--months", "--seed"],
    ("agency",): ["add"],
    ("agency", "add"): ["CODE", "--kind", "--name", "--frame-origin", "--translation"],
    ("service",): ["add"],
    ("service", "add"): ["CODE", "--agency", "--name", "--essential"],
    ("key",): ["create", "revoke"],
    ("key", "create"): ["AGENCY", "--role", "--label"],
    ("key", "revoke"): ["KEY", "SURVEY_REGISTER_CACHE_SECONDS"],
    ("user",): ["create"],
    ("user", "create"): ["USERNAME", "--admin", "--role", "--agency", "--password"],
    ("questionnaire",): ["check", "assign", "list", "import-xlsform"],
    ("questionnaire", "check"): ["FILES"],
    ("questionnaire", "assign"): ["QUESTIONNAIRE_ID", "--service", "--agency", "--clear"],
    ("questionnaire", "list"): [],
    ("questionnaire", "import-xlsform"): ["FILE", "--id", "--version"],
    ("analyze",): ["reasons", "satisfaction", "trend"],
    ("analyze", "reasons"): ["--counts", "--respondents"],
    ("analyze", "satisfaction"): ["--counts", "--target"],
    ("analyze", "trend"): ["--counts", "--chart"],
    ("report",): ["reasons", "satisfaction", "trend"],
    ("report", "reasons"): ["--group-by", "--channel", "--from"],
    ("report", "satisfaction"): ["--group-by", "--target", "--essential"],
    ("report", "trend"): ["--period", "--agency", "--to"],
    ("purge",): ["comments", "audit", "webhooks"],
    ("purge", "webhooks"): ["--older-than", "90d", "--dry-run"],
    ("purge", "audit"): ["--older-than", "--dry-run"],
    ("purge", "comments"): ["--older-than", "--dry-run"],
    ("rollup",): ["rebuild"],
    ("rollup", "rebuild"): [],
    ("webhook",): ["add", "list", "enable", "disable", "replay", "attempts", "remove"],
    ("webhook", "add"): ["AGENCY", "URL", "--events", "--include-comments"],
    ("webhook", "list"): [],
    ("webhook", "enable"): ["ID"],
    ("webhook", "disable"): ["ID"],
    ("webhook", "replay"): ["ID", "--since"],
    ("webhook", "attempts"): ["ID", "--limit"],
    ("webhook", "remove"): ["ID"],
}  # fmt: skip


def survey(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="survey")


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()):
    yield prefix
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


def test_help_table_names_every_command():
    # A command added without an entry in HELP would otherwise go untested.
    assert sorted(command_paths(main)) == sorted(HELP)


@pytest.mark.parametrize(
    ("command", "words"), HELP.items(), ids=[" ".join(command) or "survey" for command in HELP]
)
def test_every_command_has_its_own_help(command, words):
    result = survey(*command, "--help")
    assert result.exit_code == 0, result.output
    assert f"Usage: {' '.join(('survey', *command))} [OPTIONS]" in result.stdout
    for word in words:
        assert word in result.stdout


def test_short_help_flag_reaches_subcommands():
    # -h is configured on the root group only; click must hand it down to every level.
    assert survey("report", "trend", "-h").stdout == survey("report", "trend", "--help").stdout


@pytest.mark.parametrize(
    ("args", "usage", "named"),
    [
        (["frobnicate"], "survey", "frobnicate"),
        (["report", "frobnicate"], "survey report", "frobnicate"),
        (
            ["purge", "comments", "--older-than", "180d", "--bogus"],
            "survey purge comments",
            "--bogus",
        ),
        (["purge", "comments"], "survey purge comments", "--older-than"),
        (["report", "trend", "--period", "fortnight"], "survey report trend", "fortnight"),
    ],
    ids=["unknown command", "unknown subcommand", "unknown option", "missing option", "bad choice"],
)
def test_usage_errors_exit_2_naming_the_culprit(args, usage, named):
    result = survey(*args)
    assert result.exit_code == 2, result.output
    assert f"Usage: {usage} [OPTIONS]" in result.stderr
    assert "Error:" in result.stderr
    assert named in result.stderr.split("Error:", 1)[1]


def test_console_entry_point_prints_help():
    # The one real process of the fast tier: `python -m survey_app` must still reach the group.
    done = survey_command("--help")
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    assert "serve" in done.stdout


def env_for(live) -> dict[str, str]:
    return {"DATABASE_URL": live.settings.database_url, "SURVEY_SECRET": live.settings.secret}


@pytest.mark.slow
def test_agency_service_key_commands(live, http):
    env = env_for(live)
    done = survey_command(
        "agency", "add", "MOH", "--kind", "ministry", "--name", "Bộ Y tế",
        "--translation", "en=Ministry of Health", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = survey_command(
        "service", "add", "MOH-LICENCE", "--agency", "MOH", "--name", "Cấp chứng chỉ hành nghề",
        "--essential", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = survey_command("key", "create", "MOH", "--role", "portal", env=env)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"svk_[A-Za-z0-9_-]{40,}", key)
    agency = live.run(Agency.select().where(Agency.code == "MOH").output(load_json=True).first())
    assert agency["names"]["en"] == "Ministry of Health"
    service = live.run(Service.select().where(Service.code == "MOH-LICENCE").first())
    assert service["essential"] is True
    # Only a hash is kept, and the printed key works.
    assert key not in repr(live.run(ApiKey.select()))
    answer = http.post(
        "/api/v1/invitations",
        json={"transaction_ref": "1", "service": "MOH-LICENCE", "channel": "counter"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 201


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["agency", "add", "X", "--kind", "planet", "--name", "X"], "planet"),
        (["agency", "add", "bad code", "--kind", "ministry", "--name", "X"], "invalid agency code"),
        (
            ["agency", "add", "X", "--kind", "ministry", "--name", "X", "--translation", "fr=Y"],
            "LANG",
        ),
        (["service", "add", "S", "--agency", "NOPE", "--name", "S"], "unknown agency"),
        (["key", "create", "NOPE", "--role", "portal"], "unknown agency"),
        (["key", "create", "X", "--role", "king"], "king"),
        (
            [
                "agency",
                "add",
                "X",
                "--kind",
                "ministry",
                "--name",
                "X",
                "--frame-origin",
                "javascript:alert(1)",
            ],
            "is not an origin",
        ),
    ],
)
def test_bad_arguments_get_a_clear_error(live, args, message):
    done = survey_command(*args, env=env_for(live))
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_duplicate_agency_is_refused_and_nothing_changes(live):
    env = env_for(live)
    assert (
        survey_command(
            "agency", "add", "DUP", "--kind", "branch", "--name", "A", env=env
        ).returncode
        == 0
    )
    done = survey_command("agency", "add", "DUP", "--kind", "ministry", "--name", "B", env=env)
    assert done.returncode == 1
    assert "already exists" in done.stderr
    rows = live.run(Agency.select(Agency.name, Agency.kind).where(Agency.code == "DUP"))
    assert rows == [{"name": "A", "kind": "branch"}]


@pytest.mark.slow
def test_user_create_admin(live):
    from piccolo.apps.user.tables import BaseUser

    env = env_for(live)
    done = survey_command(
        "user", "create", "officer", "--admin", input="s3cret-Passw0rd\ns3cret-Passw0rd\n", env=env
    )
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in done.stdout + done.stderr
    user = live.run(BaseUser.select().where(BaseUser.username == "officer").first())
    assert user["admin"] is True
    assert "s3cret" not in user["password"]
    assert live.run(BaseUser.login("officer", "s3cret-Passw0rd")) == user["id"]
    live.run(BaseUser.delete().where(BaseUser.username == "officer"))


@pytest.mark.slow
def test_demo_is_idempotent_and_prints_a_working_link(live, http):
    from piccolo.apps.user.tables import BaseUser

    from tests.survey_app.test_dashboard import log_in

    env = env_for(live)
    live.run(BaseUser.delete().where(BaseUser.username == "demo"))
    first = survey_command("demo", env=env)
    assert first.returncode == 0, first.stderr
    counts = (live.run(Agency.count()), live.run(Service.count()))
    second = survey_command("demo", env=env)
    assert second.returncode == 0, second.stderr
    assert (live.run(Agency.count()), live.run(Service.count())) == counts
    assert "0 agencies and 0 services added" in second.stdout
    link = re.search(r"Questionnaire link: \S+(/s/\S+)", second.stdout).group(1)
    assert link == re.search(r"Questionnaire link: \S+(/s/\S+)", first.stdout).group(1)
    assert http.get(link).status_code == 200
    # The demo login is printed once, marked as such, and opens the dashboard it names.
    login = re.search(r"Demo staff login, DEMO ONLY: user (\S+), password (\S+)", first.stdout)
    assert login is not None, first.stdout
    assert "password" not in second.stdout.split("Demo staff login")[1].split("(")[0]
    assert login.group(2) not in second.stdout
    dashboard = re.search(r"Dashboard: \S+(/dashboard)", first.stdout).group(1)
    assert log_in(http, login.group(1), login.group(2)).status_code == 303
    assert http.get(dashboard + "?lang=en").status_code == 200
    # Once answered, the next run prints a fresh link that works.
    assert http.post(link, data={"overall": "4"}).status_code == 303
    third = survey_command("demo", env=env)
    fresh = re.search(r"Questionnaire link: \S+(/s/\S+)", third.stdout).group(1)
    assert fresh != link
    assert http.get(fresh).status_code == 200


@pytest.mark.slow
def test_demo_responses_then_reports(live, tmp_path):
    import csv
    import io
    import json

    from survey_app.db.tables import Response, ResponseReason

    env = env_for(live)
    done = survey_command("demo", "--responses", "400", "--months", "3", env=env)
    assert done.returncode == 0, done.stderr
    assert "400 responses added" in done.stdout
    assert live.run(Response.count()) == 400
    assert live.run(ResponseReason.count()) > 0
    again = survey_command("demo", env=env)
    assert "0 responses added" in again.stdout  # responses exist: nothing more by default
    out = tmp_path / "s.csv"
    done = survey_command("report", "satisfaction", "--format", "csv", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert {row["group"] for row in rows} >= {"HN", "MOF"}
    assert sum(int(row["total"] or 0) for row in rows) <= 400
    done = survey_command("report", "trend", "--period", "month", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["periods"]) >= 3
    done = survey_command("report", "reasons", "--channel", "fax", env=env)
    assert done.returncode == 2
    assert "unknown channel" in done.stderr

    # Any question of any questionnaire, as the statistics API counts it.
    from survey_app.auth import apikeys
    from survey_app.db.tables import Role

    key = live.run(apikeys.create(Role.analyst, None, "report test"))
    query = {"questionnaire": "dossier-evaluation", "question": "timeliness", "format": "json"}
    done = survey_command(
        "report", "satisfaction", "--questionnaire", "dossier-evaluation",
        "--question", "timeliness", "--format", "json", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    api = httpx.get(
        f"{live.url}/api/v1/stats/satisfaction",
        params=query,
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    totals = {g["group"]: g["total"] for g in json.loads(done.stdout)["groups"]}
    assert totals == {g["group"]: g["total"] for g in api["groups"]}
    assert sum(t or 0 for t in totals.values()) > 0
    done = survey_command("report", "trend", "--question", "comment", env=env)
    assert done.returncode == 2
    assert "comment" in done.stderr
    done = survey_command("report", "reasons", "--questionnaire", "nope", env=env)
    assert done.returncode == 2
    assert "nope" in done.stderr


@pytest.mark.slow
def test_purge_comments_keeps_the_statistical_record(live, http, portal):
    import datetime as dt

    from survey_app.db.tables import Comment, Response
    from tests.survey_app.conftest import invite

    for i in range(3):
        token = invite(http, portal, f"P-{i}")["token"]
        body = {
            "token": token,
            "answers": {
                "overall": 2,
                "reasons": ["other"],
                "reason_other": "x",
                "comment": f"c{i}",
            },
        }
        assert http.post("/api/v1/responses", json=body, headers=portal.auth).status_code == 201
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
    first = live.run(Response.select(Response.id).order_by(Response.id).first())["id"]
    live.run(Comment.update({Comment.created_at: old}).where(Comment.response == first))
    env = env_for(live)
    dry = survey_command("purge", "comments", "--older-than", "180d", "--dry-run", env=env)
    assert "Would delete 2 comment(s)" in dry.stdout
    assert live.run(Comment.count()) == 6
    done = survey_command("purge", "comments", "--older-than", "26w", env=env)
    assert done.returncode == 0, done.stderr
    assert "Deleted 2 comment(s)" in done.stdout
    assert live.run(Comment.count()) == 4
    assert live.run(Response.count()) == 3
    bad = survey_command("purge", "comments", "--older-than", "soon", env=env)
    assert bad.returncode == 2
    assert "180d" in bad.stderr


def test_a_malformed_setting_is_a_message_not_a_traceback(live):
    env = env_for(live) | {"SURVEY_DISSATISFIED_MAX": "x"}
    done = survey_command("report", "satisfaction", env=env)
    assert done.returncode == 1
    assert "SURVEY_DISSATISFIED_MAX must be a rating from 1 to 4" in done.stderr
    assert "Traceback" not in done.stderr
