"""v1 ChatRequest → Anthropic Messages API request body."""

from __future__ import annotations

import base64
from typing import Any

from llmgateway.errors import unsupported_capability
from llmgateway.providers.anthropic.cache_control import check_marks, mark_each_block, mark_last_block
from llmgateway.providers.media import MediaFetcher, media_bytes
from llmgateway.providers.wire_json import struct_to_dict
from llmgateway.providers.wire_request import (
    append_turn,
    arguments_object,
    generation_fields,
    refuse_fields,
    tool_definition,
)
from llmgateway.reasoning import claude, origin
from llmgateway.reasoning.ask import requested as requested_reasoning
from llmgateway.v1 import chat_pb2, content_pb2

# The version that removed the sampling parameters (temperature, top_p, top_k).
VERSION_WITHOUT_SAMPLING = "2026-10-21"
# Anthropic requires max_tokens on every request; when the caller gives no cap we send this one
# rather than fail, because "no cap" means "the model's usual length" to callers of other providers.
DEFAULT_MAX_TOKENS = 4096
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_DOCUMENT_TYPE = "application/pdf"
_SYSTEM_ROLES = (content_pb2.ROLE_SYSTEM, content_pb2.ROLE_DEVELOPER)

Block = dict[str, Any]


async def _source(provider: str, media: content_pb2.Media, fetcher: MediaFetcher) -> tuple[Block, str]:
    """The block `source` and the media type; https URIs go by URL, which the API fetches itself."""
    if media.WhichOneof("source") == "uri" and media.uri.startswith("https://"):
        return {"type": "url", "url": media.uri}, media.mime_type
    data, mime_type = await media_bytes(media, provider, fetcher)
    encoded = base64.b64encode(data).decode("ascii")
    return {"type": "base64", "media_type": mime_type, "data": encoded}, mime_type


async def _media_block(provider: str, media: content_pb2.Media, fetcher: MediaFetcher) -> Block:
    source, mime_type = await _source(provider, media, fetcher)
    if mime_type == _DOCUMENT_TYPE:
        return {"type": "document", "source": source}
    # A URL without a declared type is taken as an image, the API's usual media; it checks the bytes.
    if mime_type in _IMAGE_TYPES or (not mime_type and source["type"] == "url"):
        return {"type": "image", "source": source}
    raise unsupported_capability(provider, f"media of type {mime_type!r}")


async def _user_blocks(provider: str, parts: list[content_pb2.Part], fetcher: MediaFetcher) -> list[Block]:
    blocks: list[Block] = []
    for part in parts:
        kind = part.WhichOneof("kind")
        if kind == "text":
            blocks.append({"type": "text", "text": part.text})
        elif kind == "media":
            blocks.append(await _media_block(provider, part.media, fetcher))
        else:
            raise unsupported_capability(provider, f"{kind} parts in user messages")
        mark_last_block(blocks, part)
    return blocks


def _thinking_block(reasoning: content_pb2.Reasoning) -> Block | None:
    """Reasoning as the block it came in. Anthropic accepts thinking back only with its own
    signature: unsigned reasoning, and reasoning another protocol signed (after a fallback), is
    dropped; the model needs none of it to go on."""
    if origin.foreign(reasoning, origin.ANTHROPIC):
        return None
    if reasoning.redacted_data:
        return {"type": "redacted_thinking", "data": reasoning.redacted_data}
    if reasoning.signature:
        return {"type": "thinking", "thinking": reasoning.text, "signature": reasoning.signature}
    return None


def _assistant_blocks(provider: str, index: int, message: content_pb2.Message) -> list[Block]:
    blocks: list[Block] = []
    for part_index, part in enumerate(message.parts):
        kind = part.WhichOneof("kind")
        if kind == "text":
            blocks.append({"type": "text", "text": part.text})
        elif kind == "refusal":
            # Anthropic has no refusal block: what the model said is text to it.
            blocks.append({"type": "text", "text": part.refusal})
        elif kind == "tool_call":
            call = part.tool_call
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": arguments_object(
                        f"messages[{index}].parts[{part_index}]",
                        call,
                        "Anthropic needs tool-call arguments as a JSON object",
                    ),
                }
            )
        elif kind == "reasoning":
            block = _thinking_block(part.reasoning)
            if block is not None:
                blocks.append(block)
        else:
            raise unsupported_capability(provider, f"{kind} parts in assistant messages")
        mark_last_block(blocks, part)
    return blocks


async def _tool_result_block(provider: str, result: content_pb2.ToolResult, fetcher: MediaFetcher) -> Block:
    content: str | list[Block]
    # Joined into one string only when no inner part is a breakpoint (a string has no block to mark).
    if all(
        part.WhichOneof("kind") == "text" and not part.HasField("cache_breakpoint") for part in result.content
    ):
        content = "".join(part.text for part in result.content)
    else:
        content = await _user_blocks(provider, list(result.content), fetcher)
    block: Block = {"type": "tool_result", "tool_use_id": result.tool_call_id, "content": content}
    if result.is_error:
        block["is_error"] = True
    return block


async def _turn(
    provider: str, index: int, message: content_pb2.Message, fetcher: MediaFetcher
) -> tuple[str, list[Block]]:
    if message.role == content_pb2.ROLE_ASSISTANT:
        return "assistant", _assistant_blocks(provider, index, message)
    if message.role == content_pb2.ROLE_TOOL:
        results = [await _tool_result_block(provider, part.tool_result, fetcher) for part in message.parts]
        mark_each_block(message.parts, results)
        return "user", results
    return "user", await _user_blocks(provider, list(message.parts), fetcher)


async def _messages(
    provider: str, request: chat_pb2.ChatRequest, fetcher: MediaFetcher
) -> tuple[list[Block], list[Block]]:
    """(system blocks, messages). Our system and developer messages go to the top-level `system`;
    runs of turns with the same Anthropic role are joined into one turn, which keeps tool results
    (a ROLE_TOOL message, then perhaps a user message) in the one user turn the API expects."""
    system: list[Block] = []
    turns: list[Block] = []
    for index, message in enumerate(request.messages):
        if message.name:
            # The Messages API has one user and no per-message names.
            raise unsupported_capability(provider, "participant names on messages")
        if message.role in _SYSTEM_ROLES:
            for part in message.parts:
                if part.WhichOneof("kind") != "text":
                    raise unsupported_capability(provider, "non-text system prompts")
                system.append({"type": "text", "text": part.text})
                mark_last_block(system, part)
            mark_last_block(system, message)
            continue
        role, blocks = await _turn(provider, index, message, fetcher)
        mark_last_block(blocks, message)
        if blocks:
            append_turn(turns, role, "content", blocks)
    for turn in turns:
        # The API wants a user turn's tool results before anything else in it.
        turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return system, turns


def _in_tool_loop_without_thinking(turns: list[Block]) -> bool:
    """Whether the conversation is in a tool loop (it ends with tool results) whose assistant turn
    does not start with a thinking block: with thinking on, the API refuses that turn."""
    if len(turns) < 2 or turns[-1]["role"] != "user" or turns[-2]["role"] != "assistant":
        return False
    if not any(block["type"] == "tool_result" for block in turns[-1]["content"]):
        return False
    first = turns[-2]["content"][0]
    return first["type"] not in ("thinking", "redacted_thinking")


def _thinking(provider: str, request: chat_pb2.ChatRequest, turns: list[Block]) -> Block:
    """`thinking` and the `max_tokens` it needs, when the request asks for reasoning."""
    ask = requested_reasoning(request)
    if ask is None or ask.off:
        return {}
    if _in_tool_loop_without_thinking(turns):
        # Thinking cannot be switched on within a tool loop, and signatures of another provider
        # (after a fallback) are dropped: another deployment may still serve the call.
        raise unsupported_capability(
            provider, "extended thinking in a tool loop whose assistant turn has no Anthropic-signed thinking"
        )
    thinking, max_tokens = claude.thinking(provider, request, ask, DEFAULT_MAX_TOKENS)
    return {"thinking": thinking, "max_tokens": max_tokens}


def _generation(provider: str, config: chat_pb2.GenerationConfig, api_version: str) -> Block:
    body: Block = {
        "max_tokens": config.max_output_tokens if config.HasField("max_output_tokens") else DEFAULT_MAX_TOKENS
    }
    sampling = [name for name in ("temperature", "top_p", "top_k") if config.HasField(name)]
    if sampling and api_version == VERSION_WITHOUT_SAMPLING:
        raise unsupported_capability(provider, f"{sampling[0]} (anthropic-version {api_version})")
    body.update(generation_fields(config, {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k"}))
    refuse_fields(provider, config, ["seed", "presence_penalty", "frequency_penalty"])
    if config.stop_sequences:
        body["stop_sequences"] = list(config.stop_sequences)
    if config.HasField("response_json_schema"):
        body["output_config"] = {
            "format": {"type": "json_schema", "schema": struct_to_dict(config.response_json_schema)}
        }
    if config.response_json_object:
        # Structured outputs take a schema only.
        raise unsupported_capability(provider, "JSON output without a schema")
    return body


def _tool_choice(choice: content_pb2.ToolChoice) -> Block | None:
    mode = choice.mode
    if mode == content_pb2.ToolChoice.MODE_AUTO:
        return {"type": "auto"}
    if mode == content_pb2.ToolChoice.MODE_NONE:
        return {"type": "none"}
    if mode == content_pb2.ToolChoice.MODE_REQUIRED:
        return {"type": "any"}
    if mode == content_pb2.ToolChoice.MODE_TOOL:
        return {"type": "tool", "name": choice.tool_name}
    return None


def _tools(request: chat_pb2.ChatRequest) -> Block:
    if not request.tools:
        return {}
    body: Block = {
        "tools": [
            {**tool_definition(tool, "input_schema"), **({"strict": True} if tool.strict else {})}
            for tool in request.tools
        ]
    }
    mark_each_block(request.tools, body["tools"])
    choice = _tool_choice(request.tool_choice)
    if request.tool_choice.disable_parallel_tool_calls and (choice or {}).get("type") != "none":
        # The flag lives in tool_choice (not with "none", where no tool is called at all).
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice is not None:
        body["tool_choice"] = choice
    return body


async def build_body(
    provider: str,
    request: chat_pb2.ChatRequest,
    upstream_model: str,
    api_version: str,
    fetcher: MediaFetcher,
    *,
    stream: bool,
) -> Block:
    """The JSON body for POST /v1/messages. Raises UNSUPPORTED_CAPABILITY for anything the chosen
    API version cannot take, rather than dropping it."""
    generation = _generation(provider, request.generation_config, api_version)
    system, messages = await _messages(provider, request, fetcher)
    body: Block = {
        "model": upstream_model,
        "messages": messages,
        **generation,
        **_thinking(provider, request, messages),
        **_tools(request),
    }
    if system:
        body["system"] = system
    if stream:
        body["stream"] = True
    check_marks(provider, body)
    return body
