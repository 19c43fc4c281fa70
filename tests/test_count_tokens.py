"""ChatService.CountTokens over real gRPC: the key and its model policy apply, limits that meter
generation do not; the local estimate's figures (OpenAI's framing, tools, images, schemas); the
method in reflection, metrics and the access log; bad input as INVALID_ARGUMENT."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
import pytest
import toktok
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from llmgateway.app import Gateway
from llmgateway.providers import local_count
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway, user
from tests.rich_status import rich_status
from tests.test_auth import ID_A, KEY_A, auth_config

ALPHA = (("authorization", f"Bearer {KEY_A}"),)


def count_request(model: str, *messages: content_pb2.Message, **fields: Any) -> chat_pb2.CountTokensRequest:
    return chat_pb2.CountTokensRequest(model=model, messages=list(messages), **fields)


def o200k(text: str) -> int:
    counts: list[int] = toktok.batch_count([text], "o200k_base", threads=1)
    return counts[0]


async def fails(call: Any) -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    return rich_status(failure.value)


async def test_a_key_and_its_model_policy_are_required(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(auth_config()))
    status = await fails(client.chat.CountTokens(count_request("echo", user("hi")), timeout=5))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAUTHENTICATED, "MISSING_API_KEY")
    status = await fails(
        client.chat.CountTokens(count_request("other", user("hi")), timeout=5, metadata=ALPHA)
    )
    assert (status.code, status.reason) == (grpc.StatusCode.PERMISSION_DENIED, "MODEL_NOT_ALLOWED")
    assert status.error_info.metadata == {"model": "other", "key_id": ID_A}
    counted = await client.chat.CountTokens(count_request("echo", user("hi")), timeout=5, metadata=ALPHA)
    assert (counted.provider, counted.estimated, counted.counted_by) == ("echo", True, "toktok/o200k_base")


async def test_counting_takes_nothing_from_rpm(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    data = auth_config()
    data["auth"]["keys"][0]["policy"]["rpm"] = 1
    client = connect(await start_gateway(data))
    for _ in range(3):
        await client.chat.CountTokens(count_request("echo", user("hi")), timeout=5, metadata=ALPHA)
    # The key's one request a minute is still there for generation.
    await client.chat.Chat(
        chat_pb2.ChatRequest(model="echo", messages=[user("hi")]), timeout=5, metadata=ALPHA
    )


ECHO = {
    "providers": [{"name": "echo", "type": "echo"}],
    "models": [
        {"name": "echo", "deployments": [{"provider": "echo", "model": "gpt-4o"}]},
        {"name": "legacy", "deployments": [{"provider": "echo", "model": "gpt-4-0613"}]},
    ],
}


async def test_the_local_estimate_follows_openais_framing(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(ECHO))
    counted = await client.chat.CountTokens(count_request("echo", user("hello world")), timeout=5)
    # 3 per message + its role + its text, then 3 priming the reply (OpenAI's cookbook).
    assert counted.input_tokens == 3 + o200k("user") + o200k("hello world") + 3
    assert (counted.model, counted.estimated) == ("gpt-4o", True)
    legacy = await client.chat.CountTokens(count_request("legacy", user("hello world")), timeout=5)
    assert legacy.counted_by == "toktok/cl100k_base"

    image = content_pb2.Part(media=content_pb2.Media(mime_type="image/png", data=b"\x89PNG"))
    with_image = await client.chat.CountTokens(
        count_request(
            "echo",
            content_pb2.Message(
                role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text="hello world"), image]
            ),
        ),
        timeout=5,
    )
    assert with_image.input_tokens - counted.input_tokens == 765, "a 1024x1024 image at detail auto"

    tool = content_pb2.Tool(name="get_weather", description="Weather for a city")
    tool.parameters.update({"type": "object", "properties": {"city": {"type": "string"}}})
    with_tool = await client.chat.CountTokens(
        count_request("echo", user("hello world"), tools=[tool]), timeout=5
    )
    assert with_tool.input_tokens > counted.input_tokens + o200k('{"type":"object"')

    config = chat_pb2.GenerationConfig()
    config.response_json_schema.update({"type": "object", "properties": {"answer": {"type": "string"}}})
    with_schema = await client.chat.CountTokens(
        count_request("echo", user("hello world"), generation_config=config), timeout=5
    )
    assert with_schema.input_tokens > counted.input_tokens


async def test_bad_input_is_invalid_argument_and_unknown_models_not_found(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(ECHO))
    status = await fails(client.chat.CountTokens(count_request("echo"), timeout=5))
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST")
    status = await fails(client.chat.CountTokens(count_request("nope", user("hi")), timeout=5))
    assert (status.code, status.reason) == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")


async def test_the_method_is_reflected_metered_and_logged(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], caplog: pytest.LogCaptureFixture
) -> None:
    gateway = await start_gateway({**ECHO, "observability": {"access_log": True}})
    client = connect(gateway)
    with caplog.at_level(logging.INFO, logger="llmgateway.access"):
        call = client.chat.CountTokens(count_request("echo", user("hi")), timeout=5)
        await call
    trailers = dict(await call.trailing_metadata() or ())
    assert trailers["x-llmgateway-provider"] == "echo"
    value = gateway.metrics.registry.get_sample_value(
        "llmgateway_requests_total",
        {"frontend": "grpc", "method": "CountTokens", "model": "echo", "provider": "echo", "code": "OK"},
    )
    assert value == 1
    assert any(getattr(r, "fields", {}).get("method") == "CountTokens" for r in caplog.records)

    stub: Any = reflection_pb2_grpc.ServerReflectionStub(client.channel)  # type: ignore[arg-type]

    async def ask() -> Any:
        yield reflection_pb2.ServerReflectionRequest(file_containing_symbol="llmgateway.v1.ChatService")

    [answer] = [r async for r in stub.ServerReflectionInfo(ask(), timeout=2)]
    described = b"".join(answer.file_descriptor_response.file_descriptor_proto)
    assert b"CountTokens" in described


def test_the_estimate_loads_its_tokenizer_before_serving() -> None:
    local_count.preload(["gpt-4o"])
    assert "o200k_base" in local_count._loaded
