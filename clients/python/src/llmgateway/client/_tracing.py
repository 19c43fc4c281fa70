"""Optional OpenTelemetry tracing of the client's calls (the `tracing` extra).

With it, each call is a CLIENT span in the caller's current trace and carries that trace's context
(W3C traceparent by default) to the gateway, whose server span then continues it: a request is one
trace from the calling service through the gateway to the provider. The spans and the propagation
are opentelemetry-instrumentation-grpc's client interceptors; this module only plugs them in.
"""

from __future__ import annotations

from typing import Any

import grpc

Tracing = Any  # False, True (the global tracer provider) or an opentelemetry TracerProvider


def _instrumentation() -> Any:
    try:
        # Imported on first use: the extra is optional, and a client without tracing never needs it.
        from opentelemetry.instrumentation import grpc as instrumentation  # noqa: PLC0415
    except ImportError as missing:
        raise ImportError(
            "tracing needs OpenTelemetry's gRPC instrumentation: pip install 'llmgateway-client[tracing]'"
        ) from missing
    return instrumentation


def _provider(tracing: Tracing) -> Any:
    return None if tracing is True else tracing


def traced_channel(channel: grpc.Channel, tracing: Tracing) -> grpc.Channel:
    """The blocking channel, intercepted when tracing is on (the package's blocking interceptor has
    its own intercept_channel: grpc.intercept_channel refuses it)."""
    if tracing is False or tracing is None:
        return channel
    instrumentation = _instrumentation()
    interceptor = instrumentation.client_interceptor(tracer_provider=_provider(tracing))
    traced: grpc.Channel = instrumentation.grpcext.intercept_channel(channel, interceptor)
    return traced


def aio_interceptors(tracing: Tracing) -> list[Any]:
    """Interceptors for a grpc.aio channel (none when tracing is off)."""
    if tracing is False or tracing is None:
        return []
    return list(_instrumentation().aio_client_interceptors(tracer_provider=_provider(tracing)))
