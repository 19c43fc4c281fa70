"""The SERVER span of each HTTP request: it continues the caller's trace context (W3C traceparent,
or whatever OTEL_PROPAGATORS configures) and carries OpenTelemetry's HTTP semantic conventions. The
core's spans (an attempt per deployment) and its access-log line run inside it.

Hand-written, like the gRPC door's span (frontends/grpc/server_span.py), rather than
opentelemetry-instrumentation-aiohttp-server: one wrapper the server already runs, attributes set
only on spans that record."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web
from opentelemetry import context as context_api
from opentelemetry import propagate, trace
from opentelemetry.semconv.attributes import (
    client_attributes,
    http_attributes,
    server_attributes,
    url_attributes,
    user_agent_attributes,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode


class HttpServerSpan:
    """One request's span; `finished(status)` records the response status."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def finished(self, status: int) -> None:
        span = self.span
        if span.is_recording():
            span.set_attribute(http_attributes.HTTP_RESPONSE_STATUS_CODE, status)
            if status >= 500:  # 4xx are the caller's, not the server's (the conventions' rule)
                span.set_status(Status(StatusCode.ERROR))


@contextmanager
def http_server_span(tracer: trace.Tracer, request: web.Request) -> Iterator[HttpServerSpan]:
    """The span of `request`, current while it is handled."""
    parent = propagate.extract(request.headers)
    route = request.match_info.route.resource
    template = route.canonical if route is not None else ""
    name = f"{request.method} {template}" if template else request.method
    span = tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
    if span.is_recording():
        span.set_attributes(_attributes(request, template))
    token = context_api.attach(trace.set_span_in_context(span, parent))
    try:
        yield HttpServerSpan(span)
    except BaseException as error:
        if span.is_recording() and not isinstance(error, web.HTTPException):
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        raise
    finally:
        span.end()
        context_api.detach(token)


def _attributes(request: web.Request, template: str) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        http_attributes.HTTP_REQUEST_METHOD: request.method,
        url_attributes.URL_PATH: request.path,
        url_attributes.URL_SCHEME: request.scheme,
    }
    if template:
        attributes[http_attributes.HTTP_ROUTE] = template
    host = request.url.host
    if host:
        attributes[server_attributes.SERVER_ADDRESS] = host
    if request.url.port is not None:
        attributes[server_attributes.SERVER_PORT] = request.url.port
    if request.remote:
        attributes[client_attributes.CLIENT_ADDRESS] = request.remote
    user_agent = request.headers.get("user-agent")
    if user_agent:
        attributes[user_agent_attributes.USER_AGENT_ORIGINAL] = user_agent
    return attributes
