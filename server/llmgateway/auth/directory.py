"""Keys and tenants made at run time (the AdminService stores them in the database), as the call
path sees them: one immutable snapshot, replaced whole when a replica's sync finds a change.

Readers (the key store, admission) compare the snapshot's revision with the one they last saw and
drop what they cached from it, so a policy change or a revocation reaches the next call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from llmgateway.config import KeyPolicy, TenantSettings


@dataclass(frozen=True)
class StoredKey:
    """A key from the database: its hash (never its secret), tenant, tags and policy."""

    id: str
    hash: str
    tenant: str
    tags: Mapping[str, str]
    policy: KeyPolicy
    # Refused from this moment (epoch seconds); None: not revoked. In the future during a
    # rotation's grace period.
    revoke_at: float | None = None


@dataclass(frozen=True)
class Snapshot:
    """Every stored key and tenant at one revision of the database."""

    revision: int = -1
    keys: Mapping[str, StoredKey] = field(default_factory=dict)
    tenants: Mapping[str, TenantSettings] = field(default_factory=dict)
    disabled_tenants: frozenset[str] = frozenset()


class Directory:
    """The latest snapshot of one process. Swapped by assignment, which is atomic for the event
    loop's readers."""

    def __init__(self) -> None:
        self.current = Snapshot()

    def replace(self, snapshot: Snapshot) -> None:
        self.current = snapshot
