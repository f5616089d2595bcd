"""``/metrics``: who may scrape it, what moves in it, that no token reaches a label, and
that one scrape of ``survey serve --workers 2`` covers both workers."""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from survey_app.auth import apikeys
from survey_app.db.tables import Role
from survey_app.lib.settings import Settings
from tests.conftest import survey_command
from tests.survey_app.conftest import invite
from tests.survey_app.processes import server_process

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
PROMETHEUS_TEXT = "text/plain; version="  # the text exposition format
TOKEN_ROUTE = {"method": "GET", "path": "/s/{token}", "status_code": "200"}


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: httpx.Client, url: str, headers: Mapping[str, str] | None = None) -> Samples:
    answer = client.get(f"{url}/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(PROMETHEUS_TEXT)
    return parse(answer.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def label_values(samples: Samples) -> set[str]:
    return {v for _, labels in samples for _, v in labels}


@pytest.fixture
def admin(live) -> dict[str, str]:
    key = live.run(apikeys.create(Role.admin, None, "metrics test"))
    return {"Authorization": f"Bearer {key}"}


def test_only_an_admin_key_reads_the_metrics(live, http, portal, admin):
    anonymous = http.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert http.get("/metrics", headers=portal.auth).status_code == 403
    analyst = live.run(apikeys.create(Role.analyst, None, "metrics test"))
    assert http.get("/metrics", headers={"Authorization": f"Bearer {analyst}"}).status_code == 403
    unknown = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
    assert http.get("/metrics", headers=unknown).status_code == 401
    answer = http.get("/metrics", headers=admin)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(PROMETHEUS_TEXT)
    assert "set-cookie" not in answer.headers  # no CSRF cookie for a scraper
    assert "survey_writer_batch_size" in answer.text


def test_requests_are_counted_per_route_template_never_per_token(live, http, portal, admin):
    tokens = [invite(http, portal, ref=f"M-{i}")["token"] for i in range(3)]
    before = scrape(http, live.url, admin)
    for token in tokens:
        assert http.get(f"/s/{token}?lang=en").status_code == 200
    assert http.get("/livez").status_code == 200
    assert http.get("/admin/").status_code == 200  # a mounted app: its mount path
    assert http.get("/static/survey.css").status_code == 200
    answer = http.get("/metrics", headers=admin)
    after = parse(answer.text)
    for name in ("survey_requests_total", "survey_request_duration_seconds_count"):
        moved = value(after, name, **TOKEN_ROUTE) - value(before, name, **TOKEN_ROUTE)
        assert moved == len(tokens), name
    assert not [token for token in tokens if token in answer.text]
    paths = {dict(labels).get("path") for _, labels in after} - {None}
    assert "/s/{token}" in paths
    assert "/metrics" not in paths
    assert "/livez" not in paths
    assert paths <= {route.path_format for route in live.app.routes}, "not a route template"
    assert {"/admin", "/static/{file_path}"} <= paths


def test_the_writer_reports_its_batches(live, http, portal, admin):
    before = scrape(http, live.url, admin)
    tokens = [invite(http, portal, ref=f"W-{i}")["token"] for i in range(4)]
    for token in tokens[:2]:
        stored = http.post(
            "/api/v1/responses",
            json={"token": token, "answers": {"overall": 4}},
            headers=portal.auth,
        )
        assert stored.status_code == 201, stored.text
    after = scrape(http, live.url, admin)

    def moved(name: str) -> float:
        return value(after, name) - value(before, name)

    assert moved("survey_writer_batch_size_sum") == 6  # four invitations, two answers
    assert 1 <= moved("survey_writer_batch_size_count") <= 6
    assert moved("survey_writer_commit_seconds_count") == moved("survey_writer_batch_size_count")
    assert moved("survey_writer_commit_seconds_sum") > 0
    assert value(after, "survey_writer_queue_depth") == 0  # every job was answered


def test_the_statistics_cache_counts_hits_and_misses(live, http, portal, admin):
    url = "/api/v1/stats/satisfaction?format=json"
    invite(http, portal, ref="C-1")  # a data version no earlier test has cached answers for
    before = scrape(http, live.url, admin)
    assert http.get(url, headers=admin).headers["x-cache"] == "miss"
    assert http.get(url, headers=admin).headers["x-cache"] == "hit"
    after = scrape(http, live.url, admin)
    for name in ("survey_stats_cache_hits_total", "survey_stats_cache_misses_total"):
        assert value(after, name) - value(before, name) == 1, name


def test_the_networks_setting_is_checked():
    env = {"SURVEY_SECRET": "x"}
    assert Settings.from_env(env).metrics_networks == ()
    found = Settings.from_env({**env, "SURVEY_METRICS_NETWORKS": "10.0.0.0/8, 2001:db8::/32"})
    assert found.metrics_networks == ("10.0.0.0/8", "2001:db8::/32")
    with pytest.raises(ValueError, match=r"^SURVEY_METRICS_NETWORKS: '10.0.0.0/33' is not"):
        Settings.from_env({**env, "SURVEY_METRICS_NETWORKS": "10.0.0.0/8 10.0.0.0/33"})


def test_serve_refuses_a_malformed_networks_setting(tmp_path: Path):
    env = {"SURVEY_VAR_DIR": str(tmp_path), "SURVEY_METRICS_NETWORKS": "prometheus.local"}
    done = survey_command("serve", "--port", "0", env=env)
    assert done.returncode != 0
    assert "cannot start: SURVEY_METRICS_NETWORKS: 'prometheus.local' is not" in done.stderr


def json_records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_networks_rate_limit_refusals_and_quiet_logs(served_database, tmp_path: Path):
    """A client of SURVEY_METRICS_NETWORKS (an IPv4-mapped peer too) reads the metrics
    without a key, any other is refused; a refusal counts by limit, never by client; a
    scrape logs its access line and nothing else."""
    env = {
        **served_database,
        "SURVEY_CITIZEN_RATE_PER_MINUTE": "2",
        "SURVEY_METRICS_NETWORKS": "203.0.113.0/24",
        "SURVEY_STATS_WORKERS": "0",
    }
    args = ("--log-format", "json")
    with (
        server_process(env, tmp_path / "server.log", args) as server,
        httpx.Client(timeout=30) as client,
    ):
        # uvicorn takes the client from X-Forwarded-For when the peer is 127.0.0.1.
        inside = {"X-Forwarded-For": "203.0.113.9"}
        for headers, status in (
            (inside, 200),
            ({"X-Forwarded-For": "::ffff:203.0.113.9"}, 200),
            ({"X-Forwarded-For": "198.51.100.7"}, 401),
            ({}, 401),  # 127.0.0.1 itself is not listed
        ):
            assert client.get(f"{server.url}/metrics", headers=headers).status_code == status
        statuses = [client.get(f"{server.url}/s/{secrets.token_urlsafe(16)}") for _ in range(3)]
        assert [answer.status_code for answer in statuses] == [404, 404, 429]
        answer = client.get(f"{server.url}/metrics", headers=inside)
        samples = parse(answer.text)
    refusals = {
        labels: v
        for (name, labels), v in samples.items()
        if name == "survey_rate_limit_refusals_total"
    }
    assert refusals == {frozenset({("limit", "citizen")}): 1.0}
    # What a limit refuses never reaches a route's series (it has its own counter).
    assert value(samples, "survey_requests_total", path="/s/{token}", status_code="404") == 2
    assert "429" not in label_values(samples)
    assert "127.0.0.1" not in answer.text
    records = json_records(server.output())
    assert [r for r in records if r["level"] not in ("INFO", "DEBUG")] == []
    about_metrics = [r for r in records if "/metrics" in json.dumps(r)]
    assert len(about_metrics) == 5
    assert {r["logger"] for r in about_metrics} == {"uvicorn.access"}


def per_worker(directory: Path, path: str) -> dict[int, float]:
    """Requests on ``path`` counted by each worker, from the files it keeps its counts in."""
    counts = {}
    for file in directory.glob("counter_*.db"):
        pid = int(file.stem.split("_")[1])
        families = MultiProcessCollector.merge([str(file)], accumulate=True)
        counts[pid] = sum(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == "survey_requests_total" and sample.labels.get("path") == path
        )
    return counts


@pytest.mark.slow
def test_one_scrape_covers_every_worker(tmp_path: Path, served_database):
    """`survey serve --workers 2`: requests on connections of their own spread over both
    workers; any scrape sums both; a worker killed and replaced keeps its counts in the
    sums and loses its live gauges; the directory goes when the server stops."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        **served_database,
        "SURVEY_CITIZEN_RATE_PER_MINUTE": "0",
        "SURVEY_API_RATE_PER_SECOND": "0",
        "SURVEY_METRICS_NETWORKS": "127.0.0.1",
        "TMPDIR": str(temp),  # where `survey serve` makes its metrics directory
        "SURVEY_STATS_WORKERS": "0",  # no statistics processes to start and stop here
    }
    made = 0

    def spread(count: int) -> None:
        nonlocal made

        def one(_: int) -> int:  # a connection per request: any worker may accept it
            return httpx.get(f"{server.url}/embed.js", timeout=30).status_code

        with ThreadPoolExecutor(max_workers=4) as pool:
            assert set(pool.map(one, range(count))) == {200}
        made += count

    with server_process(env, tmp_path / "server.log", ("--workers", "2")) as server:
        (directory,) = temp.glob("survey-metrics-*")
        assert directory.stat().st_mode & 0o077 == 0
        deadline = time.monotonic() + 40
        while len([n for n in per_worker(directory, "/embed.js").values() if n]) < 2:
            assert time.monotonic() < deadline, per_worker(directory, "/embed.js")
            spread(20)
        for _ in range(4):  # each scrape, on a connection of its own, lands on either worker
            with httpx.Client(timeout=30) as client:
                samples = scrape(client, server.url)
            assert value(samples, "survey_requests_total", path="/embed.js") == made

        victim = max(per_worker(directory, "/embed.js"))
        os.kill(victim, signal.SIGKILL)
        while (directory / f"gauge_livesum_{victim}.db").exists():
            assert time.monotonic() < deadline + 30, "the dead worker was not marked"
            time.sleep(0.2)
        spread(4)
        with httpx.Client(timeout=30) as client:
            samples = scrape(client, server.url)
        assert value(samples, "survey_requests_total", path="/embed.js") == made
    assert not directory.exists()
