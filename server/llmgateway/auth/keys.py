"""Gateway API keys: made once, stored only as an id and a salted hash, checked in constant time.

A key looks like `llmgw-<id>-<secret>`: the id (8 hex characters) finds the stored entry without
scanning, the secret (32 random bytes) is checked against `sha256$<salt>$<digest>`. A plain salted
SHA-256 is enough here, unlike for passwords: the secret has 256 bits of entropy, so there is
nothing to brute-force, and a slow KDF would add milliseconds to every call.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from llmgateway.config import ApiKeySettings, KeyPolicy

_KEY = re.compile(r"^llmgw-([a-z0-9]{8,32})-([A-Za-z0-9_-]{20,128})$")
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its key id, tenant and policy."""

    key_id: str
    tenant: str
    policy: KeyPolicy


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("ascii")).hexdigest()


def hash_secret(secret: str, salt: str | None = None) -> str:
    """The stored form of a key's secret."""
    salt = salt or secrets.token_hex(16)
    return f"sha256${salt}${_digest(salt, secret)}"


def new_key() -> tuple[str, str, str]:
    """(key, id, stored hash) of a fresh key; the key itself is shown once and never stored."""
    key_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    return f"llmgw-{key_id}-{secret}", key_id, hash_secret(secret)


class KeyStore:
    """Looks keys up by id and verifies their secret."""

    def __init__(self, keys: list[ApiKeySettings]) -> None:
        self._by_id = {key.id: key for key in keys}
        # A decoy entry makes unknown ids cost the same hashing work as known ones.
        self._decoy = hash_secret("decoy")
        # Keys already verified, so each call does not hash again. Only valid keys enter, at most
        # one per configured key, and the store (with this) is replaced when a reload revokes one.
        # The dict compares a presented key with `==` only after its (randomised) hash matched,
        # which tells an attacker nothing about a key they do not already have.
        self._verified: dict[str, Principal] = {}

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else."""
        known = self._verified.get(presented)
        if known is not None:
            return known
        if len(presented) > MAX_KEY_LENGTH:
            return None
        match = _KEY.match(presented)
        if match is None:
            return None
        key_id, secret = match.groups()
        entry = self._by_id.get(key_id)
        _, salt, expected = (entry.hash if entry else self._decoy).split("$")
        valid = hmac.compare_digest(_digest(salt, secret), expected)
        if entry is None or not valid or entry.revoked:
            return None
        principal = Principal(key_id=entry.id, tenant=entry.tenant, policy=entry.policy)
        self._verified[presented] = principal
        return principal
