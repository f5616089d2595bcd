"""The group-commit writer: concurrent submissions share transactions, each stored once."""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
import pytest

from survey_app.db.tables import Response, ResponseCell
from tests.survey_app.conftest import invite

CONCURRENT = 120


def answers(rng: random.Random) -> dict:
    overall = rng.randint(1, 5)
    body: dict = {"overall": overall}
    if overall <= 3:
        body["reasons"] = rng.sample(["portal_error", "payment_error", "device_error"], 2)
    return body


def post_all(live, portal, bodies: list[dict]) -> list[int]:
    def call(body: dict) -> int:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            return client.post("/api/v1/responses", json=body, headers=portal.auth).status_code

    with ThreadPoolExecutor(max_workers=48) as pool:
        return list(pool.map(call, bodies))


def test_concurrent_submissions_share_commits_and_each_is_stored_once(http, portal, live):
    rng = random.Random(3)
    tokens = [invite(http, portal, f"G-{i}")["token"] for i in range(CONCURRENT)]
    writer = live.app.state["writer"]
    before = (writer.stats.batches, writer.stats.submissions)
    codes = post_all(live, portal, [{"token": t, "answers": answers(rng)} for t in tokens])
    assert codes == [201] * CONCURRENT
    assert live.run(Response.count()) == CONCURRENT
    cells = live.run(ResponseCell.select(ResponseCell.responses))
    assert sum(row["responses"] for row in cells) == CONCURRENT
    batches = writer.stats.batches - before[0]
    assert writer.stats.submissions - before[1] == CONCURRENT
    # Under concurrency a transaction carries several submissions.
    assert batches < CONCURRENT, f"{batches} transactions for {CONCURRENT} submissions"


def test_one_batch_with_good_bad_and_repeated_tokens_answers_each(http, portal, live):
    good = [invite(http, portal, f"B-{i}")["token"] for i in range(20)]
    bodies = [{"token": t, "answers": {"overall": 5}} for t in good]
    bodies += [{"token": good[0], "answers": {"overall": 1}}]  # the same token again
    bodies += [{"token": "no-such-token", "answers": {"overall": 5}}]
    bodies += [{"token": good[1] + "x", "answers": {"overall": 5}}]
    codes = post_all(live, portal, bodies)
    assert codes[:20].count(201) + codes[20:21].count(201) == 20
    assert sorted(codes[:21]) == [201] * 20 + [409]
    assert codes[21:] == [404, 404]
    assert live.run(Response.count()) == 20


def test_invalid_answers_in_a_batch_do_not_stop_the_others(http, portal, live):
    tokens = [invite(http, portal, f"V-{i}")["token"] for i in range(30)]
    bodies = [
        {"token": t, "answers": {"overall": 9 if i % 3 == 0 else 4}} for i, t in enumerate(tokens)
    ]
    codes = post_all(live, portal, bodies)
    assert codes == [400 if i % 3 == 0 else 201 for i in range(30)]
    assert live.run(Response.count()) == 20


@pytest.mark.postgres_only
def test_postgres_writer_recovers_when_its_connection_is_killed(http, portal, live):
    tokens = [invite(http, portal, f"K-{i}")["token"] for i in range(4)]
    assert post_all(live, portal, [{"token": tokens[0], "answers": {"overall": 4}}]) == [201]

    async def kill_writer_connection() -> int:
        connection = await asyncpg.connect(live.settings.database_url)
        try:
            return await connection.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = 'survey-writer'"
            )
        finally:
            await connection.close()

    assert live.run(kill_writer_connection()) == 1
    codes = [
        post_all(live, portal, [{"token": token, "answers": {"overall": 4}}])[0]
        for token in tokens[1:]
    ]
    # The batch on the dead connection fails with 503 (retry later), the next ones store.
    assert codes[-1] == 201
    assert set(codes) <= {201, 503}
    assert live.run(Response.count()) == 1 + codes.count(201)


def test_writers_of_several_workers_store_everything_once(http, portal, live):
    """Two writers on one database, as two worker processes have, on shared cells."""
    from survey_app.auth.apikeys import hash_key
    from survey_app.submissions.plan import Submission, Verdict
    from survey_app.submissions.writer import writer_for

    rng = random.Random(5)
    tokens = [invite(http, portal, f"W-{i}")["token"] for i in range(160)]
    ctx = live.app.state["ctx"]
    key = hash_key(portal.key)

    async def both() -> list[Verdict]:
        writers = [writer_for(ctx.engine, ctx.questionnaire) for _ in range(2)]
        for writer in writers:
            await writer.start()
        try:
            # Every token twice, once through each writer, all at the same moment.
            sent = [
                writers[i % 2].submit(Submission(token, answers(rng), "vi", key))
                for token in tokens
                for i in (0, 1)
            ]
            return [outcome.verdict for outcome in await asyncio.gather(*sent)]
        finally:
            for writer in writers:
                await writer.stop()

    verdicts = live.run(both())
    assert verdicts.count(Verdict.stored) == len(tokens)
    assert verdicts.count(Verdict.answered) == len(tokens)
    assert live.run(Response.count()) == len(tokens)
    cells = live.run(ResponseCell.select(ResponseCell.responses))
    assert sum(row["responses"] for row in cells) == len(tokens)
