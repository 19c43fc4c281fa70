"""`cache_control` on system blocks, content blocks and tools as v1 cache breakpoints, checked as
the Messages API checks it (type "ephemeral", ttl "5m" or "1h", nothing else)."""

from __future__ import annotations

from google.protobuf import duration_pb2

from llmgateway.frontends.anthropic.errors import invalid
from llmgateway.frontends.anthropic.wire import JsonObject, at, json_object, only_keys
from llmgateway.v1 import content_pb2

_TTL_SECONDS = {"5m": 300, "1h": 3600}


def breakpoint_of(path: str, block: JsonObject) -> content_pb2.CacheBreakpoint | None:
    """The block's cache_control as a breakpoint; None when it has none (or a null one)."""
    value = block.get("cache_control")
    if value is None:
        return None
    where = at(path, "cache_control")
    control = json_object(where, value)
    only_keys(where, control, ("type", "ttl"))
    if control.get("type") != "ephemeral":
        raise invalid(at(where, "type"), "Input should be 'ephemeral'")
    ttl = control.get("ttl")
    if ttl is None:
        return content_pb2.CacheBreakpoint()
    if ttl not in _TTL_SECONDS:
        raise invalid(at(where, "ttl"), "Input should be '5m' or '1h'")
    return content_pb2.CacheBreakpoint(ttl=duration_pb2.Duration(seconds=_TTL_SECONDS[ttl]))


def marked(part: content_pb2.Part, path: str, block: JsonObject) -> content_pb2.Part:
    """`part` with the breakpoint its block's cache_control asks for."""
    point = breakpoint_of(path, block)
    if point is not None:
        part.cache_breakpoint.CopyFrom(point)
    return part
