"""``survey agency|service add``, ``survey key create|revoke``, ``survey user create``."""

from __future__ import annotations

import click

from survey_app.cli.common import run_with_database
from survey_app.db.tables import AgencyKind, Role
from survey_app.lib.settings import SUPPORTED_LOCALES, Settings


def translations_option(command: click.Command) -> click.Command:
    return click.option(
        "--translation",
        "translations",
        multiple=True,
        metavar="LANG=NAME",
        help=f"The name in another language ({', '.join(SUPPORTED_LOCALES)}); repeatable.",
    )(command)


def parse_translations(values: tuple[str, ...], name: str) -> dict[str, str]:
    names = {"vi": name}
    for value in values:
        lang, sep, text = value.partition("=")
        if not sep or lang not in SUPPORTED_LOCALES or not text.strip():
            raise click.BadParameter(
                f"{value!r}: expected LANG=NAME with LANG one of {', '.join(SUPPORTED_LOCALES)}",
                param_hint="--translation",
            )
        names[lang] = text.strip()
    return names


def directory_call(work):  # type: ignore[no-untyped-def]
    """Run a directory change, turning its refusals into a one-line error."""
    from survey_app.agencies.directory import DirectoryError

    async def guarded(settings: Settings):  # type: ignore[no-untyped-def]
        try:
            return await work(settings)
        except DirectoryError as error:
            raise click.ClickException(str(error)) from error

    return run_with_database(guarded)


@click.group()
def agency() -> None:
    """Ministries, branches and localities."""


@agency.command("add")
@click.argument("code")
@click.option("--kind", required=True, type=click.Choice([k.value for k in AgencyKind]))
@click.option("--name", required=True, help="Name in Vietnamese (the source language).")
@click.option(
    "--frame-origin",
    "frame_origins",
    multiple=True,
    metavar="ORIGIN",
    help="A portal origin allowed to embed the questionnaire (https://...); repeatable.",
)
@translations_option
def agency_add(
    code: str, kind: str, name: str, frame_origins: tuple[str, ...], translations: tuple[str, ...]
) -> None:
    """Register agency CODE."""
    from survey_app.agencies import directory

    names = parse_translations(translations, name)
    origins = " ".join(frame_origins)
    directory_call(lambda _: directory.add_agency(code, AgencyKind(kind), name, names, origins))
    click.echo(f"Agency {code} added.")


@click.group()
def service() -> None:
    """Public services offered by agencies."""


@service.command("add")
@click.argument("code")
@click.option("--agency", "agency_code", required=True, help="Code of the owning agency.")
@click.option("--name", required=True, help="Name in Vietnamese (the source language).")
@click.option("--essential", is_flag=True, help="One of the essential public services.")
@translations_option
def service_add(
    code: str, agency_code: str, name: str, essential: bool, translations: tuple[str, ...]
) -> None:
    """Register service CODE of an agency."""
    from survey_app.agencies import directory

    names = parse_translations(translations, name)
    directory_call(lambda _: directory.add_service(code, agency_code, name, names, essential))
    click.echo(f"Service {code} added to {agency_code}.")


@click.group()
def key() -> None:
    """API keys for portals and staff tools."""


@key.command("create")
@click.argument("agency_code", metavar="AGENCY")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--label", default="", help="A note to recognise the key by (e.g. the portal).")
def key_create(agency_code: str, role: str, label: str) -> None:
    """Create an API key for AGENCY and print it once; only its hash is stored."""
    from survey_app.agencies import directory
    from survey_app.auth import apikeys

    async def work(_: Settings) -> str:
        agency_id = await directory.agency_id(agency_code)
        if agency_id is None:
            raise click.ClickException(f"unknown agency {agency_code!r}")
        return await apikeys.create(Role(role), agency_id, label)

    secret = run_with_database(work)
    click.echo(f"API key for {agency_code} ({role}); store it now, it will not be shown again:")
    click.echo(secret)


@key.command("revoke")
@click.argument("key_or_prefix", metavar="KEY")
def key_revoke(key_or_prefix: str) -> None:
    """Revoke KEY (the whole key, or its first 12 characters): it is refused from then on,
    by running servers within SURVEY_REGISTER_CACHE_SECONDS."""
    from survey_app.auth import apikeys

    async def work(settings: Settings) -> tuple[str, float]:
        try:
            return await apikeys.revoke(key_or_prefix), settings.register_cache_seconds
        except ValueError as error:
            raise click.ClickException(str(error)) from error

    prefix, bound = run_with_database(work)
    click.echo(f"Key {prefix}... revoked; running servers refuse it within {bound:g} s.")


@click.group()
def user() -> None:
    """Staff accounts for the admin pages."""


@user.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Administrator: /admin and everything else.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role if r is not Role.portal]),
    default=None,
    help="Dashboard role (admin with --admin). An analyst needs --agency.",
)
@click.option("--agency", "agency_code", default=None, help="The analyst's agency code.")
@click.option("--email", default=None, help="Contact address (optional).")
@click.password_option(help="Asked for when omitted (never pass it on a shared machine).")
def user_create(
    username: str,
    admin: bool,
    role: str | None,
    agency_code: str | None,
    email: str | None,
    password: str,
) -> None:
    """Create staff user USERNAME."""
    from piccolo.apps.user.tables import BaseUser

    from survey_app.auth import staff

    if admin and role not in (None, Role.admin.value):
        raise click.UsageError("--admin gives the admin role; leave out --role")
    if not admin and role is None:
        raise click.UsageError("give --admin or --role analyst|researcher")
    chosen = Role.admin if admin else Role(role)

    async def work(_: Settings) -> None:
        if await BaseUser.exists().where(BaseUser.username == username):
            raise click.ClickException(f"user {username!r} already exists")
        if agency_code and not await directory_agency(agency_code):
            raise click.ClickException(f"unknown agency {agency_code!r}")
        if chosen is Role.analyst and not agency_code:
            raise click.ClickException("an analyst is bound to one agency: give --agency")
        try:
            user = await BaseUser.create_user(
                username=username,
                password=password,
                # The column is unique; an address that cannot exist keeps it so.
                email=email or f"{username}@staff.invalid",
                active=True,
                admin=admin,
                superuser=admin,
            )
        except ValueError as error:
            raise click.ClickException(str(error)) from error
        await staff.set_role(user.id, chosen, agency_code)

    run_with_database(work)
    where = f" of {agency_code}" if agency_code else ""
    click.echo(f"User {username} created ({chosen.value}{where}).")


async def directory_agency(code: str) -> bool:
    from survey_app.agencies import directory

    return await directory.agency_id(code) is not None


COMMANDS = [agency, service, key, user]
