"""The Gemini adapter through a real gateway against the Gemini simulator."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from pydantic import SecretStr

from llmgateway.app import Gateway
from llmgateway.config import MediaSettings, ProviderSettings
from llmgateway.errors import GatewayError
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.gemini import create
from llmgateway.providers.media import MediaFetcher
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import RichStatus, rich_status
from tests.upstreams import signing
from tests.upstreams.gemini import Behaviour, GeminiSimulator

API_KEY = "sim-gemini-key-0123456789abcdef"
FILE_URI = "https://generativelanguage.googleapis.com/v1beta/files/abc123"


@pytest.fixture(scope="module")
def simulator() -> Iterator[GeminiSimulator]:
    with GeminiSimulator(api_key=API_KEY) as sim:
        yield sim


@pytest.fixture
def sim(simulator: GeminiSimulator) -> GeminiSimulator:
    simulator.reset()
    return simulator


def gemini_config(base_url: str, api_key: str | None = API_KEY, **provider: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"name": "gemini-main", "type": "gemini", "base_url": base_url, **provider}
    if api_key is not None:
        settings["api_key"] = api_key
    return {
        "providers": [settings],
        "models": [
            {"name": "gem", "deployments": [{"provider": "gemini-main", "model": "gemini-2.5-flash"}]}
        ],
        # The adapter's own error mapping is under test here; the router's retries are tested elsewhere.
        "routing": {"retry": {"max_retries": 0}},
    }


@pytest.fixture
async def client(
    sim: GeminiSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> Client:
    return connect(await start_gateway(gemini_config(sim.base_url)))


async def collect(stream: AsyncIterable[chat_pb2.ChatStreamResponse]) -> list[chat_pb2.ChatStreamResponse]:
    return [message async for message in stream]


async def stream_fails(
    client: Client, request: chat_pb2.ChatStreamRequest, timeout: float = 5
) -> tuple[list[chat_pb2.ChatStreamResponse], RichStatus]:
    received: list[chat_pb2.ChatStreamResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        async for message in client.chat.ChatStream(request, timeout=timeout):
            received.append(message)
    return received, rich_status(failure.value)


async def chat_fails(client: Client, request: chat_pb2.ChatRequest, timeout: float = 5) -> RichStatus:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(request, timeout=timeout)
    return rich_status(failure.value)


async def both_fail(client: Client, *messages: content_pb2.Message, **fields: Any) -> list[RichStatus]:
    return [
        await chat_fails(client, chat_request("gem", *messages, **fields)),
        (await stream_fails(client, stream_request("gem", *messages, **fields)))[1],
    ]


def message(role: content_pb2.Role.ValueType, *parts: content_pb2.Part) -> content_pb2.Message:
    return content_pb2.Message(role=role, parts=list(parts))


def text(value: str) -> content_pb2.Part:
    return content_pb2.Part(text=value)


def weather_tool() -> content_pb2.Tool:
    tool = content_pb2.Tool(name="get_weather", description="Weather for a city")
    tool.parameters.update(
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    )
    return tool


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"data: {json.dumps(event)}\r\n\r\n" for event in events).encode()


def chunk(parts: list[dict[str, Any]], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r1", **extra}


def sent_body(sim: GeminiSimulator) -> dict[str, Any]:
    body = sim.requests[-1].body
    assert isinstance(body, dict)
    return body


# --- happy paths -------------------------------------------------------------------------------


async def test_chat(client: Client, sim: GeminiSimulator) -> None:
    request = chat_request(
        "gem",
        message(content_pb2.ROLE_SYSTEM, text("Be brief.")),
        message(content_pb2.ROLE_DEVELOPER, text("Use English.")),
        user("hello world"),
        generation_config=chat_pb2.GenerationConfig(
            max_output_tokens=50,
            temperature=0.5,
            top_p=0.9,
            top_k=40,
            stop_sequences=["END"],
            seed=7,
            presence_penalty=0.5,
            frequency_penalty=-0.5,
        ),
    )
    response = await client.chat.Chat(request, timeout=5)
    assert (response.provider, response.model) == ("gemini-main", "gemini-2.5-flash")
    assert [p.text for p in response.message.parts] == ["You said: hello world"]
    assert response.message.role == content_pb2.ROLE_ASSISTANT
    assert response.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (
        6,
        4,
        10,
    )

    sent = sim.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert sent.query == {}
    assert sent_body(sim) == {
        "contents": [{"role": "user", "parts": [{"text": "hello world"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use English."}]},
        "generationConfig": {
            "maxOutputTokens": 50,
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 40,
            "stopSequences": ["END"],
            "seed": 7,
            "presencePenalty": 0.5,
            "frequencyPenalty": -0.5,
        },
    }


async def test_stream_order_and_usage(client: Client, sim: GeminiSimulator) -> None:
    messages = await collect(client.chat.ChatStream(stream_request("gem", user("one two three")), timeout=5))
    first, *content, last = messages
    assert (first.provider, first.model, bool(first.id)) == ("gemini-main", "gemini-2.5-flash", True)
    assert [m.delta.text for m in content[:-1]] == ["You", " said:", " one", " two", " three"]
    assert content[-1].finish_reason == chat_pb2.FINISH_REASON_STOP
    assert all(not m.finish_reason for m in content[:-1])
    assert (last.usage.input_tokens, last.usage.output_tokens, last.usage.total_tokens) == (3, 5, 8)
    sent = sim.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert sent.query == {"alt": "sse"}
    assert sent.headers["x-goog-api-key"] == API_KEY


@pytest.mark.parametrize(
    "framing",
    [{"split_writes": True}, {"crlf": True}, {"comments": True}, {"split_writes": True, "crlf": True, "comments": True}],
)  # fmt: skip
async def test_sse_framing_variants_give_the_same_stream(
    client: Client, sim: GeminiSimulator, framing: dict[str, Any]
) -> None:
    sim.behaviour = Behaviour(**framing)
    messages = await collect(client.chat.ChatStream(stream_request("gem", user("split me up")), timeout=5))
    assert "".join(m.delta.text for m in messages) == "You said: split me up"
    assert messages[-1].usage.total_tokens > 0


async def test_multi_turn_maps_roles(client: Client, sim: GeminiSimulator) -> None:
    request = chat_request(
        "gem", user("hi"), message(content_pb2.ROLE_ASSISTANT, text("hello!")), user("how are you")
    )
    response = await client.chat.Chat(request, timeout=5)
    assert response.message.parts[0].text == "You said: how are you"
    assert sent_body(sim)["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "hello!"}]},
        {"role": "user", "parts": [{"text": "how are you"}]},
    ]


async def test_images_go_inline_or_as_file_data(client: Client, sim: GeminiSimulator) -> None:
    png = b"\x89PNG\r\n"
    request = user("what is this?")
    request.parts.extend(
        [
            content_pb2.Part(media=content_pb2.Media(mime_type="image/png", data=png)),
            content_pb2.Part(media=content_pb2.Media(uri="data:image/jpeg;base64,/9j/")),
            content_pb2.Part(media=content_pb2.Media(mime_type="image/png", uri=FILE_URI)),
        ]
    )
    await client.chat.Chat(chat_request("gem", request), timeout=5)
    await collect(client.chat.ChatStream(stream_request("gem", request), timeout=5))
    for recorded in sim.requests:
        assert isinstance(recorded.body, dict)
        assert recorded.body["contents"][0]["parts"] == [
            {"text": "what is this?"},
            {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}},
            {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}},
            {"fileData": {"fileUri": FILE_URI, "mimeType": "image/png"}},
        ]


async def test_https_image_uri_needs_fetching(client: Client, sim: GeminiSimulator) -> None:
    image = message(
        content_pb2.ROLE_USER,
        text("see"),
        content_pb2.Part(media=content_pb2.Media(uri="https://example.com/a.png")),
    )
    for status in await both_fail(client, image):
        assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    assert sim.requests == []


async def test_json_schema_output(client: Client, sim: GeminiSimulator) -> None:
    config = chat_pb2.GenerationConfig()
    config.response_json_schema.update(
        {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}
    )
    await client.chat.Chat(chat_request("gem", user("json please"), generation_config=config), timeout=5)
    assert sent_body(sim)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}},
    }


@pytest.mark.parametrize(
    "config",
    [
        chat_pb2.GenerationConfig(stop_sequences=["a", "b", "c", "d", "e", "f"]),
        chat_pb2.GenerationConfig(seed=2**40),
    ],
    ids=["six-stop-sequences", "64-bit-seed"],
)
async def test_settings_gemini_cannot_take_are_refused(
    client: Client, sim: GeminiSimulator, config: chat_pb2.GenerationConfig
) -> None:
    for status in await both_fail(client, user("hi"), generation_config=config):
        assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
        assert status.error_info.metadata["provider"] == "gemini-main"
    assert sim.requests == []


async def test_connections_are_pooled(client: Client, sim: GeminiSimulator) -> None:
    for _ in range(3):
        await client.chat.Chat(chat_request("gem", user("hi")), timeout=5)
    await collect(client.chat.ChatStream(stream_request("gem", user("hi")), timeout=5))
    assert sim.connections_opened == 1


# --- tools -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_AUTO), {"mode": "AUTO"}),
        (content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_NONE), {"mode": "NONE"}),
        (content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_REQUIRED), {"mode": "ANY"}),
        (
            content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_TOOL, tool_name="get_weather"),
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
        (None, None),
    ],
)
async def test_tool_definitions_and_choice(
    client: Client,
    sim: GeminiSimulator,
    choice: content_pb2.ToolChoice | None,
    expected: dict[str, Any] | None,
) -> None:
    await client.chat.Chat(
        chat_request("gem", user("hi"), tools=[weather_tool()], tool_choice=choice), timeout=5
    )
    body = sent_body(sim)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ]
    assert body.get("toolConfig") == (None if expected is None else {"functionCallingConfig": expected})


async def test_tool_call_round_trip(client: Client, sim: GeminiSimulator) -> None:
    sim.behaviour = Behaviour(
        tool_calls=[("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Rome"}')]
    )
    question = user("weather in Paris and Rome?")
    response = await client.chat.Chat(chat_request("gem", question, tools=[weather_tool()]), timeout=5)
    assert response.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS
    calls = [p.tool_call for p in response.message.parts]
    assert [c.name for c in calls] == ["get_weather", "get_weather"]
    assert [json.loads(c.arguments_json) for c in calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert calls[0].id.startswith("call_0_") and calls[1].id.startswith("call_1_")

    # Results name no tool (the gateway takes it from the calls); one is plain text, one failed.
    sim.behaviour = Behaviour(reply_text="Sunny and rainy.")
    results = message(
        content_pb2.ROLE_TOOL,
        content_pb2.Part(
            tool_result=content_pb2.ToolResult(tool_call_id=calls[0].id, content=[text('{"t": 21}')])
        ),
        content_pb2.Part(
            tool_result=content_pb2.ToolResult(
                tool_call_id=calls[1].id, content=[text("timeout")], is_error=True
            )
        ),
    )
    follow_up = await client.chat.Chat(
        chat_request("gem", question, response.message, results, tools=[weather_tool()]), timeout=5
    )
    assert follow_up.message.parts[0].text == "Sunny and rainy."
    contents = sent_body(sim)["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"t": 21}}},
            {"functionResponse": {"name": "get_weather", "response": {"error": "timeout"}}},
        ],
    }


async def test_tool_result_text_is_wrapped_and_named(client: Client, sim: GeminiSimulator) -> None:
    call = content_pb2.ToolCall(id="abc", name="lookup", arguments_json='{"q": "x"}')
    result = content_pb2.ToolResult(tool_call_id="abc", name="lookup", content=[text("plain words")])
    await client.chat.Chat(
        chat_request(
            "gem",
            user("look it up"),
            message(content_pb2.ROLE_ASSISTANT, content_pb2.Part(tool_call=call)),
            message(content_pb2.ROLE_TOOL, content_pb2.Part(tool_result=result)),
        ),
        timeout=5,
    )
    contents = sent_body(sim)["contents"]
    # A provider-given id (not one the adapter made up) goes back on both sides.
    assert contents[1]["parts"] == [{"functionCall": {"name": "lookup", "args": {"q": "x"}, "id": "abc"}}]
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "lookup", "response": {"result": "plain words"}, "id": "abc"}}
    ]


async def test_tool_result_without_any_name_is_refused(sim: GeminiSimulator) -> None:
    # The gateway's validation already refuses a result without an earlier call; the adapter
    # guards on its own too, as nothing else would tell Gemini which function answered.
    result = content_pb2.ToolResult(tool_call_id="unknown", content=[text("x")])
    request = chat_request(
        "gem", user("hi"), message(content_pb2.ROLE_TOOL, content_pb2.Part(tool_result=result))
    )
    async with direct_provider(sim) as provider:
        with pytest.raises(GatewayError) as failure:
            await provider.chat(
                UpstreamCall(request=request, upstream_model="gemini-2.5-flash", request_id="r")
            )
    assert failure.value.reason == "UNSUPPORTED_CAPABILITY"
    assert sim.requests == []


async def test_streamed_tool_calls(client: Client, sim: GeminiSimulator) -> None:
    sim.behaviour = Behaviour(
        tool_calls=[("get_weather", '{"city": "Paris", "days": 3}'), ("get_weather", "{}")]
    )
    messages = await collect(
        client.chat.ChatStream(stream_request("gem", user("weather?"), tools=[weather_tool()]), timeout=5)
    )
    deltas = [t for m in messages for t in m.delta.tool_calls]
    assert [(d.index, d.name) for d in deltas] == [(0, "get_weather"), (1, "get_weather")]
    assert all(d.id.startswith(f"call_{d.index}_") for d in deltas)
    assert [json.loads(d.arguments_json_fragment) for d in deltas] == [{"city": "Paris", "days": 3}, {}]
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_TOOL_CALLS]


# --- finish reasons, reasoning, blocked prompts --------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("SAFETY", chat_pb2.FINISH_REASON_CONTENT_FILTER),
        ("PROHIBITED_CONTENT", chat_pb2.FINISH_REASON_CONTENT_FILTER),
        ("RECITATION", chat_pb2.FINISH_REASON_CONTENT_FILTER),
        ("MAX_TOKENS", chat_pb2.FINISH_REASON_LENGTH),
        ("MALFORMED_FUNCTION_CALL", chat_pb2.FINISH_REASON_OTHER),
        ("OTHER", chat_pb2.FINISH_REASON_OTHER),
    ],
)
async def test_finish_reasons(
    client: Client, sim: GeminiSimulator, wire: str, expected: chat_pb2.FinishReason.ValueType
) -> None:
    sim.behaviour = Behaviour(finish_reason=wire)
    response = await client.chat.Chat(chat_request("gem", user("hi")), timeout=5)
    assert response.finish_reason == expected
    messages = await collect(client.chat.ChatStream(stream_request("gem", user("hi")), timeout=5))
    assert [m.finish_reason for m in messages if m.finish_reason] == [expected]


async def test_max_output_tokens_gives_length(client: Client, sim: GeminiSimulator) -> None:
    config = chat_pb2.GenerationConfig(max_output_tokens=2)
    response = await client.chat.Chat(chat_request("gem", user("a b c"), generation_config=config), timeout=5)
    assert (response.message.parts[0].text, response.finish_reason) == (
        "You said:",
        chat_pb2.FINISH_REASON_LENGTH,
    )


TEXT_SIGNATURE = signing.sign("gemini", "text part")  # what the simulator signs text parts with


async def test_reasoning_and_thought_usage(client: Client, sim: GeminiSimulator) -> None:
    usage = {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": 7, "cachedContentTokenCount": 2,
             "totalTokenCount": 15}  # fmt: skip
    unary = chunk(
        [{"text": "Let me think.", "thought": True}, {"text": "Answer.", "thoughtSignature": TEXT_SIGNATURE}],
        "STOP",
        usageMetadata=usage,
    )
    sim.enqueue(
        Behaviour(raw_body=json.dumps(unary).encode()),
        Behaviour(
            raw_body=sse(
                chunk([{"text": "Let me think.", "thought": True}]),
                chunk([{"text": "Answer."}], "STOP", usageMetadata=usage),
            ),
            content_type="text/event-stream",
        ),
    )
    response = await client.chat.Chat(chat_request("gem", user("hi")), timeout=5)
    assert [p.WhichOneof("kind") for p in response.message.parts] == ["reasoning", "reasoning", "text"]
    assert response.message.parts[0].reasoning.text == "Let me think."
    assert response.message.parts[1].reasoning.signature == TEXT_SIGNATURE
    assert response.message.parts[2].text == "Answer."
    assert (
        response.usage.output_tokens,
        response.usage.reasoning_tokens,
        response.usage.cached_input_tokens,
    ) == (10, 7, 2)
    assert response.usage.total_tokens == 15

    messages = await collect(client.chat.ChatStream(stream_request("gem", user("hi")), timeout=5))
    assert "".join(m.delta.reasoning for m in messages) == "Let me think."
    assert "".join(m.delta.text for m in messages) == "Answer."
    assert messages[-1].usage.reasoning_tokens == 7

    # The signature goes back on the part it came with; the thought text does not.
    await client.chat.Chat(chat_request("gem", user("hi"), response.message, user("more")), timeout=5)
    assert sent_body(sim)["contents"][1] == {
        "role": "model",
        "parts": [{"text": "Answer.", "thoughtSignature": TEXT_SIGNATURE}],
    }


async def test_blocked_prompt_is_content_filtered(client: Client, sim: GeminiSimulator) -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}
    sim.enqueue(
        Behaviour(raw_body=json.dumps(blocked).encode()),
        Behaviour(raw_body=sse(blocked), content_type="text/event-stream"),
    )
    for status in await both_fail(client, user("something bad")):
        assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CONTENT_FILTERED")


# --- upstream errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "code", "reason", "retry_after"),
    [
        (Behaviour(status=429, retry_after="7"), "RESOURCE_EXHAUSTED", "UPSTREAM_RATE_LIMITED", 7),
        (Behaviour(status=429), "RESOURCE_EXHAUSTED", "UPSTREAM_RATE_LIMITED", 1),
        (Behaviour(status=500), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=503, error_message="The model is overloaded.", retry_after="2"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", 2),
        (Behaviour(status=504), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=400), "INVALID_ARGUMENT", "UPSTREAM_REJECTED_REQUEST", None),
        (Behaviour(status=400, error_message="The input token count (2000000) exceeds the maximum number of tokens allowed (1048576)."), "INVALID_ARGUMENT", "CONTEXT_LENGTH_EXCEEDED", None),
        (Behaviour(status=404), "NOT_FOUND", "UPSTREAM_NOT_FOUND", None),
        (Behaviour(status=403), "UNAVAILABLE", "UPSTREAM_AUTH_FAILED", None),
        (Behaviour(status=400, error_code="API_KEY_INVALID"), "UNAVAILABLE", "UPSTREAM_AUTH_FAILED", None),
        (Behaviour(status=502, error_body="<html>bad gateway</html>", content_type="text/html"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(raw_body=b'{"candidates": [', content_type="application/json"), "UNAVAILABLE", "UPSTREAM_MALFORMED_RESPONSE", None),
    ],
)  # fmt: skip
async def test_upstream_errors_map_to_codes(
    client: Client,
    sim: GeminiSimulator,
    behaviour: Behaviour,
    code: str,
    reason: str,
    retry_after: int | None,
) -> None:
    sim.behaviour = behaviour
    for status in await both_fail(client, user("hi")):
        assert (status.code.name, status.reason) == (code, reason)
        assert status.error_info.metadata["provider"] == "gemini-main"
        if retry_after is None:
            assert error_details_pb2.RetryInfo not in status.details
        else:
            assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == retry_after


@pytest.mark.parametrize("api_key", ["AIzaSy-wrong-key-abcdefghijklmnop", None])
async def test_rejected_or_missing_key(
    sim: GeminiSimulator,
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    api_key: str | None,
) -> None:
    client = connect(await start_gateway(gemini_config(sim.base_url, api_key=api_key)))
    for status in await both_fail(client, user("hi")):
        assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_AUTH_FAILED")
        everything = status.message + str(status.details)
        if api_key:
            assert api_key not in everything and api_key[:8] not in everything
    assert all("key" not in r.query for r in sim.requests)


async def test_connection_refused(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> None:
    client = connect(await start_gateway(gemini_config("http://127.0.0.1:9")))
    status = await chat_fails(client, chat_request("gem", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CONNECT_FAILED")


async def test_wrong_content_type_on_a_stream(client: Client, sim: GeminiSimulator) -> None:
    sim.behaviour = Behaviour(raw_body=json.dumps(chunk([{"text": "x"}], "STOP")).encode())
    received, status = await stream_fails(client, stream_request("gem", user("hi")))
    assert received == []
    assert status.reason == "UPSTREAM_MALFORMED_RESPONSE"


async def test_stream_cut_after_content_reports_partial_usage(client: Client, sim: GeminiSimulator) -> None:
    sim.behaviour = Behaviour(cut_after=3)
    received, status = await stream_fails(client, stream_request("gem", user("a b c d e f g h")))
    assert received[0].provider == "gemini-main"
    assert "".join(m.delta.text for m in received) == "You said: a"
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_STREAM_CUT", 3)
    assert interruption.partial_usage.output_tokens == 3
    assert interruption.partial_usage.input_tokens == 8


async def test_stream_cut_before_content(client: Client, sim: GeminiSimulator) -> None:
    sim.behaviour = Behaviour(cut_after=0)
    received, status = await stream_fails(client, stream_request("gem", user("hello")))
    assert received == []
    assert status.reason == "UPSTREAM_STREAM_CUT"
    assert chat_pb2.StreamInterruption not in status.details


async def test_connection_reset_mid_stream(client: Client, sim: GeminiSimulator) -> None:
    sim.behaviour = Behaviour(reset_after=2)
    received, status = await stream_fails(client, stream_request("gem", user("a b c d e f")))
    assert len(received) == 3
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_CONNECTION_LOST", 2)


async def test_error_event_mid_stream(client: Client, sim: GeminiSimulator) -> None:
    sim.behaviour = Behaviour(
        stream_error_after=2, error_type="RESOURCE_EXHAUSTED", error_message="quota gone", retry_after="4"
    )
    received, status = await stream_fails(client, stream_request("gem", user("a b c d")))
    assert [m.delta.text for m in received[1:]] == ["You", " said:"]
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    assert status.error_info.metadata["cause"] == "UPSTREAM_STREAM_ERROR"
    assert status.error_info.metadata["upstream_code"] == "RESOURCE_EXHAUSTED"
    assert "quota gone" in status.message
    assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == 4


async def test_error_event_before_content_is_not_an_interruption(
    client: Client, sim: GeminiSimulator
) -> None:
    sim.behaviour = Behaviour(stream_error_after=0, error_type="UNAVAILABLE", error_message="overloaded")
    received, status = await stream_fails(client, stream_request("gem", user("hi")))
    assert received == []
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_STREAM_ERROR")


async def test_stall_before_first_token(
    sim: GeminiSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = gemini_config(sim.base_url, timeouts={"first_token_s": 0.3, "between_tokens_s": 0.3})
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(stall_after=0)
    received, status = await stream_fails(client, stream_request("gem", user("hi")))
    assert received == []
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_STALL")
    await sim.wait_for_disconnects(1)


async def test_stall_mid_stream(
    sim: GeminiSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = gemini_config(sim.base_url, timeouts={"first_token_s": 1, "between_tokens_s": 0.3})
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(stall_after=2)
    received, status = await stream_fails(client, stream_request("gem", user("a b c d")))
    assert len(received) == 3
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_STALL", 2)
    await sim.wait_for_disconnects(1)


# --- deadlines and cancellation ----------------------------------------------------------------


async def test_deadline_bounds_a_unary_call_and_closes_the_upstream(
    client: Client, sim: GeminiSimulator
) -> None:
    sim.behaviour = Behaviour(latency=10)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(chat_request("gem", user("hi")), timeout=0.5)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await sim.wait_for_disconnects(1)


async def test_deadline_bounds_a_stream_and_closes_the_upstream(client: Client, sim: GeminiSimulator) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    received: list[chat_pb2.ChatStreamResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        async for item in client.chat.ChatStream(
            stream_request("gem", user(" ".join("w" * 40))), timeout=0.7
        ):
            received.append(item)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 1 < len(received) < 20
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


async def test_caller_cancel_closes_the_upstream(client: Client, sim: GeminiSimulator) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    call = client.chat.ChatStream(stream_request("gem", user(" ".join("w" * 40))), timeout=30)
    received = [await call.read(), await call.read()]
    assert isinstance(received[1], chat_pb2.ChatStreamResponse) and received[1].delta.text
    call.cancel()
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


async def test_caller_cancel_of_a_unary_call_closes_the_upstream(
    client: Client, sim: GeminiSimulator
) -> None:
    sim.behaviour = Behaviour(latency=10)
    call = client.chat.Chat(chat_request("gem", user("hi")), timeout=30)
    async with asyncio.timeout(5):
        while not sim.requests:
            await asyncio.sleep(0.01)
    call.cancel()
    await sim.wait_for_disconnects(1)


# --- model listing -----------------------------------------------------------------------------


@asynccontextmanager
async def direct_provider(sim: GeminiSimulator) -> AsyncIterator[Provider]:
    fetcher = MediaFetcher(MediaSettings())
    provider = create(
        ProviderSettings(
            name="gemini-main", type="gemini", base_url=sim.base_url, api_key=SecretStr(API_KEY)
        ),
        ProviderContext(media=fetcher),
    )
    try:
        yield provider
    finally:
        await provider.aclose()
        await fetcher.aclose()


async def test_list_models(sim: GeminiSimulator) -> None:
    async with direct_provider(sim) as provider:
        names = await provider.list_models()
    assert names is not None and "gemini-2.5-flash" in names
    assert sim.requests[-1].headers["x-goog-api-key"] == API_KEY
