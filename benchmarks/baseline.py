""" "The way a researcher does it without us": raw rows into pandas, then the analysis.

Reads every response (and, for reasons, every reason row) from the database
into DataFrames, merges in the agency codes, builds the per-agency count
tables in pandas and runs the same ``analysis`` functions the endpoints run.
SQLite is read with ``pandas.read_sql`` over a plain sqlite3 connection;
PostgreSQL through asyncpg (no SQLAlchemy in the project).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import asyncpg
import pandas as pd

import analysis
from benchmarks.databases import Target

RESPONSES = (
    'SELECT "id", "agency", "service", "channel", "locale", "submitted_at", "overall" '
    'FROM "response"'
)
REASONS = 'SELECT "response", "reason" FROM "response_reason"'
AGENCIES = 'SELECT "id", "code" FROM "agency"'


def read(made: Target, queries: list[str]) -> list[pd.DataFrame]:
    if made.engine == "sqlite":
        connection = sqlite3.connect(made.sqlite_file)
        try:
            return [pd.read_sql(query, connection) for query in queries]
        finally:
            connection.close()
    return asyncio.run(_read_postgres(made.url, queries))


async def _read_postgres(url: str, queries: list[str]) -> list[pd.DataFrame]:
    connection = await asyncpg.connect(url)
    try:
        frames = []
        for query in queries:
            rows = await connection.fetch(query)
            columns = list(rows[0].keys()) if rows else []
            frames.append(pd.DataFrame([tuple(row) for row in rows], columns=columns))
        return frames
    finally:
        await connection.close()


def satisfaction(made: Target) -> Any:
    responses, agencies = read(made, [RESPONSES, AGENCIES])
    rated = responses.dropna(subset=["overall"]).merge(
        agencies.rename(columns={"id": "agency", "code": "group"}), on="agency"
    )
    rated["satisfied"] = rated["overall"] >= 4
    table = (
        rated.groupby("group")
        .agg(
            satisfied=("satisfied", "sum"),
            total=("overall", "size"),
            rating_sum=("overall", "sum"),
        )
        .reset_index()
    )
    return analysis.compare_satisfaction(table)


def reasons(made: Target) -> Any:
    responses, reason_rows, agencies = read(made, [RESPONSES, REASONS, AGENCIES])
    rated = responses.dropna(subset=["overall"]).merge(
        agencies.rename(columns={"id": "agency", "code": "group"}), on="agency"
    )
    ticked = reason_rows.merge(rated[["id", "group"]], left_on="response", right_on="id")
    table = ticked.groupby(["group", "reason"]).size().rename("count").reset_index()
    respondents = ticked.groupby("group")["response"].nunique().to_dict()
    return analysis.reason_breakdown(table, respondents=respondents)


def timed_ms(work: Any, made: Target, repeats: int) -> float:
    """Median wall time of ``repeats`` runs after one warm-up."""
    work(made)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work(made)
        times.append((time.perf_counter() - start) * 1000)
    return float(pd.Series(times).median())
