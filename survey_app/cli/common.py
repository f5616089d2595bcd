"""What every database command shares: settings from the environment, bound tables, clean errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from survey_app.db.engine import (
    UNAVAILABLE,
    bind_tables,
    close_reads,
    describe,
    engine_from_url,
)
from survey_app.db.tables import ALL_TABLES
from survey_app.lib.settings import Settings, private_var_dir

T = TypeVar("T")


def run_with_database(work: Callable[[Settings], Awaitable[T]]) -> T:
    """Run ``work`` against the database named by the environment, or exit with a reason.

    The var directory and SQLite files are restricted to their owner on the way.
    """
    private_var_dir()
    try:
        # A malformed setting (SURVEY_DISSATISFIED_MAX=x) is a message, not a traceback.
        settings = Settings.from_env()
        engine = engine_from_url(settings.database_url)
        bind_tables(engine, ALL_TABLES)
    except ValueError as error:
        raise click.ClickException(str(error)) from error

    async def work_then_close() -> T:
        try:
            return await work(settings)
        finally:
            await close_reads(engine)

    try:
        return asyncio.run(work_then_close())
    except UNAVAILABLE as error:
        raise click.ClickException(
            f"cannot use the database {describe(settings.database_url)}: {error}. "
            "Is it running, and has `survey migrate` been run?"
        ) from error
