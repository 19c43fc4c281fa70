"""The ChatService and ModelService servicers: validate, route, call the provider; proto in,
proto out; nothing provider-specific."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

import grpc

from llmgateway.config import GatewayConfig
from llmgateway.deadlines import bounded_by_deadline
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.routing.catalog import ModelCatalog
from llmgateway.routing.upstream_models import UpstreamModelDirectory
from llmgateway.streaming import relay
from llmgateway.v1 import chat_pb2, chat_pb2_grpc, models_pb2, models_pb2_grpc
from llmgateway.validation import validate_request

Context = grpc.aio.ServicerContext[object, object]


@dataclass
class Runtime:
    """What the servicers need at run time, built once from the config."""

    config: GatewayConfig
    catalog: ModelCatalog
    providers: dict[str, Provider]
    context: ProviderContext

    def __post_init__(self) -> None:
        self.provider_settings = {settings.name: settings for settings in self.config.providers}
        self.upstream_models = UpstreamModelDirectory(self.providers)

    async def aclose(self) -> None:
        """Close every provider's pooled connections."""
        for provider in self.providers.values():
            await provider.aclose()
        await self.context.media.aclose()


class ChatServicer(chat_pb2_grpc.ChatServiceServicer):
    """Chat and ChatStream."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def _prepare(self, request: chat_pb2.ChatRequest) -> tuple[Provider, UpstreamCall, float]:
        validate_request(request, self._runtime.config.limits)
        model = self._runtime.catalog.resolve(request.model)
        deployment = model.deployments[0]
        provider = self._runtime.providers[deployment.provider]
        settings = self._runtime.provider_settings[deployment.provider]
        call = UpstreamCall(
            request=request,
            upstream_model=deployment.model,
            request_id=request.request_id or uuid.uuid4().hex,
        )
        return provider, call, settings.timeouts.total_s

    async def Chat(self, request: chat_pb2.ChatRequest, context: Context) -> chat_pb2.ChatResponse:
        provider, call, total_s = self._prepare(request)
        async with bounded_by_deadline(context, total_s, provider.name):
            response = await provider.chat(call)
        response.id = call.request_id
        response.provider = provider.name
        return response

    async def ChatStream(
        self, request: chat_pb2.ChatStreamRequest, context: Context
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        # ChatStreamRequest has ChatRequest's fields under the same numbers: one wire form, one model.
        chat_request = chat_pb2.ChatRequest.FromString(request.SerializeToString())
        provider, call, total_s = self._prepare(chat_request)
        async with (
            bounded_by_deadline(context, total_s, provider.name),
            aclosing(provider.stream(call)) as upstream,
        ):
            async for message in relay(
                upstream,
                request_id=call.request_id,
                provider=provider.name,
                default_model=call.upstream_model,
            ):
                yield message


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    """ListModels."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def ListModels(
        self, request: models_pb2.ListModelsRequest, context: Context
    ) -> models_pb2.ListModelsResponse:
        return models_pb2.ListModelsResponse(
            models=self._runtime.catalog.describe(),
            upstream_models=await self._runtime.upstream_models.describe(),
        )
