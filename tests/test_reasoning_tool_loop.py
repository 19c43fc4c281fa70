"""Reasoning that survives a tool loop: with thinking on, a client that sends the assistant turn back
as it received it gets the provider what it demands (Anthropic's and Bedrock's signed thinking
first in the turn, Gemini 3's signature on its function call), unary and streamed, through gRPC
(the generated Python stubs), the OpenAI door (the `openai` SDK) and the Anthropic door (the
`anthropic` SDK). The simulators refuse, as the real APIs do, a turn whose thinking or signature
came back altered or not at all; those refusals are checked here too, so the loops above cannot
pass by accident."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import grpc
import openai
import pytest

from llmgateway.cache.assembly import StreamAssembler
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conformance.harness import HARNESSES, MODEL, simulator_for
from tests.conftest import Client, StartGateway, chat_request, reasoning, stream_request, user
from tests.openai_door import door_url, with_http
from tests.upstreams.base import Behaviour, SimulatorServer
from tests.upstreams.signing import REDACTED_TRIGGER

# A reasoning model of each provider that signs its reasoning, as its simulator names it.
THINKERS = {
    "anthropic": "claude-sonnet-4-5",
    "bedrock": "anthropic.claude-sonnet-4-20250514-v1:0",
    "gemini": "gemini-3-pro-preview",
}
REASONING = reasoning(effort="low", include_thoughts=True)
CALL = ("get_weather", '{"city": "Paris"}')
TOOL = content_pb2.Tool(name="get_weather", description="Weather for a city")
TOOL.parameters.update({"type": "object", "properties": {"city": {"type": "string"}}})
OPENAI_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ANTHROPIC_TOOL: anthropic.types.ToolParam = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def thinker_config(provider: str, base_url: str) -> dict[str, Any]:
    config = with_http(HARNESSES[provider].config(base_url))
    config["models"][0]["deployments"][0]["model"] = THINKERS[provider]
    return config


async def start(
    start_gateway: StartGateway, sims: dict[str, SimulatorServer], provider: str
) -> tuple[Any, SimulatorServer]:
    sim = simulator_for(sims, HARNESSES[provider])
    sim.enqueue(Behaviour(tool_calls=[CALL]), Behaviour(reply_text="It is sunny."))
    return await start_gateway(thinker_config(provider, sim.base_url)), sim


def tool_turn(call_id: str) -> content_pb2.Message:
    result = content_pb2.ToolResult(tool_call_id=call_id, content=[content_pb2.Part(text="sunny, 21C")])
    return content_pb2.Message(role=content_pb2.ROLE_TOOL, parts=[content_pb2.Part(tool_result=result)])


def loop_request(assistant: content_pb2.Message, *, stream: bool) -> Any:
    call_id = next(p.tool_call.id for p in assistant.parts if p.WhichOneof("kind") == "tool_call")
    messages = (user("Weather in Paris?"), assistant, tool_turn(call_id))
    build = stream_request if stream else chat_request
    return build(MODEL, *messages, tools=[TOOL], generation_config=REASONING)


async def grpc_turn(client: Client, request: Any) -> chat_pb2.ChatResponse:
    if isinstance(request, chat_pb2.ChatRequest):
        response: chat_pb2.ChatResponse = await client.chat.Chat(request, timeout=10)
        return response
    assembler = StreamAssembler()
    async for message in client.chat.ChatStream(request, timeout=10):
        assembler.add(message)
    return assembler.result()


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("provider", list(THINKERS))
async def test_grpc_tool_loop_with_thinking(
    start_gateway: StartGateway,
    provider_simulators: dict[str, SimulatorServer],
    connect: Any,
    provider: str,
    stream: bool,
) -> None:
    gateway, sim = await start(start_gateway, provider_simulators, provider)
    client = connect(gateway)
    build = stream_request if stream else chat_request
    first = await grpc_turn(
        client, build(MODEL, user("Weather in Paris?"), tools=[TOOL], generation_config=REASONING)
    )
    kinds = [p.WhichOneof("kind") for p in first.message.parts]
    assert kinds[-1] == "tool_call" and "reasoning" in kinds
    signed = [
        p.reasoning
        for p in first.message.parts
        if p.WhichOneof("kind") == "reasoning" and p.reasoning.signature
    ]
    assert signed and all(r.origin == provider for r in signed)
    assert first.usage.output_tokens > 0

    second = await grpc_turn(client, loop_request(first.message, stream=stream))
    assert "".join(p.text for p in second.message.parts) == "It is sunny."
    assert len(sim.requests) == 2

    # The same turn with its signature altered: the provider refuses it, as the real API does.
    altered = content_pb2.Message()
    altered.CopyFrom(first.message)
    for part in altered.parts:
        if part.WhichOneof("kind") == "reasoning" and part.reasoning.signature:
            part.reasoning.signature = part.reasoning.signature[:-4] + "AAA="
    sim.enqueue(Behaviour(reply_text="unreachable"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_turn(client, loop_request(altered, stream=stream))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "signature" in (refused.value.details() or "").lower()


@pytest.mark.parametrize("provider", list(THINKERS))
async def test_a_turn_sent_back_without_its_reasoning_is_refused(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], connect: Any, provider: str
) -> None:
    gateway, sim = await start(start_gateway, provider_simulators, provider)
    client = connect(gateway)
    first = await grpc_turn(
        client, chat_request(MODEL, user("Weather in Paris?"), tools=[TOOL], generation_config=REASONING)
    )
    stripped = content_pb2.Message(
        role=content_pb2.ROLE_ASSISTANT,
        parts=[p for p in first.message.parts if p.WhichOneof("kind") != "reasoning"],
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_turn(client, loop_request(stripped, stream=False))
    if provider == "gemini":
        # Gemini 3 itself refuses a function call of the current turn without its signature.
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "thought_signature" in (refused.value.details() or "")
    else:
        # Claude would refuse it (a tool loop's turn must start with its thinking): the adapter
        # says so before sending, and no other deployment can serve it.
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "thinking" in (refused.value.details() or "")
        assert len(sim.requests) == 1


def _openai_message(choice_message: Any) -> dict[str, Any]:
    """The assistant message as a caller appends it: the SDK's model, extra fields and all."""
    dumped: dict[str, Any] = choice_message.model_dump(exclude_none=True)
    return dumped


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("provider", list(THINKERS))
async def test_openai_door_tool_loop_with_thinking(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str, stream: bool
) -> None:
    gateway, sim = await start(start_gateway, provider_simulators, provider)
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    async with openai.AsyncOpenAI(base_url=door_url(gateway), api_key="unused", max_retries=0) as client:
        if stream:
            async with client.chat.completions.stream(
                model=MODEL, messages=messages, tools=[OPENAI_TOOL], reasoning_effort="low"
            ) as events:
                completion: openai.types.chat.ChatCompletion = await events.get_final_completion()
        else:
            completion = await client.chat.completions.create(
                model=MODEL, messages=messages, tools=[OPENAI_TOOL], reasoning_effort="low"
            )
        assistant = completion.choices[0].message
        assert assistant.tool_calls
        blocks = (assistant.model_extra or {}).get("thinking_blocks")
        assert blocks and any(b.get("signature", "").startswith(f"{provider}.") for b in blocks)
        messages += [
            _openai_message(assistant),
            {"role": "tool", "tool_call_id": assistant.tool_calls[0].id, "content": "sunny, 21C"},
        ]
        second = await client.chat.completions.create(
            model=MODEL, messages=messages, tools=[OPENAI_TOOL], reasoning_effort="low"
        )
    assert second.choices[0].message.content == "It is sunny."
    assert second.usage is not None
    assert len(sim.requests) == 2


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("provider", list(THINKERS))
async def test_anthropic_door_tool_loop_with_thinking(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str, stream: bool
) -> None:
    gateway, sim = await start(start_gateway, provider_simulators, provider)
    base = f"http://127.0.0.1:{gateway.http_port}"
    thinking: anthropic.types.ThinkingConfigParam = {"type": "enabled", "budget_tokens": 2048}
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Weather in Paris?"}]
    async with anthropic.AsyncAnthropic(base_url=base, api_key="unused", max_retries=0) as client:
        if stream:
            async with client.messages.stream(
                model=MODEL, max_tokens=8192, messages=messages, tools=[ANTHROPIC_TOOL], thinking=thinking
            ) as events:
                first: anthropic.types.Message = await events.get_final_message()
        else:
            first = await client.messages.create(
                model=MODEL, max_tokens=8192, messages=messages, tools=[ANTHROPIC_TOOL], thinking=thinking
            )
        kinds = [block.type for block in first.content]
        assert kinds[-1] == "tool_use" and kinds[0] == "thinking", kinds
        signatures = [
            block.signature for block in first.content if block.type == "thinking" and block.signature
        ]
        assert signatures and all(s.startswith(f"{provider}.") for s in signatures)
        tool_use = next(block for block in first.content if block.type == "tool_use")
        messages += [
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny"}],
            },
        ]
        second = await client.messages.create(
            model=MODEL, max_tokens=8192, messages=messages, tools=[ANTHROPIC_TOOL], thinking=thinking
        )
    assert [block.type for block in second.content][-1] == "text"
    assert "".join(block.text for block in second.content if block.type == "text") == "It is sunny."
    assert len(sim.requests) == 2
    sent = sim.requests[1].body
    assert sent is not None
    assert json.dumps(sent).count("Paris") >= 1


@pytest.mark.parametrize("provider", ["anthropic", "bedrock"])
async def test_redacted_thinking_round_trips(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], connect: Any, provider: str
) -> None:
    gateway, _ = await start(start_gateway, provider_simulators, provider)
    client = connect(gateway)
    question = user(f"Weather in Paris? {REDACTED_TRIGGER}")
    first = await grpc_turn(
        client, stream_request(MODEL, question, tools=[TOOL], generation_config=REASONING)
    )
    redacted = [p.reasoning for p in first.message.parts if p.WhichOneof("kind") == "reasoning"]
    assert len(redacted) == 1 and redacted[0].redacted_data and redacted[0].origin == provider
    call_id = next(p.tool_call.id for p in first.message.parts if p.WhichOneof("kind") == "tool_call")
    second = await grpc_turn(
        client,
        chat_request(
            MODEL, question, first.message, tool_turn(call_id), tools=[TOOL], generation_config=REASONING
        ),
    )
    assert "".join(p.text for p in second.message.parts) == "It is sunny."
