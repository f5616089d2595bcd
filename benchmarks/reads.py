"""Per-query read latency before and after the read pool and the register cache.

    python -m benchmarks.reads [--calls 2000] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

For each engine, on a fresh migrated database, times ``--calls`` sequential calls of
``invitations.find(token)`` (the citizen page's read) and ``apikeys.authenticate`` (the
staff API's and the questionnaire definition's), first through Piccolo's own engine
(SQLite: a connection per query; PostgreSQL: a connection per query, no pool) and through the
pool without the register cache, then through the service's engine (read pool or asyncpg
pool, register cache on). Two rounds, interleaved; each figure is the better round's mean.
Ratios are against the reference measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.engine import SQLITE_BUSY_TIMEOUT_S, bind_tables, engine_from_url, prepare
from survey_app.db.engine import close_reads as close_pool
from survey_app.db.tables import ALL_TABLES, AgencyKind, Role
from survey_app.invitations import service as invitations

ROOT = Path(invitations.__file__).resolve().parents[2]


def migrate(url: str, var_dir: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "SURVEY_VAR_DIR": var_dir}
    done = subprocess.run(
        [sys.executable, "-m", "survey_app", "migrate"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)


async def seed() -> tuple[str, str, int]:
    agency_id = await directory.add_agency("BENCH", AgencyKind.ministry, "Bench", {})
    service_id = await directory.add_service("BENCH-1", "BENCH", "Bench", {}, True)
    key = await apikeys.create(Role.portal, agency_id)
    issued = await invitations.issue(
        secret=secrets.token_urlsafe(16), agency_id=agency_id, agency_code="BENCH",
        service_id=service_id, channel="web", locale=None,
        questionnaire_id="public-service-satisfaction", transaction_ref="T-1", days=14,
    )  # fmt: skip
    return issued.token, key, agency_id


async def timed(calls: int, work) -> float:  # type: ignore[no-untyped-def]
    """Mean milliseconds per call of ``work()``."""
    await work()
    start = time.perf_counter()
    for _ in range(calls):
        await work()
    return (time.perf_counter() - start) / calls * 1000


async def measure(variant: str, engine, calls: int, token: str, key: str, agency_id: int) -> dict:  # type: ignore[no-untyped-def]
    bind_tables(engine, ALL_TABLES)
    if isinstance(engine, PostgresEngine) and variant != "piccolo":
        await engine.start_connection_pool()
    register = getattr(engine, "register", None)
    if register is not None:
        register.seconds = 0 if variant == "pool" else 5.0
    try:
        return {
            "find(token)": await timed(calls, lambda: invitations.find(token)),
            "authenticate(key)": await timed(calls, lambda: apikeys.authenticate(key)),
        }
    finally:
        if isinstance(engine, PostgresEngine) and engine.pool:
            await engine.close_connection_pool()
        await close_pool(engine)


def reference(url: str):  # type: ignore[no-untyped-def]
    if url.startswith("sqlite"):
        return SQLiteEngine(path=url[len("sqlite:///") :], timeout=SQLITE_BUSY_TIMEOUT_S)
    return PostgresEngine(config={"dsn": url})


async def run_engine(name: str, url: str, calls: int) -> None:
    engine = engine_from_url(url)
    bind_tables(engine, ALL_TABLES)
    await prepare(engine)
    token, key, agency_id = await seed()
    await close_pool(engine)
    best: dict[str, dict[str, float]] = {}
    for _ in range(2):
        for variant in ("piccolo", "pool", "pool+cache"):
            made = reference(url) if variant == "piccolo" else engine_from_url(url)
            found = await measure(variant, made, calls, token, key, agency_id)
            for query, ms in found.items():
                kept = best.setdefault(variant, {})
                kept[query] = min(kept.get(query, ms), ms)
    print(f"\n{name}: mean ms per call over {calls} sequential calls (better of 2 rounds)")
    print(f"{'query':<20}{'piccolo':>10}{'pool':>10}{'ratio':>8}{'+cache':>10}{'ratio':>8}")
    for query in best["piccolo"]:
        ref, pooled, cached = (best[v][query] for v in ("piccolo", "pool", "pool+cache"))
        print(
            f"{query:<20}{ref:>10.3f}{pooled:>10.3f}{ref / pooled:>7.1f}x"
            f"{cached:>10.4f}{ref / cached:>7.0f}x"
        )


async def postgres_database(admin_url: str, name: str, create: bool) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'{"CREATE" if create else "DROP"} DATABASE "{name}"')
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server to use too")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        url = f"sqlite:///{var_dir}/bench.sqlite"
        migrate(url, var_dir)
        asyncio.run(run_engine("SQLite", url, options.calls))
        if options.postgres:
            name = "reads_bench_" + secrets.token_hex(4)
            asyncio.run(postgres_database(options.postgres, name, create=True))
            base = options.postgres.rsplit("/", 1)[0]
            try:
                migrate(f"{base}/{name}", var_dir)
                asyncio.run(run_engine("PostgreSQL", f"{base}/{name}", options.calls))
            finally:
                asyncio.run(postgres_database(options.postgres, name, create=False))


if __name__ == "__main__":
    main()
