"""The Ollama native API adapter: `POST /api/chat` with NDJSON streaming, `GET /api/tags` for models."""

from __future__ import annotations

from typing import Any

from llmgateway.config import ProviderSettings
from llmgateway.providers.adapter import HttpAdapter, WireRequest
from llmgateway.providers.base import EmbedCall, Provider, ProviderContext, UpstreamCall
from llmgateway.providers.embeddings import BatchAnswer, embedded
from llmgateway.providers.http.framing import NDJSON
from llmgateway.providers.ollama.embeddings import (
    EMBED_PATH,
    MAX_INPUTS_PER_REQUEST,
    embed_answer,
    embed_body,
)
from llmgateway.providers.ollama.errors import OllamaErrors
from llmgateway.providers.ollama.events import OllamaEvents
from llmgateway.providers.ollama.request import RequestBuilder
from llmgateway.providers.ollama.response import chat_response, model_names
from llmgateway.providers.wire_json import dumps, loads_object
from llmgateway.v1 import chat_pb2, embeddings_pb2

_DEFAULT_BASE_URL = "http://localhost:11434"
_CHAT_PATH = "/api/chat"
_TAGS_PATH = "/api/tags"


class OllamaAdapter(HttpAdapter[bytes]):
    """An Ollama server, or an authenticating proxy in front of one."""

    framing = NDJSON
    errors: OllamaErrors

    def __init__(self, settings: ProviderSettings, context: ProviderContext) -> None:
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        super().__init__(
            settings,
            context,
            base_url=settings.base_url or _DEFAULT_BASE_URL,
            # Ollama itself has no auth; a key is only for a proxy in front of it.
            headers={"authorization": f"Bearer {key}"} if key else {},
            errors=OllamaErrors(settings.name, settings.secrets()),
        )

    async def request(self, call: UpstreamCall, *, stream: bool) -> WireRequest:
        builder = RequestBuilder(self.name, self.media)
        return WireRequest(
            _CHAT_PATH, dumps(await builder.body(call.request, call.upstream_model, stream=stream))
        )

    def answer(self, payload: dict[str, Any], call: UpstreamCall) -> chat_pb2.ChatResponse:
        if "error" in payload:
            raise self.errors.from_line(payload)
        return chat_response(self.errors, payload, call.upstream_model)

    def events(self, call: UpstreamCall) -> OllamaEvents:
        return OllamaEvents(self.errors, call)

    async def embed(self, call: EmbedCall) -> embeddings_pb2.EmbedResponse:
        async def embed_batch(inputs: list[str]) -> BatchAnswer:
            body = dumps(embed_body(call.request, inputs, call.upstream_model))
            payload, _ = await self.post_json(WireRequest(EMBED_PATH, body))
            return BatchAnswer(*embed_answer(self.errors, payload, inputs, call.request.encoding))

        # One batch at a time: a local server embeds on one device, concurrency would only queue.
        return await embedded(call, embed_batch, batch_size=MAX_INPUTS_PER_REQUEST, concurrency=1)

    async def list_models(self) -> list[str] | None:
        return model_names(self.errors, loads_object((await self.fetch(_TAGS_PATH)).body))


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """An Ollama provider."""
    return OllamaAdapter(settings, context)
