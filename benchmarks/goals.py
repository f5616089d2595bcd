"""Issue 15's goals, each read from one engine's load results: measured, goal, met."""

from __future__ import annotations

from typing import Any

LIVEZ_TO_BARE = 0.8  # our /livez against a bare Litestar app, same server and log
TWO_WORKERS = 0.9  # two workers against one, /livez
KEEPALIVE_P50_MS = 5.0  # one keep-alive connection to a two-worker server
HOT_PATH_TO_LIVEZ = 0.5  # DESIGN "Budgets": page, invitation, answer, end to end
PAGE_P99_MS = 50.0
WRITE_P99_MS = 100.0
LIMITED_TO_UNLIMITED = 0.8  # submissions with Redis-counted limits against none
HOT_PATHS = ("page", "invitations", "submit", "transaction")
WRITES = ("invitations", "submit", "transaction")


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return round(top / bottom, 3) if top is not None and bottom else None


def _rate(result: dict[str, Any], name: str) -> float | None:
    return result.get(name, {}).get("requests_per_s")


def _goal(name: str, value: float | None, goal: float, at_least: bool) -> dict[str, Any]:
    met = None if value is None else (value >= goal if at_least else value < goal)
    return {"goal": name, "value": value, "target": goal, "at_least": at_least, "met": met}


def _bad(run: dict[str, Any]) -> int:
    status = run.get("status", {})
    return sum(v for k, v in status.items() if k[0] in "345") + run.get("socket_errors_total", 0)


def evaluate(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every goal, in the order the issue names them; adds each path's ratio to /livez."""
    livez = _rate(result, "livez")
    found = [
        _goal("/livez / bare Litestar", _ratio(livez, _rate(result, "bare")), LIVEZ_TO_BARE, True)
    ]
    result.setdefault("livez", {})["ratio_to_bare"] = found[0]["value"]
    cpu = {n: result.get(n, {}).get("server_cpu_us_per_request") for n in ("bare", "livez")}
    found.append(
        _goal(
            "/livez / bare Litestar, by server CPU per request",
            _ratio(cpu["bare"], cpu["livez"]),
            LIVEZ_TO_BARE,
            True,
        )
    )
    found.append(
        _goal(
            "2 workers / 1 worker (/livez)",
            _ratio(_rate(result, "livez_2_workers"), livez),
            TWO_WORKERS,
            True,
        )
    )
    found.append(
        _goal(
            "keep-alive p50 ms, 2 workers",
            result.get("keepalive_2_workers", {}).get("p50_ms"),
            KEEPALIVE_P50_MS,
            False,
        )
    )
    for name in HOT_PATHS:
        if name not in result:
            continue
        ratio = _ratio(_rate(result, name), livez)
        result[name]["ratio_to_livez"] = ratio
        found.append(_goal(f"{name} / livez", ratio, HOT_PATH_TO_LIVEZ, True))
        found.append(_goal(f"{name} non-2xx", _bad(result[name]), 1, False))
        p99 = result[name]["p99_ms"]
        found.append(
            _goal(f"{name} p99 ms", p99, WRITE_P99_MS if name in WRITES else PAGE_P99_MS, False)
        )
    if "submit_limited" in result:
        ratio = _ratio(_rate(result, "submit_limited"), _rate(result, "submit"))
        result["submit_limited"]["ratio_to_unlimited"] = ratio
        found.append(_goal("submit with Redis limits / without", ratio, LIMITED_TO_UNLIMITED, True))
    for name in ("mixed_quiet", "mixed_busy"):
        if name in result:
            found.append(
                _goal(f"citizen p99 ms, {name}", result[name]["citizens"]["p99_ms"], 100.0, False)
            )
    return found
