"""The Anthropic Messages API adapter (`POST /v1/messages`), unary and streamed with named SSE
events."""

from __future__ import annotations

from typing import Any

from llmgateway.config import ProviderSettings
from llmgateway.providers.adapter import HttpAdapter, WireRequest
from llmgateway.providers.anthropic.count import COUNT_PATH, count_body, count_response
from llmgateway.providers.anthropic.errors import AnthropicErrors
from llmgateway.providers.anthropic.events import AnthropicEvents
from llmgateway.providers.anthropic.request import build_body
from llmgateway.providers.anthropic.response import chat_response, model_page
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.http.framing import SSE, SseEvent
from llmgateway.providers.wire_json import dumps
from llmgateway.v1 import chat_pb2

_DEFAULT_BASE_URL = "https://api.anthropic.com"
_DEFAULT_VERSION = "2023-06-01"
_MESSAGES_PATH = "/v1/messages"
_MODELS_PATH = "/v1/models"


def _headers(settings: ProviderSettings, version: str) -> dict[str, str]:
    headers = {"anthropic-version": version}
    # One credential only: with both headers present the API reads x-api-key and ignores the other.
    if settings.api_key:
        headers["x-api-key"] = settings.api_key.get_secret_value()
    elif settings.bearer_token:
        headers["authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"
    return headers


class AnthropicAdapter(HttpAdapter[SseEvent]):
    framing = SSE
    counts_locally = False  # count_tokens asks the provider's counting endpoint
    errors: AnthropicErrors

    def __init__(self, settings: ProviderSettings, context: ProviderContext) -> None:
        self._version = settings.api_version or _DEFAULT_VERSION
        super().__init__(
            settings,
            context,
            base_url=settings.base_url or _DEFAULT_BASE_URL,
            headers=_headers(settings, self._version),
            errors=AnthropicErrors(settings.name, settings.secrets()),
        )

    async def request(self, call: UpstreamCall, *, stream: bool) -> WireRequest:
        body = await build_body(
            self.name, call.request, call.upstream_model, self._version, self.media, stream=stream
        )
        return WireRequest(_MESSAGES_PATH, dumps(body))

    def answer(self, payload: dict[str, Any], call: UpstreamCall) -> chat_pb2.ChatResponse:
        return chat_response(self.errors, payload, call.upstream_model)

    async def count_tokens(self, call: UpstreamCall) -> chat_pb2.CountTokensResponse:
        messages_body = await build_body(
            self.name, call.request, call.upstream_model, self._version, self.media, stream=False
        )
        payload = await self.exchange(WireRequest(COUNT_PATH, dumps(count_body(messages_body))))
        return count_response(self.errors, payload, call.upstream_model)

    def events(self, call: UpstreamCall) -> AnthropicEvents:
        return AnthropicEvents(self.errors, call)

    async def list_models(self) -> list[str] | None:
        names: list[str] = []
        params: dict[str, str] = {"limit": "1000"}
        while True:
            page, last_id = model_page(self.errors, (await self.fetch(_MODELS_PATH, params)).body)
            names.extend(page)
            if last_id is None:
                return names
            params = {"limit": "1000", "after_id": last_id}


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """An Anthropic provider."""
    return AnthropicAdapter(settings, context)
