"""The AWS Bedrock Converse adapter: `/model/{modelId}/converse` and `/converse-stream`.

Requests are SigV4-signed by botocore (signing.py) and sent exactly as signed; stream bodies are AWS
event-stream frames decoded by botocore (frames.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from botocore.eventstream import EventStreamMessage

from llmgateway.config import ProviderSettings
from llmgateway.providers.adapter import HttpAdapter, WireRequest
from llmgateway.providers.base import EmbedCall, Provider, ProviderContext, UpstreamCall
from llmgateway.providers.bedrock.count import count_body, count_response
from llmgateway.providers.bedrock.embeddings import family_of
from llmgateway.providers.bedrock.errors import BedrockErrors
from llmgateway.providers.bedrock.events import BedrockEvents
from llmgateway.providers.bedrock.frames import EVENT_STREAM, EVENT_STREAM_FRAMING
from llmgateway.providers.bedrock.request import build_body
from llmgateway.providers.bedrock.response import chat_response
from llmgateway.providers.bedrock.signing import Signer
from llmgateway.providers.embeddings import BatchAnswer, embedded
from llmgateway.providers.wire_json import dumps
from llmgateway.v1 import chat_pb2, embeddings_pb2


class BedrockAdapter(HttpAdapter[EventStreamMessage]):
    framing = EVENT_STREAM_FRAMING
    counts_locally = False  # count_tokens asks the provider's counting endpoint
    errors: BedrockErrors

    def __init__(self, settings: ProviderSettings, context: ProviderContext) -> None:
        errors = BedrockErrors(settings.name, settings.secrets())
        # The signer adds rotating credentials from the chain to the secrets the errors redact.
        self._signer = Signer(settings, errors)
        self._endpoint = settings.base_url or f"https://bedrock-runtime.{self._signer.region}.amazonaws.com"
        super().__init__(settings, context, base_url=self._endpoint, headers={}, errors=errors)

    async def request(self, call: UpstreamCall, *, stream: bool) -> WireRequest:
        body = dumps(await build_body(self.name, call.request, call.upstream_model, self.media))
        return await self._signed(
            call.upstream_model,
            "converse-stream" if stream else "converse",
            body,
            EVENT_STREAM if stream else None,
        )

    async def _signed(self, model: str, action: str, body: bytes, accept: str | None) -> WireRequest:
        # Model ids hold ':' (and ARNs '/'): the path carries them percent-encoded.
        path = f"/model/{quote(model, safe='')}/{action}"
        headers = {
            **self.settings.headers,
            "Content-Type": "application/json",
            "Accept": accept or "application/json",
        }
        return WireRequest(
            path, body, headers=await self._signer.headers(self._endpoint + path, body, headers)
        )

    async def embed(self, call: EmbedCall) -> embeddings_pb2.EmbedResponse:
        family = family_of(self.name, call.upstream_model, call.request)
        path = f"/model/{quote(call.upstream_model, safe='')}/invoke"
        headers = {**self.settings.headers, "Content-Type": "application/json", "Accept": "application/json"}

        async def embed_batch(inputs: list[str]) -> BatchAnswer:
            body = dumps(family.body(call.request, inputs))
            signed = await self._signer.headers(self._endpoint + path, body, headers)
            payload, answer = await self.post_json(WireRequest(path, body, headers=signed))
            found, tokens = family.answer(self.errors, payload, answer, inputs, call.request.encoding)
            return BatchAnswer(found, tokens)

        return await embedded(call, embed_batch, batch_size=family.batch_size, concurrency=family.concurrency)

    async def count_tokens(self, call: UpstreamCall) -> chat_pb2.CountTokensResponse:
        converse = await build_body(self.name, call.request, call.upstream_model, self.media)
        wire = await self._signed(call.upstream_model, "count-tokens", dumps(count_body(converse)), None)
        return count_response(self.errors, await self.exchange(wire), call.upstream_model)

    def answer(self, payload: dict[str, Any], call: UpstreamCall) -> chat_pb2.ChatResponse:
        return chat_response(self.errors, payload, call.upstream_model)

    def events(self, call: UpstreamCall) -> BedrockEvents:
        return BedrockEvents(self.errors, call)


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """A Bedrock Converse provider."""
    return BedrockAdapter(settings, context)
