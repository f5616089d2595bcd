"""``survey webhook add|list|enable|disable|replay|attempts|remove``: agencies' endpoints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from survey_app.cli.common import run_with_database
from survey_app.lib.settings import Settings, local_zone

T = TypeVar("T")


def endpoint_call(work: Callable[[Settings], Awaitable[T]]) -> T:
    """Run an endpoint operation, turning its refusals into a one-line error."""
    from survey_app.webhooks.endpoints import EndpointError

    async def guarded(settings: Settings) -> T:
        try:
            return await work(settings)
        except EndpointError as error:
            raise click.ClickException(str(error)) from error

    return run_with_database(guarded)


def parse_since(value: str | None) -> dt.datetime | None:
    """A date or date and time, in ``SURVEY_TIMEZONE`` unless it names its offset."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(
            f"{value!r}: use a date like 2026-12-01 or a time like 2026-12-01T08:30",
            param_hint="--since",
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=local_zone())


@click.group()
def webhook() -> None:
    """Signed webhooks (Standard Webhooks) that agencies receive for new responses."""


@webhook.command("add")
@click.argument("agency_code", metavar="AGENCY")
@click.argument("url")
@click.option(
    "--events",
    required=True,
    metavar="TYPES",
    help="Comma-separated: response.created (every response), response.dissatisfied "
    "(overall rating at or below SURVEY_DISSATISFIED_MAX).",
)
@click.option(
    "--include-comments",
    is_flag=True,
    help="Also send the response's free text (with personal data removed); off by default.",
)
def add(agency_code: str, url: str, events: str, include_comments: bool) -> None:
    """Send AGENCY's events to URL; prints the signing secret once."""
    from survey_app.webhooks import endpoints
    from survey_app.webhooks.signing import Sealer

    added = endpoint_call(
        lambda settings: endpoints.add(
            agency_code, url, events, include_comments, Sealer(settings.secret)
        )
    )
    seconds = Settings.from_env().register_cache_seconds
    click.echo(f"Webhook endpoint {added.id} for {agency_code}: {', '.join(added.events)}.")
    click.echo(
        f"Running servers send it the events of responses stored from {seconds:g} s on "
        "(SURVEY_REGISTER_CACHE_SECONDS); `survey webhook replay` sends earlier ones."
    )
    click.echo("Signing secret; store it now, it will not be shown again:")
    click.echo(added.secret)


@webhook.command("list")
def list_endpoints() -> None:
    """Every endpoint, its state and how many messages wait (never the secrets)."""
    from survey_app.webhooks import endpoints

    rows = endpoint_call(lambda _: endpoints.listing())
    if not rows:
        click.echo("No webhook endpoints.")
    for row in rows:
        state = "enabled" if row["enabled"] else f"DISABLED ({row['disabled_reason']})"
        comments = ", with comments" if row["include_comments"] else ""
        click.echo(
            f"{row['id']}\t{row['agency']}\t{row['url']}\t{row['events']}{comments}\t{state}\t"
            f"{row['failures']} failures in a row, {row['waiting']} waiting"
        )


@webhook.command("enable")
@click.argument("endpoint", type=int, metavar="ID")
def enable(endpoint: int) -> None:
    """Enable endpoint ID again: what waits for it is sent now, retries start afresh."""
    from survey_app.webhooks import endpoints

    endpoint_call(lambda _: endpoints.set_enabled(endpoint, True))
    click.echo(f"Webhook endpoint {endpoint} enabled.")


@webhook.command("disable")
@click.argument("endpoint", type=int, metavar="ID")
def disable(endpoint: int) -> None:
    """Stop sending to endpoint ID; its events wait until it is enabled again."""
    from survey_app.webhooks import endpoints

    endpoint_call(lambda _: endpoints.set_enabled(endpoint, False))
    click.echo(f"Webhook endpoint {endpoint} disabled; its events wait for `enable`.")


@webhook.command("replay")
@click.argument("endpoint", type=int, metavar="ID")
@click.option("--since", help="Only events from this date or time (SURVEY_TIMEZONE).")
def replay(endpoint: int, since: str | None) -> None:
    """Send endpoint ID its events again (all, or those since a date), same webhook-id."""
    from survey_app.webhooks import endpoints

    start = parse_since(since)
    count, enabled = endpoint_call(lambda _: endpoints.replay(endpoint, start))
    click.echo(f"{count} events queued again for webhook endpoint {endpoint}.")
    if not enabled:
        click.echo(
            f"The endpoint is disabled: they are sent once `survey webhook enable {endpoint}`."
        )


@webhook.command("attempts")
@click.argument("endpoint", type=int, metavar="ID")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
def attempts(endpoint: int, limit: int) -> None:
    """The latest attempts to post to endpoint ID, newest first."""
    from survey_app.webhooks import endpoints

    rows = endpoint_call(lambda _: endpoints.attempts(endpoint, limit))
    if not rows:
        click.echo("No attempts yet.")
    for row in rows:
        outcome = str(row["status_code"] or "-") + (f" {row['error']}" if row["error"] else "")
        retry = f"\tretry at {row['retry_at']}" if row["retry_at"] else ""
        click.echo(
            f"{row['attempted_at']}\t{row['msg_id']}\t{row['type']}\t{outcome}\t"
            f"{row['duration_ms']} ms{retry}"
        )


@webhook.command("remove")
@click.argument("endpoint", type=int, metavar="ID")
def remove(endpoint: int) -> None:
    """Delete endpoint ID with what waits for it and its attempts."""
    from survey_app.webhooks import endpoints

    endpoint_call(lambda _: endpoints.remove(endpoint))
    click.echo(f"Webhook endpoint {endpoint} removed.")
