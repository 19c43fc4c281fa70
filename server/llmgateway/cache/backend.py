"""The storage interface behind the response cache: opaque bytes under a key, each with its own TTL."""

from __future__ import annotations

from typing import Protocol


class CacheBackend(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The stored value, or None when absent or expired."""

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store `value` for `ttl_s` seconds (nothing is stored when ttl_s <= 0)."""
