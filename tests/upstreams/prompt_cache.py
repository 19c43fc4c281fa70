"""Provider prompt caches as the simulators keep them: prompt prefixes by hash, each with a lifetime.

Two kinds, as the real APIs have them:
- on request (Anthropic `cache_control`, Bedrock `cachePoint`): the prefix up to each marked block
  is written when it is long enough for the model (a shorter one is simply not cached), and read
  back, its lifetime renewed, by a later request with the same prefix within that lifetime;
- automatic (OpenAI, Azure): every prompt of at least 1,024 tokens is cached in 128-token steps,
  and a later prompt reads the longest cached prefix it shares.

"Tokens" are the simulators' own: whitespace-separated words.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

LIFETIMES_S = {"5m": 300.0, "1h": 3600.0}
AUTOMATIC_MINIMUM = 1024
AUTOMATIC_STEP = 128
# OpenAI keeps an idle prefix 5 to 10 minutes.
_AUTOMATIC_LIFETIME_S = 600.0


@dataclass(frozen=True)
class Piece:
    """One block of a prompt, in the order the provider reads it; `ttl` is set ("5m" or "1h") when a
    cache breakpoint follows the block."""

    canonical: str
    tokens: int
    ttl: str | None = None


@dataclass(frozen=True)
class CacheUse:
    """What one request read from and wrote to the cache, in tokens."""

    read: int = 0
    written_5m: int = 0
    written_1h: int = 0

    @property
    def written(self) -> int:
        return self.written_5m + self.written_1h


def _chained(key: str, text: str) -> str:
    return hashlib.sha256(f"{key}\x00{text}".encode()).hexdigest()


class PromptCache:
    """One provider account's prompt cache."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def clear(self) -> None:
        self._expiry.clear()

    def _live(self, key: str, now: float) -> bool:
        return self._expiry.get(key, 0.0) > now

    def on_request(self, scope: str, pieces: Sequence[Piece], minimum: int) -> CacheUse:
        """Read the longest marked prefix in the cache, write the longer marked prefixes that reach
        `minimum` tokens. Writes are counted per lifetime of the breakpoint that ends them."""
        now = self._clock()
        key, total = _chained("", scope), 0
        points: list[tuple[str, int, str]] = []
        for piece in pieces:
            key, total = _chained(key, piece.canonical), total + piece.tokens
            if piece.ttl is not None:
                points.append((key, total, piece.ttl))
        read, first_unread = 0, 0
        for index, (point, tokens, ttl) in enumerate(points):
            if self._live(point, now):
                read, first_unread = tokens, index + 1
                self._expiry[point] = now + LIFETIMES_S[ttl]
        written = {"5m": 0, "1h": 0}
        covered = read
        for point, tokens, ttl in points[first_unread:]:
            if tokens < minimum or tokens <= covered:
                continue
            self._expiry[point] = now + LIFETIMES_S[ttl]
            written[ttl] += tokens - covered
            covered = tokens
        return CacheUse(read=read, written_5m=written["5m"], written_1h=written["1h"])

    def automatic(
        self, scope: str, tokens: Sequence[str], minimum: int = AUTOMATIC_MINIMUM, step: int = AUTOMATIC_STEP
    ) -> int:
        """Tokens read from the cache; the prompt's own prefixes are cached for the next request."""
        now = self._clock()
        key = _chained("", scope)
        cached = 0
        for end in range(step, len(tokens) + 1, step):
            key = _chained(key, " ".join(tokens[end - step : end]))
            if end < minimum:
                continue
            if self._live(key, now):
                cached = end
            self._expiry[key] = now + _AUTOMATIC_LIFETIME_S
        return cached
