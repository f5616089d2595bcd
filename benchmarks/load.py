"""The load stage for one engine: /livez, the questionnaire page, then submissions."""

from __future__ import annotations

from typing import Any

from benchmarks import durability, invitations, page_weight, server, survey_cli, wrk
from benchmarks.databases import Target
from benchmarks.options import Options
from benchmarks.progress import say

# DESIGN "Budgets": submissions a large fraction of what the bare framework serves.
RATIO_GOAL = 0.5


def run(made: Target, options: Options) -> dict[str, Any]:
    say(f"[{made.engine}] migrating a fresh database")
    survey_cli.migrate(made)
    directory, key = invitations.register(made)
    # One more than the run may use: the page stage reads an invitation it never answers.
    say(f"[{made.engine}] pre-issuing {options.tokens:,} invitations")
    token_file = made.var_dir / "tokens.txt"
    tokens = invitations.issue(made, directory, options.tokens + 1)
    page_token = tokens[-1]
    token_file.write_text("".join(f"{token}\n" for token in tokens[:-1]))
    acked_dir = made.var_dir / "acked"
    acked_dir.mkdir()
    load = wrk.Load(options.duration_s, options.connections, options.threads)
    result: dict[str, Any] = {}

    with server.running(made) as served:
        say(f"[{made.engine}] server pid {served.pid} at {served.base_url}")
        say(f"[{made.engine}] wrk GET /livez, {load.connections} connections, {load.duration_s} s")
        result["livez"] = wrk.run(f"{served.base_url}/livez", load)
        _said(made, result["livez"])

        say(f"[{made.engine}] wrk GET /s/<token> with gzip")
        result["page"] = wrk.run(
            f"{served.base_url}/s/{page_token}", load, headers=["Accept-Encoding: gzip"]
        )
        _said(made, result["page"])
        result["page_weight"] = page_weight.measure(served.base_url, f"/s/{page_token}").to_dict()
        say(
            f"[{made.engine}] page weight {result['page_weight']['total_bytes']:,} B "
            f"over the wire ({len(result['page_weight']['items'])} requests)"
        )

        say(f"[{made.engine}] wrk POST /api/v1/responses, each token once")
        submit = wrk.run(
            f"{served.base_url}/api/v1/responses",
            load,
            script=wrk.POST_SCRIPT,
            script_args=[str(token_file), str(load.threads), key, str(acked_dir)],
        )
        # The measurement is of stored submissions only (201), over the whole run.
        submit["requests_per_s"] = round(submit["status"]["201"] / submit["duration_s"], 1)
        submit["tokens_exhausted"] = submit["threads_out_of_tokens"] > 0
        result["submit"] = submit
        _said(made, submit)
        if submit["tokens_exhausted"]:
            say(
                f"[{made.engine}] WARNING: ran out of tokens; raise --tokens "
                "(the submission rate is then a lower bound)"
            )
        result["durability"] = durability.check(
            made, acked_dir, submit["status"]["2xx"], load.connections
        )
        say(f"[{made.engine}] durable: {result['durability']['durable']}")
        result["peak_rss_kib"] = served.peak_rss_kib()

    livez_rate = result["livez"]["requests_per_s"]
    for name in ("submit", "page"):
        rate = result[name]["requests_per_s"]
        result[name]["ratio_to_livez"] = round(rate / livez_rate, 3) if livez_rate else None
    result["submit"]["ratio_goal"] = RATIO_GOAL
    result["submit"]["meets_ratio_goal"] = (result["submit"]["ratio_to_livez"] or 0) >= RATIO_GOAL
    return result


def _said(made: Target, run: dict[str, Any]) -> None:
    say(
        f"[{made.engine}]   {run['requests_per_s']:,.0f} req/s, p50 {run['p50_ms']:.1f} ms, "
        f"p99 {run['p99_ms']:.1f} ms, socket errors {run['socket_errors_total']}"
    )
