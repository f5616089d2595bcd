"""Our /livez before and after a change, beside the bare Litestar reference, in one run.

    python -m benchmarks.before_after OTHER_CHECKOUT [--rounds 3 --duration 5]

Serves the bare app, this checkout and ``OTHER_CHECKOUT`` (another worktree of the
project, e.g. ``git worktree add /tmp/before <commit>``) each with ``survey serve`` on
one SQLite database, and runs wrk against their ``/livez`` in turn, round after round,
so all three share whatever else the machine is doing. Prints each one's median
requests per second and its ratio to the bare app.
"""

from __future__ import annotations

import argparse
import os
import statistics
from contextlib import ExitStack
from pathlib import Path

from benchmarks import databases, server, survey_cli, wrk


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.before_after", description=__doc__)
    p.add_argument("other", type=Path, help="another checkout of the project")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--connections", type=int, default=64)
    args = p.parse_args(argv)
    load = wrk.Load(args.duration, args.connections, 2)
    rates: dict[str, list[float]] = {"bare": [], "this checkout": [], str(args.other): []}
    cpu: dict[str, list[float]] = {name: [] for name in rates}
    with databases.sqlite_target("before-after") as made, ExitStack() as stack:
        survey_cli.migrate(made)
        servers = {"bare": stack.enter_context(server.running(made, app="bare"))}
        servers["this checkout"] = stack.enter_context(server.running(made))
        path = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = str(args.other.resolve())
        try:
            other = stack.enter_context(server.running(made, cwd=args.other.resolve()))
        finally:
            os.environ["PYTHONPATH"] = path
        servers[str(args.other)] = other
        for _ in range(args.rounds):
            for name, served in servers.items():
                before = served.cpu_s()
                run = wrk.run(f"{served.base_url}/livez", load)
                rates[name].append(run["requests_per_s"])
                cpu[name].append((served.cpu_s() - before) / run["requests"] * 1e6)
    bare = statistics.median(rates["bare"])
    bare_cpu = statistics.median(cpu["bare"])
    print(
        "| server | /livez req/s (median) | rounds | ratio to bare "
        "| server CPU µs/request | bare's CPU / its CPU |"
    )
    print("|---|---:|---|---:|---:|---:|")
    for name, found in rates.items():
        middle, used = statistics.median(found), statistics.median(cpu[name])
        shown = ", ".join(f"{r:,.0f}" for r in found)
        print(
            f"| {name} | {middle:,.0f} | {shown} | {middle / bare:.2f} | {used:.0f} "
            f"| {bare_cpu / used:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
