"""What one run measures; built by the command line, read by every stage."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO = PACKAGE_DIR.parent
RESULTS = PACKAGE_DIR / "results" / "latest.json"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
ENGINES = ("sqlite", "postgres")
STAGES = ("load", "stats", "primary")


@dataclass(frozen=True)
class Options:
    engines: tuple[str, ...] = ENGINES
    stages: tuple[str, ...] = STAGES
    duration_s: int = 10
    connections: int = 64
    threads: int = 2
    # Enough for the duration at several thousand submissions a second; a thread that
    # runs out stops and the run is flagged, so the numbers are never of other requests.
    tokens: int = 200_000
    stats_sizes: tuple[int, ...] = (100_000, 1_000_000)
    stats_repeats: int = 5
    baseline_repeats: int = 3
    # Interleaved (bare, ours) /livez pairs; the median of each is compared.
    reference_rounds: int = 3
    # The primary stage (PostgreSQL only): pgbench transactions of this many rows, with
    # this many clients, answering invitations from a pool of at least this many.
    primary_rows: tuple[int, ...] = (1, 16, 64)
    primary_clients: tuple[int, ...] = (1, 4, 16)
    primary_pool: int = 400_000
    postgres_url: str = field(
        default_factory=lambda: os.environ.get("SURVEY_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    # Where the limits run counts requests; empty or unreachable skips that run.
    redis_url: str = field(
        default_factory=lambda: os.environ.get("SURVEY_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    )
    output: Path = RESULTS
    smoke: bool = False

    @classmethod
    def smoke_run(cls, **overrides: object) -> Options:
        """Tiny numbers: proves the stages work, measures nothing worth quoting.

        The statistics stage is off unless asked for (``stages`` or ``stats_sizes``);
        then it runs on 2,000 responses. The primary stage, when asked for, runs 1 and 16
        rows with 1 and 2 clients.
        """
        values: dict[str, object] = {
            "stages": ("load", "stats") if "stats_sizes" in overrides else ("load",),
            "duration_s": 2,
            "connections": 8,
            # Enough for 2 s at several thousand submissions a second (a run that
            # runs out of tokens measures a lower bound).
            "tokens": 10_000,
            "stats_sizes": (2_000,),
            "stats_repeats": 1,
            "baseline_repeats": 1,
            "reference_rounds": 1,
            "primary_rows": (1, 16),
            "primary_clients": (1, 2),
            "primary_pool": 20_000,
            "smoke": True,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
