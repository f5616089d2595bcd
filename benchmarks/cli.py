"""Command line of the benchmark runner."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.options import ENGINES, RESULTS, STAGES, Options


def sizes(text: str) -> tuple[int, ...]:
    """``100000,1000000``; ``0`` or ``none`` turns the statistics stage off."""
    if text.strip().lower() in ("", "0", "none", "off"):
        return ()
    try:
        values = tuple(int(part.replace("_", "")) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}") from None
    if any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError("sizes must be positive")
    return values


def counts(text: str) -> tuple[int, ...]:
    """``1,16,64``: positive whole numbers."""
    found = sizes(text)
    if not found:
        raise argparse.ArgumentTypeError("give at least one number")
    return found


def names_of(allowed: tuple[str, ...], what: str):  # type: ignore[no-untyped-def]
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        if not names or any(name not in allowed for name in names):
            raise argparse.ArgumentTypeError(f"{what} are {', '.join(allowed)}; got {text!r}")
        return names

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure the service (wrk against the real server) and write "
        f"{RESULTS.relative_to(RESULTS.parents[2])}.",
    )
    p.add_argument(
        "--engines", type=names_of(ENGINES, "engines"), help="sqlite,postgres (default: both)"
    )
    p.add_argument(
        "--stages",
        type=names_of(STAGES, "stages"),
        help="load,stats,primary (default: all; --smoke: load only unless --stats-sizes is "
        "given); primary: pgbench of the writer's statements, PostgreSQL only",
    )
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 10)")
    p.add_argument("--connections", type=int, help="wrk connections (default 64)")
    p.add_argument("--tokens", type=int, help="invitations pre-issued (default 200000)")
    p.add_argument(
        "--stats-sizes",
        type=sizes,
        help="responses per statistics run, e.g. 100000,1000000; 0 turns it off",
    )
    p.add_argument(
        "--primary-rows",
        type=counts,
        help="rows per pgbench transaction in the primary stage (default 1,16,64)",
    )
    p.add_argument(
        "--primary-clients",
        type=counts,
        help="pgbench clients in the primary stage (default 1,4,16)",
    )
    p.add_argument("--output", type=Path, help="result file (default: benchmarks/results/)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run: 2 s, 8 connections, 2000 tokens; statistics (when asked for) on 2000",
    )
    return p


def options_from(args: argparse.Namespace) -> Options:
    overrides = {
        name: value
        for name, value in {
            "engines": args.engines,
            "stages": args.stages,
            "duration_s": args.duration,
            "connections": args.connections,
            "tokens": args.tokens,
            "stats_sizes": args.stats_sizes,
            "primary_rows": args.primary_rows,
            "primary_clients": args.primary_clients,
            "output": args.output,
        }.items()
        if value is not None
    }
    return Options.smoke_run(**overrides) if args.smoke else Options(**overrides)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.runner import run

    return run(options_from(parser().parse_args(argv)))
