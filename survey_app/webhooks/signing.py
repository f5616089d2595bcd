"""Standard Webhooks signatures: ``whsec_`` secrets and ``v1,`` HMAC-SHA256 signatures.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``, keyed with the secret's
decoded bytes; the tests check ours with the specification's reference library.

An endpoint's secret is stored sealed: encrypted and authenticated (Fernet: AES-128-CBC
and HMAC-SHA256, from ``cryptography``) under a key derived from the server secret. A copy
of the database alone (a backup, a replica, a read-only account) then cannot sign a
message an agency's system would accept. The server signs, so the secret must come back:
hashing it, as API keys are, is not possible.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED_PREFIX = "sealed:"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class UnsealError(ValueError):
    """A stored secret that this server secret cannot open."""


class Sealer:
    """Seals and opens endpoint secrets with a key derived from the server secret."""

    def __init__(self, server_secret: str) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"survey webhook secrets")
        self._fernet = Fernet(base64.urlsafe_b64encode(hkdf.derive(server_secret.encode())))

    def seal(self, secret: str) -> str:
        return SEALED_PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if stored.startswith(SECRET_PREFIX):  # stored before secrets were sealed
            return stored
        try:
            return self._fernet.decrypt(stored.removeprefix(SEALED_PREFIX).encode()).decode()
        except InvalidToken as error:
            raise UnsealError(
                "the signing secret cannot be opened: SURVEY_SECRET is not the one it was "
                "sealed with (restore the old one, or remove and add the endpoint again)"
            ) from error


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of ``body`` sent as ``msg_id`` at ``timestamp``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, msg_id, timestamp, body),
    }
