"""One aiohttp web server per gateway process, beside the gRPC server, for the HTTP front doors.

aiohttp's server, not a second framework: it is already a dependency (the upstream transport), it
streams responses as they are written (SSE) and serves each keep-alive connection from one
event-loop task with no thread hop. The doors add their routes; this module owns what every route
shares: the listener (SO_REUSEPORT, like gRPC, so worker processes share the port), the body size
limit, `x-request-id` in and out, the W3C trace context in and the server span, and a graceful stop.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry import trace

from llmgateway.config import split_host_port
from llmgateway.frontends.http.server_span import http_server_span

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID = web.RequestKey("request_id", str)  # where a handler finds the call's request id
_MAX_REQUEST_ID = 128
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# JSON carries what protobuf sends as bytes (images) in base64, a third larger; the rest is room for
# the JSON syntax around it. Requests within limits.max_request_bytes once translated still pass.
_JSON_HEADROOM_BYTES = 1024 * 1024


def http_body_limit(max_request_bytes: int) -> int:
    """The largest HTTP body read, for requests of at most `max_request_bytes` as v1 messages; a
    larger body is refused before it is read whole (413 in the door's error shape)."""
    return max_request_bytes * 4 // 3 + _JSON_HEADROOM_BYTES


def _request_id(request: web.Request) -> str:
    """The caller's `x-request-id` when it is a sane token, else a fresh one."""
    given = request.headers.get(REQUEST_ID_HEADER, "").strip()
    if given and len(given) <= _MAX_REQUEST_ID and given.isprintable():
        return given
    return uuid.uuid4().hex


def _around_every_request(tracer: trace.Tracer, untraced_paths: Collection[str]) -> Middleware:
    untraced = trace.NoOpTracer()

    @web.middleware
    async def around(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = _request_id(request)
        request[REQUEST_ID] = request_id
        with http_server_span(untraced if request.path in untraced_paths else tracer, request) as span:
            try:
                response = await handler(request)
            except web.HTTPException as refused:  # aiohttp's own: 404, 405, 413 ...
                refused.headers[REQUEST_ID_HEADER] = request_id
                span.finished(refused.status)
                raise
            span.finished(response.status)
        if not response.prepared:  # a stream has sent its headers already (it set the id itself)
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    return around


class HttpServer:
    """The HTTP listener: `start` binds and serves `routes`; `stop` stops accepting, lets requests in
    flight finish for up to the grace given to `start`, then closes what is left."""

    def __init__(
        self,
        routes: Iterable[web.AbstractRouteDef],
        *,
        tracer: trace.Tracer,
        max_body_bytes: int,
        untraced_paths: Collection[str] = (),
    ) -> None:
        app = web.Application(
            middlewares=[_around_every_request(tracer, frozenset(untraced_paths))],
            client_max_size=max_body_bytes,
        )
        app.add_routes(list(routes))
        self._app = app
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, listen: str, *, grace_s: float) -> None:
        host, port = split_host_port(listen)
        # The access log is the core's (one line per call, with usage and cost, redacted); aiohttp's
        # own line per request would be a second one. A caller that disconnects cancels its handler,
        # so the upstream call is closed as it is on gRPC (aiohttp leaves handlers running by default).
        runner = web.AppRunner(
            self._app, access_log=None, shutdown_timeout=grace_s, handler_cancellation=True
        )
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, host, port, reuse_port=True).start()
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
