"""The built-in `echo` provider: deterministic, no network. It repeats the last user message,
and streams it word by word, so a fresh gateway has something callable at once."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator

from llmgateway.config import ProviderSettings
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.v1 import chat_pb2, content_pb2

_WORDS = re.compile(r"\S+\s*|\s+")


def _last_user_text(request: chat_pb2.ChatRequest) -> str:
    for message in reversed(request.messages):
        if message.role == content_pb2.ROLE_USER:
            return "".join(part.text for part in message.parts if part.WhichOneof("kind") == "text")
    return ""


def _count_tokens(text: str) -> int:
    return len(text.split())


def _answer(call: UpstreamCall) -> tuple[list[str], chat_pb2.FinishReason.ValueType, chat_pb2.Usage]:
    words = _WORDS.findall(_last_user_text(call.request))
    finish = chat_pb2.FINISH_REASON_STOP
    config = call.request.generation_config
    if config.HasField("max_output_tokens") and len(words) > config.max_output_tokens:
        words, finish = words[: config.max_output_tokens], chat_pb2.FINISH_REASON_LENGTH
    prompt_tokens = sum(
        _count_tokens(part.text) for message in call.request.messages for part in message.parts
    )
    output_tokens = len(words)
    usage = chat_pb2.Usage(
        input_tokens=prompt_tokens, output_tokens=output_tokens, total_tokens=prompt_tokens + output_tokens
    )
    return words, finish, usage


class EchoProvider(Provider):
    """Answers with the caller's own last user message."""

    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        words, finish, usage = _answer(call)
        return chat_pb2.ChatResponse(
            model=call.upstream_model,
            message=content_pb2.Message(
                role=content_pb2.ROLE_ASSISTANT, parts=[content_pb2.Part(text="".join(words))]
            ),
            finish_reason=finish,
            usage=usage,
        )

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        words, finish, usage = _answer(call)
        for word in words:
            yield chat_pb2.ChatStreamResponse(model=call.upstream_model, delta=chat_pb2.Delta(text=word))
        yield chat_pb2.ChatStreamResponse(model=call.upstream_model, finish_reason=finish)
        yield chat_pb2.ChatStreamResponse(usage=usage)


def create(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """The echo provider (no settings besides its name)."""
    return EchoProvider(settings.name)
