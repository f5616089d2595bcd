"""Staff logins throttled per client address and per user name.

After ``MAX_FAILURES`` failed logins within ``WINDOW_S`` from one client
address, or for one user name from anywhere, further attempts are refused
with the seconds left to wait, whatever the password, until the window ends.
Both ``/login`` and piccolo_admin's login (``server.admin``) go through it.

* A user name is counted whether or not such a user exists, and the answer
  (and the work done: ``BaseUser.login`` hashes the password for an unknown
  name too) is the same, so the throttle tells nothing about who exists.
* An attempt is counted before the password is checked and given back only
  when it succeeds, so a burst of simultaneous guesses is counted in full
  rather than all passing a check made before any of them failed. A success
  gives back its own attempt and nothing else: it never resets a counter,
  another address's or its own.
* The counts live in the app's rate-limit store (``server.rate_limits``):
  Redis when ``SURVEY_REDIS_URL`` is set, shared by every worker; else the
  memory of this process. Within a process a lock makes each update atomic;
  across workers an update is a read then a write, so simultaneous attempts
  on several workers may each be missed once (a brake; the request budgets,
  one atomic increment each, are exact). If Redis stops answering, logins
  are not throttled (fail open, with the warning the store logs), and the
  store is not asked again until the rate limits' circuit breaker lets a
  probe through.
* Counters are kept under digests: the store never sees a user name, which
  is sometimes a mistyped password.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import json
import math
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.stores.base import Store
from litestar.types import Scope

from survey_app.lib.i18n import Catalogs
from survey_app.lib.metrics import RATE_LIMIT_REFUSALS

# The name under which the app registers its rate-limit store (``server.rate_limits``).
STORE_NAME = "rate_limit"
MAX_FAILURES = 5
WINDOW_S = 15 * 60
STATE_KEY = "login_throttle"

IPAddress = IPv4Address | IPv6Address


def peer_address(scope: Scope) -> str:
    # uvicorn's proxy_headers replaces the peer with X-Forwarded-For from trusted proxies.
    client = scope.get("client")
    return client[0] if client else "unknown"


def client_address(connection: ASGIConnection) -> str:
    return peer_address(connection.scope)


def client_ip(address: str) -> IPAddress | None:
    """``address`` parsed; an IPv4-mapped IPv6 address (``::ffff:192.0.2.7``, as a dual-stack
    listener reports an IPv4 peer) is the IPv4 address it carries."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


# Cached: the rate limits ask on every request, and parsing costs more than the look-up.
@functools.lru_cache(maxsize=4096)
def address_id(address: str) -> str:
    """Whom a budget belongs to: an IPv4 address (IPv4-mapped or not), or an IPv6 /64 (one
    subscriber's network, within which a device may pick any address)."""
    parsed = client_ip(address)
    if parsed is None:
        return address
    if parsed.version == 6:
        return str(ipaddress.IPv6Network((int(parsed) >> 64 << 64, 64)))
    return str(parsed)


def client_id(connection: ASGIConnection) -> str:
    return address_id(client_address(connection))


def _digest(kind: str, value: str) -> str:
    return f"login:{kind}:" + hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Attempt:
    """The counters one login attempt draws on."""

    address: str
    username: str

    @property
    def keys(self) -> tuple[str, str]:
        # Names differing only in case or surrounding spaces share one counter.
        return _digest("address", self.address), _digest("name", self.username.strip().casefold())


class LoginThrottle:
    """Counts failed logins in ``store`` (see the module's docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = asyncio.Lock()

    async def _read(self, key: str, now: float) -> tuple[int, float]:
        raw = await self.store.get(key)
        if raw is None:
            return 0, now + WINDOW_S
        try:
            count, until = json.loads(raw)
            return int(count), float(until)
        except (ValueError, TypeError):
            return 0, now + WINDOW_S

    async def _write(self, key: str, count: int, until: float, now: float) -> None:
        left = math.ceil(until - now)
        if left > 0:
            await self.store.set(key, json.dumps([count, until]), expires_in=left)

    async def begin(self, attempt: Attempt) -> int | None:
        """Count ``attempt`` and return None, or return the seconds to wait without counting."""
        async with self._lock:
            now = time.time()
            counts = {key: await self._read(key, now) for key in attempt.keys}
            blocked = [until for count, until in counts.values() if count >= MAX_FAILURES]
            if blocked:
                RATE_LIMIT_REFUSALS.labels("login").inc()
                return max(1, math.ceil(max(blocked) - now))
            for key, (count, until) in counts.items():
                await self._write(key, count + 1, until, now)
            return None

    async def succeeded(self, attempt: Attempt) -> None:
        """Give back the attempt ``begin`` counted: it was not a failure."""
        async with self._lock:
            now = time.time()
            for key in attempt.keys:
                count, until = await self._read(key, now)
                if count > 0:
                    await self._write(key, count - 1, until, now)


def login_throttle(app: Litestar) -> LoginThrottle:
    """The app's throttle, on its rate-limit store (one per app: its lock is per event loop)."""
    throttle = app.state.get(STATE_KEY)
    if throttle is None:
        throttle = app.state[STATE_KEY] = LoginThrottle(app.stores.get(STORE_NAME))
    return throttle


def wait_message(catalogs: Catalogs, locale: str, seconds: int) -> str:
    """The message "too many failed logins, wait N minutes" in ``locale``."""
    minutes = max(1, math.ceil(seconds / 60))
    text = catalogs.get(locale).ngettext(
        "Too many failed logins. Please wait %(num)d minute, then try again.",
        "Too many failed logins. Please wait %(num)d minutes, then try again.",
        minutes,
    )
    return text % {"num": minutes}
