"""Run wrk and read the one JSON line its Lua ``done()`` prints.

The Lua scripts report exact percentiles (microseconds) and status counts,
so nothing depends on the layout of wrk's human-readable output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.options import PACKAGE_DIR

POST_SCRIPT = PACKAGE_DIR / "post_responses.lua"
INVITATIONS_SCRIPT = PACKAGE_DIR / "post_invitations.lua"
TRANSACTION_SCRIPT = PACKAGE_DIR / "transaction.lua"
CITIZENS_SCRIPT = PACKAGE_DIR / "citizens.lua"
SUMMARY_SCRIPT = PACKAGE_DIR / "summary.lua"
MARKER = "BENCH_RESULT "
# A request slower than this counts as a timeout; generous, so a slow commit under
# load is measured as latency, not dropped as an error.
TIMEOUT = "30s"


class WrkMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Load:
    duration_s: int
    connections: int
    threads: int


def executable() -> str:
    found = shutil.which("wrk")
    if not found:
        raise WrkMissing("wrk is not installed (Debian: apt-get install -y wrk)")
    return found


def run(
    url: str,
    load: Load,
    script: Path = SUMMARY_SCRIPT,
    headers: Sequence[str] = (),
    script_args: Sequence[str] = (),
) -> dict[str, Any]:
    """One wrk run; the result with ``requests_per_s`` and latencies in ms added."""
    command = [
        executable(),
        "--threads",
        str(load.threads),
        "--connections",
        str(load.connections),
        "--duration",
        f"{load.duration_s}s",
        "--timeout",
        TIMEOUT,
        "--latency",
        "--script",
        str(script),
    ]
    for header in headers:
        command += ["--header", header]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(  # noqa: S603 - wrk found on PATH, arguments from this package
        command, capture_output=True, text=True, timeout=load.duration_s + 120, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(line[len(MARKER) :])
    seconds = result["duration_us"] / 1e6
    result["duration_s"] = round(seconds, 3)
    result["requests_per_s"] = round(result["requests"] / seconds, 1) if seconds else 0.0
    for name in ("p50", "p75", "p90", "p99", "max", "mean"):
        result[f"{name}_ms"] = round(result.pop(f"{name}_us") / 1000, 2)
    result["socket_errors_total"] = sum(result["socket_errors"].values())
    if "counts" in result:  # scripts built on report.lua
        counts = result["counts"]
        result["status"] = {f"{c}xx": counts[f"c{c}xx"] for c in "2345"}
    return result
