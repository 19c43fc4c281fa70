"""The helper against an in-process gRPC server: API key, deadlines, error details, streams."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from llmgateway.client import RETRY_SERVICE_CONFIG, AsyncClient, Client, GatewayError, text_request
from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2

SHARED = Path(__file__).resolve().parents[2] / "testdata"


class FakeChat(chat_pb2_grpc.ChatServiceServicer):
    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], float | None]] = []
        self.fail: status_pb2.Status | None = None

    def Chat(self, request: chat_pb2.ChatRequest, context: grpc.ServicerContext) -> chat_pb2.ChatResponse:  # noqa: N802
        headers = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        self.seen.append((headers, context.time_remaining()))
        if self.fail is not None:
            context.abort_with_status(rpc_status.to_status(self.fail))
        # As the gateway does: its report in the trailers.
        context.set_trailing_metadata((("x-llmgateway-provider", "fake"),))
        return chat_pb2.ChatResponse(
            model=request.model,
            message=content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=request.messages[-1].parts),
        )

    def ChatStream(  # noqa: N802
        self, request: chat_pb2.ChatStreamRequest, context: grpc.ServicerContext
    ) -> Iterator[chat_pb2.ChatStreamResponse]:
        # As the gateway streams: a first chunk that names the provider, the text deltas, a
        # reasoning delta (no text), and a last chunk with the usage alone.
        yield chat_pb2.ChatStreamResponse(provider="fake", model=request.model)
        for word in ("a", "b"):
            yield chat_pb2.ChatStreamResponse(delta=chat_pb2.Delta(text=word))
        yield chat_pb2.ChatStreamResponse(delta=chat_pb2.Delta(reasoning="hmm"))
        yield chat_pb2.ChatStreamResponse(delta=chat_pb2.Delta(text="c"))
        yield chat_pb2.ChatStreamResponse(usage=chat_pb2.Usage(output_tokens=3))


@pytest.fixture
def fake() -> Iterator[tuple[FakeChat, str]]:
    servicer = FakeChat()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    chat_pb2_grpc.add_ChatServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(None)


def test_api_key_default_deadline_and_headers(fake: tuple[FakeChat, str]) -> None:
    servicer, target = fake
    with Client(target, api_key="k-123", tls=False, timeout=7) as client:
        reply, headers = client.chat_with_headers(text_request("m", "hi"))
        client.chat(text_request("m", "hi"), timeout=2)
    assert reply.message.parts[0].text == "hi"
    assert headers["x-llmgateway-provider"] == "fake"
    (first, first_left), (_, second_left) = servicer.seen
    assert first["authorization"] == "Bearer k-123"
    assert first_left is not None
    # The timeout travels in grpc-timeout with limited precision and is turned back into a deadline
    # on the server's clock: it may read a few milliseconds over what the client set (7.008 seen).
    assert 5 < first_left <= 7.05
    assert second_left is not None
    assert second_left <= 2.05


def test_error_details_are_decoded(fake: tuple[FakeChat, str]) -> None:
    servicer, target = fake
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="slow down")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason="RATE_LIMITED", domain="llmgateway"))
    status.details.add().Pack(
        error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1, nanos=500_000_000))
    )
    servicer.fail = status
    with Client(target, tls=False) as client, pytest.raises(GatewayError) as raised:
        client.chat(text_request("m", "hi"))
    error = raised.value
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (error.reason, error.domain, error.retry_delay) == ("RATE_LIMITED", "llmgateway", 1.5)
    assert error.message == "slow down"


def test_stream_is_an_iterator(fake: tuple[FakeChat, str]) -> None:
    _, target = fake
    with Client(target, tls=False) as client:
        chunks = list(client.chat_stream(text_request("m", "hi")))
        assert [chunk.delta.text for chunk in chunks] == ["", "a", "b", "", "c", ""]
        assert (chunks[0].provider, chunks[-1].usage.output_tokens) == ("fake", 3)


def test_stream_text_skips_the_chunks_without_text(fake: tuple[FakeChat, str]) -> None:
    _, target = fake
    with Client(target, tls=False) as client:
        assert list(client.chat_stream(text_request("m", "hi")).text()) == ["a", "b", "c"]


async def test_async_client(fake: tuple[FakeChat, str]) -> None:
    servicer, target = fake
    async with AsyncClient(target, api_key="k-9", tls=False) as client:
        reply = await client.chat(text_request("m", "hello"))
        chunks = [chunk.delta.text async for chunk in client.chat_stream(text_request("m", "hi"))]
        pieces = [piece async for piece in client.chat_stream(text_request("m", "hi")).text()]
    assert reply.message.parts[0].text == "hello"
    assert chunks == ["", "a", "b", "", "c", ""]
    assert pieces == ["a", "b", "c"]
    assert servicer.seen[0][0]["authorization"] == "Bearer k-9"


def test_retry_service_config_is_the_shared_one() -> None:
    shared: dict[str, Any] = json.loads((SHARED / "service_config.json").read_text())
    assert shared == RETRY_SERVICE_CONFIG


def test_unreachable_gateway_is_a_gateway_error() -> None:
    started = time.monotonic()
    with (
        Client("127.0.0.1:1", tls=False, service_config=None) as client,
        pytest.raises(GatewayError) as raised,
    ):
        client.chat(text_request("m", "hi"), timeout=2)
    assert raised.value.code in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
    assert raised.value.reason == ""
    assert time.monotonic() - started < 5
