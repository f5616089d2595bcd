"""``/metrics`` for operators: Litestar's Prometheus plugin, its middleware and who may scrape.

Requests are counted and timed per route template (``/s/{token}``, never the token
itself: a token in a label would hand out a capability to whoever reads the metrics, and
make a series per invitation). The plugin's middleware sits inside the request-size and
rate-limit middleware, so what those refuse (414, 431, 429) is not in the request series;
rate-limit refusals have a counter of their own (``lib.metrics``). A path no route
matches (404, 405) is refused before any middleware and is not counted either.

Left out of the series: ``/metrics`` itself (each scrape would count and time itself) and
``/livez`` (an orchestrator's probe every few seconds is not traffic; it is also the
framework-only baseline the benchmarks compare against, and stays so).
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController, PrometheusMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from survey_app.auth.guards import Guard, staff_or_key
from survey_app.auth.throttle import client_ip, peer_address
from survey_app.db.tables import Role
from survey_app.lib.settings import Settings

PATH = "/metrics"
UNCOUNTED = ["^/metrics$", "^/livez$"]
# Seconds. The hot paths answer in a few milliseconds, statistics and pages in up to seconds.
LATENCY_BUCKETS: list[str | float] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
]  # fmt: skip


class RouteMetrics(PrometheusMiddleware):
    """The plugin's middleware with ``group_path``: the same series, labels and timing (to
    the last byte sent), for a fraction of its cost.

    The plugin's own builds a ``Request`` and its URL, four label dictionaries and four
    label look-ups per request: about 35 µs of CPU here, a quarter of a ``/livez``. This
    reads the method and route template from the scope and keeps each label set's series
    (there are as many as routes × methods × statuses), so a request costs a gauge up and
    down, a counter and a histogram. Exemplars and extra labels are not supported.
    """

    def __init__(self, app: ASGIApp, config: PrometheusConfig) -> None:
        super().__init__(app, config)
        self._active: dict[tuple[str, str], Any] = {}
        self._done: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def _labels(self, method: str, path: str, status: int) -> dict[str, str | int | float]:
        # The plugin's label names, in its order: its metrics are created from them.
        return {
            "method": method,
            "path": path,
            "status_code": status,
            "app_name": self._config.app_name,
        }

    def _active_series(self, key: tuple[str, str]) -> Any:
        labels = self._labels(*key, 200)  # the plugin labels a request in progress 200
        found = self._active[key] = self.requests_in_progress(labels).labels(*labels.values())
        return found

    def _done_series(self, key: tuple[str, str, int]) -> tuple[Any, Any, Any]:
        labels = self._labels(*key)
        values = labels.values()
        errors = self.requests_error_count(labels).labels(*values) if key[2] >= 500 else None
        found = self._done[key] = (
            self.request_count(labels).labels(*values),
            self.request_time(labels).labels(*values),
            errors,
        )
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        # A mounted app (/admin) has an empty template: its mount path stands for it.
        path = scope["path_template"] or min(scope["route_handler"].paths)
        active = self._active.get((method, path)) or self._active_series((method, path))
        started = time.perf_counter()
        seen: list[Any] = [200, 0.0]  # status, when the last body part was sent

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen[0] = message["status"]
            elif message["type"] == "http.response.body":
                seen[1] = time.perf_counter()
            await send(message)

        active.inc()
        try:
            await self.app(scope, receive, timed)
        finally:
            active.dec()
            status, ended = seen
            key = (method, path, status)
            count, duration, errors = self._done.get(key) or self._done_series(key)
            count.inc()
            duration.observe((ended or started) - started)
            if errors is not None:
                errors.inc()


def prometheus_config() -> PrometheusConfig:
    """``survey_requests_total``, ``survey_request_duration_seconds``,
    ``survey_requests_in_progress`` and ``survey_requests_error_total`` (5xx), labelled by
    method, route template (``path``), status code and ``app_name``."""
    return PrometheusConfig(
        app_name="survey",
        prefix="survey",
        group_path=True,
        buckets=LATENCY_BUCKETS,
        exclude=UNCOUNTED,
        scopes={ScopeType.HTTP},
        middleware_class=RouteMetrics,
    )


def metrics_guard(networks: tuple[str, ...]) -> Guard:
    """A client in one of ``networks`` (an IPv4-mapped IPv6 peer as its IPv4 address), else
    an admin API key or an admin's staff session: 401 without either, 403 for another role."""
    allowed = [ipaddress.ip_network(network) for network in networks]
    admin = staff_or_key(Role.admin, what="/metrics")

    async def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        if allowed:
            ip = client_ip(peer_address(connection.scope))
            if ip is not None and any(ip in network for network in allowed):
                return
        await admin(connection, handler)

    return guard


def metrics_controller(settings: Settings) -> type[PrometheusController]:
    """The plugin's controller at ``/metrics``, guarded for ``settings``. With
    ``PROMETHEUS_MULTIPROC_DIR`` set (``survey serve --workers N``) it reads every
    worker's values from that directory."""

    class MetricsController(PrometheusController):
        path = PATH
        guards = [metrics_guard(settings.metrics_networks)]  # noqa: RUF012 (Litestar reads it)
        # For Prometheus, not API clients (the plugin's handler would document JSON).
        include_in_schema = False

    return MetricsController
