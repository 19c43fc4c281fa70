"""What the conformance suite knows about each provider type: how to start its simulator, the gateway
config that points at it, its error vocabulary, where its wire format puts each feature, and which
cases it cannot serve (with why).

The suite itself (test_conformance.py) is the same for every provider; everything that differs
lives here, in one `ProviderHarness` per provider type. README.md in this directory shows the
resulting matrix; `render_matrix()` produces it and a test keeps the two in step.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import grpc

from llmgateway.v1 import chat_pb2
from tests.upstreams.anthropic import AnthropicSimulator
from tests.upstreams.azure_openai import DEFAULT_DEPLOYMENTS as AZURE_DEPLOYMENTS
from tests.upstreams.azure_openai import AzureOpenAISimulator
from tests.upstreams.base import SimulatorServer
from tests.upstreams.bedrock import BedrockSimulator
from tests.upstreams.gemini import GeminiSimulator
from tests.upstreams.ollama import OllamaSimulator
from tests.upstreams.openai import DIALECT_MODELS, OpenAISimulator

Body = dict[str, Any]

MODEL = "conf"
EMBEDDING_MODEL = "conf-embed"
# A model whose one deployment (named `thinking`) is a reasoning model of the provider's simulator.
REASONING_MODEL = "conf-think"
REASONING_DEPLOYMENT = "thinking"
# Short enough that a stall ends the stream in well under a second, long enough for a loaded host.
TIMEOUTS: dict[str, float] = {"connect_s": 2.0, "first_token_s": 1.0, "between_tokens_s": 0.5, "total_s": 2.0}

# Every case of the suite, in the order the README lists them.
CASES: tuple[str, ...] = (
    "text",
    "text_stream",
    "system_prompt",
    "multi_turn",
    "image",
    "stop_sequence",
    "json_schema",
    "tool_call",
    "tool_call_stream",
    "tool_result_round_trip",
    "tool_choice_forced",
    "stream_usage",
    "prompt_cache",
    "prompt_cache_stream",
    "error_rate_limit",
    "error_server",
    "error_overload",
    "error_auth",
    "error_bad_request",
    "error_context_length",
    "stream_error",
    "stream_cut",
    "stream_stall",
    "embeddings",
    "embeddings_dimensions",
    "count_tokens",
    "refusal",
    "refusal_stream",
    "reasoning",
    "reasoning_stream",
    "reasoning_round_trip",
    "reasoning_round_trip_stream",
)
ERROR_CASES: tuple[str, ...] = (
    "error_rate_limit",
    "error_server",
    "error_overload",
    "error_bad_request",
    "error_context_length",
)


def tiny_png() -> bytes:
    """A real 1x1 RGBA PNG, built by hand so no image library is needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # 1x1, 8-bit RGBA
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")  # filter byte + one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@dataclass(frozen=True)
class ErrorCase:
    """One upstream error class in the provider's own vocabulary, and what the caller must see."""

    behaviour: dict[str, Any]
    code: grpc.StatusCode
    reason: str
    # Expected RetryInfo delay in whole seconds; None means no RetryInfo is required.
    retry_after: int | None = None
    # Set when the provider deviates from the common expectation, saying why (shown in the matrix).
    note: str = ""


# How a provider caches prompts: on request, at the v1 cache breakpoints ("breakpoints": Anthropic
# cache_control, Bedrock cachePoint: the first call writes, the next reads); on its own ("automatic":
# breakpoints are not sent, a repeated long prompt reads); or not in a way its API reports ("none").
PromptCaching = Literal["breakpoints", "automatic", "none"]
CACHE_CASES = ("prompt_cache", "prompt_cache_stream")
_CACHE_CELLS: dict[PromptCaching, str] = {
    "breakpoints": "✓ breakpoints: written, then read",
    "automatic": "✓ automatic (breakpoints not sent): read on repeat",
    "none": "none: no prompt-cache usage reported (breakpoints not sent)",
}


@dataclass(frozen=True)
class Unsupported:
    """A case the provider cannot serve: the call must fail with FAILED_PRECONDITION /
    UNSUPPORTED_CAPABILITY naming this feature, before anything is sent upstream."""

    feature: str
    why: str


@dataclass(frozen=True)
class Counting:
    """How CountTokens is answered for the provider: by its counting endpoint (`path`, where the
    simulator receives it), or by the gateway's local tokenizer (`path` None) with why."""

    path: Callable[[str], str] | None = None
    why: str = ""


@dataclass(frozen=True)
class Declining:
    """How the provider says its model declined (Behaviour.refusal), as v1 shows it: the finish
    reason, whether the words come as a refusal part (else as text, or none at all), and the
    provider's own signal (for the matrix)."""

    finish: chat_pb2.FinishReason.ValueType
    refusal_part: bool
    signal: str


# What a tool loop with reasoning sends back of the assistant turn's reasoning: the thinking with
# its signature ("thinking and signature": Anthropic, Bedrock-Claude), the signature alone on the
# part it came with ("signature": Gemini), the thought text, unsigned ("text": Ollama), or nothing,
# as Chat Completions has no field for it ("nothing": the OpenAI family).
SendsBack = Literal["thinking and signature", "signature", "text", "nothing"]
REASONING_CASES = ("reasoning", "reasoning_stream")
ROUND_TRIP_CASES = ("reasoning_round_trip", "reasoning_round_trip_stream")


@dataclass(frozen=True)
class Refusal:
    """A status the caller must get: code, ErrorInfo reason, and whether the request reached the
    upstream (which then refused it) or the gateway refused it before sending."""

    code: grpc.StatusCode
    reason: str
    upstream: bool
    # A word the status message must contain (case-insensitive).
    says: str


@dataclass(frozen=True)
class Reasoning:
    """How the provider reasons, as the reasoning cases check it.

    The cases ask `model` (a reasoning model of the simulator) with effort "low", and
    include_thoughts where thoughts come back: `switch` reads the provider's own switch from the
    recorded body, which must equal `switch_value`."""

    model: str
    # The switch as the matrix and the README name it.
    switch_name: str
    switch: Callable[[Body], Any]
    switch_value: Any
    # The wire field the thought text comes back in; None: the API never returns it.
    thoughts: str | None
    # Whether usage reports reasoning tokens apart (then Usage.reasoning_tokens > 0, else 0).
    reasoning_tokens: bool
    sends_back: SendsBack
    # The reasoning the recorded turn-2 body carries in the assistant turn: (text, signature) pairs
    # in order (text "" where the wire sends a signature alone).
    sent_back: Callable[[Body], list[tuple[str, str]]]
    # Settings the provider's protocol cannot honour for this model (field name → the settings):
    # refused with INVALID_ARGUMENT / REASONING_UNSUPPORTED before anything is sent.
    refused: dict[str, chat_pb2.ReasoningConfig] = field(default_factory=dict)
    # Signed reasoning only: what a turn sent back with its signature altered, and with its
    # reasoning dropped, gets.
    altered: Refusal | None = None
    dropped: Refusal | None = None
    # Provider settings the model needs (Azure: an api-version that takes reasoning_effort).
    settings: dict[str, Any] = field(default_factory=dict)
    # Readies the simulator to think (vLLM and Together answer with the reasoning text they are given).
    prepare: Callable[[SimulatorServer], None] = lambda sim: None

    @property
    def signed(self) -> bool:
        return self.sends_back in ("thinking and signature", "signature")


@dataclass(frozen=True)
class WireShape:
    """Where one wire format puts each feature of a request body the simulator recorded."""

    system_prompt: Callable[[Body], str]
    # The role of each turn, in the provider's own role names.
    turns: Callable[[Body], list[str]]
    assistant_role: str
    # (mime type or None where the wire has none, base64 data) of the first image of the first turn.
    image: Callable[[Body], tuple[str | None, str]]
    stop_sequences: Callable[[Body], list[str]]
    json_schema: Callable[[Body], Any]
    # (tool call id, or None where the wire carries none; the result parsed as JSON).
    tool_result: Callable[[Body], tuple[str | None, Any]]
    # The name of the tool the request forces, or None.
    forced_tool: Callable[[Body], str | None]


@dataclass(frozen=True)
class ProviderHarness:
    """Everything the conformance suite needs to know about one provider type."""

    key: str
    provider_type: str
    simulator: Callable[[], SimulatorServer]
    # Provider settings besides name, type, base_url and timeouts: credentials and the like.
    settings: dict[str, Any]
    # Settings that replace the right credentials with wrong ones, and the secret that must not leak.
    wrong_credentials: dict[str, Any]
    wrong_secret: str
    upstream_model: str
    wire: WireShape
    errors: dict[str, ErrorCase]
    counting: Counting
    # None: the provider has no refusal or content-filter signal of its own (the cases are skipped).
    declining: Declining | None
    reasoning: Reasoning
    declining_absent: str = ""
    unsupported: dict[str, Unsupported] = field(default_factory=dict)
    # The upstream embedding model of the `conf-embed` model; None where the provider has none (the
    # embedding model then names the chat model, and Embed must be refused).
    embedding_model: str | None = None
    prompt_caching: PromptCaching = "none"

    @property
    def provider_name(self) -> str:
        return f"conf-{self.key.replace('_', '-')}"

    def config(self, base_url: str, *, thinking: bool = False, **overrides: Any) -> dict[str, Any]:
        """The gateway config: one provider at the simulator, a chat model `conf` and an embedding
        model `conf-embed`, no retries; with `thinking`, also the reasoning model `conf-think` (and
        the provider settings it needs)."""
        provider = {
            "name": self.provider_name,
            "type": self.provider_type,
            "base_url": base_url,
            "timeouts": dict(TIMEOUTS),
            **self.settings,
            **(self.reasoning.settings if thinking else {}),
            **overrides,
        }
        thinking_models = [
            {
                "name": REASONING_MODEL,
                "deployments": [
                    {
                        "provider": self.provider_name,
                        "model": self.reasoning.model,
                        "name": REASONING_DEPLOYMENT,
                    }
                ],
            }
        ]
        return {
            "providers": [provider],
            "models": [
                {
                    "name": MODEL,
                    "deployments": [{"provider": self.provider_name, "model": self.upstream_model}],
                },
                {
                    "name": EMBEDDING_MODEL,
                    "kind": "embedding",
                    "deployments": [
                        {
                            "provider": self.provider_name,
                            "model": self.embedding_model or self.upstream_model,
                            "name": "embeddings",
                        }
                    ],
                },
                *(thinking_models if thinking else []),
            ],
            "routing": {"retry": {"max_retries": 0}},
        }


# --- wire shapes -------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _first(items: list[Any], test: Callable[[Any], bool]) -> Any:
    found = [item for item in items if test(item)]
    assert found, f"nothing matching in {items!r}"
    return found[0]


def _openai_system(body: Body) -> str:
    first = body["messages"][0]
    assert first["role"] == "system", first
    return str(first["content"])


def _openai_image(body: Body) -> tuple[str | None, str]:
    part = _first(body["messages"][0]["content"], lambda p: p.get("type") == "image_url")
    url = str(part["image_url"]["url"])
    header, _, data = url.partition(",")
    assert header.startswith("data:") and header.endswith(";base64"), url[:40]
    return header[len("data:") : -len(";base64")], data


def _openai_tool_result(body: Body) -> tuple[str | None, Any]:
    message = _first(body["messages"], lambda m: m["role"] == "tool")
    return message["tool_call_id"], _json(message["content"])


def _openai_forced_tool(body: Body) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        return str(choice["function"]["name"])
    return None


OPENAI_WIRE = WireShape(
    system_prompt=_openai_system,
    turns=lambda body: [m["role"] for m in body["messages"]],
    assistant_role="assistant",
    image=_openai_image,
    stop_sequences=lambda body: list(body["stop"]),
    json_schema=lambda body: body["response_format"]["json_schema"]["schema"],
    tool_result=_openai_tool_result,
    forced_tool=_openai_forced_tool,
)


def _anthropic_image(body: Body) -> tuple[str | None, str]:
    block = _first(body["messages"][0]["content"], lambda b: b.get("type") == "image")
    assert block["source"]["type"] == "base64", block
    return block["source"]["media_type"], block["source"]["data"]


def _anthropic_tool_result(body: Body) -> tuple[str | None, Any]:
    blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
    block = _first(blocks, lambda b: b.get("type") == "tool_result")
    content = block["content"]
    if isinstance(content, list):
        content = "".join(b["text"] for b in content if b.get("type") == "text")
    return block["tool_use_id"], _json(content)


def _anthropic_forced_tool(body: Body) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        return str(choice["name"])
    return None


ANTHROPIC_WIRE = WireShape(
    system_prompt=lambda body: "".join(block["text"] for block in body["system"]),
    turns=lambda body: [m["role"] for m in body["messages"]],
    assistant_role="assistant",
    image=_anthropic_image,
    stop_sequences=lambda body: list(body["stop_sequences"]),
    json_schema=lambda body: body["output_config"]["format"]["schema"],
    tool_result=_anthropic_tool_result,
    forced_tool=_anthropic_forced_tool,
)


def _gemini_image(body: Body) -> tuple[str | None, str]:
    part = _first(body["contents"][0]["parts"], lambda p: "inlineData" in p)
    return part["inlineData"]["mimeType"], part["inlineData"]["data"]


def _gemini_tool_result(body: Body) -> tuple[str | None, Any]:
    parts = [p for c in body["contents"] for p in c["parts"]]
    response = _first(parts, lambda p: "functionResponse" in p)["functionResponse"]
    # Gemini matches results to calls by function name (an id only when the provider gave one).
    assert response["name"] == "get_weather", response
    return response.get("id"), response["response"]


def _gemini_forced_tool(body: Body) -> str | None:
    config = body.get("toolConfig", {}).get("functionCallingConfig", {})
    names = config.get("allowedFunctionNames") or []
    return str(names[0]) if config.get("mode") == "ANY" and len(names) == 1 else None


GEMINI_WIRE = WireShape(
    system_prompt=lambda body: "".join(p["text"] for p in body["systemInstruction"]["parts"]),
    turns=lambda body: [c["role"] for c in body["contents"]],
    assistant_role="model",
    image=_gemini_image,
    stop_sequences=lambda body: list(body["generationConfig"]["stopSequences"]),
    json_schema=lambda body: body["generationConfig"]["responseJsonSchema"],
    tool_result=_gemini_tool_result,
    forced_tool=_gemini_forced_tool,
)


def _bedrock_image(body: Body) -> tuple[str | None, str]:
    block = _first(body["messages"][0]["content"], lambda b: "image" in b)["image"]
    return f"image/{block['format']}", block["source"]["bytes"]


def _bedrock_tool_result(body: Body) -> tuple[str | None, Any]:
    blocks = [b for m in body["messages"] for b in m["content"]]
    result = _first(blocks, lambda b: "toolResult" in b)["toolResult"]
    content = result["content"][0]
    return result["toolUseId"], content["json"] if "json" in content else _json(content["text"])


def _bedrock_forced_tool(body: Body) -> str | None:
    choice = body.get("toolConfig", {}).get("toolChoice", {})
    return str(choice["tool"]["name"]) if "tool" in choice else None


BEDROCK_WIRE = WireShape(
    system_prompt=lambda body: "".join(block["text"] for block in body["system"]),
    turns=lambda body: [m["role"] for m in body["messages"]],
    assistant_role="assistant",
    image=_bedrock_image,
    stop_sequences=lambda body: list(body["inferenceConfig"]["stopSequences"]),
    json_schema=lambda body: json.loads(
        body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"]
    ),
    tool_result=_bedrock_tool_result,
    forced_tool=_bedrock_forced_tool,
)


def _ollama_tool_result(body: Body) -> tuple[str | None, Any]:
    message = _first(body["messages"], lambda m: m["role"] == "tool")
    # Ollama has no call ids on results: it names the tool instead.
    assert message.get("tool_name") == "get_weather", message
    return None, _json(message["content"])


OLLAMA_WIRE = WireShape(
    system_prompt=_openai_system,
    turns=lambda body: [m["role"] for m in body["messages"]],
    assistant_role="assistant",
    # Ollama takes bare base64 images with no media type.
    image=lambda body: (None, body["messages"][0]["images"][0]),
    stop_sequences=lambda body: list(body["options"]["stop"]),
    json_schema=lambda body: body["format"],
    tool_result=_ollama_tool_result,
    forced_tool=lambda body: None,
)


# --- error vocabularies ------------------------------------------------------------------------

RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT


def _errors(
    rate_limit: dict[str, Any],
    server: dict[str, Any],
    overload: dict[str, Any],
    bad_request: dict[str, Any],
    context_length: dict[str, Any],
    context_note: str = "",
) -> dict[str, ErrorCase]:
    """The five HTTP error classes; rate limits always carry `retry_after: "7"`."""
    context = (
        ErrorCase(context_length, INVALID_ARGUMENT, "UPSTREAM_REJECTED_REQUEST", note=context_note)
        if context_note
        else ErrorCase(context_length, INVALID_ARGUMENT, "CONTEXT_LENGTH_EXCEEDED")
    )
    return {
        "error_rate_limit": ErrorCase(
            {**rate_limit, "status": 429, "retry_after": "7"}, RESOURCE_EXHAUSTED, "UPSTREAM_RATE_LIMITED", 7
        ),
        "error_server": ErrorCase(server, UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
        "error_overload": ErrorCase(overload, UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
        "error_bad_request": ErrorCase(bad_request, INVALID_ARGUMENT, "UPSTREAM_REJECTED_REQUEST"),
        "error_context_length": context,
    }


OPENAI_ERRORS = _errors(
    rate_limit={
        "error_type": "requests",
        "error_code": "rate_limit_exceeded",
        "error_message": "Rate limit reached for gpt-4o-mini on requests per min (RPM).",
    },
    server={
        "status": 500,
        "error_type": "server_error",
        "error_message": "The server had an error while processing your request.",
    },
    overload={
        "status": 503,
        "error_type": "server_error",
        "error_message": "The engine is currently overloaded, please try again later.",
    },
    bad_request={
        "status": 400,
        "error_type": "invalid_request_error",
        "error_message": "Invalid value for 'messages'.",
    },
    context_length={
        "status": 400,
        "error_type": "invalid_request_error",
        "error_code": "context_length_exceeded",
        "error_message": "This model's maximum context length is 128000 tokens.",
    },
)

AZURE_ERRORS = _errors(
    rate_limit={
        "error_code": "429",
        "error_message": "Requests to the ChatCompletions_Create Operation have "
        "exceeded call rate limit. Please retry after 7 seconds.",
    },
    server={
        "status": 500,
        "error_code": "InternalServerError",
        "error_message": "Backend returned unexpected response.",
    },
    overload={
        "status": 503,
        "error_code": "ServiceUnavailable",
        "error_message": "The service is temporarily unable to process your request. Please try again later.",
    },
    bad_request={"status": 400, "error_code": "BadRequest", "error_message": "Invalid request body."},
    context_length={
        "status": 400,
        "error_type": "invalid_request_error",
        "error_code": "context_length_exceeded",
        "error_message": "This model's maximum context length is 128000 tokens.",
    },
)

_VLLM_CONTEXT = (
    "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens "
    "(8488 in the messages, 512 in the completion). Please reduce the length of the messages or completion."
)
VLLM_ERRORS = _errors(
    rate_limit={"error_type": "TooManyRequests", "error_message": "Too Many Requests"},
    server={
        "status": 500,
        "error_body": {
            "error": {
                "message": "EngineCore encountered an issue.",
                "type": "InternalServerError",
                "param": None,
                "code": 500,
            }
        },
    },
    overload={
        "status": 503,
        "error_body": {
            "error": {
                "message": "The server is overloaded.",
                "type": "ServiceUnavailableError",
                "param": None,
                "code": 503,
            }
        },
    },
    bad_request={
        "status": 400,
        "error_body": {
            "error": {
                "message": "temperature must be non-negative",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
    },
    context_length={
        "status": 400,
        "error_body": {
            "error": {"message": _VLLM_CONTEXT, "type": "BadRequestError", "param": None, "code": 400}
        },
    },
)

TOGETHER_ERRORS = _errors(
    rate_limit={
        "error_type": "rate_limit",
        "error_message": "You have reached the rate limit specific to this model.",
    },
    server={"status": 500, "error_type": "server_error", "error_message": "Internal server error"},
    overload={
        "status": 503,
        "error_type": "service_unavailable",
        "error_message": "The server is overloaded or not ready yet.",
    },
    bad_request={
        "status": 400,
        "error_type": "invalid_request_error",
        "error_message": "Invalid 'temperature'.",
    },
    context_length={
        "status": 400,
        "error_type": "invalid_request_error",
        "error_message": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. "
        "Given: 9000 `inputs` tokens and 512 `max_new_tokens`",
    },
    context_note="message text only, worded by the serving engine",
)

ANTHROPIC_ERRORS = _errors(
    rate_limit={
        "error_type": "rate_limit_error",
        "error_message": "Number of request tokens has exceeded your per-minute rate limit",
    },
    server={"status": 500, "error_type": "api_error", "error_message": "Internal server error"},
    overload={"status": 529, "error_type": "overloaded_error", "error_message": "Overloaded"},
    bad_request={
        "status": 400,
        "error_type": "invalid_request_error",
        "error_message": "messages.0.content: Field required",
    },
    context_length={
        "status": 400,
        "error_type": "invalid_request_error",
        "error_message": "prompt is too long: 210000 tokens > 200000 maximum",
    },
)

GEMINI_ERRORS = _errors(
    rate_limit={
        "error_type": "RESOURCE_EXHAUSTED",
        "error_message": "You exceeded your current quota, please check your plan and billing details.",
    },
    server={"status": 500, "error_type": "INTERNAL", "error_message": "An internal error has occurred."},
    overload={"status": 503, "error_type": "UNAVAILABLE", "error_message": "The model is overloaded."},
    bad_request={
        "status": 400,
        "error_type": "INVALID_ARGUMENT",
        "error_message": "Request contains an invalid argument.",
    },
    context_length={
        "status": 400,
        "error_type": "INVALID_ARGUMENT",
        "error_message": "The input token count "
        "(2000000) exceeds the maximum number of tokens allowed (1048576).",
    },
)

BEDROCK_ERRORS = _errors(
    rate_limit={"error_type": "ThrottlingException", "error_message": "Too many requests, please wait."},
    server={"status": 500, "error_type": "InternalServerException", "error_message": "Internal server error"},
    overload={
        "status": 503,
        "error_type": "ServiceUnavailableException",
        "error_message": "Bedrock is unable to process your request.",
    },
    bad_request={
        "status": 400,
        "error_type": "ValidationException",
        "error_message": "Malformed input request.",
    },
    context_length={
        "status": 400,
        "error_type": "ValidationException",
        "error_message": "Input is too long for requested model.",
    },
)

OLLAMA_ERRORS = _errors(
    rate_limit={"error_message": "too many requests"},
    server={"status": 500, "error_message": "llama runner process has terminated: exit status 2"},
    overload={
        "status": 503,
        "error_message": "server busy, please try again.  maximum pending requests exceeded",
    },
    bad_request={"status": 400, "error_message": "invalid options"},
    context_length={"status": 400, "error_message": "input length exceeds the context length"},
    context_note="Ollama truncates to num_ctx; a refusal is free text",
)


# --- reasoning -------------------------------------------------------------------------------


def _openai_sent_back(body: Body) -> list[tuple[str, str]]:
    # Chat Completions has no field for reasoning; these are the de-facto ones servers return.
    message = _first(body["messages"], lambda m: m["role"] == "assistant")
    return [
        (str(message[key]), "")
        for key in ("reasoning_content", "reasoning", "thinking_blocks")
        if key in message
    ]


def _anthropic_sent_back(body: Body) -> list[tuple[str, str]]:
    message = _first(body["messages"], lambda m: m["role"] == "assistant")
    thinking = {"thinking": ("thinking", "signature"), "redacted_thinking": (None, "data")}
    found = []
    for block in message["content"]:
        if block["type"] in thinking:
            text_key, signature_key = thinking[block["type"]]
            found.append((block[text_key] if text_key else "", block[signature_key]))
    return found


def _bedrock_sent_back(body: Body) -> list[tuple[str, str]]:
    message = _first(body["messages"], lambda m: m["role"] == "assistant")
    found = []
    for block in message["content"]:
        content = block.get("reasoningContent")
        if content is None:
            continue
        if "reasoningText" in content:
            found.append((content["reasoningText"]["text"], content["reasoningText"].get("signature", "")))
        else:
            found.append(("", content["redactedContent"]))
    return found


def _gemini_sent_back(body: Body) -> list[tuple[str, str]]:
    turn = _first(body["contents"], lambda c: c.get("role") == "model")
    return [
        (part["text"] if part.get("thought") else "", part.get("thoughtSignature", ""))
        for part in turn["parts"]
        if part.get("thought") or "thoughtSignature" in part
    ]


def _ollama_sent_back(body: Body) -> list[tuple[str, str]]:
    message = _first(body["messages"], lambda m: m["role"] == "assistant")
    return [(message["thinking"], "")] if "thinking" in message else []


def _settings(**fields: Any) -> chat_pb2.ReasoningConfig:
    return chat_pb2.ReasoningConfig(**fields)


NO_BUDGET = {"budget_tokens": _settings(budget_tokens=2048)}
CLAUDE_THINKING = {"type": "enabled", "budget_tokens": 2048}  # effort low, from reasoning/budget.py
# Claude refuses an altered signature; a turn sent back without its thinking the gateway refuses
# itself (Claude would: a tool loop's turn must start with it), so another deployment may serve it.
CLAUDE_ALTERED = Refusal(INVALID_ARGUMENT, "UPSTREAM_REJECTED_REQUEST", upstream=True, says="signature")
CLAUDE_DROPPED = Refusal(
    grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_CAPABILITY", upstream=False, says="thinking"
)
VLLM_THOUGHTS = "I weigh the question before I answer."


def _thinks(sim: SimulatorServer) -> None:
    assert isinstance(sim, OpenAISimulator)
    sim.reasoning = VLLM_THOUGHTS


OPENAI_REASONING = Reasoning(
    model="o4-mini",
    switch_name="reasoning_effort",
    switch=lambda body: body.get("reasoning_effort"),
    switch_value="low",
    thoughts=None,
    reasoning_tokens=True,
    sends_back="nothing",
    sent_back=_openai_sent_back,
    refused={
        "include_thoughts": _settings(effort=chat_pb2.ReasoningConfig.EFFORT_LOW, include_thoughts=True),
        **NO_BUDGET,
    },
)


AZURE_REASONING = replace(
    OPENAI_REASONING,
    model="o4-mini-prod",
    # reasoning_effort arrived in 2024-12-01-preview; the default api-version refuses it.
    settings={"api_version": "2025-04-01-preview"},
)
VLLM_REASONING = Reasoning(
    model="Qwen/Qwen3-8B",
    switch_name="reasoning_effort + chat_template_kwargs.enable_thinking",
    switch=lambda body: (body.get("reasoning_effort"), body.get("chat_template_kwargs")),
    switch_value=("low", {"enable_thinking": True}),
    thoughts="reasoning_content",
    reasoning_tokens=False,
    sends_back="nothing",
    sent_back=_openai_sent_back,
    refused=NO_BUDGET,
    prepare=_thinks,
)
TOGETHER_REASONING = replace(
    VLLM_REASONING,
    model="deepseek-ai/DeepSeek-R1",
    switch_name="reasoning_effort",
    switch=lambda body: body.get("reasoning_effort"),
    switch_value="low",
    thoughts="reasoning",
    reasoning_tokens=True,
)
ANTHROPIC_REASONING = Reasoning(
    model="claude-sonnet-4-5",
    switch_name="thinking.budget_tokens",
    switch=lambda body: body.get("thinking"),
    switch_value=CLAUDE_THINKING,
    thoughts="thinking blocks",
    reasoning_tokens=False,
    sends_back="thinking and signature",
    sent_back=_anthropic_sent_back,
    altered=CLAUDE_ALTERED,
    dropped=CLAUDE_DROPPED,
)
GEMINI_REASONING = Reasoning(
    model="gemini-3-pro-preview",
    switch_name="generationConfig.thinkingConfig",
    switch=lambda body: body["generationConfig"].get("thinkingConfig"),
    switch_value={"thinkingLevel": "low", "includeThoughts": True},
    thoughts="thought parts",
    reasoning_tokens=True,
    sends_back="signature",
    sent_back=_gemini_sent_back,
    altered=Refusal(INVALID_ARGUMENT, "UPSTREAM_REJECTED_REQUEST", upstream=True, says="signature"),
    # Gemini 3 refuses a function call of the current turn that comes back without its signature.
    dropped=Refusal(INVALID_ARGUMENT, "UPSTREAM_REJECTED_REQUEST", upstream=True, says="thought_signature"),
)
BEDROCK_REASONING = replace(
    ANTHROPIC_REASONING,
    model="anthropic.claude-sonnet-4-20250514-v1:0",
    switch_name="additionalModelRequestFields.thinking.budget_tokens",
    switch=lambda body: body.get("additionalModelRequestFields", {}).get("thinking"),
    thoughts="reasoningContent blocks",
    sent_back=_bedrock_sent_back,
)
OLLAMA_REASONING = Reasoning(
    model="qwen3:8b",
    switch_name="think",
    switch=lambda body: body.get("think"),
    switch_value=True,
    thoughts="message.thinking",
    reasoning_tokens=False,
    sends_back="text",
    sent_back=_ollama_sent_back,
    refused=NO_BUDGET,
)


# --- the providers -----------------------------------------------------------------------------

OPENAI_REFUSAL = Declining(chat_pb2.FINISH_REASON_REFUSAL, True, "message.refusal, finish stop")
ESTIMATED = Counting(why="no counting endpoint")

KEY = "sk-conf-right-key-0123456789abcdef"
WRONG_KEY = "sk-conf-WRONG-key-9876543210zyxwvu"
AWS_KEY_ID = "AKIDCONFORMANCE"
AWS_SECRET = "conf-right-secret-0123456789abcdef"
AWS_WRONG_SECRET = "conf-WRONG-secret-9876543210zyxwvu"

HARNESSES: dict[str, ProviderHarness] = {
    harness.key: harness
    for harness in [
        ProviderHarness(
            key="openai",
            provider_type="openai",
            simulator=lambda: OpenAISimulator(api_key=KEY),
            settings={"api_key": KEY},
            wrong_credentials={"api_key": WRONG_KEY},
            wrong_secret=WRONG_KEY,
            upstream_model="gpt-4o-mini",
            embedding_model="text-embedding-3-small",
            wire=OPENAI_WIRE,
            errors=OPENAI_ERRORS,
            reasoning=OPENAI_REASONING,
            counting=ESTIMATED,
            declining=OPENAI_REFUSAL,
            prompt_caching="automatic",
        ),
        ProviderHarness(
            key="azure_openai",
            provider_type="azure_openai",
            simulator=lambda: AzureOpenAISimulator(
                api_key=KEY, deployments={**AZURE_DEPLOYMENTS, "o4-mini-prod": "o4-mini"}
            ),
            settings={"api_key": KEY},
            wrong_credentials={"api_key": WRONG_KEY},
            wrong_secret=WRONG_KEY,
            upstream_model="gpt-4o-mini-prod",
            embedding_model="embed-small-prod",
            wire=OPENAI_WIRE,
            errors=AZURE_ERRORS,
            reasoning=AZURE_REASONING,
            counting=ESTIMATED,
            declining=OPENAI_REFUSAL,
            prompt_caching="automatic",
        ),
        ProviderHarness(
            key="vllm",
            provider_type="vllm",
            simulator=lambda: OpenAISimulator(
                api_key=KEY,
                dialect="vllm",
                models={**DIALECT_MODELS["vllm"], "Qwen/Qwen3-8B": "Qwen/Qwen3-8B"},
            ),
            settings={"api_key": KEY},
            wrong_credentials={"api_key": WRONG_KEY},
            wrong_secret=WRONG_KEY,
            upstream_model="meta-llama/Llama-3.1-8B-Instruct",
            embedding_model="Qwen/Qwen3-Embedding-0.6B",
            wire=OPENAI_WIRE,
            errors=VLLM_ERRORS,
            reasoning=VLLM_REASONING,
            counting=Counting(why="no counting endpoint in its OpenAI API (/tokenize is vLLM's own)"),
            declining=None,
            declining_absent="the serving engine has no refusal signal",
        ),
        ProviderHarness(
            key="together",
            provider_type="together",
            simulator=lambda: OpenAISimulator(
                api_key=KEY,
                dialect="together",
                models={**DIALECT_MODELS["together"], "deepseek-ai/DeepSeek-R1": "deepseek-ai/DeepSeek-R1"},
            ),
            settings={"api_key": KEY},
            wrong_credentials={"api_key": WRONG_KEY},
            wrong_secret=WRONG_KEY,
            upstream_model="meta-llama/Llama-3.3-70B-Instruct-Turbo",
            embedding_model="BAAI/bge-base-en-v1.5",
            wire=OPENAI_WIRE,
            errors=TOGETHER_ERRORS,
            unsupported={
                "embeddings_dimensions": Unsupported(
                    feature="embedding dimensions",
                    why="/v1/embeddings takes model and input only",
                )
            },
            reasoning=TOGETHER_REASONING,
            counting=ESTIMATED,
            declining=None,
            declining_absent="no refusal signal in its API",
        ),
        ProviderHarness(
            key="anthropic",
            provider_type="anthropic",
            simulator=lambda: AnthropicSimulator(api_key=KEY),
            settings={"api_key": KEY},
            wrong_credentials={"api_key": WRONG_KEY},
            wrong_secret=WRONG_KEY,
            upstream_model="claude-haiku-4-5",
            wire=ANTHROPIC_WIRE,
            errors=ANTHROPIC_ERRORS,
            unsupported={
                case: Unsupported(feature="embeddings", why="Anthropic has no embeddings API")
                for case in ("embeddings", "embeddings_dimensions")
            },
            reasoning=ANTHROPIC_REASONING,
            counting=Counting(lambda model: "/v1/messages/count_tokens"),
            declining=Declining(chat_pb2.FINISH_REASON_REFUSAL, False, "stop_reason refusal"),
            prompt_caching="breakpoints",
        ),
        ProviderHarness(
            key="gemini",
            provider_type="gemini",
            simulator=lambda: GeminiSimulator(api_key=KEY),
            settings={"api_key": KEY},
            wrong_credentials={"api_key": WRONG_KEY},
            wrong_secret=WRONG_KEY,
            upstream_model="gemini-2.5-flash",
            embedding_model="gemini-embedding-001",
            wire=GEMINI_WIRE,
            errors=GEMINI_ERRORS,
            reasoning=GEMINI_REASONING,
            counting=Counting(lambda model: f"/v1beta/models/{model}:countTokens"),
            declining=Declining(chat_pb2.FINISH_REASON_CONTENT_FILTER, False, "finishReason SAFETY"),
            prompt_caching="automatic",
        ),
        ProviderHarness(
            key="bedrock",
            provider_type="bedrock",
            simulator=lambda: BedrockSimulator(AWS_KEY_ID, AWS_SECRET, "us-east-1"),
            settings={
                "region": "us-east-1",
                "aws_access_key_id": AWS_KEY_ID,
                "aws_secret_access_key": AWS_SECRET,
            },
            wrong_credentials={"aws_secret_access_key": AWS_WRONG_SECRET},
            wrong_secret=AWS_WRONG_SECRET,
            upstream_model="anthropic.claude-3-5-haiku-20241022-v1:0",
            embedding_model="amazon.titan-embed-text-v2:0",
            wire=BEDROCK_WIRE,
            errors=BEDROCK_ERRORS,
            reasoning=BEDROCK_REASONING,
            counting=Counting(lambda model: f"/model/{model}/count-tokens"),
            declining=Declining(chat_pb2.FINISH_REASON_CONTENT_FILTER, False, "stopReason content_filtered"),
            prompt_caching="breakpoints",
        ),
        ProviderHarness(
            key="ollama",
            provider_type="ollama",
            # Ollama has no auth of its own; the key is for an authenticating proxy in front of it.
            simulator=lambda: OllamaSimulator(api_key=KEY),
            settings={"api_key": KEY},
            wrong_credentials={"api_key": WRONG_KEY},
            wrong_secret=WRONG_KEY,
            upstream_model="llama3.2",
            embedding_model="nomic-embed-text",
            wire=OLLAMA_WIRE,
            errors=OLLAMA_ERRORS,
            reasoning=OLLAMA_REASONING,
            counting=ESTIMATED,
            declining=None,
            declining_absent="no refusal signal in /api/chat",
            unsupported={
                "tool_choice_forced": Unsupported(
                    feature="forcing a tool call (tool_choice required or tool)",
                    why="/api/chat has no tool_choice",
                )
            },
        ),
    ]
}

# Cases that fail because of a real bug in an adapter or a simulator: (provider key, case) → what.
# Each is run as a strict xfail, so the suite stays green while the bug stays visible.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


# --- the matrix --------------------------------------------------------------------------------


def cell(harness: ProviderHarness, case: str) -> str:
    """One matrix cell: ✓, or why the case deviates."""
    bug = KNOWN_BUGS.get((harness.key, case))
    if bug is not None:
        return f"bug (xfail): {bug}"
    if case in CACHE_CASES:
        return _CACHE_CELLS[harness.prompt_caching]
    unsupported = harness.unsupported.get(case)
    if unsupported is not None:
        return f"unsupported: {unsupported.why}"
    error = harness.errors.get(case)
    if error is not None and error.note:
        return f"✓ as {error.reason} (no distinct signal: {error.note})"
    if case in REASONING_CASES:
        return _reasoning_cell(harness.reasoning)
    if case in ROUND_TRIP_CASES:
        return _round_trip_cell(harness.reasoning)
    if case == "count_tokens":
        counting = harness.counting
        return "✓ by the provider" if counting.path is not None else f"✓ estimate ({counting.why})"
    if case in ("refusal", "refusal_stream"):
        declining = harness.declining
        if declining is None:
            return f"none: {harness.declining_absent}"
        return f"✓ {chat_pb2.FinishReason.Name(declining.finish).removeprefix('FINISH_REASON_')} ({declining.signal})"
    return "✓"


def _reasoning_cell(reasoning: Reasoning) -> str:
    thoughts = f"thoughts in {reasoning.thoughts}" if reasoning.thoughts else "no thought text"
    tokens = "reported" if reasoning.reasoning_tokens else "not reported apart"
    cell = f"✓ {reasoning.switch_name}; {thoughts}; reasoning_tokens {tokens}"
    if reasoning.refused:
        cell += f"; {' and '.join(reasoning.refused)} → REASONING_UNSUPPORTED"
    return cell


def _refusal_words(refusal: Refusal) -> str:
    return f"{refusal.reason} ({'upstream' if refusal.upstream else 'the gateway, before sending'})"


def _round_trip_cell(reasoning: Reasoning) -> str:
    if reasoning.sends_back == "nothing":
        return "✓ no signature (reasoning is not sent back)"
    if reasoning.sends_back == "text":
        return f"✓ no signature (the thought text goes back as {reasoning.thoughts})"
    assert reasoning.altered is not None and reasoning.dropped is not None
    what = "thinking and signature" if reasoning.sends_back == "thinking and signature" else "signature"
    return (
        f"✓ signed: {what} back unchanged; altered → {_refusal_words(reasoning.altered)}, "
        f"dropped → {_refusal_words(reasoning.dropped)}"
    )


def readme_reasoning(reasoning: Reasoning) -> str:
    """The README provider table's reasoning cell (test_conformance checks the README holds it)."""
    switch = " + ".join(f"`{name}`" for name in reasoning.switch_name.split(" + "))
    thoughts = f"thought text in {reasoning.thoughts}" if reasoning.thoughts else "no thought text"
    tokens = "`reasoning_tokens`" if reasoning.reasoning_tokens else "no `reasoning_tokens`"
    back = {
        "thinking and signature": "signed: thinking and signature sent back unchanged",
        "signature": "signed: `thoughtSignature` sent back unchanged",
        "text": "unsigned: thought text sent back",
        "nothing": "unsigned: not sent back",
    }[reasoning.sends_back]
    return f"{switch}; {thoughts}; {tokens}; {back}"


def render_matrix() -> str:
    """The matrix, one row per case and one column per provider, as a Markdown table."""
    keys = list(HARNESSES)
    lines = [
        "| case | " + " | ".join(keys) + " |",
        "| --- | " + " | ".join("---" for _ in keys) + " |",
    ]
    for case in CASES:
        lines.append(f"| {case} | " + " | ".join(cell(HARNESSES[key], case) for key in keys) + " |")
    return "\n".join(lines) + "\n"


def render_readme_reasoning() -> str:
    """The reasoning cell of each provider type in the README's provider table."""
    return "".join(
        f"{harness.provider_type}: {readme_reasoning(harness.reasoning)}\n" for harness in HARNESSES.values()
    )


if __name__ == "__main__":
    import sys

    print(render_readme_reasoning() if sys.argv[1:] == ["--readme-reasoning"] else render_matrix(), end="")


def simulator_for(simulators: dict[str, SimulatorServer], harness: ProviderHarness) -> SimulatorServer:
    """The provider's simulator from a suite's pool, started on first use, reset for this test."""
    sim = simulators.get(harness.key)
    if sim is None:
        sim = simulators[harness.key] = harness.simulator().start()
    sim.reset()
    return sim
