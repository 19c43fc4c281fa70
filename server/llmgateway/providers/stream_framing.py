"""Bounded decoders for the text framings providers stream in: SSE events and NDJSON lines.

Each holds at most one event (or line) being assembled, and fails with UPSTREAM_RESPONSE_TOO_LARGE
once that grows past the provider's `max_stream_event_bytes`; a stream's total length is not capped
(deadlines and stall timeouts bound it). Why not httpx-sse's EventSource or httpx's `aiter_lines`:
both keep a line until its newline arrives, however long it grows, so an upstream that never sends
one (or an event of endless data lines) would grow the gateway's memory without bound. The SSE field
rules stay httpx-sse's (its SSEDecoder); only the line splitting, which has to measure what it
holds, is done here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

import httpx
from httpx_sse import ServerSentEvent, SSEError

# httpx-sse exports only EventSource, whose line splitting cannot be bounded; its decoder of the
# SSE fields (event, data, id, retry, comments) is used as is.
from httpx_sse._decoders import SSEDecoder

from llmgateway.errors import GatewayError
from llmgateway.providers.aiohttp_transport import body_chunks
from llmgateway.providers.upstream_http import response_too_large


def event_too_large(provider: str, what: str, limit: int) -> GatewayError:
    """One stream event (`what`: an SSE event, an NDJSON line, an event-stream frame) grew past the
    provider's max_stream_event_bytes."""
    return response_too_large(provider, what, limit, "max_stream_event_bytes")


class _Lines:
    """Bytes split into lines at CR, LF or CRLF: the SSE rule, which also covers NDJSON's LF and
    CRLF. A twin of httpx-sse's SSELineDecoder that works on bytes, so what it holds is measured
    before any decoding (UTF-8 never puts a CR or LF byte inside a character). Per chunk, not per
    byte: bytes.splitlines breaks at exactly these three endings."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []  # the unfinished line, as it arrived
        self.held = 0  # its length in bytes
        self._after_cr = False  # the last chunk ended in CR: an LF opening the next one completes it

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines `chunk` completes, without their endings; blank lines are empty."""
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        if not chunk:
            self._after_cr = False
            return []
        self._after_cr = chunk[-1] == 0x0D
        lines = chunk.splitlines()
        tail = None if chunk[-1] in (0x0A, 0x0D) else lines.pop()
        if lines and self._pieces:
            self._pieces.append(lines[0])
            lines[0] = b"".join(self._pieces)
            self._pieces, self.held = [], 0
        if tail is not None:
            self._pieces.append(tail)
            self.held += len(tail)
        return lines

    def flush(self) -> list[bytes]:
        """The last line, when the body ended without its line ending."""
        pieces, self._pieces, self.held = self._pieces, [], 0
        return [b"".join(pieces)] if pieces else []


@asynccontextmanager
async def _chunks(response: httpx.Response) -> AsyncGenerator[AsyncIterator[bytes], None]:
    """The decoded body of `response` chunk by chunk, closed when the block ends however it ends:
    a decoder that fails mid-body must not leave the body's generator for the garbage collector to
    finalize in another task."""
    chunks = body_chunks(response)
    try:
        yield chunks
    finally:
        await chunks.aclose()


def _check_event_stream(response: httpx.Response) -> None:
    # The check EventSource makes, with its error, which the adapters report as off-protocol.
    content_type = response.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in content_type:
        raise SSEError(
            f"Expected response header Content-Type to contain 'text/event-stream', got {content_type!r}"
        )


async def sse_events(
    response: httpx.Response, provider: str, limit: int
) -> AsyncGenerator[ServerSentEvent, None]:
    """The server-sent events of `response`, as EventSource.aiter_sse yields them, failing once an
    event being assembled (its lines since the last blank line, endings counted as one byte, plus
    an unfinished line) passes `limit` bytes."""
    _check_event_stream(response)
    lines = _Lines()
    decoder = SSEDecoder()
    event_size = 0
    async with _chunks(response) as chunks:
        async for chunk in chunks:
            for line in lines.feed(chunk):
                event_size = event_size + len(line) + 1 if line else 0
                if event_size > limit:
                    raise event_too_large(provider, "an SSE event", limit)
                event = decoder.decode(line.decode("utf-8", "replace"))
                if event is not None:
                    yield event
            if event_size + lines.held > limit:
                raise event_too_large(provider, "an SSE event", limit)
    # An unfinished line at the end is dropped: an event is dispatched only by a blank line.


async def ndjson_lines(response: httpx.Response, provider: str, limit: int) -> AsyncGenerator[bytes, None]:
    """The lines of `response` as bytes (JSON parsers take them undecoded), failing once a line
    passes `limit` bytes."""
    lines = _Lines()
    async with _chunks(response) as chunks:
        async for chunk in chunks:
            for line in lines.feed(chunk):
                if len(line) > limit:
                    raise event_too_large(provider, "an NDJSON line", limit)
                yield line
            if lines.held > limit:
                raise event_too_large(provider, "an NDJSON line", limit)
    for line in lines.flush():
        yield line
