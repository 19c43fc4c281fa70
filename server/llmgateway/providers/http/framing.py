"""Bounded decoders for the text framings providers stream in: SSE events and NDJSON lines.

Each holds at most one event (or line) being assembled, and fails with UPSTREAM_RESPONSE_TOO_LARGE
once that grows past the provider's `max_stream_event_bytes`; a stream's total length is not capped
(deadlines and stall timeouts bound it). Why not httpx-sse's EventSource or httpx's `aiter_lines`:
both keep a line until its newline arrives, however long it grows, so an upstream that never sends
one (or an event of endless data lines) would grow the gateway's memory without bound. And why the
SSE field rules are written out here (`_SseFields`): httpx-sse keeps its decoder of them in a
private module; they are the WHATWG rules, the same as httpx-sse's, which a test compares against
its public EventSource.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from llmgateway.errors import GatewayError
from llmgateway.providers.errors import response_too_large


def event_too_large(provider: str, what: str, limit: int) -> GatewayError:
    """One stream event (`what`: an SSE event, an NDJSON line, an event-stream frame) grew past the
    provider's max_stream_event_bytes."""
    return response_too_large(provider, what, limit, "max_stream_event_bytes")


Event = TypeVar("Event")


@dataclass(frozen=True, slots=True)
class Framing(Generic[Event]):
    """How a provider's stream is framed: which content type says it is, and how its events are read
    out of the body (`events(chunks, provider, limit)`)."""

    description: str  # for the error when the content type is another: "is not {description}"
    accepts: Callable[[str], bool]  # the answer's content-type header
    events: Callable[[AsyncGenerator[bytes, None], str, int], AsyncIterator[Event]]


class _Lines:
    """Bytes split into lines at CR, LF or CRLF: the SSE rule, which also covers NDJSON's LF and
    CRLF. It works on bytes, so what it holds is measured before any decoding (UTF-8 never puts a
    CR or LF byte inside a character). Per chunk, not per byte: bytes.splitlines breaks at exactly
    these three endings."""

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

    @property
    def idle(self) -> bool:
        """Nothing held: the next chunk starts a line."""
        return not self._pieces and not self._after_cr

    def flush(self) -> list[bytes]:
        """The last line, when the body ended without its line ending."""
        pieces, self._pieces, self.held = self._pieces, [], 0
        return [b"".join(pieces)] if pieces else []


class SseEvent(NamedTuple):
    """One server-sent event: its type ("message" unless named), data lines joined by newlines,
    last event id and retry. A named tuple, not a frozen dataclass: one is made for every token, and
    a frozen dataclass's __init__ sets each field through object.__setattr__."""

    event: str
    data: str
    id: str
    retry: int | None


class _SseFields:
    """The event being assembled from its lines, by the WHATWG event-stream interpretation."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""  # kept across events, as the standard says
        self._retry: int | None = None

    @property
    def idle(self) -> bool:
        """No event being assembled (the last id, which outlives events, aside)."""
        return not self._event and not self._data and self._retry is None

    def whole_events(self, chunk: bytes, limit: int) -> tuple[list[SseEvent], bool]:
        """The events of a chunk that holds only whole events with LF endings (it ends with a blank
        line and has no CR), read while `idle`: the events, and whether the next one is over
        `limit` (those before it are still delivered). The usual chunk is one `data: ...` event,
        which takes a split and a slice here rather than the line-by-line rules (a fifth of the
        HTTP door's bytecodes per relayed token went to them); any other block goes line by line."""
        events: list[SseEvent] = []
        for block in chunk[:-2].split(b"\n\n"):
            if block[:6] == b"data: " and block.find(b"\n") < 0:
                if len(block) >= limit:  # its lines with their endings: len(block) + 1 bytes
                    return events, True
                events.append(SseEvent("message", block[6:].decode("utf-8", "replace"), self._last_id, None))
                continue
            if block[:7] == b"event: ":
                name_end = block.find(b"\n")
                if block[name_end + 1 : name_end + 7] == b"data: " and block.find(b"\n", name_end + 1) < 0:
                    if len(block) >= limit:
                        return events, True
                    name = block[7:name_end].decode("utf-8", "replace") or "message"
                    data = block[name_end + 7 :].decode("utf-8", "replace")
                    events.append(SseEvent(name, data, self._last_id, None))
                    continue
            size = 0
            for line in (*block.split(b"\n"), b""):
                size = size + len(line) + 1 if line else 0
                if size > limit:
                    return events, True
                event = self.line(line.decode("utf-8", "replace"))
                if event is not None:
                    events.append(event)
        return events, False

    def line(self, line: str) -> SseEvent | None:
        """Take one line; a blank line dispatches the event it ends, if it has anything."""
        if not line:
            if not self._event and not self._data and not self._last_id and self._retry is None:
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self._last_id, self._retry)
            self._event, self._data, self._retry = "", [], None
            return event
        if line.startswith(":"):  # a comment
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry":
            with suppress(ValueError):
                self._retry = int(value)
        return None


async def sse_events(
    chunks: AsyncGenerator[bytes, None], provider: str, limit: int
) -> AsyncGenerator[SseEvent, None]:
    """The server-sent events in a body, failing once an event being assembled (its lines since the
    last blank line, endings counted as one byte, plus an unfinished line) passes `limit` bytes.
    `chunks` is closed when this ends, however it ends."""
    lines = _Lines()
    fields = _SseFields()
    event_size = 0
    async with aclosing(chunks):
        async for chunk in chunks:
            # `find`, not `in`: bytes.__contains__ first tries its operand as an integer, and the
            # TypeError it raises and clears costs more than the search.
            if (
                not event_size
                and chunk[-2:] == b"\n\n"
                and lines.idle
                and fields.idle
                and chunk.find(b"\r") < 0
            ):
                whole, too_large = fields.whole_events(chunk, limit)
                for one in whole:
                    yield one
                if too_large:
                    raise event_too_large(provider, "an SSE event", limit)
                continue
            for line in lines.feed(chunk):
                event_size = event_size + len(line) + 1 if line else 0
                if event_size > limit:
                    raise event_too_large(provider, "an SSE event", limit)
                event = fields.line(line.decode("utf-8", "replace"))
                if event is not None:
                    yield event
            if event_size + lines.held > limit:
                raise event_too_large(provider, "an SSE event", limit)
    # An unfinished line at the end is dropped: an event is dispatched only by a blank line.


async def ndjson_lines(
    chunks: AsyncGenerator[bytes, None], provider: str, limit: int
) -> AsyncGenerator[bytes, None]:
    """The lines of a body as bytes (JSON parsers take them undecoded), failing once a line passes
    `limit` bytes. `chunks` is closed when this ends, however it ends."""
    lines = _Lines()
    async with aclosing(chunks):
        async for chunk in chunks:
            for line in lines.feed(chunk):
                if len(line) > limit:
                    raise event_too_large(provider, "an NDJSON line", limit)
                yield line
            if lines.held > limit:
                raise event_too_large(provider, "an NDJSON line", limit)
    for line in lines.flush():
        yield line


SSE: Framing[SseEvent] = Framing(
    "an event stream", lambda content_type: "text/event-stream" in content_type.partition(";")[0], sse_events
)
NDJSON: Framing[bytes] = Framing("NDJSON", lambda content_type: "ndjson" in content_type, ndjson_lines)
