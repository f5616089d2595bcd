"""``survey report reasons|satisfaction|trend``: the statistics API's figures, from the database,
under the same disclosure control (``analysis.suppress``)."""

from __future__ import annotations

import click

from survey_app.cli.analyze import draw, emit, output_options
from survey_app.cli.common import run_with_database
from survey_app.lib.settings import Settings
from survey_app.statistics.filters import GROUP_BY, PERIODS, FilterError, Filters


def filter_options(command):  # type: ignore[no-untyped-def]
    for name, dest, help_text in (
        ("--questionnaire", "questionnaire", "Only the responses to this questionnaire (its id)."),
        ("--to", "date_to", "Last day, YYYY-MM-DD."),
        ("--from", "date_from", "First day, YYYY-MM-DD."),
        ("--locale", "locale", "Only answers in this language."),
        ("--channel", "channel", "Only this channel."),
        ("--service", "service", "Only this service code."),
        ("--agency", "agency", "Only this agency code."),
    ):
        command = click.option(name, dest, default=None, help=help_text)(command)
    command = click.option("--essential", is_flag=True, help="Only essential services.")(command)
    return output_options(command)


def parse(options: dict) -> Filters:  # type: ignore[type-arg]
    try:
        return Filters.parse(
            agency=options["agency"],
            service=options["service"],
            channel=options["channel"],
            locale=options["locale"],
            essential=options["essential"],
            date_from=options["date_from"],
            date_to=options["date_to"],
            questionnaire=options["questionnaire"],
        )
    except FilterError as error:
        raise click.UsageError(str(error)) from error


def question_option(kinds: str):  # type: ignore[no-untyped-def]
    return click.option(
        "--question",
        default=None,
        help=f"Question id ({kinds}; default: as the statistics API).",
    )


def scope_for(filters: Filters, question: str | None, kinds: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """The question a report is about, as the statistics API resolves it; a usage error
    that names it when it cannot be."""
    from questionnaires import DEFAULT_QUESTIONNAIRE_ID, load_directory
    from survey_app.lib.settings import SUPPORTED_LOCALES
    from survey_app.statistics.questions import QuestionError, resolve

    try:
        settings = Settings.from_env()
    except ValueError as error:  # a malformed setting is a message, not a traceback
        raise click.ClickException(str(error)) from error
    served = load_directory(
        settings.questionnaire_dir, locales_dir=settings.locales_dir, locales=SUPPORTED_LOCALES
    )
    try:
        return resolve(served, DEFAULT_QUESTIONNAIRE_ID, filters.questionnaire, question, kinds)
    except QuestionError as error:
        raise click.UsageError(str(error)) from error


def fetch(work):  # type: ignore[no-untyped-def]
    async def guarded(_: Settings):  # type: ignore[no-untyped-def]
        return await work()

    with click.progressbar(length=1, label="Querying", file=click.get_text_stream("stderr")) as bar:
        result = run_with_database(guarded)
        bar.update(1)
    return result


@click.group()
def report() -> None:
    """Reports from the database: the same figures as the statistics API."""


@report.command()
@filter_options
@click.option("--group-by", type=click.Choice(GROUP_BY), default="agency", show_default=True)
@click.option(
    "--target",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
)
@click.option(
    "--min-response-rate",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.10,
    show_default=True,
    help="Flag agencies and cells answering less often than this.",
)
@question_option("a rating question")
def satisfaction(  # type: ignore[no-untyped-def]
    group_by, target, min_response_rate, question, fmt, out, chart, lang, **options
) -> None:
    """Satisfaction per agency, service or channel against the rest, with response rates
    and the CSAT weighted back to the invitations."""
    from dataclasses import replace

    import analysis
    from survey_app.statistics import counts, nonresponse
    from survey_app.statistics.questions import RATING_KINDS

    filters = parse(options)
    scope = scope_for(filters, question, RATING_KINDS)
    threshold = Settings.from_env().dissatisfied_max  # checked by scope_for
    table, frame = fetch(
        lambda: _satisfaction(counts, nonresponse, filters, group_by, scope, threshold)
    )
    if table.empty or table["total"].sum() == 0:
        raise click.ClickException("no responses match these filters")
    result = analysis.suppress(analysis.compare_satisfaction(table, target=target))
    groups, _, weighting, _ = nonresponse.with_nonresponse(
        result.groups, frame, min_response_rate, threshold
    )
    result = replace(result, groups=groups, method=[*result.method, *weighting])
    emit(result, result.groups, fmt, _path(out))
    draw(
        lambda c, t: c.forest_chart(result, locale=lang, translations=t, target=target),
        _path(chart),
        lang,
    )


async def _satisfaction(counts, nonresponse, filters, group_by, scope, threshold):  # type: ignore[no-untyped-def]
    table = counts.satisfaction_table(await counts.rating_counts(filters, group_by, scope))
    return table, await nonresponse.frame_table(filters, group_by, threshold, scope)


@report.command()
@filter_options
@click.option("--group-by", type=click.Choice(GROUP_BY), default="agency", show_default=True)
@question_option("a choice or multiple-choice question")
def reasons(group_by, question, fmt, out, chart, lang, **options) -> None:  # type: ignore[no-untyped-def]
    """Reasons for dissatisfaction per agency, service or channel (multi-select), or the
    answers to another choice question."""
    import analysis
    from survey_app.statistics import counts
    from survey_app.statistics.questions import CHOICE_KINDS

    filters = parse(options)
    scope = scope_for(filters, question, CHOICE_KINDS)
    table, people = fetch(lambda: counts.reason_counts(filters, group_by, scope))
    if table.empty:
        raise click.ClickException("no reasons match these filters")
    result = analysis.suppress(analysis.reason_breakdown(table, respondents=people))
    emit(result, result.cells, fmt, _path(out))
    draw(lambda c, t: c.reason_chart(result, locale=lang, translations=t), _path(chart), lang)


@report.command()
@filter_options
@click.option("--period", type=click.Choice(PERIODS), default="month", show_default=True)
@question_option("a rating question")
def trend(period, question, fmt, out, chart, lang, **options) -> None:  # type: ignore[no-untyped-def]
    """Satisfaction per period, with its trend and the last change."""
    import analysis
    from survey_app.statistics import counts
    from survey_app.statistics.questions import RATING_KINDS

    filters = parse(options)
    scope = scope_for(filters, question, RATING_KINDS)
    daily = fetch(lambda: counts.daily_rating_counts(filters, period, scope, by_agency=False))
    table = counts.period_table(daily, period)
    if table.empty:
        raise click.ClickException("no responses match these filters")
    result = analysis.suppress(analysis.trend(table))
    emit(result, result.periods, fmt, _path(out))
    draw(lambda c, t: c.trend_chart(result, locale=lang, translations=t), _path(chart), lang)


def _path(value):  # type: ignore[no-untyped-def]
    from pathlib import Path

    return Path(value) if value else None
