"""Prompt-cache breakpoints (v1 `CacheBreakpoint` on messages, parts and tools) as the providers
that cache on request take them (Anthropic `cache_control`, Bedrock `cachePoint`), and the prompt
cache key the contract does not carry yet.

Providers that cache on their own (OpenAI, Azure, Gemini, vLLM, Together, Ollama) ignore
breakpoints: they do not change the answer, only what the prompt costs.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf import duration_pb2

from llmgateway.errors import FieldViolation, GatewayError, invalid_argument
from llmgateway.v1 import chat_pb2, content_pb2

# The two lifetimes Anthropic and Bedrock take, by their wire names.
FIVE_MINUTES = "5m"
ONE_HOUR = "1h"
_TTLS = {300: FIVE_MINUTES, 3600: ONE_HOUR}
# Anthropic (and Claude on Bedrock) refuse a request with more marked blocks than this.
MAX_BREAKPOINTS = 4
# GenerationConfig has no prompt_cache_key yet (the "Issue 21 contract" commit names it, the proto
# lacks it), so callers pass OpenAI's prompt_cache_key as this request label until it does.


# What can carry a breakpoint.
Marked = content_pb2.Message | content_pb2.Part | content_pb2.Tool


def breakpoint_ttl(marked: Marked) -> str | None:
    """None when `marked` is no breakpoint; else the lifetime it asks for: "" (the provider's
    default), "5m" or "1h". Validation has refused every other lifetime before a provider sees it."""
    if not marked.HasField("cache_breakpoint"):
        return None
    point = marked.cache_breakpoint
    if not point.HasField("ttl"):
        return ""
    return _TTLS.get(point.ttl.seconds, "") if point.ttl.nanos == 0 else ""


def longer_ttl(first: str, second: str) -> str:
    """The longer of two lifetimes (for two breakpoints that land on one wire block)."""
    return ONE_HOUR if ONE_HOUR in (first, second) else first or second


def asks_long_cache(request: chat_pb2.ChatRequest) -> bool:
    """Whether any breakpoint asks for the 1-hour lifetime: its writes are dearer (pricing)."""
    marked: list[Marked] = [*request.tools, *request.messages]
    marked.extend(part for message in request.messages for part in message.parts)
    return any(breakpoint_ttl(item) == ONE_HOUR for item in marked)


def prompt_cache_key(request: chat_pb2.ChatRequest) -> str:
    """The caller's prompt cache key (OpenAI's `prompt_cache_key`), or ""."""
    return request.generation_config.prompt_cache_key


def _ttl_violation(path: str, ttl: duration_pb2.Duration) -> Iterator[FieldViolation]:
    if ttl.nanos or ttl.seconds not in _TTLS:
        yield FieldViolation(
            f"{path}.cache_breakpoint.ttl", "must be unset, 300s (5 minutes) or 3600s (1 hour)"
        )


def violations(request: chat_pb2.ChatRequest) -> Iterator[FieldViolation]:
    """Breakpoint lifetimes no provider takes (edge validation: refused before routing)."""
    for index, tool in enumerate(request.tools):
        if tool.cache_breakpoint.HasField("ttl"):
            yield from _ttl_violation(f"tools[{index}]", tool.cache_breakpoint.ttl)
    for index, message in enumerate(request.messages):
        if message.cache_breakpoint.HasField("ttl"):
            yield from _ttl_violation(f"messages[{index}]", message.cache_breakpoint.ttl)
        for part_index, part in enumerate(message.parts):
            if part.cache_breakpoint.HasField("ttl"):
                yield from _ttl_violation(f"messages[{index}].parts[{part_index}]", part.cache_breakpoint.ttl)


def too_many(provider: str, found: int) -> GatewayError:
    """More marked blocks than the provider takes: the caller's to fix, refused before the call."""
    return invalid_argument(
        [
            FieldViolation(
                "cache_breakpoint",
                f"provider {provider!r} takes at most {MAX_BREAKPOINTS} cache breakpoints per request; "
                f"this one has {found}",
            )
        ]
    )


def misordered(provider: str) -> GatewayError:
    """A 1-hour breakpoint after a shorter one: Anthropic refuses it (longer lifetimes come first,
    in the order tools, system, messages)."""
    return invalid_argument(
        [
            FieldViolation(
                "cache_breakpoint",
                f"provider {provider!r} needs 1-hour cache breakpoints before 5-minute ones "
                "(in the order tools, system messages, other messages)",
            )
        ]
    )
