"""Each middleware layer's share of a request, measured in process.

The app is built as ``create_app`` builds it, then again with one layer left
out at a time (the keyword argument that installs it dropped on the way to
``Litestar``), and a bare Litestar app beside them. Each is driven through
ASGI directly (no server, no socket) for many requests; the figure is process
CPU time per request, the least of a few interleaved rounds, so other jobs on
the machine add little. The access log is timed the same way, one uvicorn
access record through ``survey serve``'s handler into a null stream.

    python -m benchmarks.layers [--requests 20000] [--path /livez]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import logging.config
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

from litestar import Litestar

from benchmarks import bare

ROUNDS = 5
# What each layer is installed by, and how it is left out.
LAYERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "request limits": lambda kw: kw.update(middleware=kw["middleware"][1:]),
    "rate limits": lambda kw: kw.update(middleware=kw["middleware"][:1]),
    "CSRF": lambda kw: kw.update(csrf_config=None),
    "security headers": lambda kw: kw.update(before_send=[]),
    "compression": lambda kw: kw.update(compression_config=None),
}


def scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def drive(app: Any, path: str, count: int, headers: list[tuple[bytes, bytes]]) -> float:
    """CPU seconds per request over ``count`` requests of ``path``."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.process_time()
    for _ in range(count):
        await app(scope(path, headers), receive, send)
    spent = time.process_time() - started
    if any(status >= 400 for status in statuses):
        raise RuntimeError(f"{path} answered {sorted(set(statuses))}")
    return spent / count


def build(leave_out: str | None) -> Litestar:
    from survey_app.server import app as assembly

    real = assembly.Litestar

    def litestar(**kwargs: Any) -> Litestar:
        if leave_out is not None:
            LAYERS[leave_out](kwargs)
        return real(**kwargs)

    with mock.patch.object(assembly, "Litestar", litestar):
        return assembly.create_app()


def access_log_cost(count: int, redacted: bool) -> float:
    from survey_app.cli.server import serve_log_config

    config = serve_log_config({"SURVEY_LOG_LEVEL": "info"})
    if not redacted:
        config["handlers"]["access"]["filters"] = []
    logging.config.dictConfig(config)
    logger = logging.getLogger("uvicorn.access")
    handler = logger.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(io.StringIO())
    started_at = time.process_time()
    for _ in range(count):
        logger.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", "/livez", "1.1", 200
        )  # what uvicorn's httptools protocol logs
    return (time.process_time() - started_at) / count


def measure(count: int, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, float]:
    apps: dict[str, Any] = {"ours": build(None), "bare Litestar": bare.create_app()}
    apps |= {f"without {name}": build(name) for name in LAYERS}
    best = dict.fromkeys(apps, float("inf"))
    loop = asyncio.new_event_loop()
    for app in apps.values():
        loop.run_until_complete(drive(app, path, count // 10, headers))  # warm-up
    for _ in range(ROUNDS):
        for name, app in apps.items():
            best[name] = min(best[name], loop.run_until_complete(drive(app, path, count, headers)))
    loop.close()
    for label, redacted in (("access log line", True), ("access log line, no redaction", False)):
        best[label] = min(access_log_cost(count, redacted) for _ in range(ROUNDS))
    return {name: seconds * 1e6 for name, seconds in best.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.layers", description=__doc__)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--path", default="/livez")
    p.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip")
    args = p.parse_args(argv)
    headers = [(b"accept-encoding", b"gzip")] if args.gzip else []
    with tempfile.TemporaryDirectory() as directory:
        os.environ.setdefault("DATABASE_URL", f"sqlite:///{directory}/survey.sqlite")
        os.environ.setdefault("SURVEY_SECRET", "layers-" + "x" * 32)
        os.environ.setdefault("SURVEY_VAR_DIR", directory)
        micros = measure(args.requests, args.path, headers)
    ours = micros["ours"]
    print(f"| {args.path} | CPU µs/request | share of ours |")
    print("|---|---:|---:|")
    for name, value in micros.items():
        share = (ours - value) / ours if name.startswith("without") else value / ours
        label = f"{name} (saves)" if name.startswith("without") else name
        print(f"| {label} | {value:.1f} | {share:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
