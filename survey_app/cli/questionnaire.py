"""``survey questionnaire check FILE...``: the start-up validation, on demand."""

from __future__ import annotations

from pathlib import Path

import click

from survey_app.lib.settings import SUPPORTED_LOCALES, Settings


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
