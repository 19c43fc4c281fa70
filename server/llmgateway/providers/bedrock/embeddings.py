"""Bedrock embeddings through InvokeModel (`POST /model/{modelId}/invoke`), in the body each model
family defines:

- Amazon Titan text embeddings: `{inputText, dimensions?}` → `{embedding, inputTextTokenCount}`, one
  text per request, so a call's inputs are sent concurrently (a bounded number at a time);
- Cohere embed v3: `{texts (at most 96), input_type}` → `{embeddings}`; the input tokens come in the
  `X-Amzn-Bedrock-Input-Token-Count` response header (estimated when it is missing).

Other model families (or a model id naming neither) are refused as UNSUPPORTED_CAPABILITY."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmgateway.errors import unsupported_capability
from llmgateway.providers.embeddings import embedding_of, estimated_tokens, is_vector
from llmgateway.providers.errors import UpstreamErrors
from llmgateway.providers.http.answer import Answer
from llmgateway.providers.wire_json import json_int
from llmgateway.v1 import embeddings_pb2

_INPUT_COUNT_HEADER = "x-amzn-bedrock-input-token-count"
# Cohere's input_type by task; it has no type for semantic similarity, where both sides are embedded
# alike, as documents (its default here, as the contract says).
_COHERE_INPUT_TYPES = {
    embeddings_pb2.EMBEDDING_TASK_QUERY: "search_query",
    embeddings_pb2.EMBEDDING_TASK_CLASSIFICATION: "classification",
    embeddings_pb2.EMBEDDING_TASK_CLUSTERING: "clustering",
}


@dataclass(frozen=True)
class EmbeddingFamily:
    """How one model family embeds: inputs per request, and its request and answer."""

    name: str
    batch_size: int
    concurrency: int

    def body(self, request: embeddings_pb2.EmbedRequest, inputs: list[str]) -> dict[str, Any]:
        if self.name == "titan":
            body: dict[str, Any] = {"inputText": inputs[0]}
            if request.HasField("dimensions"):
                body["dimensions"] = request.dimensions
            return body
        return {
            "texts": inputs,
            "input_type": _COHERE_INPUT_TYPES.get(request.task, "search_document"),
        }

    def answer(
        self,
        errors: UpstreamErrors,
        payload: dict[str, Any],
        answer: Answer,
        inputs: list[str],
        encoding: embeddings_pb2.EmbeddingEncoding.ValueType,
    ) -> tuple[list[embeddings_pb2.Embedding], int]:
        """(the request's embeddings in input order, its input tokens)."""
        if self.name == "titan":
            values = payload.get("embedding")
            if not is_vector(values):
                raise errors.malformed("a Titan answer with an `embedding` list")
            assert isinstance(values, list)
            return [embedding_of(values, encoding)], json_int(payload.get("inputTextTokenCount"))
        vectors = payload.get("embeddings")
        if not isinstance(vectors, list) or len(vectors) != len(inputs) or not all(map(is_vector, vectors)):
            raise errors.malformed(f"a Cohere answer with {len(inputs)} `embeddings`")
        counted = answer.headers.get(_INPUT_COUNT_HEADER)
        tokens = int(counted) if counted is not None and counted.isdigit() else estimated_tokens(inputs)
        return [embedding_of(values, encoding) for values in vectors], tokens


# Titan takes one text a request: 8 at once keeps a 100-input call quick without a burst that
# trips the account's InvokeModel rate. Cohere takes 96 texts a request.
_TITAN = EmbeddingFamily("titan", batch_size=1, concurrency=8)
_COHERE = EmbeddingFamily("cohere", batch_size=96, concurrency=4)


def family_of(provider: str, model_id: str, request: embeddings_pb2.EmbedRequest) -> EmbeddingFamily:
    """The family of a model id (a foundation model id, an inference profile or an ARN naming
    one); UNSUPPORTED_CAPABILITY for others, and for `dimensions` on Cohere (fixed size)."""
    name = model_id.lower()
    if "titan-embed" in name:
        return _TITAN
    if "cohere.embed" in name:
        if request.HasField("dimensions"):
            raise unsupported_capability(provider, "embedding dimensions with Cohere embed v3")
        return _COHERE
    raise unsupported_capability(
        provider, f"embeddings with model {model_id!r} (Titan and Cohere embed only)"
    )
