"""The markdown table printed at the end, and the result file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HEADER = (
    "| engine | run | req/s | p50 ms | p99 ms | ratio | errors |",
    "|---|---|---:|---:|---:|---:|---:|",
)
# (result key, sub-run of a mixed load or None, label, the ratio's key and what it is to)
LOAD_ROWS = (
    ("bare", None, "bare Litestar GET /livez (reference)", None, ""),
    ("livez", None, "GET /livez", "ratio_to_bare", "bare"),
    ("page", None, "GET /s/{token} (gzip)", "ratio_to_livez", "/livez"),
    ("invitations", None, "POST /api/v1/invitations (201s)", "ratio_to_livez", "/livez"),
    ("submit", None, "POST /api/v1/responses (201s)", "ratio_to_livez", "/livez"),
    ("transaction", None, "invitation + answer (2xx)", "ratio_to_livez", "/livez"),
    ("mixed_quiet", "citizens", "mixed: citizens (page + answer)", None, ""),
    ("mixed_quiet", "portals", "mixed: portals (invitations)", None, ""),
    ("mixed_busy", "citizens", "mixed + analyst: citizens", None, ""),
    ("mixed_busy", "portals", "mixed + analyst: portals", None, ""),
    ("mixed_busy", "analyst", "mixed + analyst: analyst (stats)", None, ""),
    ("livez_2_workers", None, "GET /livez, 2 workers", None, ""),
    ("keepalive_2_workers", None, "GET /livez, 2 workers, 1 connection", None, ""),
    ("submit_limited", None, "POST /api/v1/responses, Redis limits", "ratio_to_unlimited", "none"),
)


def _errors(run: dict[str, Any]) -> int:
    status = run.get("status", {})
    bad = sum(v for k, v in status.items() if k[0] in "345")
    return bad + run.get("socket_errors_total", 0)


def load_table(engines: dict[str, Any]) -> list[str]:
    lines = list(HEADER)
    for engine, result in engines.items():
        if "skipped" in result or "error" in result:
            why = (
                f"skipped: {result['skipped']}"
                if "skipped" in result
                else f"failed: {result['error'].splitlines()[0][:80]}"
            )
            lines.append(f"| {engine} | {why} | | | | | |")
            continue
        for key, part, label, ratio_key, to in LOAD_ROWS:
            run = result.get(key)
            if run and part:
                run = run.get(part)
            if not run:
                continue
            ratio = run.get(ratio_key) if ratio_key else None
            shown = "" if ratio is None else f"{ratio:.2f} × {to}"
            lines.append(
                f"| {engine} | {label} | {run['requests_per_s']:,.0f} | {run['p50_ms']:.1f} "
                f"| {run['p99_ms']:.1f} | {shown} | {_errors(run)} |"
            )
    return lines


def goal_lines(engines: dict[str, Any]) -> list[str]:
    lines = ["| engine | goal | measured | target | met |", "|---|---|---:|---:|---|"]
    for engine, result in engines.items():
        for goal in result.get("goals", []):
            sign = "≥" if goal["at_least"] else "<"
            met = {True: "yes", False: "NO", None: "?"}[goal["met"]]
            lines.append(
                f"| {engine} | {goal['goal']} | {goal['value']} | {sign} {goal['target']} | {met} |"
            )
    return lines if len(lines) > 2 else []


def summary_lines(engines: dict[str, Any]) -> list[str]:
    lines = []
    for engine, result in engines.items():
        if "submit" not in result:
            continue
        durable = result.get("durability", {})
        weight = result.get("page_weight", {})
        rss = result.get("peak_rss_kib")
        lines.append(
            f"- {engine}: durable={durable.get('durable')} "
            f"(stored {durable.get('responses_in_database', 0):,}, acknowledged "
            f"{durable.get('client_2xx', 0):,}, committed after wrk stopped "
            f"{durable.get('stored_after_client_stopped')}); page "
            f"{weight.get('total_bytes', 0):,} B over the wire "
            f"(budget {weight.get('budget_bytes', 0):,} B); peak server RSS "
            f"{'?' if rss is None else f'{rss / 1024:.0f} MiB'}"
        )
    return lines


def stats_table(engines: dict[str, Any]) -> list[str]:
    rows = [
        "| engine | responses | load s | satisfaction ms | reasons ms | trend ms "
        "| pandas satisfaction ms | speed-up (satisfaction) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    growth = []
    for engine, result in engines.items():
        stats = result.get("stats")
        if not stats:
            continue
        for size in stats["sizes"]:
            ep = size["endpoints_ms"]
            base = size.get("baseline")
            pandas = f"{base['satisfaction_ms']:.1f} | {base['speedup']:.1f}x" if base else "— | —"
            rows.append(
                f"| {engine} | {size['responses']:,} | {size['load_s']:.1f} "
                f"| {ep['satisfaction']:.1f} | {ep['reasons']:.1f} | {ep['trend']:.1f} "
                f"| {pandas} |"
            )
        if stats.get("growth"):
            growth.append(
                f"- {engine}: largest/smallest time ratio "
                + ", ".join(f"{k} {v:.2f}" for k, v in stats["growth"].items())
                + f" (sizes ratio {stats['size_ratio']:.0f})"
            )
    if len(rows) == 2:
        return []
    return [*rows, "", *growth] if growth else rows


def primary_table(engines: dict[str, Any]) -> list[str]:
    """What the primary sustained: pgbench transactions of the writer's statements."""
    found = engines.get("postgres", {}).get("primary")
    if not found:
        return []
    rows = [
        f"Primary ({found['pgbench']}, {found['duration_s']} s per run"
        + (", POOL EXHAUSTED: answers undercounted" if found["pool_exhausted"] else "")
        + ")",
        "",
        "| kind | rows/transaction | clients | transactions/s | rows/s | mean ms | failed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in found["runs"]:
        latency = run["latency_ms"]
        rows.append(
            f"| {run['kind']} | {run['rows_per_transaction']} | {run['clients']} "
            f"| {run['transactions_per_s']:,.0f} | {run['rows_per_s']:,.0f} "
            f"| {'?' if latency is None else f'{latency:.1f}'} | {run['failed']} |"
        )
    return rows


def write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(result, indent=2, sort_keys=False, default=str) + "\n")
    temporary.replace(path)
