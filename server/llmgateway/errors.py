"""The gateway's domain error: every failure it reports is a `GatewayError` naming a `Reason`
(llmgateway/reasons.py, the one table of reasons) and the details that explain it. Each front door
renders it in its own shape (the gRPC door: frontends/grpc/status.py); anything else becomes
INTERNAL with a masked message.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import InitVar, dataclass, field

import grpc
from google.rpc import error_details_pb2

from llmgateway.reasons import REASONS, Reason
from llmgateway.v1 import chat_pb2

_log = logging.getLogger(__name__)

ERROR_DOMAIN = "llmgateway"
# How much of a caller's identifier (a model name, say) an error or a log line repeats: the rest is
# counted, not echoed, so a megabyte-long name can neither swell a log line nor push a status's
# trailers past the caller's metadata limit (which turns NOT_FOUND into RESOURCE_EXHAUSTED).
_ECHO_LIMIT = 128


def shown(text: str, limit: int = _ECHO_LIMIT) -> str:
    """`text` as errors and logs repeat it: whole when short, else its start and how much is left."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...({len(text) - limit} more characters)"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request, named by its path (e.g. `messages[2].parts[0]`)."""

    field: str
    description: str
    reason: str = "INVALID_FIELD"


@dataclass
class GatewayError(Exception):
    """A failure: its reason (which gives its status, reasons.py) and the details that explain it."""

    reason: Reason
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    field_violations: Sequence[FieldViolation] = ()
    resource: error_details_pb2.ResourceInfo | None = None
    quota_violations: Sequence[error_details_pb2.QuotaFailure.Violation] = ()
    interruption: chat_pb2.StreamInterruption | None = None
    # The status is the reason table's, unless given here: only a stream interrupted mid-way keeps
    # its cause's status under a reason of its own.
    code_override: InitVar[grpc.StatusCode | None] = None
    code: grpc.StatusCode = field(init=False)

    def __post_init__(self, code_override: grpc.StatusCode | None) -> None:
        self.code = code_override if code_override is not None else REASONS[self.reason].code
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code.name} {self.reason}: {self.message}"


def invalid_argument(violations: Sequence[FieldViolation]) -> GatewayError:
    """The caller's request is malformed; every violation is listed."""
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
    more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
    return GatewayError(
        Reason.INVALID_REQUEST,
        f"invalid request: {summary}{more}",
        field_violations=violations,
    )


def model_not_found(model: str) -> GatewayError:
    """The caller asked for a model the gateway does not serve."""
    return GatewayError(
        Reason.MODEL_NOT_FOUND,
        f"model {shown(model)!r} is not configured on this gateway; ListModels shows the available models",
        metadata={"model": shown(model)},
        resource=error_details_pb2.ResourceInfo(
            resource_type="llmgateway.v1.Model",
            resource_name=shown(model),
            description="no model or alias of this name is configured",
        ),
    )


def unsupported_capability(provider: str, feature: str) -> GatewayError:
    """The chosen provider cannot honour a feature the caller asked for."""
    return GatewayError(
        Reason.UNSUPPORTED_CAPABILITY,
        f"provider {provider!r} does not support {feature}",
        metadata={"provider": provider, "feature": feature},
    )


def deadline_exceeded(where: str) -> GatewayError:
    """The caller's deadline passed before the answer was complete."""
    return GatewayError(
        Reason.DEADLINE_EXCEEDED,
        f"the caller's deadline passed {where}",
    )


def as_gateway_error(raised: Exception) -> GatewayError:
    """A GatewayError as it is; any other exception is a gateway bug: logged at ERROR with an error
    id, and the caller gets INTERNAL with a masked message carrying that id."""
    if isinstance(raised, GatewayError):
        return raised
    error_id = uuid.uuid4().hex[:16]
    _log.error("unhandled error %s", error_id, exc_info=raised)
    return internal_error(error_id)


def internal_error(request_id: str) -> GatewayError:
    """A fault inside the gateway; the message is masked so nothing internal leaks to callers."""
    return GatewayError(
        Reason.INTERNAL,
        f"internal error in the gateway (request id {request_id}); the operator's logs have the cause",
        metadata={"request_id": request_id},
    )
