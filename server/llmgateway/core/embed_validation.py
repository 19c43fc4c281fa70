"""Edge validation of EmbedRequest, like validation.py's of ChatRequest: every problem at once, as
BadRequest field violations."""

from __future__ import annotations

from collections.abc import Iterator

from llmgateway.config import LimitsSettings
from llmgateway.core.validation import identity_violations
from llmgateway.errors import FieldViolation, invalid_argument
from llmgateway.v1 import embeddings_pb2


def _inputs(request: embeddings_pb2.EmbedRequest, limits: LimitsSettings) -> Iterator[FieldViolation]:
    if not request.inputs:
        yield FieldViolation("inputs", "at least one input is required")
    elif len(request.inputs) > limits.max_embedding_inputs:
        yield FieldViolation(
            "inputs", f"{len(request.inputs)} inputs; at most {limits.max_embedding_inputs} are allowed"
        )
    empty = [index for index, text in enumerate(request.inputs) if not text.strip()]
    for index in empty[:5]:
        yield FieldViolation(f"inputs[{index}]", "an input must not be empty")


def _options(request: embeddings_pb2.EmbedRequest) -> Iterator[FieldViolation]:
    if request.HasField("dimensions") and request.dimensions <= 0:
        yield FieldViolation("dimensions", "must be positive when set")
    if request.encoding not in embeddings_pb2.EmbeddingEncoding.values():
        yield FieldViolation("encoding", f"unknown encoding {request.encoding}")
    if request.task not in embeddings_pb2.EmbeddingTask.values():
        yield FieldViolation("task", f"unknown task {request.task}")


def validate_embed_request(request: embeddings_pb2.EmbedRequest, limits: LimitsSettings) -> None:
    """Raise INVALID_ARGUMENT with every violation, or return when the request is well formed."""
    size = request.ByteSize()
    if size > limits.max_request_bytes:
        raise invalid_argument(
            [FieldViolation("request", f"request is {size} bytes; the limit is {limits.max_request_bytes}")]
        )
    violations = [*identity_violations(request), *_inputs(request, limits), *_options(request)]
    if violations:
        raise invalid_argument(violations)
