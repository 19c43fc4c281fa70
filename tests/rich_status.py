"""Decode the google.rpc details of a failed call, as a client would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import grpc
from google.protobuf import message as protobuf_message
from google.rpc import error_details_pb2, status_pb2

from llmgateway.v1 import chat_pb2

T = TypeVar("T", bound=protobuf_message.Message)

_DETAIL_TYPES: list[type[protobuf_message.Message]] = [
    error_details_pb2.ErrorInfo,
    error_details_pb2.RetryInfo,
    error_details_pb2.BadRequest,
    error_details_pb2.ResourceInfo,
    error_details_pb2.QuotaFailure,
    chat_pb2.StreamInterruption,
]


@dataclass
class RichStatus:
    """A status code, its message and its details by type."""

    code: grpc.StatusCode
    message: str
    details: dict[type[protobuf_message.Message], protobuf_message.Message] = field(default_factory=dict)

    @property
    def error_info(self) -> error_details_pb2.ErrorInfo:
        info = self.details[error_details_pb2.ErrorInfo]
        assert isinstance(info, error_details_pb2.ErrorInfo)
        return info

    @property
    def reason(self) -> str:
        return self.error_info.reason

    def detail(self, kind: type[T]) -> T:
        value = self.details[kind]
        assert isinstance(value, kind)
        return value


def rich_status(error: grpc.aio.AioRpcError) -> RichStatus:
    """The status of a failed call with every google.rpc detail unpacked; asserts ErrorInfo exists."""
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert raw is not None, f"no status details on {error.code()}: {error.details()}"
    assert isinstance(raw, bytes)
    status = status_pb2.Status.FromString(raw)
    assert status.code == error.code().value[0]
    result = RichStatus(error.code(), status.message)
    for packed in status.details:
        for kind in _DETAIL_TYPES:
            if packed.TypeName() == kind.DESCRIPTOR.full_name:
                value = kind()
                packed.Unpack(value)
                result.details[kind] = value
    assert error_details_pb2.ErrorInfo in result.details, "every error carries ErrorInfo"
    assert result.error_info.domain == "llmgateway"
    return result
