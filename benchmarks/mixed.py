"""Several kinds of client at once, each its own wrk process, so each has its own latencies.

Citizens open pages and answer them, portals issue invitations, and (in the busy
run) an analyst polls the statistics. The citizens' p99 with and without the
analyst says whether staff requests hold citizens' ones.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import wrk

ANALYST_PATH = "/api/v1/stats/satisfaction"
ANALYST_CONNECTIONS = 2


def run(
    base_url: str,
    load: wrk.Load,
    *,
    tokens: Path,
    key: str,
    service: str,
    analyst_key: str | None,
    prefix: str,
) -> dict[str, Any]:
    """Three quarters of the connections are citizens, the rest portals; the analyst's
    two connections, when asked for, come on top."""
    citizens = wrk.Load(load.duration_s, max(1, load.connections * 3 // 4), load.threads)
    portals = wrk.Load(load.duration_s, max(1, load.connections - citizens.connections), 1)
    jobs = {
        "citizens": lambda: wrk.run(
            base_url,
            citizens,
            script=wrk.CITIZENS_SCRIPT,
            script_args=[
                str(tokens),
                str(citizens.threads),
                key,
                str(-(-citizens.connections // citizens.threads)),
            ],
        ),
        "portals": lambda: wrk.run(
            f"{base_url}/api/v1/invitations",
            portals,
            script=wrk.INVITATIONS_SCRIPT,
            script_args=[key, service, prefix],
        ),
    }
    if analyst_key:
        analyst = wrk.Load(load.duration_s, ANALYST_CONNECTIONS, 1)
        jobs["analyst"] = lambda: wrk.run(
            f"{base_url}{ANALYST_PATH}",
            analyst,
            headers=[f"Authorization: Bearer {analyst_key}"],
        )
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        result = {name: future.result() for name, future in futures.items()}
    result["citizens"]["tokens_exhausted"] = result["citizens"]["counts"]["exhausted"] > 0
    return result
