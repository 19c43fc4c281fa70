"""The OpenAI-compatible adapter through a real gateway against the OpenAI simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import RichStatus, rich_status
from tests.upstreams.openai import Behaviour, OpenAISimulator

API_KEY = "sk-sim-test-0123456789abcdef"


@pytest.fixture(scope="module")
def simulator() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=API_KEY) as sim:
        yield sim


@pytest.fixture
def sim(simulator: OpenAISimulator) -> OpenAISimulator:
    simulator.reset()
    return simulator


def openai_config(base_url: str, api_key: str = API_KEY, **provider: Any) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "openai-main", "type": "openai", "base_url": base_url, "api_key": api_key, **provider}
        ],
        "models": [{"name": "gpt", "deployments": [{"provider": "openai-main", "model": "gpt-4o-mini"}]}],
        # The adapter's own error mapping is under test here; the router's retries are tested elsewhere.
        "routing": {"retry": {"max_retries": 0}},
    }


@pytest.fixture
async def client(
    sim: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> Client:
    return connect(await start_gateway(openai_config(sim.base_url)))


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


def weather_tool() -> content_pb2.Tool:
    tool = content_pb2.Tool(name="get_weather", description="Weather for a city")
    tool.parameters.update(
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    )
    return tool


# --- happy paths -------------------------------------------------------------------------------


async def test_chat(client: Client, sim: OpenAISimulator) -> None:
    request = chat_request(
        "gpt",
        content_pb2.Message(role=content_pb2.ROLE_SYSTEM, parts=[content_pb2.Part(text="Be brief.")]),
        user("hello world"),
        generation_config=chat_pb2.GenerationConfig(
            max_output_tokens=50, temperature=0.5, top_p=0.9, stop_sequences=["END"], seed=7
        ),
    )
    response = await client.chat.Chat(request, timeout=5)
    assert response.provider == "openai-main"
    assert response.model.startswith("gpt-4o-mini")
    assert response.message.parts[0].text == "You said: hello world"
    assert response.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert response.usage.input_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens

    sent = sim.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body is not None
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello world"},
    ]
    assert sent.body["max_completion_tokens"] == 50
    assert sent.body["temperature"] == 0.5
    assert sent.body["stop"] == ["END"]
    assert sent.body["seed"] == 7
    assert "stream" not in sent.body


async def test_stream_order_and_usage(client: Client, sim: OpenAISimulator) -> None:
    messages = await collect(client.chat.ChatStream(stream_request("gpt", user("one two three")), timeout=5))
    first, *content, last = messages
    assert (first.provider, bool(first.id)) == ("openai-main", True)
    assert first.model.startswith("gpt-4o-mini")
    assert "".join(m.delta.text for m in content) == "You said: one two three"
    assert content[-1].finish_reason == chat_pb2.FINISH_REASON_STOP
    assert last.HasField("usage") and last.usage.output_tokens > 0 and last.usage.input_tokens > 0
    assert sim.requests[-1].body is not None
    assert sim.requests[-1].body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "framing",
    [
        {"split_writes": True},
        {"crlf": True},
        {"comments": True},
        {"split_writes": True, "crlf": True, "comments": True},
    ],
)
async def test_sse_framing_variants_give_the_same_stream(
    client: Client, sim: OpenAISimulator, framing: dict[str, Any]
) -> None:
    sim.behaviour = Behaviour(**framing)
    messages = await collect(client.chat.ChatStream(stream_request("gpt", user("split me up")), timeout=5))
    assert "".join(m.delta.text for m in messages) == "You said: split me up"
    assert messages[-1].usage.total_tokens > 0


async def test_images_go_as_image_url_parts(client: Client, sim: OpenAISimulator) -> None:
    message = content_pb2.Message(
        role=content_pb2.ROLE_USER,
        parts=[
            content_pb2.Part(text="what is this?"),
            content_pb2.Part(media=content_pb2.Media(mime_type="image/png", data=b"\x89PNG")),
            content_pb2.Part(media=content_pb2.Media(uri="https://example.com/cat.jpg")),
        ],
    )
    await client.chat.Chat(chat_request("gpt", message), timeout=5)
    assert sim.requests[-1].body is not None
    assert sim.requests[-1].body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]


async def test_json_schema_output(client: Client, sim: OpenAISimulator) -> None:
    config = chat_pb2.GenerationConfig(response_json_schema_name="answer")
    config.response_json_schema.update(
        {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}
    )
    await client.chat.Chat(chat_request("gpt", user("json please"), generation_config=config), timeout=5)
    assert sim.requests[-1].body is not None
    assert sim.requests[-1].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "schema": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}},
        },
    }


async def test_tool_call_round_trip(client: Client, sim: OpenAISimulator) -> None:
    arguments = json.dumps({"city": "Paris", "unit": "celsius"})
    sim.behaviour = Behaviour(tool_calls=[("get_weather", arguments)])
    choice = content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_TOOL, tool_name="get_weather")
    question = user("weather in Paris?")
    response = await client.chat.Chat(
        chat_request("gpt", question, tools=[weather_tool()], tool_choice=choice), timeout=5
    )
    assert response.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS
    [call_part] = [p for p in response.message.parts if p.WhichOneof("kind") == "tool_call"]
    assert call_part.tool_call.name == "get_weather"
    assert json.loads(call_part.tool_call.arguments_json) == {"city": "Paris", "unit": "celsius"}
    sent = sim.requests[-1].body
    assert sent is not None
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}

    # The answer goes back as a tool message; the simulator rejects an id it never issued.
    sim.behaviour = Behaviour(reply_text="It is sunny.")
    result = content_pb2.Message(
        role=content_pb2.ROLE_TOOL,
        parts=[
            content_pb2.Part(
                tool_result=content_pb2.ToolResult(
                    tool_call_id=call_part.tool_call.id, content=[content_pb2.Part(text='{"temp": 21}')]
                )
            )
        ],
    )
    follow_up = await client.chat.Chat(
        chat_request("gpt", question, response.message, result, tools=[weather_tool()]), timeout=5
    )
    assert follow_up.message.parts[0].text == "It is sunny."
    sent = sim.requests[-1].body
    assert sent is not None
    assert sent["messages"][1]["tool_calls"][0]["id"] == call_part.tool_call.id
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": call_part.tool_call.id,
        "content": '{"temp": 21}',
    }


async def test_streamed_tool_call_fragments(client: Client, sim: OpenAISimulator) -> None:
    first_args = json.dumps({"city": "Paris", "days": 3})
    second_args = json.dumps({"city": "Rome"})
    sim.behaviour = Behaviour(tool_calls=[("get_weather", first_args), ("get_weather", second_args)])
    messages = await collect(
        client.chat.ChatStream(stream_request("gpt", user("weather?"), tools=[weather_tool()]), timeout=5)
    )
    fragments = [t for m in messages for t in m.delta.tool_calls]
    assert len(fragments) > 4, "arguments arrive in several fragments"
    calls: dict[int, dict[str, str]] = {}
    for fragment in fragments:
        call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
        call["id"] += fragment.id
        call["name"] += fragment.name
        call["arguments"] += fragment.arguments_json_fragment
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_weather"]
    assert all(c["id"] for c in calls.values())
    assert [json.loads(c["arguments"]) for c in calls.values()] == [
        json.loads(first_args),
        json.loads(second_args),
    ]
    finish = [m.finish_reason for m in messages if m.finish_reason]
    assert finish == [chat_pb2.FINISH_REASON_TOOL_CALLS]


async def test_connections_are_pooled(client: Client, sim: OpenAISimulator) -> None:
    for _ in range(3):
        await client.chat.Chat(chat_request("gpt", user("hi")), timeout=5)
    await collect(client.chat.ChatStream(stream_request("gpt", user("hi")), timeout=5))
    assert sim.connections_opened == 1


# --- capabilities ------------------------------------------------------------------------------


async def test_top_k_is_refused_not_dropped(client: Client, sim: OpenAISimulator) -> None:
    request = chat_request("gpt", user("hi"), generation_config=chat_pb2.GenerationConfig(top_k=5))
    status = await chat_fails(client, request)
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION
    assert status.reason == "UNSUPPORTED_CAPABILITY"
    assert {"provider": "openai-main", "feature": "top_k"}.items() <= status.error_info.metadata.items()
    assert sim.requests == []


async def test_vllm_dialect_sends_top_k_and_max_tokens(
    sim: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = openai_config(sim.base_url)
    config["providers"][0]["type"] = "vllm"
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(status=400, error_message="rejected on purpose")  # the body is what matters
    request = chat_request(
        "gpt", user("hi"), generation_config=chat_pb2.GenerationConfig(top_k=5, max_output_tokens=9)
    )
    await chat_fails(client, request)
    sent = sim.requests[-1].body
    assert sent is not None
    assert (sent["top_k"], sent["max_tokens"]) == (5, 9)
    assert "max_completion_tokens" not in sent


# --- upstream errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "code", "reason", "retry_after"),
    [
        (Behaviour(status=429, error_type="rate_limit_exceeded", retry_after="7"), "RESOURCE_EXHAUSTED", "UPSTREAM_RATE_LIMITED", 7),
        (Behaviour(status=429, error_type="insufficient_quota", error_code="insufficient_quota"), "RESOURCE_EXHAUSTED", "UPSTREAM_QUOTA_EXHAUSTED", None),
        (Behaviour(status=500), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=503, retry_after="2"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", 2),
        (Behaviour(status=529), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=400, error_type="invalid_request_error", error_code="context_length_exceeded"), "INVALID_ARGUMENT", "CONTEXT_LENGTH_EXCEEDED", None),
        (Behaviour(status=400, error_type="invalid_request_error"), "INVALID_ARGUMENT", "UPSTREAM_REJECTED_REQUEST", None),
        (Behaviour(status=404, error_code="model_not_found"), "NOT_FOUND", "UPSTREAM_NOT_FOUND", None),
        (Behaviour(status=413), "INVALID_ARGUMENT", "REQUEST_TOO_LARGE", None),
        (Behaviour(status=502, error_body="<html>bad gateway</html>", content_type="text/html"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(raw_body=b'{"choices": [', content_type="application/json"), "UNAVAILABLE", "UPSTREAM_MALFORMED_RESPONSE", None),
    ],
)  # fmt: skip
async def test_upstream_errors_map_to_codes(
    client: Client,
    sim: OpenAISimulator,
    behaviour: Behaviour,
    code: str,
    reason: str,
    retry_after: int | None,
) -> None:
    sim.behaviour = behaviour
    for status in [
        await chat_fails(client, chat_request("gpt", user("hi"))),
        (await stream_fails(client, stream_request("gpt", user("hi"))))[1],
    ]:
        assert (status.code.name, status.reason) == (code, reason)
        assert status.error_info.metadata["provider"] == "openai-main"
        if retry_after is None:
            assert error_details_pb2.RetryInfo not in status.details
        else:
            assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == retry_after


async def test_rejected_key_is_never_shown(
    sim: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    wrong_key = "sk-wrong-key-abcdefghijklmnop"
    client = connect(await start_gateway(openai_config(sim.base_url, api_key=wrong_key)))
    status = await chat_fails(client, chat_request("gpt", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_AUTH_FAILED")
    everything = status.message + str(status.details)
    assert wrong_key not in everything and wrong_key[:8] not in everything


async def test_connection_refused(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> None:
    client = connect(await start_gateway(openai_config("http://127.0.0.1:9")))
    status = await chat_fails(client, chat_request("gpt", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CONNECT_FAILED")


async def test_wrong_content_type_on_a_stream(client: Client, sim: OpenAISimulator) -> None:
    sim.behaviour = Behaviour(raw_body=b'{"not": "sse"}', content_type="application/json")
    received, status = await stream_fails(client, stream_request("gpt", user("hi")))
    assert received == []
    assert status.reason == "UPSTREAM_MALFORMED_RESPONSE"


async def test_stream_cut_after_content_reports_partial_usage(client: Client, sim: OpenAISimulator) -> None:
    sim.behaviour = Behaviour(cut_after=3)
    received, status = await stream_fails(client, stream_request("gpt", user("a b c d e f g h")))
    assert received[0].provider == "openai-main"
    assert "".join(m.delta.text for m in received) == "You said: a"
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    assert status.error_info.metadata["cause"] == "UPSTREAM_STREAM_CUT"
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert interruption.reason == "UPSTREAM_STREAM_CUT"
    assert interruption.messages_sent == 3
    assert interruption.partial_usage.output_tokens > 0


async def test_stream_cut_before_content_has_no_partial_result(client: Client, sim: OpenAISimulator) -> None:
    sim.behaviour = Behaviour(cut_after=0)
    received, status = await stream_fails(client, stream_request("gpt", user("hello")))
    assert received == []
    assert status.reason == "UPSTREAM_STREAM_CUT"
    assert chat_pb2.StreamInterruption not in status.details


async def test_connection_reset_mid_stream(client: Client, sim: OpenAISimulator) -> None:
    sim.behaviour = Behaviour(reset_after=2)
    received, status = await stream_fails(client, stream_request("gpt", user("a b c d e f")))
    assert len(received) == 3  # the first message and two deltas
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_CONNECTION_LOST", 2)


async def test_stall_before_first_token(
    sim: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = openai_config(sim.base_url, timeouts={"first_token_s": 0.3, "between_tokens_s": 0.3})
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(stall_after=0)
    received, status = await stream_fails(client, stream_request("gpt", user("hi")))
    assert received == []
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_STALL")
    await sim.wait_for_disconnects(1)


async def test_stall_mid_stream(
    sim: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = openai_config(sim.base_url, timeouts={"first_token_s": 1, "between_tokens_s": 0.3})
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(stall_after=2)
    received, status = await stream_fails(client, stream_request("gpt", user("a b c d")))
    assert len(received) == 3
    assert status.reason == "STREAM_INTERRUPTED"
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_STALL", 2)
    await sim.wait_for_disconnects(1)


# --- deadlines and cancellation ----------------------------------------------------------------


async def test_deadline_bounds_a_unary_call_and_closes_the_upstream(
    client: Client, sim: OpenAISimulator
) -> None:
    sim.behaviour = Behaviour(latency=10)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(chat_request("gpt", user("hi")), timeout=0.5)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await sim.wait_for_disconnects(1)


async def test_deadline_bounds_a_stream_and_closes_the_upstream(client: Client, sim: OpenAISimulator) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    received: list[chat_pb2.ChatStreamResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        async for message in client.chat.ChatStream(
            stream_request("gpt", user(" ".join("w" * 40))), timeout=0.7
        ):
            received.append(message)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 1 < len(received) < 20
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


async def test_caller_cancel_closes_the_upstream(client: Client, sim: OpenAISimulator) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    call = client.chat.ChatStream(stream_request("gpt", user(" ".join("w" * 40))), timeout=30)
    received = [await call.read(), await call.read()]
    assert isinstance(received[1], chat_pb2.ChatStreamResponse)
    assert received[1].delta.text
    call.cancel()
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


async def test_caller_cancel_of_a_unary_call_closes_the_upstream(
    client: Client, sim: OpenAISimulator
) -> None:
    sim.behaviour = Behaviour(latency=10)
    call = client.chat.Chat(chat_request("gpt", user("hi")), timeout=30)
    async with asyncio.timeout(5):
        while not sim.requests:
            await asyncio.sleep(0.01)
    call.cancel()
    await sim.wait_for_disconnects(1)


async def test_error_event_mid_stream(client: Client, sim: OpenAISimulator) -> None:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}  # fmt: skip
    error = {
        "error": {"message": "The server had an error while processing your request.", "type": "server_error"}
    }
    body = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(error)}\n\n".encode()
    sim.behaviour = Behaviour(raw_body=body, content_type="text/event-stream")
    received, status = await stream_fails(client, stream_request("gpt", user("hi")))
    assert [m.delta.text for m in received[1:]] == ["Hel"]
    assert status.reason == "STREAM_INTERRUPTED"
    assert status.error_info.metadata["cause"] == "UPSTREAM_STREAM_ERROR"
    assert "had an error" in status.message


async def test_error_event_before_content_is_not_an_interruption(
    client: Client, sim: OpenAISimulator
) -> None:
    error = {"error": {"message": "overloaded", "type": "server_error"}}
    sim.behaviour = Behaviour(
        raw_body=f"data: {json.dumps(error)}\n\n".encode(), content_type="text/event-stream"
    )
    received, status = await stream_fails(client, stream_request("gpt", user("hi")))
    assert received == []
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_STREAM_ERROR")


async def test_stream_tool_call_without_id_gets_one(client: Client, sim: OpenAISimulator) -> None:
    # Some OpenAI-compatible servers omit the id; callers still need one to send the result back.
    fragments = [
        {
            "tool_calls": [
                {"index": 0, "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Oslo"}'}}]},
    ]
    events = [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        for delta in fragments
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    sim.behaviour = Behaviour(raw_body=body.encode(), content_type="text/event-stream")
    messages = await collect(client.chat.ChatStream(stream_request("gpt", user("hi")), timeout=5))
    calls = [t for m in messages for t in m.delta.tool_calls]
    assert calls[0].id.startswith("call_")
    assert calls[0].name == "get_weather"
    assert calls[1].id == ""
