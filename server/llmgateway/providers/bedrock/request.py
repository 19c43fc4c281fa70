"""v1 ChatRequest → AWS Bedrock Converse request body.

The body is the same for `/converse` and `/converse-stream`; the model id travels in the URL path.
Anything Converse cannot carry (seed, penalties, tool choice "none" next to earlier tool calls, top_k
for a model family without a known field) fails with UNSUPPORTED_CAPABILITY rather than being dropped.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from llmgateway.errors import unsupported_capability
from llmgateway.providers.bedrock.cache_points import check_count, mark_after, strip_points, tools_with_points
from llmgateway.providers.media import MediaFetcher, media_bytes
from llmgateway.providers.wire_json import struct_to_dict
from llmgateway.providers.wire_request import (
    append_turn,
    arguments_object,
    generation_fields,
    refuse_fields,
    refuse_strict_tools,
    tool_definition,
)
from llmgateway.reasoning import claude, origin
from llmgateway.reasoning.ask import requested as requested_reasoning
from llmgateway.v1 import chat_pb2, content_pb2

_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
# Cross-region inference profiles prefix the base model id ("us.anthropic.claude-…").
_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "jp.", "au.", "ca.", "global.")

Block = dict[str, Any]
# With thinking on and no output cap from the caller, the cap is the thinking budget plus this.
DEFAULT_ANSWER_TOKENS = 4096


def model_family(model_id: str) -> str:
    """The model's vendor ("anthropic", "amazon", "meta", …) from a base model or profile id."""
    bare = model_id.rsplit("/", 1)[-1]  # ARNs end in ".../<model id>"
    for prefix in _PROFILE_PREFIXES:
        if bare.startswith(prefix) and bare.count(".") >= 2:
            bare = bare[len(prefix) :]
            break
    return bare.split(".", 1)[0]


def _caches_prompts(model_id: str) -> bool:
    """Whether the model takes cache points: Claude and Nova do (Bedrock's prompt caching)."""
    family = model_family(model_id)
    return family == "anthropic" or (family == "amazon" and "nova" in model_id)


def _top_k_fields(provider: str, model_id: str, top_k: int) -> dict[str, Any]:
    """top_k is not part of Converse's common inferenceConfig; each model family takes it in its
    own native field through additionalModelRequestFields."""
    family = model_family(model_id)
    if family == "anthropic":
        return {"top_k": top_k}
    if family == "amazon" and "nova" in model_id:
        return {"inferenceConfig": {"topK": top_k}}
    raise unsupported_capability(provider, f"top_k for model {model_id!r}")


async def _image_block(provider: str, media: content_pb2.Media, fetcher: MediaFetcher) -> Block:
    data, mime_type = await media_bytes(media, provider, fetcher)
    image_format = _IMAGE_FORMATS.get(mime_type.split(";")[0].strip().lower())
    if image_format is None:
        raise unsupported_capability(provider, f"media of type {mime_type!r}")
    return {"image": {"format": image_format, "source": {"bytes": base64.b64encode(data).decode("ascii")}}}


def _tool_use_block(index: int, part_index: int, call: content_pb2.ToolCall) -> Block:
    arguments = arguments_object(f"messages[{index}].parts[{part_index}]", call, "must be a JSON object")
    return {"toolUse": {"toolUseId": call.id, "name": call.name, "input": arguments}}


def _reasoning_block(reasoning: content_pb2.Reasoning) -> Block | None:
    """Reasoning as the block it came in. Like Anthropic's API, Converse takes Claude's reasoning
    back only with its signature: unsigned reasoning and reasoning another protocol signed (after a
    fallback) are dropped."""
    if origin.foreign(reasoning, origin.BEDROCK):
        return None
    if reasoning.redacted_data:
        return {"reasoningContent": {"redactedContent": reasoning.redacted_data}}
    if reasoning.signature:
        return {
            "reasoningContent": {"reasoningText": {"text": reasoning.text, "signature": reasoning.signature}}
        }
    return None


async def _tool_result_block(provider: str, result: content_pb2.ToolResult, fetcher: MediaFetcher) -> Block:
    content: list[Block] = []
    for part in result.content:
        kind = part.WhichOneof("kind")
        if kind == "text":
            content.append({"text": part.text})
        elif kind == "media":
            content.append(await _image_block(provider, part.media, fetcher))
        else:
            raise unsupported_capability(provider, f"{kind} parts in tool results")
    if not content:
        # Converse requires at least one content block; an empty result is an empty text.
        content.append({"text": ""})
    block: dict[str, Any] = {"toolUseId": result.tool_call_id, "content": content}
    if result.is_error:
        block["status"] = "error"
    return {"toolResult": block}


async def _blocks(
    provider: str, index: int, message: content_pb2.Message, fetcher: MediaFetcher
) -> list[Block]:
    blocks: list[Block] = []
    assistant = message.role == content_pb2.ROLE_ASSISTANT
    for part_index, part in enumerate(message.parts):
        kind = part.WhichOneof("kind")
        if kind == "text":
            blocks.append({"text": part.text})
        elif kind == "refusal" and assistant:
            blocks.append({"text": part.refusal})  # Converse has no refusal block: it is text
        elif kind == "media":
            if assistant:
                raise unsupported_capability(provider, "media in assistant messages")
            blocks.append(await _image_block(provider, part.media, fetcher))
        elif kind == "tool_call":
            blocks.append(_tool_use_block(index, part_index, part.tool_call))
        elif kind == "tool_result":
            blocks.append(await _tool_result_block(provider, part.tool_result, fetcher))
        elif kind == "reasoning" and assistant:
            block = _reasoning_block(part.reasoning)
            if block is not None:
                blocks.append(block)
        mark_after(blocks, part)
    return blocks


async def _conversation(
    provider: str, request: chat_pb2.ChatRequest, fetcher: MediaFetcher
) -> tuple[list[Block], list[Block]]:
    """(system blocks, messages). Tool results become user turns, and consecutive turns of one role
    are merged because Converse requires user and assistant turns to alternate."""
    system: list[Block] = []
    messages: list[Block] = []
    for index, message in enumerate(request.messages):
        if message.role in (content_pb2.ROLE_SYSTEM, content_pb2.ROLE_DEVELOPER):
            if any(part.WhichOneof("kind") != "text" for part in message.parts):
                raise unsupported_capability(provider, "non-text parts in system messages")
            for part in message.parts:
                system.append({"text": part.text})
                mark_after(system, part)
            mark_after(system, message)
            continue
        role = "assistant" if message.role == content_pb2.ROLE_ASSISTANT else "user"
        blocks = await _blocks(provider, index, message, fetcher)
        mark_after(blocks, message)
        append_turn(messages, role, "content", blocks)
    return system, messages


def _inference(provider: str, config: chat_pb2.GenerationConfig, model_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    inference = generation_fields(
        config, {"max_output_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP"}
    )
    if config.stop_sequences:
        inference["stopSequences"] = list(config.stop_sequences)
    refuse_fields(provider, config, ["seed", "presence_penalty", "frequency_penalty"])
    if config.response_json_object:
        # outputConfig.textFormat takes a schema only.
        raise unsupported_capability(provider, "JSON output without a schema")
    if inference:
        body["inferenceConfig"] = inference
    if config.HasField("top_k"):
        body["additionalModelRequestFields"] = _top_k_fields(provider, model_id, config.top_k)
    if config.HasField("response_json_schema"):
        json_schema = {
            "name": config.response_json_schema_name or "response",
            # Converse takes the schema as a JSON string, not as an object.
            "schema": json.dumps(struct_to_dict(config.response_json_schema), separators=(",", ":")),
        }
        body["outputConfig"] = {
            "textFormat": {"type": "json_schema", "structure": {"jsonSchema": json_schema}}
        }
    return body


def _in_tool_loop_without_reasoning(messages: list[Block]) -> bool:
    """Whether the conversation ends with tool results answering an assistant turn that does not
    start with reasoning: with thinking on, Claude refuses that turn."""
    if len(messages) < 2 or messages[-1]["role"] != "user" or messages[-2]["role"] != "assistant":
        return False
    if not any("toolResult" in block for block in messages[-1]["content"]):
        return False
    content = messages[-2]["content"]
    return not content or "reasoningContent" not in content[0]


def _thinking(provider: str, request: chat_pb2.ChatRequest, messages: list[Block], body: Block) -> None:
    """Claude's `thinking` in additionalModelRequestFields, and the maxTokens it needs."""
    ask = requested_reasoning(request)
    if ask is None or ask.off:
        return
    if _in_tool_loop_without_reasoning(messages):
        raise unsupported_capability(
            provider, "extended thinking in a tool loop whose assistant turn has no Bedrock-signed reasoning"
        )
    thinking, max_tokens = claude.thinking(provider, request, ask, DEFAULT_ANSWER_TOKENS)
    body.setdefault("additionalModelRequestFields", {})["thinking"] = thinking
    body.setdefault("inferenceConfig", {})["maxTokens"] = max_tokens


def _has_tool_blocks(messages: list[Block]) -> bool:
    return any("toolUse" in block or "toolResult" in block for m in messages for block in m["content"])


def _tool_config(provider: str, request: chat_pb2.ChatRequest, messages: list[Block]) -> dict[str, Any]:
    mode = request.tool_choice.mode
    if not request.tools:
        return {}
    if request.tool_choice.disable_parallel_tool_calls:
        raise unsupported_capability(provider, "limiting a turn to one tool call")
    refuse_strict_tools(provider, request.tools)
    if mode == content_pb2.ToolChoice.MODE_NONE:
        # Converse has no "none" choice: leaving the tools out says the same, unless earlier tool
        # calls are in the conversation, which Converse only accepts together with toolConfig.
        if _has_tool_blocks(messages):
            raise unsupported_capability(provider, "tool_choice none in a conversation with tool calls")
        return {}
    tools = [{"toolSpec": tool_definition(tool, "inputSchema", wrapped_in="json")} for tool in request.tools]
    tools = tools_with_points(request.tools, tools)
    config: dict[str, Any] = {"tools": tools}
    if mode == content_pb2.ToolChoice.MODE_AUTO:
        config["toolChoice"] = {"auto": {}}
    elif mode == content_pb2.ToolChoice.MODE_REQUIRED:
        config["toolChoice"] = {"any": {}}
    elif mode == content_pb2.ToolChoice.MODE_TOOL:
        config["toolChoice"] = {"tool": {"name": request.tool_choice.tool_name}}
    return {"toolConfig": config}


async def build_body(
    provider: str, request: chat_pb2.ChatRequest, model_id: str, fetcher: MediaFetcher
) -> dict[str, Any]:
    """The JSON body for POST /model/{modelId}/converse (and /converse-stream)."""
    system, messages = await _conversation(provider, request, fetcher)
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    body.update(_inference(provider, request.generation_config, model_id))
    _thinking(provider, request, messages, body)
    body.update(_tool_config(provider, request, messages))
    if _caches_prompts(model_id):
        check_count(provider, body)
    else:
        strip_points(body)
    return body
