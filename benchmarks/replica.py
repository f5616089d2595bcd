# ruff: noqa: S311
# The RNG draws filters and batches; it is no secret.
"""How far a PostgreSQL streaming replica carries the statistics reads.

``python -m benchmarks.replica`` starts a private primary and a hot standby
(``pg_basebackup -R``, ``benchmarks.cluster``), loads ``survey demo`` data on the
primary and waits until the standby has replayed it. The read workload is what the
statistics endpoints send: their count-table functions (``statistics.counts``,
``nonresponse``, the data-version check) are run once per drawn filter against the
primary through the service's own engine, every statement recorded with its
parameters; each endpoint call becomes a pgbench script (its statements, values bound
as literals), one script per drawn agency and period, picked at random by pgbench per
transaction. So a read transaction is one uncached endpoint call (without the
computation and rendering, which run in the server's workers, not in PostgreSQL).

The write load is ``benchmarks.primary``'s answer batches (the group-commit writer's
statements), in a scratch database of the same primary: its WAL reaches the standby
with the rest, but its rows are not the ones read, so no replay conflict cancels a read.

For each read client count: writes alone; reads on the primary; reads on the standby;
reads on the standby with the writes on the primary; reads on the primary with the
writes. The standby's replay lag is sampled during each write run (bytes behind the
primary's WAL position; seconds: the age of the last transaction it replayed) and
measured at its end (bytes, and the seconds it took to catch up).

One machine stands in for two hosts: on two CPUs or more, the primary and the pgbench
talking to it run on CPU 0, the standby and its pgbench on CPU 1 (``taskset``), so
reads on the standby take no CPU from the primary (``--no-pin``: no pinning). Disks
and memory stay shared.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks import cluster, machine, primary, survey_cli
from benchmarks.databases import Target
from benchmarks.options import PACKAGE_DIR, REPO
from benchmarks.progress import say
from questionnaires import DEFAULT_QUESTIONNAIRE_ID, load_directory
from survey_app.db.engine import bind_tables, engine_from_url
from survey_app.db.tables import ALL_TABLES
from survey_app.db.version import data_version
from survey_app.statistics import counts, nonresponse
from survey_app.statistics.filters import Filters
from survey_app.statistics.questions import CHOICE_KINDS, RATING_KINDS, resolve

RESULTS = PACKAGE_DIR / "results" / "replica.json"
ENDPOINTS = ("satisfaction", "reasons", "trend")
PARTIAL_MONTHS = 0.25  # share of drawn periods that start mid-month: they read day cells


@dataclass(frozen=True)
class Settings:
    responses: int = 300_000
    months: int = 24
    duration_s: int = 15
    read_clients: tuple[int, ...] = (4, 16)
    write_clients: int = 4
    write_rows: int = 16
    variants: int = 8  # drawn filters per endpoint
    pool: int = 200_000  # invitations the write runs answer
    seed: int = 1
    # The primary and its clients on CPU 0, the standby and its clients on CPU 1: one
    # machine standing in for two hosts (``--no-pin`` lets every process use every CPU).
    pin: bool = True
    output: Path = RESULTS


# --- the read workload: the statistics code's own statements ------------------------


def sql_literal(value: Any) -> str:
    if isinstance(value, list | tuple):
        return primary.array(list(value))
    if isinstance(value, dt.datetime):
        return f"'{value.isoformat()}'"
    return primary.literal(value)


def month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    months = []
    day = first.replace(day=1)
    while day <= last:
        months.append(day)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


def draw_period(rng: random.Random, months: list[dt.date]) -> tuple[dt.date, dt.date]:
    """A month, quarter or year of the data; now and then starting mid-month."""
    span = min(rng.choice([1, 3, 12]), len(months))
    start = rng.randrange(len(months) - span + 1)
    end = months[start + span - 1]
    date_to = (end + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    date_from = months[start]
    if rng.random() < PARTIAL_MONTHS:
        date_from += dt.timedelta(days=rng.randint(1, 20))
    return date_from, date_to


async def capture(url: str, variants: int, seed: int) -> dict[str, list[list[str]]]:
    """Per endpoint, ``variants`` calls' statements with their values bound, recorded as
    the service's engine sends them to the database at ``url``."""
    engine = engine_from_url(url)
    bind_tables(engine, ALL_TABLES)
    questionnaires = load_directory(REPO / "questionnaires")
    rating = resolve(questionnaires, DEFAULT_QUESTIONNAIRE_ID, None, None, RATING_KINDS)
    choice = resolve(questionnaires, DEFAULT_QUESTIONNAIRE_ID, None, None, CHOICE_KINDS)
    agencies = sorted((await counts.codes_of(counts.Agency)).values())
    months = [
        row["month"]
        for row in await counts.MonthlyRating.select(counts.MonthlyRating.month)
        .distinct()
        .order_by(counts.MonthlyRating.month)
    ]
    months = month_starts(months[0], months[-1])

    recorded: list[tuple[str, list[Any]]] = []
    run_querystring, run_ddl = engine.run_querystring, engine.run_ddl

    async def recording_querystring(querystring: Any, in_pool: bool = True) -> Any:
        recorded.append(querystring.compile_string(engine_type="postgres"))
        return await run_querystring(querystring, in_pool)

    async def recording_ddl(ddl: str, in_pool: bool = True) -> Any:
        recorded.append((ddl, []))
        return await run_ddl(ddl, in_pool)

    engine.run_querystring = recording_querystring  # type: ignore[method-assign]
    engine.run_ddl = recording_ddl  # type: ignore[method-assign]

    # What each endpoint's ``reads`` sends (``statistics.controller``), after the
    # data-version check the result cache makes first (``statistics.offload``).
    async def satisfaction(filters: Filters) -> None:
        await counts.rating_counts(replace(filters, agency=None), "agency", rating)
        await nonresponse.frame_table(replace(filters, agency=None), "agency", scope=rating)

    async def reasons(filters: Filters) -> None:
        await counts.reason_counts(filters, "service", choice)

    async def trend(filters: Filters) -> None:
        await counts.daily_rating_counts(filters, "month", rating, by_agency=False)

    calls = {"satisfaction": satisfaction, "reasons": reasons, "trend": trend}
    rng = random.Random(seed)
    scripts: dict[str, list[list[str]]] = {name: [] for name in ENDPOINTS}
    for name in ENDPOINTS:
        for _ in range(variants):
            date_from, date_to = draw_period(rng, months)
            filters = Filters(agency=rng.choice(agencies), date_from=date_from, date_to=date_to)
            recorded.clear()
            await data_version(engine)
            await calls[name](filters)
            scripts[name].append(
                [primary.bind(sql, [sql_literal(v) for v in args]) for sql, args in recorded]
            )
    return scripts


def write_read_scripts(scripts: dict[str, list[list[str]]], directory: Path) -> list[Path]:
    paths = []
    for name, variants in scripts.items():
        for i, statements in enumerate(variants):
            path = directory / f"read-{name}-{i}.sql"
            path.write_text("".join(f"{' '.join(sql.split())};\n" for sql in statements))
            paths.append(path)
    return paths


def write_answer_scripts(settings: Settings, directory: Path) -> list[Path]:
    ratings = load_directory(REPO / "questionnaires")[primary.QUESTIONNAIRE].ratings()
    paths = []
    for v in range(primary.VARIANTS):
        batch = primary.draw_batch(
            random.Random(settings.write_rows * 100 + v), settings.write_rows
        )
        path = directory / f"answers-{v}.sql"
        path.write_text(primary.answer_script(batch, ratings, settings.write_clients))
        paths.append(path)
    return paths


# --- pgbench and the replay lag ------------------------------------------------------


def pgbench_command(url: str, scripts: Sequence[Path], clients: int, duration_s: int) -> list[str]:
    return [
        primary.pgbench(), "--no-vacuum", "--protocol=prepared", f"--client={clients}",
        f"--jobs={min(clients, os.cpu_count() or 1)}", f"--time={duration_s}",
        "--define=batch=0", *(f"--file={script}@1" for script in scripts), url,
    ]  # fmt: skip


async def pgbench(
    url: str, scripts: Sequence[Path], clients: int, duration_s: int, pinned: Sequence[str] = ()
) -> dict:
    """One pgbench run; ``pinned`` is the ``taskset`` of its server, if any."""
    process = await asyncio.create_subprocess_exec(
        *pinned,
        *pgbench_command(url, scripts, clients, duration_s),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), duration_s + 120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"pgbench failed ({process.returncode}):\n{err.decode()[-2000:]}")
    measured = primary.parse(out.decode())
    return {
        "clients": clients,
        "transactions_per_s": round(measured["tps"], 1),
        "latency_ms": measured.get("latency_ms"),
        "transactions": int(measured.get("transactions", 0)),
        "failed": int(measured.get("failed", 0)),
    }


class Lag:
    """The standby's replay position against the primary's WAL position."""

    def __init__(self, primary_url: str, standby_url: str) -> None:
        self.urls = (primary_url, standby_url)
        self.primary: asyncpg.Connection
        self.standby: asyncpg.Connection

    async def __aenter__(self) -> Lag:
        self.primary = await asyncpg.connect(self.urls[0])
        self.standby = await asyncpg.connect(self.urls[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.primary.close()
        await self.standby.close()

    async def behind(self, lsn: str | None = None) -> tuple[str, int]:
        """The primary's position now (or ``lsn``) and the bytes the standby has not replayed."""
        lsn = lsn or await self.primary.fetchval("SELECT pg_current_wal_lsn()::text")
        replayed = await self.standby.fetchval("SELECT pg_last_wal_replay_lsn()::text")
        gap = await self.primary.fetchval(
            "SELECT pg_wal_lsn_diff($1::text::pg_lsn, $2::text::pg_lsn)", lsn, replayed
        )
        return lsn, max(0, int(gap))

    async def delay_s(self) -> float:
        """How old the last transaction the standby replayed is: while the primary commits
        continuously and the standby is behind, the seconds it is behind."""
        age = await self.standby.fetchval(
            "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
        )
        return max(0.0, float(age or 0.0))

    async def caught_up(self, timeout_s: float = 600) -> float:
        """Seconds until the standby has replayed what the primary has written by now."""
        start = time.monotonic()
        lsn, gap = await self.behind()
        while gap > 0:
            if time.monotonic() - start > timeout_s:
                raise RuntimeError(f"the standby is still {gap:,} bytes behind")
            await asyncio.sleep(0.05)
            _, gap = await self.behind(lsn)
        return round(time.monotonic() - start, 2)

    async def sample(self, until: asyncio.Task, every_s: float = 0.5) -> list[tuple[int, float]]:
        """(bytes, seconds) behind, every ``every_s`` until ``until`` is done. The standby
        was caught up when it started: no more behind than that, nor at all with 0 bytes."""
        started = time.monotonic()
        found = []
        while not until.done():
            gap = (await self.behind())[1]
            delay = min(await self.delay_s(), time.monotonic() - started) if gap else 0.0
            found.append((gap, delay))
            await asyncio.sleep(every_s)
        return found


async def with_writes(
    lag: Lag,
    writes: tuple[str, list[Path], Sequence[str]],
    settings: Settings,
    reads: tuple[str, list[Path], int, Sequence[str]] | None,
) -> dict[str, Any]:
    """The answer batches on the primary for the duration (``writes``: url, scripts,
    taskset), with ``reads`` (url, scripts, clients, taskset) beside them; the lag
    sampled throughout and measured at the end."""
    duration = settings.duration_s
    url, scripts, pinned = writes
    start_lsn, _ = await lag.behind()
    started = time.monotonic()
    writing = asyncio.create_task(pgbench(url, scripts, settings.write_clients, duration, pinned))
    read = None
    if reads:
        read = asyncio.create_task(pgbench(*reads[:3], duration, reads[3]))
    samples = await lag.sample(writing)
    write_result = await writing
    end_lsn, end_gap = await lag.behind()
    elapsed = time.monotonic() - started
    catch_up_s = await lag.caught_up()
    wal = await lag.primary.fetchval(
        "SELECT pg_wal_lsn_diff($1::text::pg_lsn, $2::text::pg_lsn)", end_lsn, start_lsn
    )
    rows_per_s = round(write_result["transactions_per_s"] * settings.write_rows, 1)
    result: dict[str, Any] = {
        "writes": {**write_result, "rows_per_s": rows_per_s},
        "lag": {
            "wal_bytes_per_s": round(float(wal) / elapsed),
            "max_bytes": max((b for b, _ in samples), default=0),
            "max_s": round(max((s for _, s in samples), default=0.0), 3),
            "median_s": round(statistics.median(s for _, s in samples), 3) if samples else 0.0,
            "end_bytes": end_gap,
            "catch_up_s": catch_up_s,
            "samples": len(samples),
        },
    }
    if read:
        result["reads"] = await read
    return result


# --- the run ----------------------------------------------------------------------


async def _scalar(url: str, sql: str) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def measure(settings: Settings, scripts_dir: Path) -> dict[str, Any]:
    with cluster.primary_and_standby(settings.pin) as (main, standby):
        version = await _scalar(main.url, "SHOW server_version")
        say(f"[replica] primary on port {main.port}, hot standby on port {standby.port}")
        for name in ("survey", "writes"):
            await _scalar(main.url, f'CREATE DATABASE "{name}"')
        var_dir = Path(tempfile.mkdtemp(prefix="survey-bench-replica-var-"))
        try:
            data = Target("postgres", main.url_of("survey"), var_dir)
            writes = Target("postgres", main.url_of("writes"), var_dir)
            survey_cli.migrate(data)
            say(f"[replica] loading {settings.responses:,} demo responses")
            started = time.monotonic()
            survey_cli.survey(
                data, "demo", "--responses", str(settings.responses),
                "--months", str(settings.months), stream=True,
            )  # fmt: skip
            load_s = round(time.monotonic() - started, 1)
            await _scalar(data.url, "VACUUM ANALYZE")
            survey_cli.migrate(writes)
            say(f"[replica] seeding {settings.pool:,} invitations for the write load")
            await primary._seed(writes.url, settings.pool)
        finally:
            shutil.rmtree(var_dir, ignore_errors=True)
        async with Lag(main.url, standby.url) as lag:
            replay_s = await lag.caught_up()
            say(f"[replica] the standby replayed the load {replay_s} s after it ended")
            captured = await capture(data.url, settings.variants, settings.seed)
            read_scripts = write_read_scripts(captured, scripts_dir)
            write_scripts = write_answer_scripts(settings, scripts_dir)
            on = {"primary": main.url_of("survey"), "standby": standby.url_of("survey")}
            pinned = {"primary": main.pinned, "standby": standby.pinned}
            for name, url in on.items():  # warm both caches; not measured
                await pgbench(url, read_scripts, 1, min(3, settings.duration_s), pinned[name])
            runs: list[dict[str, Any]] = []
            exhausted = False
            for clients in settings.read_clients:
                for label, reads_on in (
                    ("writes alone", None),
                    ("reads on primary", "primary"),
                    ("reads on standby", "standby"),
                    ("reads on standby + writes", "standby"),
                    ("reads on primary + writes", "primary"),
                ):
                    await lag.caught_up()
                    run: dict[str, Any] = {"run": label, "read_clients": clients}
                    reads = None
                    if reads_on:
                        reads = (on[reads_on], read_scripts, clients, pinned[reads_on])
                    if label.endswith("writes") or reads is None:
                        load = (writes.url, write_scripts, main.pinned)
                        run.update(await with_writes(lag, load, settings, reads))
                        exhausted |= await primary._reset_answers(writes.url, settings.pool)
                    else:
                        assert reads is not None
                        run["reads"] = await pgbench(*reads[:3], settings.duration_s, reads[3])
                    runs.append(run)
                    say(f"[replica] {clients:2} clients, {label}: {summary(run)}")
    return {
        "postgresql": version,
        "pgbench": primary_version(),
        "load_s": load_s,
        "replay_after_load_s": replay_s,
        "read_scripts": dict.fromkeys(ENDPOINTS, settings.variants),
        # One drawn call per endpoint, as sent: what a read transaction is.
        "read_statements_example": {
            name: [" ".join(sql.split()) for sql in calls[0]] for name, calls in captured.items()
        },
        "pool_exhausted": exhausted,
        "runs": runs,
        "ratios": ratios(runs, settings.read_clients),
    }


def primary_version() -> str:
    return subprocess.run(  # noqa: S603
        [primary.pgbench(), "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()


def summary(run: dict[str, Any]) -> str:
    parts = []
    if "reads" in run:
        parts.append(f"{run['reads']['transactions_per_s']:,.0f} reads/s")
    if "writes" in run:
        parts.append(f"{run['writes']['rows_per_s']:,.0f} answers/s")
        parts.append(
            f"lag up to {run['lag']['max_bytes']:,} B / {run['lag']['max_s']} s, "
            f"caught up {run['lag']['catch_up_s']} s after"
        )
    return ", ".join(parts)


def ratios(runs: list[dict[str, Any]], read_clients: Sequence[int]) -> dict[str, Any]:
    """Per read client count: the comparisons the runs are for, within the same pass."""
    found: dict[str, Any] = {}
    for clients in read_clients:
        by = {r["run"]: r for r in runs if r["read_clients"] == clients}

        def tps(label: str, part: str, by: dict = by) -> float:
            return by[label][part]["transactions_per_s"]

        def ratio(a: float, b: float) -> float | None:
            return round(a / b, 2) if b else None

        found[str(clients)] = {
            "standby_reads_vs_primary_reads": ratio(
                tps("reads on standby", "reads"), tps("reads on primary", "reads")
            ),
            "standby_reads_with_writes_vs_alone": ratio(
                tps("reads on standby + writes", "reads"), tps("reads on standby", "reads")
            ),
            "primary_reads_with_writes_vs_alone": ratio(
                tps("reads on primary + writes", "reads"), tps("reads on primary", "reads")
            ),
            "writes_with_standby_reads_vs_alone": ratio(
                tps("reads on standby + writes", "writes"), tps("writes alone", "writes")
            ),
            "writes_with_primary_reads_vs_alone": ratio(
                tps("reads on primary + writes", "writes"), tps("writes alone", "writes")
            ),
        }
    return found


def table(result: dict[str, Any]) -> str:
    lines = [
        "| read clients | run | reads/s | answers/s | replay lag, largest seen | catch-up after |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for run in result["runs"]:
        reads = f"{run['reads']['transactions_per_s']:,.0f}" if "reads" in run else ""
        writes = f"{run['writes']['rows_per_s']:,.0f}" if "writes" in run else ""
        lag = ""
        if "lag" in run:
            lag = f"{run['lag']['max_bytes'] / 1024:,.0f} KiB, {run['lag']['max_s']:.2f} s"
        catch_up = f"{run['lag']['catch_up_s']} s" if "lag" in run else ""
        lines.append(
            f"| {run['read_clients']} | {run['run']} | {reads} | {writes} | {lag} | {catch_up} |"
        )
    lines += ["", "| read clients | standby ÷ primary reads | standby reads with writes ÷ alone "
              "| writes with standby reads ÷ alone | writes with primary reads ÷ alone |",
              "|---:|---:|---:|---:|---:|"]  # fmt: skip
    for clients, r in result["ratios"].items():
        lines.append(
            f"| {clients} | {r['standby_reads_vs_primary_reads']} "
            f"| {r['standby_reads_with_writes_vs_alone']} "
            f"| {r['writes_with_standby_reads_vs_alone']} "
            f"| {r['writes_with_primary_reads_vs_alone']} |"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.replica",
        description="How far a PostgreSQL hot standby carries the statistics reads "
        f"(writes {RESULTS.relative_to(REPO)}).",
    )
    p.add_argument("--responses", type=int, help="demo responses loaded (default 300000)")
    p.add_argument("--duration", type=int, help="seconds per pgbench run (default 15)")
    p.add_argument(
        "--clients", help="read clients, e.g. 4,16 (default); writes use 4 clients of 16 rows"
    )
    p.add_argument("--pool", type=int, help="invitations the write runs answer (default 200000)")
    p.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        default=None,
        help="let every process use every CPU (default: primary on CPU 0, standby on CPU 1)",
    )
    p.add_argument("--output", type=Path, help="result file")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "responses": args.responses,
        "duration_s": args.duration,
        "read_clients": tuple(int(c) for c in args.clients.split(",")) if args.clients else None,
        "pool": args.pool,
        "pin": args.pin if args.pin is not None else (os.cpu_count() or 1) >= 2,
        "output": args.output,
    }
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    settings = settings_from(parser().parse_args(argv))
    load_before = [round(x, 2) for x in os.getloadavg()]
    scripts_dir = Path(tempfile.mkdtemp(prefix="survey-bench-replica-scripts-"))
    try:
        result = asyncio.run(measure(settings, scripts_dir))
    finally:
        shutil.rmtree(scripts_dir, ignore_errors=True)
    described = machine.describe(None)
    described.pop("wrk")
    document = {
        "machine": {
            **described,
            "postgresql": result.pop("postgresql"),
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "options": {k: v for k, v in asdict(settings).items() if k != "output"},
        "replica": result,
    }
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    settings.output.write_text(json.dumps(document, indent=2) + "\n")
    print(table(result))
    say(f"[replica] wrote {settings.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
