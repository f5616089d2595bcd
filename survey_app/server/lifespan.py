"""What the service does when it starts and stops: redact logs, connect, check, start the writer."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar
from litestar.stores.base import Store
from piccolo.engine.postgres import PostgresEngine

from survey_app.db.engine import close_reads, configure_reads, prepare
from survey_app.db.replica import Replica
from survey_app.db.tables import TOKEN_BYTES
from survey_app.definitions.registry import register_questionnaires
from survey_app.lib.context import AppContext
from survey_app.lib.logs import install_redaction
from survey_app.lib.workers import configure_hashing
from survey_app.statistics.offload import STATE, Offload
from survey_app.submissions.writer import GroupCommitWriter
from survey_app.webhooks.delivery import DeliveryLoop

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]


def lifespan(ctx: AppContext, writer: GroupCommitWriter, limits_store: Store) -> Lifespan:
    """The app's lifespan: the pool, the read replica's pool and lag check, the questionnaire
    register, the writer, the limits store, the statistics workers, the webhook delivery
    loop (unless ``SURVEY_WEBHOOK_DELIVERY=0``).

    It first makes every log handler redact invitation tokens: ``survey serve`` configures
    its own that way, but the app may be served otherwise (``uvicorn --factory``).
    """
    engine = ctx.engine

    @asynccontextmanager
    async def serving(app: Litestar) -> AsyncIterator[None]:
        install_redaction(TOKEN_BYTES)
        configure_reads(engine, ctx.settings.register_cache_seconds)
        offload = app.state[STATE] = Offload.from_settings(ctx.settings)
        configure_hashing(ctx.settings.hash_threads)
        if isinstance(engine, PostgresEngine):
            await engine.start_connection_pool()
        replica: Replica | None = getattr(engine, "replica", None)
        try:
            await prepare(engine)
            if replica is not None:
                await replica.start(engine)
            await register_questionnaires(ctx.questionnaires.values())
            await writer.start()
            deliveries = DeliveryLoop.from_settings(engine, ctx.settings)
            if ctx.settings.webhook_delivery:
                await deliveries.start()
            # Everything loaded so far (libraries, catalogs, questionnaires) lives as
            # long as the process: keep it out of the collector's full passes, which
            # otherwise scan it all and stall requests for a fifth of a second.
            gc.freeze()
            # The workers start in the background: neither this start nor the first
            # statistics request waits for them.
            offload.workers.start()
            try:
                async with limits_store:
                    yield
            finally:
                await offload.workers.stop()
                await deliveries.stop()
                await writer.stop()
        finally:
            if replica is not None:
                await replica.stop()
            if isinstance(engine, PostgresEngine):
                await engine.close_connection_pool()
            await close_reads(engine)

    return serving
