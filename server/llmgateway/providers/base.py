"""What every provider adapter offers, and the call it receives.

Adapters translate the v1 messages to their wire format and back directly: the v1 proto messages are
the one domain model, so there is no second hierarchy of request or response classes here.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import ClassVar

from llmgateway.errors import unsupported_capability
from llmgateway.providers import local_count
from llmgateway.providers.media import MediaFetcher
from llmgateway.v1 import chat_pb2, embeddings_pb2


@dataclass(frozen=True)
class ProviderContext:
    """What the gateway shares with every adapter it builds."""

    media: MediaFetcher


@dataclass(frozen=True)
class UpstreamCall:
    """One call to one deployment."""

    request: chat_pb2.ChatRequest
    # The model name the provider expects (the deployment's), not the name the caller used.
    upstream_model: str
    request_id: str


@dataclass(frozen=True)
class EmbedCall:
    """One embedding call to one deployment: every input of the caller's request (the adapter
    splits them into the provider's batches)."""

    request: embeddings_pb2.EmbedRequest
    upstream_model: str
    request_id: str


class Provider(abc.ABC):
    """A configured upstream account speaking one wire protocol."""

    # Whether count_tokens is the local estimate (whose tokenizer the gateway loads before serving).
    counts_locally: ClassVar[bool] = True

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def endpoint(self) -> tuple[str, int] | None:
        """The host and port calls go to (a trace's server.address and server.port); None for a
        provider that answers in process."""
        return None

    @abc.abstractmethod
    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        """One complete answer. `id` and `provider` are filled in by the caller of this method."""

    @abc.abstractmethod
    def stream(self, call: UpstreamCall) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        """The answer as stream messages carrying `delta`, `finish_reason` or `usage` (and `model`
        when the provider reports it). Raises GatewayError on failure, including a stream that ends
        without the provider's terminator. Closing the iterator early closes the upstream request."""

    async def embed(self, call: EmbedCall) -> embeddings_pb2.EmbedResponse:
        """One embedding per input, in input order, with usage (`id` and `provider` are filled in
        by the caller). UNSUPPORTED_CAPABILITY for protocols without embeddings."""
        raise unsupported_capability(self.name, "embeddings")

    async def count_tokens(self, call: UpstreamCall) -> chat_pb2.CountTokensResponse:
        """The input tokens `call.request` would use (`input_tokens`, `estimated`, `model`,
        `counted_by`; the caller fills in `provider`). Providers with a counting endpoint ask it;
        the rest estimate locally (local_count.py), which needs no network."""
        return await local_count.estimate(call.request, call.upstream_model)

    async def list_models(self) -> list[str] | None:
        """The model names the upstream serves, for providers that can list them; None otherwise.
        Raises GatewayError when the upstream cannot be asked."""
        return None

    async def probe(self) -> None:
        """A cheap request showing the upstream answers; raises GatewayError when it does not.
        By default the model list (a no-op for providers that cannot list)."""
        await self.list_models()

    async def aclose(self) -> None:  # noqa: B027 - providers without connections have nothing to close
        """Release pooled connections."""
