# ruff: noqa: S608, S311, S105
# pgbench scripts are SQL text by nature: built from the project's constant statements and
# literals this module draws (a seeded RNG, not a secret; the "token" is a pool pattern).
"""What one PostgreSQL primary sustains: pgbench running the writer's own statements.

A pgbench transaction is one batch of the group-commit writer (``db.writer``), sent
as the PostgreSQL store sends it, for ``rows`` requests:

* invitations: the batch's key and service check (``invitations.batch.CHECKS``) and
  ``submissions.postgres.INSERT_AND_COUNT`` (the invitations and their cells);
* answers: the key and invitation reads, the guarded claim, the responses
  (``unnest``), their reasons and the statistics cells (``db.cells.upserts``), the
  last two pipelined as asyncpg's ``executemany`` sends them.

The statements are the project's text; each script binds the values of one
representative batch (services, channels, ratings, reasons drawn once, several
variants per size) as literals, except what must differ per transaction: fresh
tokens and keys for invitations, and for answers a range of a pre-issued pool of
invitations (``POOL_TOKEN``), one range per client and batch. Two departures from
the writer: a reason row finds its response by invitation (the writer has the id
back from the insert), and clients are pgbench connections, not worker processes.

Each (kind, rows, clients) runs for the duration on a scratch database created and
dropped here; the answer runs start from an empty response table and a pool of
unanswered invitations.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks import databases, survey_cli
from benchmarks.options import REPO, Options
from benchmarks.progress import say
from questionnaires import REASON_CODES, load_directory
from survey_app.db.cells import CellInput, cell_counts, upserts
from survey_app.invitations.batch import CHECKS
from survey_app.submissions.plan import (
    INSERT_REASON,
    INVITATION_COLUMNS,
    KEY_COLUMNS,
    RESPONSE_COLUMNS,
)
from survey_app.submissions.postgres import INSERT_AND_COUNT

QUESTIONNAIRE = "public-service-satisfaction"
AGENCIES = 4
SERVICES = 20  # service i (1-based) belongs to agency 1 + (i - 1) % AGENCIES
VARIANTS = 4
KEY_HASH = "b" * 64  # the one portal key's digest
EXPIRY = "interval '14 days'"
# The writer's claim and response insert (``PostgresStore.claim``, ``insert_responses``).
CLAIM = (
    "UPDATE invitation SET answered_at = $1 "
    "WHERE answered_at IS NULL AND id = ANY($2::integer[]) RETURNING id"
)
INSERT_RESPONSES = (
    f"INSERT INTO response ({RESPONSE_COLUMNS}) SELECT * FROM unnest("
    "$1::integer[], $2::varchar[], $3::integer[], $4::integer[], $5::integer[], "
    "$6::varchar[], $7::varchar[], $8::timestamptz[], $9::smallint[], $10::json[]"
    ") RETURNING invitation, id"
)
# The pre-issued invitation of id i has this token (32 characters, as issued ones).
POOL_TOKEN = "lpad({0}::text, 32, '0')"
KINDS = ("invitations", "answers")


class PgbenchMissing(RuntimeError):
    pass


def pgbench() -> str:
    """Debian's pgbench: on PATH, else in the newest versioned PostgreSQL bin directory."""
    found = shutil.which("pgbench")
    if found:
        return found
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pgbench"), key=lambda p: int(p.parts[-3])
    )
    if versions:
        return str(versions[-1])
    raise PgbenchMissing("pgbench not found (Debian package postgresql-contrib or postgresql-15)")


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'"
    text = str(value).replace("'", "''")
    return f"'{text}'"


def array(values: Sequence[Any]) -> str:
    return f"ARRAY[{', '.join(literal(v) for v in values)}]"


def bind(sql: str, values: Sequence[str]) -> str:
    """``$1 … $n`` replaced by SQL text (highest first, so ``$1`` leaves ``$10`` alone)."""
    for i in range(len(values), 0, -1):
        sql = sql.replace(f"${i}", values[i - 1])
    assert not re.search(r"\$\d", sql), sql
    return sql


def agency_of(service: int) -> int:
    return 1 + (service - 1) % AGENCIES


def draw_batch(rng: random.Random, rows: int) -> list[dict[str, Any]]:
    """One batch of requests as portals send them: mostly web, mostly Vietnamese, about
    one answer in four dissatisfied with a reason or two."""
    batch = []
    for _ in range(rows):
        service = rng.randint(1, SERVICES)
        rating = rng.choices([5, 4, 3, 2, 1], weights=[45, 30, 10, 8, 7])[0]
        reasons = sorted(rng.sample(REASON_CODES, rng.choice([1, 2]))) if rating <= 3 else []
        batch.append(
            {
                "service": service,
                "agency": agency_of(service),
                "channel": rng.choices(["web", "mobile"], weights=[3, 1])[0],
                "locale": rng.choices(["vi", "en"], weights=[4, 1])[0],
                "rating": rating,
                "reasons": reasons,
            }
        )
    return batch


def invitation_script(batch: list[dict[str, Any]]) -> str:
    n = len(batch)
    codes = sorted({f"SVC-{row['service']}" for row in batch})
    keys = array([KEY_HASH] * len(codes))
    pairs = f"SELECT * FROM unnest({keys}::varchar[], {array(codes)}::varchar[])"
    random_text = "md5(random()::text)"
    insert = bind(
        INSERT_AND_COUNT,
        [
            f"ARRAY(SELECT {random_text} FROM generate_series(1, {n}))",
            f"ARRAY(SELECT {random_text} || {random_text} FROM generate_series(1, {n}))",
            array([row["agency"] for row in batch]),
            array([row["service"] for row in batch]),
            array([row["channel"] for row in batch]),
            array([row["locale"] for row in batch]),
            array([QUESTIONNAIRE] * n),
            f"array_fill(now(), ARRAY[{n}])",
            f"array_fill(now() + {EXPIRY}, ARRAY[{n}])",
            "current_date",
            "date_trunc('month', current_date)::date",
        ],
    )
    return "\n".join(["BEGIN;", CHECKS.format(pairs=pairs) + ";", insert + ";", "COMMIT;", ""])


def answer_script(batch: list[dict[str, Any]], ratings: tuple[str, ...], clients: int) -> str:
    """The answers of invitations ``:lo`` … ``:lo + rows - 1`` of the pool: a range of its
    own for each client (``:client_id``) and each of its batches (``:batch``)."""
    n = len(batch)
    ids = "ARRAY(SELECT generate_series(:lo::integer, :lo::integer + " + str(n - 1) + "))"
    now = dt.datetime.now(dt.UTC)
    inputs = [
        CellInput(
            submitted_at=now,
            agency=row["agency"],
            service=row["service"],
            channel=row["channel"],
            locale=row["locale"],
            rating=row["rating"],
            reasons=row["reasons"],
            questionnaire_id=QUESTIONNAIRE,
            answers={
                "overall": row["rating"],
                **({"reasons": row["reasons"]} if row["reasons"] else {}),
            },
            ratings=ratings,
        )
        for row in batch
    ]
    lines = [
        "\\set batch :batch + 1",
        f"\\set lo ((:batch - 1) * {clients} + :client_id) * {n} + 1",
        "BEGIN;",
        f"SELECT {KEY_COLUMNS} FROM api_key WHERE key_hash = ANY({array([KEY_HASH])}::varchar[]);",
        f"SELECT {INVITATION_COLUMNS} FROM invitation WHERE token = ANY(ARRAY(SELECT "
        f"{POOL_TOKEN.format('i')} FROM generate_series(:lo::integer, :lo::integer + {n - 1}) "
        "AS i)::varchar[]);",
        bind(CLAIM, ["now()", ids]) + ";",
        bind(
            INSERT_RESPONSES,
            [
                ids,
                array([QUESTIONNAIRE] * n),
                array([1] * n),
                array([row["agency"] for row in batch]),
                array([row["service"] for row in batch]),
                array([row["channel"] for row in batch]),
                array([row["locale"] for row in batch]),
                f"array_fill(now(), ARRAY[{n}])",
                array([row["rating"] for row in batch]),
                array(["{}"] * n),
            ],
        )
        + ";",
    ]
    reasons = [
        bind(
            INSERT_REASON.format("$1", "$2"),
            [f"(SELECT id FROM response WHERE invitation = :lo::integer + {k})", literal(code)],
        )
        + ";"
        for k, row in enumerate(batch)
        for code in row["reasons"]
    ]
    if reasons:
        lines += ["\\startpipeline", *reasons, "\\endpipeline"]
    for sql, rows in upserts(cell_counts(inputs), sqlite=False):
        # One pipeline per executemany, as asyncpg sends it.
        lines += ["\\startpipeline"]
        lines += [bind(sql, [literal(v) for v in row]) + ";" for row in rows]
        lines += ["\\endpipeline"]
    return "\n".join([*lines, "COMMIT;", ""])


async def _seed(url: str, pool: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO agency (code, kind, name, names, created_at, frame_origins) "
                "SELECT 'AG-' || i, 'ministry', 'Agency ' || i, '{}', now(), '' "
                f"FROM generate_series(1, {AGENCIES}) AS i"
            )
            await connection.execute(
                "INSERT INTO service (code, agency, name, names, essential, created_at) "
                f"SELECT 'SVC-' || i, 1 + (i - 1) % {AGENCIES}, 'Service ' || i, '{{}}', true, "
                f"now() FROM generate_series(1, {SERVICES}) AS i"
            )
            await connection.execute(
                "INSERT INTO api_key (key_hash, prefix, role, agency, label, created_at, revoked) "
                f"VALUES ('{KEY_HASH}', 'bench', 'portal', 1, 'bench', now(), false)"
            )
            await connection.execute(
                "INSERT INTO invitation (token, transaction_key, agency, service, channel, "
                "locale, questionnaire_id, created_at, expires_at) "
                f"SELECT {POOL_TOKEN.format('i')}, 'pool-' || i, 1 + (i % {SERVICES}) % "
                f"{AGENCIES}, 1 + i % {SERVICES}, 'web', 'vi', '{QUESTIONNAIRE}', now(), "
                f"now() + {EXPIRY} FROM generate_series(1, {pool}) AS i"
            )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def _reset_answers(url: str, pool: int) -> bool:
    """Back to a pool of unanswered invitations; whether the run went past the pool."""
    connection = await asyncpg.connect(url)
    try:
        beyond = await connection.fetchval("SELECT coalesce(max(invitation), 0) FROM response")
        # CASCADE: the webhook outbox (empty here: no endpoint) refers to the responses.
        await connection.execute("TRUNCATE response, response_reason, comment CASCADE")
        await connection.execute(
            "UPDATE invitation SET answered_at = NULL WHERE answered_at IS NOT NULL"
        )
        await connection.execute("VACUUM ANALYZE invitation, response")
        await connection.execute("CHECKPOINT")
        return beyond > pool
    finally:
        await connection.close()


def parse(output: str) -> dict[str, float]:
    """tps, mean latency and the transaction counts from pgbench's summary."""
    found: dict[str, float] = {}
    patterns = {
        "tps": r"^tps = ([\d.]+)",
        "latency_ms": r"^latency average = ([\d.]+) ms",
        "transactions": r"^number of transactions actually processed: (\d+)",
        "failed": r"^number of failed transactions: (\d+)",
    }
    for name, pattern in patterns.items():
        match = re.search(pattern, output, re.MULTILINE)
        if match:
            found[name] = float(match.group(1))
    if "tps" not in found:
        raise RuntimeError(f"no tps in pgbench's output:\n{output}")
    return found


def run_pgbench(url: str, scripts: list[Path], clients: int, duration_s: int) -> dict[str, float]:
    command = [
        pgbench(), "--no-vacuum", "--protocol=prepared", f"--client={clients}",
        f"--jobs={min(clients, os.cpu_count() or 1)}", f"--time={duration_s}",
        "--define=batch=0", *(f"--file={script}@1" for script in scripts), url,
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - pgbench, arguments from this module
        command, capture_output=True, text=True, timeout=duration_s + 120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return parse(done.stdout)


def run(options: Options) -> dict[str, Any]:
    """Every (kind, rows per transaction, clients) for ``options.duration_s`` seconds."""
    executable = pgbench()
    version = subprocess.run(  # noqa: S603
        [executable, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()
    # Other work on the machine shows in the numbers: the load before the run says how much.
    load_average = [round(x, 2) for x in os.getloadavg()]
    questionnaire = load_directory(REPO / "questionnaires")[QUESTIONNAIRE]
    ratings = questionnaire.ratings()
    largest = max(options.primary_rows) * max(options.primary_clients)
    pool = max(options.primary_pool, largest * 4)
    runs: list[dict[str, Any]] = []
    exhausted = False
    with databases.postgres_target(options.postgres_url, "primary") as made:
        survey_cli.migrate(made)
        say(f"[primary] seeding {pool:,} pre-issued invitations")
        asyncio.run(_seed(made.url, pool))
        scripts_dir = Path(tempfile.mkdtemp(prefix="survey-bench-pgbench-"))
        try:
            for rows in options.primary_rows:
                batches = [draw_batch(random.Random(rows * 100 + v), rows) for v in range(VARIANTS)]
                for clients in options.primary_clients:
                    for kind in KINDS:
                        scripts = []
                        for v, batch in enumerate(batches):
                            text = (
                                invitation_script(batch)
                                if kind == "invitations"
                                else answer_script(batch, ratings, clients)
                            )
                            path = scripts_dir / f"{kind}-{rows}-{clients}-{v}.sql"
                            path.write_text(text)
                            scripts.append(path)
                        measured = run_pgbench(made.url, scripts, clients, options.duration_s)
                        if kind == "answers":
                            exhausted |= asyncio.run(_reset_answers(made.url, pool))
                        run_result = {
                            "kind": kind,
                            "rows_per_transaction": rows,
                            "clients": clients,
                            "transactions_per_s": round(measured["tps"], 1),
                            "rows_per_s": round(measured["tps"] * rows, 1),
                            "latency_ms": measured.get("latency_ms"),
                            "transactions": int(measured.get("transactions", 0)),
                            "failed": int(measured.get("failed", 0)),
                        }
                        runs.append(run_result)
                        say(
                            f"[primary] {kind:11} {rows:3} rows × {clients:2} clients: "
                            f"{run_result['transactions_per_s']:,.0f} transactions/s, "
                            f"{run_result['rows_per_s']:,.0f} rows/s"
                        )
        finally:
            shutil.rmtree(scripts_dir, ignore_errors=True)
    return {
        "pgbench": version,
        "duration_s": options.duration_s,
        "pool": pool,
        "pool_exhausted": exhausted,
        "load_average_before": load_average,
        "runs": runs,
    }
