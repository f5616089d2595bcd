"""After the submission run: is every acknowledged submission stored, exactly once?

wrk stops with requests in flight; the server may commit those after the
client stopped counting, so the database can hold up to one response per
connection more than the client saw acknowledged. The exact check is by
token: every token the server acknowledged (written by the Lua script) must
have its response, and no invitation may have two.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.databases import Target

COUNTS = 'SELECT count(*), count(DISTINCT "invitation") FROM "response"'
STORED_TOKENS = (
    'SELECT "invitation"."token" FROM "response" '
    'JOIN "invitation" ON "invitation"."id" = "response"."invitation"'
)
ANSWERED = 'SELECT count(*) FROM "invitation" WHERE "answered_at" IS NOT NULL'
SETTLE_S = 0.5


def acknowledged_tokens(acked_dir: Path) -> list[str]:
    tokens: list[str] = []
    for path in sorted(acked_dir.glob("acked-*.txt")):
        tokens += path.read_text().split()
    return tokens


def settled_counts(made: Target) -> tuple[int, int]:
    """Counts once the requests still in flight when wrk stopped have finished."""
    previous = made.fetch(COUNTS)[0]
    for _ in range(40):
        time.sleep(SETTLE_S)
        current = made.fetch(COUNTS)[0]
        if current == previous:
            break
        previous = current
    return int(previous[0]), int(previous[1])


def check(made: Target, acked_dir: Path, client_2xx: int, connections: int) -> dict[str, Any]:
    rows, distinct = settled_counts(made)
    acked = acknowledged_tokens(acked_dir)
    stored = {row[0] for row in made.fetch(STORED_TOKENS)}
    missing = sum(1 for token in acked if token not in stored)
    unacknowledged = rows - client_2xx
    unique = rows == distinct
    return {
        "responses_in_database": rows,
        "distinct_invitations": distinct,
        "answered_invitations": int(made.scalar(ANSWERED)),
        "client_2xx": client_2xx,
        "tokens_acknowledged": len(acked),
        "acknowledged_but_missing": missing,
        "rows_equal_client_2xx": rows == client_2xx,
        # Committed while wrk was stopping: at most one per connection.
        "stored_after_client_stopped": unacknowledged,
        "one_response_per_invitation": unique,
        "durable": (
            unique
            and missing == 0
            and len(acked) == client_2xx
            and 0 <= unacknowledged <= connections
        ),
    }
