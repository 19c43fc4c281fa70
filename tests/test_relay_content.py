"""core/relay.py's content messages carry their delta and finish reason only, whatever the adapter
message also named (the model on every OpenAI chunk, usage on a content chunk)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from llmgateway.core.relay import relay
from llmgateway.v1 import chat_pb2

STOP = chat_pb2.FINISH_REASON_STOP


async def _adapter_messages() -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
    # OpenAI-style: every chunk names the model; one content chunk also carries usage.
    yield chat_pb2.ChatStreamResponse(model="m-1", delta=chat_pb2.Delta(text="Hel"))
    yield chat_pb2.ChatStreamResponse(
        model="m-1", delta=chat_pb2.Delta(text="lo"), usage=chat_pb2.Usage(input_tokens=3)
    )
    yield chat_pb2.ChatStreamResponse(model="m-1", finish_reason=STOP)
    yield chat_pb2.ChatStreamResponse(model="m-1", usage=chat_pb2.Usage(output_tokens=2))


async def test_content_messages_carry_only_their_delta_and_finish_reason() -> None:
    relayed = relay(_adapter_messages(), request_id="r-1", provider="p", default_model="d", prompt_tokens=1)
    first, *content, last = [message async for message in relayed]
    assert first == chat_pb2.ChatStreamResponse(id="r-1", model="m-1", provider="p")
    assert content == [
        chat_pb2.ChatStreamResponse(delta=chat_pb2.Delta(text="Hel")),
        chat_pb2.ChatStreamResponse(delta=chat_pb2.Delta(text="lo")),
        chat_pb2.ChatStreamResponse(finish_reason=STOP),
    ]
    # The usage a content message carried still counts.
    assert last == chat_pb2.ChatStreamResponse(
        usage=chat_pb2.Usage(input_tokens=3, output_tokens=2, total_tokens=5)
    )
