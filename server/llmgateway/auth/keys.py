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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from llmgateway.auth.directory import Directory
from llmgateway.config import ApiKeySettings, KeyPolicy

_KEY = re.compile(r"^llmgw-([a-z0-9]{8,32})-([A-Za-z0-9_-]{20,128})$")
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its key id, tenant and policy."""

    key_id: str
    tenant: str
    policy: KeyPolicy
    # A stored key's tags (cost centres): they ride with the call's labels into the ledger.
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Entry:
    """What checking a presented key needs, whichever source the key comes from."""

    hash: str
    principal: Principal
    revoke_at: float | None  # epoch seconds; None: not revoked


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
    """Looks keys up by id (the config's, then the database's) and verifies their secret."""

    def __init__(
        self,
        keys: list[ApiKeySettings],
        directory: Directory | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._by_id = {key.id: key for key in keys}
        self._directory = directory
        self._wall = wall
        # A decoy entry makes unknown ids cost the same hashing work as known ones.
        self._decoy = hash_secret("decoy")
        # Keys already verified, so each call does not hash again. Only valid, usable keys enter
        # (refusals are hashed again each time), and the cache is dropped when the store is replaced (a reload) or the database's keys change
        # (their revision), so a revocation reaches the next call. The dict compares a presented
        # key with `==` only after its (randomised) hash matched, which tells an attacker nothing
        # about a key they do not already have.
        self._verified: dict[str, _Entry] = {}
        self._revision = -1

    def _entry(self, key_id: str) -> _Entry | None:
        configured = self._by_id.get(key_id)
        if configured is not None:
            principal = Principal(key_id=configured.id, tenant=configured.tenant, policy=configured.policy)
            return _Entry(configured.hash, principal, 0.0 if configured.revoked else None)
        if self._directory is None:
            return None
        snapshot = self._directory.current
        stored = snapshot.keys.get(key_id)
        if stored is None:
            return None
        principal = Principal(key_id=stored.id, tenant=stored.tenant, policy=stored.policy, tags=stored.tags)
        # A disabled tenant's keys are refused like revoked ones.
        revoke_at = 0.0 if stored.tenant in snapshot.disabled_tenants else stored.revoke_at
        return _Entry(stored.hash, principal, revoke_at)

    def _usable(self, entry: _Entry) -> bool:
        return entry.revoke_at is None or self._wall() < entry.revoke_at

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else."""
        if self._directory is not None and self._directory.current.revision != self._revision:
            self._verified.clear()
            self._revision = self._directory.current.revision
        known = self._verified.get(presented)
        if known is not None:
            return known.principal if self._usable(known) else None
        if len(presented) > MAX_KEY_LENGTH:
            return None
        match = _KEY.match(presented)
        if match is None:
            return None
        key_id, secret = match.groups()
        entry = self._entry(key_id)
        _, salt, expected = (entry.hash if entry else self._decoy).split("$")
        valid = hmac.compare_digest(_digest(salt, secret), expected)
        if entry is None or not valid or not self._usable(entry):
            return None
        self._verified[presented] = entry
        return entry.principal


def matching_id(presented: str, hashes: Mapping[str, str]) -> str | None:
    """The id of `presented` when it is a well-formed key whose secret matches the hash stored
    under its id (admin keys: a handful, checked on admin calls only, so no cache)."""
    match = _KEY.match(presented) if len(presented) <= MAX_KEY_LENGTH else None
    if match is None:
        return None
    key_id, secret = match.groups()
    stored = hashes.get(key_id)
    # An unknown id costs the same hashing as a known one.
    _, salt, expected = (stored or hash_secret("decoy")).split("$")
    valid = hmac.compare_digest(_digest(salt, secret), expected)
    return key_id if valid and stored is not None else None
