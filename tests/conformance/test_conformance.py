"""One table-driven conformance suite, the same cases for every provider's simulator.

Each test is one (provider, case) pair through real gRPC: a fresh gateway (cheap) in front of the
provider's simulator (module-scoped: it runs in its own thread, and is reset before every test).
What differs between providers — config, error vocabulary, where the wire puts each feature, and
what a provider cannot do — lives in harness.py; the cases below are written once.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import grpc
import pytest
from google.rpc import error_details_pb2

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2, content_pb2, embeddings_pb2
from tests.conformance.harness import (
    CASES,
    EMBEDDING_MODEL,
    ERROR_CASES,
    HARNESSES,
    KNOWN_BUGS,
    MODEL,
    REASONING_DEPLOYMENT,
    REASONING_MODEL,
    TIMEOUTS,
    ErrorCase,
    ProviderHarness,
    Refusal,
    readme_reasoning,
    render_matrix,
    simulator_for,
    tiny_png,
)
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import RichStatus, rich_status
from tests.upstreams import signing
from tests.upstreams.base import Behaviour, SimulatorServer
from tests.upstreams.embeddings import vector

CALL_TIMEOUT = 5.0
THINKING_TIMEOUTS = {"connect_s": 5.0, "first_token_s": 10.0, "between_tokens_s": 10.0, "total_s": 20.0}
WEATHER_ARGS = {"city": "Paris", "unit": "celsius"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"n": {"type": "integer", "maximum": 3}},
    "required": ["n"],
}
PNG = tiny_png()


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, SimulatorServer]]:
    """Simulators started on first use, one per provider, stopped when the module is done."""
    started: dict[str, SimulatorServer] = {}
    yield started
    for simulator in started.values():
        simulator.stop()


Turn = chat_pb2.ChatRequest | chat_pb2.ChatStreamRequest


@dataclass(frozen=True)
class Answer:
    """A turn's answer, whether it came whole or streamed."""

    message: content_pb2.Message
    finish_reason: chat_pb2.FinishReason.ValueType
    usage: chat_pb2.Usage


@dataclass
class Conformance:
    """One provider under test: its harness, its (reset) simulator and a client to a fresh gateway."""

    harness: ProviderHarness
    sim: SimulatorServer
    client: Client
    start: Callable[..., Awaitable[Client]]

    def body(self) -> dict[str, Any]:
        """The last generation request the simulator recorded."""
        assert self.sim.requests, "the simulator saw no request"
        body = self.sim.requests[-1].body
        assert isinstance(body, dict)
        return body

    async def chat(
        self, request: chat_pb2.ChatRequest, client: Client | None = None
    ) -> chat_pb2.ChatResponse:
        response: chat_pb2.ChatResponse = await (client or self.client).chat.Chat(
            request, timeout=CALL_TIMEOUT
        )
        assert response.provider == self.harness.provider_name
        return response

    async def embed(self, request: embeddings_pb2.EmbedRequest) -> embeddings_pb2.EmbedResponse:
        response: embeddings_pb2.EmbedResponse = await self.client.embeddings.Embed(
            request, timeout=CALL_TIMEOUT
        )
        assert response.provider == self.harness.provider_name
        return response

    async def embed_fails(self, request: embeddings_pb2.EmbedRequest) -> RichStatus:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await self.client.embeddings.Embed(request, timeout=CALL_TIMEOUT)
        return rich_status(failure.value)

    async def stream(
        self, request: chat_pb2.ChatStreamRequest, client: Client | None = None
    ) -> list[chat_pb2.ChatStreamResponse]:
        messages = [m async for m in (client or self.client).chat.ChatStream(request, timeout=CALL_TIMEOUT)]
        check_stream_shape(self.harness, messages)
        return messages

    async def turn(self, request: Turn, client: Client | None = None) -> Answer:
        """One turn, unary or streamed; a stream's message assembled from its deltas."""
        if isinstance(request, chat_pb2.ChatRequest):
            response = await self.chat(request, client)
            return Answer(response.message, response.finish_reason, response.usage)
        messages = await self.stream(request, client)
        [finish] = [m.finish_reason for m in messages if m.finish_reason]
        return Answer(assembled(messages), finish, messages[-1].usage)

    async def chat_fails(self, request: chat_pb2.ChatRequest, client: Client | None = None) -> RichStatus:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await (client or self.client).chat.Chat(request, timeout=CALL_TIMEOUT)
        return rich_status(failure.value)

    async def stream_fails(
        self, request: chat_pb2.ChatStreamRequest, client: Client | None = None
    ) -> tuple[list[chat_pb2.ChatStreamResponse], RichStatus]:
        received: list[chat_pb2.ChatStreamResponse] = []
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            async for message in (client or self.client).chat.ChatStream(request, timeout=CALL_TIMEOUT):
                received.append(message)
        return received, rich_status(failure.value)


@pytest.fixture
async def conformance(
    request: pytest.FixtureRequest,
    simulators: dict[str, SimulatorServer],
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
) -> Conformance:
    harness = HARNESSES[request.param]
    sim = simulator_for(simulators, harness)

    async def start(**overrides: Any) -> Client:
        return connect(await start_gateway(harness.config(sim.base_url, **overrides)))

    return Conformance(harness, sim, await start(), start)


# --- shared checks and requests ----------------------------------------------------------------


def check_stream_shape(harness: ProviderHarness, messages: list[chat_pb2.ChatStreamResponse]) -> None:
    """The v1 stream contract: a first message naming id/model/provider, content, usage last."""
    assert len(messages) >= 3, messages
    first, *content, last = messages
    assert first.id and first.model and first.provider == harness.provider_name
    assert not first.HasField("delta") and not first.HasField("usage")
    assert all(m.HasField("delta") or m.finish_reason for m in content)
    finishes = [m.finish_reason for m in content if m.finish_reason]
    assert len(finishes) == 1 and content[-1].finish_reason, (
        "the finish reason comes once, on the last content"
    )
    assert last.HasField("usage") and not last.HasField("delta")


def message(role: content_pb2.Role.ValueType, *parts: content_pb2.Part) -> content_pb2.Message:
    return content_pb2.Message(role=role, parts=list(parts))


def text(value: str) -> content_pb2.Part:
    return content_pb2.Part(text=value)


def weather_tool() -> content_pb2.Tool:
    tool = content_pb2.Tool(name="get_weather", description="Weather for a city")
    tool.parameters.update(
        {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        }
    )
    return tool


def joined_tool_calls(messages: list[chat_pb2.ChatStreamResponse]) -> dict[int, dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for fragment in (t for m in messages for t in m.delta.tool_calls):
        call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
        # id and name come once, on a call's first fragment.
        assert not (call["id"] and fragment.id), f"a second id for call {fragment.index}"
        call["id"] += fragment.id
        call["name"] += fragment.name
        call["arguments"] += fragment.arguments_json_fragment
    return calls


def assembled(messages: list[chat_pb2.ChatStreamResponse]) -> content_pb2.Message:
    """The assistant message a stream carries, rebuilt as a client rebuilds it (chat.proto, Delta):
    parts in the order the stream first mentions them — within one Delta reasoning, then refusal,
    then text, then tool calls — each part's fragments joined in order. Written here rather than
    taken from the gateway's own assembler (cache/assembly.py), so the stream is judged from outside."""
    parts: list[content_pb2.Part] = []
    # Each part by (kind, index): reasoning parts and tool calls are numbered, text and refusal not.
    known: dict[tuple[str, int], content_pb2.Part] = {}

    def part(kind: str, index: int = 0) -> content_pb2.Part:
        if (kind, index) not in known:
            new = content_pb2.Part()
            if kind in ("text", "refusal"):
                setattr(new, kind, "")
            else:
                getattr(new, kind).SetInParent()
            parts.append(new)
            known[kind, index] = new
        return known[kind, index]

    for delta in (m.delta for m in messages if m.HasField("delta")):
        if (
            delta.reasoning
            or delta.reasoning_signature
            or delta.reasoning_redacted_data
            or delta.reasoning_origin
        ):
            reasoning = part("reasoning", delta.reasoning_index).reasoning
            reasoning.text += delta.reasoning
            reasoning.signature += delta.reasoning_signature
            reasoning.redacted_data += delta.reasoning_redacted_data
            reasoning.origin = reasoning.origin or delta.reasoning_origin
        if delta.refusal:
            part("refusal").refusal += delta.refusal
        if delta.text:
            part("text").text += delta.text
        for fragment in delta.tool_calls:
            call = part("tool_call", fragment.index).tool_call
            call.id += fragment.id
            call.name += fragment.name
            call.arguments_json += fragment.arguments_json_fragment
    return content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=parts)


def stream_text(messages: list[chat_pb2.ChatStreamResponse]) -> str:
    return "".join(m.delta.text for m in messages)


def image_message() -> content_pb2.Message:
    return message(
        content_pb2.ROLE_USER,
        text("what is this?"),
        content_pb2.Part(media=content_pb2.Media(mime_type="image/png", data=PNG)),
    )


def schema_config() -> chat_pb2.GenerationConfig:
    config = chat_pb2.GenerationConfig(response_json_schema_name="answer")
    config.response_json_schema.update(SCHEMA)
    return config


def forced_tool_request() -> chat_pb2.ChatRequest:
    choice = content_pb2.ToolChoice(mode=content_pb2.ToolChoice.MODE_TOOL, tool_name="get_weather")
    return chat_request(MODEL, user("weather in Paris?"), tools=[weather_tool()], tool_choice=choice)


# --- the cases ---------------------------------------------------------------------------------


async def case_text(c: Conformance) -> None:
    response = await c.chat(chat_request(MODEL, user("hello")))
    assert [p.text for p in response.message.parts] == ["You said: hello"]
    assert response.message.role == content_pb2.ROLE_ASSISTANT
    assert response.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


async def case_text_stream(c: Conformance) -> None:
    messages = await c.stream(stream_request(MODEL, user("hello")))
    assert stream_text(messages) == "You said: hello"
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_STOP]


async def case_system_prompt(c: Conformance) -> None:
    system = message(content_pb2.ROLE_SYSTEM, text("Be brief."))
    response = await c.chat(chat_request(MODEL, system, user("hello")))
    assert response.message.parts[0].text == "You said: hello"
    assert c.harness.wire.system_prompt(c.body()) == "Be brief."
    # Besides the system prompt, the conversation is the one user turn.
    assert [role for role in c.harness.wire.turns(c.body()) if role != "system"] == ["user"]


async def case_multi_turn(c: Conformance) -> None:
    request = chat_request(
        MODEL, user("hi"), message(content_pb2.ROLE_ASSISTANT, text("hello!")), user("how are you")
    )
    response = await c.chat(request)
    assert response.message.parts[0].text == "You said: how are you"
    assert c.harness.wire.turns(c.body()) == ["user", c.harness.wire.assistant_role, "user"]


async def case_image(c: Conformance) -> None:
    response = await c.chat(chat_request(MODEL, image_message()))
    assert response.message.parts[0].text
    mime_type, data = c.harness.wire.image(c.body())
    assert mime_type in ("image/png", None)
    assert base64.b64decode(data) == PNG


async def case_stop_sequence(c: Conformance) -> None:
    config = chat_pb2.GenerationConfig(stop_sequences=["END"])
    response = await c.chat(chat_request(MODEL, user("hello"), generation_config=config))
    assert response.message.parts[0].text
    assert c.harness.wire.stop_sequences(c.body()) == ["END"]


async def case_json_schema(c: Conformance) -> None:
    response = await c.chat(chat_request(MODEL, user("json please"), generation_config=schema_config()))
    assert response.message.parts[0].text
    assert c.harness.wire.json_schema(c.body()) == SCHEMA


async def case_tool_call(c: Conformance) -> None:
    c.sim.behaviour = Behaviour(tool_calls=[("get_weather", json.dumps(WEATHER_ARGS))])
    response = await c.chat(chat_request(MODEL, user("weather in Paris?"), tools=[weather_tool()]))
    assert response.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS
    [call] = [p.tool_call for p in response.message.parts if p.WhichOneof("kind") == "tool_call"]
    assert call.id and call.name == "get_weather"
    assert json.loads(call.arguments_json) == WEATHER_ARGS


async def case_tool_call_stream(c: Conformance) -> None:
    second = {"city": "Rome"}
    c.sim.behaviour = Behaviour(
        tool_calls=[("get_weather", json.dumps(WEATHER_ARGS)), ("get_weather", json.dumps(second))]
    )
    messages = await c.stream(stream_request(MODEL, user("weather?"), tools=[weather_tool()]))
    calls = joined_tool_calls(messages)
    assert sorted(calls) == [0, 1]
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_weather"]
    assert all(calls[i]["id"] for i in (0, 1)) and calls[0]["id"] != calls[1]["id"]
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [WEATHER_ARGS, second]
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_TOOL_CALLS]


async def case_tool_result_round_trip(c: Conformance) -> None:
    c.sim.behaviour = Behaviour(tool_calls=[("get_weather", json.dumps(WEATHER_ARGS))])
    question = user("weather in Paris?")
    response = await c.chat(chat_request(MODEL, question, tools=[weather_tool()]))
    [call] = [p.tool_call for p in response.message.parts if p.WhichOneof("kind") == "tool_call"]

    c.sim.behaviour = Behaviour(reply_text="It is sunny.")
    result = message(
        content_pb2.ROLE_TOOL,
        content_pb2.Part(
            tool_result=content_pb2.ToolResult(tool_call_id=call.id, content=[text('{"temp": 21}')])
        ),
    )
    follow_up = await c.chat(chat_request(MODEL, question, response.message, result, tools=[weather_tool()]))
    # The simulators check the result against the call it answers; a reply means they accepted it.
    assert follow_up.message.parts[0].text == "It is sunny."
    call_id, content = c.harness.wire.tool_result(c.body())
    assert call_id in (call.id, None)
    assert content == {"temp": 21}


async def case_tool_choice_forced(c: Conformance) -> None:
    c.sim.behaviour = Behaviour(tool_calls=[("get_weather", json.dumps(WEATHER_ARGS))])
    response = await c.chat(forced_tool_request())
    assert [p.tool_call.name for p in response.message.parts if p.WhichOneof("kind") == "tool_call"] == [
        "get_weather"
    ]
    assert c.harness.wire.forced_tool(c.body()) == "get_weather"


async def case_stream_usage(c: Conformance) -> None:
    messages = await c.stream(stream_request(MODEL, user("one two three")))
    usage = messages[-1].usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


# Past every simulated model's shortest cacheable prompt (Claude Haiku 4.5: 4,096 tokens).
LONG_PROMPT = " ".join(f"rule{i}" for i in range(4300))


def cache_marks(body: dict[str, Any]) -> int:
    """Cache breakpoints on the wire: Anthropic cache_control, Bedrock cachePoint."""
    wire = json.dumps(body)
    return wire.count('"cache_control"') + wire.count('"cachePoint"')


def cached_messages() -> list[content_pb2.Message]:
    rules = message(content_pb2.ROLE_SYSTEM, text(LONG_PROMPT))
    rules.cache_breakpoint.SetInParent()
    return [rules, user("hi")]


def check_prompt_cache(c: Conformance, first: chat_pb2.Usage, second: chat_pb2.Usage) -> None:
    """A long system prompt marked as a breakpoint, asked twice: what the cache did, as usage and
    cost show it, in the provider's way (harness.PromptCaching)."""
    mode = c.harness.prompt_caching
    for usage in (first, second):
        assert usage.cached_input_tokens + usage.cache_write_input_tokens <= usage.input_tokens
    assert cache_marks(c.body()) == (1 if mode == "breakpoints" else 0)
    if mode == "breakpoints":
        assert first.cache_write_input_tokens >= 4300 and first.cached_input_tokens == 0
        assert (second.cached_input_tokens, second.cache_write_input_tokens) == (
            first.cache_write_input_tokens,
            0,
        )
    elif mode == "automatic":
        assert (first.cached_input_tokens, first.cache_write_input_tokens) == (0, 0)
        assert second.cached_input_tokens >= 4096 and second.cache_write_input_tokens == 0
    else:
        assert (first.cached_input_tokens, second.cached_input_tokens) == (0, 0)
        assert (first.cache_write_input_tokens, second.cache_write_input_tokens) == (0, 0)
        return
    assert 0 < second.cost_usd < first.cost_usd


async def case_prompt_cache(c: Conformance) -> None:
    first = (await c.chat(chat_request(MODEL, *cached_messages()))).usage
    second = (await c.chat(chat_request(MODEL, *cached_messages()))).usage
    check_prompt_cache(c, first, second)


async def case_prompt_cache_stream(c: Conformance) -> None:
    first = (await c.stream(stream_request(MODEL, *cached_messages())))[-1].usage
    second = (await c.stream(stream_request(MODEL, *cached_messages())))[-1].usage
    check_prompt_cache(c, first, second)


def check_error(c: Conformance, status: RichStatus, expected: ErrorCase) -> None:
    assert (status.code, status.reason) == (expected.code, expected.reason), status.message
    metadata = status.error_info.metadata
    assert metadata["provider"] == c.harness.provider_name
    assert metadata["upstream_status"] == str(expected.behaviour["status"])
    if expected.retry_after is not None:
        assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == expected.retry_after


async def run_error_case(c: Conformance, name: str) -> None:
    expected = c.harness.errors[name]
    c.sim.behaviour = Behaviour(**expected.behaviour)
    check_error(c, await c.chat_fails(chat_request(MODEL, user("hi"))), expected)
    received, status = await c.stream_fails(stream_request(MODEL, user("hi")))
    assert received == [], "an error before the first token sends no stream message"
    check_error(c, status, expected)
    assert len(c.sim.requests) == 2, "no retries: one upstream exchange per call"


async def case_error_rate_limit(c: Conformance) -> None:
    await run_error_case(c, "error_rate_limit")


async def case_error_server(c: Conformance) -> None:
    await run_error_case(c, "error_server")


async def case_error_overload(c: Conformance) -> None:
    await run_error_case(c, "error_overload")


async def case_error_bad_request(c: Conformance) -> None:
    await run_error_case(c, "error_bad_request")


async def case_error_context_length(c: Conformance) -> None:
    await run_error_case(c, "error_context_length")


async def case_error_auth(c: Conformance) -> None:
    wrong = await c.start(**c.harness.wrong_credentials)
    secret = c.harness.wrong_secret
    for status in [
        await c.chat_fails(chat_request(MODEL, user("hi")), client=wrong),
        (await c.stream_fails(stream_request(MODEL, user("hi")), client=wrong))[1],
    ]:
        assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_AUTH_FAILED")
        assert status.error_info.metadata["provider"] == c.harness.provider_name
        everything = status.message + str(status.details)
        assert secret not in everything and secret[:8] not in everything


async def case_stream_error(c: Conformance) -> None:
    c.sim.behaviour = Behaviour(stream_error_after=2, error_message="simulated failure mid-stream")
    received, status = await c.stream_fails(stream_request(MODEL, user("a b c d e f")))
    check_interrupted(c, received, status, "UPSTREAM_STREAM_ERROR")
    assert "simulated failure mid-stream" in status.message, "the provider's own words reach the caller"


async def case_stream_cut(c: Conformance) -> None:
    c.sim.behaviour = Behaviour(cut_after=2)
    received, status = await c.stream_fails(stream_request(MODEL, user("a b c d e f")))
    check_interrupted(c, received, status, "UPSTREAM_STREAM_CUT")


async def case_stream_stall(c: Conformance) -> None:
    c.sim.behaviour = Behaviour(stall_after=2)
    started = time.monotonic()
    received, status = await c.stream_fails(stream_request(MODEL, user("a b c d e f")))
    # Detected by the between-tokens timeout, not by the caller's deadline.
    assert time.monotonic() - started < TIMEOUTS["between_tokens_s"] + 1.5
    check_interrupted(c, received, status, "UPSTREAM_STALL")
    # The gateway hung up on the stalled upstream rather than leaving the request open.
    await c.sim.wait_for_disconnects(1)
    assert c.sim.completed == 0


EMBED_TEXTS = ["the quick brown fox", "jumps over", "the lazy dog"]


async def case_embeddings(c: Conformance) -> None:
    """Several texts in one call: one vector per text, in input order (the simulator's vector of
    each text), with input tokens counted (reported, or estimated where the provider reports none)."""
    response = await c.embed(embeddings_pb2.EmbedRequest(model=EMBEDDING_MODEL, inputs=EMBED_TEXTS))
    assert [e.index for e in response.embeddings] == [0, 1, 2]
    for text, embedding in zip(EMBED_TEXTS, response.embeddings, strict=True):
        assert len(embedding.values) > 0
        assert list(embedding.values) == vector(text, len(embedding.values))
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens == 0
    assert response.model


async def case_embeddings_dimensions(c: Conformance) -> None:
    """`dimensions` reaches the provider's own field and the vectors come back that long, packed as
    little-endian float32 when asked."""
    request = embeddings_pb2.EmbedRequest(
        model=EMBEDDING_MODEL,
        inputs=EMBED_TEXTS[:2],
        dimensions=256,
        encoding=embeddings_pb2.EMBEDDING_ENCODING_PACKED_FLOAT32,
    )
    response = await c.embed(request)
    for text, embedding in zip(EMBED_TEXTS, response.embeddings, strict=False):
        assert not embedding.values
        assert len(embedding.packed_float32) == 256 * 4
        assert list(struct.unpack("<256f", embedding.packed_float32)) == vector(text, 256)


async def case_count_tokens(c: Conformance) -> None:
    """CountTokens: the provider's count where it has an endpoint, the same figure its chat call
    then reports as input tokens; elsewhere the local estimate, marked as one, with no upstream
    request at all."""
    system = message(content_pb2.ROLE_SYSTEM, text("be brief and kind"))
    prompt = [system, user("how many tokens are in this prompt?")]
    counted = await c.client.chat.CountTokens(
        chat_pb2.CountTokensRequest(model=MODEL, messages=prompt), timeout=CALL_TIMEOUT
    )
    assert counted.provider == c.harness.provider_name and counted.input_tokens > 0
    path = c.harness.counting.path
    if path is None:
        assert (counted.estimated, counted.counted_by) == (True, "toktok/o200k_base")
        assert c.sim.requests == [], "an estimate asks no upstream"
        longer = await c.client.chat.CountTokens(
            chat_pb2.CountTokensRequest(model=MODEL, messages=[*prompt, user("and a few more words")]),
            timeout=CALL_TIMEOUT,
        )
        assert longer.input_tokens > counted.input_tokens
        return
    assert (counted.estimated, counted.counted_by) == (False, "provider")
    assert [unquote(r.path) for r in c.sim.requests] == [path(c.harness.upstream_model)]
    response = await c.chat(chat_request(MODEL, *prompt))
    assert counted.input_tokens == response.usage.input_tokens


async def case_refusal(c: Conformance) -> None:
    declining = c.harness.declining
    if declining is None:
        pytest.skip(c.harness.declining_absent)
    c.sim.behaviour = Behaviour(refusal="I can't help with that.")
    response = await c.chat(chat_request(MODEL, user("something it declines")))
    assert response.finish_reason == declining.finish
    kinds = {p.WhichOneof("kind") for p in response.message.parts}
    if declining.refusal_part:
        assert "".join(p.refusal for p in response.message.parts) == "I can't help with that."
        assert kinds == {"refusal"}
    else:
        assert "refusal" not in kinds


async def case_refusal_stream(c: Conformance) -> None:
    declining = c.harness.declining
    if declining is None:
        pytest.skip(c.harness.declining_absent)
    c.sim.behaviour = Behaviour(refusal="I can't help with that.")
    messages = await c.stream(stream_request(MODEL, user("something it declines")))
    assert [m.finish_reason for m in messages if m.finish_reason] == [declining.finish]
    refusal = "".join(m.delta.refusal for m in messages)
    assert refusal == ("I can't help with that." if declining.refusal_part else "")
    assert messages[-1].usage.output_tokens >= 0


# --- reasoning ---------------------------------------------------------------------------------


def reasoning_config(c: Conformance) -> chat_pb2.GenerationConfig:
    """Effort low, with the thought text wherever the provider returns it."""
    config = chat_pb2.GenerationConfig()
    config.reasoning.effort = chat_pb2.ReasoningConfig.EFFORT_LOW
    config.reasoning.include_thoughts = c.harness.reasoning.thoughts is not None
    return config


async def thinking_client(c: Conformance) -> Client:
    """A client to a gateway with the `conf-think` model, with the simulator ready to reason."""
    c.harness.reasoning.prepare(c.sim)
    # A tool loop is several calls: the suite's short timeouts (there for the stall cases) would
    # make it fail on a busy host for no fault of the provider's.
    return await c.start(thinking=True, timeouts=THINKING_TIMEOUTS)


def reasoning_parts(message: content_pb2.Message) -> list[content_pb2.Reasoning]:
    return [p.reasoning for p in message.parts if p.WhichOneof("kind") == "reasoning"]


def check_reasoning(c: Conformance, message: content_pb2.Message, usage: chat_pb2.Usage) -> None:
    """The reasoning that came back: thought text where the provider returns it; signatures where
    it signs, set with their origin (Claude's verify over their text: no byte lost on the way);
    reasoning tokens where usage reports them apart."""
    reasoning = c.harness.reasoning
    found = reasoning_parts(message)
    if reasoning.thoughts is None:
        assert found == [], "the provider returns no reasoning"
    else:
        assert "".join(r.text for r in found).strip(), found
    signed = [r for r in found if r.signature or r.redacted_data]
    if reasoning.signed:
        assert signed and all(r.origin == c.harness.provider_type for r in signed), found
        if reasoning.sends_back == "thinking and signature":
            assert all(signing.verifies(r.origin, r.text, r.signature) for r in signed), signed
    else:
        assert signed == [] and not any(r.origin for r in found), found
    if reasoning.reasoning_tokens:
        assert 0 < usage.reasoning_tokens <= usage.output_tokens, usage
    else:
        assert usage.reasoning_tokens == 0, usage


async def check_refused_settings(c: Conformance, client: Client) -> None:
    """Settings the protocol cannot honour fail with REASONING_UNSUPPORTED naming the deployment,
    unary and streamed, and nothing reaches the upstream."""
    before = len(c.sim.requests)
    for name, settings in c.harness.reasoning.refused.items():
        config = chat_pb2.GenerationConfig(reasoning=settings)
        request = chat_request(REASONING_MODEL, user("hi"), generation_config=config)
        streamed = stream_request(REASONING_MODEL, user("hi"), generation_config=config)
        for status in [await c.chat_fails(request, client), (await c.stream_fails(streamed, client))[1]]:
            assert (status.code, status.reason) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "REASONING_UNSUPPORTED",
            ), name
            assert status.error_info.metadata["deployments"] == REASONING_DEPLOYMENT
    assert len(c.sim.requests) == before


async def run_reasoning_case(c: Conformance, build: Callable[..., Turn]) -> None:
    client = await thinking_client(c)
    answer = await c.turn(
        build(REASONING_MODEL, user("why is the sky blue?"), generation_config=reasoning_config(c)), client
    )
    assert c.harness.reasoning.switch(c.body()) == c.harness.reasoning.switch_value
    assert answer.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert "".join(p.text for p in answer.message.parts) == "You said: why is the sky blue?"
    check_reasoning(c, answer.message, answer.usage)
    await check_refused_settings(c, client)


async def case_reasoning(c: Conformance) -> None:
    await run_reasoning_case(c, chat_request)


async def case_reasoning_stream(c: Conformance) -> None:
    await run_reasoning_case(c, stream_request)


def sent_back_expected(c: Conformance, first: content_pb2.Message) -> list[tuple[str, str]]:
    """What of turn 1's reasoning the provider must get back with turn 2 (harness.SendsBack)."""
    found = reasoning_parts(first)
    sends_back = c.harness.reasoning.sends_back
    if sends_back == "thinking and signature":
        return [(r.text, r.signature or r.redacted_data) for r in found]
    if sends_back == "signature":
        return [("", r.signature) for r in found if r.signature]
    if sends_back == "text":
        return [("".join(r.text for r in found), "")]
    return []


def altered_signatures(message: content_pb2.Message) -> content_pb2.Message:
    """The message with one character of each signature changed (still valid base64)."""
    altered = content_pb2.Message()
    altered.CopyFrom(message)
    for reasoning in reasoning_parts(altered):
        if reasoning.signature:
            at = len(reasoning.signature) // 2
            swap = "B" if reasoning.signature[at] == "A" else "A"
            reasoning.signature = reasoning.signature[:at] + swap + reasoning.signature[at + 1 :]
    return altered


def without_reasoning(message: content_pb2.Message) -> content_pb2.Message:
    parts = [p for p in message.parts if p.WhichOneof("kind") != "reasoning"]
    return content_pb2.Message(role=message.role, parts=parts)


async def check_turn_refused(c: Conformance, client: Client, request: Turn, refusal: Refusal) -> None:
    before = len(c.sim.requests)
    if isinstance(request, chat_pb2.ChatRequest):
        status = await c.chat_fails(request, client)
    else:
        received, status = await c.stream_fails(request, client)
        assert received == [], "refused before the first token: no stream message"
    assert (status.code, status.reason) == (refusal.code, refusal.reason), status.message
    assert refusal.says in status.message.lower(), status.message
    assert len(c.sim.requests) == before + (1 if refusal.upstream else 0)


async def run_round_trip(c: Conformance, build: Callable[..., Turn]) -> None:
    """A tool loop with reasoning on: turn 1 answers reasoning and a tool call; the caller sends
    that assistant turn back as it came, with the tool's result; turn 2 answers, and the upstream
    got back what it must (harness.SendsBack). Where reasoning is signed, the same turn with an
    altered signature, and without its reasoning, is refused as the provider refuses it."""
    reasoning = c.harness.reasoning
    client = await thinking_client(c)
    c.sim.enqueue(
        Behaviour(tool_calls=[("get_weather", json.dumps(WEATHER_ARGS))]),
        Behaviour(reply_text="It is sunny."),
    )
    question = user("weather in Paris?")
    config = reasoning_config(c)

    def turn(*messages: content_pb2.Message) -> Turn:
        return build(REASONING_MODEL, question, *messages, tools=[weather_tool()], generation_config=config)

    first = await c.turn(turn(), client)
    assert first.finish_reason == chat_pb2.FINISH_REASON_TOOL_CALLS
    [call] = [p.tool_call for p in first.message.parts if p.WhichOneof("kind") == "tool_call"]
    assert call.name == "get_weather" and json.loads(call.arguments_json) == WEATHER_ARGS
    check_reasoning(c, first.message, first.usage)

    result = message(
        content_pb2.ROLE_TOOL,
        content_pb2.Part(tool_result=content_pb2.ToolResult(tool_call_id=call.id, content=[text("sunny")])),
    )
    second = await c.turn(turn(first.message, result), client)
    assert "".join(p.text for p in second.message.parts) == "It is sunny."
    assert len(c.sim.requests) == 2
    assert reasoning.sent_back(c.body()) == sent_back_expected(c, first.message)
    if not reasoning.signed:
        raw = c.sim.requests[-1].raw.decode()
        if reasoning.sends_back == "nothing":
            assert all(r.text not in raw for r in reasoning_parts(first.message) if r.text)
        return
    assert reasoning.altered is not None and reasoning.dropped is not None
    await check_turn_refused(c, client, turn(altered_signatures(first.message), result), reasoning.altered)
    await check_turn_refused(c, client, turn(without_reasoning(first.message), result), reasoning.dropped)


async def case_reasoning_round_trip(c: Conformance) -> None:
    await run_round_trip(c, chat_request)


async def case_reasoning_round_trip_stream(c: Conformance) -> None:
    await run_round_trip(c, stream_request)


def check_interrupted(
    c: Conformance, received: list[chat_pb2.ChatStreamResponse], status: RichStatus, cause: str
) -> None:
    assert received and received[0].provider == c.harness.provider_name
    assert stream_text(received) == "You said:", "two reply chunks reached the caller before the failure"
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED"), status.message
    assert status.error_info.metadata["cause"] == cause
    interruption = status.detail(chat_pb2.StreamInterruption)
    assert interruption.reason == cause
    assert interruption.messages_sent == len(received) - 1 == 2
    assert interruption.partial_usage.output_tokens > 0


CASE_FUNCTIONS: dict[str, Callable[[Conformance], Awaitable[None]]] = {
    "text": case_text,
    "text_stream": case_text_stream,
    "system_prompt": case_system_prompt,
    "multi_turn": case_multi_turn,
    "image": case_image,
    "stop_sequence": case_stop_sequence,
    "json_schema": case_json_schema,
    "tool_call": case_tool_call,
    "tool_call_stream": case_tool_call_stream,
    "tool_result_round_trip": case_tool_result_round_trip,
    "tool_choice_forced": case_tool_choice_forced,
    "stream_usage": case_stream_usage,
    "prompt_cache": case_prompt_cache,
    "prompt_cache_stream": case_prompt_cache_stream,
    "error_rate_limit": case_error_rate_limit,
    "error_server": case_error_server,
    "error_overload": case_error_overload,
    "error_auth": case_error_auth,
    "error_bad_request": case_error_bad_request,
    "error_context_length": case_error_context_length,
    "stream_error": case_stream_error,
    "stream_cut": case_stream_cut,
    "stream_stall": case_stream_stall,
    "embeddings": case_embeddings,
    "embeddings_dimensions": case_embeddings_dimensions,
    "count_tokens": case_count_tokens,
    "refusal": case_refusal,
    "refusal_stream": case_refusal_stream,
    "reasoning": case_reasoning,
    "reasoning_stream": case_reasoning_stream,
    "reasoning_round_trip": case_reasoning_round_trip,
    "reasoning_round_trip_stream": case_reasoning_round_trip_stream,
}

# For cases a provider may not support: the request that asks for the capability.
PROBES: dict[str, Callable[[], chat_pb2.ChatRequest | embeddings_pb2.EmbedRequest]] = {
    "embeddings": lambda: embeddings_pb2.EmbedRequest(model=EMBEDDING_MODEL, inputs=EMBED_TEXTS),
    "embeddings_dimensions": lambda: embeddings_pb2.EmbedRequest(
        model=EMBEDDING_MODEL, inputs=EMBED_TEXTS, dimensions=256
    ),
    "image": lambda: chat_request(MODEL, image_message()),
    "stop_sequence": lambda: chat_request(
        MODEL, user("hi"), generation_config=chat_pb2.GenerationConfig(stop_sequences=["END"])
    ),
    "json_schema": lambda: chat_request(MODEL, user("hi"), generation_config=schema_config()),
    "tool_call": lambda: chat_request(MODEL, user("hi"), tools=[weather_tool()]),
    "tool_choice_forced": forced_tool_request,
}


async def check_refused(c: Conformance, case: str) -> None:
    """An unsupported capability fails fast with FAILED_PRECONDITION, naming provider and feature,
    unary and streamed, and nothing reaches the upstream."""
    unsupported = c.harness.unsupported[case]
    request = PROBES[case]()
    if isinstance(request, embeddings_pb2.EmbedRequest):
        statuses = [await c.embed_fails(request)]
    else:
        streamed = chat_pb2.ChatStreamRequest.FromString(request.SerializeToString())
        statuses = [await c.chat_fails(request), (await c.stream_fails(streamed))[1]]
    for status in statuses:
        assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY")
        metadata = status.error_info.metadata
        assert (metadata["provider"], metadata["feature"]) == (c.harness.provider_name, unsupported.feature)
    assert c.sim.requests == []


# --- the matrix --------------------------------------------------------------------------------


def matrix() -> list[Any]:
    params = []
    for key in HARNESSES:
        for case in CASES:
            bug = KNOWN_BUGS.get((key, case))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            params.append(pytest.param(key, case, id=f"{key}-{case}", marks=marks))
    return params


@pytest.mark.parametrize(("conformance", "case"), matrix(), indirect=["conformance"])
async def test_conformance(conformance: Conformance, case: str) -> None:
    if case in conformance.harness.unsupported:
        await check_refused(conformance, case)
    else:
        await CASE_FUNCTIONS[case](conformance)


def test_every_case_has_a_function_and_every_unsupported_case_a_probe() -> None:
    assert list(CASE_FUNCTIONS) == list(CASES)
    for harness in HARNESSES.values():
        assert set(harness.unsupported) <= set(PROBES), harness.key
        assert set(harness.errors) == set(ERROR_CASES), harness.key


def test_readme_matrix_matches_the_harness() -> None:
    readme = (Path(__file__).parent / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- matrix:start -->\n(.*?)<!-- matrix:end -->", readme, re.S)
    assert found is not None, "README.md has no matrix markers"
    assert found.group(1) == render_matrix(), "regenerate: python -m tests.conformance.harness"


REASONING_COLUMN = "reasoning (switch; thought text; reasoning tokens; signatures)"


def test_readme_provider_table_shows_what_the_reasoning_cases_check() -> None:
    """The README's provider table has a reasoning cell per provider type, the one the harness
    gives (print them: python -m tests.conformance.harness --readme-reasoning)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(readme) if line.startswith("| type | wire protocol"))

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    column = cells(readme[start]).index(REASONING_COLUMN)
    rows = {}
    for line in readme[start + 2 :]:
        if not line.startswith("|"):
            break
        row = cells(line)
        rows[row[0].strip("`")] = row[column]
    for harness in HARNESSES.values():
        assert rows[harness.provider_type] == readme_reasoning(harness.reasoning), harness.provider_type
