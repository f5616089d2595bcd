"""``survey questionnaire check|assign|list``: validate files, choose who answers which."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from survey_app.cli.common import run_with_database
from survey_app.lib.settings import SUPPORTED_LOCALES, Settings

if TYPE_CHECKING:
    from questionnaires import Questionnaire


@click.group()
def questionnaire() -> None:
    """Questionnaire definition files."""


@questionnaire.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Validate each FILE as the server does at start-up, translations included.

    Prints one OK line per valid file and every problem of the others, as
    FILE: LOCATION: REASON; exits with status 1 when any file is invalid.
    """
    from questionnaires import QuestionnaireError, load_file

    failed = 0
    for path in files:
        try:
            loaded = load_file(path, locales_dir=Settings().locales_dir, locales=SUPPORTED_LOCALES)
        except QuestionnaireError as error:
            failed += 1
            for problem in error.problems:
                click.echo(f"ERROR {problem}", err=True)
            continue
        click.echo(f"OK {path}: {loaded.id} v{loaded.version}, {len(loaded.questions)} questions")
    if failed:
        click.echo(f"{failed} of {len(files)} files invalid", err=True)
        raise SystemExit(1)


def served_questionnaires(settings: Settings) -> dict[str, Questionnaire]:
    """The questionnaires of SURVEY_QUESTIONNAIRE_DIR by id, as the server would load them."""
    from questionnaires import QuestionnaireError, load_directory

    try:
        return dict(load_directory(settings.questionnaire_dir))
    except QuestionnaireError as error:
        problems = "\n".join(str(problem) for problem in error.problems)
        raise click.ClickException(
            f"the questionnaires in {settings.questionnaire_dir} do not load:\n{problems}"
        ) from error


@questionnaire.command("assign")
@click.argument("questionnaire_id", metavar="[QUESTIONNAIRE_ID]", required=False)
@click.option("--service", "service_code", metavar="CODE", help="Assign to this service.")
@click.option("--agency", "agency_code", metavar="CODE", help="Assign to this agency.")
@click.option("--clear", is_flag=True, help="Remove the assignment instead (no QUESTIONNAIRE_ID).")
def assign(
    questionnaire_id: str | None, service_code: str | None, agency_code: str | None, clear: bool
) -> None:
    """Ask QUESTIONNAIRE_ID in new invitations of a service or of an agency.

    An invitation asks its service's questionnaire, else its agency's, else
    the default one. Invitations already issued keep theirs.
    """
    from survey_app.agencies import directory

    if (service_code is None) == (agency_code is None):
        raise click.UsageError("give exactly one of --service CODE or --agency CODE")
    if clear and questionnaire_id is not None:
        raise click.UsageError("--clear removes an assignment: leave out QUESTIONNAIRE_ID")
    if not clear and questionnaire_id is None:
        raise click.UsageError("give a QUESTIONNAIRE_ID, or --clear to remove the assignment")
    settings = Settings.from_env()
    if questionnaire_id is not None:
        known = served_questionnaires(settings)
        if questionnaire_id not in known:
            raise click.BadParameter(
                f"unknown questionnaire {questionnaire_id!r}; "
                f"{settings.questionnaire_dir} holds: {', '.join(sorted(known))}",
                param_hint="QUESTIONNAIRE_ID",
            )

    async def work(_: Settings) -> None:
        try:
            await directory.assign_questionnaire(
                questionnaire_id, agency_code=agency_code, service_code=service_code
            )
        except directory.DirectoryError as error:
            raise click.ClickException(str(error)) from error

    run_with_database(work)
    target = f"service {service_code}" if service_code else f"agency {agency_code}"
    if questionnaire_id is None:
        click.echo(f"Questionnaire assignment of {target} cleared.")
    else:
        click.echo(f"Questionnaire {questionnaire_id} assigned to {target}.")


@questionnaire.command("list")
def list_questionnaires() -> None:
    """Each questionnaire: its versions, where it is assigned and how many responses it has.

    Lists the files of SURVEY_QUESTIONNAIRE_DIR and every questionnaire the
    database refers to (served before, assigned or answered).
    """
    from piccolo.query.functions.aggregate import Count

    from questionnaires import DEFAULT_QUESTIONNAIRE_ID
    from survey_app.agencies import directory
    from survey_app.db.tables import QuestionnaireVersion, Response

    settings = Settings.from_env()
    files = served_questionnaires(settings)

    async def work(_: Settings):  # type: ignore[no-untyped-def]
        versions = await QuestionnaireVersion.select(
            QuestionnaireVersion.questionnaire_id, QuestionnaireVersion.version
        )
        counts = await Response.select(
            Response.questionnaire_id, Count(alias="responses")
        ).group_by(Response.questionnaire_id)
        responses = {row["questionnaire_id"]: row["responses"] for row in counts}
        return versions, responses, await directory.assignments()

    versions, responses, assigned = run_with_database(work)
    ids = set(files) | {row["questionnaire_id"] for row in versions} | set(responses)
    ids |= set(assigned.agencies) | set(assigned.services)
    for qid in sorted(ids):
        seen = {row["version"] for row in versions if row["questionnaire_id"] == qid}
        if qid in files:
            seen.add(files[qid].version)
        notes = []
        if qid == DEFAULT_QUESTIONNAIRE_ID:
            notes.append("default")
        if qid not in files:
            notes.append(f"no file in {settings.questionnaire_dir}")
        click.echo(qid + (f" ({'; '.join(notes)})" if notes else ""))
        click.echo(f"  versions: {', '.join(str(v) for v in sorted(seen)) or '-'}")
        click.echo(f"  agencies: {', '.join(assigned.agencies.get(qid, ())) or '-'}")
        click.echo(f"  services: {', '.join(assigned.services.get(qid, ())) or '-'}")
        click.echo(f"  responses: {responses.get(qid, 0)}")
