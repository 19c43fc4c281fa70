"""Which service a model is called through: chat models through ChatService, embedding models
through EmbeddingService (the model's `kind`). A model asked through the other service is refused by
name, before any deployment is tried."""

from __future__ import annotations

from typing import TypeAlias

from llmgateway.errors import GatewayError
from llmgateway.reasons import Reason
from llmgateway.v1 import chat_pb2, embeddings_pb2

# What routing routes: a chat request, or an embeddings request (both name a model and carry labels).
RoutedRequest: TypeAlias = chat_pb2.ChatRequest | embeddings_pb2.EmbedRequest

_SERVICES = {
    "chat": "ChatService (POST /v1/chat/completions)",
    "embedding": "EmbeddingService.Embed (POST /v1/embeddings)",
}


def kind_of(request: RoutedRequest) -> str:
    """The kind of model the request needs."""
    return "embedding" if isinstance(request, embeddings_pb2.EmbedRequest) else "chat"


def check_kind(model: str, kind: str, request: RoutedRequest) -> None:
    """NO_CAPABLE_DEPLOYMENT (FAILED_PRECONDITION) naming the model and the service to call when
    the model, of `kind`, is not the kind the request needs."""
    wanted = kind_of(request)
    if kind != wanted:
        raise GatewayError(
            Reason.NO_CAPABLE_DEPLOYMENT,
            f"model {model!r} is {'an' if kind == 'embedding' else 'a'} {kind} model: "
            f"call it through {_SERVICES[kind]}",
            metadata={"model": model, "feature": "embeddings" if wanted == "embedding" else "chat"},
        )
