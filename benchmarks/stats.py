"""The statistics stage: endpoint times as the number of responses grows.

DESIGN: "analysis cost grows with the number of count cells, not responses".
For each size a fresh database gets ``survey demo --responses N --months 24``;
each statistics endpoint is timed (median of several after a warm-up) and
compared with reading the raw rows into pandas (``benchmarks.baseline``).
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from benchmarks import baseline, databases, server, survey_cli
from benchmarks.options import Options
from benchmarks.progress import say

DOSSIER = "questionnaire=dossier-evaluation"
ENDPOINTS = {
    "satisfaction": "/api/v1/stats/satisfaction?group_by=agency",
    "reasons": "/api/v1/stats/reasons?group_by=agency",
    "trend": "/api/v1/stats/trend?period=month",
    # Filtered and daily: the ones that read day cells before the answer cells.
    "satisfaction_channel": "/api/v1/stats/satisfaction?group_by=agency&channel=web",
    "trend_daily": "/api/v1/stats/trend?period=day",
    # Half the demo's responses answer dossier-evaluation: one question of it, filtered too.
    "criterion": f"/api/v1/stats/satisfaction?{DOSSIER}&question=timeliness",
    "criterion_channel": f"/api/v1/stats/satisfaction?{DOSSIER}&question=timeliness&channel=web",
    "criterion_trend": f"/api/v1/stats/trend?{DOSSIER}&question=staff_attitude&period=month",
    "reasons_dossier": f"/api/v1/stats/reasons?{DOSSIER}",
    "drivers": f"/api/v1/stats/drivers?{DOSSIER}",
    "drivers_channel": f"/api/v1/stats/drivers?{DOSSIER}&channel=web",
}
MONTHS = "24"
RESEARCHER_AGENCY = "MIC"  # a demo agency; a researcher key sees every agency anyway


# The researcher's way reads every row into memory: run it up to the size the issue names.
BASELINE_MAX = 1_000_000


def time_endpoint(client: httpx.Client, url: str, key: str, repeats: int) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    times = []
    for attempt in range(repeats + 1):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.text[:300]}")
        if attempt:  # the first is the warm-up
            times.append(elapsed)
    return statistics.median(times)


def one_size(engine: str, size: int, options: Options) -> dict[str, Any]:
    # Repeats of one request would be cache hits: measure the cells. The server child
    # inherits this; set SURVEY_STATS_CACHE_MB to measure with the cache instead.
    os.environ.setdefault("SURVEY_STATS_CACHE_MB", "0")
    with databases.target(engine, options.postgres_url, "stats") as made:
        survey_cli.migrate(made)
        say(f"[{engine}] stats: loading {size:,} demo responses")
        start = time.perf_counter()
        survey_cli.survey(made, "demo", "--responses", str(size), "--months", MONTHS, stream=True)
        load_s = time.perf_counter() - start
        say(f"[{engine}] stats: loaded in {load_s:.1f} s")
        # The key is made while the server starts: both are mostly process start-up.
        with ThreadPoolExecutor(max_workers=1) as pool:
            making_key = pool.submit(survey_cli.create_key, made, RESEARCHER_AGENCY, "researcher")
            with server.running(made) as served, httpx.Client(timeout=600) as client:
                key = making_key.result()
                endpoints = {
                    name: time_endpoint(client, served.base_url + path, key, options.stats_repeats)
                    for name, path in ENDPOINTS.items()
                }
        say(
            f"[{engine}] stats: "
            + ", ".join(f"{name} {ms:.1f} ms" for name, ms in endpoints.items())
        )
        result: dict[str, Any] = {
            "responses": size,
            "load_s": round(load_s, 2),
            "endpoints_ms": {name: round(ms, 2) for name, ms in endpoints.items()},
        }
        if size > BASELINE_MAX:
            say(f"[{engine}] stats: pandas baseline skipped above {BASELINE_MAX:,} responses")
            return result
        satisfaction_ms = baseline.timed_ms(baseline.satisfaction, made, options.baseline_repeats)
        reasons_ms = baseline.timed_ms(baseline.reasons, made, options.baseline_repeats)
        say(
            f"[{engine}] stats: pandas baseline satisfaction {satisfaction_ms:.0f} ms, "
            f"reasons {reasons_ms:.0f} ms"
        )
        result["baseline"] = {
            "satisfaction_ms": round(satisfaction_ms, 2),
            "reasons_ms": round(reasons_ms, 2),
            "speedup": round(satisfaction_ms / endpoints["satisfaction"], 2),
            "reasons_speedup": round(reasons_ms / endpoints["reasons"], 2),
            "repeats": options.baseline_repeats,
        }
        return result


def run(engine: str, options: Options) -> dict[str, Any]:
    sizes = [one_size(engine, size, options) for size in options.stats_sizes]
    result: dict[str, Any] = {
        "sizes": sizes,
        "repeats": options.stats_repeats,
        "months": int(MONTHS),
    }
    if len(sizes) > 1:
        smallest, largest = min(sizes, key=_n), max(sizes, key=_n)
        result["size_ratio"] = largest["responses"] / smallest["responses"]
        result["growth"] = {
            name: round(largest["endpoints_ms"][name] / smallest["endpoints_ms"][name], 2)
            for name in ENDPOINTS
        }
    return result


def _n(size: dict[str, Any]) -> int:
    return size["responses"]
