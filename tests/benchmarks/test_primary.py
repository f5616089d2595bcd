"""The primary stage, tiny (``--smoke``, 1 s runs): pgbench runs the writer's statements.

It needs pgbench (Debian's PostgreSQL packages) and a PostgreSQL server. Without them
the test is skipped with one line, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import primary
from tests.conftest import IN_CI, POSTGRES_ADMIN_URL, REPO, postgres_problem


def require(problem: str | None) -> None:
    if problem:
        if IN_CI:
            pytest.fail(problem + "; under CI=true the benchmark smoke tests must run")
        pytest.skip(problem + "; primary stage smoke test skipped")


@pytest.mark.slow
@pytest.mark.postgres
def test_primary_stage_measures_invitation_and_answer_batches(tmp_path: Path) -> None:
    try:
        primary.pgbench()
    except primary.PgbenchMissing as missing:
        require(str(missing))
    problem = postgres_problem()
    require(problem and f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({problem})")
    output = tmp_path / "primary.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--engines", "postgres", "--stages",
         "primary", "--duration", "1", "--primary-rows", "1,4", "--primary-clients", "2",
         "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "SURVEY_BENCH_POSTGRES_URL": POSTGRES_ADMIN_URL},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    found = json.loads(output.read_text())["engines"]["postgres"]["primary"]
    assert found["pgbench"].startswith("pgbench")
    assert found["pool_exhausted"] is False
    runs = {(r["kind"], r["rows_per_transaction"], r["clients"]): r for r in found["runs"]}
    assert set(runs) == {(kind, rows, 2) for kind in primary.KINDS for rows in (1, 4)}
    for run in runs.values():
        assert run["transactions"] > 0
        assert run["failed"] == 0
        assert run["rows_per_s"] == pytest.approx(
            run["transactions_per_s"] * run["rows_per_transaction"],
            abs=0.1 * run["rows_per_transaction"],
        )
    assert "| answers | 4 | 2 |" in done.stdout  # the printed table
