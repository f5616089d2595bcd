"""The load stage for one engine.

One ``survey serve`` (one worker, access log on) answers, in turn: ``/livez``
interleaved with the bare Litestar reference's (``benchmarks.bare``, served the
same way), the questionnaire page, invitations, submissions of pre-issued
tokens, whole transactions (invitation then answer), and the mixed load without
and with an analyst. Then a two-worker server (``/livez``, and one keep-alive
connection's latency), and, when Redis answers, a server counting rate limits
in Redis for submissions again.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks import durability, goals, invitations, mixed, page_weight, server, survey_cli, wrk
from benchmarks.databases import Target
from benchmarks.options import Options
from benchmarks.progress import say

# Token files, each pre-issued for one run that answers invitations.
TOKEN_RUNS = ("submit", "submit_limited", "mixed_quiet", "mixed_busy")


def run(made: Target, options: Options) -> dict[str, Any]:
    say(f"[{made.engine}] migrating a fresh database")
    survey_cli.migrate(made)
    directory, key = invitations.register(made)
    analyst_key = survey_cli.create_key(made, invitations.AGENCY, "analyst")
    say(f"[{made.engine}] pre-issuing {options.tokens:,} invitations for each of {TOKEN_RUNS}")
    # One more than the runs use: the page stage reads an invitation it never answers.
    tokens = invitations.issue(made, directory, options.tokens * len(TOKEN_RUNS) + 1)
    page_token = tokens.pop()
    files = {}
    for i, name in enumerate(TOKEN_RUNS):
        files[name] = made.var_dir / f"tokens-{name}.txt"
        chosen = tokens[i * options.tokens : (i + 1) * options.tokens]
        files[name].write_text("".join(f"{token}\n" for token in chosen))
    load = wrk.Load(options.duration_s, options.connections, options.threads)
    result: dict[str, Any] = {}

    def measure(name: str, url: str, **kwargs: Any) -> dict[str, Any]:
        say(f"[{made.engine}] {name}: wrk {url.split('//', 1)[1].split('/', 1)[-1][:40]}")
        result[name] = wrk.run(url, kwargs.pop("load", load), **kwargs)
        _said(made, result[name])
        return result[name]

    with server.running(made) as served:
        base = served.base_url
        say(f"[{made.engine}] server pid {served.pid} at {base}")
        with server.running(made, app="bare") as bare:
            result |= _livez_against_bare(made, options, load, served, bare)

        measure("page", f"{base}/s/{page_token}", headers=["Accept-Encoding: gzip"])
        result["page_weight"] = page_weight.measure(base, f"/s/{page_token}").to_dict()

        invited = measure(
            "invitations",
            f"{base}/api/v1/invitations",
            script=wrk.INVITATIONS_SCRIPT,
            script_args=[key, invitations.SERVICE, "inv"],
        )
        invited["requests_per_s"] = _per_s(invited["counts"]["c201"], invited)

        acked_dir = made.var_dir / "acked"
        acked_dir.mkdir()
        submit = _submit(made, load, base, files["submit"], key, acked_dir)
        result["submit"] = submit
        result["durability"] = durability.check(
            made, acked_dir, submit["status"]["2xx"], load.connections
        )
        say(f"[{made.engine}] durable: {result['durability']['durable']}")

        done = measure(
            "transaction",
            f"{base}/api/v1/invitations",
            script=wrk.TRANSACTION_SCRIPT,
            script_args=[key, invitations.SERVICE, "e2e"],
        )
        # Requests of both kinds, to compare with /livez; transactions are answered ones.
        done["requests_per_s"] = _per_s(done["status"]["2xx"], done)
        done["transactions_per_s"] = _per_s(done["counts"]["answered"], done)

        for name, analyst in (("mixed_quiet", None), ("mixed_busy", analyst_key)):
            also = " and an analyst" if analyst else ""
            say(f"[{made.engine}] {name}: citizens and portals{also}")
            result[name] = mixed.run(
                base,
                load,
                tokens=files[name],
                key=key,
                service=invitations.SERVICE,
                analyst_key=analyst,
                prefix=name,
            )
            _said(made, result[name]["citizens"])
        result["peak_rss_kib"] = served.peak_rss_kib()

    with server.running(made, workers=2) as two:
        measure("livez_2_workers", f"{two.base_url}/livez")
        one = wrk.Load(options.duration_s, 1, 1)
        measure("keepalive_2_workers", f"{two.base_url}/livez", load=one)

    if options.redis_url and (problem := _redis_problem(options.redis_url)) is None:
        with server.running(made, limits=options.redis_url) as limited:
            result["submit_limited"] = _submit(
                made, load, limited.base_url, files["submit_limited"], key, None
            )
    else:
        say(f"[{made.engine}] no Redis at {options.redis_url}: limits run skipped ({problem})")

    result["goals"] = goals.evaluate(result)
    return result


def _livez_against_bare(
    made: Target, options: Options, load: wrk.Load, ours: server.Server, bare: server.Server
) -> dict[str, Any]:
    """Rounds of (bare, ours), interleaved so both see the same machine; the median run.

    Each run also records the server's CPU time per request: the throughput ratio moves
    with whatever else the machine runs, the CPU ratio much less.
    """
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "livez": []}
    for _ in range(options.reference_rounds):
        for name, served in (("bare", bare), ("livez", ours)):
            before = served.cpu_s()
            run = wrk.run(f"{served.base_url}/livez", load)
            run["server_cpu_us_per_request"] = round(
                (served.cpu_s() - before) / max(run["requests"], 1) * 1e6, 1
            )
            runs[name].append(run)
            say(f"[{made.engine}] {name} /livez, server CPU {run['server_cpu_us_per_request']} µs")
            _said(made, run)
    picked = {name: _median_run(found) for name, found in runs.items()}
    for name, found in runs.items():
        picked[name]["rounds"] = [r["requests_per_s"] for r in found]
        picked[name]["cpu_rounds"] = [r["server_cpu_us_per_request"] for r in found]
        picked[name]["server_cpu_us_per_request"] = statistics.median(picked[name]["cpu_rounds"])
    return picked


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["requests_per_s"] for r in runs]
    middle = statistics.median_low(rates)
    return dict(runs[rates.index(middle)])


def _submit(
    made: Target, load: wrk.Load, base: str, tokens: Path, key: str, acked_dir: Path | None
) -> dict[str, Any]:
    if acked_dir is None:
        acked_dir = made.var_dir / f"acked-{tokens.stem}"
        acked_dir.mkdir()
    say(f"[{made.engine}] wrk POST /api/v1/responses, each token once")
    submit = wrk.run(
        f"{base}/api/v1/responses",
        load,
        script=wrk.POST_SCRIPT,
        script_args=[str(tokens), str(load.threads), key, str(acked_dir)],
    )
    # The measurement is of stored submissions only (201), over the whole run.
    submit["requests_per_s"] = _per_s(submit["status"]["201"], submit)
    submit["tokens_exhausted"] = submit["threads_out_of_tokens"] > 0
    _said(made, submit)
    if submit["tokens_exhausted"]:
        say(f"[{made.engine}] WARNING: ran out of tokens; raise --tokens (a lower bound)")
    return submit


def _per_s(count: int, run: dict[str, Any]) -> float:
    return round(count / run["duration_s"], 1) if run["duration_s"] else 0.0


def _redis_problem(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except (redis.RedisError, OSError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def _said(made: Target, run: dict[str, Any]) -> None:
    say(
        f"[{made.engine}]   {run['requests_per_s']:,.0f} req/s, p50 {run['p50_ms']:.1f} ms, "
        f"p99 {run['p99_ms']:.1f} ms, socket errors {run['socket_errors_total']}"
    )
