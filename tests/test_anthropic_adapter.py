"""The Anthropic adapter through a real gateway against the Anthropic simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2, content_pb2, models_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import RichStatus, rich_status
from tests.upstreams import signing
from tests.upstreams.anthropic import AnthropicSimulator, Behaviour

API_KEY = "sk-ant-sim-test-0123456789abcdef"


@pytest.fixture(scope="module")
def simulator() -> Iterator[AnthropicSimulator]:
    with AnthropicSimulator(api_key=API_KEY) as sim:
        yield sim


@pytest.fixture
def sim(simulator: AnthropicSimulator) -> AnthropicSimulator:
    simulator.reset()
    return simulator


def anthropic_config(base_url: str, api_key: str | None = API_KEY, **provider: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"name": "claude-main", "type": "anthropic", "base_url": base_url, **provider}
    if api_key is not None:
        settings["api_key"] = api_key
    return {
        "providers": [settings],
        "models": [
            {"name": "claude", "deployments": [{"provider": "claude-main", "model": "claude-haiku-4-5"}]}
        ],
        # One upstream exchange per call: these tests are about the adapter; retries are the router's.
        "routing": {"retry": {"max_retries": 0}},
    }


@pytest.fixture
async def client(
    sim: AnthropicSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> Client:
    return connect(await start_gateway(anthropic_config(sim.base_url)))


@pytest.fixture
async def new_version_client(
    sim: AnthropicSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> Client:
    return connect(await start_gateway(anthropic_config(sim.base_url, api_version="2026-10-21")))


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
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


MESSAGE_START = {
    "type": "message_start",
    "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 10, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 5,
                          "output_tokens": 1}},
}  # fmt: skip


# --- happy paths -------------------------------------------------------------------------------


async def test_chat(client: Client, sim: AnthropicSimulator) -> None:
    request = chat_request(
        "claude",
        message(content_pb2.ROLE_SYSTEM, text("Be brief.")),
        message(content_pb2.ROLE_DEVELOPER, text("Answer in English.")),
        user("hello world"),
        generation_config=chat_pb2.GenerationConfig(
            max_output_tokens=50, temperature=0.5, top_p=0.9, top_k=40, stop_sequences=["END"]
        ),
    )
    response = await client.chat.Chat(request, timeout=5)
    assert response.provider == "claude-main"
    assert response.model == "claude-haiku-4-5-20251001"
    assert response.message.role == content_pb2.ROLE_ASSISTANT
    assert [p.text for p in response.message.parts] == ["You said: hello world"]
    assert response.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 4)
    assert response.usage.total_tokens == 11

    sent = sim.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in English."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}],
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
    }


async def test_max_tokens_defaults_when_the_caller_sets_none(client: Client, sim: AnthropicSimulator) -> None:
    await client.chat.Chat(chat_request("claude", user("hi")), timeout=5)
    assert sim.requests[-1].body is not None
    assert sim.requests[-1].body["max_tokens"] == 4096
    assert "system" not in sim.requests[-1].body


async def test_stream_order_and_usage(client: Client, sim: AnthropicSimulator) -> None:
    messages = await collect(
        client.chat.ChatStream(stream_request("claude", user("one two three")), timeout=5)
    )
    first, *content, last = messages
    assert (first.provider, bool(first.id)) == ("claude-main", True)
    assert first.model == "claude-haiku-4-5-20251001"
    assert [m.delta.text for m in content[:-1]] == ["You", " said:", " one", " two", " three"]
    assert content[-1].finish_reason == chat_pb2.FINISH_REASON_STOP
    assert not content[-1].delta.text
    assert last.HasField("usage") and not last.HasField("delta")
    assert (last.usage.input_tokens, last.usage.output_tokens, last.usage.total_tokens) == (3, 5, 8)
    assert sim.requests[-1].body is not None
    assert sim.requests[-1].body["stream"] is True


@pytest.mark.parametrize(
    "framing",
    [{"split_writes": True}, {"crlf": True}, {"comments": True}, {"split_writes": True, "crlf": True, "comments": True}],
)  # fmt: skip
async def test_sse_framing_variants_give_the_same_stream(
    client: Client, sim: AnthropicSimulator, framing: dict[str, Any]
) -> None:
    sim.behaviour = Behaviour(**framing)
    messages = await collect(client.chat.ChatStream(stream_request("claude", user("split me up")), timeout=5))
    assert "".join(m.delta.text for m in messages) == "You said: split me up"
    assert messages[-1].usage.total_tokens > 0


async def test_multi_turn_alternates_roles(client: Client, sim: AnthropicSimulator) -> None:
    request = chat_request(
        "claude",
        user("first"),
        user("second"),  # joined into one user turn
        message(content_pb2.ROLE_ASSISTANT, text("an answer")),
        user("third"),
    )
    response = await client.chat.Chat(request, timeout=5)
    assert response.message.parts[0].text == "You said: third"
    assert sim.requests[-1].body is not None
    assert sim.requests[-1].body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "an answer"}]},
        {"role": "user", "content": [{"type": "text", "text": "third"}]},
    ]


async def test_images_and_documents(client: Client, sim: AnthropicSimulator) -> None:
    request = chat_request(
        "claude",
        message(
            content_pb2.ROLE_USER,
            text("what is this?"),
            content_pb2.Part(media=content_pb2.Media(mime_type="image/png", data=b"\x89PNG")),
            content_pb2.Part(media=content_pb2.Media(uri="https://example.com/cat.jpg")),
            content_pb2.Part(media=content_pb2.Media(uri="data:image/gif;base64,R0lGOA==")),
            content_pb2.Part(media=content_pb2.Media(mime_type="application/pdf", data=b"%PDF-1.7")),
        ),
    )
    await client.chat.Chat(request, timeout=5)
    assert sim.requests[-1].body is not None
    assert sim.requests[-1].body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGOA=="}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjc="},
        },
    ]


async def test_unsupported_media_type_is_refused(client: Client, sim: AnthropicSimulator) -> None:
    media = content_pb2.Media(mime_type="audio/wav", data=b"RIFF")
    status = await chat_fails(
        client, chat_request("claude", message(content_pb2.ROLE_USER, content_pb2.Part(media=media)))
    )
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    assert sim.requests == []


async def test_json_schema_output(client: Client, sim: AnthropicSimulator) -> None:
    config = chat_pb2.GenerationConfig()
    config.response_json_schema.update(
        {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}
    )
    await client.chat.Chat(chat_request("claude", user("json please"), generation_config=config), timeout=5)
    await collect(
        client.chat.ChatStream(stream_request("claude", user("json please"), generation_config=config))
    )
    for sent in sim.requests:
        assert sent.body is not None
        assert sent.body["output_config"] == {
            "format": {
                "type": "json_schema",
                "schema": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}},
            }
        }


async def test_max_tokens_and_stop_sequence_finish_reasons(client: Client, sim: AnthropicSimulator) -> None:
    config = chat_pb2.GenerationConfig(max_output_tokens=2)
    response = await client.chat.Chat(
        chat_request("claude", user("a b c d"), generation_config=config), timeout=5
    )
    assert response.finish_reason == chat_pb2.FINISH_REASON_LENGTH
    assert response.message.parts[0].text == "You said:"
    config = chat_pb2.GenerationConfig(stop_sequences=["c"])
    messages = await collect(
        client.chat.ChatStream(stream_request("claude", user("a b c d"), generation_config=config), timeout=5)
    )
    assert "".join(m.delta.text for m in messages) == "You said: a b "
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_STOP]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", chat_pb2.FINISH_REASON_STOP),
        ("stop_sequence", chat_pb2.FINISH_REASON_STOP),
        ("max_tokens", chat_pb2.FINISH_REASON_LENGTH),
        ("tool_use", chat_pb2.FINISH_REASON_TOOL_CALLS),
        ("refusal", chat_pb2.FINISH_REASON_REFUSAL),
        ("pause_turn", chat_pb2.FINISH_REASON_OTHER),
        ("something_new", chat_pb2.FINISH_REASON_OTHER),
    ],
)
async def test_stop_reasons_map_to_finish_reasons(
    client: Client, sim: AnthropicSimulator, stop_reason: str, finish: chat_pb2.FinishReason.ValueType
) -> None:
    sim.behaviour = Behaviour(finish_reason=stop_reason)
    response = await client.chat.Chat(chat_request("claude", user("hi")), timeout=5)
    assert response.finish_reason == finish
    messages = await collect(client.chat.ChatStream(stream_request("claude", user("hi")), timeout=5))
    assert [m.finish_reason for m in messages if m.finish_reason] == [finish]


# --- tools -------------------------------------------------------------------------------------


async def test_tool_call_round_trip(client: Client, sim: AnthropicSimulator) -> None:
    arguments = json.dumps({"city": "Paris", "unit": "celsius"})
    sim.behaviour = Behaviour(tool_calls=[("get_weather", arguments)], reply_text="Let me check.")
    choice = content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_TOOL, tool_name="get_weather")
    question = user("weather in Paris?")
    response = await client.chat.Chat(
        chat_request("claude", question, tools=[weather_tool()], tool_choice=choice), timeout=5
    )
    assert response.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS
    assert response.message.parts[0].text == "Let me check."
    call = response.message.parts[1].tool_call
    assert call.id.startswith("toolu_") and call.name == "get_weather"
    assert json.loads(call.arguments_json) == {"city": "Paris", "unit": "celsius"}
    sent = sim.requests[-1].body
    assert sent is not None
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    assert sent["tool_choice"] == {"type": "tool", "name": "get_weather"}

    # The result goes back inside a user turn; the simulator rejects an id it did not just issue.
    sim.behaviour = Behaviour(reply_text="It is sunny.")
    result = content_pb2.ToolResult(tool_call_id=call.id, content=[text('{"temp": 21}')])
    follow_up = await client.chat.Chat(
        chat_request(
            "claude",
            question,
            response.message,
            message(content_pb2.ROLE_TOOL, content_pb2.Part(tool_result=result)),
            user("and tomorrow?"),
            tools=[weather_tool()],
        ),
        timeout=5,
    )
    assert follow_up.message.parts[0].text == "It is sunny."
    sent = sim.requests[-1].body
    assert sent is not None
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": call.id,
                "name": "get_weather",
                "input": {"city": "Paris", "unit": "celsius"},
            },
        ],
    }
    assert sent["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": call.id, "content": '{"temp": 21}'},
            {"type": "text", "text": "and tomorrow?"},
        ],
    }


async def test_tool_error_results_carry_is_error(client: Client, sim: AnthropicSimulator) -> None:
    call = content_pb2.ToolCall(id="toolu_01abc", name="get_weather", arguments_json='{"city": "Oslo"}')
    result = content_pb2.ToolResult(tool_call_id="toolu_01abc", content=[text("boom")], is_error=True)
    await client.chat.Chat(
        chat_request(
            "claude",
            user("weather?"),
            message(content_pb2.ROLE_ASSISTANT, content_pb2.Part(tool_call=call)),
            message(content_pb2.ROLE_TOOL, content_pb2.Part(tool_result=result)),
            tools=[weather_tool()],
        ),
        timeout=5,
    )
    assert sim.requests[-1].body is not None
    assert sim.requests[-1].body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01abc", "content": "boom", "is_error": True}
    ]


async def test_tool_results_lead_their_user_turn(client: Client, sim: AnthropicSimulator) -> None:
    call = content_pb2.ToolCall(id="toolu_01abc", name="get_weather", arguments_json="{}")
    result = content_pb2.ToolResult(tool_call_id="toolu_01abc", content=[text("sunny")])
    await client.chat.Chat(
        chat_request(
            "claude",
            user("weather?"),
            message(content_pb2.ROLE_ASSISTANT, content_pb2.Part(tool_call=call)),
            user("quickly please"),
            message(content_pb2.ROLE_TOOL, content_pb2.Part(tool_result=result)),
            tools=[weather_tool()],
        ),
        timeout=5,
    )
    assert sim.requests[-1].body is not None
    assert [b["type"] for b in sim.requests[-1].body["messages"][2]["content"]] == ["tool_result", "text"]


@pytest.mark.parametrize(
    ("mode", "wire"),
    [
        (content_pb2.ToolChoice.MODE_AUTO, {"type": "auto"}),
        (content_pb2.ToolChoice.MODE_NONE, {"type": "none"}),
        (content_pb2.ToolChoice.MODE_REQUIRED, {"type": "any"}),
    ],
)
async def test_tool_choice_modes(
    client: Client, sim: AnthropicSimulator, mode: content_pb2.ToolChoice.Mode.ValueType, wire: dict[str, str]
) -> None:
    choice = content_pb2.ToolChoice(mode=mode)
    await client.chat.Chat(
        chat_request("claude", user("hi"), tools=[weather_tool()], tool_choice=choice), timeout=5
    )
    assert sim.requests[-1].body is not None
    assert sim.requests[-1].body["tool_choice"] == wire


async def test_streamed_tool_call_fragments(client: Client, sim: AnthropicSimulator) -> None:
    first_args = json.dumps({"city": "Paris", "days": 3})
    second_args = json.dumps({"city": "Rome"})
    sim.behaviour = Behaviour(
        tool_calls=[("get_weather", first_args), ("get_weather", second_args)], reply_text="Checking."
    )
    messages = await collect(
        client.chat.ChatStream(stream_request("claude", user("weather?"), tools=[weather_tool()]), timeout=5)
    )
    assert "".join(m.delta.text for m in messages) == "Checking."
    fragments = [t for m in messages for t in m.delta.tool_calls]
    assert len(fragments) > 4, "arguments arrive in several fragments"
    # Our indexes count tool calls from 0, although Anthropic's block indexes are 1 and 2 here.
    assert sorted({f.index for f in fragments}) == [0, 1]
    calls: dict[int, dict[str, str]] = {}
    for fragment in fragments:
        call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
        if call["id"]:
            assert not fragment.id and not fragment.name, "id and name only on the first fragment"
        call["id"] += fragment.id
        call["name"] += fragment.name
        call["arguments"] += fragment.arguments_json_fragment
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_weather"]
    assert all(c["id"].startswith("toolu_") for c in calls.values())
    assert [json.loads(c["arguments"]) for c in calls.values()] == [
        json.loads(first_args),
        json.loads(second_args),
    ]
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_TOOL_CALLS]
    assert messages[-1].usage.output_tokens == 1 + len(fragments)


async def test_malformed_tool_arguments_are_the_callers_error(
    client: Client, sim: AnthropicSimulator
) -> None:
    call = content_pb2.ToolCall(id="toolu_01abc", name="get_weather", arguments_json="[1, 2]")
    status = await chat_fails(
        client,
        chat_request(
            "claude", user("hi"), message(content_pb2.ROLE_ASSISTANT, content_pb2.Part(tool_call=call))
        ),
    )
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    violation = status.detail(error_details_pb2.BadRequest).field_violations[0]
    assert violation.field == "messages[1].parts[0].tool_call.arguments_json"
    assert sim.requests == []


async def test_participant_names_are_refused_not_dropped(client: Client, sim: AnthropicSimulator) -> None:
    named = content_pb2.Message(role=content_pb2.ROLE_USER, parts=[text("hi")], name="alice")
    status = await chat_fails(client, chat_request("claude", named))
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    assert sim.requests == []


# --- reasoning ---------------------------------------------------------------------------------


SIGNATURE = signing.sign("anthropic", "Let me think.")  # the simulator's signature of that thinking


async def test_thinking_blocks_become_reasoning_and_go_back_signed(
    client: Client, sim: AnthropicSimulator
) -> None:
    body = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "thinking", "thinking": "Let me think.", "signature": SIGNATURE},
                    {"type": "text", "text": "42"}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 9},
    }  # fmt: skip
    sim.enqueue(Behaviour(raw_body=json.dumps(body).encode()))
    response = await client.chat.Chat(chat_request("claude", user("meaning?")), timeout=5)
    assert response.message.parts[0].reasoning == content_pb2.Reasoning(
        text="Let me think.", signature=SIGNATURE, origin="anthropic"
    )
    assert response.message.parts[1].text == "42"

    unsigned = content_pb2.Part(reasoning=content_pb2.Reasoning(text="from elsewhere"))
    earlier = message(content_pb2.ROLE_ASSISTANT, unsigned, *response.message.parts)
    await client.chat.Chat(chat_request("claude", user("meaning?"), earlier, user("sure?")), timeout=5)
    assert sim.requests[-1].body is not None
    assert sim.requests[-1].body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": SIGNATURE},
        {"type": "text", "text": "42"},
    ]


async def test_streamed_thinking_and_cached_usage(client: Client, sim: AnthropicSimulator) -> None:
    body = sse(
        MESSAGE_START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Yes."}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 7}},
        {"type": "message_stop"},
    )  # fmt: skip
    sim.behaviour = Behaviour(raw_body=body, content_type="text/event-stream")
    messages = await collect(client.chat.ChatStream(stream_request("claude", user("hi")), timeout=5))
    assert [m.delta.reasoning for m in messages if m.delta.reasoning] == ["Hmm."]
    assert [m.delta.text for m in messages if m.delta.text] == ["Yes."]
    usage = messages[-1].usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.total_tokens) == (
        45,
        30,
        7,
        52,
    )
    assert usage.cache_write_input_tokens == 5, "cache_creation_input_tokens: written, part of the input"


# --- API versions and capabilities ---------------------------------------------------------------


async def test_new_api_version_is_sent(new_version_client: Client, sim: AnthropicSimulator) -> None:
    await new_version_client.chat.Chat(chat_request("claude", user("hi")), timeout=5)
    await collect(new_version_client.chat.ChatStream(stream_request("claude", user("hi")), timeout=5))
    assert [r.headers["anthropic-version"] for r in sim.requests] == ["2026-10-21", "2026-10-21"]


@pytest.mark.parametrize("setting", [{"temperature": 0.2}, {"top_p": 0.5}, {"top_k": 3}])
async def test_new_api_version_refuses_sampling(
    new_version_client: Client, sim: AnthropicSimulator, setting: dict[str, Any]
) -> None:
    config = chat_pb2.GenerationConfig(**setting)
    for status in [
        await chat_fails(new_version_client, chat_request("claude", user("hi"), generation_config=config)),
        (
            await stream_fails(
                new_version_client, stream_request("claude", user("hi"), generation_config=config)
            )
        )[1],
    ]:
        assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
        assert status.error_info.metadata["feature"].startswith(next(iter(setting)))
    assert sim.requests == []


@pytest.mark.parametrize(
    ("config", "feature"),
    [
        (chat_pb2.GenerationConfig(seed=7), "seed"),
        (chat_pb2.GenerationConfig(presence_penalty=0.5), "presence_penalty"),
        (chat_pb2.GenerationConfig(frequency_penalty=0.5), "frequency_penalty"),
    ],
)
async def test_unsupported_settings_are_refused_not_dropped(
    client: Client, sim: AnthropicSimulator, config: chat_pb2.GenerationConfig, feature: str
) -> None:
    for status in [
        await chat_fails(client, chat_request("claude", user("hi"), generation_config=config)),
        (await stream_fails(client, stream_request("claude", user("hi"), generation_config=config)))[1],
    ]:
        assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
        metadata = status.error_info.metadata
        assert (metadata["provider"], metadata["feature"]) == ("claude-main", feature)
    assert sim.requests == []


async def test_bearer_token_auth(
    sim: AnthropicSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = anthropic_config(sim.base_url, api_key=None, bearer_token=API_KEY)
    client = connect(await start_gateway(config))
    await client.chat.Chat(chat_request("claude", user("hi")), timeout=5)
    assert sim.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-api-key" not in sim.requests[-1].headers


async def test_connections_are_pooled(client: Client, sim: AnthropicSimulator) -> None:
    for _ in range(3):
        await client.chat.Chat(chat_request("claude", user("hi")), timeout=5)
    await collect(client.chat.ChatStream(stream_request("claude", user("hi")), timeout=5))
    assert sim.connections_opened == 1


# --- upstream errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "code", "reason", "retry_after"),
    [
        (Behaviour(status=429, retry_after="7"), "RESOURCE_EXHAUSTED", "UPSTREAM_RATE_LIMITED", 7),
        (Behaviour(status=500), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=529, error_message="Overloaded"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=529, retry_after="2"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", 2),
        (Behaviour(status=400, error_message="prompt is too long: 210000 tokens > 200000 maximum"), "INVALID_ARGUMENT", "CONTEXT_LENGTH_EXCEEDED", None),
        (Behaviour(status=400), "INVALID_ARGUMENT", "UPSTREAM_REJECTED_REQUEST", None),
        (Behaviour(status=403), "UNAVAILABLE", "UPSTREAM_AUTH_FAILED", None),
        (Behaviour(status=404, error_message="model: claude-nope"), "NOT_FOUND", "UPSTREAM_NOT_FOUND", None),
        (Behaviour(status=413), "INVALID_ARGUMENT", "REQUEST_TOO_LARGE", None),
        (Behaviour(status=502, error_body="<html>bad gateway</html>", content_type="text/html"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(raw_body=b'{"content": [', content_type="application/json"), "UNAVAILABLE", "UPSTREAM_MALFORMED_RESPONSE", None),
    ],
)  # fmt: skip
async def test_upstream_errors_map_to_codes(
    client: Client,
    sim: AnthropicSimulator,
    behaviour: Behaviour,
    code: str,
    reason: str,
    retry_after: int | None,
) -> None:
    sim.behaviour = behaviour
    for status in [
        await chat_fails(client, chat_request("claude", user("hi"))),
        (await stream_fails(client, stream_request("claude", user("hi"))))[1],
    ]:
        assert (status.code.name, status.reason) == (code, reason)
        assert status.error_info.metadata["provider"] == "claude-main"
        if retry_after is None:
            assert error_details_pb2.RetryInfo not in status.details
        else:
            assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == retry_after


async def test_error_type_reaches_the_metadata(client: Client, sim: AnthropicSimulator) -> None:
    sim.behaviour = Behaviour(status=529)
    status = await chat_fails(client, chat_request("claude", user("hi")))
    assert status.error_info.metadata["upstream_code"] == "overloaded_error"
    assert status.error_info.metadata["upstream_status"] == "529"


async def test_unknown_upstream_model(
    sim: AnthropicSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = anthropic_config(sim.base_url)
    config["models"][0]["deployments"][0]["model"] = "claude-nope"
    client = connect(await start_gateway(config))
    status = await chat_fails(client, chat_request("claude", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.NOT_FOUND, "UPSTREAM_NOT_FOUND")
    assert status.error_info.metadata["upstream_code"] == "not_found_error"


async def test_rejected_key_is_never_shown(
    sim: AnthropicSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    wrong_key = "sk-ant-wrong-key-abcdefghijklmnop"
    client = connect(await start_gateway(anthropic_config(sim.base_url, api_key=wrong_key)))
    for status in [
        await chat_fails(client, chat_request("claude", user("hi"))),
        (await stream_fails(client, stream_request("claude", user("hi"))))[1],
    ]:
        assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_AUTH_FAILED")
        assert status.error_info.metadata["upstream_status"] == "401"
        everything = status.message + str(status.details)
        assert wrong_key not in everything and wrong_key[:8] not in everything


async def test_secret_echoed_in_an_error_message_is_redacted(client: Client, sim: AnthropicSimulator) -> None:
    sim.behaviour = Behaviour(status=400, error_message=f"bad request from key {API_KEY}")
    status = await chat_fails(client, chat_request("claude", user("hi")))
    assert API_KEY not in status.message and API_KEY[:8] not in status.message
    assert "[REDACTED]" in status.message


async def test_connection_refused(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> None:
    client = connect(await start_gateway(anthropic_config("http://127.0.0.1:9")))
    status = await chat_fails(client, chat_request("claude", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CONNECT_FAILED")


async def test_wrong_content_type_on_a_stream(client: Client, sim: AnthropicSimulator) -> None:
    sim.behaviour = Behaviour(raw_body=b'{"type": "message"}', content_type="application/json")
    received, status = await stream_fails(client, stream_request("claude", user("hi")))
    assert received == []
    assert status.reason == "UPSTREAM_MALFORMED_RESPONSE"


async def test_unary_body_that_is_not_a_message(client: Client, sim: AnthropicSimulator) -> None:
    sim.behaviour = Behaviour(raw_body=b'{"type": "completion", "completion": "hi"}')
    status = await chat_fails(client, chat_request("claude", user("hi")))
    assert status.reason == "UPSTREAM_MALFORMED_RESPONSE"


# --- broken streams ----------------------------------------------------------------------------


async def test_stream_cut_after_content_reports_partial_usage(
    client: Client, sim: AnthropicSimulator
) -> None:
    sim.behaviour = Behaviour(cut_after=3)
    received, status = await stream_fails(client, stream_request("claude", user("a b c d e f g h")))
    assert received[0].provider == "claude-main"
    assert "".join(m.delta.text for m in received) == "You said: a"
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    assert status.error_info.metadata["cause"] == "UPSTREAM_STREAM_CUT"
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_STREAM_CUT", 3)
    assert interruption.partial_usage.input_tokens == 8
    assert interruption.partial_usage.output_tokens > 0


async def test_stream_cut_before_message_stop(client: Client, sim: AnthropicSimulator) -> None:
    # Everything arrives but the terminator: the answer may be whole, but nothing says so.
    sim.behaviour = Behaviour(cut_after=100)
    received, status = await stream_fails(client, stream_request("claude", user("hi")))
    assert "".join(m.delta.text for m in received) == "You said: hi"
    assert status.error_info.metadata["cause"] == "UPSTREAM_STREAM_CUT"


async def test_stream_cut_before_content_has_no_partial_result(
    client: Client, sim: AnthropicSimulator
) -> None:
    sim.behaviour = Behaviour(cut_after=0)
    received, status = await stream_fails(client, stream_request("claude", user("hello")))
    assert received == []
    assert status.reason == "UPSTREAM_STREAM_CUT"
    assert chat_pb2.StreamInterruption not in status.details


async def test_connection_reset_mid_stream(client: Client, sim: AnthropicSimulator) -> None:
    sim.behaviour = Behaviour(reset_after=2)
    received, status = await stream_fails(client, stream_request("claude", user("a b c d e f")))
    assert len(received) == 3  # the first message and two deltas
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_CONNECTION_LOST", 2)


async def test_overloaded_error_event_mid_stream(client: Client, sim: AnthropicSimulator) -> None:
    sim.behaviour = Behaviour(stream_error_after=2, error_message="Overloaded")
    received, status = await stream_fails(client, stream_request("claude", user("a b c d")))
    assert [m.delta.text for m in received[1:]] == ["You", " said:"]
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    assert status.error_info.metadata["cause"] == "UPSTREAM_STREAM_ERROR"
    assert status.error_info.metadata["upstream_code"] == "overloaded_error"
    assert "Overloaded" in status.message


async def test_error_event_before_content_is_not_an_interruption(
    client: Client, sim: AnthropicSimulator
) -> None:
    sim.behaviour = Behaviour(
        stream_error_after=0, error_type="api_error", error_message="Internal server error"
    )
    received, status = await stream_fails(client, stream_request("claude", user("hi")))
    assert received == []
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_STREAM_ERROR")
    assert status.error_info.metadata["upstream_code"] == "api_error"


async def test_stall_before_first_token(
    sim: AnthropicSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = anthropic_config(sim.base_url, timeouts={"first_token_s": 0.3, "between_tokens_s": 0.3})
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(stall_after=0)
    received, status = await stream_fails(client, stream_request("claude", user("hi")))
    assert received == []
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_STALL")
    await sim.wait_for_disconnects(1)


async def test_stall_mid_stream(
    sim: AnthropicSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = anthropic_config(sim.base_url, timeouts={"first_token_s": 1, "between_tokens_s": 0.3})
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(stall_after=2)
    received, status = await stream_fails(client, stream_request("claude", user("a b c d")))
    assert len(received) == 3
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_STALL", 2)
    await sim.wait_for_disconnects(1)


# --- deadlines and cancellation ----------------------------------------------------------------


async def test_deadline_bounds_a_unary_call_and_closes_the_upstream(
    client: Client, sim: AnthropicSimulator
) -> None:
    sim.behaviour = Behaviour(latency=10)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(chat_request("claude", user("hi")), timeout=0.5)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await sim.wait_for_disconnects(1)


async def test_deadline_bounds_a_stream_and_closes_the_upstream(
    client: Client, sim: AnthropicSimulator
) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    received: list[chat_pb2.ChatStreamResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        async for item in client.chat.ChatStream(
            stream_request("claude", user(" ".join("w" * 40))), timeout=0.7
        ):
            received.append(item)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 1 < len(received) < 20
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


async def test_caller_cancel_closes_the_upstream(client: Client, sim: AnthropicSimulator) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    call = client.chat.ChatStream(stream_request("claude", user(" ".join("w" * 40))), timeout=30)
    received = [await call.read(), await call.read()]
    assert isinstance(received[1], chat_pb2.ChatStreamResponse)
    assert received[1].delta.text
    call.cancel()
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


async def test_caller_cancel_of_a_unary_call_closes_the_upstream(
    client: Client, sim: AnthropicSimulator
) -> None:
    sim.behaviour = Behaviour(latency=10)
    call = client.chat.Chat(chat_request("claude", user("hi")), timeout=30)
    async with asyncio.timeout(5):
        while not sim.requests:
            await asyncio.sleep(0.01)
    call.cancel()
    await sim.wait_for_disconnects(1)


# --- model listing -----------------------------------------------------------------------------


async def test_list_models_pages_through_the_upstream(client: Client, sim: AnthropicSimulator) -> None:
    response = await client.models.ListModels(models_pb2.ListModelsRequest(), timeout=5)
    listed = [(m.provider, m.name) for m in response.upstream_models]
    assert ("claude-main", "claude-sonnet-4-5-20250929") in listed
    assert ("claude-main", "claude-haiku-4-5-20251001") in listed
    sent = sim.requests[-1]
    assert (sent.method, sent.path, sent.query) == ("GET", "/v1/models", {"limit": "1000"})
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["x-api-key"] == API_KEY
