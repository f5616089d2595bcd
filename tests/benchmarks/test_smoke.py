"""The benchmark runner, tiny (``--smoke``), on SQLite: every stage must work.

It needs wrk (Debian package ``wrk``). Without it the tests are skipped with one
line, except under ``CI=true``, where a missing wrk fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(autouse=True)
def wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        message = "wrk is not installed (apt-get install -y wrk)"
        if IN_CI:
            pytest.fail(message + "; under CI=true the benchmark smoke tests must run")
        pytest.skip(message + "; benchmark smoke tests skipped")
    return found


def run_benchmarks(output: Path, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks", "--smoke", "--engines", "sqlite"]
    done = subprocess.run(
        [*command, "--output", str(output), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,  # several servers start: ours, the bare reference, 2 workers, limits
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(output.read_text())


@pytest.fixture(scope="module")
def load_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One smoke run of the load stage, read by every test of it."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed")
    return run_benchmarks(tmp_path_factory.mktemp("load") / "latest.json")


@pytest.mark.slow
def test_load_stage_measures_livez_submissions_and_the_page(load_run: dict[str, Any]) -> None:
    result = load_run

    sqlite = result["engines"]["sqlite"]
    assert sqlite["livez"]["requests_per_s"] > 0
    assert sqlite["submit"]["requests_per_s"] > 0
    assert sqlite["submit"]["status"]["5xx"] == 0
    assert sqlite["submit"]["tokens_exhausted"] is False
    assert sqlite["durability"]["durable"] is True
    assert sqlite["durability"]["one_response_per_invitation"] is True
    assert sqlite["page"]["requests_per_s"] > 0
    assert sqlite["page_weight"]["total_bytes"] > 0
    assert sqlite["peak_rss_kib"] > 0
    assert "stats" not in sqlite  # off in a smoke run unless asked for
    assert result["machine"]["cores"] >= 1


@pytest.mark.slow
def test_load_stage_compares_with_bare_litestar_and_runs_every_path(
    load_run: dict[str, Any],
) -> None:
    result = load_run

    sqlite = result["engines"]["sqlite"]
    assert sqlite["bare"]["requests_per_s"] > 0
    assert sqlite["livez"]["ratio_to_bare"] > 0
    assert sqlite["invitations"]["counts"]["c201"] > 0
    transaction = sqlite["transaction"]
    assert transaction["counts"]["answered"] > 0
    assert transaction["counts"]["invited"] >= transaction["counts"]["answered"]
    for name in ("page", "invitations", "submit", "transaction"):
        assert sqlite[name]["ratio_to_livez"] > 0, name
        # No answer twice (409), no invitation refused, nothing failed.
        assert sqlite[name]["status"]["4xx"] == sqlite[name]["status"]["5xx"] == 0, name
    assert sqlite["bare"]["server_cpu_us_per_request"] > 0
    assert sqlite["livez"]["server_cpu_us_per_request"] > 0
    for name in ("mixed_quiet", "mixed_busy"):
        assert sqlite[name]["citizens"]["counts"]["pages"] > 0
        assert sqlite[name]["portals"]["counts"]["c201"] > 0
        assert sqlite[name]["citizens"]["status"]["4xx"] == 0
    assert sqlite["mixed_busy"]["analyst"]["status"]["2xx"] > 0
    assert "analyst" not in sqlite["mixed_quiet"]
    assert sqlite["livez_2_workers"]["requests_per_s"] > 0
    assert sqlite["keepalive_2_workers"]["p50_ms"] > 0
    goals = {goal["goal"]: goal for goal in sqlite["goals"]}
    assert goals["/livez / bare Litestar"]["value"] == sqlite["livez"]["ratio_to_bare"]
    assert {"submit / livez", "page p99 ms", "keep-alive p50 ms, 2 workers"} <= set(goals)


@pytest.mark.slow
def test_stats_stage_times_the_endpoints_and_the_pandas_baseline(tmp_path: Path) -> None:
    result = run_benchmarks(tmp_path / "latest.json", "--stages", "stats", "--stats-sizes", "2000")

    sqlite = result["engines"]["sqlite"]
    assert "submit" not in sqlite
    [size] = sqlite["stats"]["sizes"]
    assert size["responses"] == 2000
    assert all(ms > 0 for ms in size["endpoints_ms"].values())
    assert size["baseline"]["satisfaction_ms"] > 0


@pytest.mark.slow
def test_page_benchmark_drives_the_page_and_livez_in_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.page", "--requests", "50"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = dict(
        line.strip("|").split("|")[:2]
        for line in done.stdout.splitlines()
        if line.startswith("| GET")
    )
    assert {name.strip() for name in rows} == {"GET /s/{token}", "GET /livez"}
    assert all(float(value) > 0 for value in rows.values())
