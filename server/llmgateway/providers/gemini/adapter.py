"""The Google Gemini (Generative Language API) adapter: `generateContent` and its SSE stream.

The key travels in the `x-goog-api-key` header, never as `?key=`: URLs end up in logs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from llmgateway.config import ProviderSettings
from llmgateway.providers.adapter import HttpAdapter, WireRequest
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.gemini.errors import GeminiErrors
from llmgateway.providers.gemini.events import GeminiEvents
from llmgateway.providers.gemini.request import build_body
from llmgateway.providers.gemini.response import chat_response, model_page
from llmgateway.providers.http.framing import SSE, SseEvent
from llmgateway.providers.wire_json import dumps, loads_object
from llmgateway.v1 import chat_pb2

_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_DEFAULT_API_VERSION = "v1beta"
_MAX_MODEL_PAGES = 20


class GeminiAdapter(HttpAdapter[SseEvent]):
    framing = SSE
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
        model = quote(call.upstream_model.removeprefix("models/"), safe="")
        if stream:
            return WireRequest(
                f"/{self._version}/models/{model}:streamGenerateContent", body, params={"alt": "sse"}
            )
        return WireRequest(f"/{self._version}/models/{model}:generateContent", body)

    def answer(self, payload: dict[str, Any], call: UpstreamCall) -> chat_pb2.ChatResponse:
        self.errors.check_blocked(payload)
        return chat_response(self.errors, payload, call.upstream_model, call.request_id)

    def events(self, call: UpstreamCall) -> GeminiEvents:
        return GeminiEvents(self.errors, call)

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
