"""The OpenAI Chat Completions adapter: OpenAI itself, vLLM and Together in their dialects, and
Azure OpenAI. One implementation of the wire; what differs between those servers is an
`OpenAIWire` (dialects.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from llmgateway.config import ProviderSettings
from llmgateway.providers.adapter import HttpAdapter, WireRequest
from llmgateway.providers.base import EmbedCall, Provider, ProviderContext, UpstreamCall
from llmgateway.providers.embeddings import BatchAnswer, embedded
from llmgateway.providers.http.framing import SSE, SseEvent
from llmgateway.providers.openai_compat.dialects import wire_for
from llmgateway.providers.openai_compat.embeddings import (
    MAX_INPUTS_PER_REQUEST,
    embeddings_answer,
    embeddings_body,
)
from llmgateway.providers.openai_compat.errors import OpenAIErrors
from llmgateway.providers.openai_compat.events import OpenAIEvents
from llmgateway.providers.openai_compat.request import build_body
from llmgateway.providers.openai_compat.response import chat_response, model_ids
from llmgateway.providers.wire_json import dumps
from llmgateway.v1 import chat_pb2, embeddings_pb2

# Batches of one call sent at once (a call over 2048 inputs is rare; this keeps it from opening
# dozens of connections to the provider).
_EMBED_CONCURRENCY = 4


class OpenAICompatAdapter(HttpAdapter[SseEvent]):
    framing = SSE
    errors: OpenAIErrors

    def __init__(self, settings: ProviderSettings, context: ProviderContext) -> None:
        self._wire = wire_for(settings)
        super().__init__(
            settings,
            context,
            base_url=self._wire.base_url,
            headers=self._wire.auth_headers,
            errors=OpenAIErrors(settings.name, settings.secrets()),
        )

    async def request(self, call: UpstreamCall, *, stream: bool) -> WireRequest:
        body = build_body(self.name, call.request, call.upstream_model, self._wire.dialect, stream=stream)
        return WireRequest(
            self._wire.chat_path.format(model=quote(call.upstream_model, safe="")),
            dumps(body),
            params=dict(self._wire.query),
        )

    def answer(self, payload: dict[str, Any], call: UpstreamCall) -> chat_pb2.ChatResponse:
        return chat_response(self.errors, payload, call.upstream_model)

    def events(self, call: UpstreamCall) -> OpenAIEvents:
        return OpenAIEvents(self.errors, call)

    async def embed(self, call: EmbedCall) -> embeddings_pb2.EmbedResponse:
        path = self._wire.embeddings_path.format(model=quote(call.upstream_model, safe=""))
        encoding = call.request.encoding

        async def embed_batch(inputs: list[str]) -> BatchAnswer:
            body = embeddings_body(self.name, call.request, inputs, call.upstream_model, self._wire.dialect)
            payload, _ = await self.post_json(WireRequest(path, dumps(body), params=dict(self._wire.query)))
            return BatchAnswer(*embeddings_answer(self.errors, payload, len(inputs), encoding))

        return await embedded(
            call, embed_batch, batch_size=MAX_INPUTS_PER_REQUEST, concurrency=_EMBED_CONCURRENCY
        )

    async def list_models(self) -> list[str] | None:
        """The ids from GET /v1/models; errors map like chat errors."""
        if self._wire.models_path is None:
            return None
        answer = await self.fetch(self._wire.models_path, params=dict(self._wire.query))
        return model_ids(self.errors, answer.body)


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """An OpenAI, vLLM, Together or Azure OpenAI provider (deployments' `model` is then the Azure
    deployment name). Raises ValueError for an incomplete Azure config."""
    return OpenAICompatAdapter(settings, context)
