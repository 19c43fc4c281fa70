"""Turn GatewayErrors raised anywhere below into rich gRPC statuses (code, message, ErrorInfo always,
plus RetryInfo / BadRequest / ResourceInfo / QuotaFailure / StreamInterruption where they apply),
in exactly one place for the gRPC front door.

Any other exception is a gateway bug (errors.as_gateway_error): logged with an error id, the caller
gets INTERNAL with a masked message carrying that id, never the exception text. A request that does not even
parse (corrupt wire bytes, invalid UTF-8 in a string) is the caller's error: INVALID_ARGUMENT.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from llmgateway.errors import ERROR_DOMAIN, FieldViolation, GatewayError, as_gateway_error, invalid_argument
from llmgateway.frontends.grpc.handlers import (
    Context,
    Handler,
    StreamBehavior,
    UnaryBehavior,
    WrappingInterceptor,
    rewrap,
)


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = math.floor(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))


def to_status(error: GatewayError) -> grpc.Status:
    """The rich gRPC status for a GatewayError (google.rpc.Status in `grpc-status-details-bin`)."""
    details = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=error.reason, domain=ERROR_DOMAIN, metadata=dict(error.metadata)
            )
        )
    ]
    if error.retry_after is not None:
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=_duration(max(error.retry_after, 0.0)))))
    if error.field_violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description, reason=v.reason
                        )
                        for v in error.field_violations
                    ]
                )
            )
        )
    if error.resource is not None:
        details.append(_pack(error.resource))
    if error.quota_violations:
        details.append(_pack(error_details_pb2.QuotaFailure(violations=list(error.quota_violations))))
    if error.interruption is not None:
        details.append(_pack(error.interruption))
    status = status_pb2.Status(code=error.code.value[0], message=error.message, details=details)
    return rpc_status.to_status(status)


async def _abort(context: Context, error: Exception) -> None:
    gateway_error = as_gateway_error(error)
    status = to_status(gateway_error)
    # What the call already reported (x-llmgateway-*: say, the provider of a stream that broke after
    # its first token) stays beside the error's details; abort's own metadata would replace it.
    reported = tuple(context.trailing_metadata() or ())
    await context.abort(status.code, status.details, (*reported, *status.trailing_metadata))


class _Undecodable:
    """Stands in for a request whose bytes did not parse, so the handler can answer INVALID_ARGUMENT
    (gRPC itself would answer UNKNOWN with the parser's exception text)."""

    def __init__(self, error: DecodeError) -> None:
        self.error = invalid_argument(
            [FieldViolation("request", f"the request is not a valid protobuf message: {error}", "UNPARSABLE")]
        )


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as error:
            return _Undecodable(error)

    return deserialize


def _wrap_unary(behavior: UnaryBehavior) -> UnaryBehavior:
    async def unary(request: Any, context: Context) -> Any:
        try:
            if isinstance(request, _Undecodable):
                raise request.error
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error)
            raise AssertionError("context.abort returned") from error

    return unary


def _wrap_stream(behavior: StreamBehavior) -> StreamBehavior:
    async def stream(request: Any, context: Context) -> AsyncGenerator[Any, None]:
        try:
            if isinstance(request, _Undecodable):
                raise request.error
            async with aclosing(behavior(request, context)) as messages:
                async for message in messages:
                    yield message
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error)

    return stream


def _rewrap(method: str, handler: Handler) -> Handler:
    return rewrap(
        handler,
        unary=_wrap_unary,
        stream=_wrap_stream,
        request_deserializer=_tolerant(handler.request_deserializer),
    )


class ErrorMappingInterceptor(WrappingInterceptor):
    """Maps domain errors of unary-unary and unary-stream handlers to statuses."""

    def __init__(self) -> None:
        super().__init__(_rewrap)
