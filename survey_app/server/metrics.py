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

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

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
        tags = ["operations"]  # noqa: RUF012

    return MetricsController
