"""Bad input gets INVALID_ARGUMENT or NOT_FOUND with BadRequest or ResourceInfo, never INTERNAL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2

from llmgateway.app import Gateway
from llmgateway.observability.logging_setup import ACCESS_LOGGER, JsonFormatter
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import ECHO_CONFIG, Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import RichStatus, rich_status

SMALL_LIMIT_CONFIG = {**ECHO_CONFIG, "limits": {"max_request_bytes": 64 * 1024}}


def schema(data: dict[str, Any]) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update(data)
    return value


def tool(name: str, parameters: dict[str, Any] | None = None) -> content_pb2.Tool:
    result = content_pb2.Tool(name=name, description="a tool")
    if parameters is not None:
        result.parameters.CopyFrom(schema(parameters))
    return result


async def call_fails(client: Client, request: chat_pb2.ChatRequest) -> RichStatus:
    """The request fails the same way on Chat and on ChatStream."""
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await client.chat.Chat(request, timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        stream = client.chat.ChatStream(
            chat_pb2.ChatStreamRequest.FromString(request.SerializeToString()), timeout=5
        )
        async for _ in stream:
            pass
    first, second = rich_status(unary.value), rich_status(streamed.value)
    assert (first.code, first.reason) == (second.code, second.reason)
    return first


def violations(status: RichStatus) -> dict[str, str]:
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert status.reason == "INVALID_REQUEST"
    bad_request = status.detail(error_details_pb2.BadRequest)
    return {v.field: v.description for v in bad_request.field_violations}


@pytest.fixture
async def client(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> Client:
    return connect(await start_gateway(SMALL_LIMIT_CONFIG))


async def test_empty_messages(client: Client) -> None:
    assert "messages" in violations(await call_fails(client, chat_request("echo")))


async def test_unknown_role(client: Client) -> None:
    message = content_pb2.Message(role=42, parts=[content_pb2.Part(text="hi")])  # type: ignore[arg-type]
    assert "messages[0].role" in violations(await call_fails(client, chat_request("echo", message)))


async def test_unspecified_role(client: Client) -> None:
    message = content_pb2.Message(parts=[content_pb2.Part(text="hi")])
    assert "messages[0].role" in violations(await call_fails(client, chat_request("echo", message)))


async def test_part_with_no_content(client: Client) -> None:
    message = content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part()])
    found = violations(await call_fails(client, chat_request("echo", message)))
    assert "no content" in found["messages[0].parts[0]"]


async def test_message_without_parts(client: Client) -> None:
    message = content_pb2.Message(role=content_pb2.ROLE_USER)
    assert "messages[0].parts" in violations(await call_fails(client, chat_request("echo", message)))


async def test_unknown_model(client: Client) -> None:
    status = await call_fails(client, chat_request("no-such-model", user("hi")))
    assert status.code == grpc.StatusCode.NOT_FOUND
    assert status.reason == "MODEL_NOT_FOUND"
    resource = status.detail(error_details_pb2.ResourceInfo)
    assert resource.resource_name == "no-such-model"


async def test_missing_model(client: Client) -> None:
    assert "model" in violations(await call_fails(client, chat_request("", user("hi"))))


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"temperature": 2.5}, "generation_config.temperature"),
        ({"temperature": -0.1}, "generation_config.temperature"),
        ({"temperature": float("nan")}, "generation_config.temperature"),
        ({"top_p": 0.0}, "generation_config.top_p"),
        ({"top_p": float("inf")}, "generation_config.top_p"),
        ({"top_k": 0}, "generation_config.top_k"),
        ({"max_output_tokens": -5}, "generation_config.max_output_tokens"),
        ({"stop_sequences": [""]}, "generation_config.stop_sequences[0]"),
        ({"presence_penalty": 3.0}, "generation_config.presence_penalty"),
    ],
)
async def test_generation_settings_out_of_range(client: Client, settings: dict[str, Any], field: str) -> None:
    request = chat_request("echo", user("hi"), generation_config=chat_pb2.GenerationConfig(**settings))
    assert field in violations(await call_fails(client, request))


async def test_oversize_request(client: Client) -> None:
    request = chat_request("echo", user("x" * (80 * 1024)))
    found = violations(await call_fails(client, request))
    assert "limit is 65536" in found["request"]


async def test_invalid_tool_schema(client: Client) -> None:
    request = chat_request("echo", user("hi"), tools=[tool("lookup", {"type": "object", "properties": 5})])
    found = violations(await call_fails(client, request))
    assert "not a valid JSON Schema" in found["tools[0].parameters"]


async def test_tool_schema_must_describe_an_object(client: Client) -> None:
    request = chat_request("echo", user("hi"), tools=[tool("lookup", {"type": "string"})])
    assert "tools[0].parameters" in violations(await call_fails(client, request))


async def test_duplicate_tool_names(client: Client) -> None:
    request = chat_request("echo", user("hi"), tools=[tool("lookup"), tool("lookup")])
    found = violations(await call_fails(client, request))
    assert "duplicate" in found["tools[1].name"]


async def test_bad_tool_name_and_tool_choice(client: Client) -> None:
    request = chat_request(
        "echo",
        user("hi"),
        tools=[tool("has space")],
        tool_choice=content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_TOOL, tool_name="other"),
    )
    found = violations(await call_fails(client, request))
    assert {"tools[0].name", "tool_choice.tool_name"} <= found.keys()


async def test_invalid_response_schema(client: Client) -> None:
    config = chat_pb2.GenerationConfig(response_json_schema=schema({"type": "no-such-type"}))
    request = chat_request("echo", user("hi"), generation_config=config)
    assert "generation_config.response_json_schema" in violations(await call_fails(client, request))


async def test_json_object_and_one_tool_call_need_what_they_qualify(client: Client) -> None:
    config = chat_pb2.GenerationConfig(
        response_json_schema=schema({"type": "object"}), response_json_object=True
    )
    choice = content_pb2.ToolChoice(disable_parallel_tool_calls=True)
    request = chat_request("echo", user("hi"), generation_config=config, tool_choice=choice)
    found = violations(await call_fails(client, request))
    assert "not both" in found["generation_config.response_json_object"]
    assert found["tool_choice.disable_parallel_tool_calls"] == "requires tools"
    strict_alone = chat_pb2.GenerationConfig(response_json_schema_strict=True)
    found = violations(
        await call_fails(client, chat_request("echo", user("hi"), generation_config=strict_alone))
    )
    assert found["generation_config.response_json_schema_strict"] == "only with response_json_schema"


async def test_tool_result_without_a_matching_call(client: Client) -> None:
    result = content_pb2.Message(
        role=content_pb2.ROLE_TOOL,
        parts=[content_pb2.Part(tool_result=content_pb2.ToolResult(tool_call_id="nope"))],
    )
    found = violations(await call_fails(client, chat_request("echo", user("hi"), result)))
    assert "messages[1].parts[0].tool_result.tool_call_id" in found


async def test_part_kind_not_allowed_for_role(client: Client) -> None:
    message = content_pb2.Message(
        role=content_pb2.ROLE_USER, parts=[content_pb2.Part(tool_call=content_pb2.ToolCall(id="1", name="x"))]
    )
    assert "messages[0].parts[0]" in violations(await call_fails(client, chat_request("echo", message)))


async def test_media_without_source_and_bad_uri(client: Client) -> None:
    message = content_pb2.Message(
        role=content_pb2.ROLE_USER,
        parts=[
            content_pb2.Part(media=content_pb2.Media(mime_type="image/png")),
            content_pb2.Part(media=content_pb2.Media(uri="http://169.254.169.254/latest")),
        ],
    )
    found = violations(await call_fails(client, chat_request("echo", message)))
    assert {"messages[0].parts[0].media", "messages[0].parts[1].media.uri"} <= found.keys()


async def test_bad_request_id_and_labels(client: Client) -> None:
    request = chat_request("echo", user("hi"), request_id="has spaces\n", labels={"": "x", "ok": "y" * 300})
    found = violations(await call_fails(client, request))
    assert {"request_id", "labels[]", "labels[ok]"} <= found.keys()


async def test_every_violation_is_reported_at_once(client: Client) -> None:
    request = chat_request(
        "",
        content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part()]),
        generation_config=chat_pb2.GenerationConfig(temperature=9),
    )
    found = violations(await call_fails(client, request))
    assert {"model", "messages[0].parts[0]", "generation_config.temperature"} <= found.keys()


async def test_stream_request_fields_match_chat_request() -> None:
    # ChatStream relies on ChatStreamRequest and ChatRequest sharing field numbers and types.
    chat_fields = {(f.name, f.number, f.type) for f in chat_pb2.ChatRequest.DESCRIPTOR.fields}
    stream_fields = {(f.name, f.number, f.type) for f in chat_pb2.ChatStreamRequest.DESCRIPTOR.fields}
    assert chat_fields == stream_fields
    assert stream_request("m").model == "m"


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("/llmgateway.v1.ChatService/Chat", b"\x0a\x02\xff\xfe"),  # model: invalid UTF-8
        ("/llmgateway.v1.ChatService/Chat", b"\x0a\x05ab"),  # truncated field
        ("/llmgateway.v1.ChatService/ChatStream", b"\x12\x03\xff\xff\xff"),  # corrupt message
    ],
)
async def test_unparsable_request_bytes(client: Client, method: str, payload: bytes) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        if method.endswith("Stream"):
            stream: Any = client.channel.unary_stream(method)  # raw bytes: no serializer
            async for _ in stream(payload, timeout=5):
                pass
        else:
            unary: Any = client.channel.unary_unary(method)
            await unary(payload, timeout=5)
    status = rich_status(failure.value)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert status.detail(error_details_pb2.BadRequest).field_violations[0].reason == "UNPARSABLE"


async def test_long_model_names_are_refused_and_never_echoed_whole(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A model name past 256 characters is INVALID_ARGUMENT (before, a 4 KB name came back as
    RESOURCE_EXHAUSTED: its echo in the trailers passed the client's metadata limit, and a 5 MB name
    made a 5 MB access-log line); a shorter unknown one is NOT_FOUND, echoed in part."""
    huge = "m" * 50_000
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        status = await call_fails(client, chat_request(huge, user("hi")))
    assert violations(status) == {"model": "longer than 256 characters"}
    assert len(status.message) < 1000
    lines = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert lines and all(len(JsonFormatter().format(r)) < 2000 for r in lines)

    long_unknown = "x" * 200
    status = await call_fails(client, chat_request(long_unknown, user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")
    resource = status.detail(error_details_pb2.ResourceInfo)
    assert resource.resource_name == "x" * 128 + "...(72 more characters)"
    assert long_unknown not in status.message
