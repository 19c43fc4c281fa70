"""Shortcuts for the common request shapes."""

from __future__ import annotations

from typing import Any

from llmgateway.v1 import chat_pb2, content_pb2


def text_request(model: str, text: str, *, system: str | None = None, **fields: Any) -> chat_pb2.ChatRequest:
    """A ChatRequest with one user message (and a system prompt); keyword fields go to ChatRequest."""
    messages = []
    if system is not None:
        messages.append(
            content_pb2.Message(role=content_pb2.ROLE_SYSTEM, parts=[content_pb2.Part(text=system)])
        )
    messages.append(content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text=text)]))
    return chat_pb2.ChatRequest(model=model, messages=messages, **fields)


def stream_request(request: chat_pb2.ChatRequest) -> chat_pb2.ChatStreamRequest:
    """The same request for ChatStream (the two messages share their fields and numbers)."""
    return chat_pb2.ChatStreamRequest.FromString(request.SerializeToString())


def reply_text(response: chat_pb2.ChatResponse) -> str:
    """The text parts of a reply, joined."""
    return "".join(part.text for part in response.message.parts if part.WhichOneof("kind") == "text")
