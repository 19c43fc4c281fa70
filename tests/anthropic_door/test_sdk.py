"""The Anthropic SDK through the gateway's door to five providers: unary, the `messages.stream`
helper and raw `stream=True`, streamed tool use assembled by the SDK, a tool-result round trip,
usage, and the request's content as each provider received it."""

from __future__ import annotations

import base64
import json
from typing import Any

import anthropic
import pytest

from tests.anthropic_door.conftest import PROVIDERS, THINKER, WEATHER_TOOL, Sims
from tests.upstreams.base import Behaviour

MODELS = list(PROVIDERS)
ARGS = '{"city": "Paris"}'


async def test_unary_through_every_provider(door: anthropic.AsyncAnthropic, sims: Sims) -> None:
    for model in MODELS:
        raw = await door.messages.with_raw_response.create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": "hello gateway"}]
        )
        message = await raw.parse()
        assert raw.headers["x-llmgateway-provider"] == PROVIDERS[model]
        assert raw.headers["request-id"] == raw.headers["x-request-id"]
        assert message.id == f"msg_{raw.headers['x-request-id']}"
        assert (message.type, message.role, message.stop_reason) == ("message", "assistant", "end_turn")
        [block] = message.content
        assert block.type == "text" and "hello gateway" in block.text, model
        assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0, model
        assert sims.of(model).requests, f"{model} reached its provider"


@pytest.mark.parametrize("model", MODELS)
async def test_the_stream_helper_assembles_the_same_answer(
    door: anthropic.AsyncAnthropic, model: str
) -> None:
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "one two three four"}],
    }
    unary = await door.messages.create(**request)
    async with door.messages.stream(**request) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) > 1, "text arrives in pieces"
    assert "".join(pieces) == final.content[0].text == unary.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == unary.usage.output_tokens > 0
    assert final.usage.input_tokens == unary.usage.input_tokens > 0


async def test_the_raw_stream_is_the_messages_event_sequence(door: anthropic.AsyncAnthropic) -> None:
    stream = await door.messages.create(
        model="claude", max_tokens=64, stream=True, messages=[{"role": "user", "content": "a b c"}]
    )
    events = [event async for event in stream]
    kinds = [event.type for event in events]
    deltas = len(kinds) - 5
    assert kinds == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and start.message.model.startswith("claude-haiku-4-5")
    assert delta.type == "message_delta" and delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens > 0 and (delta.usage.input_tokens or 0) > 0
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "You said: a b c"


async def test_a_ping_follows_message_start(door: anthropic.AsyncAnthropic) -> None:
    """The SDK skips pings; the wire shows it."""
    async with door.messages.with_streaming_response.create(
        model="gpt", max_tokens=16, stream=True, messages=[{"role": "user", "content": "hi"}]
    ) as response:
        names = [
            line.removeprefix("event: ") async for line in response.iter_lines() if line.startswith("event:")
        ]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-llmgateway-provider"] == "openai"


@pytest.mark.parametrize("model", MODELS)
async def test_streamed_tool_use_is_assembled_by_the_sdk(
    door: anthropic.AsyncAnthropic, sims: Sims, model: str
) -> None:
    sims.of(model).behaviour = Behaviour(tool_calls=[("get_weather", ARGS)])
    async with door.messages.stream(
        model=model,
        max_tokens=128,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "auto"},  # Ollama cannot force a call (forced choices: below)
        messages=[{"role": "user", "content": "weather in Paris?"}],
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    [call] = [block for block in final.content if block.type == "tool_use"]
    assert (call.name, call.input) == ("get_weather", {"city": "Paris"})
    assert call.id


async def test_unary_tool_use(door: anthropic.AsyncAnthropic, sims: Sims) -> None:
    sims.openai.behaviour = Behaviour(tool_calls=[("get_weather", ARGS), ("get_weather", '{"city": "Rome"}')])
    message = await door.messages.create(
        model="gpt",
        max_tokens=128,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "weather in Paris and Rome?"}],
    )
    assert message.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
        ("tool_use", {"city": "Paris"}),
        ("tool_use", {"city": "Rome"}),
    ]
    sent = sims.openai.requests[-1].body
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["input_schema"]
    assert sent["tool_choice"] == "required"
    sims.openai.behaviour = Behaviour()
    await door.messages.create(
        model="gpt",
        max_tokens=128,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
        messages=[{"role": "user", "content": "no tools now"}],
    )
    assert sims.openai.requests[-1].body["tool_choice"] == "none"


def _round_trip(call_id: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call_id, "content": "sunny, 24 C"},
                {"type": "text", "text": "and tomorrow?"},
            ],
        },
    ]


@pytest.mark.parametrize("model", MODELS)
async def test_a_tool_result_round_trip(door: anthropic.AsyncAnthropic, sims: Sims, model: str) -> None:
    message = await door.messages.create(
        model=model,
        max_tokens=64,
        tools=[WEATHER_TOOL],
        messages=_round_trip("toolu_01abc"),  # type: ignore[arg-type]
    )
    assert message.content[0].type == "text" and "and tomorrow?" in message.content[0].text
    sent = json.dumps(sims.of(model).requests[-1].body)
    assert "sunny, 24 C" in sent and "get_weather" in sent, f"{model}: the tool's result reached the provider"


async def test_the_round_trip_reaches_anthropic_as_tool_blocks(
    door: anthropic.AsyncAnthropic, sims: Sims
) -> None:
    """An Anthropic upstream receives the conversation as it was written (the v1 detour is lossless)."""
    await door.messages.create(
        model="claude",
        max_tokens=64,
        tools=[WEATHER_TOOL],
        messages=_round_trip("toolu_01abc"),  # type: ignore[arg-type]
    )
    sent = sims.anthropic.requests[-1].body
    assert sent["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_01abc", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01abc", "content": "sunny, 24 C"},
                {"type": "text", "text": "and tomorrow?"},
            ],
        },
    ]
    assert sent["tools"] == [WEATHER_TOOL]


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


async def test_the_request_reaches_anthropic_whole(door: anthropic.AsyncAnthropic, sims: Sims) -> None:
    """System blocks, images (base64 and url), stop sequences, tool choice, sampling (under
    anthropic-version 2023-06-01, which still has it) and JSON output, as the provider got them."""
    schema: dict[str, Any] = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    await door.messages.create(
        model="claude",
        max_tokens=50,
        system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in English."}],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what are these?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                ],
            }
        ],
        stop_sequences=["STOP"],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        output_config={"format": {"type": "json_schema", "schema": schema}},
        metadata={"user_id": "user-42"},
        extra_headers={"anthropic-version": "2023-06-01"},
        extra_body={"temperature": 0.5, "top_p": 0.9, "top_k": 40},
    )
    sent = sims.anthropic.requests[-1].body
    assert sent["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Answer in English."},
    ]
    assert sent["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what are these?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ],
        }
    ]
    assert (sent["max_tokens"], sent["stop_sequences"]) == (50, ["STOP"])
    assert (sent["temperature"], sent["top_p"], sent["top_k"]) == (0.5, 0.9, 40)
    assert sent["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


async def test_the_request_reaches_gemini_whole(door: anthropic.AsyncAnthropic, sims: Sims) -> None:
    """The same request, to another wire protocol: Gemini's system instruction, inline image,
    stop sequences, sampling, forced function call."""
    await door.messages.create(
        model="gemini",
        max_tokens=50,
        system="Be brief.",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                ],
            }
        ],
        stop_sequences=["STOP"],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        extra_headers={"anthropic-version": "2023-06-01"},
        extra_body={"temperature": 0.25, "top_k": 40},
    )
    sent = sims.gemini.requests[-1].body
    assert sent["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    parts = sent["contents"][0]["parts"]
    assert parts[0] == {"text": "what is this?"}
    assert parts[1]["inlineData"] == {"mimeType": "image/png", "data": PNG}
    config = sent["generationConfig"]
    assert (config["maxOutputTokens"], config["stopSequences"]) == (50, ["STOP"])
    assert (config["temperature"], config["topK"]) == (0.25, 40)
    assert sent["toolConfig"]["functionCallingConfig"] == {
        "mode": "ANY",
        "allowedFunctionNames": ["get_weather"],
    }


async def test_the_sdks_own_answer_can_be_sent_back(door: anthropic.AsyncAnthropic, sims: Sims) -> None:
    """The usual agent loop: the SDK's response content goes back as the assistant turn."""
    sims.bedrock.behaviour = Behaviour(tool_calls=[("get_weather", ARGS)])
    history: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
    first = await door.messages.create(
        model="nova",
        max_tokens=64,
        tools=[WEATHER_TOOL],
        messages=history,
    )
    sims.bedrock.behaviour = Behaviour()
    [call] = [b for b in first.content if b.type == "tool_use"]
    history += [
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "rainy"}]},
    ]
    second = await door.messages.create(
        model="nova",
        max_tokens=64,
        tools=[WEATHER_TOOL],
        messages=history,
    )
    assert second.stop_reason == "end_turn"
    assert "rainy" in json.dumps(sims.bedrock.requests[-1].body)


async def test_a_models_reasoning_comes_as_thinking_blocks(
    door: anthropic.AsyncAnthropic, sims: Sims
) -> None:
    """A model that thinks by itself: its reasoning is a thinking block before the text, unary and
    streamed, and the SDK's answer goes back into the next turn as it came."""
    history: list[Any] = [{"role": "user", "content": "hello"}]
    unary = await door.messages.create(model=THINKER, max_tokens=64, messages=history)
    async with door.messages.stream(model=THINKER, max_tokens=64, messages=history) as stream:
        streamed = await stream.get_final_message()
    for answer in (unary, streamed):
        thinking, text = answer.content
        assert thinking.type == "thinking" and thinking.thinking == "Let me think about what the user wrote."
        assert text.type == "text" and text.text == "You said: hello"
    history += [{"role": "assistant", "content": streamed.content}, {"role": "user", "content": "and now?"}]
    await door.messages.create(model=THINKER, max_tokens=64, messages=history)
    sent = sims.ollama.requests[-1].body["messages"]
    assert sent[1]["thinking"] == "Let me think about what the user wrote."
