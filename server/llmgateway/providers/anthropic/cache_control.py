"""v1 cache breakpoints as Anthropic `cache_control` on the marked tool, system block or content
block; the checks the API makes on them, made before the call."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from llmgateway.providers.cache_breakpoints import (
    MAX_BREAKPOINTS,
    ONE_HOUR,
    Marked,
    breakpoint_ttl,
    longer_ttl,
    misordered,
    too_many,
)

Block = dict[str, Any]
# The API refuses cache_control on thinking blocks (they are cached with the turn around them).
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})


def _mark(block: Block, ttl: str) -> None:
    held = block.get("cache_control")
    if held is not None:
        ttl = longer_ttl(held.get("ttl", ""), ttl)
    block["cache_control"] = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}


def mark_last_block(blocks: list[Block], marked: Marked) -> None:
    """Put `marked`'s breakpoint, if it has one, on the last block of `blocks` that can carry it:
    the prompt up to there is what the caller asked to cache (a part that made no block of its own
    marks the end of what came before it)."""
    ttl = breakpoint_ttl(marked)
    if ttl is None:
        return
    for block in reversed(blocks):
        if block.get("type") not in _UNMARKABLE:
            _mark(block, ttl)
            return


def mark_each_block(marked: Sequence[Marked], blocks: list[Block]) -> None:
    """Marks for blocks made one from each of `marked`, in order."""
    for item, block in zip(marked, blocks, strict=True):
        ttl = breakpoint_ttl(item)
        if ttl is not None:
            _mark(block, ttl)


def _controls(body: Block) -> Iterator[Block]:
    """Every cache_control in the order the API reads the prompt: tools, system, messages."""
    for tool in body.get("tools", []):
        if "cache_control" in tool:
            yield tool["cache_control"]
    for block in body.get("system", []):
        if "cache_control" in block:
            yield block["cache_control"]
    for message in body["messages"]:
        for block in message["content"]:
            if "cache_control" in block:
                yield block["cache_control"]
            inner = block.get("content") if block.get("type") == "tool_result" else None
            if isinstance(inner, list):
                yield from (item["cache_control"] for item in inner if "cache_control" in item)


def check_marks(provider: str, body: Block) -> None:
    """Refuse with INVALID_ARGUMENT what the API would answer 400 to: more than four marked blocks,
    or a 1-hour mark after a 5-minute one."""
    controls = list(_controls(body))
    if len(controls) > MAX_BREAKPOINTS:
        raise too_many(provider, len(controls))
    shorter_seen = False
    for control in controls:
        if control.get("ttl") == ONE_HOUR and shorter_seen:
            raise misordered(provider)
        shorter_seen = shorter_seen or control.get("ttl") != ONE_HOUR
