"""The seam between the gateway and an upstream's HTTP: what a transport is asked to send and what it
hands back (a status, headers, a byte stream, a close).

Two transports implement it: aiohttp_transport (HTTP/1.1, the default: the cheapest per call) and
httpx_transport (HTTP/2 for providers that set `http2`, and the media fetcher). Each maps its own
library's failures straight to GatewayErrors (failures.py), so nothing above this seam knows or
catches which library carried a call.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Limits on the phases of one exchange, in seconds; None is no limit."""

    connect: float | None  # opening a connection (TCP and TLS)
    pool: float | None  # waiting for a pooled connection to be free
    read: float | None  # each wait for more of the answer
    write: float | None  # each write of the request


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """One request, ready to go out."""

    method: str
    # Absolute and percent-encoded exactly as it must be sent: Bedrock's SigV4 signature covers
    # the encoded path, so a transport must not re-quote it.
    url: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    timeouts: Timeouts
    # The answer is an event stream, read as it arrives while the caller relays each event.
    streamed: bool = False


class UpstreamResponse(Protocol):
    """An answer whose head has arrived; its body is read with `body()`, once."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Looked up without regard to case."""
        ...

    def body(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives, still content-encoded (close the generator when leaving it
        early). A failure raises a GatewayError, after every byte received before it."""
        ...

    async def close(self) -> None:
        """Done with the answer: a body read to its end leaves the connection for the next call;
        one closed before its end drops it, so the upstream sees the caller go away."""
        ...


class Transport(Protocol):
    """A connection pool that sends requests."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send `request` and wait for the answer's head; a failure raises a GatewayError."""
        ...

    async def aclose(self) -> None:
        """Close every pooled connection."""
        ...
