"""The replica benchmark, tiny (2,000 responses, 1 s runs): a private primary and hot
standby, the statistics reads on each, the writer's batches beside them.

It needs pgbench and the PostgreSQL server programs (Debian's packages). Without them
the test is skipped with one line, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import cluster, primary, replica
from tests.conftest import IN_CI, REPO


def require(problem: str | None) -> None:
    if problem:
        if IN_CI:
            pytest.fail(problem + "; under CI=true the benchmark smoke tests must run")
        pytest.skip(problem + "; replica benchmark smoke test skipped")


@pytest.mark.slow
@pytest.mark.postgres
def test_replica_benchmark_reads_on_primary_and_standby_beside_writes(tmp_path: Path) -> None:
    try:
        primary.pgbench()
        cluster.bindir()
    except (primary.PgbenchMissing, cluster.ServerMissing) as missing:
        require(str(missing))
    output = tmp_path / "replica.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.replica", "--responses", "2000", "--duration", "1",
         "--clients", "2", "--pool", "20000", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    found = json.loads(output.read_text())
    assert found["machine"]["postgresql"]
    assert found["options"]["responses"] == 2000
    result = found["replica"]
    assert result["pool_exhausted"] is False
    # A read transaction is an endpoint's real statements, values bound.
    examples = result["read_statements_example"]
    assert set(examples) == set(replica.ENDPOINTS)
    assert any("monthly" in sql or "cell" in sql for sql in examples["trend"])
    assert all("$1" not in sql for sqls in examples.values() for sql in sqls)
    runs = {run["run"]: run for run in result["runs"]}
    assert set(runs) == {
        "writes alone",
        "reads on primary",
        "reads on standby",
        "reads on standby + writes",
        "reads on primary + writes",
    }
    for run in runs.values():
        assert run["read_clients"] == 2
        for part in ("reads", "writes"):
            if part in run:
                assert run[part]["transactions"] > 0
                assert run[part]["failed"] == 0
        if "writes" in run:
            assert run["lag"]["catch_up_s"] >= 0
            assert run["lag"]["end_bytes"] >= 0
    assert "reads" not in runs["writes alone"]
    assert "writes" not in runs["reads on standby"]
    assert result["ratios"]["2"]["standby_reads_vs_primary_reads"] > 0
    assert "| 2 | reads on standby + writes |" in done.stdout  # the printed table
