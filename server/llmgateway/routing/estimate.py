"""Rough, provider-neutral size estimates of a request, for routing before any call is made."""

from __future__ import annotations

import math

from llmgateway.routing.kinds import RoutedRequest
from llmgateway.v1 import chat_pb2, content_pb2, embeddings_pb2

_CHARS_PER_TOKEN = 4
_TOKENS_PER_IMAGE = 1000  # a mid-size image on most providers; exact counts differ per model
_DEFAULT_OUTPUT_TOKENS = 1000


def _part_tokens(part: content_pb2.Part) -> int:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return math.ceil(len(part.text) / _CHARS_PER_TOKEN)
    if kind == "media":
        return _TOKENS_PER_IMAGE
    if kind == "tool_call":
        return math.ceil((len(part.tool_call.name) + len(part.tool_call.arguments_json)) / _CHARS_PER_TOKEN)
    if kind == "tool_result":
        return sum(_part_tokens(inner) for inner in part.tool_result.content)
    if kind == "reasoning":
        return math.ceil(len(part.reasoning.text) / _CHARS_PER_TOKEN)
    return 0


def prompt_tokens(request: chat_pb2.ChatRequest) -> int:
    """Estimated prompt tokens: text at ~4 characters a token, images at a flat rate, tool schemas."""
    total = sum(_part_tokens(part) for message in request.messages for part in message.parts)
    total += sum(math.ceil(tool.ByteSize() / _CHARS_PER_TOKEN) for tool in request.tools)
    return total


def output_tokens(request: chat_pb2.ChatRequest) -> int:
    """The output the caller allows for, or a typical answer's length when it sets no cap."""
    config = request.generation_config
    return config.max_output_tokens if config.HasField("max_output_tokens") else _DEFAULT_OUTPUT_TOKENS


def needs_images(request: chat_pb2.ChatRequest) -> bool:
    return any(
        part.WhichOneof("kind") == "media"
        or (
            part.WhichOneof("kind") == "tool_result"
            and any(p.WhichOneof("kind") == "media" for p in part.tool_result.content)
        )
        for message in request.messages
        for part in message.parts
    )


def embedding_tokens(request: embeddings_pb2.EmbedRequest) -> int:
    """Estimated input tokens of an embeddings request (text at ~4 characters a token)."""
    return sum(math.ceil(len(text) / _CHARS_PER_TOKEN) for text in request.inputs)


def input_tokens(request: RoutedRequest) -> int:
    """Estimated input tokens of a chat or embeddings request."""
    if isinstance(request, embeddings_pb2.EmbedRequest):
        return embedding_tokens(request)
    return prompt_tokens(request)


def call_tokens(request: RoutedRequest) -> int:
    """What a call takes from token limits until its usage is known: its input, and for chat the
    output it allows for (embeddings have none)."""
    if isinstance(request, embeddings_pb2.EmbedRequest):
        return embedding_tokens(request)
    return prompt_tokens(request) + output_tokens(request)
