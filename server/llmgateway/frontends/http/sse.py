"""Server-sent events out (the HTTP doors' streams): a response opened with the event-stream headers,
then one event per write, each flushed as it is written."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from llmgateway.frontends.http.server import REQUEST_ID, REQUEST_ID_HEADER


async def open_event_stream(
    request: web.Request, headers: Iterable[tuple[str, str]] = ()
) -> web.StreamResponse:
    """A 200 `text/event-stream` response, its headers sent (with the request id and `headers`)."""
    response = web.StreamResponse(
        headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            REQUEST_ID_HEADER: request[REQUEST_ID],
        }
    )
    for name, value in headers:
        response.headers[name] = value
    await response.prepare(request)
    return response


async def send_event(response: web.StreamResponse, data: bytes, event: str | None = None) -> None:
    """One event: `event: NAME` when named, then `data: ...` (data must hold no newline: JSON
    serialised compactly never does)."""
    head = b"event: " + event.encode() + b"\ndata: " if event else b"data: "
    await response.write(head + data + b"\n\n")
