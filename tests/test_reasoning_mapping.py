"""Reasoning settings in each protocol's request body, the rules the adapters enforce before
sending, what each protocol can honour (reasoning/support.py), and the stream pieces that must keep
signatures byte for byte (assembly, replay, PII redaction of streams). Pure functions: the
round trips through real servers are in test_reasoning_tool_loop.py."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, cast

import pytest

from llmgateway.cache.assembly import StreamAssembler, message_deltas
from llmgateway.config import PiiPolicy
from llmgateway.errors import GatewayError
from llmgateway.providers.anthropic.request import build_body as anthropic_body
from llmgateway.providers.bedrock.request import build_body as bedrock_body
from llmgateway.providers.gemini.request import build_body as gemini_body
from llmgateway.providers.media import MediaFetcher
from llmgateway.providers.ollama.request import RequestBuilder
from llmgateway.providers.openai_compat.dialects import _DIALECTS
from llmgateway.providers.openai_compat.request import build_body as openai_body
from llmgateway.reasoning.ask import ReasoningAsk
from llmgateway.reasoning.support import lacking
from llmgateway.redaction.policy import PiiFilter
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import chat_request, reasoning, user

NO_MEDIA = cast(MediaFetcher, None)


def asking(**settings: Any) -> chat_pb2.ChatRequest:
    """A request with these reasoning settings; none at all without any."""
    if not settings:
        return chat_request("m", user("hi"))
    return chat_request("m", user("hi"), generation_config=reasoning(**settings))


async def test_anthropic_thinking_from_effort_or_budget() -> None:
    body = await anthropic_body(
        "a", asking(effort="medium"), "claude-sonnet-4-5", "2023-06-01", NO_MEDIA, stream=False
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert body["max_tokens"] == 8192 + 4096  # the budget plus the usual answer

    capped = asking(effort="high")
    capped.generation_config.max_output_tokens = 4000
    body = await anthropic_body("a", capped, "claude-sonnet-4-5", "2023-06-01", NO_MEDIA, stream=False)
    assert (body["thinking"]["budget_tokens"], body["max_tokens"]) == (3999, 4000)  # an effort fits the cap

    budget = asking(budget_tokens=5000)
    budget.generation_config.max_output_tokens = 5000
    with pytest.raises(GatewayError) as error:  # a budget the caller set is not lowered
        await anthropic_body("a", budget, "claude-sonnet-4-5", "2023-06-01", NO_MEDIA, stream=False)
    assert error.value.reason == "INVALID_REQUEST"

    none = await anthropic_body(
        "a", asking(effort="none"), "claude-sonnet-4-5", "2023-06-01", NO_MEDIA, stream=False
    )
    assert "thinking" not in none


@pytest.mark.parametrize(
    ("change", "feature"),
    [
        (lambda r: r.generation_config.__setattr__("temperature", 0.5), "temperature"),
        (lambda r: r.generation_config.__setattr__("top_k", 5), "top_k"),
        (lambda r: r.generation_config.__setattr__("top_p", 0.5), "top_p"),
        (
            lambda r: (
                r.tools.add(name="t"),
                r.tool_choice.__setattr__("mode", content_pb2.ToolChoice.MODE_REQUIRED),
            ),
            "forcing",
        ),
        (lambda r: setattr(r.generation_config.reasoning, "budget_tokens", 512), "below 1024"),
    ],
)
async def test_claude_thinking_refuses_what_the_api_refuses(change: Any, feature: str) -> None:
    for protocol in ("anthropic", "bedrock"):
        request = asking(effort="low")
        change(request)
        with pytest.raises(GatewayError) as error:
            if protocol == "anthropic":
                await anthropic_body("a", request, "claude-sonnet-4-5", "2023-06-01", NO_MEDIA, stream=False)
            else:
                await bedrock_body("b", request, "anthropic.claude-sonnet-4-20250514-v1:0", NO_MEDIA)
        assert error.value.reason == "UNSUPPORTED_CAPABILITY"
        assert feature in str(error.value)


async def test_bedrock_thinking_goes_in_the_model_fields() -> None:
    body = await bedrock_body("b", asking(effort="low"), "anthropic.claude-sonnet-4-20250514-v1:0", NO_MEDIA)
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert body["inferenceConfig"]["maxTokens"] == 2048 + 4096


async def test_gemini_thinking_config() -> None:
    async def config(model: str, **settings: Any) -> Any:
        return (
            (await gemini_body("g", asking(**settings), NO_MEDIA, model))
            .get("generationConfig", {})
            .get("thinkingConfig")
        )

    assert await config("gemini-3-pro-preview", effort="minimal") == {"thinkingLevel": "low"}
    assert await config("gemini-3-pro-preview", effort="medium", include_thoughts=True) == {
        "thinkingLevel": "high",
        "includeThoughts": True,
    }
    assert await config("gemini-2.5-flash", effort="low") == {"thinkingBudget": 2048}
    assert await config("gemini-2.5-flash", budget_tokens=300) == {"thinkingBudget": 300}
    assert await config("gemini-2.5-flash", effort="none") == {"thinkingBudget": 0}
    assert await config("gemini-2.0-flash", effort="none") is None  # nothing to switch off
    assert await config("gemini-2.5-flash") is None


def test_openai_compatible_switches() -> None:
    openai = openai_body("o", asking(effort="minimal"), "o4-mini", _DIALECTS["openai"], stream=False)
    assert openai["reasoning_effort"] == "minimal"
    vllm = openai_body("v", asking(effort="none"), "Qwen/Qwen3-8B", _DIALECTS["vllm"], stream=False)
    assert vllm["chat_template_kwargs"] == {"enable_thinking": False} and "reasoning_effort" not in vllm
    off_plain = openai_body("o", asking(effort="none"), "gpt-4o-mini", _DIALECTS["openai"], stream=False)
    assert "reasoning_effort" not in off_plain


async def test_ollama_think() -> None:
    async def think(model: str, **settings: Any) -> Any:
        return (await RequestBuilder("l", NO_MEDIA).body(asking(**settings), model, stream=False)).get(
            "think"
        )

    assert await think("qwen3:8b", effort="low") is True
    assert await think("gpt-oss:20b", effort="high") == "high"
    assert await think("qwen3:8b", effort="none") is False
    assert await think("qwen3:8b") is None


@pytest.mark.parametrize(
    ("protocol", "model", "declared", "ask", "lack"),
    [
        ("openai", "gpt-4o-mini", None, ReasoningAsk(effort="low"), "reasoning"),
        ("openai", "gpt-4o-mini", None, ReasoningAsk(effort="none"), ""),
        ("openai", "o3", None, ReasoningAsk(effort="none"), "switching reasoning off"),
        ("openai", "gpt-5.1", None, ReasoningAsk(effort="none"), ""),
        (
            "azure_openai",
            "my-deployment",
            True,
            ReasoningAsk(include_thoughts=True),
            "returning reasoning text (Chat Completions does not)",
        ),
        ("anthropic", "claude-sonnet-4-5", None, ReasoningAsk(budget_tokens=2048), ""),
        ("anthropic", "claude-3-5-haiku-latest", None, ReasoningAsk(effort="low"), "reasoning"),
        ("anthropic", "claude-3-5-haiku-latest", True, ReasoningAsk(effort="low"), ""),
        ("bedrock", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", None, ReasoningAsk(effort="high"), ""),
        (
            "bedrock",
            "amazon.nova-pro-v1:0",
            True,
            ReasoningAsk(effort="high"),
            "reasoning settings (Bedrock takes them for Claude models only)",
        ),
        ("gemini", "gemini-2.5-pro", None, ReasoningAsk(effort="none"), "switching reasoning off"),
        ("gemini", "gemini-2.5-flash", None, ReasoningAsk(effort="none"), ""),
        (
            "vllm",
            "deepseek-ai/DeepSeek-R1",
            None,
            ReasoningAsk(budget_tokens=100),
            "a reasoning token budget",
        ),
        ("together", "Qwen/Qwen3-235B", None, ReasoningAsk(effort="none"), "switching reasoning off"),
        ("ollama", "qwen3:8b", None, ReasoningAsk(effort="low", include_thoughts=True), ""),
    ],
)
def test_what_each_protocol_can_honour(
    protocol: str, model: str, declared: bool | None, ask: ReasoningAsk, lack: str
) -> None:
    assert lacking(protocol, model, declared, ask, api_version="2025-04-01-preview") == lack


SIGNED = content_pb2.Message(
    role=content_pb2.ROLE_ASSISTANT,
    parts=[
        content_pb2.Part(
            reasoning=content_pb2.Reasoning(
                text="Think of bob@example.com.", signature="c2ln+/==", origin="anthropic"
            )
        ),
        content_pb2.Part(reasoning=content_pb2.Reasoning(redacted_data="ZW5j", origin="anthropic")),
        content_pb2.Part(reasoning=content_pb2.Reasoning(signature="Z2Vt", origin="gemini")),
        content_pb2.Part(text="Sure."),
        content_pb2.Part(tool_call=content_pb2.ToolCall(id="c1", name="f", arguments_json="{}")),
    ],
)


def test_a_message_replayed_as_a_stream_assembles_back_unchanged() -> None:
    assembler = StreamAssembler()
    for delta in message_deltas(SIGNED):
        assembler.add(chat_pb2.ChatStreamResponse(delta=delta))
    assert list(assembler.result().message.parts) == list(SIGNED.parts)


def test_assembly_keeps_first_mention_order_and_joins_signature_fragments() -> None:
    assembler = StreamAssembler()
    for delta in (
        chat_pb2.Delta(reasoning="a", reasoning_index=0),
        chat_pb2.Delta(reasoning="b", reasoning_index=0),
        chat_pb2.Delta(reasoning_signature="s1", reasoning_index=0, reasoning_origin="bedrock"),
        chat_pb2.Delta(reasoning_signature="s2", reasoning_index=0),
        chat_pb2.Delta(reasoning_signature="g", reasoning_index=1, reasoning_origin="gemini", text="t"),
        chat_pb2.Delta(
            tool_calls=[chat_pb2.ToolCallDelta(index=0, id="c", name="f", arguments_json_fragment="{}")]
        ),
    ):
        assembler.add(chat_pb2.ChatStreamResponse(delta=delta))
    parts = assembler.result().message.parts
    assert [p.WhichOneof("kind") for p in parts] == ["reasoning", "reasoning", "text", "tool_call"]
    assert parts[0].reasoning == content_pb2.Reasoning(text="ab", signature="s1s2", origin="bedrock")
    assert parts[1].reasoning == content_pb2.Reasoning(signature="g", origin="gemini")


async def test_stream_redaction_keeps_signatures_and_never_drops_a_signature_delta() -> None:
    guard = PiiFilter(PiiPolicy(output="redact"), None)

    async def stream() -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        for delta in message_deltas(SIGNED):
            yield chat_pb2.ChatStreamResponse(delta=delta)
        yield chat_pb2.ChatStreamResponse(finish_reason=chat_pb2.FINISH_REASON_TOOL_CALLS)

    assembler = StreamAssembler()
    async for message in guard.stream(stream()):
        assembler.add(message)
    parts = assembler.result().message.parts
    assert [p.reasoning.signature for p in parts[:3]] == ["c2ln+/==", "", "Z2Vt"]
    assert parts[1].reasoning.redacted_data == "ZW5j"
    assert "bob@example.com" not in parts[0].reasoning.text  # the text is redacted as text is


def test_azure_takes_reasoning_effort_only_from_the_api_version_that_added_it() -> None:
    effort = ReasoningAsk(effort="low")
    assert lacking("azure_openai", "o4-mini", None, effort, api_version="2025-04-01-preview") == ""
    assert lacking("azure_openai", "o4-mini", None, effort, api_version="2024-12-01-preview") == ""
    assert lacking("azure_openai", "o4-mini", None, effort, api_version="2024-10-21") == (
        "reasoning_effort (api-version 2024-10-21 predates it; 2024-12-01-preview or later takes it)"
    )
    # A model that does not reason gets nothing sent, so switching it off needs no field.
    assert (
        lacking("azure_openai", "gpt-4o", None, ReasoningAsk(effort="none"), api_version="2024-10-21") == ""
    )
