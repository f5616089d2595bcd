"""``survey questionnaire check|assign|list|import-xlsform``: validate files, choose who
answers which, convert XLSForms."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from survey_app.cli.common import run_with_database
from survey_app.lib.settings import SUPPORTED_LOCALES, Settings, data_directories

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

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
            loaded = load_file(path, locales_dir=data_directories()[1], locales=SUPPORTED_LOCALES)
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


@questionnaire.command("import-xlsform")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--id",
    "questionnaire_id",
    required=True,
    metavar="ID",
    help="The questionnaire's id: lower-case letters, digits, '-' and '_'.",
)
@click.option(
    "--version",
    required=True,
    type=click.IntRange(min=1),
    metavar="N",
    help="Its version, from 1; a changed questionnaire needs a new one.",
)
def import_xlsform(file: Path, questionnaire_id: str, version: int) -> None:
    """Convert the XLSForm FILE (ODK, KoboToolbox) into questionnaire ID version N.

    Reads the survey, choices and settings sheets. Writes ID.toml (ID-vN.toml
    when other versions are there) into SURVEY_QUESTIONNAIRE_DIR, adds the
    texts with the sheet's vi, en and id translations to the catalogs in
    SURVEY_LOCALES_DIR and compiles them, then loads the file as the server
    would. Keeps a catalog's existing translation, with a warning. Prints the
    paths written. What cannot be mapped is listed as FILE: sheet 'survey',
    row 7: REASON; then nothing is written and the status is 1.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import PoFileError, read_po, write_po

    from questionnaires import QuestionnaireError, load_file
    from questionnaires.validate import SLUG
    from questionnaires.xlsform import XLSFormError, convert

    if not SLUG.match(questionnaire_id):
        raise click.BadParameter(
            f"{questionnaire_id!r} is not lower-case letters, digits, '-' and '_'",
            param_hint="--id",
        )
    questionnaire_dir, locales_dir = data_directories()
    try:
        converted = convert(file, questionnaire_id, version, locales=SUPPORTED_LOCALES)
    except XLSFormError as error:
        for problem in error.problems:
            click.echo(f"ERROR {file}: {problem}", err=True)
        click.echo(f"{file}: not imported, nothing written", err=True)
        raise SystemExit(1) from error
    target, unchanged = _import_target(questionnaire_dir, converted.questionnaire)
    catalogs: dict[str, Catalog] = {}
    for locale in SUPPORTED_LOCALES:
        po = _po_path(locales_dir, locale)
        try:
            with po.open("rb") as handle:
                catalogs[locale] = read_po(handle, locale=locale, abort_invalid=True)
        except OSError as error:
            raise click.ClickException(
                f"catalog {po} cannot be read ({error.strerror or error}); "
                "is SURVEY_LOCALES_DIR right?"
            ) from error
        except (PoFileError, ValueError) as error:
            raise click.ClickException(f"catalog {po} is not valid ({error})") from error

    for note in converted.notes:
        click.echo(f"note: {note}", err=True)
    comments: dict[str, list[str]] = {}
    for location, msgid in converted.questionnaire.msgids():
        comments.setdefault(msgid, []).append(
            f"questionnaire {questionnaire_id} v{version}, {location}"
        )
    writes: dict[Path, bytes] = {}
    if not unchanged:
        writes[target] = converted.toml.encode("utf-8")
    report = []
    for locale, catalog in catalogs.items():
        added, filled = _merge(catalog, converted.translations[locale], comments)
        po = _po_path(locales_dir, locale)
        if added or filled:
            writes[po] = _serialised(write_po, catalog, width=0)
            report.append(f"Updated {po}: {added} texts added, {filled} filled")
        else:
            report.append(f"Unchanged {po}: every text there already")
        writes[po.with_suffix(".mo")] = _serialised(write_mo, catalog)

    previous = {path: (path.read_bytes() if path.exists() else None) for path in writes}
    for path, data in writes.items():
        _replace(path, data)
    try:
        loaded = load_file(target, locales_dir=locales_dir, locales=SUPPORTED_LOCALES)
    except QuestionnaireError as error:
        for path, data in previous.items():
            if data is None:
                path.unlink()
            else:
                _replace(path, data)
        for problem in error.problems:
            click.echo(f"ERROR {problem}", err=True)
        click.echo(f"{file}: the imported file does not load; every change undone", err=True)
        raise SystemExit(1) from error
    summary = f"{loaded.id} v{loaded.version}, {len(loaded.questions)} questions"
    click.echo(f"{'Unchanged' if unchanged else 'Wrote'} {target} ({summary})")
    for line in report:
        click.echo(line)
    for locale in SUPPORTED_LOCALES:
        click.echo(f"Compiled {_po_path(locales_dir, locale).with_suffix('.mo')}")
    click.echo(
        f"Restart the server to serve it; `survey questionnaire assign {loaded.id} --service CODE` "
        "asks it in new invitations."
    )


def _merge(
    catalog: Catalog, texts: Mapping[str, str], comments: Mapping[str, list[str]]
) -> tuple[int, int]:
    """Add ``texts`` (msgid -> translation) to ``catalog``: (how many added, how many filled).

    An entry without a translation, or a fuzzy one, is filled; an entry translated
    otherwise keeps its translation, with a warning naming both.
    """
    added = filled = 0
    locale = str(catalog.locale)
    for msgid, text in texts.items():
        entry = catalog.get(msgid)
        if entry is None:
            catalog.add(msgid, text, auto_comments=comments.get(msgid, ()))
            added += 1
        elif isinstance(entry.string, tuple | list):
            click.echo(f"warning: {locale}: {msgid!r} is a plural message; left as it is", err=True)
        elif not entry.string or entry.fuzzy:
            entry.string = text
            entry.flags.discard("fuzzy")
            filled += 1
        elif entry.string != text:
            click.echo(
                f"warning: {locale}: kept the catalog's translation of {msgid!r}, "
                f"{entry.string!r} (the sheet has {text!r})",
                err=True,
            )
    return added, filled


def _po_path(locales_dir: Path, locale: str) -> Path:
    return locales_dir / locale / "LC_MESSAGES" / "messages.po"


def _serialised(write: Callable[..., None], catalog: Catalog, **options: Any) -> bytes:
    buffer = io.BytesIO()
    write(buffer, catalog, **options)
    return buffer.getvalue()


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a reader never sees half a catalog."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _import_target(directory: Path, new: Questionnaire) -> tuple[Path, bool]:
    """Where ``new`` goes, and whether that file holds it already.

    ``ID.toml`` unless the directory holds other versions of ID (``load_directory``
    serves the highest of any number of files), then ``ID-vN.toml``. Refuses when a file
    holds ID version N with different content, or when the name is taken.
    """
    from questionnaires.loader import parse

    if not directory.is_dir():
        raise click.ClickException(f"SURVEY_QUESTIONNAIRE_DIR {directory} is not a directory")
    other_versions = False
    for path in sorted(directory.glob("*.toml")):
        try:
            found, _ = parse(path.read_text(encoding="utf-8-sig"), path)
        except (OSError, UnicodeDecodeError):
            continue
        if found is None or found.id != new.id:
            continue
        if found.version != new.version:
            other_versions = True
        elif found.checksum() == new.checksum():
            return path, True
        else:
            raise click.ClickException(
                f"{path} already holds {new.id} version {new.version}, with different "
                "content; a changed questionnaire needs a new --version"
            )
    target = directory / (f"{new.id}-v{new.version}.toml" if other_versions else f"{new.id}.toml")
    if target.exists():
        raise click.ClickException(f"{target} exists and holds something else; not overwriting it")
    return target, False
