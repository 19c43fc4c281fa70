"""The AWS event-stream framing of a Converse stream, decoded by botocore."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import cast

from botocore.eventstream import EventStreamBuffer, EventStreamMessage, MessagePrelude, ParserError

from llmgateway.providers.errors import malformed_response
from llmgateway.providers.http.framing import Framing, event_too_large

EVENT_STREAM = "application/vnd.amazon.eventstream"


async def event_stream_frames(
    chunks: AsyncGenerator[bytes, None], provider: str, limit: int
) -> AsyncGenerator[EventStreamMessage, None]:
    """The event-stream frames of a body, failing once a frame being assembled passes `limit`
    bytes. botocore's buffer has no cap of its own below 24 MiB of payload, so the bytes it holds
    (received, not yet decoded into frames) are counted here."""
    buffer = EventStreamBuffer()
    held = 0
    try:
        async with aclosing(chunks):
            async for chunk in chunks:
                buffer.add_data(chunk)
                held += len(chunk)
                for message in buffer:
                    # botocore-stubs types `prelude` as int; it is the frame's MessagePrelude.
                    size = cast(MessagePrelude, message.prelude).total_length
                    if size > limit:
                        raise event_too_large(provider, "an event-stream frame", limit)
                    held -= size
                    yield message
                if held > limit:
                    raise event_too_large(provider, "an event-stream frame", limit)
    except ParserError as error:
        raise malformed_response(
            provider, f"undecodable event-stream frame ({type(error).__name__})"
        ) from None


EVENT_STREAM_FRAMING: Framing[EventStreamMessage] = Framing(
    "an event stream", lambda content_type: content_type.startswith(EVENT_STREAM), event_stream_frames
)
