"""Reads from a PostgreSQL streaming replica, and from the primary whenever it cannot serve.

Routes that may read a moment behind (statistics, the dashboard and its charts,
``/public``, exports, comments) mark their request with ``reads_from_replica``, a
``before_request`` hook: it runs after the guards, so who the caller is (API keys,
staff sessions) is always read from the primary. Anything else (the citizen pages,
invitations, answers, logins) reads and writes the primary, and so sees its own writes.

Inside a marked request the engine (``db.engine.CachingPostgresEngine``) sends a
``SELECT`` outside any transaction to the replica; writes (the audit log) and
transactions stay on the primary. A request is pinned to one database on its first read,
so a statistic's data version and its count tables come from the same one.

A timer (``Replica.watch``) measures the replica's lag every ``read_check_s``. Reads move
to the primary while it is unreachable, is no standby, or lags more than ``read_max_lag_s``,
and come back once it is caught up again. A read that fails on the replica mid-request is
retried on the primary, and the replica counts as down until the next check finds it well.

Why not Piccolo's ``extra_nodes`` and ``.run(node="replica")`` alone: every read of every
statistic, page and export would have to name the node (dozens of call sites, and the
data version's raw SQL, which takes no node); a node that is down simply raises; and
nothing measures its lag. The replica's engine is still registered as the primary's
``extra_nodes["replica"]`` (``db.engine.attach_replica``) for a query that must read there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from survey_app.lib import metrics

T = TypeVar("T")

REPLICA = "replica"
PRIMARY = "primary"
# What the replica's state reads as in /readyz and the metrics.
OK, LAGGING, UNREACHABLE, NOT_STANDBY, UNCHECKED = (
    "ok",
    "lagging",
    "unreachable",
    "not a standby",
    "not checked yet",
)
# A replica that does not answer within this is unreachable as far as reads go: better a
# busier primary than requests that hang. A statement (one count query, one batch of an
# export) gets longer before it is run again on the primary.
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 60.0
# The replica's own pool: it starts empty, so a replica that is down at start-up does not
# stop the service from starting.
POOL = {"min_size": 0, "max_size": 10}
# Samples of the primary's position kept while the replica has not reached them (about
# 14 hours of checks every 5 s); past that the oldest go, and the lag reads as at least
# their age.
MAX_SAMPLES = 10_000

log = logging.getLogger("survey.replica")

# What a replica that cannot serve reads raises: gone away or unreachable (its pool
# reconnects on a later read), or refusing this service (its login, its database, its
# rights). Reads move to the primary until a check finds it well again.
DOWN_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.InsufficientPrivilegeError,
)
# What a read on the replica may raise that the primary may answer: the above, and any
# other refusal (a query cancelled by a conflict with recovery, a statement that turns
# out to write). A query that is wrong in itself fails on the primary too, as it would have.
RETRIED_ON_PRIMARY: tuple[type[Exception], ...] = (*DOWN_ERRORS, asyncpg.PostgresError)

# The primary's WAL position, then the replica's: a replica that has replayed the position
# the primary had a moment before has everything committed until then.
PRIMARY_LSN = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS lsn"
REPLICA_STATE = (
    "SELECT pg_is_in_recovery() AS standby, "
    "pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint AS replayed, "
    "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age_s"
)


@dataclass
class ReadChoice:
    """The database one request reads from: None until its first read, then pinned."""

    database: str | None = None


_CHOICE: ContextVar[ReadChoice | None] = ContextVar("survey_read_choice", default=None)


async def reads_from_replica(_connection: Any) -> None:
    """``before_request`` hook of the routes whose reads may go to the replica.

    Each request runs in a task of its own (uvicorn, the test client), whose context
    dies with it, so the mark needs no undoing.
    """
    _CHOICE.set(ReadChoice())


async def on_primary(load: Callable[[], Awaitable[T]]) -> T:
    """``await load()`` reading from the primary whatever the request: for what a process
    keeps for every later request (the register cache), which must not hold the past."""
    token = _CHOICE.set(None)
    try:
        return await load()
    finally:
        _CHOICE.reset(token)


def read_source() -> str:
    """The database this request reads from so far: ``replica`` or ``primary``."""
    choice = _CHOICE.get()
    return choice.database if choice is not None and choice.database else PRIMARY


@dataclass(frozen=True)
class ReplicaStatus:
    """What the lag check last found, for /readyz and the metrics.

    Attributes
    ----------
    reads:
        ``replica`` or ``primary``: where marked requests read now.
    state:
        ``ok``, ``lagging``, ``unreachable``, ``not a standby`` or ``not checked yet``.
    lag_s:
        Seconds the replica's data is behind the primary's (0 when caught up); None when
        it could not be measured.
    fallen_back:
        Reads go to the primary although a replica is configured.
    fallbacks:
        Times reads moved from the replica to the primary since the process started.
    checked_s_ago:
        Seconds since the last check; None before the first.
    """

    reads: str
    state: str
    lag_s: float | None
    fallen_back: bool
    fallbacks: int
    checked_s_ago: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reads": self.reads,
            "replica": self.state,
            "replica_lag_s": None if self.lag_s is None else round(self.lag_s, 3),
            "fallback": self.fallen_back,
            "fallbacks": self.fallbacks,
        }


class Lag:
    """A replica's lag, from the samples of the primary's WAL position it has not passed."""

    def __init__(self, max_samples: int = MAX_SAMPLES) -> None:
        self.max_samples = max_samples
        # (when, the primary's WAL position then), oldest first: the newest the replica
        # has reached, then those it has not.
        self._samples: deque[tuple[float, int]] = deque()

    def measure(
        self, now: float, sample: tuple[float, int], replayed: int, replay_age_s: float | None
    ) -> float:
        """Seconds since the primary was where the replica is now (``replayed``), given a new
        ``sample`` of the primary's position.

        ``pg_last_xact_replay_timestamp()`` alone overstates it: on a primary that wrote
        nothing for an hour the last replayed commit is an hour old although the replica
        is caught up. So: 0 when the replica has replayed the primary's position; else the
        age of the newest sample of the primary's position the replica has reached; else
        (it has reached none kept) at least the age of the oldest sample, or of the
        replayed commit when that is known and older.
        """
        self._samples.append(sample)
        if replayed >= sample[1]:
            self._samples = deque([sample])
            return 0.0
        while len(self._samples) > 1 and (
            self._samples[1][1] <= replayed or len(self._samples) > self.max_samples
        ):
            self._samples.popleft()
        when, position = self._samples[0]
        if position <= replayed:
            return now - when
        return max(now - when, float(replay_age_s or 0.0))


class Replica:
    """The replica's engine and health, shared by every request of the process."""

    def __init__(
        self, engine: PostgresEngine, described: str, max_lag_s: float, check_s: float
    ) -> None:
        self.engine = engine
        self.described = described  # its URL without the password, for logs
        self.max_lag_s = max_lag_s
        self.check_s = check_s
        self.healthy = False  # on the primary until the first check finds the replica well
        self.state = UNCHECKED
        self.lag_s: float | None = None
        self.fallbacks = 0
        self.checked_at: float | None = None
        self._lag = Lag()
        self._task: asyncio.Task | None = None

    # Per request ----------------------------------------------------------------------

    def serves(self) -> bool:
        """Whether this marked request reads from the replica (pinned on its first read)."""
        choice = _CHOICE.get()
        if choice is None:
            return False
        if choice.database is None:
            choice.database = REPLICA if self.healthy else PRIMARY
            if not self.healthy:
                metrics.read_fell_back()
        return choice.database == REPLICA

    def failed(self, error: BaseException) -> None:
        """A read failed on the replica: this request moves to the primary, and if the
        connection failed, every later one until a check finds the replica well."""
        choice = _CHOICE.get()
        if choice is not None:
            choice.database = PRIMARY
            metrics.read_fell_back()
        if isinstance(error, DOWN_ERRORS):
            self._become(False, UNREACHABLE, f"a read failed ({type(error).__name__})")

    # The lag check --------------------------------------------------------------------

    async def check(self, primary: Engine) -> None:
        """Measure the lag once and move reads accordingly."""
        # Before the primary's position is read: the replica that reached that position has
        # everything committed until at least this moment.
        sampled = time.monotonic()
        try:
            rows = await asyncio.wait_for(primary.run_ddl(PRIMARY_LSN), CONNECT_TIMEOUT_S)
            primary_lsn = int(dict(rows[0])["lsn"])
        except RETRIED_ON_PRIMARY as error:
            # Without the primary's position the lag is unknown; the primary being down is
            # /readyz's business, and the replica keeps the state it had.
            log.debug("replica check skipped: primary unavailable (%s)", type(error).__name__)
            return
        now = time.monotonic()
        try:
            state = await asyncio.wait_for(self._replica_state(), CONNECT_TIMEOUT_S)
        except RETRIED_ON_PRIMARY as error:
            self.checked_at, self.lag_s = now, None
            self._become(False, UNREACHABLE, type(error).__name__)
            return
        self.checked_at = now
        if not state["standby"]:
            self.lag_s = None
            self._become(False, NOT_STANDBY, "pg_is_in_recovery() is false")
            return
        replayed = int(state["replayed"] or 0)
        self.lag_s = self._lag.measure(now, (sampled, primary_lsn), replayed, state["replay_age_s"])
        if self.lag_s > self.max_lag_s:
            self._become(False, LAGGING, f"{self.lag_s:.1f} s behind (> {self.max_lag_s:g} s)")
        else:
            self._become(True, OK, f"{self.lag_s:.1f} s behind")

    async def _replica_state(self) -> dict[str, Any]:
        """The replica's answer to ``REPLICA_STATE`` on a new connection: what the pool
        meets when it connects (a login refused, a database gone) shows here too, and a
        pool busy with statistics does not make the replica look unreachable."""
        connection = await asyncpg.connect(**self.engine.config)
        try:
            return dict(await connection.fetchrow(REPLICA_STATE))
        finally:
            await connection.close(timeout=CONNECT_TIMEOUT_S)

    def _become(self, healthy: bool, state: str, detail: str) -> None:
        """Record the state; log and count a change of the database reads go to."""
        metrics.replica_lag(REPLICA, float("nan") if self.lag_s is None else self.lag_s)
        changed = healthy != self.healthy or (not healthy and state != self.state)
        if healthy and not self.healthy:
            again = "" if self.state == UNCHECKED else " again"
            log.warning("reads go to the replica %s%s: %s", self.described, again, detail)
        elif not healthy and changed:
            if self.healthy:
                self.fallbacks += 1
            log.warning("reads go to the primary: replica %s %s: %s", self.described, state, detail)
        self.healthy, self.state = healthy, state

    # Lifetime -------------------------------------------------------------------------

    async def start(self, primary: Engine) -> None:
        """Open the pool (empty), check once so reads start where they should, then watch."""
        await self.engine.start_connection_pool(**POOL)
        await self.check(primary)
        self._task = asyncio.create_task(self.watch(primary), name="replica-lag-check")

    async def watch(self, primary: Engine) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await self.check(primary)
            except Exception:
                # A check that breaks must not stop the watch with reads left on a replica
                # nobody measures any more: they go to the primary until a check succeeds.
                log.exception("replica check failed")
                self._become(False, UNREACHABLE, "the check failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.engine.pool is not None:
            await self.engine.close_connection_pool()

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(
            reads=REPLICA if self.healthy else PRIMARY,
            state=self.state,
            lag_s=self.lag_s,
            fallen_back=not self.healthy,
            fallbacks=self.fallbacks,
            checked_s_ago=None if self.checked_at is None else time.monotonic() - self.checked_at,
        )


def replica_status(engine: Engine) -> ReplicaStatus | None:
    """The replica's status for the metrics and /readyz; None without a replica."""
    replica: Replica | None = getattr(engine, "replica", None)
    return None if replica is None else replica.status()
