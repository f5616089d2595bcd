"""API keys: random, shown once, stored as SHA-256, looked up by that hash; and the
``Authorization: Bearer <key>`` header that carries them.

A key carries 256 random bits, so a plain (unsalted) SHA-256 is enough to
make the stored value useless to a thief, and looking the key up by its hash
leaks nothing through timing about any other key.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from survey_app.db.register_cache import register_of
from survey_app.db.tables import ApiKey, Role

KEY_PREFIX = "svk_"
SHOWN_PREFIX_LEN = 12
MAX_KEY_LENGTH = 128


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None without one."""
    scheme, _, key = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def bearer_in_scope(scope: Mapping[str, Any]) -> str | None:
    """``bearer_token`` read from the ASGI scope's raw headers: a hot path's guard, handler
    and rate limit each ask, and a headers object costs ~10 µs to build each time."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bearer_token({"authorization": value.decode("latin-1")})
    return None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyHolder:
    """Who a valid key speaks for."""

    key_id: int
    role: Role
    agency_id: int | None
    agency_code: str | None


async def create(role: Role, agency_id: int | None, label: str = "") -> str:
    """Store a new key and return it; this is the only time it is visible."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    await ApiKey.insert(
        ApiKey(
            key_hash=hash_key(key),
            prefix=key[:SHOWN_PREFIX_LEN],
            role=role.value,
            agency=agency_id,
            label=label,
        )
    )
    return key


def plausible_key(key: str) -> bool:
    """Could ``key`` be one of ours? Anything else is refused without a look-up."""
    return key.startswith(KEY_PREFIX) and len(key) <= MAX_KEY_LENGTH


async def authenticate(key: str) -> KeyHolder | None:
    """The holder of ``key`` if it is known and not revoked.

    Holders are cached for the register's bound (``register_cache_seconds``); unknown keys
    are not, so random keys cost a look-up each (the rate limiter bounds them) but no memory.
    """
    if not plausible_key(key):
        return None
    digest = hash_key(key)
    return await register_of(ApiKey).get(
        "keys", digest, lambda: _holder_of(digest), keep_none=False
    )


async def _holder_of(digest: str) -> KeyHolder | None:
    row = (
        await ApiKey.select(
            ApiKey.id,
            ApiKey.role,
            ApiKey.agency.id.as_alias("agency_id"),
            ApiKey.agency.code.as_alias("agency_code"),
        )
        .where((ApiKey.key_hash == digest) & (ApiKey.revoked.eq(False)))
        .first()
    )
    if row is None:
        return None
    return KeyHolder(
        key_id=row["id"],
        role=Role(row["role"]),
        agency_id=row["agency_id"],
        agency_code=row["agency_code"],
    )


async def revoke(key_or_prefix: str) -> str:
    """Revoke the one unrevoked key that is ``key_or_prefix`` (the whole key) or starts with
    it (the prefix shown when listing keys, at least ``SHOWN_PREFIX_LEN`` characters);
    returns its prefix. ValueError when no key or several keys match."""
    if len(key_or_prefix) > SHOWN_PREFIX_LEN:
        where = ApiKey.key_hash == hash_key(key_or_prefix)
    elif len(key_or_prefix) == SHOWN_PREFIX_LEN:
        where = ApiKey.prefix == key_or_prefix
    else:
        raise ValueError(f"give the whole key or its first {SHOWN_PREFIX_LEN} characters")
    rows = await ApiKey.select(ApiKey.id, ApiKey.prefix).where(where & ApiKey.revoked.eq(False))
    if len(rows) != 1:
        found = "no unrevoked key" if not rows else f"{len(rows)} keys"
        raise ValueError(f"{found} match {key_or_prefix[:SHOWN_PREFIX_LEN]!r}")
    await ApiKey.update({ApiKey.revoked: True}).where(ApiKey.id == rows[0]["id"])
    return rows[0]["prefix"]
