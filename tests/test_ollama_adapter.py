"""The Ollama adapter through a real gateway against the Ollama simulator."""

from __future__ import annotations

import asyncio
import base64
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
from tests.upstreams.ollama import Behaviour, OllamaSimulator

PROXY_KEY = "ollama-proxy-key-0123456789"


@pytest.fixture(scope="module")
def simulator() -> Iterator[OllamaSimulator]:
    with OllamaSimulator() as sim:
        yield sim


@pytest.fixture
def sim(simulator: OllamaSimulator) -> OllamaSimulator:
    simulator.reset()
    return simulator


def ollama_config(base_url: str, model: str = "llama3.2", **provider: Any) -> dict[str, Any]:
    return {
        "providers": [{"name": "local-ollama", "type": "ollama", "base_url": base_url, **provider}],
        "models": [
            {"name": "llama", "deployments": [{"provider": "local-ollama", "model": model}]},
            {"name": "qwen", "deployments": [{"provider": "local-ollama", "model": "qwen3:8b"}]},
        ],
        # The adapter's own error mapping is under test here; the router's retries are tested elsewhere.
        "routing": {"retry": {"max_retries": 0}},
    }


@pytest.fixture
async def client(
    sim: OllamaSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> Client:
    return connect(await start_gateway(ollama_config(sim.base_url)))


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


def sent_body(sim: OllamaSimulator) -> dict[str, Any]:
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


# --- happy paths -------------------------------------------------------------------------------


async def test_chat(client: Client, sim: OllamaSimulator) -> None:
    config = chat_pb2.GenerationConfig(
        max_output_tokens=50,
        temperature=0.5,
        top_p=0.9,
        top_k=20,
        stop_sequences=["END"],
        seed=7,
        presence_penalty=0.25,
        frequency_penalty=0.5,
    )
    request = chat_request("llama", system("Be brief."), user("hello world"), generation_config=config)
    response = await client.chat.Chat(request, timeout=5)
    assert (response.provider, response.model) == ("local-ollama", "llama3.2")
    assert response.message.parts[0].text == "You said: hello world"
    assert response.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert (response.usage.input_tokens, response.usage.output_tokens) == (4, 4)
    assert response.usage.total_tokens == 8

    sent = sim.requests[-1]
    assert sent.path == "/api/chat"
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": "llama3.2",
        "stream": False,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello world"},
        ],
        "options": {
            "num_predict": 50,
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 20,
            "stop": ["END"],
            "seed": 7,
            "presence_penalty": 0.25,
            "frequency_penalty": 0.5,
        },
    }
    assert sim.warnings == []


async def test_stream_order_and_usage(client: Client, sim: OllamaSimulator) -> None:
    messages = await collect(
        client.chat.ChatStream(stream_request("llama", user("one two three")), timeout=5)
    )
    first, *content, last = messages
    assert (first.provider, first.model, bool(first.id)) == ("local-ollama", "llama3.2", True)
    assert "".join(m.delta.text for m in content) == "You said: one two three"
    assert [m.finish_reason for m in content if m.finish_reason] == [chat_pb2.FINISH_REASON_STOP]
    assert content[-1].finish_reason == chat_pb2.FINISH_REASON_STOP
    assert (last.usage.input_tokens, last.usage.output_tokens) == (3, 5)
    assert sent_body(sim)["stream"] is True


async def test_split_writes_give_the_same_stream(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(split_writes=True, reply_text="héllo wörld, split across reads")
    messages = await collect(client.chat.ChatStream(stream_request("llama", user("x")), timeout=5))
    assert "".join(m.delta.text for m in messages) == "héllo wörld, split across reads"
    assert messages[-1].usage.total_tokens > 0


async def test_multi_turn_keeps_the_order(client: Client, sim: OllamaSimulator) -> None:
    assistant = content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=[content_pb2.Part(text="Hi!")])
    developer = content_pb2.Message(role=content_pb2.ROLE_DEVELOPER, parts=[content_pb2.Part(text="Rule")])
    request = chat_request("llama", developer, user("hello"), assistant, user("again"))
    response = await client.chat.Chat(request, timeout=5)
    assert response.message.parts[0].text == "You said: again"
    assert sent_body(sim)["messages"] == [
        {"role": "system", "content": "Rule"},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "again"},
    ]


async def test_images_go_as_base64(client: Client, sim: OllamaSimulator) -> None:
    png = b"\x89PNG\r\n\x1a\n"
    message = content_pb2.Message(
        role=content_pb2.ROLE_USER,
        parts=[
            content_pb2.Part(text="what is this?"),
            content_pb2.Part(media=content_pb2.Media(mime_type="image/png", data=png)),
            content_pb2.Part(media=content_pb2.Media(uri="data:image/gif;base64,R0lGODlh")),
        ],
    )
    await client.chat.Chat(chat_request("llama", message), timeout=5)
    assert sent_body(sim)["messages"] == [
        {
            "role": "user",
            "content": "what is this?",
            "images": [base64.b64encode(png).decode(), "R0lGODlh"],
        }
    ]


async def test_media_uri_without_fetching_is_refused(client: Client, sim: OllamaSimulator) -> None:
    message = content_pb2.Message(
        role=content_pb2.ROLE_USER,
        parts=[content_pb2.Part(media=content_pb2.Media(uri="https://example.com/cat.jpg"))],
    )
    status = await chat_fails(client, chat_request("llama", message))
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    assert sim.requests == []


async def test_non_image_media_is_refused(client: Client, sim: OllamaSimulator) -> None:
    message = content_pb2.Message(
        role=content_pb2.ROLE_USER,
        parts=[content_pb2.Part(media=content_pb2.Media(mime_type="audio/wav", data=b"RIFF"))],
    )
    status = await chat_fails(client, chat_request("llama", message))
    assert status.reason == "UNSUPPORTED_CAPABILITY"
    assert sim.requests == []


async def test_json_schema_output_goes_as_format(client: Client, sim: OllamaSimulator) -> None:
    config = chat_pb2.GenerationConfig(response_json_schema_name="answer")
    config.response_json_schema.update(
        {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}
    )
    await client.chat.Chat(chat_request("llama", user("json please"), generation_config=config), timeout=5)
    assert sent_body(sim)["format"] == {
        "type": "object",
        "properties": {"n": {"type": "integer", "maximum": 3}},
    }


async def test_reasoning_unary_stream_and_back(client: Client, sim: OllamaSimulator) -> None:
    response = await client.chat.Chat(chat_request("qwen", user("think")), timeout=5)
    kinds = [part.WhichOneof("kind") for part in response.message.parts]
    assert kinds == ["reasoning", "text"]
    assert response.message.parts[0].reasoning.text.startswith("Let me think")

    messages = await collect(client.chat.ChatStream(stream_request("qwen", user("think")), timeout=5))
    assert "".join(m.delta.reasoning for m in messages).startswith("Let me think")
    assert "".join(m.delta.text for m in messages) == "You said: think"

    # An earlier turn's reasoning goes back as the assistant message's `thinking`.
    await client.chat.Chat(chat_request("qwen", user("think"), response.message, user("more")), timeout=5)
    assert sent_body(sim)["messages"][1] == {
        "role": "assistant",
        "content": "You said: think",
        "thinking": response.message.parts[0].reasoning.text,
    }


async def test_tool_call_round_trip(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(tool_calls=[("get_weather", json.dumps({"city": "Paris", "unit": "celsius"}))])
    question = user("weather in Paris?")
    choice = content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_AUTO)
    response = await client.chat.Chat(
        chat_request("llama", question, tools=[weather_tool()], tool_choice=choice), timeout=5
    )
    assert response.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS
    [call_part] = [p for p in response.message.parts if p.WhichOneof("kind") == "tool_call"]
    call = call_part.tool_call
    assert (call.name, json.loads(call.arguments_json)) == (
        "get_weather",
        {"city": "Paris", "unit": "celsius"},
    )
    assert call.id.startswith("call_")
    assert sent_body(sim)["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]

    # The result goes back naming the tool (taken from the earlier call: the result carries no name).
    sim.behaviour = Behaviour(reply_text="It is sunny.")
    result = content_pb2.Message(
        role=content_pb2.ROLE_TOOL,
        parts=[
            content_pb2.Part(
                tool_result=content_pb2.ToolResult(
                    tool_call_id=call.id, content=[content_pb2.Part(text='{"temp": 21}')]
                )
            )
        ],
    )
    follow_up = await client.chat.Chat(
        chat_request("llama", question, response.message, result, tools=[weather_tool()]), timeout=5
    )
    assert follow_up.message.parts[0].text == "It is sunny."
    sent = sent_body(sim)["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": call.id,
                "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
            }
        ],
    }
    assert sent[2] == {
        "role": "tool",
        "content": '{"temp": 21}',
        "tool_name": "get_weather",
        "tool_call_id": call.id,
    }


async def test_tool_error_result_says_so(client: Client, sim: OllamaSimulator) -> None:
    result = content_pb2.ToolResult(
        tool_call_id="c1", name="get_weather", is_error=True, content=[content_pb2.Part(text="no such city")]
    )
    message = content_pb2.Message(role=content_pb2.ROLE_TOOL, parts=[content_pb2.Part(tool_result=result)])
    call = content_pb2.ToolCall(id="c1", name="get_weather", arguments_json='{"city": "Atlantis"}')
    calling = content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=[content_pb2.Part(tool_call=call)])
    await client.chat.Chat(chat_request("llama", user("x"), calling, message), timeout=5)
    assert sent_body(sim)["messages"][2]["content"] == "Error: no such city"
    assert sent_body(sim)["messages"][2]["tool_name"] == "get_weather"


async def test_streamed_tool_calls(client: Client, sim: OllamaSimulator) -> None:
    first_args, second_args = {"city": "Paris", "days": 3}, {"city": "Rome"}
    sim.behaviour = Behaviour(
        tool_calls=[("get_weather", json.dumps(first_args)), ("get_weather", json.dumps(second_args))]
    )
    messages = await collect(
        client.chat.ChatStream(stream_request("llama", user("weather?"), tools=[weather_tool()]), timeout=5)
    )
    fragments = [t for m in messages for t in m.delta.tool_calls]
    assert [f.index for f in fragments] == [0, 1]
    assert all(f.id.startswith("call_") and f.name == "get_weather" for f in fragments)
    assert [json.loads(f.arguments_json_fragment) for f in fragments] == [first_args, second_args]
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_TOOL_CALLS]
    assert messages[-1].usage.output_tokens == 2


async def test_tool_call_without_id_gets_one(client: Client, sim: OllamaSimulator) -> None:
    # Ollama before 0.12 sent tool calls without ids.
    line = {"model": "llama3.2", "created_at": "2025-07-07T20:22:19.184789Z", "done": False,
            "message": {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]}}  # fmt: skip
    done = {"model": "llama3.2", "created_at": "2025-07-07T20:22:19.19314Z", "done": True, "done_reason": "stop",
            "message": {"role": "assistant", "content": ""}, "prompt_eval_count": 5, "eval_count": 1}  # fmt: skip
    body = (json.dumps(line) + "\n" + json.dumps(done) + "\n").encode()
    sim.behaviour = Behaviour(raw_body=body, content_type="application/x-ndjson")
    messages = await collect(client.chat.ChatStream(stream_request("llama", user("hi")), timeout=5))
    [call] = [t for m in messages for t in m.delta.tool_calls]
    assert call.id.startswith("call_") and call.name == "get_weather"
    assert json.loads(call.arguments_json_fragment) == {"city": "Oslo"}


async def test_tool_choice_none_withholds_the_tools(client: Client, sim: OllamaSimulator) -> None:
    choice = content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_NONE)
    await client.chat.Chat(
        chat_request("llama", user("hi"), tools=[weather_tool()], tool_choice=choice), timeout=5
    )
    assert "tools" not in sent_body(sim)


@pytest.mark.parametrize("mode", [content_pb2.ToolChoice.MODE_REQUIRED, content_pb2.ToolChoice.MODE_TOOL])
async def test_forced_tool_choice_is_refused(
    client: Client, sim: OllamaSimulator, mode: content_pb2.ToolChoice.Mode.ValueType
) -> None:
    choice = content_pb2.ToolChoice(mode=mode)
    if mode == content_pb2.ToolChoice.MODE_TOOL:
        choice.tool_name = "get_weather"
    request = chat_request("llama", user("hi"), tools=[weather_tool()], tool_choice=choice)
    status = await chat_fails(client, request)
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    _, streamed = await stream_fails(
        client, stream_request("llama", user("hi"), tools=[weather_tool()], tool_choice=choice)
    )
    assert streamed.reason == "UNSUPPORTED_CAPABILITY"
    assert sim.requests == []


async def test_message_names_are_refused(client: Client, sim: OllamaSimulator) -> None:
    named = content_pb2.Message(role=content_pb2.ROLE_USER, name="alice", parts=[content_pb2.Part(text="hi")])
    status = await chat_fails(client, chat_request("llama", named))
    assert status.reason == "UNSUPPORTED_CAPABILITY"
    assert sim.requests == []


async def test_max_output_tokens_gives_length(client: Client, sim: OllamaSimulator) -> None:
    config = chat_pb2.GenerationConfig(max_output_tokens=2)
    response = await client.chat.Chat(
        chat_request("llama", user("a b c"), generation_config=config), timeout=5
    )
    assert (response.message.parts[0].text, response.finish_reason) == (
        "You said:",
        chat_pb2.FINISH_REASON_LENGTH,
    )
    messages = await collect(
        client.chat.ChatStream(stream_request("llama", user("a b c"), generation_config=config), timeout=5)
    )
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_LENGTH]


async def test_other_done_reasons_map_to_other(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(finish_reason="unload")
    response = await client.chat.Chat(chat_request("llama", user("x")), timeout=5)
    assert response.finish_reason == chat_pb2.FINISH_REASON_OTHER


async def test_list_models(client: Client) -> None:
    response = await client.models.ListModels(models_pb2.ListModelsRequest(), timeout=5)
    listed = {(m.provider, m.name) for m in response.upstream_models}
    assert ("local-ollama", "llama3.2:latest") in listed
    assert ("local-ollama", "qwen3:8b") in listed


async def test_connections_are_pooled(client: Client, sim: OllamaSimulator) -> None:
    for _ in range(3):
        await client.chat.Chat(chat_request("llama", user("hi")), timeout=5)
    await collect(client.chat.ChatStream(stream_request("llama", user("hi")), timeout=5))
    assert sim.connections_opened == 1


async def test_proxy_key_is_sent_as_bearer(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    with OllamaSimulator(api_key=PROXY_KEY) as proxied:
        client = connect(await start_gateway(ollama_config(proxied.base_url, api_key=PROXY_KEY)))
        await client.chat.Chat(chat_request("llama", user("hi")), timeout=5)
        assert proxied.requests[-1].headers["authorization"] == f"Bearer {PROXY_KEY}"


# --- upstream errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "code", "reason", "retry_after"),
    [
        (Behaviour(status=429, error_message="too many requests", retry_after="7"), "RESOURCE_EXHAUSTED", "UPSTREAM_RATE_LIMITED", 7),
        (Behaviour(status=500, error_message="llama runner process has terminated"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=503, error_message="server busy, please try again.  maximum pending requests exceeded", retry_after="2"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", 2),
        (Behaviour(status=529), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=400, error_message="invalid options"), "INVALID_ARGUMENT", "UPSTREAM_REJECTED_REQUEST", None),
        (Behaviour(status=404, error_message='model "x" not found, try pulling it first'), "NOT_FOUND", "UPSTREAM_NOT_FOUND", None),
        (Behaviour(status=502, error_body="<html>bad gateway</html>", content_type="text/html"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(raw_body=b'{"model": "llama3.2", "message": {', content_type="application/json"), "UNAVAILABLE", "UPSTREAM_MALFORMED_RESPONSE", None),
    ],
)  # fmt: skip
async def test_upstream_errors_map_to_codes(
    client: Client,
    sim: OllamaSimulator,
    behaviour: Behaviour,
    code: str,
    reason: str,
    retry_after: int | None,
) -> None:
    sim.behaviour = behaviour
    for status in [
        await chat_fails(client, chat_request("llama", user("hi"))),
        (await stream_fails(client, stream_request("llama", user("hi"))))[1],
    ]:
        assert (status.code.name, status.reason) == (code, reason)
        assert status.error_info.metadata["provider"] == "local-ollama"
        if retry_after is None:
            assert error_details_pb2.RetryInfo not in status.details
        else:
            assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == retry_after


async def test_unknown_model_is_not_found(
    sim: OllamaSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(ollama_config(sim.base_url, model="mistral")))
    status = await chat_fails(client, chat_request("llama", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.NOT_FOUND, "UPSTREAM_NOT_FOUND")
    assert "model 'mistral' not found" in status.message


async def test_rejected_proxy_key_is_never_shown(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    wrong = "wrong-proxy-key-abcdefghijkl"
    with OllamaSimulator(api_key=PROXY_KEY) as proxied:
        client = connect(await start_gateway(ollama_config(proxied.base_url, api_key=wrong)))
        for status in [
            await chat_fails(client, chat_request("llama", user("hi"))),
            (await stream_fails(client, stream_request("llama", user("hi"))))[1],
        ]:
            assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_AUTH_FAILED")
            everything = status.message + str(status.details)
            assert wrong not in everything and wrong[:8] not in everything


async def test_secret_echoed_in_an_error_is_redacted(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    with OllamaSimulator(api_key=PROXY_KEY) as proxied:
        client = connect(await start_gateway(ollama_config(proxied.base_url, api_key=PROXY_KEY)))
        proxied.behaviour = Behaviour(status=400, error_message=f"bad header Bearer {PROXY_KEY}")
        status = await chat_fails(client, chat_request("llama", user("hi")))
        assert PROXY_KEY not in status.message and "[REDACTED]" in status.message


async def test_connection_refused(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> None:
    client = connect(await start_gateway(ollama_config("http://127.0.0.1:9")))
    status = await chat_fails(client, chat_request("llama", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CONNECT_FAILED")


async def test_wrong_content_type_on_a_stream(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(raw_body=b'{"not": "ndjson"}', content_type="application/json")
    received, status = await stream_fails(client, stream_request("llama", user("hi")))
    assert received == []
    assert status.reason == "UPSTREAM_MALFORMED_RESPONSE"


async def test_garbage_line_in_a_stream(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(raw_body=b"\n\nnot json\n", content_type="application/x-ndjson")
    _, status = await stream_fails(client, stream_request("llama", user("hi")))
    assert status.reason == "UPSTREAM_MALFORMED_RESPONSE"


# --- stream faults -----------------------------------------------------------------------------


async def test_error_line_mid_stream(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(
        stream_error_after=2, error_message="an error was encountered while running the model"
    )
    received, status = await stream_fails(client, stream_request("llama", user("a b c d")))
    assert "".join(m.delta.text for m in received) == "You said:"
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    assert status.error_info.metadata["cause"] == "UPSTREAM_STREAM_ERROR"
    assert "while running the model" in status.message


async def test_error_line_before_content_is_not_an_interruption(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(stream_error_after=0, error_message="model failed to load")
    received, status = await stream_fails(client, stream_request("llama", user("hi")))
    assert received == []
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_STREAM_ERROR")


async def test_stream_cut_after_content_reports_partial_usage(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(cut_after=3)
    received, status = await stream_fails(client, stream_request("llama", user("a b c d e f g h")))
    assert "".join(m.delta.text for m in received) == "You said: a"
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED")
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_STREAM_CUT", 3)
    assert interruption.partial_usage.output_tokens > 0


async def test_stream_cut_just_before_the_done_line(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(cut_after=100)
    received, status = await stream_fails(client, stream_request("llama", user("hi")))
    assert "".join(m.delta.text for m in received) == "You said: hi"
    assert status.detail(chat_pb2.StreamInterruption).reason == "UPSTREAM_STREAM_CUT"


async def test_stream_cut_before_content(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(cut_after=0)
    received, status = await stream_fails(client, stream_request("llama", user("hello")))
    assert received == []
    assert status.reason == "UPSTREAM_STREAM_CUT"


async def test_connection_reset_mid_stream(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(reset_after=2)
    received, status = await stream_fails(client, stream_request("llama", user("a b c d e f")))
    assert len(received) == 3  # the first message and two deltas
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_CONNECTION_LOST", 2)


async def test_stall_before_first_token(
    sim: OllamaSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = ollama_config(sim.base_url, timeouts={"first_token_s": 0.3, "between_tokens_s": 0.3})
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(stall_after=0)
    received, status = await stream_fails(client, stream_request("llama", user("hi")))
    assert received == []
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_STALL")
    await sim.wait_for_disconnects(1)


async def test_stall_mid_stream(
    sim: OllamaSimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = ollama_config(sim.base_url, timeouts={"first_token_s": 1, "between_tokens_s": 0.3})
    client = connect(await start_gateway(config))
    sim.behaviour = Behaviour(stall_after=2)
    received, status = await stream_fails(client, stream_request("llama", user("a b c d")))
    assert len(received) == 3
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_STALL", 2)
    await sim.wait_for_disconnects(1)


# --- deadlines and cancellation ----------------------------------------------------------------


async def test_deadline_bounds_a_unary_call_and_closes_the_upstream(
    client: Client, sim: OllamaSimulator
) -> None:
    sim.behaviour = Behaviour(latency=10)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(chat_request("llama", user("hi")), timeout=0.5)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await sim.wait_for_disconnects(1)


async def test_deadline_bounds_a_stream_and_closes_the_upstream(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    received: list[chat_pb2.ChatStreamResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        async for message in client.chat.ChatStream(
            stream_request("llama", user(" ".join("w" * 40))), timeout=0.7
        ):
            received.append(message)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 1 < len(received) < 20
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


async def test_caller_cancel_closes_the_upstream(client: Client, sim: OllamaSimulator) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    call = client.chat.ChatStream(stream_request("llama", user(" ".join("w" * 40))), timeout=30)
    received = [await call.read(), await call.read()]
    assert isinstance(received[1], chat_pb2.ChatStreamResponse) and received[1].delta.text
    call.cancel()
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


async def test_caller_cancel_of_a_unary_call_closes_the_upstream(
    client: Client, sim: OllamaSimulator
) -> None:
    sim.behaviour = Behaviour(latency=10)
    call = client.chat.Chat(chat_request("llama", user("hi")), timeout=30)
    async with asyncio.timeout(5):
        while not sim.requests:
            await asyncio.sleep(0.01)
    call.cancel()
    await sim.wait_for_disconnects(1)


async def test_tool_call_arguments_must_be_an_object(client: Client, sim: OllamaSimulator) -> None:
    # Ollama takes arguments as a JSON object; an array cannot be passed on faithfully.
    call = content_pb2.ToolCall(id="c1", name="get_weather", arguments_json="[1, 2]")
    calling = content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=[content_pb2.Part(tool_call=call)])
    status = await chat_fails(client, chat_request("llama", user("x"), calling, user("go on")))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "arguments_json" in status.message
    assert sim.requests == []
