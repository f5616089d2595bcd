"""``survey analyze reasons|satisfaction|trend``: the statistics on a count-table CSV."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from survey_app.lib.settings import SUPPORTED_LOCALES, Settings

FORMATS = ("table", "csv", "json", "xlsx")


def output_options(command):  # type: ignore[no-untyped-def]
    """--format, --out, --chart and --lang, shared by ``analyze`` and ``report``."""
    command = click.option(
        "--lang",
        type=click.Choice(SUPPORTED_LOCALES),
        default="en",
        show_default=True,
        help="Language of the chart written with --chart.",
    )(command)
    command = click.option(
        "--chart",
        "chart",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also draw the chart into this .svg or .png file.",
    )(command)
    command = click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write to this file instead of the terminal (required for xlsx).",
    )(command)
    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
    )(command)


def options(command):  # type: ignore[no-untyped-def]
    command = click.option(
        "--suppress",
        "min_count",
        type=click.IntRange(min=1),
        default=None,
        help="Apply disclosure control before output: withhold rows resting on fewer than "
        "this many responses (the service uses 10), and recompute everything on the rest.",
    )(command)
    return click.option(
        "--counts",
        required=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Count-table CSV (columns as described in this command's help).",
    )(output_options(command))


def read_counts(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"group": str, "reason": str, "period": str})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise click.BadParameter(f"cannot read {path}: {error}", param_hint="--counts") from error


def run(compute, path: Path, min_count: int | None = None):  # type: ignore[no-untyped-def]
    from analysis import suppress

    try:
        result = compute(read_counts(path))
        return result if min_count is None else suppress(result, min_count)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--counts") from error


def emit(result, frame: pd.DataFrame, fmt: str, out: Path | None) -> None:  # type: ignore[no-untyped-def]
    if fmt == "xlsx" and out is None:
        raise click.UsageError("--format xlsx needs --out FILE.xlsx")
    if fmt == "table":
        text = result.summary() + "\n\nMethods: " + "; ".join(result.method) + "\n"
    elif fmt == "json":
        text = json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"
    elif fmt == "csv":
        text = frame.to_csv(index=False)
    else:
        assert out is not None
        frame.to_excel(out, index=False, sheet_name="results")
        click.echo(f"Wrote {out}")
        return
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        click.echo(f"Wrote {out}")


def draw(figure_for, chart: Path | None, lang: str) -> None:  # type: ignore[no-untyped-def]
    if chart is None:
        return
    from babel.support import Translations

    from analysis import charts

    suffix = chart.suffix.lower().lstrip(".")
    if suffix not in ("svg", "png"):
        raise click.BadParameter("the chart file must end in .svg or .png", param_hint="--chart")
    translations = Translations.load(str(Settings().locales_dir), [lang], domain="messages")
    charts.save(figure_for(charts, translations), chart, suffix)
    click.echo(f"Wrote {chart}")


@click.group()
def analyze() -> None:
    """Statistics for researchers, on count tables exported or built by hand."""


@analyze.command()
@options
@click.option(
    "--respondents",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV group,respondents: reasons become multi-select shares of respondents.",
)
def reasons(counts, fmt, out, chart, lang, respondents, min_count) -> None:  # type: ignore[no-untyped-def]
    """Reason breakdown. CSV columns: group, reason, count."""
    from analysis import reason_breakdown

    people = None
    if respondents is not None:
        frame = read_counts(respondents)
        if not {"group", "respondents"} <= set(frame.columns):
            raise click.BadParameter("needs columns group, respondents", param_hint="--respondents")
        people = dict(zip(frame["group"].astype(str), frame["respondents"], strict=True))
    result = run(lambda table: reason_breakdown(table, respondents=people), counts, min_count)
    emit(result, result.cells, fmt, out)
    draw(lambda charts, t: charts.reason_chart(result, locale=lang, translations=t), chart, lang)


@analyze.command()
@options
@click.option(
    "--target",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Satisfaction target to test against.",
)
def satisfaction(counts, fmt, out, chart, lang, target, min_count) -> None:  # type: ignore[no-untyped-def]
    """Satisfaction by group. CSV columns: group, satisfied, total [, rating_sum]."""
    from analysis import compare_satisfaction

    result = run(lambda table: compare_satisfaction(table, target=target), counts, min_count)
    emit(result, result.groups, fmt, out)
    draw(
        lambda charts, t: charts.forest_chart(result, locale=lang, translations=t, target=target),
        chart,
        lang,
    )


@analyze.command()
@options
def trend(counts, fmt, out, chart, lang, min_count) -> None:  # type: ignore[no-untyped-def]
    """Trend over periods. CSV columns: period, satisfied, total [, score]."""
    from analysis import trend as trend_of

    result = run(trend_of, counts, min_count)
    emit(result, result.periods, fmt, out)
    draw(lambda charts, t: charts.trend_chart(result, locale=lang, translations=t), chart, lang)
