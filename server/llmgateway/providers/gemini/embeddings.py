"""Gemini's `models/{model}:batchEmbedContents`: up to 100 texts a request, each with the task type
and output size the caller asked for.

Gemini reports no token counts for embeddings, so usage is an estimate (four characters a token,
providers/embeddings.estimated_tokens): limits, budgets and cost then count that estimate."""

from __future__ import annotations

from typing import Any

from llmgateway.providers.embeddings import embedding_of, estimated_tokens, is_vector
from llmgateway.providers.errors import UpstreamErrors
from llmgateway.v1 import embeddings_pb2

# batchEmbedContents takes at most 100 requests.
MAX_INPUTS_PER_REQUEST = 100

_TASK_TYPES = {
    embeddings_pb2.EMBEDDING_TASK_QUERY: "RETRIEVAL_QUERY",
    embeddings_pb2.EMBEDDING_TASK_DOCUMENT: "RETRIEVAL_DOCUMENT",
    embeddings_pb2.EMBEDDING_TASK_CLASSIFICATION: "CLASSIFICATION",
    embeddings_pb2.EMBEDDING_TASK_CLUSTERING: "CLUSTERING",
    embeddings_pb2.EMBEDDING_TASK_SIMILARITY: "SEMANTIC_SIMILARITY",
}


def batch_body(request: embeddings_pb2.EmbedRequest, inputs: list[str], model: str) -> dict[str, Any]:
    """The body of one batchEmbedContents request; every item names the model, as the API wants."""
    common: dict[str, Any] = {}
    task = _TASK_TYPES.get(request.task)
    if task is not None:
        common["taskType"] = task
    if request.HasField("dimensions"):
        common["outputDimensionality"] = request.dimensions
    return {
        "requests": [
            {"model": f"models/{model}", "content": {"parts": [{"text": text}]}, **common} for text in inputs
        ]
    }


def batch_answer(
    errors: UpstreamErrors,
    payload: dict[str, Any],
    inputs: list[str],
    encoding: embeddings_pb2.EmbeddingEncoding.ValueType,
) -> tuple[list[embeddings_pb2.Embedding], int]:
    """(the batch's embeddings in input order, its estimated input tokens)."""
    items = payload.get("embeddings")
    if not isinstance(items, list) or len(items) != len(inputs):
        raise errors.malformed(f"a batchEmbedContents answer with {len(inputs)} embeddings")
    found = []
    for item in items:
        values = item.get("values") if isinstance(item, dict) else None
        if not is_vector(values):
            raise errors.malformed("an embedding with a list of `values`")
        assert isinstance(values, list)
        found.append(embedding_of(values, encoding))
    return found, estimated_tokens(inputs)
