"""Client (blocking) and AsyncClient (asyncio): one channel to a gateway each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Any

import grpc
import grpc.aio

from llmgateway.client._channel import RETRY_SERVICE_CONFIG, channel_options, credentials
from llmgateway.client._errors import GatewayError
from llmgateway.client._requests import stream_request
from llmgateway.client._tracing import Tracing, aio_interceptors, traced_channel
from llmgateway.v1 import (
    chat_pb2,
    chat_pb2_grpc,
    embeddings_pb2,
    embeddings_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
)

DEFAULT_TIMEOUT = 60.0
DEFAULT_STREAM_TIMEOUT = 600.0
Metadata = Sequence[tuple[str, str]]


class _Settings:
    def __init__(
        self,
        *,
        api_key: str | None,
        tls: bool | grpc.ChannelCredentials,
        timeout: float | None,
        stream_timeout: float | None,
        service_config: dict[str, Any] | None,
        options: Sequence[tuple[str, Any]],
    ) -> None:
        self.credentials = credentials(api_key=api_key, tls=tls)
        self.options = [*channel_options(service_config), *options]
        # Over TLS the call credentials carry the key; over plaintext (grpc refuses call credentials
        # there) each call sends it as metadata.
        self.metadata: Metadata = (
            (("authorization", f"Bearer {api_key}"),) if api_key and self.credentials is None else ()
        )
        self.timeout = timeout
        self.stream_timeout = stream_timeout


def _call_metadata(settings: _Settings, extra: Metadata) -> tuple[tuple[str, str | bytes], ...]:
    return (*settings.metadata, *extra)


def _as_stream_request(
    request: chat_pb2.ChatRequest | chat_pb2.ChatStreamRequest,
) -> chat_pb2.ChatStreamRequest:
    return request if isinstance(request, chat_pb2.ChatStreamRequest) else stream_request(request)


def _headers(*metadata: Any) -> dict[str, str]:
    """The text entries of response metadata. The gateway sends its x-llmgateway-* report as
    trailers (headers would cost it a separate send per call); earlier gateways sent headers, so
    both are read, trailers winning."""
    return {key: value for part in metadata for key, value in (part or ()) if isinstance(value, str)}


class Stream:
    """A ChatStream call: iterate for the chunks, or `text()` for the text pieces alone;
    `cancel()` ends it early; `headers()` gives the gateway's report (x-llmgateway-provider, ...)
    once the stream has ended (it waits for the end). Failures raise GatewayError."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[chat_pb2.ChatStreamResponse]:
        try:
            yield from self._call
        except grpc.RpcError as error:
            raise GatewayError.from_rpc_error(error) from None

    def text(self) -> Iterator[str]:
        """Only the reply's text, piece by piece: the chunks that carry none (the first, which
        names the model and provider; the last, with usage; reasoning and tool-call deltas) are
        skipped. Iterate the stream itself for those."""
        return (chunk.delta.text for chunk in self if chunk.delta.text)

    def headers(self) -> dict[str, str]:
        return _headers(self._call.initial_metadata(), self._call.trailing_metadata())

    def cancel(self) -> None:
        self._call.cancel()


class Client:
    """A blocking client. `tls=False` for plaintext (a local gateway), True for TLS with the system
    roots, or grpc.ssl_channel_credentials(...) for your own roots or a client certificate (mTLS).
    `timeout` is the default deadline of unary calls, `stream_timeout` of streams (None: none).
    `tracing=True` (or a TracerProvider) makes each call an OpenTelemetry CLIENT span and sends the
    current trace context to the gateway (needs the `tracing` extra)."""

    def __init__(
        self,
        target: str,
        *,
        api_key: str | None = None,
        tls: bool | grpc.ChannelCredentials = True,
        timeout: float | None = DEFAULT_TIMEOUT,
        stream_timeout: float | None = DEFAULT_STREAM_TIMEOUT,
        service_config: dict[str, Any] | None = RETRY_SERVICE_CONFIG,
        options: Sequence[tuple[str, Any]] = (),
        tracing: Tracing = False,
    ) -> None:
        self._settings = settings = _Settings(
            api_key=api_key,
            tls=tls,
            timeout=timeout,
            stream_timeout=stream_timeout,
            service_config=service_config,
            options=options,
        )
        if settings.credentials is None:
            channel = grpc.insecure_channel(target, settings.options)
        else:
            channel = grpc.secure_channel(target, settings.credentials, settings.options)
        self.channel = traced_channel(channel, tracing)
        self.chat_stub = chat_pb2_grpc.ChatServiceStub(self.channel)
        self.models_stub = models_pb2_grpc.ModelServiceStub(self.channel)
        self.embeddings_stub = embeddings_pb2_grpc.EmbeddingServiceStub(self.channel)

    def chat(
        self, request: chat_pb2.ChatRequest, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> chat_pb2.ChatResponse:
        return self.chat_with_headers(request, timeout=timeout, metadata=metadata)[0]

    def chat_with_headers(
        self, request: chat_pb2.ChatRequest, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> tuple[chat_pb2.ChatResponse, dict[str, str]]:
        """The reply and the gateway's report: the x-llmgateway-* response metadata."""
        try:
            response, call = self.chat_stub.Chat.with_call(
                request,
                timeout=timeout if timeout is not None else self._settings.timeout,
                metadata=_call_metadata(self._settings, metadata),
            )
        except grpc.RpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        return response, _headers(call.initial_metadata(), call.trailing_metadata())

    def chat_stream(
        self,
        request: chat_pb2.ChatRequest | chat_pb2.ChatStreamRequest,
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> Stream:
        return Stream(
            self.chat_stub.ChatStream(
                _as_stream_request(request),
                timeout=timeout if timeout is not None else self._settings.stream_timeout,
                metadata=_call_metadata(self._settings, metadata),
            )
        )

    def embed(
        self, request: embeddings_pb2.EmbedRequest, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> embeddings_pb2.EmbedResponse:
        """One embedding per input, in input order (EmbeddingService.Embed)."""
        try:
            response: embeddings_pb2.EmbedResponse = self.embeddings_stub.Embed(
                request,
                timeout=timeout if timeout is not None else self._settings.timeout,
                metadata=_call_metadata(self._settings, metadata),
            )
        except grpc.RpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        return response

    def list_models(self, *, timeout: float | None = None) -> models_pb2.ListModelsResponse:
        try:
            response: models_pb2.ListModelsResponse = self.models_stub.ListModels(
                models_pb2.ListModelsRequest(),
                timeout=timeout if timeout is not None else self._settings.timeout,
                metadata=_call_metadata(self._settings, ()),
            )
        except grpc.RpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        return response

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStream:
    """An asyncio ChatStream call: `async for` the chunks, or over `text()` for the text pieces
    alone; `cancel()` ends it early (the loop then
    raises GatewayError CANCELLED); `await headers()` for the gateway's report (x-llmgateway-*), which
    waits for the stream's end."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._cancelled = False

    async def __aiter__(self) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        try:
            async for chunk in self._call:
                yield chunk
        except grpc.aio.AioRpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        except asyncio.CancelledError:
            if not self._cancelled:
                raise
            raise GatewayError(grpc.StatusCode.CANCELLED, "cancelled by the caller") from None

    async def text(self) -> AsyncIterator[str]:
        """Only the reply's text, piece by piece (the chunks that carry none are skipped), as
        Stream.text()."""
        async for chunk in self:
            if chunk.delta.text:
                yield chunk.delta.text

    async def headers(self) -> dict[str, str]:
        return _headers(await self._call.initial_metadata(), await self._call.trailing_metadata())

    def cancel(self) -> None:
        self._cancelled = True
        self._call.cancel()


class AsyncClient:
    """The asyncio twin of Client (grpc.aio), with the same arguments. Use it inside a running loop."""

    def __init__(
        self,
        target: str,
        *,
        api_key: str | None = None,
        tls: bool | grpc.ChannelCredentials = True,
        timeout: float | None = DEFAULT_TIMEOUT,
        stream_timeout: float | None = DEFAULT_STREAM_TIMEOUT,
        service_config: dict[str, Any] | None = RETRY_SERVICE_CONFIG,
        options: Sequence[tuple[str, Any]] = (),
        tracing: Tracing = False,
    ) -> None:
        self._settings = settings = _Settings(
            api_key=api_key,
            tls=tls,
            timeout=timeout,
            stream_timeout=stream_timeout,
            service_config=service_config,
            options=options,
        )
        interceptors = aio_interceptors(tracing)
        if settings.credentials is None:
            self.channel = grpc.aio.insecure_channel(target, settings.options, interceptors=interceptors)
        else:
            self.channel = grpc.aio.secure_channel(
                target, settings.credentials, settings.options, interceptors=interceptors
            )
        self.chat_stub = chat_pb2_grpc.ChatServiceStub(self.channel)
        self.models_stub = models_pb2_grpc.ModelServiceStub(self.channel)
        self.embeddings_stub = embeddings_pb2_grpc.EmbeddingServiceStub(self.channel)

    async def chat(
        self,
        request: chat_pb2.ChatRequest,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the gRPC deadline the gateway receives)
        metadata: Metadata = (),
    ) -> chat_pb2.ChatResponse:
        return (await self.chat_with_headers(request, timeout=timeout, metadata=metadata))[0]

    async def chat_with_headers(
        self,
        request: chat_pb2.ChatRequest,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the gRPC deadline the gateway receives)
        metadata: Metadata = (),
    ) -> tuple[chat_pb2.ChatResponse, dict[str, str]]:
        call = self.chat_stub.Chat(
            request,
            timeout=timeout if timeout is not None else self._settings.timeout,
            metadata=_call_metadata(self._settings, metadata),
        )
        try:
            response: chat_pb2.ChatResponse = await call
        except grpc.aio.AioRpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        return response, _headers(await call.initial_metadata(), await call.trailing_metadata())

    def chat_stream(
        self,
        request: chat_pb2.ChatRequest | chat_pb2.ChatStreamRequest,
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> AsyncStream:
        return AsyncStream(
            self.chat_stub.ChatStream(
                _as_stream_request(request),
                timeout=timeout if timeout is not None else self._settings.stream_timeout,
                metadata=_call_metadata(self._settings, metadata),
            )
        )

    async def embed(
        self,
        request: embeddings_pb2.EmbedRequest,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the gRPC deadline the gateway receives)
        metadata: Metadata = (),
    ) -> embeddings_pb2.EmbedResponse:
        """One embedding per input, in input order (EmbeddingService.Embed)."""
        try:
            response: embeddings_pb2.EmbedResponse = await self.embeddings_stub.Embed(
                request,
                timeout=timeout if timeout is not None else self._settings.timeout,
                metadata=_call_metadata(self._settings, metadata),
            )
        except grpc.aio.AioRpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        return response

    async def list_models(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the gRPC deadline the gateway receives)
    ) -> models_pb2.ListModelsResponse:
        try:
            response: models_pb2.ListModelsResponse = await self.models_stub.ListModels(
                models_pb2.ListModelsRequest(),
                timeout=timeout if timeout is not None else self._settings.timeout,
                metadata=_call_metadata(self._settings, ()),
            )
        except grpc.aio.AioRpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        return response

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
