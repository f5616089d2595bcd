"""Typed settings, read from the environment only when asked (never at import)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VAR_DIR = ROOT / "var"
DATABASE_FILE = "survey.sqlite"  # the embedded database, in the var directory
# The generated SURVEY_SECRET, in the var directory.
SECRET_FILE = "secret.key"  # noqa: S105 (a file name, not a secret)
# The var directory, the SQLite files and the secret hold comments, password hashes,
# sessions and keys: readable and writable by the service's own user only.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SUPPORTED_LOCALES = ("vi", "en", "id")
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_LOCALE = "vi"


def parse_networks(text: str) -> tuple[str, ...]:
    """Networks (``203.0.113.0/24``) from a space- or comma-separated list of addresses or
    networks; ValueError names the first malformed one. Kept as text: handlers receive the
    settings through dependency injection, which converts only plain types."""
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError as error:
            raise ValueError(
                f"{item!r} is not an address or network like 203.0.113.7 or 203.0.113.0/24"
            ) from error
    return tuple(networks)


def named_networks(env: Mapping[str, str], variable: str) -> tuple[str, ...]:
    """``parse_networks`` of ``variable``, whose name the error then starts with."""
    try:
        return parse_networks(env.get(variable, ""))
    except ValueError as error:
        raise ValueError(f"{variable}: {error}") from error


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to start.

    Attributes
    ----------
    database_url:
        ``sqlite:///path/file.sqlite`` or ``postgresql://user:pass@host:port/db``.
    secret:
        Key for the HMAC of transaction references. Changing it breaks
        idempotency of invitations already issued, so keep it stable.
    public_url:
        Base URL printed in invitation links; ``None`` means "the URL the
        portal called us on".
    invitation_days:
        How long an invitation stays answerable.
    questionnaire_dir / locales_dir:
        Where the questionnaire data files and gettext catalogs live.
    max_body_bytes:
        Requests with a larger body are refused with 413.
    redis_url:
        Where the rate-limit counts live, shared by every worker
        (``redis://host:6379/0``); ``None`` keeps them in process memory.
    citizen_rate_per_minute / api_rate_per_second:
        Requests allowed per client address on citizen pages, and per API
        key on the API; 0 turns the limit off.
    rate_limit_exempt:
        Addresses or networks exempt from the citizen-page limit: one-stop
        counters where many citizens share one tablet.
    rate_limit_namespace:
        Prefix of the counters in Redis, for deployments sharing one Redis.
    dissatisfied_max:
        The official indicator counts a transaction as dissatisfied when its overall
        rating is at or below this (1 to 4).
    timezone:
        The IANA zone whose days, weeks, months and quarters the statistics
        count in (``SURVEY_TIMEZONE``); timestamps are stored in UTC.
    register_cache_seconds:
        How long each process may keep the API keys, services and questionnaire
        assignments it read (``SURVEY_REGISTER_CACHE_SECONDS``): a key revoked or an
        assignment changed by another process takes effect within this; 0 reads them
        on every request.
    stats_workers:
        Processes that compute and render statistics and charts off the event loop
        (``SURVEY_STATS_WORKERS``); 0 computes them on the loop, for tiny deployments.
        ``SURVEY_STATS_POOL=thread`` makes them threads instead, for comparison only:
        the computation holds the GIL, so threads barely spare the loop.
    hash_threads:
        Threads that hash staff passwords (``SURVEY_HASH_THREADS``); 0 hashes on the loop.
    stats_cache_mb:
        Memory for statistics answers kept per process until the data changes
        (``SURVEY_STATS_CACHE_MB``); 0 turns the cache off.
    webhook_*:
        The webhook delivery loop of each process (``survey_app.webhooks``), from
        ``SURVEY_WEBHOOK_<NAME>``: ``delivery`` (0 turns this process's loop off),
        ``timeout_seconds`` per POST, ``backoff_seconds`` (first retry; doubled per failed
        attempt, with jitter) up to ``backoff_max_seconds``, ``max_attempts`` (failed attempts
        of one message that disable its endpoint), ``lease_seconds`` (how long a claimed
        message is reserved: after a crash it is posted again once that passed),
        ``poll_seconds`` (how often the loop looks for due messages) and ``concurrency``
        (posts in flight per process).
    read_database_url:
        A PostgreSQL streaming replica of ``database_url`` (``SURVEY_READ_DATABASE_URL``)
        that statistics, the dashboard, ``/public``, exports and comments read from; None
        reads everything from the primary.
    read_max_lag_s:
        Reads move to the primary while the replica is further behind than this
        (``SURVEY_READ_MAX_LAG_S``) or unreachable.
    read_check_s:
        How often the replica's lag is measured (``SURVEY_READ_CHECK_S``).
    metrics_networks:
        Client networks that may read ``/metrics`` without a key
        (``SURVEY_METRICS_NETWORKS``, e.g. the Prometheus server's); an admin API key
        may read it from anywhere.
    """

    database_url: str = f"sqlite:///{DEFAULT_VAR_DIR / DATABASE_FILE}"
    secret: str = field(default="", repr=False)
    public_url: str | None = None
    invitation_days: int = 14
    questionnaire_dir: Path = ROOT / "questionnaires"
    locales_dir: Path = ROOT / "locales"
    max_body_bytes: int = 64 * 1024
    debug: bool = False
    redis_url: str | None = field(default=None, repr=False)
    citizen_rate_per_minute: int = 60
    api_rate_per_second: int = 100
    rate_limit_exempt: tuple[str, ...] = ()
    rate_limit_namespace: str = "survey-rate"
    dissatisfied_max: int = 2
    timezone: str = DEFAULT_TIMEZONE
    # Seconds rather than minutes: revoking a leaked key is urgent; a portal calling at
    # 100 requests a second still reads its key once per 500 requests.
    register_cache_seconds: float = 5.0
    stats_workers: int = 2
    stats_pool: str = "process"
    stats_cache_mb: int = 64
    hash_threads: int = 2
    # Webhooks: one contiguous block (see ``webhook_*`` above and ``webhook_settings``).
    webhook_delivery: bool = True
    webhook_timeout_seconds: float = 10.0
    webhook_backoff_seconds: float = 5.0
    webhook_backoff_max_seconds: float = 3600.0
    webhook_max_attempts: int = 15
    webhook_lease_seconds: float = 60.0
    webhook_poll_seconds: float = 1.0
    webhook_concurrency: int = 16
    read_database_url: str | None = field(default=None, repr=False)
    read_max_lag_s: float = 30.0
    read_check_s: float = 5.0
    metrics_networks: tuple[str, ...] = ()

    @property
    def https(self) -> bool:
        """Served over HTTPS (by its public URL): staff cookies are then marked Secure."""
        return bool(self.public_url and self.public_url.startswith("https://"))

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of setting ``name``, the one place each default is written."""
        return next(f.default for f in fields(cls) if f.name == name)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        var_dir = var_dir_from_env(env)

        def number(variable: str, name: str) -> int:
            return int(env.get(variable, cls.default(name)))

        return cls(
            database_url=database_url_from_env(env),
            secret=env.get("SURVEY_SECRET") or load_or_create_secret(var_dir),
            public_url=env.get("SURVEY_PUBLIC_URL") or None,
            invitation_days=number("SURVEY_INVITATION_DAYS", "invitation_days"),
            questionnaire_dir=data_directories(env)[0],
            locales_dir=data_directories(env)[1],
            timezone=timezone_name(env),
            debug=env.get("SURVEY_DEBUG", "") == "1",
            redis_url=env.get("SURVEY_REDIS_URL") or None,
            citizen_rate_per_minute=number(
                "SURVEY_CITIZEN_RATE_PER_MINUTE", "citizen_rate_per_minute"
            ),
            api_rate_per_second=number("SURVEY_API_RATE_PER_SECOND", "api_rate_per_second"),
            dissatisfied_max=dissatisfied_max(env.get("SURVEY_DISSATISFIED_MAX")),
            rate_limit_exempt=parse_networks(env.get("SURVEY_RATE_LIMIT_EXEMPT", "")),
            rate_limit_namespace=env.get(
                "SURVEY_REDIS_NAMESPACE", cls.default("rate_limit_namespace")
            ),
            register_cache_seconds=max(
                0.0,
                float(
                    env.get("SURVEY_REGISTER_CACHE_SECONDS")
                    or cls.default("register_cache_seconds")
                ),
            ),
            stats_workers=number("SURVEY_STATS_WORKERS", "stats_workers"),
            stats_pool=env.get("SURVEY_STATS_POOL") or cls.default("stats_pool"),
            stats_cache_mb=number("SURVEY_STATS_CACHE_MB", "stats_cache_mb"),
            hash_threads=number("SURVEY_HASH_THREADS", "hash_threads"),
            metrics_networks=named_networks(env, "SURVEY_METRICS_NETWORKS"),
            **webhook_settings(env),
            **read_replica(env, database_url_from_env(env)),
        )


WEBHOOK_NUMBERS = (
    "webhook_timeout_seconds",
    "webhook_backoff_seconds",
    "webhook_backoff_max_seconds",
    "webhook_max_attempts",
    "webhook_lease_seconds",
    "webhook_poll_seconds",
    "webhook_concurrency",
)


def webhook_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``webhook_*`` settings from ``SURVEY_WEBHOOK_*``; ValueError names a bad one."""
    values: dict[str, Any] = {"webhook_delivery": env.get("SURVEY_WEBHOOK_DELIVERY", "1") != "0"}
    for name in WEBHOOK_NUMBERS:
        variable = f"SURVEY_{name.upper()}"
        text = env.get(variable)
        if not text:
            continue
        default = Settings.default(name)
        try:
            value = type(default)(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise ValueError(f"{variable} must be a positive number, not {text!r}")
        values[name] = value
    return values


def read_replica(environ: Mapping[str, str], primary_url: str) -> dict[str, Any]:
    """``SURVEY_READ_DATABASE_URL``, ``SURVEY_READ_MAX_LAG_S`` and ``SURVEY_READ_CHECK_S``.

    A replica is a PostgreSQL standby of a PostgreSQL primary: any other pairing is refused
    here, so the service does not start with reads it would silently never send there.
    """
    url = environ.get("SURVEY_READ_DATABASE_URL") or None
    if url is not None:
        if url.partition("://")[0] not in ("postgresql", "postgres"):
            raise ValueError(
                "SURVEY_READ_DATABASE_URL must be a postgresql://user:pass@host:port/db URL "
                "of a streaming replica"
            )
        if primary_url.partition("://")[0] not in ("postgresql", "postgres"):
            raise ValueError(
                "SURVEY_READ_DATABASE_URL needs a PostgreSQL primary: DATABASE_URL is not "
                "postgresql://... (a SQLite database has no replicas)"
            )

    def seconds(variable: str, name: str) -> float:
        text = environ.get(variable) or str(Settings.default(name))
        try:
            value = float(text)
        except ValueError:
            value = 0.0
        if not value > 0:
            raise ValueError(f"{variable} must be a number of seconds above 0, not {text!r}")
        return value

    return {
        "read_database_url": url,
        "read_max_lag_s": seconds("SURVEY_READ_MAX_LAG_S", "read_max_lag_s"),
        "read_check_s": seconds("SURVEY_READ_CHECK_S", "read_check_s"),
    }


def data_directories(environ: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """``SURVEY_QUESTIONNAIRE_DIR`` and ``SURVEY_LOCALES_DIR``, for commands that only
    handle files (``from_env`` also reads the secret, creating one when none is set)."""
    env = os.environ if environ is None else environ
    return (
        Path(env.get("SURVEY_QUESTIONNAIRE_DIR", Settings.default("questionnaire_dir"))),
        Path(env.get("SURVEY_LOCALES_DIR", Settings.default("locales_dir"))),
    )


def var_dir_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """``SURVEY_VAR_DIR``: where the embedded database and the generated secret live."""
    env = os.environ if environ is None else environ
    return Path(env.get("SURVEY_VAR_DIR", DEFAULT_VAR_DIR))


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``DATABASE_URL``, defaulting to the embedded SQLite file under the var directory."""
    env = os.environ if environ is None else environ
    return env.get("DATABASE_URL") or f"sqlite:///{var_dir_from_env(env) / DATABASE_FILE}"


def private_directory(path: Path) -> Path:
    """Create ``path`` (with any missing parents) as ``PRIVATE_DIR_MODE``, whatever the umask.

    A directory that already exists is left as it is: it may be shared (``/tmp``, a
    mounted volume). ``make_private`` restricts one the service owns, like the var directory.
    """
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
    except FileExistsError:
        return path
    os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is filtered through the umask
    return path


def make_private(path: Path) -> None:
    """Take every group and other permission off ``path``, if it exists.

    Files made by an earlier version (or under a loose umask) are fixed the next time the
    service opens them. Only the owner may change a mode: for anyone else this warns and
    carries on, since refusing to start would not make the file any less readable.
    """
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    except FileNotFoundError:
        return
    except PermissionError as error:
        print(
            f"warning: cannot restrict {path} to its owner ({error}); "
            "other local users may be able to read it",
            file=sys.stderr,
        )


def private_var_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Restrict the var directory to its owner if it exists (commands that open it call this)."""
    var_dir = var_dir_from_env(environ)
    make_private(var_dir)
    return var_dir


def load_or_create_secret(var_dir: Path) -> str:
    """Read the generated secret from ``var_dir``, creating it once if absent.

    The directory is ``PRIVATE_DIR_MODE`` and the file ``PRIVATE_FILE_MODE``, an existing
    one included.
    """
    private_directory(var_dir)
    make_private(var_dir)
    path = var_dir / SECRET_FILE
    if path.exists():
        make_private(path)
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    # O_EXCL: two workers starting together must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), PRIVATE_FILE_MODE)  # whatever the umask
        handle.write(value)
    print(
        f"warning: SURVEY_SECRET is not set; generated one into {path}. "
        "Set SURVEY_SECRET in production and keep it stable.",
        file=sys.stderr,
    )
    return value


def dissatisfied_max(value: str | None) -> int:
    """``SURVEY_DISSATISFIED_MAX``: a rating from 1 to 4 (5 would count everyone)."""
    if value is None or value == "":
        return Settings.default("dissatisfied_max")
    if not value.strip().isdigit() or not 1 <= int(value) <= 4:
        raise ValueError(f"SURVEY_DISSATISFIED_MAX must be a rating from 1 to 4, not {value!r}")
    return int(value)


def timezone_name(environ: Mapping[str, str] | None = None) -> str:
    """``SURVEY_TIMEZONE``: an IANA zone name the zone database knows."""
    env = os.environ if environ is None else environ
    name = env.get("SURVEY_TIMEZONE") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"SURVEY_TIMEZONE must be an IANA time zone such as {DEFAULT_TIMEZONE}, not {name!r}"
        ) from exc
    return name


def local_zone(environ: Mapping[str, str] | None = None) -> ZoneInfo:
    """The zone statistics count days in; read each time, so a test or a rebuild can change it."""
    return ZoneInfo(timezone_name(environ))
