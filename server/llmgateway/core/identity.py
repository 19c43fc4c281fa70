"""Who is calling and on what terms, as a front door received it: the one thing about the caller's
transport the core sees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _no_deadline() -> float | None:
    return None


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    """A caller as presented, not yet authenticated.

    `headers` are the request's text headers (gRPC metadata, HTTP headers), names in lower case:
    the credentials (`authorization: Bearer KEY` or `x-api-key: KEY`) and the per-call cache control
    (`x-llmgateway-cache`, `x-llmgateway-cache-ttl`) are read from them. `time_remaining` answers the
    seconds left until the caller's deadline (None: the caller set none); it is asked when the call
    starts and again when it ends, to tell a deadline from a cancellation. Labels travel in the v1
    request; the trace context is the front door's server span, current while the core runs."""

    headers: tuple[tuple[str, str], ...] = ()
    time_remaining: Callable[[], float | None] = _no_deadline
    frontend: str = "grpc"  # the front door it came through: grpc, openai, anthropic
