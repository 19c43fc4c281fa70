"""The Azure OpenAI adapter through a real gateway against the Azure OpenAI simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from pydantic import SecretStr

from llmgateway.app import Gateway
from llmgateway.config import MediaSettings, ProviderSettings
from llmgateway.providers import openai_compat
from llmgateway.providers.base import ProviderContext
from llmgateway.providers.media import MediaFetcher
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.test_openai_adapter import chat_fails, collect, stream_fails, weather_tool
from tests.upstreams.azure_openai import AzureOpenAISimulator, Behaviour

API_KEY = "azure-sim-key-0123456789abcdef"
TOKEN = "entra-token-0123456789abcdef"
DEPLOYMENT = "gpt-4o-mini-prod"
CHAT_PATH = f"/openai/deployments/{DEPLOYMENT}/chat/completions"


@pytest.fixture(scope="module")
def simulator() -> Iterator[AzureOpenAISimulator]:
    with AzureOpenAISimulator(api_key=API_KEY, bearer_token=TOKEN) as sim:
        yield sim


@pytest.fixture
def sim(simulator: AzureOpenAISimulator) -> AzureOpenAISimulator:
    simulator.reset()
    return simulator


def azure_config(base_url: str, deployment: str = DEPLOYMENT, **provider: Any) -> dict[str, Any]:
    settings = {"api_key": API_KEY, **provider}
    return {
        "providers": [{"name": "azure-main", "type": "azure_openai", "base_url": base_url, **settings}],
        "models": [{"name": "gpt", "deployments": [{"provider": "azure-main", "model": deployment}]}],
        # The adapter's own error mapping is under test here; the router's retries are tested elsewhere.
        "routing": {"retry": {"max_retries": 0}},
    }


@pytest.fixture
async def client(
    sim: AzureOpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> Client:
    return connect(await start_gateway(azure_config(sim.base_url)))


@pytest.fixture
async def gateway_with(
    sim: AzureOpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> Callable[..., Any]:
    async def build(**provider: Any) -> Client:
        return connect(await start_gateway(azure_config(sim.base_url, **provider)))

    return build


def system(text: str, role: content_pb2.Role.ValueType = content_pb2.ROLE_SYSTEM) -> content_pb2.Message:
    return content_pb2.Message(role=role, parts=[content_pb2.Part(text=text)])


def sent_body(sim: AzureOpenAISimulator) -> dict[str, Any]:
    body = sim.requests[-1].body
    assert isinstance(body, dict)
    return body


# --- happy paths -------------------------------------------------------------------------------


async def test_chat_goes_to_the_deployment_url(client: Client, sim: AzureOpenAISimulator) -> None:
    request = chat_request(
        "gpt",
        system("Be brief."),
        user("hello world"),
        generation_config=chat_pb2.GenerationConfig(
            max_output_tokens=50, temperature=0.5, top_p=0.9, stop_sequences=["END"], seed=7
        ),
    )
    response = await client.chat.Chat(request, timeout=5)
    assert response.provider == "azure-main"
    assert response.model == "gpt-4o-mini-2024-07-18"
    assert response.message.parts[0].text == "You said: hello world"
    assert response.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert response.usage.input_tokens == 4 and response.usage.output_tokens == 4

    sent = sim.requests[-1]
    assert (sent.method, sent.path, sent.query) == ("POST", CHAT_PATH, {"api-version": "2024-10-21"})
    assert sent.headers["api-key"] == API_KEY
    assert "authorization" not in sent.headers
    body = sent_body(sim)
    assert "model" not in body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello world"},
    ]
    assert (body["max_completion_tokens"], body["temperature"], body["top_p"]) == (50, 0.5, 0.9)
    assert (body["stop"], body["seed"]) == (["END"], 7)


async def test_stream_skips_the_prompt_verdict_chunk(client: Client, sim: AzureOpenAISimulator) -> None:
    messages = await collect(client.chat.ChatStream(stream_request("gpt", user("one two three")), timeout=5))
    first, *content, last = messages
    assert (first.provider, first.model) == ("azure-main", "gpt-4o-mini-2024-07-18")
    assert all(m.HasField("delta") or m.finish_reason for m in content)
    assert "".join(m.delta.text for m in content) == "You said: one two three"
    assert content[-1].finish_reason == chat_pb2.FINISH_REASON_STOP
    assert (last.usage.input_tokens, last.usage.output_tokens) == (3, 5)
    assert sent_body(sim)["stream_options"] == {"include_usage": True}


async def test_multi_turn_and_images(client: Client, sim: AzureOpenAISimulator) -> None:
    picture = content_pb2.Message(
        role=content_pb2.ROLE_USER,
        parts=[
            content_pb2.Part(text="and this?"),
            content_pb2.Part(media=content_pb2.Media(mime_type="image/png", data=b"\x89PNG")),
            content_pb2.Part(media=content_pb2.Media(uri="https://example.com/cat.jpg")),
        ],
    )
    earlier = system("It is a dog.", content_pb2.ROLE_ASSISTANT)
    response = await client.chat.Chat(chat_request("gpt", user("what is it?"), earlier, picture), timeout=5)
    assert response.message.parts[0].text == "You said: and this?"
    assert sent_body(sim)["messages"] == [
        {"role": "user", "content": "what is it?"},
        {"role": "assistant", "content": "It is a dog."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        },
    ]


async def test_json_schema_output(client: Client, sim: AzureOpenAISimulator) -> None:
    config = chat_pb2.GenerationConfig(response_json_schema_name="answer")
    config.response_json_schema.update({"type": "object", "properties": {"n": {"type": "integer"}}})
    await client.chat.Chat(chat_request("gpt", user("json please"), generation_config=config), timeout=5)
    assert sent_body(sim)["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    }


async def test_bearer_token_replaces_the_api_key(
    sim: AzureOpenAISimulator, gateway_with: Callable[..., Any]
) -> None:
    client = await gateway_with(api_key=None, bearer_token=TOKEN)
    await client.chat.Chat(chat_request("gpt", user("hi")), timeout=5)
    headers = sim.requests[-1].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in headers


async def test_older_api_version_gets_its_own_dialect(
    sim: AzureOpenAISimulator, gateway_with: Callable[..., Any]
) -> None:
    client = await gateway_with(api_version="2024-06-01")
    config = chat_pb2.GenerationConfig(max_output_tokens=20)
    request = chat_request(
        "gpt", system("terse", content_pb2.ROLE_DEVELOPER), user("hi"), generation_config=config
    )
    await client.chat.Chat(request, timeout=5)
    body = sent_body(sim)
    assert sim.requests[-1].query == {"api-version": "2024-06-01"}
    assert body["max_tokens"] == 20 and "max_completion_tokens" not in body
    assert body["messages"][0] == {"role": "system", "content": "terse"}

    # No stream_options on this version, so the stream carries no usage; the relay still ends it.
    messages = await collect(client.chat.ChatStream(stream_request("gpt", user("a b")), timeout=5))
    assert "stream_options" not in sent_body(sim)
    assert "".join(m.delta.text for m in messages) == "You said: a b"


async def test_preview_version_keeps_the_developer_role(
    sim: AzureOpenAISimulator, gateway_with: Callable[..., Any]
) -> None:
    client = await gateway_with(api_version="2025-01-01-preview")
    request = chat_request("gpt", system("terse", content_pb2.ROLE_DEVELOPER), user("hi"))
    await client.chat.Chat(request, timeout=5)
    assert sent_body(sim)["messages"][0] == {"role": "developer", "content": "terse"}


async def test_top_k_is_refused_not_dropped(client: Client, sim: AzureOpenAISimulator) -> None:
    request = chat_request("gpt", user("hi"), generation_config=chat_pb2.GenerationConfig(top_k=5))
    status = await chat_fails(client, request)
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
    metadata = status.error_info.metadata
    assert (metadata["provider"], metadata["feature"]) == ("azure-main", "top_k")
    assert sim.requests == []


# --- tools -------------------------------------------------------------------------------------


async def test_tool_call_round_trip(client: Client, sim: AzureOpenAISimulator) -> None:
    arguments = json.dumps({"city": "Paris"})
    sim.behaviour = Behaviour(tool_calls=[("get_weather", arguments)])
    choice = content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_REQUIRED)
    question = user("weather in Paris?")
    response = await client.chat.Chat(
        chat_request("gpt", question, tools=[weather_tool()], tool_choice=choice), timeout=5
    )
    assert response.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS
    [call] = [p.tool_call for p in response.message.parts if p.WhichOneof("kind") == "tool_call"]
    assert (call.name, json.loads(call.arguments_json)) == ("get_weather", {"city": "Paris"})
    assert sent_body(sim)["tool_choice"] == "required"

    sim.behaviour = Behaviour(reply_text="Sunny.")
    result = content_pb2.Message(
        role=content_pb2.ROLE_TOOL,
        parts=[
            content_pb2.Part(
                tool_result=content_pb2.ToolResult(
                    tool_call_id=call.id, content=[content_pb2.Part(text="21C")]
                )
            )
        ],
    )
    follow_up = await client.chat.Chat(
        chat_request("gpt", question, response.message, result, tools=[weather_tool()]), timeout=5
    )
    assert follow_up.message.parts[0].text == "Sunny."
    assert sent_body(sim)["messages"][2] == {"role": "tool", "tool_call_id": call.id, "content": "21C"}


async def test_streamed_tool_call_fragments(client: Client, sim: AzureOpenAISimulator) -> None:
    arguments = json.dumps({"city": "Paris", "days": 3})
    sim.behaviour = Behaviour(tool_calls=[("get_weather", arguments)])
    messages = await collect(
        client.chat.ChatStream(stream_request("gpt", user("weather?"), tools=[weather_tool()]), timeout=5)
    )
    fragments = [t for m in messages for t in m.delta.tool_calls]
    assert len(fragments) > 3
    assert fragments[0].id and fragments[0].name == "get_weather"
    assert all(not f.id for f in fragments[1:])
    assert json.loads("".join(f.arguments_json_fragment for f in fragments)) == json.loads(arguments)
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_TOOL_CALLS]


# --- content filtering -------------------------------------------------------------------------


async def test_filtered_answer_maps_to_content_filter(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(finish_reason="content_filter", reply_text="Partial answer")
    response = await client.chat.Chat(chat_request("gpt", user("hi")), timeout=5)
    assert response.finish_reason == chat_pb2.FINISH_REASON_CONTENT_FILTER
    messages = await collect(client.chat.ChatStream(stream_request("gpt", user("hi")), timeout=5))
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_CONTENT_FILTER]


async def test_filtered_prompt_is_content_filtered(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(status=400, error_code="content_filter")
    for status in [
        await chat_fails(client, chat_request("gpt", user("hi"))),
        (await stream_fails(client, stream_request("gpt", user("hi"))))[1],
    ]:
        assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CONTENT_FILTERED")
        assert status.error_info.metadata["upstream_code"] == "content_filter"


# --- upstream errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "code", "reason", "retry_after"),
    [
        (Behaviour(status=429, retry_after="7"), "RESOURCE_EXHAUSTED", "UPSTREAM_RATE_LIMITED", 7),
        (Behaviour(status=500, error_code="InternalServerError"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=503, retry_after="2"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", 2),
        (Behaviour(status=529), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(status=400, error_code="context_length_exceeded"), "INVALID_ARGUMENT", "CONTEXT_LENGTH_EXCEEDED", None),
        (Behaviour(status=400, error_code="BadRequest"), "INVALID_ARGUMENT", "UPSTREAM_REJECTED_REQUEST", None),
        (Behaviour(status=502, error_body="<html>bad gateway</html>", content_type="text/html"), "UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None),
        (Behaviour(raw_body=b'{"choices": [', content_type="application/json"), "UNAVAILABLE", "UPSTREAM_MALFORMED_RESPONSE", None),
    ],
)  # fmt: skip
async def test_upstream_errors_map_to_codes(
    client: Client,
    sim: AzureOpenAISimulator,
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
        assert status.error_info.metadata["provider"] == "azure-main"
        if retry_after is None:
            assert error_details_pb2.RetryInfo not in status.details
        else:
            assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == retry_after


async def test_retry_after_ms_alone_is_honoured(client: Client, sim: AzureOpenAISimulator) -> None:
    body = {"error": {"code": "429", "message": "Rate limit is exceeded."}}
    sim.behaviour = Behaviour(status=429, error_body=body)
    # The simulator adds no retry headers without `retry_after`; the adapter then falls back to 1s.
    status = await chat_fails(client, chat_request("gpt", user("hi")))
    assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == 1
    sim.behaviour = Behaviour(status=429, retry_after="2.5")
    status = await chat_fails(client, chat_request("gpt", user("hi")))
    delay = status.detail(error_details_pb2.RetryInfo).retry_delay
    assert (delay.seconds, delay.nanos) == (2, 500_000_000)


@pytest.mark.parametrize(
    "credentials", [{"api_key": "wrong-key-abcdefghijklmnop"}, {"bearer_token": "wrong-token-abcdefghijkl"}]
)
async def test_rejected_credentials_are_never_shown(
    gateway_with: Callable[..., Any], credentials: dict[str, str]
) -> None:
    client = await gateway_with(**({"api_key": None} | credentials))
    status = await chat_fails(client, chat_request("gpt", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_AUTH_FAILED")
    secret = next(iter(credentials.values()))
    everything = status.message + str(status.details)
    assert secret not in everything and secret[:8] not in everything


async def test_unknown_deployment_is_not_found(
    sim: AzureOpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    client = connect(await start_gateway(azure_config(sim.base_url, deployment="no-such-deployment")))
    status = await chat_fails(client, chat_request("gpt", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.NOT_FOUND, "UPSTREAM_NOT_FOUND")
    assert status.error_info.metadata["upstream_code"] == "DeploymentNotFound"


async def test_unsupported_api_version_is_rejected(
    sim: AzureOpenAISimulator, gateway_with: Callable[..., Any]
) -> None:
    client = await gateway_with(api_version="2019-01-01")
    status = await chat_fails(client, chat_request("gpt", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UPSTREAM_REJECTED_REQUEST")
    assert "API version not supported" in status.message


# --- streams that go wrong ---------------------------------------------------------------------


async def test_in_stream_error_event(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(stream_error_after=2, error_message="The server had an error")
    received, status = await stream_fails(client, stream_request("gpt", user("a b c d")))
    assert "".join(m.delta.text for m in received) == "You said:"
    assert status.reason == "STREAM_INTERRUPTED"
    assert status.error_info.metadata["cause"] == "UPSTREAM_STREAM_ERROR"


async def test_cut_stream(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(cut_after=3)
    received, status = await stream_fails(client, stream_request("gpt", user("a b c d e f")))
    assert "".join(m.delta.text for m in received) == "You said: a"
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_STREAM_CUT", 3)


async def test_cut_before_content(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(cut_after=0)
    received, status = await stream_fails(client, stream_request("gpt", user("hi")))
    assert received == []
    assert status.reason == "UPSTREAM_STREAM_CUT"


async def test_connection_reset_mid_stream(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(reset_after=2)
    received, status = await stream_fails(client, stream_request("gpt", user("a b c d e f")))
    assert len(received) == 3
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert (interruption.reason, interruption.messages_sent) == ("UPSTREAM_CONNECTION_LOST", 2)


@pytest.mark.parametrize(("stall_after", "reason"), [(0, "UPSTREAM_STALL"), (2, "STREAM_INTERRUPTED")])
async def test_stalls(
    sim: AzureOpenAISimulator, gateway_with: Callable[..., Any], stall_after: int, reason: str
) -> None:
    client = await gateway_with(timeouts={"first_token_s": 0.5, "between_tokens_s": 0.3})
    sim.behaviour = Behaviour(stall_after=stall_after)
    _, status = await stream_fails(client, stream_request("gpt", user("a b c d")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, reason)
    await sim.wait_for_disconnects(1)


async def test_sse_framing_quirks(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(split_writes=True, crlf=True, comments=True)
    messages = await collect(client.chat.ChatStream(stream_request("gpt", user("split me")), timeout=5))
    assert "".join(m.delta.text for m in messages) == "You said: split me"


async def test_wrong_content_type_on_a_stream(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(raw_body=b'{"not": "sse"}', content_type="application/json")
    received, status = await stream_fails(client, stream_request("gpt", user("hi")))
    assert (received, status.reason) == ([], "UPSTREAM_MALFORMED_RESPONSE")


# --- deadlines and cancellation ----------------------------------------------------------------


async def test_deadline_closes_the_upstream(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(latency=10)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(chat_request("gpt", user("hi")), timeout=0.5)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await sim.wait_for_disconnects(1)


async def test_caller_cancel_closes_the_upstream_stream(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)
    call = client.chat.ChatStream(stream_request("gpt", user(" ".join("w" * 40))), timeout=30)
    await call.read()
    await call.read()
    call.cancel()
    await sim.wait_for_disconnects(1)
    assert sim.completed == 0


# --- the adapter outside the gateway -----------------------------------------------------------


@pytest.fixture
async def context() -> AsyncIterator[ProviderContext]:
    fetcher = MediaFetcher(MediaSettings())
    yield ProviderContext(media=fetcher)
    await fetcher.aclose()


async def test_model_listing_is_not_offered(sim: AzureOpenAISimulator, context: ProviderContext) -> None:
    settings = ProviderSettings(
        name="az", type="azure_openai", base_url=sim.base_url, api_key=SecretStr(API_KEY)
    )
    provider = openai_compat.create(settings, context)
    try:
        assert await provider.list_models() is None
    finally:
        await provider.aclose()
    assert sim.requests == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"api_key": API_KEY}, "needs base_url"), ({"base_url": "https://x.openai.azure.com"}, "needs api_key")],
)
async def test_create_refuses_an_incomplete_config(
    context: ProviderContext, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        openai_compat.create(ProviderSettings(name="az", type="azure_openai", **fields), context)


async def test_deployment_names_are_quoted_into_the_path(
    sim: AzureOpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    sim.deployments["team a/prod"] = "gpt-4o"
    try:
        client = connect(await start_gateway(azure_config(sim.base_url, deployment="team a/prod")))
        response = await client.chat.Chat(chat_request("gpt", user("hi")), timeout=5)
    finally:
        del sim.deployments["team a/prod"]
    assert response.model == "gpt-4o-2024-08-06"
    assert sim.requests[-1].path == "/openai/deployments/team a/prod/chat/completions"


async def test_unary_cancel_closes_the_upstream(client: Client, sim: AzureOpenAISimulator) -> None:
    sim.behaviour = Behaviour(latency=10)
    call = client.chat.Chat(chat_request("gpt", user("hi")), timeout=30)
    async with asyncio.timeout(5):
        while not sim.requests:
            await asyncio.sleep(0.01)
    call.cancel()
    await sim.wait_for_disconnects(1)
