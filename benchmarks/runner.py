"""Run every stage on every engine, print the table, write the result file."""

from __future__ import annotations

import subprocess
from dataclasses import asdict
from typing import Any

from benchmarks import databases, load, machine, primary, report, stats, wrk
from benchmarks.options import Options
from benchmarks.progress import say


def wrk_version() -> str:
    done = subprocess.run(  # noqa: S603 - wrk found on PATH
        [wrk.executable(), "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else ""


def run_engine(engine: str, options: Options) -> dict[str, Any]:
    if engine == "postgres":
        problem = databases.postgres_problem(options.postgres_url)
        if problem:
            say(f"[postgres] skipped: no server answers at {options.postgres_url} ({problem})")
            return {"skipped": "no PostgreSQL server answers"}
    # A stage that fails is recorded and the run goes on: one failure must not
    # hide the other numbers; the exit status still says something failed.
    result: dict[str, Any] = {}
    if engine == "postgres":
        result["server_version"] = databases.postgres_version(options.postgres_url)
    if "load" in options.stages:
        try:
            with databases.target(engine, options.postgres_url, "load") as made:
                result |= load.run(made, options)
        except Exception as error:
            say(f"[{engine}] FAILED: {type(error).__name__}: {error}")
            return {"error": f"{type(error).__name__}: {error}"}
    if "stats" in options.stages and options.stats_sizes:
        try:
            result["stats"] = stats.run(engine, options)
        except Exception as error:
            say(f"[{engine}] stats FAILED: {type(error).__name__}: {error}")
            result["stats_error"] = f"{type(error).__name__}: {error}"
    if "primary" in options.stages and engine == "postgres":
        try:
            result["primary"] = primary.run(options)
        except Exception as error:
            say(f"[{engine}] primary FAILED: {type(error).__name__}: {error}")
            result["primary_error"] = f"{type(error).__name__}: {error}"
    return result


def run(options: Options) -> int:
    try:
        # Only the load stage runs wrk.
        version = wrk_version() if "load" in options.stages else ""
    except wrk.WrkMissing as missing:
        say(str(missing))
        return 2
    say(f"benchmarks: engines {', '.join(options.engines)}; results to {options.output}")
    engines = {engine: run_engine(engine, options) for engine in options.engines}
    info = machine.describe(version)
    info["postgresql"] = engines.get("postgres", {}).get("server_version")
    private = ("postgres_url", "redis_url", "output")
    settings = {k: v for k, v in asdict(options).items() if k not in private}
    result = {"machine": info, "options": settings, "engines": engines}
    report.write(options.output, result)

    lines: list[str] = []
    if "load" in options.stages:
        lines += report.load_table(engines)
        lines += ["", *report.summary_lines(engines)]
        lines += ["", *report.goal_lines(engines)]
    stats_lines = report.stats_table(engines)
    if stats_lines:
        lines += ["", *stats_lines]
    primary_lines = report.primary_table(engines)
    if primary_lines:
        lines += ["", *primary_lines]
    print("\n".join(lines))
    say(f"results written to {options.output}")
    failed = any(
        "error" in r or "stats_error" in r or "primary_error" in r for r in engines.values()
    )
    return 1 if failed else 0
