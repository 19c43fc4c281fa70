"""v1 cache breakpoints as Converse `cachePoint` blocks, placed right after the marked system
block, content block or tool; and the API's limit on them, checked before the call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmgateway.providers.cache_breakpoints import (
    MAX_BREAKPOINTS,
    Marked,
    breakpoint_ttl,
    longer_ttl,
    too_many,
)

Block = dict[str, Any]


def _point(ttl: str) -> Block:
    return {"cachePoint": {"type": "default", **({"ttl": ttl} if ttl else {})}}


def _append(blocks: list[Block], ttl: str) -> None:
    if blocks and "cachePoint" in blocks[-1]:
        # Two breakpoints at one place (a message and its last part) are one cache point.
        held = blocks[-1]["cachePoint"].get("ttl", "")
        blocks[-1] = _point(longer_ttl(held, ttl))
    elif blocks:
        blocks.append(_point(ttl))


def mark_after(blocks: list[Block], marked: Marked) -> None:
    """A cache point after the last block of `blocks` when `marked` is a breakpoint; nothing when
    there is no block before it to cache."""
    ttl = breakpoint_ttl(marked)
    if ttl is not None:
        _append(blocks, ttl)


def tools_with_points(marked: Sequence[Marked], tools: list[Block]) -> list[Block]:
    """The tool list with a cache point after each marked tool."""
    out: list[Block] = []
    for item, tool in zip(marked, tools, strict=True):
        out.append(tool)
        mark_after(out, item)
    return out


def _lists(body: Block) -> list[list[Block]]:
    """The block lists a cache point can be in: system, tools, each message's content."""
    lists = [body.get("system", []), body.get("toolConfig", {}).get("tools", [])]
    return lists + [message["content"] for message in body["messages"]]


def check_count(provider: str, body: Block) -> None:
    """Refuse with INVALID_ARGUMENT more cache points than Converse takes."""
    found = sum("cachePoint" in block for blocks in _lists(body) for block in blocks)
    if found > MAX_BREAKPOINTS:
        raise too_many(provider, found)


def strip_points(body: Block) -> None:
    """Take the cache points out, for a model without prompt caching, which refuses them: a
    breakpoint does not change the answer, so it is ignored there as on providers that cache on
    their own."""
    for blocks in _lists(body):
        blocks[:] = [block for block in blocks if "cachePoint" not in block]
