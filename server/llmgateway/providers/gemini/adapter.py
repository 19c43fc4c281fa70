"""The Google Gemini (Generative Language API) adapter: `generateContent` and its SSE stream.

The key travels in the `x-goog-api-key` header, never as `?key=`: URLs end up in logs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from llmgateway.config import ProviderSettings
from llmgateway.providers.adapter import HttpAdapter, WireRequest
from llmgateway.providers.base import EmbedCall, Provider, ProviderContext, UpstreamCall
from llmgateway.providers.embeddings import BatchAnswer, embedded
from llmgateway.providers.gemini.count import count_body, count_response
from llmgateway.providers.gemini.embeddings import MAX_INPUTS_PER_REQUEST, batch_answer, batch_body
from llmgateway.providers.gemini.errors import GeminiErrors
from llmgateway.providers.gemini.events import GeminiEvents
from llmgateway.providers.gemini.request import build_body
from llmgateway.providers.gemini.response import chat_response, model_page
from llmgateway.providers.http.framing import SSE, SseEvent
from llmgateway.providers.wire_json import dumps, loads_object
from llmgateway.v1 import chat_pb2, embeddings_pb2

_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_DEFAULT_API_VERSION = "v1beta"
_MAX_MODEL_PAGES = 20
_EMBED_CONCURRENCY = 4  # batches of one call in flight at once


def _model_path(upstream_model: str) -> str:
    return quote(upstream_model.removeprefix("models/"), safe="")


class GeminiAdapter(HttpAdapter[SseEvent]):
    framing = SSE
    counts_locally = False  # count_tokens asks the provider's counting endpoint
    errors: GeminiErrors

    def __init__(self, settings: ProviderSettings, context: ProviderContext) -> None:
        self._version = settings.api_version or _DEFAULT_API_VERSION
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        super().__init__(
            settings,
            context,
            base_url=settings.base_url or _DEFAULT_BASE_URL,
            headers={"x-goog-api-key": key} if key else {},
            errors=GeminiErrors(settings.name, settings.secrets()),
        )

    async def request(self, call: UpstreamCall, *, stream: bool) -> WireRequest:
        body = dumps(await build_body(self.name, call.request, self.media, call.upstream_model))
        model = _model_path(call.upstream_model)
        if stream:
            return WireRequest(
                f"/{self._version}/models/{model}:streamGenerateContent", body, params={"alt": "sse"}
            )
        return WireRequest(f"/{self._version}/models/{model}:generateContent", body)

    def answer(self, payload: dict[str, Any], call: UpstreamCall) -> chat_pb2.ChatResponse:
        self.errors.check_blocked(payload)
        return chat_response(self.errors, payload, call.upstream_model, call.request_id)

    async def count_tokens(self, call: UpstreamCall) -> chat_pb2.CountTokensResponse:
        model = call.upstream_model.removeprefix("models/")
        body = count_body(model, await build_body(self.name, call.request, self.media, call.upstream_model))
        path = f"/{self._version}/models/{_model_path(call.upstream_model)}:countTokens"
        return count_response(self.errors, await self.exchange(WireRequest(path, dumps(body))), model)

    def events(self, call: UpstreamCall) -> GeminiEvents:
        return GeminiEvents(self.errors, call)

    async def embed(self, call: EmbedCall) -> embeddings_pb2.EmbedResponse:
        model = call.upstream_model.removeprefix("models/")
        path = f"/{self._version}/models/{quote(model, safe='')}:batchEmbedContents"

        async def embed_batch(inputs: list[str]) -> BatchAnswer:
            body = dumps(batch_body(call.request, inputs, model))
            payload, _ = await self.post_json(WireRequest(path, body))
            return BatchAnswer(
                *batch_answer(self.errors, payload, inputs, call.request.encoding), model=model
            )

        return await embedded(
            call, embed_batch, batch_size=MAX_INPUTS_PER_REQUEST, concurrency=_EMBED_CONCURRENCY
        )

    async def list_models(self) -> list[str] | None:
        names: list[str] = []
        params: dict[str, str] = {"pageSize": "1000"}
        for _ in range(_MAX_MODEL_PAGES):
            answer = await self.fetch(f"/{self._version}/models", params)
            page, token = model_page(self.errors, loads_object(answer.body))
            names.extend(page)
            if token is None:
                break
            params["pageToken"] = token
        return names


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """A Gemini provider."""
    return GeminiAdapter(settings, context)
