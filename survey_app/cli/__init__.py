"""The ``survey`` command line: one click group, one module per command family."""

from __future__ import annotations

import click

from survey_app.cli import (
    admin,
    analyze,
    backup,
    publish,
    purge,
    questionnaire,
    report,
    rollup,
    server,
    webhook,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Citizen satisfaction survey: serve, administer and analyse."""


for command in (
    *server.COMMANDS,
    *admin.COMMANDS,
    *publish.COMMANDS,
    *backup.COMMANDS,
    questionnaire.questionnaire,
    analyze.analyze,
    report.report,
    purge.purge,
    rollup.rollup,
    webhook.webhook,
):
    main.add_command(command)
