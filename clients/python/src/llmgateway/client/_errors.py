"""google.rpc error details decoded from a failed call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"


class GatewayError(Exception):
    """A failed call: the gRPC code and message, plus ErrorInfo and RetryInfo when the gateway sent them."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        metadata: dict[str, str] | None = None,
        retry_delay: float | None = None,
        status: status_pb2.Status | None = None,
    ) -> None:
        super().__init__(f"{code.name} {reason}: {message}" if reason else f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = metadata or {}
        # Seconds to wait before trying again (google.rpc.RetryInfo), None when not given.
        self.retry_delay = retry_delay
        # The whole google.rpc.Status, for the other details (BadRequest, QuotaFailure, ResourceInfo).
        self.status = status

    @classmethod
    def from_rpc_error(
        cls, error: grpc.RpcError, trailing_metadata: Sequence[Any] | None = None
    ) -> GatewayError:
        """Decode a sync or asyncio RpcError (anything with code(), details(), trailing_metadata())."""
        call: Any = error  # sync and asyncio errors share these methods but no declared type
        code: grpc.StatusCode = call.code()
        message: str = call.details() or ""
        trailers = trailing_metadata if trailing_metadata is not None else call.trailing_metadata()
        status = _status(trailers or ())
        if status is None:
            return cls(code, message)
        reason, domain, metadata, retry_delay = "", "", {}, None
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            retry = error_details_pb2.RetryInfo()
            if detail.Unpack(info):  # Unpack answers False for a detail of another type
                reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
            elif detail.Unpack(retry):
                retry_delay = retry.retry_delay.ToTimedelta().total_seconds()
        return cls(
            code,
            message,
            reason=reason,
            domain=domain,
            metadata=metadata,
            retry_delay=retry_delay,
            status=status,
        )


def _status(trailers: Sequence[Any]) -> status_pb2.Status | None:
    for key, value in trailers:
        if key == _DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None
