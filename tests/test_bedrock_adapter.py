"""The Bedrock Converse adapter through a real gateway against the SigV4-checking Bedrock simulator."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import AsyncIterable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import RichStatus, rich_status
from tests.upstreams import signing
from tests.upstreams.bedrock import BedrockSimulator, Behaviour, encode_frame, event_frame

KEY_ID = "AKIDSIMULATOR"
SECRET = "sim-secret-0123456789abcdef"
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
NOVA = "amazon.nova-lite-v1:0"
LLAMA = "meta.llama3-1-8b-instruct-v1:0"


@pytest.fixture(scope="module")
def simulator() -> Iterator[BedrockSimulator]:
    with BedrockSimulator(KEY_ID, SECRET, "us-east-1") as sim:
        yield sim


@pytest.fixture
def sim(simulator: BedrockSimulator) -> BedrockSimulator:
    simulator.reset()
    simulator.session_token = None
    return simulator


def bedrock_config(base_url: str, **provider: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "name": "bedrock-main",
        "type": "bedrock",
        "base_url": base_url,
        "region": "us-east-1",
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": SECRET,
        **provider,
    }
    return {
        "providers": [{k: v for k, v in settings.items() if v is not None}],
        "models": [
            {"name": "claude", "deployments": [{"provider": "bedrock-main", "model": CLAUDE}]},
            {"name": "nova", "deployments": [{"provider": "bedrock-main", "model": NOVA}]},
            {"name": "llama", "deployments": [{"provider": "bedrock-main", "model": LLAMA}]},
        ],
        # The adapter's own error mapping is under test here; the router's retries are tested elsewhere.
        "routing": {"retry": {"max_retries": 0}},
    }


@pytest.fixture
async def client(
    sim: BedrockSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> Client:
    return connect(await start_gateway(bedrock_config(sim.base_url)))


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


def sent(sim: BedrockSimulator) -> dict[str, Any]:
    body = sim.requests[-1].body
    assert isinstance(body, dict)
    return body


def weather_tool() -> content_pb2.Tool:
    tool = content_pb2.Tool(name="get_weather", description="Weather for a city")
    tool.parameters.update(
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    )
    return tool


def system(text: str) -> content_pb2.Message:
    return content_pb2.Message(role=content_pb2.ROLE_SYSTEM, parts=[content_pb2.Part(text=text)])


def stream_body(*frames: bytes) -> Behaviour:
    return Behaviour(raw_body=b"".join(frames), content_type="application/vnd.amazon.eventstream")


# --- happy paths -------------------------------------------------------------------------------


async def test_chat_is_signed_and_shaped(client: Client, sim: BedrockSimulator) -> None:
    request = chat_request(
        "claude",
        system("Be brief."),
        user("hello world"),
        generation_config=chat_pb2.GenerationConfig(
            max_output_tokens=50, temperature=0.5, top_p=0.9, stop_sequences=["END"]
        ),
    )
    response = await client.chat.Chat(request, timeout=5)
    assert (response.provider, response.model) == ("bedrock-main", CLAUDE)
    assert response.message.parts[0].text == "You said: hello world"
    assert response.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert response.usage.input_tokens == 4  # "Be brief." + "hello world"
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens

    recorded = sim.requests[-1]
    assert recorded.path == f"/model/{CLAUDE}/converse"
    assert (
        recorded.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
        and "/us-east-1/bedrock/aws4_request" in recorded.headers["authorization"]
    )
    assert recorded.body == {
        "messages": [{"role": "user", "content": [{"text": "hello world"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
    }


async def test_stream_order_and_usage(client: Client, sim: BedrockSimulator) -> None:
    messages = await collect(
        client.chat.ChatStream(stream_request("claude", user("one two three")), timeout=5)
    )
    first, *content, last = messages
    assert (first.provider, first.model, bool(first.id)) == ("bedrock-main", CLAUDE, True)
    assert [m.delta.text for m in content] == ["You", " said:", " one", " two", " three", ""]
    assert content[-1].finish_reason == chat_pb2.FINISH_REASON_STOP
    assert (last.usage.input_tokens, last.usage.output_tokens, last.usage.total_tokens) == (3, 5, 8)
    assert sim.requests[-1].path.endswith("/converse-stream")
    assert sim.requests[-1].headers["accept"] == "application/vnd.amazon.eventstream"


async def test_frames_split_across_tcp_writes(client: Client, sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(split_writes=True, tool_calls=[("get_weather", '{"city": "Oslo"}')])
    request = stream_request("claude", user("split me"), tools=[weather_tool()])
    messages = await collect(client.chat.ChatStream(request, timeout=5))
    assert (
        "".join(t.arguments_json_fragment for m in messages for t in m.delta.tool_calls) == '{"city": "Oslo"}'
    )
    assert messages[-1].usage.total_tokens > 0


async def test_session_token_is_sent_and_signed(
    sim: BedrockSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    sim.session_token = "session-token-abcdefghijkl"
    client = connect(await start_gateway(bedrock_config(sim.base_url, aws_session_token=sim.session_token)))
    await client.chat.Chat(chat_request("claude", user("hi")), timeout=5)
    assert "x-amz-security-token" in sim.requests[-1].headers["authorization"]


async def test_credentials_and_region_from_the_standard_chain(
    sim: BedrockSimulator,
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    config = bedrock_config(sim.base_url, region=None, aws_access_key_id=None, aws_secret_access_key=None)
    client = connect(await start_gateway(config))
    response = await client.chat.Chat(chat_request("claude", user("hi")), timeout=5)
    assert response.message.parts[0].text == "You said: hi"


def isolate_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An AWS environment with nothing from the host: empty config files, no metadata service."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path / "config"


async def test_refreshable_credentials_are_read_for_every_request(
    sim: BedrockSimulator,
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config_file = isolate_aws_environment(monkeypatch, tmp_path)
    calls = tmp_path / "calls"
    # Credentials that expire within botocore's refresh window, so each request must fetch them anew.
    script = tmp_path / "credentials.py"
    script.write_text(
        "import datetime, json, pathlib\n"
        f"pathlib.Path({str(calls)!r}).open('a').write('x')\n"
        "expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)\n"
        f"print(json.dumps({{'Version': 1, 'AccessKeyId': {KEY_ID!r}, 'SecretAccessKey': {SECRET!r},\n"
        "  'SessionToken': 'tok-123', 'Expiration': expires.isoformat()}))\n"
    )
    config_file.write_text(f"[profile sim]\ncredential_process = {sys.executable} {script}\n")
    sim.session_token = "tok-123"
    config = bedrock_config(
        sim.base_url, aws_access_key_id=None, aws_secret_access_key=None, aws_profile="sim"
    )
    client = connect(await start_gateway(config))
    await client.chat.Chat(chat_request("claude", user("hi")), timeout=10)
    after_first = len(calls.read_text())
    await collect(client.chat.ChatStream(stream_request("claude", user("hi")), timeout=10))
    assert len(calls.read_text()) == after_first + 1


async def test_no_credentials_anywhere(
    sim: BedrockSimulator,
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)
    # Without a metadata service or container endpoint the chain finds nothing.
    config = bedrock_config(sim.base_url, aws_access_key_id=None, aws_secret_access_key=None)
    client = connect(await start_gateway(config))
    status = await chat_fails(client, chat_request("claude", user("hi")), timeout=10)
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_AUTH_FAILED")
    assert sim.requests == []


async def test_multi_turn_merges_tool_results_and_user_text(client: Client, sim: BedrockSimulator) -> None:
    call = content_pb2.ToolCall(id="tooluse_1", name="get_weather", arguments_json='{"city": "Oslo"}')
    assistant = content_pb2.Message(
        role=content_pb2.ROLE_ASSISTANT,
        parts=[content_pb2.Part(text="Let me check."), content_pb2.Part(tool_call=call)],
    )
    result = content_pb2.Message(
        role=content_pb2.ROLE_TOOL,
        parts=[
            content_pb2.Part(
                tool_result=content_pb2.ToolResult(
                    tool_call_id="tooluse_1", content=[content_pb2.Part(text="rain")], is_error=True
                )
            )
        ],
    )
    request = chat_request(
        "claude", user("weather?"), assistant, result, user("and tomorrow?"), tools=[weather_tool()]
    )
    response = await client.chat.Chat(request, timeout=5)
    assert response.message.parts[0].text == "You said: rain and tomorrow?"
    assert sent(sim)["messages"] == [
        {"role": "user", "content": [{"text": "weather?"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Let me check."},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Oslo"}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "rain"}], "status": "error"}},
                {"text": "and tomorrow?"},
            ],
        },
    ]


async def test_images_go_as_bytes(client: Client, sim: BedrockSimulator) -> None:
    message = content_pb2.Message(
        role=content_pb2.ROLE_USER,
        parts=[
            content_pb2.Part(text="what is this?"),
            content_pb2.Part(media=content_pb2.Media(mime_type="image/png", data=b"\x89PNG")),
            content_pb2.Part(media=content_pb2.Media(uri="data:image/jpeg;base64,/9j/")),
        ],
    )
    await client.chat.Chat(chat_request("claude", message), timeout=5)
    assert sent(sim)["messages"][0]["content"] == [
        {"text": "what is this?"},
        {"image": {"format": "png", "source": {"bytes": base64.b64encode(b"\x89PNG").decode()}}},
        {"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}},
    ]


@pytest.mark.parametrize(
    ("media", "feature"),
    [
        (content_pb2.Media(uri="https://example.com/cat.jpg"), "media by URI"),
        (content_pb2.Media(mime_type="image/bmp", data=b"BM"), "media of type 'image/bmp'"),
    ],
)
async def test_unusable_images_are_refused(
    client: Client, sim: BedrockSimulator, media: content_pb2.Media, feature: str
) -> None:
    message = content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(media=media)])
    status = await chat_fails(client, chat_request("claude", message))
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    assert status.error_info.metadata["feature"].startswith(feature)
    assert sim.requests == []


# --- generation settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "native"),
    [("claude", {"top_k": 7}), ("nova", {"inferenceConfig": {"topK": 7}})],
)
async def test_top_k_goes_to_the_model_native_field(
    client: Client, sim: BedrockSimulator, model: str, native: dict[str, Any]
) -> None:
    config = chat_pb2.GenerationConfig(top_k=7)
    await client.chat.Chat(chat_request(model, user("hi"), generation_config=config), timeout=5)
    assert sent(sim)["additionalModelRequestFields"] == native


@pytest.mark.parametrize(
    ("model", "config", "feature"),
    [
        ("llama", chat_pb2.GenerationConfig(top_k=7), f"top_k for model {LLAMA!r}"),
        ("claude", chat_pb2.GenerationConfig(seed=7), "seed"),
        ("claude", chat_pb2.GenerationConfig(presence_penalty=0.5), "presence_penalty"),
        ("claude", chat_pb2.GenerationConfig(frequency_penalty=0.5), "frequency_penalty"),
    ],
)
async def test_unsupported_settings_are_refused_not_dropped(
    client: Client, sim: BedrockSimulator, model: str, config: chat_pb2.GenerationConfig, feature: str
) -> None:
    for status in [
        await chat_fails(client, chat_request(model, user("hi"), generation_config=config)),
        (await stream_fails(client, stream_request(model, user("hi"), generation_config=config)))[1],
    ]:
        assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
        metadata = status.error_info.metadata
        assert (metadata["provider"], metadata["feature"]) == ("bedrock-main", feature)
    assert sim.requests == []


async def test_json_schema_output(client: Client, sim: BedrockSimulator) -> None:
    config = chat_pb2.GenerationConfig(response_json_schema_name="answer")
    config.response_json_schema.update(
        {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}
    )
    await client.chat.Chat(chat_request("claude", user("json please"), generation_config=config), timeout=5)
    text_format = sent(sim)["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema"
    json_schema = text_format["structure"]["jsonSchema"]
    assert json_schema["name"] == "answer"
    assert json.loads(json_schema["schema"]) == {
        "type": "object",
        "properties": {"n": {"type": "integer", "maximum": 3}},
    }


# --- tools -------------------------------------------------------------------------------------


async def test_tool_call_round_trip(client: Client, sim: BedrockSimulator) -> None:
    arguments = json.dumps({"city": "Paris", "unit": "celsius"})
    sim.behaviour = Behaviour(tool_calls=[("get_weather", arguments)])
    choice = content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_TOOL, tool_name="get_weather")
    question = user("weather in Paris?")
    response = await client.chat.Chat(
        chat_request("claude", question, tools=[weather_tool()], tool_choice=choice), timeout=5
    )
    assert response.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS
    [call_part] = [p for p in response.message.parts if p.WhichOneof("kind") == "tool_call"]
    assert call_part.tool_call.name == "get_weather" and call_part.tool_call.id.startswith("tooluse_")
    assert json.loads(call_part.tool_call.arguments_json) == {"city": "Paris", "unit": "celsius"}
    assert sent(sim)["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        }
                    },
                }
            }
        ],
        "toolChoice": {"tool": {"name": "get_weather"}},
    }

    # The result goes back in a user turn; the simulator rejects an id it did not see in the call.
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
        chat_request("claude", question, response.message, result, tools=[weather_tool()]), timeout=5
    )
    assert follow_up.message.parts[0].text == "It is sunny."
    assert sent(sim)["messages"][2] == {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": call_part.tool_call.id, "content": [{"text": '{"temp": 21}'}]}}
        ],
    }


async def test_streamed_tool_call_fragments(client: Client, sim: BedrockSimulator) -> None:
    first_args = json.dumps({"city": "Paris", "days": 3})
    second_args = json.dumps({"city": "Rome"})
    sim.behaviour = Behaviour(
        reply_text="Checking.", tool_calls=[("get_weather", first_args), ("get_weather", second_args)]
    )
    messages = await collect(
        client.chat.ChatStream(stream_request("claude", user("weather?"), tools=[weather_tool()]), timeout=5)
    )
    assert "".join(m.delta.text for m in messages) == "Checking."
    fragments = [t for m in messages for t in m.delta.tool_calls]
    assert len(fragments) > 4
    calls: dict[int, dict[str, str]] = {}
    for fragment in fragments:
        call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
        if call["id"]:
            assert not fragment.id and not fragment.name, "id and name only on a call's first fragment"
        call["id"] += fragment.id
        call["name"] += fragment.name
        call["arguments"] += fragment.arguments_json_fragment
    assert list(calls) == [0, 1], "call indexes, not Bedrock's content block indexes"
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_weather"]
    assert all(c["id"].startswith("tooluse_") for c in calls.values())
    assert [json.loads(c["arguments"]) for c in calls.values()] == [
        json.loads(first_args),
        json.loads(second_args),
    ]
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_TOOL_CALLS]


@pytest.mark.parametrize(
    ("mode", "wire"),
    [
        (content_pb2.ToolChoice.MODE_AUTO, {"auto": {}}),
        (content_pb2.ToolChoice.MODE_REQUIRED, {"any": {}}),
        (content_pb2.ToolChoice.MODE_UNSPECIFIED, None),
    ],
)
async def test_tool_choice_modes(
    client: Client, sim: BedrockSimulator, mode: content_pb2.ToolChoice.Mode.ValueType, wire: Any
) -> None:
    choice = content_pb2.ToolChoice(mode=mode)
    await client.chat.Chat(
        chat_request("claude", user("hi"), tools=[weather_tool()], tool_choice=choice), timeout=5
    )
    assert sent(sim)["toolConfig"].get("toolChoice") == wire


async def test_tool_choice_none_leaves_the_tools_out(client: Client, sim: BedrockSimulator) -> None:
    choice = content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_NONE)
    await client.chat.Chat(
        chat_request("claude", user("hi"), tools=[weather_tool()], tool_choice=choice), timeout=5
    )
    assert "toolConfig" not in sent(sim)


async def test_tool_choice_none_with_earlier_tool_calls_is_refused(
    client: Client, sim: BedrockSimulator
) -> None:
    call = content_pb2.ToolCall(id="t1", name="get_weather", arguments_json="{}")
    history = [
        user("weather?"),
        content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=[content_pb2.Part(tool_call=call)]),
        content_pb2.Message(
            role=content_pb2.ROLE_TOOL,
            parts=[content_pb2.Part(tool_result=content_pb2.ToolResult(tool_call_id="t1"))],
        ),
    ]
    choice = content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_NONE)
    status = await chat_fails(
        client, chat_request("claude", *history, tools=[weather_tool()], tool_choice=choice)
    )
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    assert sim.requests == []


async def test_tool_call_arguments_must_be_a_json_object(client: Client, sim: BedrockSimulator) -> None:
    call = content_pb2.ToolCall(id="t1", name="get_weather", arguments_json="[1]")
    assistant = content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=[content_pb2.Part(tool_call=call)])
    status = await chat_fails(client, chat_request("claude", user("hi"), assistant, tools=[weather_tool()]))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    field = status.detail(error_details_pb2.BadRequest).field_violations[0].field
    assert field == "messages[1].parts[0].tool_call.arguments_json"


# --- reasoning and usage details ---------------------------------------------------------------


async def test_reasoning_and_cache_usage_in_a_unary_answer(client: Client, sim: BedrockSimulator) -> None:
    body = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "sig-1"}}},
                    {"text": "Answer."},
                ],
            }
        },
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": 3,
            "outputTokens": 2,
            "totalTokens": 19,
            "cacheReadInputTokens": 10,
            "cacheWriteInputTokens": 4,
        },
        "metrics": {"latencyMs": 5},
    }
    sim.behaviour = Behaviour(raw_body=json.dumps(body).encode())
    response = await client.chat.Chat(chat_request("claude", user("hi")), timeout=5)
    reasoning, text = response.message.parts
    assert (reasoning.reasoning.text, reasoning.reasoning.signature, text.text) == (
        "Think.",
        "sig-1",
        "Answer.",
    )
    usage = response.usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.total_tokens) == (
        17,
        10,
        2,
        19,
    )
    assert usage.cache_write_input_tokens == 4


async def test_reasoning_is_sent_back_with_its_signature(client: Client, sim: BedrockSimulator) -> None:
    assistant = content_pb2.Message(
        role=content_pb2.ROLE_ASSISTANT,
        parts=[
            content_pb2.Part(
                reasoning=content_pb2.Reasoning(text="Think.", signature=signing.sign("bedrock", "Think."))
            ),
            content_pb2.Part(text="Answer."),
        ],
    )
    await client.chat.Chat(chat_request("claude", user("q"), assistant, user("more")), timeout=5)
    assert sent(sim)["messages"][1]["content"][0] == {
        "reasoningContent": {
            "reasoningText": {"text": "Think.", "signature": signing.sign("bedrock", "Think.")}
        }
    }


async def test_streamed_reasoning(client: Client, sim: BedrockSimulator) -> None:
    sim.behaviour = stream_body(
        event_frame("messageStart", {"role": "assistant"}),
        event_frame(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm"}}}
        ),
        event_frame(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "s"}}}
        ),
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Yes."}}),
        event_frame("contentBlockStop", {"contentBlockIndex": 1}),
        event_frame("messageStop", {"stopReason": "end_turn"}),
        event_frame(
            "metadata", {"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}, "metrics": {}}
        ),
    )
    messages = await collect(client.chat.ChatStream(stream_request("claude", user("hi")), timeout=5))
    assert [
        (m.delta.reasoning, m.delta.reasoning_signature, m.delta.reasoning_origin, m.delta.text)
        for m in messages
        if m.HasField("delta")
    ] == [("Hmm", "", "", ""), ("", "s", "bedrock", ""), ("", "", "", "Yes.")]
    assert messages[-1].usage.total_tokens == 3


# --- finish reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", chat_pb2.FINISH_REASON_STOP),
        ("stop_sequence", chat_pb2.FINISH_REASON_STOP),
        ("max_tokens", chat_pb2.FINISH_REASON_LENGTH),
        ("model_context_window_exceeded", chat_pb2.FINISH_REASON_LENGTH),
        ("tool_use", chat_pb2.FINISH_REASON_TOOL_CALLS),
        ("guardrail_intervened", chat_pb2.FINISH_REASON_CONTENT_FILTER),
        ("content_filtered", chat_pb2.FINISH_REASON_CONTENT_FILTER),
        ("malformed_tool_use", chat_pb2.FINISH_REASON_OTHER),
    ],
)
async def test_finish_reasons(
    client: Client, sim: BedrockSimulator, stop_reason: str, finish: chat_pb2.FinishReason.ValueType
) -> None:
    sim.behaviour = Behaviour(finish_reason=stop_reason)
    response = await client.chat.Chat(chat_request("claude", user("hi")), timeout=5)
    messages = await collect(client.chat.ChatStream(stream_request("claude", user("hi")), timeout=5))
    assert response.finish_reason == finish
    assert [m.finish_reason for m in messages if m.finish_reason] == [finish]


async def test_max_tokens_ends_with_length(client: Client, sim: BedrockSimulator) -> None:
    config = chat_pb2.GenerationConfig(max_output_tokens=2)
    response = await client.chat.Chat(
        chat_request("claude", user("a b c"), generation_config=config), timeout=5
    )
    assert (response.message.parts[0].text, response.finish_reason) == (
        "You said:",
        chat_pb2.FINISH_REASON_LENGTH,
    )


# --- upstream errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "code", "reason", "retry_after"),
    [
        (Behaviour(status=429, retry_after="7"), "RESOURCE_EXHAUSTED", "UPSTREAM_RATE_LIMITED", 7),
        (Behaviour(status=429), "RESOURCE_EXHAUSTED", "UPSTREAM_RATE_LIMITED", 1),
        (Behaviour(status=429, error_type="ModelNotReadyException"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", 1),
        (Behaviour(status=424), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=408), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=500), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=503, retry_after="2"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", 2),
        (Behaviour(status=400, error_message="Input is too long for requested model."), "INVALID_ARGUMENT", "CONTEXT_LENGTH_EXCEEDED", None),
        (Behaviour(status=400), "INVALID_ARGUMENT", "UPSTREAM_REJECTED_REQUEST", None),
        (Behaviour(status=403, error_message="You don't have access to the model with the specified model ID."), "UNAVAILABLE", "UPSTREAM_AUTH_FAILED", None),
        (Behaviour(status=404), "NOT_FOUND", "UPSTREAM_NOT_FOUND", None),
        (Behaviour(status=502, error_body="<html>bad gateway</html>", content_type="text/html"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
    ],
)  # fmt: skip
async def test_upstream_errors_map_to_codes(
    client: Client,
    sim: BedrockSimulator,
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
        assert status.error_info.metadata["provider"] == "bedrock-main"
        if retry_after is None:
            assert error_details_pb2.RetryInfo not in status.details
        else:
            assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == retry_after


async def test_upstream_validation_of_the_real_body(client: Client, sim: BedrockSimulator) -> None:
    # Temperature 1.5 is valid for the gateway but above Converse's maximum of 1.
    config = chat_pb2.GenerationConfig(temperature=1.5)
    status = await chat_fails(client, chat_request("claude", user("hi"), generation_config=config))
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UPSTREAM_REJECTED_REQUEST")
    assert status.error_info.metadata["upstream_code"] == "ValidationException"
    assert "less than or equal to 1" in status.message


async def test_unknown_model_is_not_found(
    sim: BedrockSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = bedrock_config(sim.base_url)
    config["models"][0]["deployments"][0]["model"] = "anthropic.claude-9-v1:0"
    client = connect(await start_gateway(config))
    status = await chat_fails(client, chat_request("claude", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.NOT_FOUND, "UPSTREAM_NOT_FOUND")


@pytest.mark.parametrize(
    "provider",
    [
        {"aws_secret_access_key": "wrong-secret-abcdefghijklmnop"},
        {"aws_access_key_id": "AKIDSOMEONEELSE"},
        {"region": "eu-west-1"},
    ],
)
async def test_rejected_credentials_are_never_shown(
    sim: BedrockSimulator,
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    provider: dict[str, str],
) -> None:
    client = connect(await start_gateway(bedrock_config(sim.base_url, **provider)))
    for status in [
        await chat_fails(client, chat_request("claude", user("hi"))),
        (await stream_fails(client, stream_request("claude", user("hi"))))[1],
    ]:
        assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_AUTH_FAILED")
        everything = status.message + str(status.details)
        for secret in (SECRET, "wrong-secret-abcdefghijklmnop"):
            assert secret not in everything and secret[:8] not in everything


async def test_connection_refused(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> None:
    client = connect(await start_gateway(bedrock_config("http://127.0.0.1:9")))
    status = await chat_fails(client, chat_request("claude", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CONNECT_FAILED")


async def test_malformed_unary_body(client: Client, sim: BedrockSimulator) -> None:
    for raw in (b'{"output": ', b'{"output": {}}'):
        sim.behaviour = Behaviour(raw_body=raw)
        status = await chat_fails(client, chat_request("claude", user("hi")))
        assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_MALFORMED_RESPONSE")


async def test_wrong_content_type_on_a_stream(client: Client, sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(raw_body=b'{"not": "a stream"}', content_type="application/json")
    received, status = await stream_fails(client, stream_request("claude", user("hi")))
    assert received == []
    assert status.reason == "UPSTREAM_MALFORMED_RESPONSE"


async def test_corrupt_frame_is_malformed(client: Client, sim: BedrockSimulator) -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[-5] ^= 0xFF
    sim.behaviour = stream_body(bytes(frame))
    received, status = await stream_fails(client, stream_request("claude", user("hi")))
    assert received == []
    assert status.reason == "UPSTREAM_MALFORMED_RESPONSE"


# --- stream failures ---------------------------------------------------------------------------


async def test_exception_frame_mid_stream(client: Client, sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(stream_error_after=2, error_message="The model stream failed.")
    received, status = await stream_fails(client, stream_request("claude", user("a b c d")))
    assert "".join(m.delta.text for m in received) == "You said:"
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    assert status.error_info.metadata["cause"] == "UPSTREAM_STREAM_ERROR"
    assert "The model stream failed." in status.message


async def test_throttling_frame_before_content(client: Client, sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(
        stream_error_after=0, error_type="ThrottlingException", error_message="Too many"
    )
    received, status = await stream_fails(client, stream_request("claude", user("hi")))
    assert received == []
    assert (status.code, status.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "UPSTREAM_RATE_LIMITED")
    assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == 1


async def test_stream_cut_after_content_reports_partial_usage(client: Client, sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(cut_after=3)
    received, status = await stream_fails(client, stream_request("claude", user("a b c d e f g h")))
    assert "".join(m.delta.text for m in received) == "You said: a"
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_STREAM_CUT", 3)
    assert interruption.partial_usage.output_tokens > 0


async def test_stream_cut_before_content(client: Client, sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(cut_after=0)
    received, status = await stream_fails(client, stream_request("claude", user("hello")))
    assert received == []
    assert status.reason == "UPSTREAM_STREAM_CUT"


async def test_stream_without_metadata_is_cut(client: Client, sim: BedrockSimulator) -> None:
    # messageStop arrived but the metadata frame that always closes a Converse stream did not.
    sim.behaviour = Behaviour(cut_after=99)
    received, status = await stream_fails(client, stream_request("claude", user("hello")))
    assert received[-1].finish_reason == chat_pb2.FINISH_REASON_STOP
    assert status.detail(chat_pb2.StreamInterruption).reason == "UPSTREAM_STREAM_CUT"


async def test_half_a_frame_is_a_cut(client: Client, sim: BedrockSimulator) -> None:
    whole = encode_frame({":message-type": "event", ":event-type": "messageStart"}, b'{"role":"assistant"}')
    sim.behaviour = stream_body(whole[:-3])
    received, status = await stream_fails(client, stream_request("claude", user("hi")))
    assert received == []
    assert status.reason == "UPSTREAM_STREAM_CUT"


async def test_connection_reset_mid_stream(client: Client, sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(reset_after=2)
    received, status = await stream_fails(client, stream_request("claude", user("a b c d e f")))
    assert len(received) == 3
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_CONNECTION_LOST", 2)


async def test_stall_before_first_token(
    sim: BedrockSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = bedrock_config(sim.base_url, timeouts={"first_token_s": 0.3, "between_tokens_s": 0.3})
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(stall_after=0)
    received, status = await stream_fails(client, stream_request("claude", user("hi")))
    assert received == []
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_STALL")
    await sim.wait_for_disconnects(1)


async def test_stall_mid_stream(
    sim: BedrockSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = bedrock_config(sim.base_url, timeouts={"first_token_s": 1, "between_tokens_s": 0.3})
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(stall_after=2)
    received, status = await stream_fails(client, stream_request("claude", user("a b c d")))
    assert len(received) == 3
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_STALL", 2)
    await sim.wait_for_disconnects(1)


# --- deadlines, cancellation, pooling ------------------------------------------------------------


async def test_deadline_bounds_a_unary_call_and_closes_the_upstream(
    client: Client, sim: BedrockSimulator
) -> None:
    sim.behaviour = Behaviour(latency=10)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(chat_request("claude", user("hi")), timeout=0.5)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await sim.wait_for_disconnects(1)


async def test_deadline_bounds_a_stream_and_closes_the_upstream(
    client: Client, sim: BedrockSimulator
) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    received: list[chat_pb2.ChatStreamResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        async for message in client.chat.ChatStream(
            stream_request("claude", user(" ".join("w" * 40))), timeout=0.7
        ):
            received.append(message)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 1 < len(received) < 20
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


async def test_caller_cancel_closes_the_upstream(client: Client, sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    call = client.chat.ChatStream(stream_request("claude", user(" ".join("w" * 40))), timeout=30)
    received = [await call.read(), await call.read()]
    assert isinstance(received[1], chat_pb2.ChatStreamResponse) and received[1].delta.text
    call.cancel()
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


async def test_caller_cancel_of_a_unary_call_closes_the_upstream(
    client: Client, sim: BedrockSimulator
) -> None:
    sim.behaviour = Behaviour(latency=10)
    call = client.chat.Chat(chat_request("claude", user("hi")), timeout=30)
    async with asyncio.timeout(5):
        while not sim.requests:
            await asyncio.sleep(0.01)
    call.cancel()
    await sim.wait_for_disconnects(1)


async def test_connections_are_pooled(client: Client, sim: BedrockSimulator) -> None:
    for _ in range(3):
        await client.chat.Chat(chat_request("claude", user("hi")), timeout=5)
    await collect(client.chat.ChatStream(stream_request("claude", user("hi")), timeout=5))
    assert sim.connections_opened == 1
