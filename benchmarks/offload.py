"""Heavy work on the event loop, in threads, or in processes: what a citizen waits.

Issue 15: four heavy statistics requests (a daily trend comparing 20 agencies over
300,000 responses) held a citizen's invitation-and-answer for seconds, and sixteen
logins (PBKDF2) held every other request. This stage serves one database with each
placement of that work and measures, while it runs, the p99 of ``/livez`` and of an
invitation followed by its answer, against the same probes on an idle server in the
same run (the reference: the machine is shared and noisy, so read the ratios).

    python -m benchmarks.offload [--engine sqlite|postgres] [--responses 300000]

The statistics cache is off (``SURVEY_STATS_CACHE_MB=0``): every heavy request computes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx

from benchmarks import databases, server, survey_cli
from benchmarks.options import DEFAULT_POSTGRES_URL
from benchmarks.progress import say

HEAVY_CLIENTS = 4
LOGINS = 16
COMPARED = 20
HEAVY_ROUNDS = 2  # each heavy client finishes this many requests while the probes run
PASSWORD = "bench-" + secrets.token_urlsafe(12)
STATS_MODES = {
    "loop": {"SURVEY_STATS_WORKERS": "0"},
    "threads": {"SURVEY_STATS_WORKERS": "2", "SURVEY_STATS_POOL": "thread"},
    "processes": {"SURVEY_STATS_WORKERS": "2", "SURVEY_STATS_POOL": "process"},
}
LOGIN_MODES = {"loop": {"SURVEY_HASH_THREADS": "0"}, "threads": {"SURVEY_HASH_THREADS": "2"}}


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """The server child process inherits ``values`` (``survey_cli.environment``)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


class Probes:
    """``/livez`` and invitation-then-answer, each in its own thread, until stopped."""

    def __init__(self, base_url: str, portal_key: str, service: str) -> None:
        self.base_url, self.key, self.service = base_url, portal_key, service
        self.stop = threading.Event()
        self.livez: list[float] = []
        self.transactions: list[float] = []

    def _livez(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=120) as client:
            while not self.stop.is_set():
                self.livez.append(timed(lambda: client.get("/livez").raise_for_status()))
                self.stop.wait(0.01)

    def _transaction(self, client: httpx.Client) -> None:
        auth = {"Authorization": f"Bearer {self.key}"}
        ref = secrets.token_hex(8)
        body = {"transaction_ref": ref, "service": self.service, "channel": "web"}
        invited = client.post("/api/v1/invitations", json=body, headers=auth)
        invited.raise_for_status()
        answer = {"token": invited.json()["token"], "answers": {"overall": 4}, "locale": "vi"}
        client.post("/api/v1/responses", json=answer, headers=auth).raise_for_status()

    def _transactions(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=120) as client:
            while not self.stop.is_set():
                self.transactions.append(timed(lambda: self._transaction(client)))
                self.stop.wait(0.02)

    @contextmanager
    def running(self) -> Iterator[None]:
        threads = [threading.Thread(target=t) for t in (self._livez, self._transactions)]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self.stop.set()
            for thread in threads:
                thread.join()

    def summary(self) -> dict[str, float]:
        return {
            "livez_p50_ms": round(p(self.livez, 0.5), 1),
            "livez_p99_ms": round(p(self.livez, 0.99), 1),
            "transaction_p50_ms": round(p(self.transactions, 0.5), 1),
            "transaction_p99_ms": round(p(self.transactions, 0.99), 1),
            "samples": len(self.livez),
        }


def heavy_load(base_url: str, path: str, key: str) -> list[float]:
    """``HEAVY_CLIENTS`` clients each asking ``path`` ``HEAVY_ROUNDS`` times."""

    def client_rounds() -> list[float]:
        with httpx.Client(base_url=base_url, timeout=600) as client:
            headers = {"Authorization": f"Bearer {key}"}
            return [
                timed(lambda: client.get(path, headers=headers).raise_for_status())
                for _ in range(HEAVY_ROUNDS)
            ]

    with ThreadPoolExecutor(HEAVY_CLIENTS) as pool:
        rounds = [pool.submit(client_rounds) for _ in range(HEAVY_CLIENTS)]
        return [ms for future in rounds for ms in future.result()]


def login_burst(base_url: str, users: list[str]) -> list[float]:
    """Each user logs in through the /login form at once (its own address and client)."""
    clients = [httpx.Client(base_url=base_url, timeout=120) for _ in users]
    forms = []
    for n, (client, user) in enumerate(zip(clients, users, strict=True)):
        headers = {"X-Forwarded-For": f"10.77.{n // 250}.{n % 250 + 1}"}
        page = client.get("/login?lang=en", headers=headers).text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        data = {"username": user, "password": PASSWORD, "_csrf_token": token, "lang": "en"}
        forms.append((client, data, headers))
    barrier = threading.Barrier(len(forms))

    def one(client: httpx.Client, data: dict, headers: dict) -> float:
        barrier.wait()
        start = time.perf_counter()
        answer = client.post("/login?lang=en", data=data, headers=headers)
        if answer.status_code != 303:
            raise RuntimeError(f"login answered {answer.status_code}")
        return (time.perf_counter() - start) * 1000

    with ThreadPoolExecutor(len(forms)) as pool:
        times = list(pool.map(lambda form: one(*form), forms))
    for client in clients:
        client.close()
    return times


def prepare(made: databases.Target, responses: int) -> dict[str, Any]:
    survey_cli.migrate(made)
    say(f"[{made.engine}] offload: loading {responses:,} demo responses")
    survey_cli.survey(made, "demo", "--responses", str(responses), "--months", "24", stream=True)
    codes = [row[0] for row in made.fetch("SELECT code FROM agency ORDER BY code")][:COMPARED]
    service, agency = made.fetch(
        "SELECT s.code, a.code FROM service s JOIN agency a ON s.agency = a.id "
        "WHERE a.code = ? ORDER BY s.code",
        ["MIC"],
    )[0]
    users = [f"bench{n}" for n in range(LOGINS)]

    def user(name: str) -> None:
        survey_cli.survey(
            made, "user", "create", name, "--role", "researcher", "--password", PASSWORD
        )

    with ThreadPoolExecutor(4) as pool:
        researcher = pool.submit(survey_cli.create_key, made, "MIC", "researcher")
        portal = pool.submit(survey_cli.create_key, made, agency, "portal")
        list(pool.map(user, users))
        return {
            "heavy": f"/api/v1/stats/trend?period=day&compare={','.join(codes)}",
            "researcher": researcher.result(),
            "portal": portal.result(),
            "service": service,
            "users": users,
        }


def run(engine: str, responses: int, postgres_url: str) -> dict[str, Any]:
    result: dict[str, Any] = {"engine": engine, "responses": responses, "stats": {}, "logins": {}}
    with databases.target(engine, postgres_url, "offload") as made:
        setup = prepare(made, responses)
        for mode, env in STATS_MODES.items():
            with environment({**env, "SURVEY_STATS_CACHE_MB": "0"}), server.running(made) as s:
                if mode == "loop":
                    idle = Probes(s.base_url, setup["portal"], setup["service"])
                    with idle.running():
                        time.sleep(3)
                    result["idle"] = idle.summary()
                    say(f"[{engine}] offload: idle {result['idle']}")
                probes = Probes(s.base_url, setup["portal"], setup["service"])
                with probes.running():
                    heavy = heavy_load(s.base_url, setup["heavy"], setup["researcher"])
                result["stats"][mode] = probes.summary() | {
                    "heavy_median_ms": round(statistics.median(heavy), 1)
                }
                say(f"[{engine}] offload: statistics on {mode}: {result['stats'][mode]}")
        for mode, env in LOGIN_MODES.items():
            with environment(env), server.running(made) as s:
                probes = Probes(s.base_url, setup["portal"], setup["service"])
                with probes.running():
                    start = time.perf_counter()
                    times = login_burst(s.base_url, setup["users"])
                    wall = (time.perf_counter() - start) * 1000
                result["logins"][mode] = probes.summary() | {
                    "login_p99_ms": round(p(times, 0.99), 1),
                    "burst_ms": round(wall, 1),
                }
                say(f"[{engine}] offload: logins hashed on {mode}: {result['logins'][mode]}")
    return result


def table(result: dict[str, Any]) -> str:
    idle = result["idle"]
    lines = [
        "| work | placed | /livez p99 ms (x idle) | invitation+answer p99 ms (x idle) | heavy |",
        "|---|---|---|---|---|",
        f"| none (idle reference) | - | {idle['livez_p99_ms']} | "
        f"{idle['transaction_p99_ms']} | - |",
    ]

    def row(work: str, mode: str, m: dict[str, Any], heavy: str) -> str:
        livez = f"{m['livez_p99_ms']} ({m['livez_p99_ms'] / max(idle['livez_p99_ms'], 0.1):.0f}x)"
        ratio = m["transaction_p99_ms"] / max(idle["transaction_p99_ms"], 0.1)
        return f"| {work} | {mode} | {livez} | {m['transaction_p99_ms']} ({ratio:.1f}x) | {heavy} |"

    for mode, m in result["stats"].items():
        work = f"{HEAVY_CLIENTS} x daily trend, {COMPARED} agencies"
        lines.append(row(work, mode, m, f"median {m['heavy_median_ms']} ms/request"))
    for mode, m in result["logins"].items():
        heavy = f"{LOGINS} logins in {m['burst_ms']} ms"
        lines.append(row(f"{LOGINS} logins (PBKDF2)", mode, m, heavy))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=databases_engines(), default="sqlite")
    parser.add_argument("--responses", type=int, default=300_000)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    result = run(args.engine, args.responses, args.postgres_url)
    print(json.dumps(result, indent=2))
    print(table(result))


def databases_engines() -> tuple[str, ...]:
    return ("sqlite", "postgres")


if __name__ == "__main__":
    main()
