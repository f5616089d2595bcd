"""Heavy work off the event loop (issue 15): statistics computed in worker processes, the
same answer as computed inline; a per-caller cap on concurrent heavy requests; password
hashing in threads, for ``/login`` and ``/admin`` alike.

Everything over real HTTP against the live server of each engine. The server runs in a
thread of this process, so "another process" means a pid other than ``os.getpid()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.tables import Role
from survey_app.db.users import StaffUser
from survey_app.lib.workers import RUNNING_PER_CALLER, WAITING_PER_CALLER, Workers
from survey_app.statistics.offload import STATE, StatsCache
from tests.survey_app.conftest import seed_statistics
from tests.survey_app.processes import server_process
from tests.survey_app.test_login_hardening import (
    PASSWORD,
    _user,
    address,
    admin_login,
    login,
    name,
    refusals,
)

TREND = "/api/v1/stats/trend"
HEAVY = {"period": "day", "compare": "MIC,MOF,TINY"}


def with_pid(fn: Callable[..., Any], *args: Any) -> tuple[int, Any]:
    """Run in a worker: the answer and the pid of the process that computed it."""
    return os.getpid(), fn(*args)


class Recording:
    """The app's workers, noting which process computed each answer."""

    def __init__(self, real: Workers) -> None:
        self.real = real
        self.pids: list[int] = []

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        pid, result = await self.real.run(with_pid, fn, *args)
        self.pids.append(pid)
        return result


class Held:
    """Workers that compute inline, but only once the test opens the gate."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()  # made on the server's loop (``held``)
        self.started = 0

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.started += 1
        await self.gate.wait()
        return fn(*args)


@contextlib.contextmanager
def swapped(live, **parts: Any) -> Iterator[Any]:
    """The live app's offload with ``parts`` replaced for the block."""
    offload = live.app.state[STATE]
    saved = {key: getattr(offload, key) for key in parts}
    for key, value in parts.items():
        setattr(offload, key, value)
    try:
        yield offload
    finally:
        for key, value in saved.items():
            setattr(offload, key, value)


@pytest.fixture
def seeded(live):
    return live.run(seed_statistics())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def without_time(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "generated_at"}


def test_statistics_are_computed_in_a_worker_process_and_match_inline(http, live, seeded):
    headers = bearer(seeded["keys"]["researcher"])
    offload = live.app.state[STATE]
    assert offload.workers.size == 2, "the default settings run statistics in two processes"
    recording = Recording(offload.workers)
    answers = {}
    for label, workers in (("pool", recording), ("inline", Workers(0))):
        with swapped(live, workers=workers, cache=StatsCache(0)):
            for path, params in (
                (TREND, HEAVY),
                ("/api/v1/stats/satisfaction", {}),
                ("/api/v1/stats/reasons", {"format": "csv"}),
            ):
                got = http.get(path, params=params, headers=headers)
                assert got.status_code == 200, got.text
                assert got.headers["x-cache"] == "off"
                answers[label, path] = (
                    without_time(got.json()) if path != "/api/v1/stats/reasons" else got.content
                )
    assert len(recording.pids) == 3
    assert os.getpid() not in recording.pids, "computed on the server's own process"
    for path in (TREND, "/api/v1/stats/satisfaction", "/api/v1/stats/reasons"):
        assert answers["pool", path] == answers["inline", path]
    series = answers["pool", TREND]["series"]
    assert series["MIC"]["periods"], "the compared trend has days"


def test_charts_are_drawn_in_a_worker_process(http, live, seeded):
    recording = Recording(live.app.state[STATE].workers)
    with swapped(live, workers=recording):
        chart = http.get("/charts/agencies.svg", headers=bearer(seeded["keys"]["researcher"]))
    assert chart.status_code == 200, chart.text
    assert chart.content.lstrip().startswith((b"<?xml", b"<svg"))
    assert recording.pids
    assert os.getpid() not in recording.pids


def held(live) -> Held:
    async def make() -> Held:
        return Held()

    return live.run(make())


def until(condition: Callable[[], bool], explain: Callable[[], str] = str) -> None:
    """Wait for the server to reach a state (a bound on the wait, not a timing assertion)."""
    for _ in range(3000):
        if condition():
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"the server never reached the expected state {explain()}")


def inflight(live, caller) -> int:
    return live.app.state[STATE].cap._inflight[caller]


def test_one_caller_gets_429_past_its_cap_and_another_is_still_served(live, seeded):
    mic = live.run(directory.agency_id("MIC"))
    other = live.run(apikeys.create(Role.researcher, mic, "second researcher"))
    mine = seeded["keys"]["researcher"]
    own_id = live.run(apikeys.authenticate(mine)).key_id
    other_id = live.run(apikeys.authenticate(other)).key_id
    gate = held(live)
    allowed = RUNNING_PER_CALLER + WAITING_PER_CALLER

    def ask(key: str, n: int) -> httpx.Response:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            return client.get(TREND, params={**HEAVY, "n": str(n)}, headers=bearer(key))

    with swapped(live, workers=gate, cache=StatsCache(0)), ThreadPoolExecutor(8) as pool:
        try:
            waiting = [pool.submit(ask, mine, n) for n in range(allowed)]
            until(lambda: inflight(live, ("key", own_id)) == allowed)
            refused_before = refusals("statistics")
            refused = ask(mine, allowed)
            assert refused.status_code == 429
            assert refusals("statistics") - refused_before == 1
            assert refused.headers["retry-after"] == "2"
            body = refused.json()
            assert body["status_code"] == 429
            assert "Too many statistics requests" in body["detail"]
            # Another caller is admitted meanwhile: it computes beside my two, not refused.
            theirs = pool.submit(ask, other, 0)
            until(lambda: gate.started == RUNNING_PER_CALLER + 1 or theirs.done())
            assert not theirs.done(), theirs.result().text
            assert inflight(live, ("key", other_id)) == 1
        finally:
            live.loop.call_soon_threadsafe(gate.gate.set)
        answers = [f.result() for f in [*waiting, theirs]]
    assert [a.status_code for a in answers] == [200] * (allowed + 1)
    assert inflight(live, ("key", own_id)) == 0


def hashing_threads_used(monkeypatch) -> list[str]:
    """Names of the threads each password hash ran in."""
    names: list[str] = []
    original = StaffUser.hash_password.__func__

    def recording(cls, *args: Any, **kwargs: Any) -> str:
        names.append(threading.current_thread().name)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(StaffUser, "hash_password", classmethod(recording))
    return names


def test_logins_hash_their_passwords_in_the_hashing_threads(http, live, monkeypatch):
    staff_name, admin_name = name("offload_staff"), name("offload_admin")
    live.run(_user(staff_name, admin=False, role=Role.researcher))
    live.run(_user(admin_name, admin=True, role=None))
    names = hashing_threads_used(monkeypatch)

    ours = login(http, staff_name, PASSWORD, address())
    assert ours.status_code == 303, ours.text
    assert http.get("/dashboard").status_code == 200
    wrong = login(http, staff_name, "not-the-password", address())
    assert wrong.status_code != 303

    with httpx.Client(base_url=live.url, timeout=30) as admin:
        answer = admin_login(admin, admin_name, PASSWORD, address())
        assert answer.status_code == 200, answer.text
        assert admin.get("/admin/api/tables/").status_code == 200
        assert admin_login(admin, admin_name, "wrong", address()).status_code in (401, 403)

    assert len(names) == 4
    assert all(n.startswith("hash") for n in names), names


def test_a_large_answer_is_gzipped_once_in_the_worker(http, live, seeded):
    headers = bearer(seeded["keys"]["researcher"])
    with swapped(live, cache=StatsCache(0)):
        plain = http.get(TREND, params=HEAVY, headers={**headers, "Accept-Encoding": "identity"})
        packed = http.get(TREND, params=HEAVY, headers={**headers, "Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert int(packed.headers["content-length"]) < len(plain.content)
    # httpx undoes one gzip: compressed twice, this would not be JSON.
    assert without_time(packed.json()) == without_time(plain.json())


def test_a_dead_worker_is_replaced_and_the_request_still_answered(http, live, seeded):
    workers = live.app.state[STATE].workers
    headers = bearer(seeded["keys"]["researcher"])
    with swapped(live, cache=StatsCache(0)):
        assert http.get(TREND, headers=headers).status_code == 200
        victims = list(workers._pool._processes)
        assert victims
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        until(lambda: all(dead(pid) for pid in victims))
        after = http.get(TREND, headers=headers)
        assert after.status_code == 200, after.text
        assert not set(workers._pool._processes) & set(victims)


def dead(pid: int) -> bool:
    """Gone, or a zombie its parent (the forkserver) has not reaped yet."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.startswith("State:") and "Z" in line for line in status)
    except OSError:
        return True


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc: children, their children...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    # The command name may hold spaces; the parent comes after its ")".
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def all_workers_started(server: int, log: Path) -> None:
    """The resource tracker, the forkserver and its two workers, started in the background."""

    def explain() -> str:
        found = {pid: command(pid) for pid in descendants(server)}
        return f"(processes under the server: {found}; its log ends:\n{log.read_text()[-3000:]})"

    until(lambda: len(descendants(server)) >= 4, explain)


def command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")[:160]
    except OSError:
        return "?"


def test_survey_serve_starts_its_workers_and_leaves_none_behind(database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "SURVEY_VAR_DIR": str(tmp_path), "SURVEY_SECRET": "t"}
    with server_process(env, tmp_path / "serve.log") as served:
        # The resource tracker, the forkserver and its two workers, started in the background.
        all_workers_started(served.process.pid, tmp_path / "serve.log")
        below = descendants(served.process.pid)
    assert served.process.returncode is not None
    until(lambda: all(dead(pid) for pid in below))


def test_a_killed_server_leaves_no_worker_behind(database_url, tmp_path):
    """SIGKILL runs no shutdown: the workers must notice their server is gone by themselves."""
    env = {"DATABASE_URL": database_url, "SURVEY_VAR_DIR": str(tmp_path), "SURVEY_SECRET": "t"}
    with server_process(env, tmp_path / "serve.log") as served:
        all_workers_started(served.process.pid, tmp_path / "serve.log")
        below = descendants(served.process.pid)
        served.kill()
    until(lambda: all(dead(pid) for pid in below))
