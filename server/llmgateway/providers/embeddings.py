"""What every embeddings adapter shares: inputs split into the provider's batch size and the answers
put back in input order (a failed batch fails the call: no partial results), vectors in the encoding
the caller asked for, and an estimate of input tokens for providers that report none."""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import sys
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from llmgateway.errors import GatewayError
from llmgateway.providers.base import EmbedCall
from llmgateway.v1 import embeddings_pb2

_CHARS_PER_TOKEN = 4
_PACKED = embeddings_pb2.EMBEDDING_ENCODING_PACKED_FLOAT32


def batches(inputs: Sequence[str], size: int) -> list[list[str]]:
    """The inputs in consecutive batches of at most `size`."""
    return [list(inputs[start : start + size]) for start in range(0, len(inputs), size)]


@dataclass
class BatchAnswer:
    """One upstream request's answer: its embeddings in the order of its inputs, the input tokens
    it reports (or an estimate), and the model it names ("" when it names none)."""

    embeddings: list[embeddings_pb2.Embedding]
    tokens: int
    model: str = ""


EmbedBatch = Callable[[list[str]], Awaitable[BatchAnswer]]


async def embedded(
    call: EmbedCall, embed_batch: EmbedBatch, *, batch_size: int, concurrency: int
) -> embeddings_pb2.EmbedResponse:
    """Every input of `call` embedded through `embed_batch`, in batches of at most `batch_size`, at
    most `concurrency` batches at a time, joined in input order and numbered from 0, with the
    batches' tokens summed. The first failure cancels the other batches and is raised: a caller
    gets every embedding or an error, never a partial list."""
    parts = batches(call.request.inputs, batch_size)
    if len(parts) == 1:  # the common case: no task group, no extra tasks
        answers = [await embed_batch(parts[0])]
    else:
        gate = asyncio.Semaphore(concurrency)

        async def one(part: list[str]) -> BatchAnswer:
            async with gate:
                return await embed_batch(part)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(part)) for part in parts]
        except BaseExceptionGroup as failed:
            # The first GatewayError (what routing classifies); anything else as it came.
            gateway_errors = failed.subgroup(GatewayError)
            first = gateway_errors.exceptions[0] if gateway_errors is not None else failed.exceptions[0]
            raise first from None
        answers = [task.result() for task in tasks]
    response = embeddings_pb2.EmbedResponse(
        model=next((a.model for a in answers if a.model), call.upstream_model)
    )
    for answer in answers:
        response.embeddings.extend(answer.embeddings)
    for index, embedding in enumerate(response.embeddings):
        embedding.index = index
    tokens = sum(answer.tokens for answer in answers)
    response.usage.input_tokens = response.usage.total_tokens = tokens
    return response


def packed_float32(values: Sequence[float]) -> bytes:
    """Values as little-endian IEEE 754 float32 (the contract's packed form)."""
    packed = array("f", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpacked_float32(data: bytes) -> list[float]:
    """Little-endian float32 bytes as floats; ValueError when the length is not a multiple of 4."""
    values = array("f")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def embedding_of(
    values: Sequence[float], encoding: embeddings_pb2.EmbeddingEncoding.ValueType
) -> embeddings_pb2.Embedding:
    """One vector in the encoding the caller asked for (its index is set when batches are joined)."""
    if encoding == _PACKED:
        return embeddings_pb2.Embedding(packed_float32=packed_float32(values))
    return embeddings_pb2.Embedding(values=values)


def embedding_of_base64(
    text: str, encoding: embeddings_pb2.EmbeddingEncoding.ValueType
) -> embeddings_pb2.Embedding | None:
    """A vector a provider sent as base64 of little-endian float32 (OpenAI's `encoding_format:
    base64`): passed through as bytes for a packed caller, with no float parsing at all; None when
    the text is not such a vector."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(data) % 4:
        return None
    if encoding == _PACKED:
        return embeddings_pb2.Embedding(packed_float32=data)
    return embeddings_pb2.Embedding(values=unpacked_float32(data))


def estimated_tokens(inputs: Sequence[str]) -> int:
    """Input tokens at about four characters a token, for providers that report no usage."""
    return sum(math.ceil(len(text) / _CHARS_PER_TOKEN) for text in inputs)


def is_vector(value: object) -> bool:
    """Whether a JSON value is a list of numbers."""
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    )
