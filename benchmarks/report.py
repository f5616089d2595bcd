"""The markdown table printed at the end, and the result file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HEADER = (
    "| engine | endpoint | req/s | p50 ms | p99 ms | ratio to /livez | errors |",
    "|---|---|---:|---:|---:|---:|---:|",
)
LOAD_ROWS = (
    ("livez", "GET /livez"),
    ("submit", "POST /api/v1/responses"),
    ("page", "GET /s/{token} (gzip)"),
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
        for key, label in LOAD_ROWS:
            run = result.get(key)
            if not run:
                continue
            ratio = run.get("ratio_to_livez")
            lines.append(
                f"| {engine} | {label} | {run['requests_per_s']:,.0f} | {run['p50_ms']:.1f} "
                f"| {run['p99_ms']:.1f} | {'' if ratio is None else f'{ratio:.2f}'} "
                f"| {_errors(run)} |"
            )
    return lines


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


def write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(result, indent=2, sort_keys=False, default=str) + "\n")
    temporary.replace(path)
