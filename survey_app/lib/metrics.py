"""The service's own Prometheus metrics: defined here, below every domain, so any may feed one.

Each is fed where its event happens, at the cost of a counter increment (a lock nobody
else holds, an addition): the writer per batch, and once per job for its queue, the rate
limits per refusal, the statistics cache per look-up. Nothing is computed at scrape time,
because with several workers a scrape lands on one of them and could only read its own
memory.

Several workers (``survey serve --workers N``) share one directory named by
``PROMETHEUS_MULTIPROC_DIR``: prometheus_client then keeps every value in a file per
process there, and ``/metrics`` sums the files, so one scrape covers every worker. A
gauge's ``multiprocess_mode`` says how the workers' values combine; ``live…`` modes drop
a worker once the supervisor marks it dead (``cli.server.supervisor``).

What other parts of the service feed (the helpers below are the interface; each is one
call where the event happens):

* replica lag: ``replica_lag(name, seconds)`` whenever a worker measures it;
* a read meant for a replica served by the primary: ``read_fell_back()``;
* the webhook outbox: ``webhook_backlog(events)`` after counting undelivered events,
  ``webhook_delivery_failed()`` per failed delivery attempt.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# The writer takes at most ``db.writer.MAX_BATCH`` (256) jobs at a time.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

WRITER_BATCH_SIZE = Histogram(
    "survey_writer_batch_size",
    "Jobs (answers, invitations) the group-commit writer stored in one transaction.",
    buckets=BATCH_BUCKETS,
)
WRITER_COMMIT_SECONDS = Histogram(
    "survey_writer_commit_seconds",
    "Time the group-commit writer took to decide and commit one batch, in seconds.",
    buckets=COMMIT_BUCKETS,
)
WRITER_QUEUE_DEPTH = Gauge(
    "survey_writer_queue_depth",
    "Jobs waiting for the group-commit writer to take them into a batch (all workers).",
    multiprocess_mode="livesum",
)
RATE_LIMIT_REFUSALS = Counter(
    "survey_rate_limit_refusals",
    "Requests refused with 429 by a limit: citizen (per address, /s/), api (per key or "
    "address, /api/), login (failed logins per account and address), statistics (heavy "
    "requests running and waiting per caller).",
    ["limit"],
)
STATS_CACHE_HITS = Counter(
    "survey_stats_cache_hits",
    "Statistics answers served from a worker's cache.",
)
STATS_CACHE_MISSES = Counter(
    "survey_stats_cache_misses",
    "Statistics answers looked up in a worker's cache and computed afresh.",
)
REPLICA_LAG = Gauge(
    "survey_replica_lag_seconds",
    "How far a read replica was behind the primary when last measured, in seconds.",
    ["replica"],
    multiprocess_mode="livemostrecent",
)
PRIMARY_FALLBACKS = Counter(
    "survey_read_primary_fallbacks",
    "Requests whose reads were meant for a replica and went to the primary instead "
    "(replica lagging, down, or failing mid-request).",
)
WEBHOOK_BACKLOG = Gauge(
    "survey_webhook_backlog_events",
    "Webhook events in the outbox not yet delivered, when last counted.",
    multiprocess_mode="livemostrecent",
)
WEBHOOK_FAILURES = Counter(
    "survey_webhook_delivery_failures",
    "Webhook delivery attempts that failed (error status, timeout, no connection).",
)


def replica_lag(replica: str, seconds: float) -> None:
    """Record the lag of ``replica`` (its node name, a small fixed set) just measured."""
    REPLICA_LAG.labels(replica).set(seconds)


def read_fell_back() -> None:
    """One request whose reads were meant for a replica reads the primary."""
    PRIMARY_FALLBACKS.inc()


def webhook_backlog(events: int) -> None:
    """The number of undelivered webhook events, just counted."""
    WEBHOOK_BACKLOG.set(events)


def webhook_delivery_failed() -> None:
    """One webhook delivery attempt failed."""
    WEBHOOK_FAILURES.inc()
