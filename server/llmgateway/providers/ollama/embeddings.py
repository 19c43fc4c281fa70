"""Ollama's `POST /api/embed {model, input, dimensions?}` → `{embeddings, prompt_eval_count}`.
Ollama takes any number of inputs in one request; a call is sent in batches of 512 all the same,
so one request never holds a huge body."""

from __future__ import annotations

from typing import Any

from llmgateway.providers.embeddings import embedding_of, estimated_tokens, is_vector
from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.wire_json import json_int
from llmgateway.v1 import embeddings_pb2

EMBED_PATH = "/api/embed"
MAX_INPUTS_PER_REQUEST = 512


def embed_body(request: embeddings_pb2.EmbedRequest, inputs: list[str], model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": inputs}
    if request.HasField("dimensions"):
        body["dimensions"] = request.dimensions
    return body


def embed_answer(
    errors: UpstreamErrors,
    payload: dict[str, Any],
    inputs: list[str],
    encoding: embeddings_pb2.EmbeddingEncoding.ValueType,
) -> tuple[list[embeddings_pb2.Embedding], int, str]:
    """(the batch's embeddings in input order, its input tokens, the model it names)."""
    if "error" in payload:
        raise errors.malformed("an embed answer, not an error, with status 200")
    vectors = payload.get("embeddings")
    if not isinstance(vectors, list) or len(vectors) != len(inputs) or not all(map(is_vector, vectors)):
        raise errors.malformed(f"an embed answer with {len(inputs)} `embeddings`")
    tokens = json_int(payload.get("prompt_eval_count")) or estimated_tokens(inputs)
    model = payload.get("model")
    return (
        [embedding_of(values, encoding) for values in vectors],
        tokens,
        model if isinstance(model, str) else "",
    )
